//! The loops that move a transfer's bytes, inside the transfer's own task.
//! A download or listing is stopped by dropping its future: what it leaves
//! running is a read of the file, which changes nothing, or a sendfile job,
//! which ends at its next step once its `jobs` tracker is closed, and which
//! the stop then waits for, so that the bytes it sent are counted (see
//! [`send_file`]). An upload watches its stop token instead, so that it
//! ends only once no write of it is still running (see [`receive_to_file`]).

use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::ops::Range;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::time::{timeout, Instant};
use tokio_util::sync::CancellationToken;
use tokio_util::task::task_tracker::TaskTrackerToken;
use tokio_util::task::TaskTracker;

use super::file_sink::FileSink;
use super::DataStream;
use crate::budget::Ticket;
use crate::error::{FtpError, IoContext};

/// Bytes moved so far, shared with the session (STAT) and the UI.
pub type Progress = Arc<AtomicU64>;

const BUF_SIZE: usize = 256 * 1024;
/// Per sendfile call.
const SENDFILE_STEP: usize = 128 * 1024;
/// The most one sendfile job moves before it gives its slot back, when the
/// socket keeps taking bytes (a fast reader on loopback).
const SENDFILE_BURST: u64 = 4 << 20;

/// Limits that apply to every transfer.
#[derive(Debug, Clone, Copy)]
pub struct TransferLimits {
    /// No progress for this long ends the transfer with 426.
    pub stall: Duration,
    /// Bytes per second, per transfer.
    pub max_rate: Option<u64>,
}

/// Paces a transfer to a byte rate by sleeping until each byte count is due.
pub struct Throttle {
    rate: Option<u64>,
    start: Instant,
}

impl Throttle {
    pub fn new(rate: Option<u64>) -> Throttle {
        Throttle {
            rate,
            start: Instant::now(),
        }
    }

    pub(crate) async fn pace(&self, total: u64) {
        if let Some(rate) = self.rate.filter(|r| *r > 0) {
            // Checked: a due time past what the clock can hold is never.
            let due = Duration::try_from_secs_f64(total as f64 / rate as f64)
                .ok()
                .and_then(|d| self.start.checked_add(d));
            match due {
                Some(due) => tokio::time::sleep_until(due).await,
                None => std::future::pending().await,
            }
        }
    }
}

fn broken(e: io::Error) -> FtpError {
    // A MODE Z stream that does not inflate says what is wrong with it.
    if e.kind() == io::ErrorKind::InvalidData {
        return FtpError::TransferAborted(format!("Transfer failed: {e}"));
    }
    if e.kind() == io::ErrorKind::UnexpectedEof {
        return FtpError::TransferAborted(
            "Data connection closed without TLS close_notify; transfer incomplete".into(),
        );
    }
    FtpError::TransferAborted(format!("Data connection broken: {}", e.kind()))
}

/// Runs one step of a transfer: no progress within `stall` ends it, and a
/// network error is a broken data connection.
async fn within_stall<T>(
    stall: Duration,
    io: impl Future<Output = io::Result<T>>,
) -> Result<T, FtpError> {
    match timeout(stall, io).await {
        Err(_) => Err(FtpError::TransferAborted(
            "Transfer stalled; data connection closed".into(),
        )),
        Ok(Err(e)) => Err(broken(e)),
        Ok(Ok(v)) => Ok(v),
    }
}

/// Sends bytes already read (a small file), as a download of them.
pub async fn send_bytes(
    stream: &mut DataStream,
    bytes: &[u8],
    ascii: Option<Ascii>,
    limits: TransferLimits,
    progress: &Progress,
) -> Result<(), FtpError> {
    let mut converted = Vec::new();
    let out = match ascii {
        Some(Ascii { after_cr }) => {
            lf_to_crlf(bytes, after_cr, &mut converted);
            &converted[..]
        }
        None => bytes,
    };
    // Paced in small steps under --max-rate, at once otherwise.
    let step = match limits.max_rate {
        Some(_) => PACED_STEP,
        None => out.len().max(1),
    };
    let throttle = Throttle::new(limits.max_rate);
    let mut sent = 0u64;
    for chunk in out.chunks(step) {
        send_step(stream, chunk, limits, progress, &throttle, &mut sent).await?;
    }
    finish_send(stream, limits).await
}

/// The most a TLS or MODE Z download writes before it flushes: rustls'
/// own buffer.
const BUFFERED_STEP: usize = 64 << 10;

