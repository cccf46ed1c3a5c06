//! Opening data connections, with the RFC 2577 checks: a passive
//! connection must come from the client's own address, and passive ports
//! are picked at random so no one can guess and steal them.

use std::io;
use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use rustls::HandshakeKind;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::sync::Notify;
use tokio::time::timeout;
use tokio_rustls::server::TlsStream;
use tokio_rustls::{LazyConfigAcceptor, TlsAcceptor};

use crate::error::FtpError;
use crate::tls::DataTls;

use super::PlainTcp;

/// How the next transfer's data connection will be made.
#[derive(Debug, Default)]
pub enum DataPlan {
    #[default]
    None,
    /// PASV/EPSV: we listen; the client connects. Not registered with
    /// the runtime until a connection has to be waited for.
    Passive(std::net::TcpListener),
    /// PASV/EPSV under PROT P: see [`EarlyTls`].
    PassiveTls(EarlyTls),
    /// PORT/EPRT: we connect to the client.
    Active(SocketAddr),
}

/// An opened data connection.
pub enum Opened {
    /// TCP, with the TLS still to negotiate when there is a configuration.
    Tcp(PlainTcp, Option<DataTls>),
    /// A client that started TLS before its transfer command: the
    /// handshake is done, with this configuration.
    Tls(Box<TlsStream<TcpStream>>, DataTls),
}

/// How long a control connection must stay silent, once a ClientHello
/// came on a protected passive connection before any transfer command,
/// before that client is taken to be waiting for the handshake (and pays
/// this once per transfer). A client that goes on with its commands
/// (curl sends TYPE right after its ClientHello) is told apart by its
/// first line, however long its later ones take.
const QUIET: Duration = Duration::from_millis(300);

/// A protected passive connection, accepted as soon as the client
/// connects. Clients differ in their order: most send the transfer
/// command, read 150, then start TLS; some (curl) start TLS at once but go
/// on with their commands, and some start TLS and send the command only
/// after the handshake. Each kind must be answered, and the configuration
/// a handshake gets depends on the transfer's direction (uploads get no
/// TLS 1.3 tickets, see `tls::SessionTls::data`), which only the command
/// tells. So a ClientHello that comes first is held until the command
/// comes or the control connection goes quiet; only then is it answered,
/// in this task, while the session waits for its command. The address
/// check, the one-shot port and the handshake timeout are the same in
/// every order; the strict reuse check runs when the command comes
/// ([`vet`]).
pub struct EarlyTls {
    task: tokio::task::JoinHandle<Result<Early, FtpError>>,
    /// The transfer command came, with its direction's configuration.
    claim: Option<tokio::sync::oneshot::Sender<DataTls>>,
}

enum Early {
    /// The client has not connected yet.
    Waiting(TcpListener, Option<DataTls>),
    /// It connected and has sent nothing.
    Connected(TcpStream, Option<DataTls>),
    Secured(Box<TlsStream<TcpStream>>, DataTls),
}

impl EarlyTls {
    /// Starts listening on `listener` for `client`. `fallback` answers a
    /// handshake that comes before the command; `activity` is notified
    /// for each line the control connection reads.
    pub fn start(
        listener: std::net::TcpListener,
        client: IpAddr,
        fallback: DataTls,
        handshake: Duration,
        activity: Arc<Activity>,
    ) -> EarlyTls {
        let (claim, claimed) = tokio::sync::oneshot::channel();
        let early = early(listener, client, fallback, handshake, activity, claimed);
        EarlyTls {
            task: tokio::spawn(early),
            claim: Some(claim),
        }
    }
}

impl std::fmt::Debug for EarlyTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("EarlyTls")
    }
}

