//! The control connection: reading command lines and writing replies,
//! over plain TCP or TLS (after AUTH TLS, or from the start when implicit).

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::Arc;
use std::time::Duration;

use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::protocol::telnet::{Framed, LineBuffer};
use crate::protocol::{Command, Reply};

enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// An in-memory control channel, so unit tests need no socket.
    #[cfg(test)]
    Memory(tokio::io::DuplexStream),
    /// Only while a TLS handshake owns the socket.
    Upgrading,
}

impl Stream {
    /// Writes what the stream takes of `bytes` now, or nothing if stopped
    /// while it waits. Over TLS what it takes goes out with the next flush
    /// at the latest (a reply's).
    async fn write_some(&mut self, bytes: &[u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.write(bytes).await,
            Stream::Tls(s) => s.write(bytes).await,
            #[cfg(test)]
            Stream::Memory(s) => s.write(bytes).await,
            Stream::Upgrading => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

pub struct Control {
    stream: Stream,
    lines: LineBuffer,
    out: Vec<u8>,
    /// Lines read ahead (see [`hold_until`](Self::hold_until)), given back
    /// first, in order.
    held: Held,
    /// See [`socket`](Self::socket): made at the first upload, kept.
    socket: Option<Arc<OwnedFd>>,
}

const READ_CHUNK: usize = 1024;

impl Control {
    pub fn new(tcp: TcpStream, max_line: usize) -> Control {
        Control {
            stream: Stream::Plain(tcp),
            lines: LineBuffer::new(max_line),
            out: Vec::new(),
            held: Held::default(),
            socket: None,
        }
    }

    /// A control connection over an in-memory pipe, and the client's end.
    #[cfg(test)]
    pub fn in_memory(max_line: usize) -> (Control, tokio::io::DuplexStream) {
        let (ours, theirs) = tokio::io::duplex(64 * 1024);
        let control = Control {
            stream: Stream::Memory(ours),
            lines: LineBuffer::new(max_line),
            out: Vec::new(),
            held: Held::default(),
            socket: None,
        };
        (control, theirs)
    }

    /// A second handle on the connection's socket, for an upload to see,
    /// without reading, whether the client hung up (see [`hung_up`])
    /// however late its session task gets to run. One per session (TLS
    /// keeps the socket), not a `dup` and `close` per upload.
    pub fn socket(&mut self) -> Option<Arc<OwnedFd>> {
        if self.socket.is_none() {
            let fd = match &self.stream {
                Stream::Plain(s) => s.as_fd(),
                Stream::Tls(s) => s.get_ref().0.as_fd(),
                _ => return None,
            };
            self.socket = fd.try_clone_to_owned().ok().map(Arc::new);
        }
        self.socket.clone()
    }

    pub fn is_tls(&self) -> bool {
        matches!(self.stream, Stream::Tls(_))
    }

    /// The next command line; `None` when the client closed the connection.
    /// Cancel-safe: bytes read are kept in the line buffer, and refusals of
    /// Telnet negotiation, which go out first, leave it only once written.
    pub async fn read_line(&mut self) -> io::Result<Option<Framed>> {
        match self.held.pop() {
            Some(line) => Ok(line),
            None => self.read_ahead().await,
        }
    }

    /// The next line from the client, past any held: what
    /// [`read_line`](Self::read_line) gives once those are answered.
    /// Cancel-safe as that is.
    async fn read_ahead(&mut self) -> io::Result<Option<Framed>> {
        loop {
            while !self.lines.refusals().is_empty() {
                match self.stream.write_some(self.lines.refusals()).await? {
                    0 => return Err(io::ErrorKind::WriteZero.into()),
                    n => self.lines.refusals_sent(n),
                }
            }
            if let Some(line) = self.lines.next_line() {
                return Ok(Some(line));
            }
            if self.read().await? == 0 {
                return Ok(None);
            }
        }
    }

    /// Waits for `done` while the client's lines are read ahead and held,
    /// to be answered in order after the command that waits (at most 4 KiB
    /// of them: a client that sends more waits). The wait ends early where
    /// `ends` says: at a held ABOR that no held transfer command comes
    /// before (RFC 959 §4.1.3: the client wants the transfer stopped now,
    /// not once it ends), and at the client's close, read now or before.
    pub async fn hold_until<T>(
        &mut self,
        done: impl Future<Output = T>,
        ends: EndsAt,
    ) -> Waited<T> {
        tokio::pin!(done);
        loop {
            if ends.abor && self.held.first == Some(Mark::Abor) {
                return Waited::Abor;
            }
            if ends.hang_up && self.held.closed() {
                return Waited::HungUp;
            }
            let more = self.held.takes_more();
            tokio::select! {
                value = &mut done => return Waited::Done(value),
                line = self.read_ahead(), if more => self.held.push(line.unwrap_or(None)),
            }
        }
    }

    /// Reads what has come into the line buffer. The read buffer is never
    /// held while waiting: an idle session's task keeps no kilobyte of it.
    async fn read(&mut self) -> io::Result<usize> {
        let n = match &mut self.stream {
            // Linux ends a read at the TCP urgent mark (ABOR sent as Telnet
            // Synch, as ftplib does) even with more bytes queued, and tokio's
            // `read` takes a short read to mean "drained" and waits for a
            // new edge that never comes. `try_read` keeps the readiness
            // until the socket really reports WouldBlock.
            // A short read that ends a line and holds no Telnet command
            // (IAC) did not stop at an urgent mark: the socket is drained,
            // and its readiness is dropped without the read that would
            // only say so. `try_io` keeps readiness that came meanwhile.
            Stream::Plain(s) => loop {
                s.readable().await?;
                let mut buf = [0u8; READ_CHUNK];
                match s.try_read(&mut buf) {
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => continue,
                    Err(e) => return Err(e),
                    Ok(n) => {
                        let drained = 0 < n && n < buf.len() && buf[n - 1] == b'\n';
                        if drained && !buf[..n].contains(&0xff) {
                            let none = || Err::<(), _>(io::Error::from(io::ErrorKind::WouldBlock));
                            let _ = s.try_io(tokio::io::Interest::READABLE, none);
                        }
                        self.lines.extend(&buf[..n]);
                        break n;
                    }
                }
            },
            // A client that closes without close_notify has closed all the
            // same: its download goes on, as over plain TCP. Only this
            // connection's integrity was at stake, and it is over.
            Stream::Tls(s) => match read_on_heap(s, &mut self.lines).await {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => 0,
                read => read?,
            },
            #[cfg(test)]
            Stream::Memory(s) => read_on_heap(s, &mut self.lines).await?,
            Stream::Upgrading => return Err(io::ErrorKind::NotConnected.into()),
        };
        Ok(n)
    }

    /// Sends `replies` in one write.
    pub async fn send(&mut self, replies: &[Reply]) -> io::Result<()> {
        let mut out = std::mem::take(&mut self.out);
        out.clear();
        for reply in replies {
            reply.encode(&mut out);
        }
        let sent = self.send_bytes(&out).await;
        self.out = out;
        sent?;
        // Keep an idle session small after a long reply (FEAT, HELP, STAT).
        if self.out.capacity() > 4096 {
            self.out = Vec::new();
        }
        Ok(())
    }

    /// Sends bytes already in the wire format (part of a long reply).
    pub async fn send_bytes(&mut self, bytes: &[u8]) -> io::Result<()> {
        match &mut self.stream {
            Stream::Plain(s) => s.write_all(bytes).await,
            Stream::Tls(s) => {
                s.write_all(bytes).await?;
                s.flush().await
            }
            #[cfg(test)]
            Stream::Memory(s) => s.write_all(bytes).await,
            Stream::Upgrading => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    /// Switches to TLS. Bytes the client pipelined after `AUTH TLS` would
    /// be plaintext commands smuggled past the handshake (a known attack on
    /// STARTTLS), so they are refused.
    pub async fn upgrade(&mut self, config: Arc<ServerConfig>, limit: Duration) -> io::Result<()> {
        if self.lines.has_rest() || !self.held.lines.is_empty() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "data pipelined after AUTH TLS",
            ));
        }
        let Stream::Plain(tcp) = std::mem::replace(&mut self.stream, Stream::Upgrading) else {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                "already secure",
            ));
        };
        let tls = tokio::time::timeout(limit, TlsAcceptor::from(config).accept(tcp))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "TLS handshake timed out"))??;
        self.stream = Stream::Tls(Box::new(tls));
        Ok(())
    }

    /// Closes the connection politely: TLS close_notify, then FIN.
    pub async fn close(&mut self) {
        let shutdown = async {
            match &mut self.stream {
                Stream::Plain(s) => s.shutdown().await,
                Stream::Tls(s) => s.shutdown().await,
                #[cfg(test)]
                Stream::Memory(s) => s.shutdown().await,
                Stream::Upgrading => Ok(()),
            }
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), shutdown).await;
    }
}

