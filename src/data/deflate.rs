//! MODE Z: a data connection that carries a zlib stream (RFC 1950/1951),
//! as FileZilla and other clients implement it. What a transfer writes is
//! compressed on the way out; what it reads is inflated on the way in. The
//! transfer loops see plain bytes and do not know the difference.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// The level MODE Z uses until OPTS MODE Z LEVEL says otherwise (zlib's own
/// default: a good ratio at a moderate cost).
pub const DEFAULT_DEFLATE_LEVEL: u32 = 6;

const IN_BUF: usize = 64 * 1024;
const OUT_STEP: usize = 64 * 1024;

/// Bytes a download is judged by at a time: compressed at the chosen
/// level, a stretch that shrinks by less than a tenth is not worth it.
const PROBE: u64 = 256 << 10;
/// After such a stretch, this much is sent stored (level 0, a copy) before
/// the chosen level is tried again. Photos, videos and archives then
/// cost what a plain download does, where compressing them at level 6
/// ran at a twentieth of that and saved nothing (lftp asks for MODE Z
/// whenever a server offers it).
const STORED: u64 = 16 << 20;

pub struct Deflate<S> {
    inner: S,
    level: u32,
    /// Created on first use: a transfer goes one way only.
    compress: Option<Compress>,
    decompress: Option<Decompress>,
    /// Compressed bytes not yet handed to `inner`, from `out_pos`.
    out: Vec<u8>,
    out_pos: usize,
    /// Where the stretch being judged began: the compressor's totals in
    /// and out then, and whether it is being sent stored.
    stretch: (u64, u64),
    stored: bool,
    /// Everything written so far was flushed (and is in `out`, or sent).
    synced: bool,
    finished: bool,
    /// Compressed bytes read but not yet inflated: `input[start..end]`.
    input: Vec<u8>,
    start: usize,
    end: usize,
    stream_end: bool,
}

impl<S> Deflate<S> {
    pub fn new(inner: S, level: u32) -> Deflate<S> {
        Deflate {
            inner,
            level: level.min(9),
            compress: None,
            decompress: None,
            out: Vec::new(),
            out_pos: 0,
            stretch: (0, 0),
            stored: false,
            synced: true,
            finished: false,
            input: Vec::new(),
            start: 0,
            end: 0,
            stream_end: false,
        }
    }

    fn compressor(&mut self) -> &mut Compress {
        let level = self.level;
        self.compress
            .get_or_insert_with(|| Compress::new(Compression::new(level), true))
    }
}

/// Ends the current zlib block at a byte boundary (a sync flush), adding
/// what that gives to `out`.
fn sync_flush(c: &mut Compress, out: &mut Vec<u8>) -> io::Result<()> {
    loop {
        out.reserve(OUT_STEP);
        let before = c.total_out();
        c.compress_vec(&[], out, FlushCompress::Sync)
            .map_err(|e| io::Error::other(format!("MODE Z compression: {e}")))?;
        // Done once a call had room to spare.
        if out.len() < out.capacity() || c.total_out() == before {
            return Ok(());
        }
    }
}

fn invalid(what: impl std::fmt::Display) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("bad MODE Z data: {what}"),
    )
}

impl<S> Deflate<S> {
    /// At the end of a stretch, switches to stored blocks if what was
    /// compressed did not shrink enough, or back to the chosen level after
    /// a stored stretch. The stream stays one zlib stream: a change of
    /// level ends a block (a sync flush, which `set_level` needs).
    fn adapt(&mut self, out: &mut Vec<u8>) -> io::Result<()> {
        let Some(c) = self.compress.as_mut().filter(|_| self.level > 0) else {
            return Ok(());
        };
        let (start_in, start_out) = self.stretch;
        let (read, made) = (c.total_in() - start_in, c.total_out() - start_out);
        let switch_to = match self.stored {
            true if read >= STORED => Some(self.level),
            false if read >= PROBE => {
                let worth = made.saturating_mul(10) < read.saturating_mul(9);
                (!worth).then_some(0)
            }
            _ => return Ok(()),
        };
        if let Some(level) = switch_to {
            sync_flush(c, out)?;
            // A compressor that will not switch goes on as it was: the
            // stream is as valid either way.
            if c.set_level(Compression::new(level)).is_ok() {
                self.stored = level == 0;
            }
        }
        self.stretch = (c.total_in(), c.total_out());
        Ok(())
    }
}

