//! An upload's way from its data connection to the disk: streaming into
//! its file (which a stop ends, leaving no trace), then committing (which
//! nothing stops: the path's lock, the last bytes, the rename, append or
//! cut that makes it take effect).

use std::fs::File;
use std::io::{Seek, Write};
use std::sync::Arc;
use std::time::Duration;

use super::control::hung_up;
use super::task::{open, TaskContext};
use crate::budget::Ticket;
use crate::data::{self, Opened};
use crate::error::{FtpError, FtpResult};
use crate::events::Event;
use crate::path_locks::PathGuard;
use crate::vfs::{AppendError, Share, Upload, VPath};

/// How a complete upload takes effect, and how a failed one is undone.
pub(crate) enum Finish {
    /// STOR (and a resume before the end of the file, its prefix copied
    /// in first): the temporary file replaces the target.
    Replace(Upload),
    /// STOU, drop box: the temporary file takes a name that is free. The
    /// folder part of the name as the client gave it, if any, goes before
    /// that name in the reply, so that the client can use what it reads.
    Unique(Upload, Option<String>),
    /// APPE: the temporary file is added to the end of the target, which
    /// must still be as long as when a REST named its end, if one did.
    Append(Upload, Option<u64>),
    /// REST + STOR at the file's end, written in place.
    Resume(InPlace),
}

/// A resume written into the file itself, which holds the file's path
/// lock from its open to its end: a failed one is cut back to `from`
/// bytes, so it leaves no trace.
pub(crate) struct InPlace {
    /// The file, to cut back (the upload writes through its own handle).
    pub file: File,
    /// Its size when the resume began, which is also the offset.
    pub from: u64,
    /// Where the file was when the resume began, to check at the commit.
    pub share: Share,
    pub path: VPath,
    /// Held for its drop: the path stays locked while this lives.
    pub _lock: PathGuard,
}

/// An upload: opening and streaming, which a stop ends (the upload then
/// leaves no trace), then committing, which a stop waits for.
pub(super) async fn receive(
    ctx: TaskContext,
    tcp: Opened,
    file: Arc<File>,
    ascii: Option<data::Ascii>,
    target: VPath,
    finish: Finish,
    mut ticket: Ticket,
) -> FtpResult<Option<String>> {
    let stop = ctx.stop.clone();
    let streamed = async {
        let mut stream = tokio::select! {
            biased;
            _ = stop.cancelled() => return Err(FtpError::aborted()),
            opened = open(&ctx, tcp) => opened?,
        };
        let received = data::receive_to_file(
            &mut stream,
            file,
            ascii,
            ctx.limits,
            &ctx.progress,
            &mut ticket,
            &stop,
        )
        .await?;
        data::end_upload(&mut stream, ctx.limits).await;
        // In stream mode the end of the data connection is the end of
        // the file, so a client killed mid-upload looks like one that
        // finished. But a killed client's control connection closes at
        // the same moment, while a live client waits for our 226 before
        // hanging up: so a closed control connection means the upload
        // is discarded. The session sees that close and stops this task;
        // the two FINs may come in either order, hence a short look.
        if control_closes(&ctx).await {
            return Err(FtpError::TransferAborted(
                "Transfer aborted or control connection closed before the upload was confirmed; upload discarded"
                    .into(),
            ));
        }
        Ok(received)
    };
    let received = match streamed.await {
        Ok(received) => received,
        Err(e) => {
            finish.discard_off_runtime().await;
            return Err(e);
        }
    };
    let outcome = commit(&ctx, received, &target, finish, &ticket).await;
    if outcome.is_ok() {
        ticket.keep();
    }
    outcome
}