/// A read that must keep its buffer while it waits (TLS): on the heap,
/// only for that long.
async fn read_on_heap(
    stream: &mut (impl AsyncRead + Unpin),
    lines: &mut LineBuffer,
) -> io::Result<usize> {
    let mut buf = vec![0u8; READ_CHUNK];
    let n = stream.read(&mut buf).await?;
    lines.extend(&buf[..n]);
    Ok(n)
}

/// What ends a wait with lines read ahead before what it waits for.
#[derive(Clone, Copy)]
pub struct EndsAt {
    /// A held ABOR (not when the waiting command starts a transfer of its
    /// own: an ABOR after it is that transfer's).
    pub abor: bool,
    /// The client's close (an upload's: a download goes on for a client
    /// that only closed its sending side).
    pub hang_up: bool,
}

/// What a wait with lines read ahead came to.
pub enum Waited<T> {
    Done(T),
    /// An ABOR was held for what waited.
    Abor,
    /// The client closed the connection.
    HungUp,
}

/// What a held line means to a transfer that waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mark {
    Abor,
    /// A command that starts a transfer of its own: an ABOR after it is
    /// that transfer's.
    Starts,
    Other,
}

impl Mark {
    fn of(line: &Option<Framed>) -> Mark {
        let Some(Framed::Line(line)) = line else {
            return Mark::Other;
        };
        match crate::protocol::parse(line) {
            Ok(Command::Abor) => Mark::Abor,
            Ok(cmd) if cmd.starts_transfer() => Mark::Starts,
            _ => Mark::Other,
        }
    }
}

