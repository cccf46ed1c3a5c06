//! A transfer running in its own task, so the control connection stays
//! responsive (STAT, ABOR) while data moves.

use std::fs::File;
use std::io::Seek;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::net::TcpStream;
use tokio::task::JoinHandle;

use super::{Flow, Session};
use crate::budget::Ticket;
use crate::data::{self, DataStream, Progress, TransferLimits, WriteGate};
use crate::error::{FtpError, FtpResult, IoContext};
use crate::events::{Direction, Event};
use crate::protocol::{ProtLevel, Reply};
use crate::tls::DataTls;
use crate::vfs::{AppendError, ListingJob, Upload, VPath};

/// Listing chunks made ahead of the data connection (each about 64 KiB).
const LISTING_CHUNKS_AHEAD: usize = 2;

/// What a transfer does once its data connection is open.
pub(crate) enum Job {
    /// RETR: a file of `len` bytes (when opened), from an offset.
    Send { file: File, offset: u64, len: u64 },
    /// LIST, NLST, MLSD: a listing made a chunk at a time as it is sent.
    Listing(ListingJob),
    /// STOR, STOU, APPE: into `file`, then `finish` decides what becomes
    /// of it once every byte is in.
    Receive {
        file: File,
        target: VPath,
        finish: Finish,
        ticket: Ticket,
    },
}

/// How a complete upload takes effect.
pub(crate) enum Finish {
    /// STOR: the temporary file replaces the target.
    Replace(Upload),
    /// STOU, drop box: the temporary file takes a name that is free.
    Unique(Upload),
    /// APPE: the temporary file is added to the end of the target.
    Append(Upload),
    /// REST + STOR, written in place: the file ends where the data ended.
    Resume,
}

/// The session's handle on its running transfer.
pub(crate) struct RunningTransfer {
    id: u64,
    /// For a hash (HASH, XCRC…), the code of the reply its result becomes.
    hash_reply: Option<u16>,
    /// `None` for listings, which are not reported as file transfers.
    direction: Option<Direction>,
    path: VPath,
    progress: Progress,
    started: Instant,
    handle: JoinHandle<FtpResult<Option<String>>>,
    /// An upload's writes, and how long to wait for one to end.
    writes: Option<(WriteGate, std::time::Duration)>,
}

/// How a transfer ended. `Ok(Some(name))` names a file stored under a
/// unique name.
pub(crate) struct TransferReport {
    id: u64,
    hash_reply: Option<u16>,
    direction: Option<Direction>,
    path: VPath,
    bytes: u64,
    started: Instant,
    result: FtpResult<Option<String>>,
}

impl RunningTransfer {
    pub fn bytes(&self) -> u64 {
        self.progress.load(Ordering::Relaxed)
    }

    pub fn path(&self) -> &VPath {
        &self.path
    }

    /// A hash runs like a transfer (ABOR, shutdown, idle timer) but has no
    /// data connection, so QUIT need not wait for it.
    pub fn is_hash(&self) -> bool {
        self.hash_reply.is_some()
    }

    pub async fn abort_and_wait(mut self) -> TransferReport {
        self.handle.abort();
        let joined = (&mut self.handle).await;
        // The 426 must describe the file as it stays: a resume writes in
        // place, and its last write may still be running. Bounded like any
        // other wait on the disk.
        if let Some((writes, stall)) = &self.writes {
            let _ = tokio::time::timeout(*stall, writes.write()).await;
        }
        self.into_report(joined)
    }

    fn into_report(
        self,
        joined: Result<FtpResult<Option<String>>, tokio::task::JoinError>,
    ) -> TransferReport {
        let result = match joined {
            Ok(r) => r,
            Err(e) if e.is_cancelled() => Err(FtpError::TransferAborted("Transfer aborted".into())),
            Err(_) => Err(FtpError::Local("Transfer failed unexpectedly".into())),
        };
        TransferReport {
            id: self.id,
            hash_reply: self.hash_reply,
            direction: self.direction,
            bytes: self.progress.load(Ordering::Relaxed),
            path: self.path,
            started: self.started,
            result,
        }
    }
}

/// Waits for the running transfer, if any (forever if none, so it can sit
/// in a `select!`). Cancel-safe: the transfer stays in the slot until done.
pub(crate) async fn wait(slot: &mut Option<RunningTransfer>) -> TransferReport {
    let joined = match slot.as_mut() {
        Some(t) => (&mut t.handle).await,
        None => std::future::pending().await,
    };
    match slot.take() {
        Some(t) => t.into_report(joined),
        None => std::future::pending().await,
    }
}

