//! CWD, CDUP, PWD, SMNT.

use crate::error::{FtpError, FtpResult};
use crate::protocol::Reply;
use crate::session::Session;
use crate::vfs::Share;

pub async fn cwd(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    // A drop box enters any folder: uploads there make the folders on the
    // way (see `commands::transfer::upload_target`).
    if s.rules().sees_names {
        super::fs(s, &path, Share::check_enterable).await?;
    }
    s.cwd = path;
    Ok(Reply::new(250, format!("Directory changed to {}", s.cwd)))
}

/// PWD: the path in quotes, with embedded quotes doubled (RFC 959 App. II).
pub fn pwd(s: &Session) -> FtpResult<Reply> {
    Ok(Reply::new(
        257,
        format!("{} is the current directory", quote(s.cwd.as_str())),
    ))
}

pub fn quote(path: &str) -> String {
    format!("\"{}\"", path.replace('"', "\"\""))
}

pub fn smnt() -> FtpResult<Reply> {
    Err(FtpError::NotImplemented("SMNT is not supported".into()))
}
