//! The loops that move a transfer's bytes. Each runs inside the transfer's
//! own task; aborting it is dropping its future, so none of them needs to
//! watch for ABOR.

use std::fs::File;
use std::future::Future;
use std::io::{self, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncSeekExt, AsyncWrite, AsyncWriteExt, Interest};
use tokio::time::{timeout, Instant};

use super::file_sink::{FileSink, WriteGate};
use super::DataStream;
use crate::budget::Ticket;
use crate::error::{FtpError, IoContext};

/// Bytes moved so far, shared with the session (STAT) and the UI.
pub type Progress = Arc<AtomicU64>;

const BUF_SIZE: usize = 256 * 1024;
/// Per sendfile call: small steps on a non-blocking socket keep the
/// socket buffer fed without hogging a reactor thread.
const SENDFILE_STEP: usize = 128 * 1024;

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

/// Sends a file from `offset`. Plain binary transfers use sendfile(2);
/// TLS and ASCII need the bytes in user space.
pub async fn send_file(
    stream: &mut DataStream,
    file: File,
    offset: u64,
    len: u64,
    ascii: bool,
    limits: TransferLimits,
    progress: &Progress,
) -> Result<(), FtpError> {
    if let (DataStream::Plain(tcp), false) = (&*stream, ascii) {
        let throttle = Throttle::new(limits.max_rate);
        let mut off = offset;
        let mut sent = 0u64;
        while off < len {
            // At most what is left, in steps that fit a usize.
            let step = SENDFILE_STEP.min(usize::try_from(len - off).unwrap_or(SENDFILE_STEP));
            within_stall(limits.stall, tcp.writable()).await?;
            let r = tcp.try_io(Interest::WRITABLE, || {
                rustix::fs::sendfile(tcp, &file, Some(&mut off), step).map_err(io::Error::from)
            });
            match r {
                Ok(0) => break, // the file shrank while we sent it
                Ok(n) => {
                    sent += n as u64;
                    progress.fetch_add(n as u64, Ordering::Relaxed);
                    throttle.pace(sent).await;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                Err(e) => return Err(broken(e)),
            }
        }
        return finish_send(stream, limits).await;
    }

    copy_out(stream, file, offset, ascii, limits, progress).await
}

/// The user-space download loop, for any stream (TLS, or an adapter
/// layered on the data connection). Reads go through tokio's file, which
/// runs them on the blocking pool: a cold disk must not stall a runtime
/// thread.
async fn copy_out<S: AsyncWrite + Unpin>(
    stream: &mut S,
    file: File,
    offset: u64,
    ascii: bool,
    limits: TransferLimits,
    progress: &Progress,
) -> Result<(), FtpError> {
    let throttle = Throttle::new(limits.max_rate);
    let mut file = tokio::fs::File::from_std(file);
    if offset > 0 {
        file.seek(io::SeekFrom::Start(offset)).await.at("file")?;
    }
    let mut buf = vec![0u8; BUF_SIZE];
    let mut converted = Vec::new();
    let mut prev_cr = false;
    let mut sent = 0u64;
    loop {
        let n = file.read(&mut buf).await.at("file")?;
        if n == 0 {
            break;
        }
        let out = if ascii {
            converted.clear();
            prev_cr = lf_to_crlf(&buf[..n], prev_cr, &mut converted);
            &converted[..]
        } else {
            &buf[..n]
        };
        within_stall(limits.stall, stream.write_all(out)).await?;
        sent += out.len() as u64;
        progress.fetch_add(out.len() as u64, Ordering::Relaxed);
        throttle.pace(sent).await;
    }
    finish_send(stream, limits).await
}

/// Sends a listing as its chunks arrive, until the sender is done.
pub async fn send_chunks<S: AsyncWrite + Unpin>(
    stream: &mut S,
    mut chunks: tokio::sync::mpsc::Receiver<Vec<u8>>,
    limits: TransferLimits,
    progress: &Progress,
) -> Result<(), FtpError> {
    while let Some(chunk) = chunks.recv().await {
        within_stall(limits.stall, stream.write_all(&chunk)).await?;
        progress.fetch_add(chunk.len() as u64, Ordering::Relaxed);
    }
    finish_send(stream, limits).await
}

/// Ends a download: TLS sends close_notify, TCP its FIN, so the client
/// knows it has every byte.
async fn finish_send<S: AsyncWrite + Unpin>(
    stream: &mut S,
    limits: TransferLimits,
) -> Result<(), FtpError> {
    within_stall(limits.stall, stream.shutdown()).await
}

/// Receives an upload into `file` until the client closes the data
/// connection cleanly, and returns the file with every byte written. Over
/// TLS a close without close_notify is an error (the stream reports
/// UnexpectedEof), so a truncated upload is never taken for a complete one.
/// Writes run on the blocking pool, a batch in flight while the next one
/// arrives. Each chunk is charged to `ticket` first, so an upload stops as
/// soon as it would break a limit.
pub async fn receive_to_file<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut S,
    file: File,
    ascii: bool,
    limits: TransferLimits,
    progress: &Progress,
    ticket: &mut Ticket,
    gate: &WriteGate,
) -> Result<File, FtpError> {
    let mut sink = FileSink::new(file, Arc::clone(gate));
    let received = receive(stream, &mut sink, ascii, limits, progress, ticket).await;
    // A failed upload into a temporary file is deleted: only a resume,
    // written in place, keeps what the limits accepted.
    if received.is_err() && !ticket.keeps() {
        sink.batch().clear();
    }
    let written = sink.finish().await;
    if let Err(e) = received {
        if matches!(e, FtpError::Limit(..)) {
            discard_rest(stream, limits.max_rate).await;
        }
        return Err(e);
    }
    let file = written.at("upload")?;
    // Every byte is in. Answer the client's close_notify with ours: some
    // clients (Python's ssl unwrap) wait for it. Failing here loses nothing.
    let _ = timeout(limits.stall, stream.shutdown()).await;
    Ok(file)
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
    ascii: bool,
    limits: TransferLimits,
    progress: &Progress,
    ticket: &mut Ticket,
) -> Result<(), FtpError> {
    let throttle = Throttle::new(limits.max_rate);
    // Binary data is read straight into the batch; TYPE A goes through
    // here to be converted.
    let mut buf = if ascii {
        vec![0u8; BUF_SIZE]
    } else {
        Vec::new()
    };
    let mut pending_cr = false;
    let mut received = 0u64;
    loop {
        let before = sink.batch().len();
        let n = if ascii {
            let n = within_stall(limits.stall, stream.read(&mut buf)).await?;
            pending_cr = crlf_to_lf(&buf[..n], pending_cr, sink.batch());
            n
        } else {
            within_stall(limits.stall, stream.read_buf(sink.batch())).await?
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