impl Session {
    /// Tells the TLS session registry who this connection is logged in as
    /// (called after every command): the strict reuse check of every data
    /// connection compares the login of the session's issuer with its own.
    pub fn publish_login(&self) {
        if let Some(tls) = &self.tls {
            tls.set_login(match &self.login {
                super::Login::LoggedIn {
                    user,
                    mode,
                    anonymous,
                } => Some(format!("{user}\n{mode:?}\n{anonymous}")),
                _ => None,
            });
        }
    }

    /// Opens the data connection, answers 150 and starts `job` in its own
    /// task. The final reply comes from [`Session::finish_transfer`].
    pub async fn start_transfer(
        &mut self,
        job: Job,
        path: &VPath,
        size: Option<u64>,
        opening: String,
    ) -> FtpResult<Option<Reply>> {
        let secure = self.prot == ProtLevel::Private;
        if !secure && self.shared.config.tls_mode != crate::TlsMode::Off {
            return Err(FtpError::ProtectionRequired(
                "Data connections must be protected: send PBSZ 0 and PROT P".into(),
            ));
        }
        let plan = std::mem::take(&mut self.data);
        // Shutdown must not wait out a client that never connects.
        let tcp = tokio::select! {
            tcp = plan.open(self.client_ip(), self.local.ip(), self.data_timeout()) => tcp?,
            _ = self.shared.shutdown.cancelled() => {
                return Err(FtpError::CannotOpenData("Server shutting down".into()));
            }
        };
        if self.reply(Reply::new(150, opening)).await == Flow::Close {
            return Err(FtpError::TransferAborted("Control connection lost".into()));
        }
        let direction = match &job {
            Job::Send { .. } => Some(Direction::Download),
            Job::Receive { .. } => Some(Direction::Upload),
            Job::Listing(_) => None,
        };
        let progress: Progress = Arc::new(AtomicU64::new(0));
        let writes = WriteGate::default();
        let cfg = &self.shared.config;
        let tls = match (secure, &self.tls) {
            (true, Some(t)) => Some(t.data(direction == Some(Direction::Upload))),
            _ => None,
        };
        let ctx = TaskContext {
            tls,
            peer: self.peer,
            require_reuse: cfg.require_tls_reuse,
            handshake: cfg.limits.tls_handshake_timeout,
            limits: TransferLimits {
                stall: cfg.limits.stall_timeout,
                max_rate: cfg.limits.max_rate,
            },
            ascii: self.ascii,
            deflate: self.deflate,
            progress: Arc::clone(&progress),
            writes: Arc::clone(&writes),
            control: match &job {
                Job::Receive { finish, .. } if !matches!(finish, Finish::Resume) => {
                    self.control.watch()
                }
                _ => None,
            },
        };
        let id = self.shared.next_transfer_id();
        if let Some(direction) = direction {
            self.shared.emit(Event::TransferStarted {
                id,
                peer: self.peer,
                direction,
                path: path.to_string(),
                size,
                progress: Arc::clone(&progress),
            });
        }
        let handle = tokio::spawn(run_job(ctx, tcp, job));
        self.transfer = Some(RunningTransfer {
            id,
            hash_reply: None,
            direction,
            path: path.clone(),
            progress,
            started: Instant::now(),
            handle,
            writes: Some((writes, cfg.limits.stall_timeout)),
        });
        Ok(None)
    }

    /// Starts hashing in the transfer slot: `task` yields the reply text
    /// (answered with `code`), reading the file off the runtime and counting
    /// its bytes in `progress`.
    pub fn start_hash(
        &mut self,
        path: &VPath,
        code: u16,
        progress: Progress,
        task: impl std::future::Future<Output = FtpResult<String>> + Send + 'static,
    ) {
        let handle = tokio::spawn(async move { task.await.map(Some) });
        self.transfer = Some(RunningTransfer {
            id: self.shared.next_transfer_id(),
            hash_reply: Some(code),
            direction: None,
            path: path.clone(),
            progress,
            started: Instant::now(),
            handle,
            writes: None,
        });
    }

