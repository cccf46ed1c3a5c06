//! TYPE, STRU, MODE, PASV, EPSV, PORT, EPRT, REST, ALLO, RETR, STOR,
//! STOU, APPE, ABOR.

use std::fs::File;
use std::io::{self, Seek, SeekFrom};
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use rand::Rng;

use super::fs;
use crate::data::{self, bind_passive, Ascii, DataPlan, EarlyTls};
use crate::error::{FtpError, FtpResult, IoContext};
use crate::events::Direction;
use crate::protocol::{DataPort, EpsvArg, ProtLevel, Reply, TransferMode, TransferType};
use crate::session::{Finish, Flow, InPlace, Job, Session};
use crate::vfs::{
    clear_special_bits, unique_names, AppendTarget, Download, Share, Upload, VPath, NAME_MAX,
};

pub fn type_(s: &mut Session, t: TransferType) -> FtpResult<Reply> {
    s.ascii = t == TransferType::Ascii;
    Ok(Reply::new(
        200,
        if s.ascii {
            "Type set to A"
        } else {
            "Type set to I"
        },
    ))
}

pub fn stru() -> FtpResult<Reply> {
    Ok(Reply::new(200, "Structure set to F"))
}

pub fn mode(s: &mut Session, mode: TransferMode) -> FtpResult<Reply> {
    Ok(match mode {
        TransferMode::Stream => {
            s.deflate = None;
            Reply::new(200, "Mode set to S")
        }
        TransferMode::Deflate => {
            s.deflate = Some(s.deflate_level);
            Reply::new(200, format!("Mode set to Z (level {})", s.deflate_level))
        }
    })
}

/// OPTS MODE Z LEVEL n: the compression level, 0 (none) to 9 (best).
pub fn opts_mode(s: &mut Session, value: &str) -> FtpResult<Reply> {
    let words: Vec<String> = value
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let level = match words.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["Z", "LEVEL", n] => n.parse::<u32>().ok().filter(|n| *n <= 9),
        _ => None,
    }
    .ok_or_else(|| FtpError::Syntax("Use OPTS MODE Z LEVEL <0-9>".into()))?;
    s.deflate_level = level;
    if s.deflate.is_some() {
        s.deflate = Some(level);
    }
    Ok(Reply::new(200, format!("MODE Z LEVEL set to {level}")))
}

/// ALLO n: storage needs no reserving here (202, superfluous), but a size
/// that alone would break an upload limit is refused up front (552),
/// before the client sends any data.
pub async fn allo(s: &mut Session, size: Option<u64>) -> FtpResult<Reply> {
    let rules = s.rules();
    if let Some(n) = size.filter(|_| rules.uploads && s.shared.config.uploads.any()) {
        let cwd = match rules.sees_names {
            true => s.cwd.clone(),
            false => VPath::root(),
        };
        let root = s.shared.root.clone();
        let dir = move || Ok(root.open_dir(&cwd)?.into_std_file());
        s.shared.budget.check_allo(n, dir).await?;
    }
    s.announced = size;
    Ok(Reply::new(
        202,
        "ALLO not needed; command superfluous at this site",
    ))
}

pub fn rest(s: &mut Session, offset: u64) -> FtpResult<Reply> {
    // A compressed stream cannot start in the middle of a file.
    if s.deflate.is_some() {
        return Err(FtpError::ParamNotImplemented(
            "REST is not available in MODE Z".into(),
        ));
    }
    s.rest = Some(offset);
    Ok(Reply::new(
        350,
        format!("Restarting at {offset}; send RETR, STOR or APPE"),
    ))
}

fn refuse_after_epsv_all(s: &Session) -> FtpResult<()> {
    if s.epsv_all {
        return Err(FtpError::BadSequence(
            "EPSV ALL is in effect: only EPSV may be used".into(),
        ));
    }
    Ok(())
}

