//! The policy table: for each command, whether it needs a login, what kind
//! of access to the files it needs, and whether it may run while a data
//! transfer is in progress; which access each mode grants; and which FEAT
//! lines a session is told about. Handlers never repeat these checks:
//! adding a command is one row in [`policy`] plus its handler.

use super::Command;
use crate::config::AccessMode;

/// What a command does to the served files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Touches no file.
    None,
    /// Reads or lists: refused in upload-only mode.
    Read,
    /// Creates something new (upload, mkdir): allowed in writable and upload-only mode.
    Create,
    /// Changes or removes what exists (including replacing or resuming a
    /// file on upload): writable mode only.
    Modify,
}

/// The one mode-to-access matrix.
pub fn grants(mode: AccessMode, access: Access) -> bool {
    match access {
        Access::None => true,
        Access::Read => mode != AccessMode::UploadOnly,
        Access::Create => mode != AccessMode::ReadOnly,
        Access::Modify => mode == AccessMode::Writable,
    }
}

/// What an anonymous login gets on a share of mode `share`: anonymous
/// users read; a drop box has nothing to read, so there they get nothing.
pub fn anonymous_mode(share: AccessMode) -> Option<AccessMode> {
    (share != AccessMode::UploadOnly).then_some(AccessMode::ReadOnly)
}

/// Why the table refuses a command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    NotLoggedIn,
    /// The session's mode does not grant the access; names the mode.
    Mode(AccessMode),
}

/// Applies a command's policy to a session that is logged in with `mode`
/// (`None`: not logged in).
pub fn check(policy: &Policy, mode: Option<AccessMode>) -> Result<(), Refusal> {
    if !policy.needs_login {
        return Ok(());
    }
    let mode = mode.ok_or(Refusal::NotLoggedIn)?;
    if grants(mode, policy.access) {
        Ok(())
    } else {
        Err(Refusal::Mode(mode))
    }
}

/// FEAT lines (RFC 2389) with the access a session needs to use them: a
/// session is told only about what it may use. TLS lines depend on the
/// TLS mode instead and are added by the FEAT handler.
pub const FEATURES: &[(&str, Access)] = &[
    ("EPRT", Access::None),
    ("EPSV", Access::None),
    ("LANG EN*", Access::None),
    ("MDTM", Access::Read),
    // Followed by the facts offered.
    ("MLST", Access::Read),
    // A restart point is of use to RETR (read) or to a resumed STOR (modify).
    ("REST STREAM", Access::Read),
    ("SIZE", Access::Read),
    ("TVFS", Access::None),
    ("UTF8", Access::None),
];

/// The FEAT lines of [`FEATURES`] a session in `mode` may use.
pub fn features(mode: AccessMode) -> impl Iterator<Item = &'static str> {
    FEATURES
        .iter()
        .filter(move |(_, access)| grants(mode, *access))
        .map(|(line, _)| *line)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    pub needs_login: bool,
    pub access: Access,
    /// Answered at once even while a transfer runs (RFC 1123 §4.1.3.5 asks
    /// this for STAT and ABOR); other commands wait for the transfer to end.
    pub during_transfer: bool,
}

