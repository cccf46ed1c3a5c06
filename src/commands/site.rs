//! SITE CHMOD, SITE UTIME, SITE HELP.

use crate::error::FtpResult;
use crate::protocol::{Reply, SiteCommand};
use crate::session::Session;

use super::facts;

pub async fn site(s: &Session, cmd: SiteCommand) -> FtpResult<Reply> {
    match cmd {
        SiteCommand::Help => Ok(Reply::multi(
            214,
            "SITE commands:",
            [
                "CHMOD <octal mode> <path>".to_string(),
                "UTIME <YYYYMMDDhhmmss> <path>".to_string(),
                "UTIME <path> <atime> <mtime> <ctime> UTC".to_string(),
                "HELP".to_string(),
            ],
            "End",
        )),
        SiteCommand::Chmod { mode, path } => {
            facts::set_mode(s, &path, mode).await?;
            Ok(Reply::new(
                200,
                format!("SITE CHMOD {mode:04o} {path} done"),
            ))
        }
        SiteCommand::Utime { mtime, atime, path } => {
            facts::set_times(s, &path, mtime, atime).await?;
            Ok(Reply::new(200, format!("SITE UTIME {path} done")))
        }
    }
}