impl<S: AsyncWrite + Unpin> Deflate<S> {
    /// Writes out whatever compressed bytes are pending.
    fn poll_drain(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.out_pos < self.out.len() {
            let n = ready!(Pin::new(&mut self.inner).poll_write(cx, &self.out[self.out_pos..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            self.out_pos += n;
        }
        self.out.clear();
        self.out_pos = 0;
        Poll::Ready(Ok(()))
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Deflate<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_drain(cx))?;
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        let mut out = std::mem::take(&mut this.out);
        let c = this.compressor();
        let before = c.total_in();
        loop {
            out.reserve(OUT_STEP);
            c.compress_vec(buf, &mut out, FlushCompress::None)
                .map_err(invalid)?;
            let used = c.total_in() - before;
            if used > 0 {
                this.synced = false;
                this.adapt(&mut out)?;
                this.out = out;
                return Poll::Ready(Ok(used as usize));
            }
        }
    }

    /// Ends a zlib block at a byte boundary (a sync flush) and sends it, so
    /// what the client has inflates to everything written so far.
    /// Listings flush after each chunk of whole lines: lftp, which recodes
    /// a listing's characters as it inflates it, lost the end of a large
    /// UTF-8 listing when what it had read ended inside a character.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if let (false, Some(c)) = (this.synced, this.compress.as_mut()) {
            sync_flush(c, &mut this.out)?;
            this.synced = true;
        }
        ready!(this.poll_drain(cx))?;
        Pin::new(&mut this.inner).poll_flush(cx)
    }

    /// Ends the zlib stream (an empty file still gets a valid one), then
    /// the connection. An upload's connection only closes: the stream
    /// went the other way.
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while this.decompress.is_none() {
            ready!(this.poll_drain(cx))?;
            if this.finished {
                break;
            }
            let mut out = std::mem::take(&mut this.out);
            out.reserve(OUT_STEP);
            let status = this
                .compressor()
                .compress_vec(&[], &mut out, FlushCompress::Finish)
                .map_err(invalid)?;
            this.out = out;
            this.finished = status == Status::StreamEnd;
        }
        Pin::new(&mut this.inner).poll_shutdown(cx)
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Deflate<S> {
    /// Inflates into `buf`. The end of the data connection must come right
    /// after the end of the zlib stream: a stream cut short, corrupt, or
    /// followed by more bytes is an error, so a broken upload is never
    /// stored as complete.
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        if buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        if this.input.is_empty() {
            this.input = vec![0; IN_BUF];
        }
        loop {
            if this.start < this.end && !this.stream_end {
                let d = this.decompress.get_or_insert_with(|| Decompress::new(true));
                let (before_in, before_out) = (d.total_in(), d.total_out());
                let status = d
                    .decompress(
                        &this.input[this.start..this.end],
                        buf.initialize_unfilled(),
                        FlushDecompress::None,
                    )
                    .map_err(invalid)?;
                let used = (d.total_in() - before_in) as usize;
                let made = (d.total_out() - before_out) as usize;
                this.start += used;
                buf.advance(made);
                this.stream_end = status == Status::StreamEnd;
                if made > 0 {
                    return Poll::Ready(Ok(()));
                }
                if used > 0 {
                    continue;
                }
            }
            if this.stream_end && this.start < this.end {
                return Poll::Ready(Err(invalid("data after the end of the stream")));
            }
            // Need more input: keep the unused tail at the front.
            this.input.copy_within(this.start..this.end, 0);
            this.end -= this.start;
            this.start = 0;
            let mut rb = ReadBuf::new(&mut this.input[this.end..]);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut rb))?;
            let n = rb.filled().len();
            if n == 0 {
                return Poll::Ready(if this.stream_end {
                    Ok(())
                } else {
                    Err(invalid("the stream ended early"))
                });
            }
            this.end += n;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = flate2::write::ZlibEncoder::new(Vec::new(), Compression::new(9));
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    fn text(len: usize) -> Vec<u8> {
        (0..len).map(|i| b"ftpshare mode z "[i % 16]).collect()
    }

