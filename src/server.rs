//! Binding, the accept loop, connection limits and shutdown.

use std::collections::HashMap;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, watch};
use tokio_util::task::TaskTracker;

use crate::config::{AccessMode, Config, Limits, TlsMode};
use crate::events::{Event, Refused};
use crate::shared::Shared;
use crate::threads::SessionThreads;
use crate::tls::{TlsError, TlsIdentity};
use crate::upload_limits::{UploadLimits, UploadUsage};
use crate::vfs::{Share, ShareError, SharedPath};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// A path to share is missing, of the wrong kind, or two have the
    /// same name.
    #[error("{0}")]
    Share(#[from] ShareError),
    #[error("cannot listen on {addr}: {source}")]
    Bind { addr: SocketAddr, source: io::Error },
    #[error("cannot resolve public host {host:?}")]
    PublicHost { host: String },
    #[error("{0}")]
    Tls(#[from] TlsError),
    #[error("{0}")]
    Invalid(String),
}

/// Entry point of the library API.
pub struct Server;

impl Server {
    pub fn builder() -> ServerBuilder {
        ServerBuilder {
            config: Config {
                root: PathBuf::from("."),
                paths: Vec::new(),
                bind: SocketAddr::from(([0u16; 8], 0)),
                user: "share".into(),
                password: String::new(),
                access: AccessMode::ReadOnly,
                anonymous: false,
                passive_ports: None,
                public_host: None,
                tls_mode: TlsMode::Off,
                tls: None,
                require_tls_reuse: false,
                limits: Limits::default(),
                uploads: UploadLimits::default(),
            },
            threads: 0,
        }
    }
}

/// Configures and starts a server. Unset values keep the CLI's defaults;
/// an unset password is generated.
pub struct ServerBuilder {
    config: Config,
    threads: usize,
}

impl ServerBuilder {
    /// Serves this folder as the root (the default is `.`); forgets
    /// paths given with [`share`](Self::share).
    pub fn root(mut self, dir: impl Into<PathBuf>) -> Self {
        self.config.root = dir.into();
        self.config.paths.clear();
        self
    }

    /// Adds a file or folder to share; repeat it to share several. One
    /// folder alone is served as the root, as with [`root`](Self::root).
    /// A file, or several paths, are served as a read-only virtual root
    /// that lists each by its base name; with write access, changes are
    /// allowed inside the shared folders only. Two paths with the same
    /// base name are a [`StartError::Share`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("report.pdf"), b"%PDF")?;
    /// std::fs::create_dir(dir.path().join("photos"))?;
    /// let server = ftpshare::Server::builder()
    ///     .share(dir.path().join("report.pdf"))
    ///     .share(dir.path().join("photos"))
    ///     .bind("127.0.0.1:0".parse()?)
    ///     .start()
    ///     .await?;
    /// let names: Vec<String> = server.paths().into_iter().map(|p| p.name).collect();
    /// assert_eq!(names, ["photos", "report.pdf"]);
    /// assert_eq!(server.root(), None, "no folder is the root");
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn share(mut self, path: impl Into<PathBuf>) -> Self {
        self.config.paths.push(path.into());
        self
    }

    /// Shares exactly these paths, as repeated [`share`](Self::share)
    /// calls would. One file gets a URL that points at it:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let dir = tempfile::tempdir()?;
    /// std::fs::write(dir.path().join("my report.pdf"), b"%PDF")?;
    /// let server = ftpshare::Server::builder()
    ///     .paths([dir.path().join("my report.pdf")])
    ///     .bind("127.0.0.1:0".parse()?)
    ///     .credentials("share", "pw")
    ///     .start()
    ///     .await?;
    /// let port = server.local_addr().port();
    /// assert_eq!(server.url(), format!("ftp://share:pw@127.0.0.1:{port}/my%20report.pdf"));
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    pub fn paths<P: Into<PathBuf>>(mut self, paths: impl IntoIterator<Item = P>) -> Self {
        self.config.paths = paths.into_iter().map(Into::into).collect();
        self
    }
    /// The address to listen on; port 0 picks a free port. `[::]` also
    /// accepts IPv4 (dual stack).
    pub fn bind(mut self, addr: SocketAddr) -> Self {
        self.config.bind = addr;
        self
    }
    pub fn credentials(mut self, user: impl Into<String>, password: impl Into<String>) -> Self {
        self.config.user = user.into();
        self.config.password = password.into();
        self
    }
    pub fn writable(mut self, yes: bool) -> Self {
        self.config.access = if yes {
            AccessMode::Writable
        } else {
            AccessMode::ReadOnly
        };
        self
    }
    pub fn access(mut self, mode: AccessMode) -> Self {
        self.config.access = mode;
        self
    }
    pub fn anonymous(mut self, yes: bool) -> Self {
        self.config.anonymous = yes;
        self
    }
    pub fn passive_ports(mut self, range: RangeInclusive<u16>) -> Self {
        self.config.passive_ports = Some(range);
        self
    }
    pub fn public_host(mut self, host: impl Into<String>) -> Self {
        self.config.public_host = Some(host.into());
        self
    }
    /// Offers FTPS with this certificate, explicit (AUTH TLS) or implicit.
    pub fn tls(mut self, identity: TlsIdentity, mode: TlsMode) -> Self {
        self.config.tls = Some(identity);
        self.config.tls_mode = mode;
        self
    }
    /// Strict FTPS (off by default): every data connection must resume a
    /// TLS session this server issued to a control connection logged in
    /// as the same user from the same address; others get 522.
    pub fn require_tls_reuse(mut self, yes: bool) -> Self {
        self.config.require_tls_reuse = yes;
        self
    }
    pub fn limits(mut self, limits: Limits) -> Self {
        self.config.limits = limits;
        self
    }
    /// Limits on what uploads may store: refused with `552` past the
    /// per-file size or the run's quota, `552` when the disk would keep
    /// less than `min_free` free.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), ftpshare::StartError> {
    /// use ftpshare::{MinFree, UploadLimits};
    /// let dir = tempfile::tempdir().unwrap();
    /// let server = ftpshare::Server::builder()
    ///     .root(dir.path())
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .writable(true)
    ///     .upload_limits(UploadLimits {
    ///         max_upload_size: Some(2 << 20), // 2 MiB per file
    ///         quota: Some(1 << 30),           // 1 GiB in this run
    ///         min_free: MinFree::Auto,        // min(256 MiB, 1 % of the disk)
    ///     })
    ///     .start()
    ///     .await?;
    /// // `Auto` is resolved against the served folder's file system.
    /// assert!(matches!(server.config().uploads.min_free, MinFree::Bytes(_)));
    /// assert_eq!(server.upload_usage().accepted, 0);
    /// server.shutdown().await;
    /// # Ok(()) }
    /// ```
    ///
    /// A limit of zero bytes refuses everything, so `start()` refuses it:
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = ftpshare::Server::builder()
    ///     .bind("127.0.0.1:0".parse().unwrap())
    ///     .upload_limits(ftpshare::UploadLimits {
    ///         quota: Some(0),
    ///         ..Default::default()
    ///     })
    ///     .start()
    ///     .await
    ///     .err()
    ///     .unwrap();
    /// assert!(matches!(err, ftpshare::StartError::Invalid(_)));
    /// # }
    /// ```
    pub fn upload_limits(mut self, limits: UploadLimits) -> Self {
        self.config.uploads = limits;
        self
    }
    pub fn config(&self) -> &Config {
        &self.config
    }
    /// Runs sessions on `n` threads of the server's own, each session on
    /// one thread from start to end (the accept loop on the first),
    /// instead of on the caller's runtime. A work-stealing runtime moves
    /// a session's tasks between its threads, which costs system calls on
    /// every wake-up; one thread per CPU costs none and still uses every
    /// CPU. The command-line program uses one per CPU; 0 (the default)
    /// keeps everything on the caller's runtime.
    pub fn session_threads(mut self, n: usize) -> Self {
        self.threads = n;
        self
    }

    /// Binds, and returns once the server accepts connections.
    pub async fn start(mut self) -> Result<RunningServer, StartError> {
        self.check()?;
        let root = self.open_paths().await?;
        let cfg = &self.config;
        let pasv_ip = match &cfg.public_host {
            None => None,
            // PASV can only announce IPv4; IPv6 clients use EPSV, which
            // names no address, so an IPv6 public host needs nothing here.
            Some(host) if host.trim_matches(['[', ']']).parse::<Ipv6Addr>().is_ok() => None,
            Some(host) => Some(
                resolve_v4(host)
                    .await
                    .ok_or_else(|| StartError::PublicHost { host: host.clone() })?,
            ),
        };
        let bind_failed = |source| StartError::Bind {
            addr: cfg.bind,
            source,
        };
        let listener = bind(cfg.bind).map_err(bind_failed)?;
        let local_addr = listener.local_addr().map_err(bind_failed)?;
        let tracker = TaskTracker::new();
        // Closed and empty, the tracker lets threads already started end.
        let give_up = |e: StartError| {
            tracker.close();
            e
        };
        let threads = SessionThreads::start(self.threads, &tracker).map_err(|e| {
            give_up(StartError::Invalid(format!(
                "cannot start session threads: {e}"
            )))
        })?;
        let first = threads.first().cloned();
        let listener = {
            // Registered with the runtime that polls it.
            let _in = first.as_ref().map(|rt| rt.enter());
            TcpListener::from_std(listener)
        };
        let listener = listener.map_err(|e| give_up(bind_failed(e)))?;

        let (events, _) = broadcast::channel(4096);
        let shared = Arc::new(Shared::new(self.config, root, events, pasv_ip));
        let accept = accept_loop(listener, Arc::clone(&shared), tracker.clone(), threads);
        let accept = match first {
            Some(rt) => rt.spawn(accept),
            None => tokio::spawn(accept),
        };
        Ok(RunningServer {
            shared,
            tracker,
            accept,
            local_addr,
        })
    }

    /// Refuses a configuration that cannot work, before anything is bound.
    fn check(&mut self) -> Result<(), StartError> {
        let cfg = &mut self.config;
        if cfg.password.is_empty() {
            cfg.password = crate::generate_password();
        }
        cfg.limits.check().map_err(StartError::Invalid)?;
        cfg.uploads.check().map_err(StartError::Invalid)?;
        if cfg.tls_mode != TlsMode::Off && cfg.tls.is_none() {
            return Err(StartError::Invalid(
                "TLS mode set without a certificate".into(),
            ));
        }
        match &cfg.passive_ports {
            Some(r) if r.start() > r.end() || *r.start() == 0 => Err(StartError::Invalid(format!(
                "bad passive port range {}-{}",
                r.start(),
                r.end()
            ))),
            _ => Ok(()),
        }
    }

    /// Opens what is shared, and resolves the upload limits against the
    /// disk uploads go to (the served folder, or the first shared folder
    /// of a virtual root). File-system work: off the runtime, which an
    /// embedding program may be using already.
    async fn open_paths(&mut self) -> Result<Share, StartError> {
        let cfg = &mut self.config;
        if cfg.paths.is_empty() {
            cfg.paths.push(cfg.root.clone());
        }
        let given = cfg.paths.clone();
        let (root, shown, disk) = crate::blocking::run(move || {
            let root = Share::open(&given)?;
            let shown = root.paths();
            for folder in shown.iter().filter(|p| p.is_dir) {
                enterable(&folder.path).map_err(|source| ShareError::Open {
                    path: folder.path.display().to_string(),
                    source,
                })?;
            }
            let disk = shown
                .iter()
                .find(|p| p.is_dir)
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
                .and_then(|p| crate::vfs::disk_space(std::fs::File::open(&p.path)?));
            Ok::<_, ShareError>((root, shown, disk))
        })
        .await
        .map_err(|e| StartError::Invalid(format!("opening the shared paths failed: {e}")))??;
        if let Some(folder) = root.folder() {
            cfg.root = folder.to_path_buf();
        }
        cfg.paths = shown.into_iter().map(|p| p.path).collect();
        cfg.uploads = cfg.uploads.resolve(disk.map(|(_, total)| total));
        Ok(root)
    }
}

/// Fails when this process may not even enter `folder`: served as it
/// is, every client would get nothing but refusals. (A folder it may
/// enter but not list, or not write at its top, still serves known paths
/// and writable subfolders.) Where the check itself cannot be made (no
/// faccessat2 under an old seccomp profile, say), the folder is served.
fn enterable(folder: &std::path::Path) -> io::Result<()> {
    use rustix::fs::{Access, AtFlags, CWD};
    match rustix::fs::accessat(CWD, folder, Access::EXEC_OK, AtFlags::EACCESS) {
        Err(e) if e == rustix::io::Errno::ACCESS => Err(e.into()),
        _ => Ok(()),
    }
}

async fn resolve_v4(host: &str) -> Option<Ipv4Addr> {
    if let Ok(ip) = host.parse::<Ipv4Addr>() {
        return Some(ip);
    }
    tokio::net::lookup_host((host, 0))
        .await
        .ok()?
        .find_map(|a| match a.ip() {
            IpAddr::V4(v4) => Some(v4),
            IpAddr::V6(_) => None,
        })
}

/// Binds the control listener; `[::]` is made dual-stack explicitly rather
/// than relying on the system's default.
fn bind(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    if addr.is_ipv6() && addr.ip().is_unspecified() {
        socket.set_only_v6(false)?;
    }
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(1024)?;
    Ok(socket.into())
}

async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tracker: TaskTracker,
    threads: SessionThreads,
) {
    let mut reports = RefusalReports::new();
    loop {
        let (stream, peer) = tokio::select! {
            _ = shared.shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    // Out of descriptors or similar: back off instead of spinning.
                    tracing::warn!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let peer = SocketAddr::new(peer.ip().to_canonical(), peer.port());
        match shared.admit(peer.ip()) {
            Ok(guard) => {
                let shared = Arc::clone(&shared);
                threads.spawn(&tracker, stream, move |stream, seat| async move {
                    if let Some(stream) = stream.here() {
                        crate::connection::run(shared, stream, peer).await;
                    }
                    drop((guard, seat));
                });
            }
            Err(why) => {
                if reports.due((peer.ip(), why), Instant::now()) {
                    tracing::info!(%peer, "refused: {}", why.as_str());
                    shared.emit(Event::Refused { peer, reason: why });
                }
                refuse(stream, why.message());
            }
        }
    }
}

/// One non-blocking write into a fresh socket's empty send buffer, then
/// close: a flood of refused connections costs no task and no waiting.
fn refuse(stream: TcpStream, why: &'static str) {
    use std::io::Write;
    if let Ok(mut s) = stream.into_std() {
        let _ = s.write(format!("421 {why}\r\n").as_bytes());
    }
}

/// Which refusals are reported: the first from an address for a reason
/// in a minute (a ban is reported even when the address was just refused
/// for too many connections). Bounded, so a flood from many addresses
/// cannot grow it; when it is full of recent ones, new ones go unreported
/// until it empties.
struct RefusalReports {
    last: HashMap<(IpAddr, Refused), Instant>,
    pruned: Option<Instant>,
}

impl RefusalReports {
    const EVERY: Duration = Duration::from_secs(60);
    const CAPACITY: usize = 1024;

    fn new() -> RefusalReports {
        RefusalReports {
            last: HashMap::new(),
            pruned: None,
        }
    }

    fn due(&mut self, key: (IpAddr, Refused), now: Instant) -> bool {
        let recent = |t: &Instant| now.saturating_duration_since(*t) < Self::EVERY;
        if self.last.get(&key).is_some_and(recent) {
            return false;
        }
        // Pruning is a scan: at most once a second, and only when full.
        if self.last.len() >= Self::CAPACITY
            && self
                .pruned
                .is_none_or(|p| now.saturating_duration_since(p) >= Duration::from_secs(1))
        {
            self.last.retain(|_, t| recent(t));
            self.pruned = Some(now);
        }
        if self.last.len() >= Self::CAPACITY && !self.last.contains_key(&key) {
            return false;
        }
        self.last.insert(key, now);
        true
    }
}

/// A started server. Dropping it stops it without waiting: it accepts no
/// more, and its sessions end at once, transfers and all. Call
/// [`shutdown`](Self::shutdown) to let running transfers finish.
pub struct RunningServer {
    shared: Arc<Shared>,
    tracker: TaskTracker,
    accept: tokio::task::JoinHandle<()>,
    local_addr: SocketAddr,
}

impl RunningServer {
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    /// The folder served as the root, made absolute; `None` when a file
    /// or several paths are shared under a virtual root.
    pub fn root(&self) -> Option<&std::path::Path> {
        self.shared.root.folder()
    }

    /// What is shared, with the names clients see, sorted by name: one
    /// folder served as the root is named `/`.
    pub fn paths(&self) -> Vec<SharedPath> {
        self.shared.root.paths()
    }

    /// `ftp://user:password@host:port/` with the public host, or the bound
    /// address (loopback when bound to all interfaces); when a single file
    /// is shared, the URL ends with its name.
    pub fn url(&self) -> String {
        let host = match &self.shared.config.public_host {
            Some(h) => h.parse().map(url_host).unwrap_or_else(|_| h.clone()),
            None => url_host(self.local_addr.ip()),
        };
        self.url_for(&host)
    }

    /// The URL for a given host name or address text.
    pub fn url_for(&self, host: &str) -> String {
        let c = &self.shared.config;
        let scheme = if c.tls_mode == TlsMode::Implicit {
            "ftps"
        } else {
            "ftp"
        };
        // A single shared file: the URL opens it directly.
        let file = self.shared.root.single_file().map(url_escape);
        format!(
            "{scheme}://{}:{}@{host}:{}/{}",
            url_escape(&c.user),
            url_escape(&c.password),
            self.local_addr.port(),
            file.unwrap_or_default()
        )
    }

    /// Events from now on. Slow receivers miss events rather than slow
    /// the server (`RecvError::Lagged`); count with
    /// [`completed_transfers`](Self::completed_transfers), which misses none.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.shared.events.subscribe()
    }

    /// How many downloads and uploads have completed without error since
    /// the start, updated after their `TransferFinished` event is sent.
    /// Exact however slow the reader; `changed()` wakes on each update.
    pub fn completed_transfers(&self) -> watch::Receiver<u64> {
        self.shared.completed.subscribe()
    }

    /// Stops accepting, tells connected clients 421, lets running
    /// transfers finish within the grace period, and waits for all sessions.
    pub async fn shutdown(&self) {
        self.shared.shutdown.cancel();
        self.tracker.close();
        let grace = self.shared.config.limits.shutdown_grace + Duration::from_secs(1);
        if tokio::time::timeout(grace, self.tracker.wait())
            .await
            .is_err()
        {
            self.shared.kill.cancel();
            // Aborted transfers end at their next await; anything still
            // stuck after that (a blocking disk call) is left behind.
            let _ = tokio::time::timeout(Duration::from_secs(3), self.tracker.wait()).await;
        }
        // Sessions that ended handed their clean-up (temporary files) to
        // the file-system pool; see it done before the program exits.
        crate::blocking::settle(Duration::from_secs(2)).await;
    }

    /// Aborts running transfers at once (a second Ctrl-C).
    pub fn abort_transfers(&self) {
        self.shared.kill.cancel();
    }

    /// Open control connections right now.
    pub fn connections(&self) -> usize {
        self.shared.connections()
    }

    /// Bytes uploads stored against the quota, and uploads each limit stopped.
    pub fn upload_usage(&self) -> UploadUsage {
        self.shared.budget.usage()
    }
}