/// Lines read ahead; `None` is the client's close. Each is parsed once,
/// when held, so that a flood of lines costs no more than reading them.
#[derive(Default)]
struct Held {
    lines: VecDeque<(Option<Framed>, Mark)>,
    /// Their bytes, line ends counted, so that empty lines count too.
    bytes: usize,
    /// The first held ABOR or transfer command.
    first: Option<Mark>,
}

impl Held {
    /// Bytes of lines held at most.
    const LIMIT: usize = 4096;

    fn size(line: &Option<Framed>) -> usize {
        match line {
            Some(Framed::Line(l)) => l.len() + 2,
            _ => 2,
        }
    }

    fn push(&mut self, line: Option<Framed>) {
        let mark = Mark::of(&line);
        if self.first.is_none() && mark != Mark::Other {
            self.first = Some(mark);
        }
        self.bytes += Held::size(&line);
        self.lines.push_back((line, mark));
    }

    fn pop(&mut self) -> Option<Option<Framed>> {
        let (line, mark) = self.lines.pop_front()?;
        self.bytes -= Held::size(&line);
        if mark != Mark::Other {
            let mut marks = self.lines.iter().map(|(_, m)| *m);
            self.first = marks.find(|m| *m != Mark::Other);
        }
        Some(line)
    }

    /// Whether the client's close is held.
    fn closed(&self) -> bool {
        matches!(self.lines.back(), Some((None, _)))
    }

    /// Whether another line may be read ahead: within the limit, and not
    /// past the client's close.
    fn takes_more(&self) -> bool {
        self.bytes < Held::LIMIT && !self.closed()
    }
}

/// Whether the peer of `socket` has closed its side: a FIN (or a reset)
/// has arrived, whatever is still unread before it.
pub fn hung_up(socket: &OwnedFd) -> bool {
    use rustix::event::{poll, PollFd, PollFlags};
    let gone = PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR;
    let mut fds = [PollFd::new(socket, PollFlags::RDHUP)];
    let zero = rustix::time::Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(1)) && fds[0].revents().intersects(gone)
}