fn listen(s: &mut Session) -> FtpResult<u16> {
    // A repeated PASV replaces the previous listener; free its port first
    // so a small --passive-ports range is not used up by one client.
    s.data = DataPlan::None;
    let (listener, port) = bind_passive(s.local.ip(), s.shared.config.passive_ports.as_ref())
        .map_err(|e| FtpError::CannotOpenData(format!("Can't open passive connection: {e}")))?;
    s.data = match (&s.tls, s.prot) {
        // Protected: a client may start TLS before its command.
        (Some(tls), ProtLevel::Private) => {
            let handshake = s.shared.config.limits.tls_handshake_timeout;
            let activity = Arc::clone(&s.activity);
            let early =
                EarlyTls::start(listener, s.client_ip(), tls.data(true), handshake, activity);
            DataPlan::PassiveTls(early)
        }
        _ => DataPlan::Passive(listener),
    };
    Ok(port)
}

pub fn pasv(s: &mut Session) -> FtpResult<Reply> {
    refuse_after_epsv_all(s)?;
    let IpAddr::V4(own) = s.local.ip() else {
        return Err(FtpError::CannotOpenData(
            "PASV cannot express IPv6 addresses; use EPSV".into(),
        ));
    };
    // Announce the public address, except to clients on this very machine.
    let ip = match s.shared.pasv_ip {
        Some(public) if !s.client_ip().is_loopback() => public,
        _ => own,
    };
    let port = listen(s)?;
    let [a, b, c, d] = ip.octets();
    Ok(Reply::new(
        227,
        format!(
            "Entering Passive Mode ({a},{b},{c},{d},{},{})",
            port >> 8,
            port & 0xff
        ),
    ))
}

pub fn epsv(s: &mut Session, arg: EpsvArg) -> FtpResult<Reply> {
    let ours = if s.local.is_ipv4() {
        EpsvArg::Ipv4
    } else {
        EpsvArg::Ipv6
    };
    match arg {
        EpsvArg::All => {
            s.epsv_all = true;
            return Ok(Reply::new(200, "EPSV ALL ok"));
        }
        EpsvArg::Any => {}
        a if a == ours => {}
        _ => return Err(unsupported_protocol(s)),
    }
    let port = listen(s)?;
    Ok(Reply::new(
        229,
        format!("Entering Extended Passive Mode (|||{port}|)"),
    ))
}

/// 522 names the protocols this connection can use (RFC 2428 §3).
fn unsupported_protocol(s: &Session) -> FtpError {
    let ours = if s.local.is_ipv4() { "(1)" } else { "(2)" };
    FtpError::ProtocolNotSupported(format!("Network protocol not supported, use {ours}"))
}

pub fn port(s: &mut Session, addr: SocketAddr) -> FtpResult<Reply> {
    refuse_after_epsv_all(s)?;
    active(s, addr)?;
    Ok(Reply::new(200, "PORT command successful"))
}

pub fn eprt(s: &mut Session, port: DataPort) -> FtpResult<Reply> {
    refuse_after_epsv_all(s)?;
    let DataPort::Addr(addr) = port else {
        return Err(FtpError::ProtocolNotSupported(
            "Network protocol not supported, use (1,2)".into(),
        ));
    };
    active(s, addr)?;
    Ok(Reply::new(200, "EPRT command successful"))
}

/// RFC 2577 §3: connect only back to the client itself, and never to a
/// privileged port (504, as it suggests), so the server cannot be used to
/// attack third parties.
fn active(s: &mut Session, addr: SocketAddr) -> FtpResult<()> {
    if addr.ip().to_canonical() != s.client_ip() {
        return Err(FtpError::Syntax(
            "Rejected: data connections go only to your own address".into(),
        ));
    }
    if addr.port() < 1024 {
        return Err(FtpError::ParamNotImplemented(
            "Rejected: data connections to privileged ports are not allowed".into(),
        ));
    }
    s.data = DataPlan::Active(addr);
    Ok(())
}

fn mode_word(s: &Session) -> &'static str {
    if s.ascii {
        "ASCII"
    } else {
        "BINARY"
    }
}

