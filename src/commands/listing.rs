//! LIST, NLST, MLSD, MLST and STAT with a path.

use std::io;
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FtpError, FtpResult, IoContext};
use crate::protocol::{reply, Reply};
use crate::session::{Flow, Job, Session};
use crate::vfs::{ListFormat, ListingJob, Pattern, VPath};

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

/// Starts a listing off the reactor: reading a directory's names is
/// file-system work, and a directory can hold many thousands. The entries
/// are looked up and formatted later, a chunk at a time. Also gives the
/// path listed and whether it is a folder (STAT's reply code depends on
/// it).
///
/// A last component that names nothing but is a shell pattern (`*.jpg`)
/// lists the folder's entries it matches, as vsftpd and ProFTPD do:
/// classic clients' `mget *.jpg` sends `NLST *.jpg` and fetches what it
/// names. So NLST names a file, and a pattern's matches, with the folder
/// part as given (`sub/a.jpg`): each can be fetched as it reads. A
/// folder's entries are named alone, as `ls` names them.
async fn prepare(
    s: &Session,
    arg: &str,
    format: ListFormat,
    dirs_only: bool,
) -> FtpResult<(VPath, ListingJob, bool)> {
    let path = s.path(arg)?;
    // The pattern and the folder part come from the text as given; a last
    // part that the path drops or changes (`*/.`, `*/`) is no pattern.
    let (folder_part, last) = arg.split_at(arg.rfind('/').map_or(0, |end| end + 1));
    let pattern = Pattern::of(last).filter(|_| !dirs_only && path.file_name() == Some(last));
    let folder_part = folder_part.to_owned();
    let shared = Arc::clone(&s.shared);
    let work = move || -> FtpResult<(VPath, ListingJob, bool)> {
        // A deleted folder lists as empty: say it is gone instead.
        super::check_root(&shared, &path, false)?;
        let root = &shared.root;
        let listed = (|| {
            let (path, dir, pattern) = match (root.dir_rights(&path), pattern) {
                (Err(e), Some(pattern)) if e.kind() == io::ErrorKind::NotFound => {
                    let folder = path.parent();
                    let dir = root.dir_rights(&folder).at(&folder)?;
                    (folder, dir, Some(pattern))
                }
                (dir, _) => (path.clone(), dir.at(&path)?, None),
            };
            let is_dir = dir.is_some();
            if dirs_only && !is_dir {
                return Err(FtpError::Syntax(format!("{path} is not a directory")));
            }
            // MLSD's perm fact: what may change where the entries are.
            let format = match (format, dir) {
                (ListFormat::Facts(facts, perms), Some(rights)) => {
                    let perms = root.perms_in(&path, perms);
                    ListFormat::Facts(facts, perms.in_folder(rights))
                }
                (ListFormat::Facts(facts, perms), None) => {
                    let perms = root.perms_of(&path, perms);
                    let folder = root.folder_rights(&path.parent());
                    ListFormat::Facts(facts, perms.in_folder(folder))
                }
                (other, _) => other,
            };
            let mut job = root.listing(&path, format, now()).at(&path)?;
            if let Some(pattern) = &pattern {
                job.keep_matching(pattern);
            }
            if pattern.is_some() || !is_dir {
                job.prefix_names(folder_part);
            }
            Ok((path, job, is_dir))
        })();
        if let Err(FtpError::PermissionDenied(_)) = &listed {
            super::check_root(&shared, &path, true)?;
        }
        listed
    };
    crate::blocking::run(work)
        .await
        .map_err(|_| FtpError::Local("Listing failed".into()))?
}

async fn send_listing(
    s: &mut Session,
    arg: Option<&str>,
    format: ListFormat,
    dirs_only: bool,
) -> FtpResult<Option<Reply>> {
    let (path, listing, _) = prepare(s, arg.unwrap_or("."), format, dirs_only).await?;
    let opening = format!("Here comes the listing of {path}");
    s.start_transfer(Job::Listing(listing), &path, opening)
        .await
}

pub async fn list(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    send_listing(s, arg, ListFormat::Long, false).await
}

pub async fn nlst(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    send_listing(s, arg, ListFormat::Names, false).await
}

/// MLSD lists directories only; a file is a 501 (RFC 3659 §7.2).
pub async fn mlsd(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    let format = ListFormat::Facts(s.facts, s.perms());
    send_listing(s, arg, format, true).await
}

/// MLST: the facts of one path, on the control connection.
pub async fn mlst(s: &mut Session, arg: Option<&str>) -> FtpResult<Reply> {
    let path = s.path(arg.unwrap_or("."))?;
    let (entry, folder) = super::fs(s, &path, |root, p| {
        Ok((root.entry(p)?, root.folder_rights(&p.parent())))
    })
    .await?;
    let perms = s.shared.root.perms_of(&path, s.perms()).in_folder(folder);
    let facts = crate::vfs::facts_text(&entry, s.facts, perms);
    Ok(Reply::multi(
        250,
        format!("Listing {path}"),
        [format!("{facts} {path}")],
        "End",
    ))
}

/// STAT with a path: a LIST over the control connection, 212 for a
/// directory and 213 for a file (RFC 959 §4.2). The lines go out a chunk
/// at a time, so a huge directory costs no more memory than a LIST.
pub async fn stat_path(s: &mut Session, arg: &str) -> FtpResult<Option<Reply>> {
    let (path, mut listing, is_dir) = prepare(s, arg, ListFormat::Long, false).await?;
    let code = if is_dir { 212 } else { 213 };
    let mut out = Vec::new();
    reply::begin_multi(code, &format!("Status of {path}:"), &mut out);
    loop {
        if s.send_part(&out).await == Flow::Close {
            return Err(FtpError::ControlLost);
        }
        let (back, chunk) = crate::blocking::run(move || {
            let chunk = listing.next_chunk();
            (listing, chunk)
        })
        .await
        .map_err(|_| FtpError::Local("Listing failed".into()))?;
        listing = back;
        let Some(chunk) = chunk else { break };
        out.clear();
        reply::body_lines(&chunk, &mut out);
    }
    Ok(Some(Reply::new(code, "End of status")))
}