pub fn policy(cmd: &Command) -> Policy {
    use Command::*;
    let (needs_login, access, during_transfer) = match cmd {
        User(_) | Pass(_) | Quit | Feat | Syst | Noop | Help(_) | Auth(_) | Pbsz(_) | Prot(_)
        | Ccc | Opts(_) | Lang(_) | SecurityMechanism => (false, Access::None, false),
        Abor | Stat(None) => (false, Access::None, true),
        Acct | Smnt | Rein | Site(_) | Allo | Rest(_) | Type(_) | Stru | Mode | Pasv | Port(_)
        | Eprt(_) | Epsv(_) | Pwd | Cwd(_) | Cdup => (true, Access::None, false),
        Retr(_) | List(_) | Nlst(_) | Mlsd(_) | Mlst(_) | Size(_) | Mdtm(_) | Stat(Some(_)) => {
            (true, Access::Read, false)
        }
        Stor(_) | Stou(_) | Mkd(_) => (true, Access::Create, false),
        Appe(_) | Dele(_) | Rmd(_) | Rnfr(_) | Rnto(_) => (true, Access::Modify, false),
    };
    Policy {
        needs_login,
        access,
        during_transfer,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::protocol::parse;

    /// One sample line per command (variant) and who may run it, as five
    /// columns: logged out, read-only, writable, upload-only, anonymous
    /// (on a writable share). A letter allows, a dot refuses.
    pub(crate) const ROWS: &[(&str, &str)] = &[
        ("USER a", "-rwua"),
        ("PASS a", "-rwua"),
        ("ACCT", ".rwua"),
        ("CWD d", ".rwua"),
        ("CDUP", ".rwua"),
        ("SMNT d", ".rwua"),
        ("REIN", ".rwua"),
        ("QUIT", "-rwua"),
        ("PORT 127,0,0,1,4,1", ".rwua"),
        ("PASV", ".rwua"),
        ("TYPE I", ".rwua"),
        ("STRU F", ".rwua"),
        ("MODE S", ".rwua"),
        ("RETR f", ".rw.a"),
        ("STOR f", "..wu."),
        ("STOU", "..wu."),
        ("APPE f", "..w.."),
        ("ALLO 10", ".rwua"),
        ("REST 10", ".rwua"),
        ("RNFR f", "..w.."),
        ("RNTO f", "..w.."),
        ("ABOR", "-rwua"),
        ("DELE f", "..w.."),
        ("RMD d", "..w.."),
        ("MKD d", "..wu."),
        ("PWD", ".rwua"),
        ("LIST", ".rw.a"),
        ("NLST", ".rw.a"),
        ("SITE HELP", ".rwua"),
        ("SYST", "-rwua"),
        ("STAT", "-rwua"),
        ("STAT f", ".rw.a"),
        ("HELP", "-rwua"),
        ("NOOP", "-rwua"),
        ("FEAT", "-rwua"),
        ("OPTS UTF8 ON", "-rwua"),
        ("EPRT |1|127.0.0.1|1025|", ".rwua"),
        ("EPSV", ".rwua"),
        ("SIZE f", ".rw.a"),
        ("MDTM f", ".rw.a"),
        ("MLST f", ".rw.a"),
        ("MLSD", ".rw.a"),
        ("LANG EN", "-rwua"),
        ("AUTH TLS", "-rwua"),
        ("PBSZ 0", "-rwua"),
        ("PROT P", "-rwua"),
        ("CCC", "-rwua"),
        ("ADAT x", "-rwua"),
    ];

    /// The columns of [`ROWS`]: the mode a session is logged in with.
    fn columns() -> [Option<AccessMode>; 5] {
        [
            None,
            Some(AccessMode::ReadOnly),
            Some(AccessMode::Writable),
            Some(AccessMode::UploadOnly),
            anonymous_mode(AccessMode::Writable),
        ]
    }

    #[test]
    fn every_command_against_every_mode() {
        let mut variants = std::collections::HashSet::new();
        for (line, expected) in ROWS {
            let cmd = parse(line.as_bytes()).unwrap_or_else(|e| panic!("{line}: {e:?}"));
            variants.insert(std::mem::discriminant(&cmd));
            for (mode, want) in columns().into_iter().zip(expected.chars()) {
                let got = check(&policy(&cmd), mode);
                assert_eq!(got.is_ok(), want != '.', "{line} as {mode:?}: {got:?}");
                if let (Err(refusal), Some(mode)) = (got, mode) {
                    assert_eq!(refusal, Refusal::Mode(mode), "{line}");
                }
            }
        }
        // One row per variant (STAT has two: with and without a path).
        assert_eq!(variants.len(), ROWS.len() - 1, "a variant has two rows");
    }

    #[test]
    fn anonymous_users_read_and_have_nothing_in_a_drop_box() {
        assert_eq!(
            anonymous_mode(AccessMode::Writable),
            Some(AccessMode::ReadOnly)
        );
        assert_eq!(
            anonymous_mode(AccessMode::ReadOnly),
            Some(AccessMode::ReadOnly)
        );
        assert_eq!(anonymous_mode(AccessMode::UploadOnly), None);
    }

    #[test]
    fn feat_lists_only_what_a_mode_may_use() {
        let up: Vec<_> = features(AccessMode::UploadOnly).collect();
        assert_eq!(up, ["EPRT", "EPSV", "LANG EN*", "TVFS", "UTF8"]);
        for mode in [AccessMode::ReadOnly, AccessMode::Writable] {
            assert_eq!(features(mode).count(), FEATURES.len(), "{mode:?}");
        }
        // Every announced line is backed by a command the mode may run.
        for (line, cmd) in [
            ("MDTM", "MDTM f"),
            ("MLST", "MLST f"),
            ("REST STREAM", "RETR f"),
            ("SIZE", "SIZE f"),
        ] {
            let cmd = parse(cmd.as_bytes()).unwrap();
            for mode in columns().into_iter().flatten() {
                let listed = features(mode).any(|l| l == line);
                assert_eq!(listed, check(&policy(&cmd), Some(mode)).is_ok(), "{line}");
            }
        }
    }
}
