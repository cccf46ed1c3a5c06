//! Opening data connections, with the RFC 2577 checks: a passive
//! connection must come from the client's own address, and passive ports
//! are picked at random so no one can guess and steal them.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::time::Duration;

use rand::Rng;
use rustls::HandshakeKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;
use tokio_rustls::TlsAcceptor;

use crate::error::FtpError;
use crate::tls::DataTls;

/// How the next transfer's data connection will be made.
#[derive(Debug, Default)]
pub enum DataPlan {
    #[default]
    None,
    /// PASV/EPSV: we listen; the client connects.
    Passive(TcpListener),
    /// PORT/EPRT: we connect to the client.
    Active(SocketAddr),
}

impl DataPlan {
    /// Opens the connection for one transfer. The plan is used up: PASV and
    /// PORT are per transfer (RFC 1123 §4.1.2.6).
    pub async fn open(
        self,
        client: IpAddr,
        local: IpAddr,
        wait: Duration,
    ) -> Result<TcpStream, FtpError> {
        let stream = match self {
            DataPlan::None => {
                return Err(FtpError::CannotOpenData(
                    "Use PASV, EPSV, PORT or EPRT first".into(),
                ));
            }
            DataPlan::Passive(listener) => timeout(wait, accept_from(&listener, client)).await,
            DataPlan::Active(addr) => timeout(wait, connect_active(local, addr)).await,
        };
        let stream = match stream {
            Ok(Ok(s)) => s,
            Ok(Err(e)) => {
                return Err(FtpError::CannotOpenData(format!(
                    "Can't open data connection: {e}"
                )))
            }
            Err(_) => return Err(FtpError::CannotOpenData("Data connection timed out".into())),
        };
        // Small replies after a transfer must not wait for delayed ACKs.
        let _ = stream.set_nodelay(true);
        Ok(stream)
    }
}

/// How a data connection's TLS handshake is judged.
#[derive(Debug, Clone, Copy)]
pub struct TlsPolicy {
    /// `--require-tls-reuse`: the session must be resumed, from a control
    /// connection of the same user and address.
    pub strict: bool,
    pub handshake: Duration,
    /// How long a refused client may go quiet while we drain it.
    pub stall: Duration,
}

/// TLS on a data connection. Resuming a session is what clients normally
/// do, and logged as such; in strict mode a connection whose session does
/// not pass [`DataTls::check`] is closed cleanly (close_notify both ways)
/// so that the client reads the command's final reply, and not the next
/// command's.
pub async fn secure(
    tcp: TcpStream,
    tls: DataTls,
    policy: TlsPolicy,
    peer: SocketAddr,
) -> Result<TlsStream<TcpStream>, FtpError> {
    let accept = TlsAcceptor::from(std::sync::Arc::clone(&tls.config)).accept(tcp);
    let mut stream = match timeout(policy.handshake, accept).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, "TLS handshake on a data connection failed: {e}");
            return Err(FtpError::CannotOpenData(format!(
                "TLS handshake on the data connection failed: {e}"
            )));
        }
        Err(_) => {
            return Err(FtpError::CannotOpenData(
                "TLS handshake on the data connection timed out".into(),
            ))
        }
    };
    let conn = stream.get_ref().1;
    let resumed = conn.handshake_kind() == Some(HandshakeKind::Resumed);
    let version = conn
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    if resumed {
        tracing::debug!(%peer, "data connection resumed a TLS session ({version})");
    } else {
        tracing::debug!(%peer, "data connection did not resume a TLS session ({version})");
    }
    tls.note(resumed);
    if !policy.strict {
        return Ok(stream);
    }
    if let Err(refusal) = tls.check(resumed) {
        tracing::debug!(%peer, "data connection refused: {} (--require-tls-reuse)", refusal.cause());
        close_refused(&mut stream, policy.stall).await;
        return Err(FtpError::ResumptionRequired(format!(
            "TLS session resumption required ({}; restart the server without --require-tls-reuse)",
            refusal.cause()
        )));
    }
    Ok(stream)
}