pub async fn retr(s: &mut Session, arg: &str) -> FtpResult<Option<Reply>> {
    let prepared = retr_job(s, arg).await;
    start(s, Direction::Download, arg, prepared).await
}

/// A transfer ready to start: its path, its job and its 150's text.
type Prepared = (VPath, Job, String);

/// Starts a prepared transfer. One refused before it began (a missing
/// file, a name, a permission, a limit) is reported as a failed one, as
/// one refused later is.
async fn start(
    s: &mut Session,
    direction: Direction,
    arg: &str,
    prepared: FtpResult<Prepared>,
) -> FtpResult<Option<Reply>> {
    let (path, job, opening) = prepared.inspect_err(|e| s.report_refused(direction, arg, e))?;
    s.start_transfer(job, &path, opening).await
}

async fn retr_job(s: &mut Session, arg: &str) -> FtpResult<Prepared> {
    let path = s.path(arg)?;
    let offset = s.rest.unwrap_or(0);
    // In TYPE A a REST counts the octets sent: the file is read up to
    // there to find where that is in it.
    let counts_octets = s.ascii && offset > 0;
    ascii_restart_within_limit(counts_octets, offset)?;
    let cached = match counts_octets {
        true => None,
        false => s.shared.root.open_read_cached(&path, offset),
    };
    let at_offset = Some((offset, Ascii { after_cr: false }));
    let (Download { file, len, bytes }, start) = match cached {
        Some(download) => (download, at_offset),
        // A small file is read in the job that opens it: one trip to the
        // disk per download.
        None => {
            fs(s, &path, move |r, p| {
                let (file, md) = r.open_read(p)?;
                let start = match counts_octets {
                    true => data::ascii_restart(&file, offset)?,
                    false => at_offset,
                };
                let from = start.map_or(offset, |(from, _)| from);
                let bytes = crate::vfs::read_small(&file, from, md.len())?;
                let len = md.len();
                Ok((Download { file, len, bytes }, start))
            })
            .await?
        }
    };
    let Some((from, text)) = start.filter(|(from, _)| *from <= len) else {
        return Err(restart_past_end(offset, &path, len, counts_octets));
    };
    // The count is of bytes on disk: in TYPE A more go on the wire (each
    // LF as CRLF), and a client may take the count for the length.
    let opening = match s.ascii {
        true => format!("Opening {} mode data connection for {path}", mode_word(s)),
        false => format!(
            "Opening {} mode data connection for {path} ({} bytes)",
            mode_word(s),
            len - from
        ),
    };
    let job = Job::Send {
        file,
        offset: from,
        len,
        bytes,
        ascii: s.ascii.then_some(text),
    };
    Ok((path, job, opening))
}

pub async fn stor(s: &mut Session, arg: &str) -> FtpResult<Option<Reply>> {
    let prepared = stor_job(s, arg).await;
    start(s, Direction::Upload, arg, prepared).await
}

async fn stor_job(s: &mut Session, arg: &str) -> FtpResult<Prepared> {
    let path = upload_target(s, arg)?;
    let offset = s.rest.unwrap_or(0);
    let replaces = s.rules().replaces;
    let makes_folders = !s.rules().sees_names;
    let job = if offset > 0 {
        if !replaces {
            return Err(FtpError::PermissionDenied(
                "resuming is not allowed in an upload-only share".into(),
            ));
        }
        resume(s, &path, offset).await?
    } else {
        // Without the right to replace, whatever holds the name (a file,
        // a folder) is not looked at: the upload takes a free name.
        let folder = folder_as_given(arg);
        admitted(s, &path, move |r, p| {
            let (upload, file) = match (replaces, makes_folders) {
                (true, _) => Upload::begin(r, p)?,
                (false, true) => Upload::begin_making_folders(r, p)?,
                (false, false) => Upload::begin_new(r, p)?,
            };
            let finish = match replaces {
                true => Finish::Replace(upload),
                false => Finish::Unique(upload, folder),
            };
            Ok(Ok(Begun::new(file, finish, 0)))
        })
        .await?
    };
    let opening = format!("Ok to send data for {path} ({} mode)", mode_word(s));
    Ok((path, job, opening))
}