impl Drop for EarlyTls {
    /// A new PASV, or the session's end: the port and connection go.
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn early(
    listener: std::net::TcpListener,
    client: IpAddr,
    fallback: DataTls,
    handshake: Duration,
    activity: Arc<Activity>,
    claimed: tokio::sync::oneshot::Receiver<DataTls>,
) -> Result<Early, FtpError> {
    let listener = TcpListener::from_std(listener).map_err(cannot_open)?;
    tokio::pin!(claimed);
    let tcp = tokio::select! {
        biased;
        tls = &mut claimed => return Ok(Early::Waiting(listener, tls.ok())),
        tcp = accept_from(&listener, client) => tcp.map_err(cannot_open)?,
    };
    drop(listener);
    let _ = tcp.set_nodelay(true);
    // Lines the control connection reads from now on tell a client that
    // goes on with its commands from one that waits for the handshake.
    let seen = activity.lines();
    let mut first = [0u8; 1];
    tokio::select! {
        biased;
        tls = &mut claimed => return Ok(Early::Connected(tcp, tls.ok())),
        peeked = tcp.peek(&mut first) => {
            if peeked.map_err(cannot_open)? == 0 {
                return Err(FtpError::CannotOpenData("Data connection closed".into()));
            }
        }
    }
    // The client spoke first. Read its ClientHello, then wait for the
    // command (its direction) if the client is still talking on the
    // control connection; answer now if it has been silent since.
    let started = tokio::time::Instant::now();
    let hello = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), tcp);
    let start = match timeout(handshake, hello).await {
        Ok(Ok(start)) => start,
        Ok(Err(e)) => return Err(handshake_failed(e)),
        Err(_) => return Err(handshake_timed_out()),
    };
    let left = handshake.saturating_sub(started.elapsed());
    let claimed = tokio::select! {
        biased;
        tls = &mut claimed => tls.ok(),
        _ = activity.since(seen) => timeout(left, &mut claimed).await.ok().and_then(Result::ok),
        _ = tokio::time::sleep(QUIET) => None,
    };
    tracing::debug!(
        "a data connection's ClientHello came before its command; answered on {} ({:?})",
        if claimed.is_some() {
            "the command"
        } else {
            "the control connection being silent"
        },
        started.elapsed()
    );
    let tls = claimed.unwrap_or(fallback);
    let left = handshake.saturating_sub(started.elapsed());
    match timeout(left, start.into_stream(Arc::clone(&tls.config))).await {
        Ok(Ok(stream)) => Ok(Early::Secured(Box::new(stream), tls)),
        Ok(Err(e)) => Err(handshake_failed(e)),
        Err(_) => Err(handshake_timed_out()),
    }
}

/// The lines a control connection has read, for its data connections to
/// tell whether the client is talking or waiting.
#[derive(Debug, Default)]
pub struct Activity {
    lines: AtomicU64,
    changed: Notify,
}

impl Activity {
    /// A line was read.
    pub fn line(&self) {
        self.lines.fetch_add(1, Ordering::Release);
        self.changed.notify_waiters();
    }

    fn lines(&self) -> u64 {
        self.lines.load(Ordering::Acquire)
    }

    /// Returns once a line has been read since the count was `seen`.
    async fn since(&self, seen: u64) {
        loop {
            let changed = self.changed.notified();
            tokio::pin!(changed);
            // Registered before the count is read: no line is missed.
            changed.as_mut().enable();
            if self.lines() != seen {
                return;
            }
            changed.await;
        }
    }
}

fn cannot_open(e: io::Error) -> FtpError {
    FtpError::CannotOpenData(format!("Can't open data connection: {e}"))
}

fn handshake_failed(e: io::Error) -> FtpError {
    tracing::debug!("TLS handshake on a data connection failed: {e}");
    FtpError::CannotOpenData(format!("TLS handshake on the data connection failed: {e}"))
}

fn handshake_timed_out() -> FtpError {
    FtpError::CannotOpenData("TLS handshake on the data connection timed out".into())
}