    #[tokio::test]
    async fn writes_a_zlib_stream_any_inflater_reads() {
        let data = text(1_000_000);
        let mut z = Deflate::new(Vec::new(), 1);
        for chunk in data.chunks(70_000) {
            z.write_all(chunk).await.unwrap();
        }
        z.shutdown().await.unwrap();
        let wire = z.inner;
        assert!(wire.len() < data.len() / 10);
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&wire[..])
            .read_to_end(&mut back)
            .unwrap();
        assert_eq!(back, data);
    }

    /// After a flush, what was sent inflates to everything written, so a
    /// listing's chunks of whole lines reach the client whole.
    #[tokio::test]
    async fn a_flush_sends_what_inflates_to_all_written() {
        let mut z = Deflate::new(Vec::new(), 6);
        let mut inflate = Decompress::new(true);
        let (mut written, mut inflated) = (Vec::new(), Vec::new());
        for n in 0..40 {
            let line = format!("-rw-r--r--   1 ftp ftp {n} Dec  7 12:57 naïve_{n:05}.jpg\r\n");
            let chunk = line.repeat(500);
            z.write_all(chunk.as_bytes()).await.unwrap();
            written.extend_from_slice(chunk.as_bytes());
            z.flush().await.unwrap();
            // What has reached the wire so far, inflated.
            let wire = std::mem::take(&mut z.inner);
            let mut out = vec![0; 4 << 20];
            let before = inflate.total_out();
            inflate
                .decompress(&wire, &mut out, FlushDecompress::Sync)
                .unwrap();
            let made = (inflate.total_out() - before) as usize;
            inflated.extend_from_slice(&out[..made]);
            assert_eq!(inflated.len(), written.len(), "after chunk {n}");
        }
        assert_eq!(inflated, written);
    }

    /// Incompressible stretches go stored and compressible ones compressed,
    /// switching both ways, in one stream that any inflater reads.
    #[tokio::test]
    async fn incompressible_stretches_are_sent_stored() {
        let mut x = 0x2545_f491_4f6c_dd1d_u64;
        let noise: Vec<u8> = (0..(PROBE + STORED))
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let data = [&noise[..], &text(8 * PROBE as usize)[..]].concat();
        let mut z = Deflate::new(Vec::new(), 6);
        let mut went_stored = false;
        for chunk in data.chunks(64 << 10) {
            z.write_all(chunk).await.unwrap();
            went_stored |= z.stored;
        }
        assert!(went_stored && !z.stored);
        z.shutdown().await.unwrap();
        let wire = z.inner;
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&wire[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(back == data, "inflates to something else");
        // The noise costs about its size (stored blocks have 5 bytes of
        // header per 64 KiB), the text after it, where the stored stretch
        // ends, almost nothing: the level came back.
        let noise_len = noise.len() as f64;
        assert!((wire.len() as f64) < noise_len * 1.001, "{}", wire.len());
    }

    #[tokio::test]
    async fn an_empty_download_is_an_empty_stream() {
        let mut z = Deflate::new(Vec::new(), 6);
        z.shutdown().await.unwrap();
        let mut back = Vec::new();
        flate2::read::ZlibDecoder::new(&z.inner[..])
            .read_to_end(&mut back)
            .unwrap();
        assert!(!z.inner.is_empty() && back.is_empty());
    }

    async fn inflate(wire: &[u8]) -> io::Result<Vec<u8>> {
        let mut z = Deflate::new(wire, 6);
        let mut out = Vec::new();
        z.read_to_end(&mut out).await?;
        Ok(out)
    }

    #[tokio::test]
    async fn reads_back_what_zlib_wrote() {
        let data = text(500_000);
        assert_eq!(inflate(&zlib(&data)).await.unwrap(), data);
        assert_eq!(inflate(&zlib(b"")).await.unwrap(), b"");
    }

    #[tokio::test]
    async fn closing_an_upload_sends_nothing_back() {
        let wire = zlib(b"uploaded");
        let mut z = Deflate::new(tokio::io::join(&wire[..], Vec::new()), 6);
        let mut got = Vec::new();
        z.read_to_end(&mut got).await.unwrap();
        z.shutdown().await.unwrap();
        assert_eq!(got, b"uploaded");
        assert!(z.inner.writer().is_empty());
    }

    #[tokio::test]
    async fn cut_corrupt_or_padded_streams_are_errors() {
        let wire = zlib(&text(100_000));
        let cut = &wire[..wire.len() - 3];
        assert_eq!(
            inflate(cut).await.unwrap_err().kind(),
            io::ErrorKind::InvalidData
        );
        assert!(inflate(b"").await.is_err());
        assert!(inflate(b"not zlib at all").await.is_err());
        let mut padded = wire.clone();
        padded.extend_from_slice(b"more");
        assert!(inflate(&padded).await.is_err());
    }
}