    /// Sends a finished transfer's final reply, then reports it (in that
    /// order, so a client has its 226 before anyone acts on the event).
    pub async fn finish_transfer(&mut self, report: TransferReport) -> Flow {
        let reply = match (&report.result, report.hash_reply) {
            (Ok(Some(text)), Some(code)) => Reply::new(code, text.as_str()),
            (Ok(_), Some(_)) => Reply::new(451, "Hash failed"),
            (Err(FtpError::TransferAborted(_)), Some(_)) => Reply::new(426, "Hash aborted"),
            (Ok(Some(name)), None) => {
                Reply::new(226, format!("Transfer complete; stored as {name}"))
            }
            (Ok(None), None) => Reply::new(226, "Transfer complete"),
            (Err(e), _) => e.reply(),
        };
        let flow = self.reply(reply).await;
        self.report(report);
        flow
    }

    /// Aborts the running transfer and sends its final reply (426) and
    /// event; `None` when no transfer runs.
    pub async fn abort_transfer(&mut self) -> Option<Flow> {
        let report = self.transfer.take()?.abort_and_wait().await;
        Some(self.finish_transfer(report).await)
    }

    /// The job for an upload into `file`, whose target `path` holds `base`
    /// bytes the upload adds to (APPE, resume), if the upload limits admit
    /// it. A refused upload's temporary file is gone before the refusal is
    /// answered, and the refusal is reported as a failed upload, as a
    /// refused download is, so whoever watches the share sees what the
    /// limits turned away.
    pub async fn upload_job(
        &self,
        file: File,
        path: &VPath,
        base: u64,
        finish: Finish,
    ) -> FtpResult<Job> {
        // A resume writes in place: its bytes stay, charged, even if it fails.
        let keep = matches!(finish, Finish::Resume);
        let refused = match self.shared.budget.admit(&file, base, keep).await {
            Ok(ticket) => {
                let target = path.clone();
                return Ok(Job::Receive {
                    file,
                    target,
                    finish,
                    ticket,
                });
            }
            Err(e) => e,
        };
        let _ = tokio::task::spawn_blocking(move || finish.discard()).await;
        if refused.limit().is_some() {
            self.report_refused(Direction::Upload, path.to_string(), &refused);
        }
        Err(refused)
    }

    /// Reports a transfer refused before it started as a failed one.
    pub fn report_refused(&self, direction: Direction, path: String, e: &FtpError) {
        self.shared.emit(Event::TransferFinished {
            id: self.shared.next_transfer_id(),
            peer: self.peer,
            direction,
            path,
            bytes: 0,
            duration: std::time::Duration::ZERO,
            limit: e.limit(),
            error: Some(e.to_string()),
        });
    }

    /// Emits the event for a finished file transfer (listings have none).
    pub fn report(&self, report: TransferReport) {
        let Some(direction) = report.direction else {
            return;
        };
        let path = match &report.result {
            Ok(Some(name)) => report.path.parent().join(name).unwrap_or(report.path),
            _ => report.path,
        };
        self.shared.emit(Event::TransferFinished {
            id: report.id,
            peer: self.peer,
            direction,
            path: path.to_string(),
            bytes: report.bytes,
            duration: report.started.elapsed(),
            limit: report.result.as_ref().err().and_then(FtpError::limit),
            error: report.result.err().map(|e| e.to_string()),
        });
    }
}

struct TaskContext {
    tls: Option<DataTls>,
    peer: std::net::SocketAddr,
    require_reuse: bool,
    handshake: std::time::Duration,
    limits: TransferLimits,
    ascii: bool,
    /// MODE Z at this level.
    deflate: Option<u32>,
    progress: Progress,
    writes: WriteGate,
    /// For uploads through a temporary file: the control socket, to see
    /// whether the client is still there when the data ends.
    control: Option<socket2::Socket>,
}

