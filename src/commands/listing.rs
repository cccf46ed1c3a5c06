//! LIST, NLST, MLSD, MLST and STAT with a path.

use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FtpError, FtpResult, IoContext};
use crate::protocol::Reply;
use crate::session::{Job, Session};
use crate::vfs::{is_temp_name, Entry, Facts, Listing, Perms, Share, VPath};

#[derive(Clone, Copy)]
enum Format {
    Long,
    Names,
    Facts(Facts, Perms),
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Lists a directory (or one file) off the reactor: a directory can hold
/// many thousands of entries, each one a stat call.
async fn render(s: &Session, path: VPath, format: Format, dirs_only: bool) -> FtpResult<Vec<u8>> {
    let shared = Arc::clone(&s.shared);
    let work = move || -> FtpResult<Vec<u8>> {
        let root = &shared.root;
        let is_dir = root.is_dir(&path).at(&path)?;
        if dirs_only && !is_dir {
            return Err(FtpError::Syntax(format!("{path} is not a directory")));
        }
        let mut entries: Vec<Entry> = if is_dir {
            let mut v = root.list(&path).at(&path)?;
            v.retain(|e| !is_temp_name(&e.name));
            v.sort_unstable_by(|a, b| a.name.cmp(&b.name));
            v
        } else {
            vec![root.entry(&path).at(&path)?]
        };
        let format = match format {
            Format::Facts(facts, perms) if is_dir => {
                Format::Facts(facts, root.perms_in(&path, perms))
            }
            Format::Facts(facts, perms) => Format::Facts(facts, root.perms_of(&path, perms)),
            other => other,
        };
        let mut out = Listing::new(now());
        for e in entries.drain(..) {
            match format {
                Format::Long => out.list_line(&e),
                Format::Names => out.name_line(&e),
                Format::Facts(facts, perms) => out.facts_line(&e, facts, perms),
            }
        }
        Ok(out.out)
    };
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|_| FtpError::Local("Listing failed".into()))?
}

async fn send_listing(
    s: &mut Session,
    arg: Option<&str>,
    format: Format,
    dirs_only: bool,
) -> FtpResult<Option<Reply>> {
    let path = s.path(arg.unwrap_or("."))?;
    let bytes = render(s, path.clone(), format, dirs_only).await?;
    let opening = format!("Here comes the listing of {path}");
    s.start_transfer(Job::Listing(bytes), &path, None, opening)
        .await
}

pub async fn list(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    send_listing(s, arg, Format::Long, false).await
}

pub async fn nlst(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    send_listing(s, arg, Format::Names, false).await
}

/// MLSD lists directories only; a file is a 501 (RFC 3659 §7.2).
pub async fn mlsd(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    let format = Format::Facts(s.facts, s.perms());
    send_listing(s, arg, format, true).await
}

/// MLST: the facts of one path, on the control connection.
pub async fn mlst(s: &mut Session, arg: Option<&str>) -> FtpResult<Reply> {
    let path = s.path(arg.unwrap_or("."))?;
    let entry = super::fs(s, &path, Share::entry).await?;
    let perms = s.shared.root.perms_of(&path, s.perms());
    let facts = crate::vfs::facts_text(&entry, s.facts, perms);
    Ok(Reply::multi(
        250,
        format!("Listing {path}"),
        [format!("{facts} {path}")],
        "End",
    ))
}

/// STAT with a path: a LIST over the control connection, 212 for a
/// directory and 213 for a file (RFC 959 §4.2).
pub async fn stat_path(s: &mut Session, arg: &str) -> FtpResult<Option<Reply>> {
    let path = s.path(arg)?;
    let is_dir = super::fs(s, &path, Share::is_dir).await?;
    let bytes = render(s, path.clone(), Format::Long, false).await?;
    let text = String::from_utf8_lossy(&bytes);
    let lines = text.lines().map(str::to_string);
    let code = if is_dir { 212 } else { 213 };
    Ok(Some(Reply::multi(
        code,
        format!("Status of {path}:"),
        lines,
        "End of status",
    )))
}