impl Drop for RunningServer {
    fn drop(&mut self) {
        // Closed, the tracker lets session threads end with their sessions.
        self.tracker.close();
        self.shared.shutdown.cancel();
        self.shared.kill.cancel();
        self.accept.abort();
    }
}

/// An IP address as the host part of a URL: brackets around IPv6, and
/// loopback for an unspecified address (one can only connect to a real one).
pub fn url_host(ip: IpAddr) -> String {
    match ip {
        ip if ip.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}

/// All but RFC 3986's unreserved characters: what is escaped in userinfo
/// and in a path segment.
const USERINFO: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

/// Percent-encodes text for use as userinfo or one path segment of a URL.
pub fn url_escape(s: &str) -> String {
    utf8_percent_encode(s, USERINFO).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A panic in one session task (forced through a test-only command)
    /// must not take down the accept loop or other sessions, and the
    /// session's connection slot must be given back.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_panicking_session_leaves_the_server_and_other_sessions_running() {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        async fn line(r: &mut BufReader<TcpStream>) -> String {
            let mut l = String::new();
            tokio::time::timeout(Duration::from_secs(10), r.read_line(&mut l))
                .await
                .unwrap()
                .unwrap();
            l
        }
        let dir = tempfile::tempdir().unwrap();
        let server = Server::builder()
            .root(dir.path())
            .bind("127.0.0.1:0".parse().unwrap())
            .start()
            .await
            .unwrap();
        let addr = server.local_addr();
        let mut other = BufReader::new(TcpStream::connect(addr).await.unwrap());
        assert!(line(&mut other).await.starts_with("220"));

        let mut victim = BufReader::new(TcpStream::connect(addr).await.unwrap());
        assert!(line(&mut victim).await.starts_with("220"));
        let mut panic_line = crate::connection::tests::PANIC_LINE.to_vec();
        panic_line.extend_from_slice(b"\r\n");
        victim.get_mut().write_all(&panic_line).await.unwrap();
        assert_eq!(
            line(&mut victim).await,
            "",
            "the panicking session is closed"
        );

        other.get_mut().write_all(b"NOOP\r\n").await.unwrap();
        assert!(line(&mut other).await.starts_with("200"));
        let mut fresh = BufReader::new(TcpStream::connect(addr).await.unwrap());
        assert!(line(&mut fresh).await.starts_with("220"));
        fresh.get_mut().write_all(b"NOOP\r\n").await.unwrap();
        assert!(line(&mut fresh).await.starts_with("200"));
        for _ in 0..100 {
            if server.connections() == 2 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert_eq!(
            server.connections(),
            2,
            "the panicked session's slot is freed"
        );
        server.shutdown().await;
    }

    /// Limits no clock can hold (or that refuse everyone) are a start
    /// error, not a panic in every session after the greeting.
    #[tokio::test]
    async fn start_refuses_limits_that_cannot_work() {
        let dir = tempfile::tempdir().unwrap();
        let cases = [
            Limits {
                idle_timeout: Duration::MAX,
                ..Limits::default()
            },
            Limits {
                shutdown_grace: Duration::from_secs(u64::MAX),
                ..Limits::default()
            },
            Limits {
                max_connections: 0,
                ..Limits::default()
            },
            Limits {
                max_rate: Some(0),
                ..Limits::default()
            },
        ];
        for limits in cases {
            let started = Server::builder()
                .root(dir.path())
                .bind("127.0.0.1:0".parse().unwrap())
                .limits(limits.clone())
                .start()
                .await;
            assert!(matches!(started, Err(StartError::Invalid(_))), "{limits:?}");
        }
        let longest = Limits {
            idle_timeout: Limits::MAX_DURATION,
            ..Limits::default()
        };
        let server = Server::builder()
            .root(dir.path())
            .bind("127.0.0.1:0".parse().unwrap())
            .limits(longest)
            .start()
            .await
            .unwrap();
        server.shutdown().await;
    }

    #[test]
    fn refusals_are_reported_once_a_minute_per_address_and_reason_within_a_bound() {
        use crate::events::Refused::{Banned, MaxConnections};
        let mut r = RefusalReports::new();
        let t0 = Instant::now();
        let a: IpAddr = "127.0.0.2".parse().unwrap();
        assert!(r.due((a, MaxConnections), t0));
        assert!(!r.due((a, MaxConnections), t0 + Duration::from_secs(59)));
        // A ban right after is news, and reported.
        assert!(r.due((a, Banned), t0 + Duration::from_secs(1)));
        assert!(!r.due((a, Banned), t0 + Duration::from_secs(2)));
        assert!(r.due((a, MaxConnections), t0 + Duration::from_secs(61)));
        let mut r = RefusalReports::new();
        for i in 0..RefusalReports::CAPACITY as u32 {
            assert!(r.due((IpAddr::V4(i.into()), Banned), t0));
        }
        let late = ("10.9.9.9".parse().unwrap(), Banned);
        assert!(!r.due(late, t0), "full of recent addresses");
        assert_eq!(r.last.len(), RefusalReports::CAPACITY);
        assert!(r.due(late, t0 + Duration::from_secs(61)), "old ones pruned");
        assert_eq!(r.last.len(), 1);
    }

    #[test]
    fn url_parts() {
        assert_eq!(url_host("::1".parse().unwrap()), "[::1]");
        assert_eq!(url_escape("a b@c"), "a%20b%40c");
        assert_eq!(url_escape("é-._~/:%"), "%C3%A9-._~%2F%3A%25");
    }
}
