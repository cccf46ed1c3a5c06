//! A data connection, plain or TLS-protected (PROT P).

use std::io::{self, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::server::TlsStream;

use super::Deflate;

pub enum DataStream {
    Plain(PlainTcp),
    Tls(Box<TlsStream<TcpStream>>),
    /// MODE Z over either of the others. Not `Plain`, so the sendfile
    /// path never sees it.
    Deflate(Box<Deflate<DataStream>>),
}

impl AsyncRead for DataStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            DataStream::Tls(s) => Pin::new(s).poll_read(cx, buf),
            DataStream::Deflate(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for DataStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            DataStream::Tls(s) => Pin::new(s).poll_write(cx, buf),
            DataStream::Deflate(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_flush(cx),
            DataStream::Tls(s) => Pin::new(s).poll_flush(cx),
            DataStream::Deflate(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            DataStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            DataStream::Tls(s) => Pin::new(s).poll_shutdown(cx),
            DataStream::Deflate(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A plain data connection, registered with the runtime only once it has
/// to wait. A small download that the socket buffer takes at once, then
/// the close, never is: two `epoll_ctl` calls less per transfer.
pub enum PlainTcp {
    /// Non-blocking, not registered.
    Unregistered(std::net::TcpStream),
    Registered(TcpStream),
    /// Its registration failed, and was reported; nothing works any more.
    Lost,
}

impl From<TcpStream> for PlainTcp {
    fn from(tcp: TcpStream) -> PlainTcp {
        PlainTcp::Registered(tcp)
    }
}

impl PlainTcp {
    /// The connection as the runtime's stream, registered now if need be.
    pub fn into_tokio(self) -> io::Result<TcpStream> {
        match self {
            PlainTcp::Unregistered(std) => TcpStream::from_std(std),
            PlainTcp::Registered(tcp) => Ok(tcp),
            PlainTcp::Lost => Err(lost()),
        }
    }

    /// The socket, for calls made on it directly (sendfile).
    pub fn fd(&self) -> io::Result<BorrowedFd<'_>> {
        match self {
            PlainTcp::Unregistered(std) => Ok(std.as_fd()),
            PlainTcp::Registered(tcp) => Ok(tcp.as_fd()),
            PlainTcp::Lost => Err(lost()),
        }
    }

    /// Sends as much of `bytes` as the socket takes now, without waiting:
    /// how many it took. An error takes none, and the next write fails too
    /// (with EPIPE, once a reset was read here).
    pub fn send_now(&self, bytes: &[u8]) -> usize {
        let flags = rustix::net::SendFlags::NOSIGNAL | rustix::net::SendFlags::DONTWAIT;
        self.fd()
            .and_then(|fd| Ok(rustix::net::send(fd, bytes, flags)?))
            .unwrap_or(0)
    }

    /// Registers the connection: it has to wait for the socket.
    fn registered(&mut self) -> io::Result<Pin<&mut TcpStream>> {
        if !matches!(self, PlainTcp::Registered(_)) {
            // Lost unless the registration succeeds.
            let tcp = std::mem::replace(self, PlainTcp::Lost).into_tokio()?;
            *self = PlainTcp::Registered(tcp);
        }
        match self {
            PlainTcp::Registered(tcp) => Ok(Pin::new(tcp)),
            _ => Err(lost()),
        }
    }
}

fn lost() -> io::Error {
    io::Error::other("the data connection could not be registered")
}

impl AsyncRead for PlainTcp {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        // An upload's data is rarely there yet when its first read comes:
        // reading waits, and so registers, at once.
        self.get_mut().registered()?.poll_read(cx, buf)
    }
}

impl AsyncWrite for PlainTcp {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        if let PlainTcp::Unregistered(std) = &*this {
            let mut socket: &std::net::TcpStream = std;
            match socket.write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                done => return Poll::Ready(done),
            }
        }
        this.registered()?.poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    /// Nothing to do: nothing is read from a connection after its end,
    /// so the close that follows sends the FIN (an upload's client has
    /// closed its side already). TLS and MODE Z send their last bytes
    /// before they get here.
    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}