async fn run_job(ctx: TaskContext, tcp: TcpStream, job: Job) -> FtpResult<Option<String>> {
    let mut stream = match ctx.tls {
        None => DataStream::Plain(tcp),
        Some(tls) => {
            let policy = data::TlsPolicy {
                strict: ctx.require_reuse,
                handshake: ctx.handshake,
                stall: ctx.limits.stall,
            };
            DataStream::Tls(Box::new(data::secure(tcp, tls, policy, ctx.peer).await?))
        }
    };
    if let Some(level) = ctx.deflate {
        stream = DataStream::Deflate(Box::new(data::Deflate::new(stream, level)));
    }
    match job {
        Job::Send { file, offset, len } => {
            data::send_file(
                &mut stream,
                file,
                offset,
                len,
                ctx.ascii,
                ctx.limits,
                &ctx.progress,
            )
            .await?;
            Ok(None)
        }
        // Listings are text and always sent as such (RFC 1123 §4.1.2.7).
        Job::Listing(mut listing) => {
            // Looking entries up is file-system work: off the runtime, at
            // most a few chunks ahead of the data connection.
            let (tx, rx) = tokio::sync::mpsc::channel(LISTING_CHUNKS_AHEAD);
            tokio::task::spawn_blocking(move || {
                while let Some(chunk) = listing.next_chunk() {
                    if tx.blocking_send(chunk).is_err() {
                        break; // the transfer ended
                    }
                }
            });
            data::send_chunks(&mut stream, rx, ctx.limits, &ctx.progress).await?;
            Ok(None)
        }
        Job::Receive {
            file,
            target,
            finish,
            mut ticket,
        } => {
            let received = data::receive_to_file(
                &mut stream,
                file,
                ctx.ascii,
                ctx.limits,
                &ctx.progress,
                &mut ticket,
                &ctx.writes,
            )
            .await;
            // In stream mode the end of the data connection is the end of
            // the file, so a client killed mid-upload looks like one that
            // finished. But a killed client's control connection closes at
            // the same moment, while a live client waits for our 226 before
            // hanging up: so a closed control connection means the upload
            // is discarded. The kernel may send the two FINs in either
            // order, microseconds apart, hence a short second look.
            let file = match received {
                Ok(_) if control_closed(ctx.control.as_ref()).await => Err(
                    FtpError::TransferAborted(
                        "Control connection closed before the upload was confirmed; upload discarded"
                            .into(),
                    ),
                ),
                other => other,
            };
            // Committing or discarding touches the disk: off the runtime,
            // and done before the reply, so a client that hears 226 or 426
            // finds the files as the reply says.
            let stall = ctx.limits.stall;
            let outcome = tokio::task::spawn_blocking(move || {
                let outcome = match file {
                    Ok(file) => complete(file, &target, finish, &ticket, stall),
                    Err(e) => {
                        finish.discard();
                        Err(e)
                    }
                };
                if outcome.is_ok() {
                    ticket.keep();
                }
                outcome
            });
            outcome
                .await
                .unwrap_or_else(|_| Err(FtpError::Local("upload could not be completed".into())))
        }
    }
}

impl Finish {
    /// Drops an upload that failed, its temporary file removed at once.
    fn discard(self) {
        match self {
            Finish::Replace(u) | Finish::Unique(u) | Finish::Append(u) => u.discard(),
            Finish::Resume => {}
        }
    }
}

/// Makes a complete upload take effect.
fn complete(
    mut file: File,
    target: &VPath,
    finish: Finish,
    ticket: &Ticket,
    stall: Duration,
) -> FtpResult<Option<String>> {
    match finish {
        // A resumed upload replaces everything after its offset, but only
        // once it is complete.
        Finish::Resume => {
            let end = file.stream_position().at(target)?;
            file.set_len(end).at(target)?;
            Ok(None)
        }
        Finish::Unique(u) => {
            let wanted = target.file_name().unwrap_or("upload");
            u.commit_unique(wanted).map(Some).at(target)
        }
        Finish::Append(u) => {
            drop(file);
            // Waiting for another program's lock is waiting without
            // progress: bounded like any other stall.
            match u.append(target, ticket.max_size(), stall) {
                Ok(()) => Ok(None),
                Err(AppendError::Busy) => Err(FtpError::FileBusy(format!(
                    "{target}: file busy (locked by another program); try again later"
                ))),
                Err(AppendError::TooLarge(max)) => Err(ticket.size_refused(max)),
                Err(AppendError::Io(e)) => Err(FtpError::from_io(&e, target.as_ref())),
            }
        }
        Finish::Replace(u) => u.commit(target).map(|_| None).at(target),
    }
}

async fn control_closed(control: Option<&socket2::Socket>) -> bool {
    let Some(control) = control else {
        return false;
    };
    if peer_closed(control) {
        return true;
    }
    tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    peer_closed(control)
}

/// Whether the peer has closed (or reset) a socket, without consuming
/// anything and without waiting.
fn peer_closed(socket: &socket2::Socket) -> bool {
    let mut buf = [std::mem::MaybeUninit::uninit(); 1];
    loop {
        match socket.peek(&mut buf) {
            Ok(0) => return true,
            Ok(_) => return false,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return e.kind() != std::io::ErrorKind::WouldBlock,
        }
    }
}
