//! MFMT, MFF and the MDTM set form (draft-somers-ftp-mfxx): changing a
//! file's or folder's modification time and permission bits.

use crate::error::FtpResult;
use crate::protocol::{FactChange, Reply};
use crate::session::Session;
use crate::vfs::{mdtm, Share, TimeVal};

use super::{fileops, fs};

/// The time as the reply echoes it: `YYYYMMDDHHMMSS[.sss]`.
fn time_text(t: TimeVal) -> String {
    match t.nanos / 1_000_000 {
        0 => mdtm(t.secs),
        ms => format!("{}.{ms:03}", mdtm(t.secs)),
    }
}

/// Sets the modification time (and, when given, the access time) of a
/// file or folder, off the runtime; gives the modification time stored,
/// which replies echo: the one MDTM will show.
pub async fn set_times(
    s: &Session,
    arg: &str,
    mtime: TimeVal,
    atime: Option<TimeVal>,
) -> FtpResult<TimeVal> {
    let path = s.path(arg)?;
    fs(s, &path, move |root, p| {
        root.set_times(
            p,
            mtime.to_system_time(),
            atime.map(TimeVal::to_system_time),
        )
    })
    .await
}

/// Sets permission bits (already masked to 0o777 by the parser).
pub async fn set_mode(s: &Session, arg: &str, mode: u32) -> FtpResult<()> {
    let path = s.path(arg)?;
    fs(s, &path, move |root, p| root.set_mode(p, mode)).await
}

/// MFMT: `213 Modify=time; path`.
pub async fn mfmt(s: &Session, time: TimeVal, arg: &str) -> FtpResult<Reply> {
    let stored = set_times(s, arg, time, None).await?;
    Ok(Reply::new(
        213,
        format!("Modify={}; {arg}", time_text(stored)),
    ))
}

/// `MDTM time path` sets the time where the session may write, unless the
/// whole argument names a file: MDTM's argument is a path (RFC 3659), and
/// a name that starts with a time is still a name. Elsewhere it is always
/// a query. The reply is MDTM's own, `213 time`, the time now stored.
pub async fn mdtm_set(s: &mut Session, time: TimeVal, path: &str, whole: &str) -> FtpResult<Reply> {
    if !s.rules().sets_times || names_something(s, whole).await {
        return fileops::mdtm(s, whole).await;
    }
    let stored = set_times(s, path, time, None).await?;
    Ok(Reply::new(213, time_text(stored)))
}

async fn names_something(s: &Session, arg: &str) -> bool {
    match s.path(arg) {
        Ok(path) => fs(s, &path, Share::metadata).await.is_ok(),
        Err(_) => false,
    }
}

/// MFF: applies each fact in order and answers with those it changed.
pub async fn mff(s: &Session, facts: &[FactChange], arg: &str) -> FtpResult<Reply> {
    let mut done = String::new();
    for fact in facts {
        match *fact {
            FactChange::Modify(t) => {
                let stored = set_times(s, arg, t, None).await?;
                done.push_str(&format!("Modify={};", time_text(stored)));
            }
            FactChange::UnixMode(mode) => {
                set_mode(s, arg, mode).await?;
                done.push_str(&format!("UNIX.mode={mode:04o};"));
            }
        }
    }
    Ok(Reply::new(213, format!("{done} {arg}")))
}