/// Ends a refused data connection the way a finished one ends: our
/// close_notify, then whatever the client still sends (an upload) read
/// and dropped until its own close. A client that finds the connection
/// reset instead stops before reading the final reply.
async fn close_refused(stream: &mut TlsStream<TcpStream>, stall: Duration) {
    let _ = timeout(stall, stream.shutdown()).await;
    let mut buf = vec![0u8; 64 * 1024];
    while let Ok(Ok(n)) = timeout(stall, stream.read(&mut buf)).await {
        if n == 0 {
            break;
        }
    }
}

/// Accepts the first connection that comes from the client's address;
/// anyone else is dropped (RFC 2577 §3).
async fn accept_from(listener: &TcpListener, client: IpAddr) -> io::Result<TcpStream> {
    loop {
        let (stream, from) = listener.accept().await?;
        if from.ip().to_canonical() == client {
            return Ok(stream);
        }
        tracing::warn!(%from, expected = %client, "dropped a data connection from a foreign address");
    }
}

async fn connect_active(local: IpAddr, addr: SocketAddr) -> io::Result<TcpStream> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Leave from the address the client talks to, so its firewall and any
    // NAT see the connection coming from where it expects.
    let local = match (local, addr) {
        (IpAddr::V4(_), SocketAddr::V4(_)) | (IpAddr::V6(_), SocketAddr::V6(_)) => local,
        (_, SocketAddr::V4(_)) => IpAddr::from([0, 0, 0, 0]),
        (_, SocketAddr::V6(_)) => IpAddr::from([0u16; 8]),
    };
    socket.bind(SocketAddr::new(local, 0))?;
    socket.connect(addr).await
}

/// Binds a passive listener on `ip`, on a random port of `range` (or a
/// kernel-chosen one when there is no range).
pub fn bind_passive(ip: IpAddr, range: Option<&RangeInclusive<u16>>) -> io::Result<TcpListener> {
    let Some(range) = range else {
        // Like vsftpd, pick a random port of the ephemeral range ourselves.
        // The kernel's own choice (port 0) gets slow once thousands of
        // earlier data connections sit in TIME_WAIT: its search steps over
        // them one by one, and small-file workloads leave many.
        let eph = ephemeral_ports();
        for _ in 0..32 {
            let port = rand::rng().random_range(eph.clone());
            match listen(SocketAddr::new(ip, port)) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                other => return other,
            }
        }
        return listen(SocketAddr::new(ip, 0));
    };
    let span = u32::from(*range.end()) - u32::from(*range.start()) + 1;
    let start = rand::rng().random_range(0..span);
    // Random start, then a walk over the whole range: random choice, yet a
    // free port is always found if there is one.
    for i in 0..span {
        let port = *range.start() as u32 + (start + i) % span;
        match listen(SocketAddr::new(ip, port as u16)) {
            Ok(l) => return Ok(l),
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            Err(e) => return Err(e),
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "all passive ports are in use",
    ))
}

fn listen(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    // Our own earlier data connections on this port linger in TIME_WAIT
    // (the server closes first after a download); without SO_REUSEADDR a
    // small --passive-ports range would be exhausted for a minute. On Linux
    // this still refuses a port another socket is listening on.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1)
}

/// The system's ephemeral port range (Linux), read once.
fn ephemeral_ports() -> RangeInclusive<u16> {
    static RANGE: std::sync::OnceLock<RangeInclusive<u16>> = std::sync::OnceLock::new();
    RANGE
        .get_or_init(|| {
            let text = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range")
                .unwrap_or_default();
            let mut nums = text
                .split_whitespace()
                .filter_map(|n| n.parse::<u16>().ok());
            match (nums.next(), nums.next()) {
                (Some(lo), Some(hi)) if 1024 <= lo && lo <= hi => lo..=hi,
                _ => 32768..=60999,
            }
        })
        .clone()
}
