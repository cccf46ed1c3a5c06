//! Shared test harness: a server on 127.0.0.1:0 over a temporary folder,
//! a raw control-connection client for exact reply codes, and checksums.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ftpshare::{AccessMode, Limits, RunningServer, Server, ServerBuilder};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;

pub const USER: &str = "tester";
pub const PASS: &str = "s3cret-pass";

pub struct TestServer {
    pub server: RunningServer,
    pub dir: tempfile::TempDir,
    pub addr: SocketAddr,
}

impl TestServer {
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    pub fn url(&self, rel: &str) -> String {
        format!("ftp://{USER}:{PASS}@127.0.0.1:{}/{rel}", self.addr.port())
    }

    pub fn write(&self, rel: &str, bytes: &[u8]) {
        let p = self.path(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(p, bytes).unwrap();
    }

    /// A raw control connection, logged in and switched to TYPE I, as
    /// real clients do before transferring files (the default is ASCII).
    pub async fn login(&self) -> Raw {
        let mut raw = Raw::connect(self.addr).await;
        raw.ok("USER tester", 331).await;
        raw.ok("PASS s3cret-pass", 230).await;
        raw.ok("TYPE I", 200).await;
        raw
    }
}

/// Limits for tests: short waits so failures show quickly.
pub fn test_limits() -> Limits {
    Limits {
        failed_login_delay: Duration::from_millis(50),
        data_timeout: Duration::from_secs(5),
        ..Limits::default()
    }
}

pub async fn start(mode: AccessMode) -> TestServer {
    start_with(|b| b.access(mode)).await
}

pub async fn start_with(f: impl FnOnce(ServerBuilder) -> ServerBuilder) -> TestServer {
    let dir = tempfile::tempdir().unwrap();
    let builder = Server::builder()
        .root(dir.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials(USER, PASS)
        .limits(test_limits());
    let server = f(builder).start().await.unwrap();
    let addr = server.local_addr();
    TestServer { server, dir, addr }
}

/// One reply: its code and all its lines joined with `\n`.
#[derive(Debug, Clone)]
pub struct Reply {
    pub code: u16,
    pub text: String,
}

/// A control connection driven by hand, for exact codes and odd input.
pub struct Raw {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
    pub greeting: Reply,
}

impl Raw {
    pub async fn connect(addr: SocketAddr) -> Raw {
        Raw::over(TcpStream::connect(addr).await.unwrap()).await
    }

    /// A raw client on an already connected stream; reads the greeting.
    pub async fn over(stream: TcpStream) -> Raw {
        let (r, w) = stream.into_split();
        let mut raw = Raw {
            reader: BufReader::new(r),
            writer: w,
            greeting: Reply {
                code: 0,
                text: String::new(),
            },
        };
        raw.greeting = raw.reply().await;
        raw
    }

    pub async fn send_raw(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).await.unwrap();
    }

    /// Sends a command line and returns the reply.
    pub async fn cmd(&mut self, line: &str) -> Reply {
        self.send_raw(format!("{line}\r\n").as_bytes()).await;
        self.reply().await
    }

    /// Sends a command and asserts the reply code.
    pub async fn ok(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line).await;
        assert_eq!(r.code, code, "{line:?} -> {r:?}");
        r
    }

    /// Reads one (possibly multi-line) reply, with a timeout.
    pub async fn reply(&mut self) -> Reply {
        tokio::time::timeout(Duration::from_secs(20), self.read_reply())
            .await
            .expect("timed out waiting for a reply")
    }

    async fn read_reply(&mut self) -> Reply {
        let mut first = String::new();
        let n = self.reader.read_line(&mut first).await.unwrap();
        assert!(n > 0, "connection closed while waiting for a reply");
        let code: u16 = first[..3]
            .parse()
            .unwrap_or_else(|_| panic!("bad reply line {first:?}"));
        let mut text = first.trim_end().to_string();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let mut line = String::new();
                let n = self.reader.read_line(&mut line).await.unwrap();
                assert!(n > 0, "connection closed inside a multi-line reply");
                text.push('\n');
                text.push_str(line.trim_end());
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        Reply { code, text }
    }

