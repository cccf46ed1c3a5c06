//! The policy table: for each command, whether it needs a login, what kind
//! of access to the files it needs, and whether it may run while a data
//! transfer is in progress. Handlers never repeat these checks.

use super::{Command, SiteCommand};

/// What a command does to the served files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Touches no file.
    None,
    /// Reads or lists: refused in upload-only mode.
    Read,
    /// Creates something new (upload, mkdir): allowed in writable and upload-only mode.
    Create,
    /// Changes or removes what exists: writable mode only.
    Modify,
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
        | Allo
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
        // The MDTM set form reads when the session may not write: it is a
        // query then (the handler decides).
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
        // AVBL answers for the upload target: meaningful where one may create.
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
mod tests {
    use super::*;

    #[test]
    fn the_table_says_what_each_command_needs() {
        assert!(!policy(&Command::Feat).needs_login);
        assert!(policy(&Command::Pwd).needs_login);
        assert_eq!(policy(&Command::Dele("x".into())).access, Access::Modify);
        assert_eq!(policy(&Command::Stor("x".into())).access, Access::Create);
        assert_eq!(policy(&Command::Retr("x".into())).access, Access::Read);
        assert!(policy(&Command::Abor).during_transfer);
        assert!(policy(&Command::Stat(None)).during_transfer);
        assert!(!policy(&Command::Stat(Some("x".into()))).during_transfer);
        assert!(!policy(&Command::Host("h".into())).needs_login);
        assert_eq!(policy(&Command::Avbl(None)).access, Access::Create);
        assert_eq!(
            policy(&Command::Site(SiteCommand::Chmod {
                mode: 0o644,
                path: "x".into()
            }))
            .access,
            Access::Modify
        );
        assert_eq!(
            policy(&Command::Site(SiteCommand::Help)).access,
            Access::None
        );
    }
}