/// A paced transfer's step when it sends bytes it holds.
const PACED_STEP: usize = 4 << 10;

/// Sends `part` of a file. Plain binary transfers use sendfile(2), in
/// jobs that `jobs` tracks: whoever drops this future closes `jobs` and
/// waits for it before reading `progress`. TLS and ASCII need the bytes in
/// user space (and send to the file's end, should it have grown).
pub async fn send_file(
    stream: &mut DataStream,
    file: File,
    part: Range<u64>,
    ascii: Option<Ascii>,
    limits: TransferLimits,
    progress: &Progress,
    jobs: &TaskTracker,
) -> Result<(), FtpError> {
    if let (DataStream::Plain(tcp), None) = (&*stream, ascii) {
        sendfile(tcp, file, part, limits, progress, jobs).await?;
        return finish_send(stream, limits).await;
    }
    copy_out(stream, file, part.start, ascii, limits, progress).await
}

/// The zero-copy download. sendfile(2) reads the file, and a page-cache
/// miss on slow storage would block the thread it runs on: so it runs as a
/// file-system job, on the socket in non-blocking mode, where it moves
/// what the socket buffer takes and returns. The waiting for a slow reader
/// happens here, on the runtime.
async fn sendfile(
    tcp: &super::PlainTcp,
    file: File,
    part: Range<u64>,
    limits: TransferLimits,
    progress: &Progress,
    jobs: &TaskTracker,
) -> Result<(), FtpError> {
    let throttle = Throttle::new(limits.max_rate);
    // Paced transfers move in small steps, so that the pace stays even.
    let burst = if limits.max_rate.is_some() {
        SENDFILE_STEP as u64
    } else {
        SENDFILE_BURST
    };
    // The job's own handle on the socket: the same open socket (and its
    // non-blocking mode), shared with the job so that it stays open for as
    // long as a job may use it. Registered apart, so that a "socket full"
    // can be cleared for exactly the readiness the job saw, and a wake-up
    // that came while it ran is not lost.
    let socket = tcp.fd().and_then(|fd| fd.try_clone_to_owned());
    let socket = Arc::new(socket.at("socket")?);
    // SAFETY: the Arc keeps the descriptor open, on the same socket, for
    // as long as the registration lives (and longer, while a job runs).
    let ready = unsafe { AsyncFd::register_with_interest(Arc::clone(&socket), Interest::WRITABLE) }
        .map_err(io::Error::from)
        .at("socket")?;
    let file = Arc::new(file);
    let (mut off, mut sent) = (part.start, 0u64);
    while off < part.end {
        let mut writable = within_stall(limits.stall, ready.writable()).await?;
        let (f, sock, counted) = (Arc::clone(&file), Arc::clone(&socket), Arc::clone(progress));
        let (until, tracker) = (part.end.min(off.saturating_add(burst)), jobs.clone());
        // The token is taken when the job starts, not when it is queued: a
        // stop then waits only for a job that may be sending, never for
        // one still queued behind a busy pool (which sees the close and
        // sends nothing).
        let job = crate::blocking::run(move || {
            sendfile_until(&sock, &f, off..until, &counted, tracker.token())
        });
        let (now, full) = job.await.and_then(|r| r).map_err(broken)?;
        let moved = now - off;
        off = now;
        if full {
            writable.clear_ready();
        } else if moved == 0 {
            break; // the file shrank while we sent it
        }
        sent += moved;
        throttle.pace(sent).await;
    }
    Ok(())
}

