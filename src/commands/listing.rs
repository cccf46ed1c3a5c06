//! LIST, NLST, MLSD, MLST and STAT with a path.

use std::ffi::CString;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::{FtpError, FtpResult, IoContext};
use crate::protocol::{reply, Reply};
use crate::session::{Flow, Job, Session};
use crate::vfs::{ListFormat, ListingJob, Share, VPath};

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
            let (path, is_dir, pattern) = match (root.is_dir(&path), pattern) {
                (Err(e), Some(pattern)) if e.kind() == io::ErrorKind::NotFound => {
                    let folder = path.parent();
                    let is_dir = root.is_dir(&folder).at(&folder)?;
                    (folder, is_dir, Some(pattern))
                }
                (is_dir, _) => (path.clone(), is_dir.at(&path)?, None),
            };
            if dirs_only && !is_dir {
                return Err(FtpError::Syntax(format!("{path} is not a directory")));
            }
            // MLSD's perm fact: what may change where the entries are.
            let format = match format {
                ListFormat::Facts(facts, perms) if is_dir => {
                    ListFormat::Facts(facts, root.perms_in(&path, perms))
                }
                ListFormat::Facts(facts, perms) => {
                    ListFormat::Facts(facts, root.perms_of(&path, perms))
                }
                other => other,
            };
            let mut job = root.listing(&path, format, now()).at(&path)?;
            if let Some(pattern) = &pattern {
                let mut name_buf = Vec::new();
                let _utf8 = Utf8Locale::enter();
                job.retain(|name| pattern.matches(name, &mut name_buf));
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

/// fnmatch(3) reads characters by the thread's locale: under C.UTF-8 `?`
/// and `[é]` take one character of a UTF-8 name, not one byte. Entered
/// for as long as this lives, on this thread only; where the C library
/// has no such locale, patterns go by bytes.
struct Utf8Locale(libc::locale_t);

impl Utf8Locale {
    fn enter() -> Option<Utf8Locale> {
        // Made once, kept for the life of the process (as a number: the
        // handle is a pointer, which a static cannot hold).
        static UTF8: OnceLock<usize> = OnceLock::new();
        let utf8 = *UTF8.get_or_init(|| {
            // SAFETY: a valid locale name and no base locale to modify.
            let made = unsafe {
                libc::newlocale(
                    libc::LC_CTYPE_MASK,
                    c"C.UTF-8".as_ptr(),
                    std::ptr::null_mut(),
                )
            };
            made as usize
        });
        if utf8 == 0 {
            return None;
        }
        // SAFETY: a locale made by newlocale and never freed.
        let previous = unsafe { libc::uselocale(utf8 as libc::locale_t) };
        Some(Utf8Locale(previous))
    }
}

impl Drop for Utf8Locale {
    fn drop(&mut self) {
        // SAFETY: the thread's locale before `enter`, still valid.
        unsafe { libc::uselocale(self.0) };
    }
}

/// A shell pattern: `*`, `?`, `[...]` (negated by `!` or `^`, with
/// classes such as `[[:digit:]]`), and `\` taking the next character as
/// it is. Matched by fnmatch(3), the C library's own shell matching, so
/// an unclosed `[` is an ordinary character, as in a shell.
struct Pattern(CString);

impl Pattern {
    /// `name`, if it has a wildcard.
    fn of(name: &str) -> Option<Pattern> {
        if !name.contains(['*', '?', '[']) {
            return None;
        }
        CString::new(name).ok().map(Pattern)
    }

    /// Whether `name` matches; a leading dot only matches a dot written
    /// as such (`FNM_PERIOD`). `buf` is scratch space for the name.
    fn matches(&self, name: &str, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        // SAFETY: both strings end in NUL and outlive the call; names hold
        // no NUL before it.
        unsafe { libc::fnmatch(self.0.as_ptr(), buf.as_ptr().cast(), libc::FNM_PERIOD) == 0 }
    }
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