/// REST n + STOR, as REST STREAM defines it: the file keeps its first `n`
/// bytes and ends with the upload. At the file's end (the usual resume of
/// a broken upload) it is written in place, holding the path's lock until
/// done; before the end, through a temporary copy of the first `n` bytes,
/// so that the bytes it replaces are not lost if it fails.
async fn resume(s: &mut Session, path: &VPath, wire: u64) -> FtpResult<Job> {
    let ascii = s.ascii;
    ascii_restart_within_limit(ascii, wire)?;
    let lock = s.lock_path(path).await?;
    let shown = path.clone();
    admitted(s, path, move |r, p| {
        // As APPE: what a link points to is resumed by its own name, where
        // it is locked as such (a link's name has a lock of its own).
        if r.symlink_metadata(p)
            .is_ok_and(|m| m.file_type().is_symlink())
        {
            return Ok(Err(FtpError::FileUnavailable(format!(
                "{shown}: is a symbolic link; resume the file it points to"
            ))));
        }
        let (mut file, md) = r.open_resume(p)?;
        // In TYPE A the client counts the octets it sent, CRLF line ends
        // and all; the file holds LF, so it is read to find that point.
        let start = match ascii {
            true => text_restart(r, p, wire)?,
            false => Some((wire, false)),
        };
        let Some((offset, after_cr)) = start.filter(|(at, _)| *at <= md.len()) else {
            return Ok(Err(restart_past_end(wire, &shown, md.len(), ascii)));
        };
        if offset < md.len() {
            drop((file, lock));
            let (upload, file) = Upload::begin_with_prefix(r, p, offset)?;
            let begun = Begun::new(file, Finish::Replace(upload), offset);
            return Ok(Ok(Begun { after_cr, ..begun }));
        }
        file.seek(SeekFrom::Start(offset))?;
        clear_special_bits(&file)?;
        let in_place = InPlace {
            file: file.try_clone()?,
            from: offset,
            share: r.clone(),
            path: p.clone(),
            _lock: lock,
        };
        Ok(Ok(Begun::new(file, Finish::Resume(in_place), offset)))
    })
    .await
}

/// Where a TYPE A upload restarted after `wire` octets goes on in the file
/// at `p`, and whether the octet before was a CR: the client's next octet
/// decides what that CR becomes (with an LF after it, one line end), so
/// the upload starts with it pending, and a CR the file holds there is
/// left out of the part kept. `None` past the octets the file sends.
fn text_restart(r: &Share, p: &VPath, wire: u64) -> io::Result<Option<(u64, bool)>> {
    use std::os::unix::fs::FileExt;
    let reader = r.open_read(p)?.0;
    let Some((at, Ascii { after_cr })) = data::ascii_restart(&reader, wire)? else {
        return Ok(None);
    };
    let mut before = [0u8];
    let held_cr = after_cr && at > 0 && {
        reader.read_exact_at(&mut before, at - 1)?;
        before[0] == b'\r'
    };
    Ok(Some((at - u64::from(held_cr), after_cr)))
}

/// What opening an upload gives: its file, how it takes effect, the bytes
/// the target holds already that it adds to, and (TYPE A) whether the
/// octet before its first was a CR.
struct Begun {
    file: File,
    finish: Finish,
    base: u64,
    after_cr: bool,
}

impl Begun {
    fn new(file: File, finish: Finish, base: u64) -> Begun {
        Begun {
            file,
            finish,
            base,
            after_cr: false,
        }
    }
}

/// 554 for a REST past the file's end: in TYPE A, past the octets it sends.
fn restart_past_end(offset: u64, path: &VPath, len: u64, ascii: bool) -> FtpError {
    let has = match ascii {
        true => "fewer octets in ASCII mode (SIZE counts them)".to_string(),
        false => format!("{len} bytes"),
    };
    FtpError::BadRestart(format!("Cannot restart at {offset}: {path} has {has}"))
}