impl DataPlan {
    /// Opens the connection for one transfer, whose TLS (if any) is to be
    /// negotiated with `tls`. The plan is used up: PASV and PORT are per
    /// transfer (RFC 1123 §4.1.2.6).
    pub async fn open(
        self,
        client: IpAddr,
        local: IpAddr,
        wait: Duration,
        tls: Option<DataTls>,
    ) -> Result<Opened, FtpError> {
        let deadline = tokio::time::Instant::now() + wait;
        let (stream, tls) = match self {
            DataPlan::None => {
                return Err(FtpError::CannotOpenData(
                    "Use PASV, EPSV, PORT or EPRT first".into(),
                ));
            }
            DataPlan::Passive(listener) => {
                (timeout(wait, accept_passive(listener, client)).await, tls)
            }
            DataPlan::PassiveTls(mut early) => {
                // Without a configuration (PROT C since) the claim is a
                // dropped sender: the task hands over what it has.
                let protected = tls.is_some();
                match (early.claim.take(), tls) {
                    (Some(claim), Some(tls)) => drop(claim.send(tls)),
                    (claim, _) => drop(claim),
                }
                let settled = match tokio::time::timeout_at(deadline, &mut early.task).await {
                    Ok(Ok(settled)) => settled?,
                    Ok(Err(_)) => {
                        return Err(FtpError::CannotOpenData("Data connection failed".into()))
                    }
                    Err(_) => {
                        return Err(FtpError::CannotOpenData("Data connection timed out".into()))
                    }
                };
                match settled {
                    Early::Secured(stream, tls) if protected => {
                        return Ok(Opened::Tls(stream, tls))
                    }
                    Early::Secured(..) => {
                        return Err(FtpError::CannotOpenData(
                            "TLS on the data connection after PROT C".into(),
                        ))
                    }
                    Early::Connected(tcp, tls) => (Ok(Ok(tcp.into())), tls),
                    Early::Waiting(listener, tls) => {
                        let accepted = accept_from(&listener, client);
                        let accepted = tokio::time::timeout_at(deadline, accepted).await;
                        (accepted.map(|r| r.map(PlainTcp::from)), tls)
                    }
                }
            }
            DataPlan::Active(addr) => {
                let connected = timeout(wait, connect_active(local, addr)).await;
                (connected.map(|r| r.map(PlainTcp::from)), tls)
            }
        };
        match stream {
            Ok(Ok(s)) => Ok(Opened::Tcp(s, tls)),
            Ok(Err(e)) => Err(cannot_open(e)),
            Err(_) => Err(FtpError::CannotOpenData("Data connection timed out".into())),
        }
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

/// TLS on a data connection whose client waits for us: the handshake,
/// then [`vet`].
pub async fn secure(
    tcp: PlainTcp,
    tls: DataTls,
    policy: TlsPolicy,
    peer: SocketAddr,
) -> Result<TlsStream<TcpStream>, FtpError> {
    let tcp = tcp.into_tokio().map_err(cannot_open)?;
    // A TLS handshake's small flights must not wait for delayed ACKs.
    // Plain data needs no such care: the FIN that ends it pushes out
    // whatever Nagle held back.
    let _ = tcp.set_nodelay(true);
    let stream = handshake(tcp, &tls, policy.handshake).await?;
    vet(stream, &tls, policy, peer).await
}

async fn handshake(
    tcp: TcpStream,
    tls: &DataTls,
    limit: Duration,
) -> Result<TlsStream<TcpStream>, FtpError> {
    let accept = TlsAcceptor::from(Arc::clone(&tls.config)).accept(tcp);
    match timeout(limit, accept).await {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(handshake_failed(e)),
        Err(_) => Err(handshake_timed_out()),
    }
}

/// Judges a data connection's finished handshake. Resuming a session is
/// what clients normally do, and logged as such; in strict mode a
/// connection whose session does not pass [`DataTls::check`] is closed
/// cleanly (close_notify both ways) so that the client reads the command's
/// final reply, and not the next command's.
pub async fn vet(
    mut stream: TlsStream<TcpStream>,
    tls: &DataTls,
    policy: TlsPolicy,
    peer: SocketAddr,
) -> Result<TlsStream<TcpStream>, FtpError> {
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

/// [`accept_from`], for a listener not yet registered. Most clients
/// connect before they send their transfer command: their connection is
/// then taken at once, and neither the listener nor (until it has to
/// wait) the connection is registered with the runtime.
async fn accept_passive(listener: std::net::TcpListener, client: IpAddr) -> io::Result<PlainTcp> {
    use rustix::net::{acceptfrom_with, SocketFlags};
    loop {
        let (fd, from) =
            match acceptfrom_with(&listener, SocketFlags::NONBLOCK | SocketFlags::CLOEXEC) {
                Ok(accepted) => accepted,
                Err(rustix::io::Errno::AGAIN) => break,
                Err(e) => return Err(e.into()),
            };
        let from = from.and_then(|a| SocketAddr::try_from(a).ok());
        if from.is_some_and(|from| from_client(from, client)) {
            return Ok(PlainTcp::Unregistered(std::net::TcpStream::from(fd)));
        }
    }
    let listener = TcpListener::from_std(listener)?;
    accept_from(&listener, client).await.map(PlainTcp::from)
}

/// Whether a data connection comes from the client's address; one that
/// does not is dropped, and said so (RFC 2577 §3).
fn from_client(from: SocketAddr, client: IpAddr) -> bool {
    let ok = from.ip().to_canonical() == client;
    if !ok {
        tracing::warn!(%from, expected = %client, "dropped a data connection from a foreign address");
    }
    ok
}

/// Accepts the first connection that comes from the client's address;
/// anyone else is dropped (RFC 2577 §3).
async fn accept_from(listener: &TcpListener, client: IpAddr) -> io::Result<TcpStream> {
    loop {
        let (stream, from) = listener.accept().await?;
        if from_client(from, client) {
            return Ok(stream);
        }
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
/// kernel-chosen one when there is no range), and gives its port.
pub fn bind_passive(
    ip: IpAddr,
    range: Option<&RangeInclusive<u16>>,
) -> io::Result<(std::net::TcpListener, u16)> {
    let on = |port: u16| listen(SocketAddr::new(ip, port)).map(|l| (l, port));
    let Some(range) = range else {
        // Like vsftpd, pick a random port of the ephemeral range ourselves.
        // The kernel's own choice (port 0) gets slow once thousands of
        // earlier data connections sit in TIME_WAIT: its search steps over
        // them one by one, and small-file workloads leave many.
        let eph = ephemeral_ports();
        for _ in 0..32 {
            match on(rand::rng().random_range(eph.clone())) {
                Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
                other => return other,
            }
        }
        let listener = listen(SocketAddr::new(ip, 0))?;
        let port = listener.local_addr()?.port();
        return Ok((listener, port));
    };
    let span = u32::from(*range.end()) - u32::from(*range.start()) + 1;
    let start = rand::rng().random_range(0..span);
    // Random start, then a walk over the whole range: random choice, yet a
    // free port is always found if there is one.
    for i in 0..span {
        let port = *range.start() as u32 + (start + i) % span;
        match on(port as u16) {
            Err(e) if e.kind() == io::ErrorKind::AddrInUse => continue,
            other => return other,
        }
    }
    Err(io::Error::new(
        io::ErrorKind::AddrInUse,
        "all passive ports are in use",
    ))
}

fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let kind = Type::from(libc::SOCK_STREAM | libc::SOCK_NONBLOCK);
    let socket = Socket::new(Domain::for_address(addr), kind, None)?;
    // Our own earlier data connections on this port linger in TIME_WAIT
    // (the server closes first after a download); without SO_REUSEADDR a
    // small --passive-ports range would be exhausted for a minute. On Linux
    // this still refuses a port another socket is listening on.
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1)?;
    Ok(socket.into())
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