/// sendfile(2) of `part` on a non-blocking socket, until it is sent, the
/// socket is full (then `true`), the file ends, or the transfer stopped
/// (the tracker of `job` closed). Counts each step's bytes in `progress`
/// as they leave, so that a stop that waits for the job counts them all.
/// Gives the offset reached.
fn sendfile_until(
    socket: &std::os::fd::OwnedFd,
    file: &File,
    part: Range<u64>,
    progress: &Progress,
    job: TaskTrackerToken,
) -> io::Result<(u64, bool)> {
    let mut off = part.start;
    while off < part.end && !job.task_tracker().is_closed() {
        let step = SENDFILE_STEP.min(usize::try_from(part.end - off).unwrap_or(SENDFILE_STEP));
        match rustix::fs::sendfile(socket, file, Some(&mut off), step) {
            Ok(0) => return Ok((off, false)),
            Ok(n) => {
                progress.fetch_add(n as u64, Ordering::Relaxed);
            }
            Err(rustix::io::Errno::AGAIN) => return Ok((off, true)),
            Err(rustix::io::Errno::INTR) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok((off, false))
}

/// The user-space download loop, for any stream (TLS, or an adapter
/// layered on the data connection). Each read is a file-system job: a
/// cold disk must not stall a runtime thread. (Cached bytes read here with
/// `RWF_NOWAIT` instead: see README, "What was measured and not taken".)
async fn copy_out(
    stream: &mut DataStream,
    file: File,
    offset: u64,
    ascii: Option<Ascii>,
    limits: TransferLimits,
    progress: &Progress,
) -> Result<(), FtpError> {
    use std::os::unix::fs::FileExt;
    let throttle = Throttle::new(limits.max_rate);
    let file = Arc::new(file);
    let mut at = offset;
    let mut buf = vec![0u8; BUF_SIZE];
    let mut converted = Vec::new();
    let mut prev_cr = ascii.is_some_and(|a| a.after_cr);
    let mut sent = 0u64;
    loop {
        let f = Arc::clone(&file);
        let read = crate::blocking::run(move || {
            let n = f.read_at(&mut buf, at);
            (n, buf)
        });
        let (n, back) = read.await.at("file")?;
        buf = back;
        let n = n.at("file")?;
        if n == 0 {
            break;
        }
        at = at.saturating_add(n as u64);
        let out = if ascii.is_some() {
            converted.clear();
            prev_cr = lf_to_crlf(&buf[..n], prev_cr, &mut converted);
            &converted[..]
        } else {
            &buf[..n]
        };
        send_step(stream, out, limits, progress, &throttle, &mut sent).await?;
    }
    finish_send(stream, limits).await
}

/// One step of a download: `out` written within the stall limit, then
/// paced to the rate limit (`sent` counts what went before it). Each write
/// is counted once it reached the socket, so a download stopped in the
/// middle of a step still counts the part that left, and only that.
async fn send_step(
    stream: &mut DataStream,
    mut out: &[u8],
    limits: TransferLimits,
    progress: &Progress,
    throttle: &Throttle,
    sent: &mut u64,
) -> Result<(), FtpError> {
    // TLS and MODE Z take bytes into buffers of their own first (a stop
    // would drop them there): they count once flushed to the socket, so
    // about as much as those buffers hold goes at a time. A TLS flush is
    // free when the write could send everything already; MODE Z's adds a
    // few bytes per step.
    let (buffered, most) = match stream {
        DataStream::Plain(_) => (false, out.len()),
        _ => (true, BUFFERED_STEP),
    };
    while !out.is_empty() {
        let n = within_stall(limits.stall, stream.write(&out[..most.min(out.len())])).await?;
        if n == 0 {
            return Err(broken(io::ErrorKind::WriteZero.into()));
        }
        if buffered {
            within_stall(limits.stall, stream.flush()).await?;
        }
        out = &out[n..];
        *sent += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
    }
    throttle.pace(*sent).await;
    Ok(())
}

/// Sends a listing as its chunks arrive, until the sender is done.
pub async fn send_chunks(
    stream: &mut DataStream,
    mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    limits: TransferLimits,
    progress: &Progress,
) -> Result<(), FtpError> {
    while let Some(chunk) = chunks.recv().await {
        // Chunks are whole lines: MODE Z sends each as a whole.
        within_stall(limits.stall, async {
            stream.write_all(&chunk).await?;
            stream.flush().await
        })
        .await?;
        progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    finish_send(stream, limits).await
}

/// Ends a download, so the client knows it has every byte: TLS sends
/// close_notify, and plain TCP its FIN with the close that follows.
async fn finish_send(stream: &mut DataStream, limits: TransferLimits) -> Result<(), FtpError> {
    within_stall(limits.stall, stream.shutdown()).await
}

/// Receives an upload into `file` until the client closes the data
/// connection cleanly, and returns the file with every byte written. Over
/// TLS a close without close_notify is an error (the stream reports
/// UnexpectedEof), so a truncated upload is never taken for a complete one.
/// Writes run off the runtime, a batch in flight while the next one
/// arrives. Each chunk is charged to `ticket` first, so an upload stops as
/// soon as it would break a limit.
///
/// `stop` ends the upload early (ABOR, a lost client, shutdown). However it
/// ends, no write of it is still running when this returns: what the
/// caller then does with the file is final. A complete upload's last bytes
/// come back unwritten, with the file, for the commit to write.
pub async fn receive_to_file<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    file: Arc<File>,
    ascii: Option<Ascii>,
    limits: TransferLimits,
    progress: &Progress,
    ticket: &mut Ticket,
    stop: &CancellationToken,
) -> Result<(Arc<File>, super::Last), FtpError> {
    let mut sink = FileSink::new(file);
    let received = tokio::select! {
        biased;
        _ = stop.cancelled() => Err(FtpError::aborted()),
        r = receive(stream, &mut sink, ascii, limits, progress, ticket) => r,
    };
    if let Err(e) = received {
        // A failed upload leaves no trace: what it gathered is not written.
        sink.batch().clear();
        let _ = sink.finish().await;
        if matches!(e, FtpError::Limit(..)) {
            tokio::select! {
                _ = stop.cancelled() => {}
                _ = discard_rest(stream, limits.max_rate) => {}
            }
        }
        return Err(e);
    }
    sink.finish_but_last().await.at("upload")
}

/// The end of a complete upload: over TLS, the client's close_notify is
/// answered with ours (some clients, Python's ssl unwrap, wait for it).
/// Failing here loses nothing.
pub async fn end_upload(stream: &mut DataStream, limits: TransferLimits) {
    let _ = finish_send(stream, limits).await;
}

/// How long the rest of a refused upload is read and dropped.
const REFUSED_DRAIN: Duration = Duration::from_secs(2);

/// Reads and drops what a client still sends after its upload was refused
/// by a limit, for a while, then closes cleanly. Clients that read no reply
/// until they are done sending (curl, lftp) take a reset data connection
/// for a network error: curl then never reads the 552, and lftp sends the
/// file again and again.
/// Paced like the upload, so that a refusal opens no way around `--max-rate`.
async fn discard_rest<S: AsyncRead + AsyncWrite + Unpin>(stream: &mut S, rate: Option<u64>) {
    let throttle = Throttle::new(rate);
    let mut buf = vec![0u8; 64 * 1024];
    let drained = timeout(REFUSED_DRAIN, async {
        let mut dropped = 0u64;
        while let Ok(n @ 1..) = stream.read(&mut buf).await {
            dropped = dropped.saturating_add(n as u64);
            throttle.pace(dropped).await;
        }
    });
    if drained.await.is_ok() {
        let _ = timeout(REFUSED_DRAIN, stream.shutdown()).await;
    }
}

/// Reads the stream to its end into `sink`, each chunk charged to the
/// upload's limits before it can reach the disk.
async fn receive<S: AsyncRead + Unpin>(
    stream: &mut S,
    sink: &mut FileSink,
    ascii: Option<Ascii>,
    limits: TransferLimits,
    progress: &Progress,
    ticket: &mut Ticket,
) -> Result<(), FtpError> {
    let throttle = Throttle::new(limits.max_rate);
    // Binary data is read straight into the batch; TYPE A goes through
    // here to be converted.
    let mut buf = if ascii.is_some() {
        vec![0u8; BUF_SIZE]
    } else {
        Vec::new()
    };
    let mut pending_cr = ascii.is_some_and(|a| a.after_cr);
    let mut received = 0u64;
    loop {
        let before = sink.batch().len();
        let room = sink.room();
        let n = if ascii.is_some() {
            let room = room.min(buf.len());
            let n = within_stall(limits.stall, stream.read(&mut buf[..room])).await?;
            pending_cr = crlf_to_lf(&buf[..n], pending_cr, sink.batch());
            n
        } else {
            // Whole batches keep every write on page boundaries.
            let mut limited = (&mut *stream).take(room as u64);
            within_stall(limits.stall, limited.read_buf(sink.batch())).await?
        };
        if n == 0 {
            break;
        }
        received += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
        let added = sink.batch().len() - before;
        if let Err(e) = ticket.charge(added as u64).await {
            sink.batch().truncate(before);
            return Err(e);
        }
        sink.filled().await.at("upload")?;
        throttle.pace(received).await;
    }
    if pending_cr {
        ticket.charge(1).await?;
        sink.batch().push(b'\r');
    }
    Ok(())
}

/// How many bytes `input` becomes when sent in TYPE A (for SIZE).
pub fn ascii_len(mut input: impl Read) -> io::Result<u64> {
    let mut buf = vec![0u8; BUF_SIZE];
    let mut converted = Vec::new();
    let (mut total, mut prev_cr) = (0u64, false);
    loop {
        let n = input.read(&mut buf)?;
        if n == 0 {
            return Ok(total);
        }
        converted.clear();
        prev_cr = lf_to_crlf(&buf[..n], prev_cr, &mut converted);
        total += converted.len() as u64;
    }
}

/// A transfer in TYPE A: a download's bare LFs become CRLF, an upload's
/// CRLFs LF.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ascii {
    /// The octet before the first one was a CR (a restart right after it):
    /// a download's LF first goes alone, an upload's makes a line end with
    /// that CR.
    pub after_cr: bool,
}

/// Files whose TYPE A form is worked out by reading them (SIZE, a REST in
/// TYPE A) go up to here: beyond, use TYPE I.
pub const ASCII_SCAN_LIMIT: u64 = 64 << 20;

/// Where a TYPE A transfer that restarts after `wire` octets begins in
/// `input`: REST counts the octets of the data connection (RFC 3659 §5),
/// which TYPE A makes longer than the file by a CR per bare LF. Gives the
/// file offset and whether the octet before it was a CR (see [`Ascii`]);
/// `None` when the file sends fewer than `wire` octets.
pub fn ascii_restart(mut input: impl Read, wire: u64) -> io::Result<Option<(u64, Ascii)>> {
    let mut buf = vec![0u8; BUF_SIZE];
    let (mut at, mut sent, mut after_cr) = (0u64, 0u64, false);
    loop {
        let n = input.read(&mut buf)?;
        for &b in &buf[..n] {
            if sent == wire {
                return Ok(Some((at, Ascii { after_cr })));
            }
            if b == b'\n' && !after_cr {
                // Sent as CR LF: the restart may fall between the two.
                if sent + 1 == wire {
                    return Ok(Some((at, Ascii { after_cr: true })));
                }
                sent += 2;
            } else {
                sent += 1;
            }
            after_cr = b == b'\r';
            at += 1;
        }
        if n == 0 {
            return Ok((sent == wire).then_some((at, Ascii { after_cr })));
        }
    }
}

/// TYPE A on the way out: a bare LF becomes CRLF. Returns whether the
/// chunk ended in CR, which decides the first byte of the next chunk.
fn lf_to_crlf(input: &[u8], mut prev_cr: bool, out: &mut Vec<u8>) -> bool {
    out.reserve(input.len() + input.len() / 8);
    for &b in input {
        if b == b'\n' && !prev_cr {
            out.push(b'\r');
        }
        out.push(b);
        prev_cr = b == b'\r';
    }
    prev_cr
}

/// TYPE A on the way in: CRLF becomes LF. A CR at the end of a chunk is
/// held back until we know whether an LF follows.
fn crlf_to_lf(input: &[u8], mut pending_cr: bool, out: &mut Vec<u8>) -> bool {
    out.reserve(input.len());
    for &b in input {
        if pending_cr && b != b'\n' {
            out.push(b'\r');
        }
        pending_cr = b == b'\r';
        if !pending_cr {
            out.push(b);
        }
    }
    pending_cr
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TYPE A reads what the batch has room for, and the CR a read held
    /// back still fits: the batch's buffer is never grown (which would
    /// double it), across a first batch and large ones.
    #[tokio::test]
    async fn a_type_a_upload_never_outgrows_its_batch() {
        let mut sink = FileSink::new(Arc::new(tempfile::tempfile().unwrap()));
        let mut pending_cr = false;
        let mut sizes = [1usize, 7, 4096, 65_536, 100_000].into_iter().cycle();
        for i in 0..400 {
            let room = sink.room().min(sizes.next().unwrap());
            // Every other read ends in a CR, held back for the next one,
            // which then adds it to its own bytes.
            let mut read = vec![b'x'; room];
            if i % 2 == 0 {
                read[room - 1] = b'\r';
            }
            let capacity = sink.batch().capacity();
            pending_cr = crlf_to_lf(&read, pending_cr, sink.batch());
            assert_eq!(sink.batch().capacity(), capacity);
            sink.filled().await.unwrap();
        }
        sink.finish().await.unwrap();
    }

    /// A sendfile job sends only while its transfer runs: it counts each
    /// step as it goes, and once the transfer's tracker is closed (a stop)
    /// it sends nothing more.
    #[test]
    fn a_sendfile_job_counts_its_steps_and_heeds_the_stop() {
        use std::io::Write;
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let client = std::net::TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        server.set_nonblocking(true).unwrap();
        let socket = std::os::fd::OwnedFd::from(server);
        let mut file = tempfile::tempfile().unwrap();
        file.write_all(&[7u8; 1000]).unwrap();
        let (progress, jobs) = (Progress::default(), TaskTracker::new());
        let sent = sendfile_until(&socket, &file, 100..600, &progress, jobs.token());
        assert_eq!(sent.unwrap(), (600, false));
        assert_eq!(progress.load(Ordering::Relaxed), 500);
        jobs.close();
        let sent = sendfile_until(&socket, &file, 600..1000, &progress, jobs.token());
        assert_eq!(sent.unwrap(), (600, false));
        assert_eq!(progress.load(Ordering::Relaxed), 500);
        drop(socket);
        let mut got = Vec::new();
        (&client).read_to_end(&mut got).unwrap();
        assert_eq!(got, [7u8; 500]);
    }

    /// An upload stopped while a write of it is still running (here into a
    /// pipe nobody reads yet) returns only once that write has ended: what
    /// the caller then does with the file (cut it back, remove it) cannot
    /// be undone by a late write. (It used to return at once, the write
    /// left running on the blocking pool.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_stopped_upload_returns_only_once_its_write_ended() {
        use crate::upload_limits::{MinFree, UploadLimits};
        let (mut reader, writer) = crate::data::test_pipe();
        let writer = Arc::new(writer);
        let limits = UploadLimits {
            min_free: MinFree::Bytes(0),
            ..UploadLimits::default()
        };
        let budget = Arc::new(crate::budget::Budget::new(limits));
        let mut ticket = budget.admit(&writer, 0).unwrap();
        let (mut client, mut server) = tokio::io::duplex(1 << 20);
        // One batch and a little: the batch's write starts (and blocks).
        client.write_all(&vec![5u8; 300 << 10]).await.unwrap();
        let stop = CancellationToken::new();
        let limits = TransferLimits {
            stall: Duration::from_secs(10),
            max_rate: None,
        };
        let progress = Progress::default();
        let receiving = tokio::spawn({
            let stop = stop.clone();
            async move {
                let r = receive_to_file(
                    &mut server,
                    writer,
                    None,
                    limits,
                    &progress,
                    &mut ticket,
                    &stop,
                );
                r.await.map(|_| ())
            }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        stop.cancel();
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!receiving.is_finished(), "returned while its write ran");
        let drained = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; 64 << 10];
            let mut n = 0;
            while n < 256 << 10 {
                n += reader.read(&mut buf).unwrap();
            }
            n
        });
        assert!(receiving.await.unwrap().is_err());
        assert_eq!(drained.await.unwrap(), 256 << 10);
        drop(client);
    }

    /// A TYPE A restart after any number of octets sends the rest of the
    /// whole stream, whatever mix of LF, CR and CRLF the file holds; past
    /// the stream's end there is none.
    #[test]
    fn an_ascii_restart_sends_the_rest_of_the_stream() {
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..300 {
            let len = rng.random_range(0..40);
            let file: Vec<u8> = (0..len).map(|_| b"a\r\n"[rng.random_range(0..3)]).collect();
            let mut wire = Vec::new();
            lf_to_crlf(&file, false, &mut wire);
            for at in 0..=wire.len() {
                let (from, ascii) = ascii_restart(&file[..], at as u64).unwrap().unwrap();
                let mut rest = Vec::new();
                lf_to_crlf(&file[from as usize..], ascii.after_cr, &mut rest);
                assert_eq!(rest, wire[at..], "{file:?} from {at}");
            }
            assert_eq!(
                ascii_restart(&file[..], wire.len() as u64 + 1).unwrap(),
                None
            );
        }
    }

    #[test]
    fn ascii_out_converts_bare_lf_only_across_chunks() {
        let mut out = Vec::new();
        let cr = lf_to_crlf(b"a\nb\r", false, &mut out);
        lf_to_crlf(b"\nc\n", cr, &mut out);
        assert_eq!(out, b"a\r\nb\r\nc\r\n");
    }

    #[test]
    fn ascii_in_strips_cr_before_lf_across_chunks() {
        let mut out = Vec::new();
        let p = crlf_to_lf(b"a\r\nb\r", false, &mut out);
        let p = crlf_to_lf(b"\nc\rd\r", p, &mut out);
        assert!(p);
        assert_eq!(out, b"a\nb\nc\rd");
    }
}