/// 554 for a REST in TYPE A past what is worked out by reading the file.
fn ascii_restart_within_limit(ascii: bool, offset: u64) -> FtpResult<()> {
    if ascii && offset > data::ASCII_SCAN_LIMIT {
        return Err(FtpError::BadRestart(format!(
            "Cannot restart at {offset} in ASCII mode: only within the first {} MiB; use TYPE I",
            data::ASCII_SCAN_LIMIT >> 20
        )));
    }
    Ok(())
}

/// The job for an upload that `open` begins (its file, how it will take
/// effect, and the bytes the target holds already that it adds to), if
/// the upload limits admit it: opening, checking and measuring the disk
/// in one file-system job. A refused upload's temporary file is gone
/// before the refusal is answered.
async fn admitted(
    s: &Session,
    path: &VPath,
    open: impl FnOnce(&Share, &VPath) -> io::Result<FtpResult<Begun>> + Send + 'static,
) -> FtpResult<Job> {
    let budget = Arc::clone(&s.shared.budget);
    let opened = fs(s, path, move |r, p| {
        let begun = match open(r, p)? {
            Ok(begun) => begun,
            Err(e) => return Ok(Err(e)),
        };
        // Shared with the upload's disk watch, which reads its length.
        let file = Arc::new(begun.file);
        match budget.admit(&file, begun.base) {
            Ok(ticket) => Ok(Ok((file, begun.finish, ticket, begun.after_cr))),
            Err(refused) => {
                begun.finish.discard();
                Ok(Err(refused))
            }
        }
    });
    let (file, finish, ticket, after_cr) = opened.await??;
    Ok(Job::Receive {
        file,
        target: path.clone(),
        finish,
        ticket,
        ascii: s.ascii.then_some(Ascii { after_cr }),
    })
}

/// APPE collects the data in a temporary file and adds it to the target
/// only once complete: an empty, interrupted or concurrent append never
/// loses or shuffles bytes already there.
pub async fn appe(s: &mut Session, arg: &str) -> FtpResult<Option<Reply>> {
    let prepared = appe_job(s, arg).await;
    start(s, Direction::Upload, arg, prepared).await
}

async fn appe_job(s: &mut Session, arg: &str) -> FtpResult<Prepared> {
    let path = upload_target(s, arg)?;
    let (offset, ascii) = (s.rest.unwrap_or(0), s.ascii);
    ascii_restart_within_limit(ascii, offset)?;
    // The per-file limit counts what the file holds already. A symlink is
    // refused here, before 150, rather than after the whole body came.
    let shown = path.clone();
    let job = admitted(s, &path, move |r, p| {
        let held = match r.check_appendable(p)? {
            AppendTarget::Symlink => {
                return Ok(Err(FtpError::FileUnavailable(format!(
                    "{shown}: is a symbolic link; APPE to the file it points to"
                ))))
            }
            AppendTarget::File(held) => held,
        };
        // The bytes go at the end: a REST elsewhere cannot be kept. In
        // TYPE A the end counts the octets the file sends (as SIZE does),
        // and one right after a CR cannot be kept either: what follows a
        // CR decides what it becomes, which an append cannot change (a
        // resume can).
        if offset != 0 {
            let start = match (ascii, held) {
                (true, 1..) => data::ascii_restart(&r.open_read(p)?.0, offset)?,
                _ => Some((offset, Ascii { after_cr: false })),
            };
            let refused = match start {
                Some((at, Ascii { after_cr: false })) if at == held => None,
                Some((at, _)) if at == held => Some(format!(
                    "{shown} ends in a CR: resume it with REST and STOR"
                )),
                _ => Some(format!(
                    "Cannot restart at {offset}: APPE adds at the end of {shown} (SIZE gives it)"
                )),
            };
            if let Some(why) = refused {
                return Ok(Err(FtpError::BadRestart(why)));
            }
        }
        // After a REST, the file must still end there when the bytes go in.
        let end = (offset != 0).then_some(held);
        let (upload, file) = Upload::begin(r, p)?;
        Ok(Ok(Begun::new(file, Finish::Append(upload, end), held)))
    })
    .await?;
    let opening = format!("Ok to append data to {path}");
    Ok((path, job, opening))
}

