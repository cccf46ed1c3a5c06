//! The policy table: for each command, whether it needs a login, what kind
//! of access to the files it needs, and whether it may run while a data
//! transfer is in progress; which access each mode grants; and which FEAT
//! lines a session is told about. Handlers never repeat these checks:
//! adding a command is one row in [`policy`] plus its handler.

use super::{Command, SiteCommand};
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

/// Where one command does different things by mode, the difference is a
/// rule here, decided by the mode once; handlers read the rule, never
/// the mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rules {
    /// Names may be told apart: whether one exists, is a file or a
    /// folder. A drop box's session may not learn that: it enters any
    /// folder, its uploads make the folders on their way, it is answered
    /// alike whatever a name holds, and it measures its shared folder.
    pub sees_names: bool,
    /// An upload replaces what holds its name, and REST resumes it;
    /// without this, an upload takes a free name.
    pub replaces: bool,
    /// `MDTM time path` sets a time; without, the whole argument is a
    /// file name to query, as MDTM always meant.
    pub sets_times: bool,
    /// Uploads are possible at all, so ALLO checks the upload limits.
    pub uploads: bool,
}

/// The rules of `mode` (`None`: not logged in, no rule granted).
pub fn rules(mode: Option<AccessMode>) -> Rules {
    let may = |access| mode.is_some_and(|m| grants(m, access));
    Rules {
        sees_names: may(Access::Read),
        replaces: may(Access::Modify),
        sets_times: may(Access::Modify),
        uploads: may(Access::Create),
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
    ("AVBL", Access::Create),
    ("CLNT", Access::None),
    ("EPRT", Access::None),
    ("EPSV", Access::None),
    // Followed by the algorithms, the session's current one marked.
    ("HASH", Access::Read),
    ("HOST", Access::None),
    ("LANG EN*", Access::None),
    ("MDTM", Access::Read),
    ("MFF Modify;UNIX.mode;", Access::Modify),
    ("MFMT", Access::Modify),
    // Followed by the facts offered.
    ("MLST", Access::Read),
    ("MODE Z", Access::None),
    // A restart point is of use to RETR (read) or to a resumed STOR (modify).
    ("REST STREAM", Access::Read),
    ("SIZE", Access::Read),
    ("TVFS", Access::None),
    ("UTF8", Access::None),
    ("XCRC", Access::Read),
    ("XMD5", Access::Read),
    ("XSHA1", Access::Read),
    ("XSHA256", Access::Read),
    ("XSHA512", Access::Read),
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
        | Ccc | Opts(_) | Lang(_) | SecurityMechanism | Host(_) | Clnt(_) => {
            (false, Access::None, false)
        }
        Abor | Stat(None) => (false, Access::None, true),
        Acct
        | Smnt
        | Rein
        | Site(SiteCommand::Help)
        | Allo(_)
        | Rest(_)
        | Rang(_)
        | Type(_)
        | Stru
        | Mode(_)
        | Pasv
        | Port(_)
        | Eprt(_)
        | Epsv(_)
        | Pwd
        | Cwd(_)
        | Cdup => (true, Access::None, false),
        // The MDTM set form is a query where the session may not write
        // (the handler decides), so it needs what a query needs.
        Retr(_)
        | List(_)
        | Nlst(_)
        | Mlsd(_)
        | Mlst(_)
        | Size(_)
        | Mdtm(_)
        | MdtmSet { .. }
        | Stat(Some(_))
        | Hash(_)
        | XHash { .. } => (true, Access::Read, false),
        // AVBL answers for uploads: of use where one may create.
        Stor(_) | Stou(_) | Mkd(_) | Avbl(_) => (true, Access::Create, false),
        Appe(_)
        | Dele(_)
        | Rmd(_)
        | Rnfr(_)
        | Rnto(_)
        | Mfmt(..)
        | Mff(..)
        | Site(SiteCommand::Chmod { .. } | SiteCommand::Utime { .. }) => {
            (true, Access::Modify, false)
        }
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
        ("MDTM 20200101000000 f", ".rw.a"),
        ("MFMT 20200101000000 f", "..w.."),
        ("MFF UNIX.mode=644; f", "..w.."),
        ("SITE CHMOD 644 f", "..w.."),
        ("SITE UTIME 20200101000000 f", "..w.."),
        ("HASH f", ".rw.a"),
        ("RANG 0 9", ".rwua"),
        ("XSHA256 f", ".rw.a"),
        ("HOST example.org", "-rwua"),
        ("CLNT lftp", "-rwua"),
        ("AVBL", "..wu."),
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
        // One row per variant; STAT has two (with and without a path),
        // SITE three (HELP, CHMOD, UTIME).
        assert_eq!(variants.len(), ROWS.len() - 3, "a variant has two rows");
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
        assert_eq!(
            up,
            ["AVBL", "CLNT", "EPRT", "EPSV", "HOST", "LANG EN*", "MODE Z", "TVFS", "UTF8"]
        );
        assert_eq!(features(AccessMode::Writable).count(), FEATURES.len());
        // Read-only sessions are not told about AVBL, MFF and MFMT.
        assert_eq!(features(AccessMode::ReadOnly).count(), FEATURES.len() - 3);
        // Every announced line is backed by a command the mode may run.
        for (line, cmd) in [
            ("MDTM", "MDTM f"),
            ("MLST", "MLST f"),
            ("REST STREAM", "RETR f"),
            ("SIZE", "SIZE f"),
            ("AVBL", "AVBL"),
            ("HASH", "HASH f"),
            ("MFF Modify;UNIX.mode;", "MFF UNIX.mode=644; f"),
            ("MFMT", "MFMT 20200101000000 f"),
            ("XCRC", "XCRC f"),
        ] {
            let cmd = parse(cmd.as_bytes()).unwrap();
            for mode in columns().into_iter().flatten() {
                let listed = features(mode).any(|l| l == line);
                assert_eq!(listed, check(&policy(&cmd), Some(mode)).is_ok(), "{line}");
            }
        }
    }
}