/// Committing: takes the path's lock (a resume holds it already), then
/// writes the upload's last bytes and makes it take effect, in one job.
/// Nothing stops it.
async fn commit(
    ctx: &TaskContext,
    (file, last): (Arc<File>, data::Last),
    target: &VPath,
    finish: Finish,
    ticket: &Ticket,
) -> FtpResult<Option<String>> {
    let stall = ctx.limits.stall;
    let lock = match &finish {
        Finish::Replace(u) | Finish::Append(u, _) => {
            match ctx.locks.lock_within(&u.lock_key(target), stall).await {
                Some(lock) => Some(lock),
                None => {
                    finish.discard_off_runtime().await;
                    return Err(busy(target));
                }
            }
        }
        Finish::Unique(..) | Finish::Resume(_) => None,
    };
    let (max, path) = (ticket.max_size(), target.clone());
    let done = crate::blocking::run(move || {
        let mut folders_made = Vec::new();
        let wrote = finish
            .still_in_place()
            .and_then(|()| (&*file).write_all(&last));
        if let Err(e) = wrote {
            finish.discard();
            return (Err(AppendError::Io(e)), folders_made);
        }
        let done = complete(file, &path, finish, max, stall, &mut folders_made);
        (done, folders_made)
    });
    let (done, folders_made) = match done.await {
        Ok((done, made)) => (Ok(done), made),
        Err(e) => (Err(e), Vec::new()),
    };
    drop(lock);
    // A drop box's upload makes the folders on its way as it is stored.
    for folder in target.parent().above(&folders_made) {
        let _ = ctx.events.send(Event::Mkdir {
            peer: ctx.peer,
            path: folder.to_string(),
        });
    }
    match done {
        Ok(Ok(name)) => Ok(name),
        Ok(Err(AppendError::Busy)) => Err(busy(target)),
        Ok(Err(AppendError::EndMoved)) => Err(FtpError::BadRestart(format!(
            "{target} changed while the data came: it no longer ends where REST said; nothing added"
        ))),
        Ok(Err(AppendError::TooLarge(max))) => Err(ticket.size_refused(max)),
        Ok(Err(AppendError::Io(e))) => Err(FtpError::from_io(&e, target.as_ref())),
        Err(_) => Err(FtpError::Local("upload could not be completed".into())),
    }
}

/// 450: another writer of `target` kept it longer than a stall.
pub(crate) fn busy(target: &VPath) -> FtpError {
    FtpError::FileBusy(format!(
        "{target}: file busy (another upload is writing it); try again later"
    ))
}

impl Finish {
    /// Fails when a resume's file is no longer where its path says (see
    /// [`Share::still_names`]): it would end under a name the client never
    /// gave. Checked before its last bytes go in, so that no reader sees
    /// it whole before it is cut back. The other uploads check at their
    /// rename, where their temporary file takes the name.
    fn still_in_place(&self) -> std::io::Result<()> {
        match self {
            Finish::Resume(r) if !r.share.still_names(&r.path, &r.file) => {
                Err(std::io::ErrorKind::NotFound.into())
            }
            _ => Ok(()),
        }
    }

    /// Undoes an upload that failed, on this thread: its temporary file
    /// removed, or a resume cut back to where it began.
    pub fn discard(self) {
        match self {
            Finish::Replace(u) | Finish::Unique(u, _) | Finish::Append(u, _) => u.discard(),
            Finish::Resume(r) => {
                let _ = r.file.set_len(r.from);
            }
        }
    }

    /// [`Finish::discard`] as a file-system job, awaited: a failed
    /// upload's reply comes once no trace of it is left.
    pub async fn discard_off_runtime(self) {
        let _ = crate::blocking::run(move || self.discard()).await;
    }
}

/// Makes a complete upload take effect.
fn complete(
    file: Arc<File>,
    target: &VPath,
    finish: Finish,
    max: Option<u64>,
    stall: Duration,
    folders_made: &mut Vec<usize>,
) -> Result<Option<String>, AppendError> {
    match finish {
        // A resumed upload ends where its data ended.
        Finish::Resume(_in_place) => {
            let end = (&*file).stream_position()?;
            file.set_len(end)?;
            Ok(None)
        }
        Finish::Unique(u, folder) => {
            let wanted = target.file_name().unwrap_or("upload");
            let name = u.commit_unique(wanted, folders_made)?;
            Ok(Some(match folder {
                Some(folder) => format!("{folder}/{name}"),
                None => name,
            }))
        }
        Finish::Append(u, end) => {
            drop(file);
            // Waiting for another program's lock is waiting without
            // progress: bounded like any other stall.
            u.append(target, end, max, stall).map(|()| None)
        }
        Finish::Replace(u) => u.commit(target).map(|()| None).map_err(AppendError::Io),
    }
}

/// Whether, right after the data ended, the client is gone: its control
/// connection closed too (a killed client's kernel closes both within
/// microseconds, a tunnel such as `ssh -L` within milliseconds). The
/// socket itself is asked, at the end of the wait: the session may not
/// have run meanwhile (a loaded machine), or may be waiting for this
/// transfer before it reads again (a command queued behind it).
async fn control_closes(ctx: &TaskContext) -> bool {
    tokio::select! {
        _ = ctx.stop.cancelled() => true,
        _ = tokio::time::sleep(CONTROL_FIN_LAG) => ctx.control.as_deref().is_some_and(hung_up),
    }
}

/// How long a gone client's control FIN may trail its data FIN.
const CONTROL_FIN_LAG: Duration = Duration::from_millis(5);