/// STOU: store under a name that does not exist yet, announced in the 150
/// reply as RFC 1123 §4.1.2.9 requires.
pub async fn stou(s: &mut Session, arg: Option<&str>) -> FtpResult<Option<Reply>> {
    let prepared = stou_job(s, arg).await;
    start(s, Direction::Upload, arg.unwrap_or(""), prepared).await
}

async fn stou_job(s: &mut Session, arg: Option<&str>) -> FtpResult<Prepared> {
    let wanted = match arg {
        Some(a) => upload_target(s, a)?,
        None => {
            let name = format!("ftpshare-{:08x}", rand::rng().random::<u32>());
            upload_target(s, &name)?
        }
    };
    let makes_folders = !s.rules().sees_names;
    let path = fs(s, &wanted, free_name).await?;
    let folder = arg.and_then(folder_as_given);
    let shown = folder.clone();
    let job = admitted(s, &path, move |r, p| {
        let (upload, file) = match makes_folders {
            true => Upload::begin_making_folders(r, p)?,
            false => Upload::begin_new(r, p)?,
        };
        Ok(Ok(Begun::new(file, Finish::Unique(upload, shown), 0)))
    })
    .await?;
    let name = path.file_name().unwrap_or_default();
    let opening = match &folder {
        Some(folder) => format!("FILE: {folder}/{name}"),
        None => format!("FILE: {name}"),
    };
    Ok((path, job, opening))
}

/// The folder part of a path as the client wrote it (`d` of `d/name`), to
/// name a file the server chose so that the client can use the name.
fn folder_as_given(arg: &str) -> Option<String> {
    arg.rsplit_once('/').map(|(folder, _)| folder.to_string())
}

/// `wanted`, or `wanted.1`, `wanted.2`… whichever does not exist now.
fn free_name(root: &Share, wanted: &VPath) -> io::Result<VPath> {
    let name = wanted.file_name().unwrap_or("upload");
    for candidate in unique_names(name) {
        let path = wanted
            .parent()
            .join(&candidate)
            .map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        if root.symlink_metadata(&path).is_err() {
            return Ok(path);
        }
    }
    Err(io::Error::from(io::ErrorKind::AlreadyExists))
}

fn upload_target(s: &Session, arg: &str) -> FtpResult<VPath> {
    let path = s.new_path(arg)?;
    // The share decides where an upload may land (never onto a shared
    // folder itself); it looks at nothing on disk, so no blocking hop.
    s.shared.root.check_change(&path).at(&path)?;
    // `sub/` or `sub/.` names a folder, though the path drops what says so.
    if matches!(arg.rsplit('/').next(), Some("" | "." | "..")) {
        return Err(FtpError::InvalidName(format!("{arg}: not a file name")));
    }
    // Checked before 150: otherwise the whole body would be read only to
    // fail at the final rename.
    if !path.fits_name_max() {
        return Err(FtpError::InvalidName(format!(
            "name too long (max {NAME_MAX} bytes)"
        )));
    }
    // A drop box enters folders without learning whether they exist (see
    // `commands::nav::cwd`), so its uploads make them: only once stored
    // (`Upload::begin_making_folders`), so that a refused one makes none.
    Ok(path)
}

/// ABOR: a running transfer gets 426, then ABOR itself 226 (RFC 959 §4.1.3).
pub async fn abor(s: &mut Session) -> FtpResult<Option<Reply>> {
    s.data = DataPlan::None;
    // RFC 959 §4.1.3: with the transfer already complete (or none), ABOR
    // is answered 226 alone.
    match s.abort_transfer().await {
        None => Ok(Some(Reply::new(
            226,
            "ABOR successful; no transfer running",
        ))),
        Some(Flow::Close) => Err(FtpError::ControlLost),
        Some(Flow::Continue) => Ok(Some(Reply::new(226, "ABOR successful"))),
    }
}