    /// True when the server has closed the connection (reads EOF).
    pub async fn closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(
            tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line)).await,
            Ok(Ok(0)) | Ok(Err(_))
        )
    }

    /// EPSV, and a connected data socket.
    pub async fn epsv(&mut self) -> TcpStream {
        let addr = self.epsv_address().await;
        TcpStream::connect(addr).await.unwrap()
    }

    /// EPSV, and a narrow data connection: a 4 KiB receive buffer and
    /// 536-byte segments, both set before it connects, so the server's
    /// socket (whose buffer grows with the segment size) takes only a few
    /// KiB at once.
    pub async fn epsv_narrow(&mut self) -> TcpStream {
        use std::os::fd::AsRawFd;
        let addr = self.epsv_address().await;
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket.set_recv_buffer_size(4096).unwrap();
        let mss: libc::c_int = 536;
        // SAFETY: a valid socket, and an option value of the size given.
        let rc = unsafe {
            libc::setsockopt(
                socket.as_raw_fd(),
                libc::IPPROTO_TCP,
                libc::TCP_MAXSEG,
                (&mss as *const libc::c_int).cast(),
                std::mem::size_of::<libc::c_int>() as libc::socklen_t,
            )
        };
        assert_eq!(rc, 0, "TCP_MAXSEG: {}", std::io::Error::last_os_error());
        socket.connect(addr).await.unwrap()
    }

    /// EPSV: the address to connect the data socket to.
    pub async fn epsv_address(&mut self) -> SocketAddr {
        let r = self.ok("EPSV", 229).await;
        let port: u16 = r
            .text
            .split('|')
            .nth(3)
            .and_then(|p| p.parse().ok())
            .unwrap_or_else(|| panic!("bad EPSV reply {r:?}"));
        SocketAddr::new(self.writer.peer_addr().unwrap().ip(), port)
    }
}

/// Reads a data connection to its end.
pub async fn read_all(mut s: TcpStream) -> Vec<u8> {
    use tokio::io::AsyncReadExt;
    let mut v = Vec::new();
    s.read_to_end(&mut v).await.unwrap();
    v
}

/// Tries a download; returns the reply code of RETR (150 means the data
/// came, and it is returned).
pub async fn try_retr(raw: &mut Raw, path: &str) -> (u16, Vec<u8>) {
    let data = raw.epsv().await;
    let r = raw.cmd(&format!("RETR {path}")).await;
    if r.code != 150 {
        return (r.code, Vec::new());
    }
    let bytes = read_all(data).await;
    assert_eq!(raw.reply().await.code, 226);
    (150, bytes)
}

pub async fn try_list(raw: &mut Raw, cmd: &str) -> (u16, String) {
    let data = raw.epsv().await;
    let r = raw.cmd(cmd).await;
    if r.code != 150 {
        return (r.code, String::new());
    }
    let bytes = read_all(data).await;
    assert_eq!(raw.reply().await.code, 226);
    (150, String::from_utf8(bytes).unwrap())
}

/// Tries an upload; returns the code that refused it, or 226.
pub async fn try_stor(raw: &mut Raw, cmd: &str, bytes: &[u8]) -> u16 {
    let mut data = raw.epsv().await;
    let r = raw.cmd(cmd).await;
    if r.code != 150 {
        return r.code;
    }
    data.write_all(bytes).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    raw.reply().await.code
}

pub fn sha256(bytes: &[u8]) -> String {
    ring::digest::digest(&ring::digest::SHA256, bytes)
        .as_ref()
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Deterministic pseudo-random bytes (no two test files alike).
pub fn pseudo_random(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// Runs an external program (curl, lftp, python3) with a timeout.
pub fn run(program: &str, args: &[&str]) -> std::process::Output {
    let out = std::process::Command::new("timeout")
        .arg("60")
        .arg(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    out
}

/// [`run`] off the runtime's threads, for async tests whose server lives
/// on the same runtime.
pub async fn client(program: &'static str, args: Vec<String>) -> std::process::Output {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(program, &args)
    })
    .await
    .unwrap()
}

/// Whether an external client is installed. Tests use [`need`] instead,
/// which turns a missing client into a failure in CI.
pub fn have(program: &str) -> bool {
    std::process::Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false)
}

/// Whether a test can use `program`. Without it the test says so and is
/// skipped, except in CI (`CI` set), where `.ci/run` installs every client
/// and a missing one must fail the test rather than let it pass unseen.
pub fn need(program: &str) -> bool {
    need_that(program, have(program))
}

/// [`need`] for something other than a program (`present` says whether
/// this machine has it, for example an IPv6 loopback address).
pub fn need_that(what: &str, present: bool) -> bool {
    if present {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{what} is missing, and CI is set: install it (see .ci/run)"
    );
    println!("skipped: {what} is not available here");
    false
}

/// A child process with stdin closed, its stdout delivered line by line
/// and its stderr collected to the end. Lines are split on `\n` as bytes
/// and decoded lossily, so a raw control byte reaches the test as is.
/// Dropping it kills the process.
pub struct Spawned {
    pub child: std::process::Child,
    pub lines: std::sync::mpsc::Receiver<String>,
    stderr: Option<std::thread::JoinHandle<Vec<u8>>>,
}

impl Spawned {
    pub fn new(mut cmd: std::process::Command) -> Spawned {
        use std::io::{BufRead, Read};
        use std::process::Stdio;
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("start {:?}: {e}", cmd.get_program()));
        let stdout = child.stdout.take().unwrap();
        let mut stderr = child.stderr.take().unwrap();
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).split(b'\n') {
                let Ok(line) = line else { break };
                if tx
                    .send(String::from_utf8_lossy(&line).into_owned())
                    .is_err()
                {
                    break;
                }
            }
        });
        let stderr = std::thread::spawn(move || {
            let mut s = Vec::new();
            let _ = stderr.read_to_end(&mut s);
            s
        });
        Spawned {
            child,
            lines,
            stderr: Some(stderr),
        }
    }

    /// All of stderr; waits until the process closes it. Call it once.
    pub fn stderr(&mut self) -> Vec<u8> {
        let reader = self.stderr.take().expect("stderr is read once");
        reader.join().unwrap()
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Asserts that a client run succeeded (showing its output when it did
/// not) and returns its stdout.
pub fn success(what: &str, out: &std::process::Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// lftp logged in to `t` running `script` (`-d` adds its debug output,
/// which shows the replies, on stderr), off the runtime's threads.
pub async fn lftp(t: &TestServer, debug: bool, script: String) -> std::process::Output {
    let mut args: Vec<String> = if debug { vec!["-d".into()] } else { vec![] };
    args.extend([
        "-u".into(),
        format!("{USER},{PASS}"),
        "-p".into(),
        t.addr.port().to_string(),
        "127.0.0.1".into(),
        "-e".into(),
        script,
    ]);
    client("lftp", args).await
}

/// Sends each command (with a data connection ready) and checks that it
/// is refused because the shared folder it needs is gone.
pub async fn each_says_gone(c: &mut Raw, cmds: &[&str]) {
    for cmd in cmds {
        let _d = c.epsv().await;
        let r = c.cmd(cmd).await;
        assert_eq!(r.code, 550, "{cmd}: {r:?}");
        assert!(r.text.contains("shared folder is gone"), "{cmd}: {r:?}");
    }
}

/// The `warning` events received so far.
pub fn warnings(events: &mut tokio::sync::broadcast::Receiver<ftpshare::Event>) -> Vec<String> {
    let mut found = Vec::new();
    while let Ok(e) = events.try_recv() {
        if let ftpshare::Event::Warning { message } = e {
            found.push(message);
        }
    }
    found
}

/// Unmounts (lazily: the server may still hold the root open) on drop.
pub struct Unmount(pub std::path::PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.0)
            .status();
    }
}

/// Temporary upload files (`.ftpshare-…`) anywhere under `dir`, by path.
pub fn temp_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in walkdir(dir) {
        let name = e.file_name().unwrap().to_string_lossy().into_owned();
        if name.starts_with(".ftpshare-") {
            out.push(e.display().to_string());
        }
    }
    out
}

fn walkdir(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let p = e.path();
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                out.extend(walkdir(&p));
            }
            out.push(p);
        }
    }
    out
}

pub async fn wait_for(what: &str, mut cond: impl FnMut() -> bool) {
    let start = std::time::Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting for {what}; open descriptors: {:?}",
            std::fs::read_dir("/proc/self/fd")
                .unwrap()
                .filter_map(|e| std::fs::read_link(e.unwrap().path()).ok())
                .collect::<Vec<_>>()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
