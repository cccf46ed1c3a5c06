//! FTPS (RFC 4217) with real clients: curl (OpenSSL), lftp (GnuTLS),
//! Python's ftplib, suppaftp (rustls), openssl s_client, and a raw rustls
//! client for exact reply codes and misbehaviour (cut uploads, stalled
//! handshakes).

mod common;

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::*;
use ftpshare::{AccessMode, Limits, TlsIdentity, TlsMode};
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};

type Tls = tokio_rustls::client::TlsStream<TcpStream>;

fn identity() -> TlsIdentity {
    TlsIdentity::self_signed(&["localhost".into(), "127.0.0.1".into()]).unwrap()
}

async fn tls_server(mode: TlsMode, reuse: bool) -> (TestServer, TlsIdentity) {
    tls_server_with(mode, reuse, test_limits()).await
}

async fn tls_server_with(mode: TlsMode, reuse: bool, limits: Limits) -> (TestServer, TlsIdentity) {
    let id = identity();
    let t = start_with(|b| {
        b.access(AccessMode::Writable)
            .tls(id.clone(), mode)
            .require_tls_reuse(reuse)
            .limits(limits)
    })
    .await;
    (t, id)
}

/// Runs an external client off the runtime's threads (the server under
/// test runs on them).
async fn run_client(program: &str, args: &[&str]) -> Output {
    let program = program.to_string();
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        run(&program, &args)
    })
    .await
    .unwrap()
}

fn text(out: &Output) -> String {
    format!(
        "status {:?}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn assert_success(out: &Output) {
    assert!(out.status.success(), "{}", text(out));
}

/// Everything in a folder, hidden files included (to spot temp files).
fn entries(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn file_sha(t: &TestServer, rel: &str) -> String {
    sha256(&std::fs::read(t.path(rel)).unwrap())
}

// ---------------------------------------------------------------------
// A raw FTPS client on rustls: exact reply codes, and what polite clients
// never do.
// ---------------------------------------------------------------------

/// A client configuration trusting only `id`, with its own session cache
/// (each control connection must resume its own sessions).
fn client_config(
    id: &TlsIdentity,
    versions: &[&'static rustls::SupportedProtocolVersion],
) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from(id.certificate_der().to_vec()))
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Arc::new(
        rustls::ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

async fn read_reply<R: AsyncBufRead + Unpin>(r: &mut R) -> Reply {
    let read = async {
        let mut first = String::new();
        let n = r.read_line(&mut first).await.unwrap();
        assert!(n > 0, "connection closed while waiting for a reply");
        let code: u16 = first[..3].parse().unwrap();
        let mut text = first.trim_end().to_string();
        if first.as_bytes().get(3) == Some(&b'-') {
            let end = format!("{code} ");
            loop {
                let mut line = String::new();
                assert!(r.read_line(&mut line).await.unwrap() > 0);
                text.push('\n');
                text.push_str(line.trim_end());
                if line.starts_with(&end) {
                    break;
                }
            }
        }
        Reply { code, text }
    };
    tokio::time::timeout(Duration::from_secs(20), read)
        .await
        .expect("timed out waiting for a reply")
}

struct TlsRaw {
    ctl: BufReader<Tls>,
    connector: tokio_rustls::TlsConnector,
    addr: SocketAddr,
}

impl TlsRaw {
    fn name() -> ServerName<'static> {
        ServerName::try_from("localhost").unwrap()
    }

    /// Explicit FTPS: AUTH TLS on a plain connection.
    async fn explicit(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsRaw {
        Self::explicit_with(addr, config, "TLS").await
    }

    async fn explicit_with(
        addr: SocketAddr,
        config: Arc<rustls::ClientConfig>,
        mechanism: &str,
    ) -> TlsRaw {
        let mut raw = Raw::connect(addr).await;
        assert_eq!(raw.greeting.code, 220);
        raw.ok(&format!("AUTH {mechanism}"), 234).await;
        let tcp = raw.reader.into_inner().reunite(raw.writer).unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector.connect(Self::name(), tcp).await.unwrap();
        TlsRaw {
            ctl: BufReader::new(tls),
            connector,
            addr,
        }
    }

    /// Implicit FTPS: TLS from the first byte, then the greeting.
    async fn implicit(addr: SocketAddr, config: Arc<rustls::ClientConfig>) -> TlsRaw {
        let tcp = TcpStream::connect(addr).await.unwrap();
        let connector = tokio_rustls::TlsConnector::from(config);
        let tls = connector.connect(Self::name(), tcp).await.unwrap();
        let mut c = TlsRaw {
            ctl: BufReader::new(tls),
            connector,
            addr,
        };
        assert_eq!(c.reply().await.code, 220);
        c
    }

    async fn send(&mut self, line: &str) {
        let s = self.ctl.get_mut();
        s.write_all(format!("{line}\r\n").as_bytes()).await.unwrap();
        s.flush().await.unwrap();
    }

    async fn reply(&mut self) -> Reply {
        read_reply(&mut self.ctl).await
    }

    async fn cmd(&mut self, line: &str) -> Reply {
        self.send(line).await;
        self.reply().await
    }

    async fn ok(&mut self, line: &str, code: u16) -> Reply {
        let r = self.cmd(line).await;
        assert_eq!(r.code, code, "{line:?} -> {r:?}");
        r
    }

    async fn login(&mut self) {
        self.ok(&format!("USER {USER}"), 331).await;
        self.ok(&format!("PASS {PASS}"), 230).await;
        self.ok("TYPE I", 200).await;
    }

    async fn protect(&mut self) {
        let r = self.ok("PBSZ 0", 200).await;
        assert!(r.text.contains("PBSZ=0"), "{r:?}");
        self.ok("PROT P", 200).await;
    }

    fn conn(&self) -> &rustls::ClientConnection {
        self.ctl.get_ref().get_ref().1
    }

    async fn epsv(&mut self) -> TcpStream {
        let r = self.ok("EPSV", 229).await;
        let port: u16 = r.text.split('|').nth(3).unwrap().parse().unwrap();
        TcpStream::connect(SocketAddr::new(self.addr.ip(), port))
            .await
            .unwrap()
    }

    /// EPRT to a fresh listener; the server connects when a transfer starts.
    async fn eprt(&mut self) -> TcpListener {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = l.local_addr().unwrap().port();
        self.ok(&format!("EPRT |1|127.0.0.1|{port}|"), 200).await;
        l
    }

    async fn secure(&self, tcp: TcpStream) -> io::Result<Tls> {
        self.connector.connect(Self::name(), tcp).await
    }

    /// A transfer command whose data comes to us (RETR, LIST, NLST, MLSD),
    /// passive or active; returns the bytes and the final reply.
    async fn fetch(&mut self, line: &str, active: bool) -> (Vec<u8>, Reply) {
        self.fetch_after(None, line, active).await
    }

    /// `fetch`, with `before` (REST) sent right before the transfer
    /// command, as RFC 3659 wants.
    async fn fetch_after(
        &mut self,
        before: Option<(&str, u16)>,
        line: &str,
        active: bool,
    ) -> (Vec<u8>, Reply) {
        let tcp = if active {
            let l = self.eprt().await;
            if let Some((cmd, code)) = before {
                self.ok(cmd, code).await;
            }
            self.send(line).await;
            l.accept().await.unwrap().0
        } else {
            let tcp = self.epsv().await;
            if let Some((cmd, code)) = before {
                self.ok(cmd, code).await;
            }
            self.send(line).await;
            tcp
        };
        let r = self.reply().await;
        assert_eq!(r.code, 150, "{line:?} -> {r:?}");
        let mut tls = self.secure(tcp).await.unwrap();
        assert_eq!(
            tls.get_ref().1.handshake_kind(),
            Some(rustls::HandshakeKind::Resumed),
            "data connection should resume the control connection's session"
        );
        let mut got = Vec::new();
        tls.read_to_end(&mut got).await.unwrap();
        (got, self.reply().await)
    }

    /// A transfer command whose data goes to the server (STOR, APPE,
    /// STOU), ended with close_notify; returns the 150 and the final reply.
    async fn push(&mut self, line: &str, bytes: &[u8], active: bool) -> (Reply, Reply) {
        let tcp = if active {
            let l = self.eprt().await;
            self.send(line).await;
            l.accept().await.unwrap().0
        } else {
            let tcp = self.epsv().await;
            self.send(line).await;
            tcp
        };
        let opening = self.reply().await;
        assert_eq!(opening.code, 150, "{line:?} -> {opening:?}");
        let mut tls = self.secure(tcp).await.unwrap();
        tls.write_all(bytes).await.unwrap();
        tls.shutdown().await.unwrap();
        (opening, self.reply().await)
    }
}

// ---------------------------------------------------------------------
// curl (OpenSSL): resumes the control connection's session.
// ---------------------------------------------------------------------

fn curl_url(t: &TestServer, scheme: &str, rel: &str) -> String {
    format!("{scheme}://{USER}:{PASS}@127.0.0.1:{}/{rel}", t.addr.port())
}

fn curl_active_ftps_broken() -> bool {
    let out = run("curl", &["--version"]);
    let text = String::from_utf8_lossy(&out.stdout);
    ["curl 7.87.", "curl 7.88."]
        .iter()
        .any(|v| text.starts_with(v))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_explicit_with_reuse_required() {
    if !need("curl") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let data = pseudo_random(2_000_000, 11);
    t.write("down.bin", &data);
    let up = pseudo_random(3_000_000, 12);
    let dir = tempfile::tempdir().unwrap();
    let up_path = dir.path().join("up.bin");
    std::fs::write(&up_path, &up).unwrap();
    let up_path = up_path.to_str().unwrap();

    // curl 7.87 and 7.88 (Debian 12) cannot do active FTPS (their bug,
    // curl issue 10666); active mode is also covered with lftp, suppaftp
    // and the raw client.
    let mut modes = vec![("passive", Vec::<&str>::new())];
    if !curl_active_ftps_broken() {
        modes.push(("active", vec!["-P", "127.0.0.1"]));
    }
    for (mode, extra) in modes {
        let base = |more: &[&str]| {
            let mut v = vec!["-sS", "--ssl-reqd", "-k"];
            v.extend_from_slice(&extra);
            v.extend_from_slice(more);
            v.iter().map(|s| s.to_string()).collect::<Vec<_>>()
        };
        let call = |args: Vec<String>| async move {
            let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
            run_client("curl", &a).await
        };

        let out = call(base(&[&curl_url(&t, "ftp", "down.bin")])).await;
        assert_success(&out);
        assert_eq!(sha256(&out.stdout), sha256(&data), "{mode} RETR");

        let out = call(base(&["-C", "123456", &curl_url(&t, "ftp", "down.bin")])).await;
        assert_success(&out);
        assert_eq!(
            sha256(&out.stdout),
            sha256(&data[123_456..]),
            "{mode} REST+RETR"
        );

        let name = format!("up-{mode}.bin");
        let out = call(base(&["-T", up_path, &curl_url(&t, "ftp", &name)])).await;
        assert_success(&out);
        assert_eq!(file_sha(&t, &name), sha256(&up), "{mode} STOR");

        let out = call(base(&[
            "--append",
            "-T",
            up_path,
            &curl_url(&t, "ftp", &name),
        ]))
        .await;
        assert_success(&out);
        let twice = [up.clone(), up.clone()].concat();
        assert_eq!(file_sha(&t, &name), sha256(&twice), "{mode} APPE");

        let out = call(base(&[&curl_url(&t, "ftp", "")])).await;
        assert_success(&out);
        let listing = String::from_utf8_lossy(&out.stdout);
        assert!(
            listing.contains("2000000") && listing.contains("down.bin"),
            "{mode} LIST: {listing}"
        );

        let out = call(base(&["--list-only", &curl_url(&t, "ftp", "")])).await;
        assert_success(&out);
        let names = String::from_utf8_lossy(&out.stdout);
        assert!(
            names.lines().any(|l| l == "down.bin"),
            "{mode} NLST: {names}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_tls12_and_tls13() {
    if !need("curl") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let data = pseudo_random(500_000, 13);
    t.write("v.bin", &data);
    let url = curl_url(&t, "ftp", "v.bin");
    for versions in [
        ["--tlsv1.2", "--tls-max", "1.2"],
        ["--tlsv1.3", "--tls-max", "1.3"],
    ] {
        let mut args = vec!["-sS", "--ssl-reqd", "-k", "-v"];
        args.extend_from_slice(&versions);
        args.push(&url);
        let out = run_client("curl", &args).await;
        assert_success(&out);
        assert_eq!(sha256(&out.stdout), sha256(&data), "{versions:?}");
        let want = if versions[0] == "--tlsv1.2" {
            "TLSv1.2"
        } else {
            "TLSv1.3"
        };
        let log = String::from_utf8_lossy(&out.stderr);
        assert!(
            log.contains(&format!("SSL connection using {want}")),
            "{versions:?}: {log}"
        );
    }
}

/// Every data connection adds TLS 1.3 tickets to the control connection's
/// store and curl resumes the newest: dozens of transfers on one control
/// connection must all resume.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_many_transfers_on_one_connection_all_resume() {
    if !need("curl") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let mut events = t.server.subscribe();
    let mut want = Vec::new();
    let mut args: Vec<String> = ["-sS", "--ssl-reqd", "-k"].map(String::from).to_vec();
    for i in 0..40 {
        let body = format!("file number {i}\n");
        t.write(&format!("f{i}.txt"), body.as_bytes());
        want.extend_from_slice(body.as_bytes());
        args.push(curl_url(&t, "ftp", &format!("f{i}.txt")));
    }
    let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
    let out = run_client("curl", &a).await;
    assert_success(&out);
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&want)
    );
    // All on one control connection (curl reuses it), none failed.
    let mut connects = 0;
    let mut finished = 0;
    while finished < 40 {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
            .await
            .expect("40 transfers reported")
            .unwrap();
        match e {
            ftpshare::Event::Connected { .. } => connects += 1,
            ftpshare::Event::TransferFinished { error, path, .. } => {
                assert!(error.is_none(), "{path}: {error:?}");
                finished += 1;
            }
            _ => {}
        }
    }
    assert_eq!(connects, 1);
    assert_eq!(finished, 40);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_implicit_download_and_upload() {
    if !need("curl") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Implicit, true).await;
    let data = pseudo_random(1_500_000, 14);
    t.write("down.bin", &data);
    let out = run_client("curl", &["-sS", "-k", &curl_url(&t, "ftps", "down.bin")]).await;
    assert_success(&out);
    assert_eq!(sha256(&out.stdout), sha256(&data));

    let up = pseudo_random(2_500_000, 15);
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("up.bin");
    std::fs::write(&p, &up).unwrap();
    let out = run_client(
        "curl",
        &[
            "-sS",
            "-k",
            "-T",
            p.to_str().unwrap(),
            &curl_url(&t, "ftps", "up.bin"),
        ],
    )
    .await;
    assert_success(&out);
    assert_eq!(file_sha(&t, "up.bin"), sha256(&up));

    // Plain FTP on the implicit port gets nowhere.
    let out = run_client(
        "curl",
        &["-sS", "--max-time", "15", &curl_url(&t, "ftp", "down.bin")],
    )
    .await;
    assert!(!out.status.success(), "{}", text(&out));
}

// ---------------------------------------------------------------------
// suppaftp (rustls)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppaftp_rustls_list_retr_put_with_reuse_required() {
    use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    let data = pseudo_random(700_000, 16);
    t.write("s.bin", &data);

    let ftp = AsyncRustlsFtpStream::connect(t.addr).await.unwrap();
    // Its certificate is the only one trusted: a wrong one fails here.
    let config = client_config(&id, rustls::ALL_VERSIONS);
    let connector = AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(config));
    let mut ftp = ftp.into_secure(connector, "localhost").await.unwrap();
    ftp.login(USER, PASS).await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .await
        .unwrap();

    let list = ftp.list(None).await.unwrap();
    assert!(list.iter().any(|l| l.ends_with(" s.bin")), "{list:?}");
    assert_eq!(ftp.nlst(None).await.unwrap(), vec!["s.bin".to_string()]);
    let mlsd = ftp.mlsd(None).await.unwrap();
    assert!(
        mlsd.iter()
            .any(|l| l.contains("size=700000;") && l.ends_with(" s.bin")),
        "{mlsd:?}"
    );

    let mut download = ftp.retr_as_stream("s.bin").await.unwrap();
    let mut got = Vec::new();
    download.read_to_end(&mut got).await.unwrap();
    download.finish().await.unwrap();
    assert_eq!(sha256(&got), sha256(&data));

    let up = pseudo_random(1_200_000, 17);
    ftp.put_file("s-up.bin", &mut std::io::Cursor::new(up.clone()))
        .await
        .unwrap();
    assert_eq!(file_sha(&t, "s-up.bin"), sha256(&up));
    // A run of uploads: rustls uses each ticket once and uploads give none
    // back, so these live on the stock from the last listing/download.
    for i in 0..5 {
        let name = format!("s-up{i}.bin");
        ftp.put_file(&name, &mut std::io::Cursor::new(up.clone()))
            .await
            .unwrap();
        assert_eq!(file_sha(&t, &name), sha256(&up));
    }

    // Active mode too.
    let mut ftp = ftp.active_mode(Duration::from_secs(10));
    let mut download = ftp.retr_as_stream("s-up.bin").await.unwrap();
    let mut got = Vec::new();
    download.read_to_end(&mut got).await.unwrap();
    download.finish().await.unwrap();
    assert_eq!(sha256(&got), sha256(&up));
    ftp.quit().await.unwrap();
}

// ---------------------------------------------------------------------
// Python's ftplib: never resumes the control connection's session.
// ---------------------------------------------------------------------

const FTPLIB_ROUND_TRIP: &str = r#"
import ftplib, hashlib, io, ssl, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", port)
f.login(user, pw)
f.prot_p()
lines = []
f.retrlines("LIST", lines.append)
print("LIST", "|".join(lines))
buf = io.BytesIO()
f.retrbinary("RETR py.bin", buf.write)
print("RETR", hashlib.sha256(buf.getvalue()).hexdigest())
up = bytes((i * 7 + 3) % 251 for i in range(1_000_000))
print("STOR", f.storbinary("STOR py-up.bin", io.BytesIO(up)), hashlib.sha256(up).hexdigest())
f.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_prot_p_without_reuse_enforcement() {
    if !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, false).await;
    let data = pseudo_random(900_000, 18);
    t.write("py.bin", &data);
    let port = t.addr.port().to_string();
    let out = run_client("python3", &["-c", FTPLIB_ROUND_TRIP, &port, USER, PASS]).await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let line = |key: &str| {
        stdout
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key} ")))
            .unwrap_or_else(|| panic!("no {key} in {stdout}"))
            .to_string()
    };
    assert!(line("LIST").contains("py.bin"), "{stdout}");
    assert_eq!(line("RETR"), sha256(&data));
    let stor = line("STOR");
    assert!(stor.starts_with("226"), "{stor}");
    let sent_sha = stor.rsplit(' ').next().unwrap();
    assert_eq!(file_sha(&t, "py-up.bin"), sent_sha);
}

const FTPLIB_REFUSED: &str = r#"
import ftplib, ssl, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", port)
f.login(user, pw)
f.prot_p()
try:
    f.retrlines("NLST", print)
    print("TRANSFER worked")
except ftplib.error_temp as e:
    print("REPLY", e)
except (ssl.SSLError, OSError) as e:
    # The data connection broke; its 425 is still to be read.
    try:
        f.getresp()
        print("REPLY none")
    except ftplib.error_temp as e:
        print("REPLY", e)
print("NOOP", f.voidcmd("NOOP"))
print("PWD", f.pwd())
f.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_data_connection_is_refused_when_reuse_is_required() {
    if !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    t.write("x.txt", b"x");
    let port = t.addr.port().to_string();
    let out = run_client("python3", &["-c", FTPLIB_REFUSED, &port, USER, PASS]).await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(!stdout.contains("TRANSFER worked"), "{stdout}");
    let reply = stdout.lines().find(|l| l.starts_with("REPLY ")).unwrap();
    assert!(
        reply.starts_with("REPLY 425") && reply.contains("reuse"),
        "{stdout}"
    );
    assert!(stdout.contains("NOOP 200"), "{stdout}");
    assert!(stdout.contains("PWD /"), "{stdout}");
}

/// ftplib taught to resume the control connection's session (what the
/// README suggests to Python users) passes with reuse enforced.
const FTPLIB_RESUMING: &str = r#"
import ftplib, hashlib, io, ssl, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]

class Resuming(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        if self._prot_p:
            conn = self.context.wrap_socket(
                conn, server_hostname=self.host, session=self.sock.session)
        return conn, size

ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = Resuming(context=ctx, timeout=30)
f.connect("127.0.0.1", port)
f.login(user, pw)
f.prot_p()
print("NLST", ",".join(f.nlst()))
buf = io.BytesIO()
f.retrbinary("RETR py.bin", buf.write)
print("RETR", hashlib.sha256(buf.getvalue()).hexdigest())
print("STOR", f.storbinary("STOR py-up.bin", io.BytesIO(buf.getvalue())))
f.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_resuming_the_session_passes_with_reuse_required() {
    if !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let data = pseudo_random(600_000, 26);
    t.write("py.bin", &data);
    let port = t.addr.port().to_string();
    let out = run_client("python3", &["-c", FTPLIB_RESUMING, &port, USER, PASS]).await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("NLST py.bin"), "{stdout}");
    assert!(
        stdout.contains(&format!("RETR {}", sha256(&data))),
        "{stdout}"
    );
    assert!(stdout.contains("STOR 226"), "{stdout}");
    assert_eq!(file_sha(&t, "py-up.bin"), sha256(&data));
}

// ---------------------------------------------------------------------
// lftp (GnuTLS)
// ---------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_get_and_put_several_megabytes() {
    if !need("lftp") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let data = pseudo_random(3_000_000, 19);
    t.write("l.bin", &data);
    let up = pseudo_random(6_000_000, 20);
    let dir = tempfile::tempdir().unwrap();
    let local_up = dir.path().join("up.bin");
    std::fs::write(&local_up, &up).unwrap();
    let local_down = dir.path().join("down.bin");
    // Passive, then active for the second upload.
    let script = format!(
        "set ftp:ssl-force true; set ftp:ssl-protect-data true; set ssl:verify-certificate no; \
         set net:max-retries 1; set net:timeout 20; \
         put {} -o l-up.bin; get l.bin -o {}; set ftp:passive-mode off; \
         put {} -o l-up2.bin; cls -1; bye",
        local_up.display(),
        local_down.display(),
        local_up.display()
    );
    let port = t.addr.port().to_string();
    let user = format!("{USER},{PASS}");
    let out = run_client(
        "lftp",
        &["-e", &script, "-u", &user, "-p", &port, "127.0.0.1"],
    )
    .await;
    assert_success(&out);
    assert_eq!(file_sha(&t, "l-up.bin"), sha256(&up));
    assert_eq!(file_sha(&t, "l-up2.bin"), sha256(&up));
    assert_eq!(sha256(&std::fs::read(&local_down).unwrap()), sha256(&data));
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.lines().any(|l| l == "l.bin"), "{listing}");
    assert_eq!(entries(t.root()), ["l-up.bin", "l-up2.bin", "l.bin"]);
}

// ---------------------------------------------------------------------
// Reply codes (RFC 4217, RFC 2228)
// ---------------------------------------------------------------------

fn feat_lines(r: &Reply) -> Vec<String> {
    r.text
        .lines()
        .filter(|l| l.starts_with(' '))
        .map(|l| l.trim().to_string())
        .collect()
}

#[tokio::test]
async fn explicit_tls_reply_codes() {
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    t.write("a.txt", b"hello");
    let mut raw = Raw::connect(t.addr).await;
    let feat = feat_lines(&raw.ok("FEAT", 211).await);
    for f in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(feat.iter().any(|l| l == f), "{feat:?}");
    }
    let r = raw.ok(&format!("USER {USER}"), 530).await;
    assert!(r.text.contains("AUTH TLS"), "a hint on what to do: {r:?}");
    raw.ok("PBSZ 0", 503).await;
    raw.ok("PROT P", 503).await;
    raw.ok("AUTH KERBEROS_V4", 504).await;
    raw.ok("CCC", 533).await; // RFC 2228: CCC must itself be protected
    drop(raw);

    let mut c = TlsRaw::explicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    c.ok("AUTH TLS", 503).await;
    c.login().await;
    c.ok("PROT P", 503).await; // before PBSZ
    c.ok("PBSZ 0", 200).await;
    c.ok("PROT C", 534).await;
    c.ok("PROT S", 536).await;
    c.ok("CCC", 534).await;
    // Still PROT C (the default): a transfer is refused before any data
    // connection is made.
    let _data = c.epsv().await;
    c.ok("RETR a.txt", 521).await;
    c.ok("LIST", 521).await;
    c.ok("STOR b.txt", 521).await;
    assert!(!t.path("b.txt").exists());
    c.ok("PROT P", 200).await;
    let (got, done) = c.fetch("RETR a.txt", false).await;
    assert_eq!(got, b"hello");
    assert_eq!(done.code, 226);
    c.ok("QUIT", 221).await;

    // AUTH SSL, the older name, works the same.
    let mut c =
        TlsRaw::explicit_with(t.addr, client_config(&id, rustls::ALL_VERSIONS), "SSL").await;
    c.login().await;
    c.protect().await;
    let (got, done) = c.fetch("RETR a.txt", false).await;
    assert_eq!((got.as_slice(), done.code), (&b"hello"[..], 226));
}

/// Plain-text commands pipelined behind AUTH TLS would be taken as if
/// they came over TLS (the STARTTLS injection attack): the connection is
/// closed instead.
#[tokio::test]
async fn commands_pipelined_after_auth_tls_are_refused() {
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let mut raw = Raw::connect(t.addr).await;
    raw.send_raw(format!("AUTH TLS\r\nUSER {USER}\r\n").as_bytes())
        .await;
    assert_eq!(raw.reply().await.code, 234);
    let r = raw.reply().await;
    assert_eq!(r.code, 421, "{r:?}");
    assert!(raw.closed().await);
}

#[tokio::test]
async fn feat_without_tls_and_with_implicit_tls() {
    let t = start(AccessMode::ReadOnly).await;
    let mut raw = Raw::connect(t.addr).await;
    let feat = feat_lines(&raw.ok("FEAT", 211).await);
    assert!(feat.iter().any(|l| l == "EPSV"), "{feat:?}");
    for f in ["AUTH TLS", "PBSZ", "PROT"] {
        assert!(!feat.iter().any(|l| l == f), "{f} without TLS: {feat:?}");
    }
    raw.ok("AUTH TLS", 502).await;
    raw.ok("PBSZ 0", 503).await;
    raw.ok(&format!("USER {USER}"), 331).await;

    let (t, id) = tls_server(TlsMode::Implicit, true).await;
    let mut c = TlsRaw::implicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    let feat = feat_lines(&c.ok("FEAT", 211).await);
    assert!(
        feat.iter().any(|l| l == "PBSZ") && feat.iter().any(|l| l == "PROT"),
        "{feat:?}"
    );
    assert!(!feat.iter().any(|l| l.starts_with("AUTH")), "{feat:?}");
    c.ok("AUTH TLS", 503).await;
}

// ---------------------------------------------------------------------
// Every data command over PROT P, passive and active; TLS 1.2 and 1.3.
// ---------------------------------------------------------------------

#[tokio::test]
async fn all_data_commands_protected_passive_and_active() {
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    let data = pseudo_random(400_000, 21);
    t.write("r.bin", &data);
    for versions in [
        &[&rustls::version::TLS12][..],
        &[&rustls::version::TLS13][..],
    ] {
        let mut c = TlsRaw::explicit(t.addr, client_config(&id, versions)).await;
        assert_eq!(c.conn().protocol_version(), Some(versions[0].version));
        c.login().await;
        c.protect().await;
        c.ok("TYPE I", 200).await;
        for active in [false, true] {
            let tag = format!(
                "{:?}-{}",
                versions[0].version,
                if active { "active" } else { "passive" }
            );
            let (got, done) = c.fetch("RETR r.bin", active).await;
            assert_eq!(done.code, 226, "{tag}");
            assert_eq!(sha256(&got), sha256(&data), "{tag}");
            let rest = Some(("REST 123456", 350));
            let (got, done) = c.fetch_after(rest, "RETR r.bin", active).await;
            assert_eq!(done.code, 226, "{tag}");
            assert_eq!(sha256(&got), sha256(&data[123_456..]), "{tag} REST");

            let (got, done) = c.fetch("LIST", active).await;
            assert_eq!(done.code, 226, "{tag}");
            assert!(String::from_utf8_lossy(&got).contains("r.bin"), "{tag}");
            let (got, done) = c.fetch("NLST", active).await;
            assert_eq!(done.code, 226, "{tag}");
            assert!(
                String::from_utf8_lossy(&got).lines().any(|l| l == "r.bin"),
                "{tag}"
            );
            let (got, done) = c.fetch("MLSD", active).await;
            assert_eq!(done.code, 226, "{tag}");
            assert!(
                String::from_utf8_lossy(&got).contains("size=400000;"),
                "{tag}"
            );

            let name = format!("{tag}.bin");
            let part = pseudo_random(300_000, 22);
            let (_, done) = c.push(&format!("STOR {name}"), &part, active).await;
            assert_eq!(done.code, 226, "{tag}");
            let (_, done) = c.push(&format!("APPE {name}"), &part, active).await;
            assert_eq!(done.code, 226, "{tag}");
            assert_eq!(
                file_sha(&t, &name),
                sha256(&[part.clone(), part.clone()].concat())
            );

            let (opening, done) = c.push("STOU", &part, active).await;
            assert_eq!(done.code, 226, "{tag}: {done:?}");
            // The name is announced in the 150 (RFC 1123) and the 226.
            let stored = done.text.rsplit("stored as ").next().unwrap().trim();
            assert!(
                opening.text.contains(&format!("FILE: {stored}")),
                "{tag}: {opening:?}"
            );
            assert_eq!(file_sha(&t, stored), sha256(&part), "{tag}");
            std::fs::remove_file(t.path(stored)).unwrap();
        }
        c.ok("QUIT", 221).await;
    }
}

// ---------------------------------------------------------------------
// Fingerprints
// ---------------------------------------------------------------------

#[tokio::test]
async fn fingerprint_is_the_certificate_clients_receive() {
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    let c = TlsRaw::explicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    let certs = c.conn().peer_certificates().unwrap();
    assert_eq!(ftpshare::fingerprint(&certs[0]), id.fingerprint());
    assert_eq!(certs[0].as_ref(), id.certificate_der());
    let fp = id.fingerprint();
    assert_eq!(fp.len(), 32 * 3 - 1);
    assert_eq!(
        fp.replace(':', "").to_lowercase(),
        sha256(id.certificate_der())
    );
}

/// The ftpshare binary, started with `args`; its JSON ready line and the
/// child (killed on drop).
struct Binary {
    child: std::process::Child,
    ready: serde_json::Value,
}

impl Drop for Binary {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start_binary(dir: &Path, args: &[&str]) -> Binary {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftpshare"))
        .arg(dir)
        .args([
            "--json",
            "-b",
            "127.0.0.1",
            "-p",
            "0",
            "--no-qr",
            "-t",
            "2m",
        ])
        .args(["--password", PASS, "-u", USER])
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("not a JSON ready line ({e}): {line:?}"));
    assert_eq!(ready["event"], "ready", "{line}");
    Binary { child, ready }
}

/// SHA-256 of the certificate `openssl s_client` receives, as AB:CD:…
fn openssl_fingerprint(port: u16, starttls: bool) -> String {
    let connect = format!("127.0.0.1:{port}");
    let mut args = vec!["s_client", "-connect", &connect, "-showcerts"];
    if starttls {
        args.extend(["-starttls", "ftp"]);
    }
    let mut child = Command::new("timeout")
        .arg("30")
        .arg("openssl")
        .args(&args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut out = String::new();
    std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
    child.wait().unwrap();
    let pem: String = out
        .split_inclusive('\n')
        .skip_while(|l| !l.starts_with("-----BEGIN CERTIFICATE-----"))
        .take_while(|l| !l.starts_with("-----END CERTIFICATE-----"))
        .chain(std::iter::once("-----END CERTIFICATE-----\n"))
        .collect();
    assert!(
        pem.starts_with("-----BEGIN"),
        "no certificate from s_client: {out}"
    );
    let mut x509 = Command::new("openssl")
        .args(["x509", "-noout", "-fingerprint", "-sha256"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(x509.stdin.as_mut().unwrap(), pem.as_bytes()).unwrap();
    let out = x509.wait_with_output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    text.trim().rsplit('=').next().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_prints_the_fingerprint_openssl_sees() {
    if !need("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (flag, starttls) in [("--tls", true), ("--implicit-tls", false)] {
        let bin = start_binary(dir.path(), &[flag]);
        assert_eq!(bin.ready["tls"], true);
        let printed = bin.ready["tls_fingerprint"].as_str().unwrap().to_string();
        let port = bin.ready["port"].as_u64().unwrap() as u16;
        let seen = tokio::task::spawn_blocking(move || openssl_fingerprint(port, starttls))
            .await
            .unwrap();
        assert_eq!(seen, printed, "{flag}");
        if flag == "--implicit-tls" {
            assert!(bin.ready["url"].as_str().unwrap().starts_with("ftps://"));
        }
    }
    // Without TLS there is no fingerprint.
    let bin = start_binary(dir.path(), &[]);
    assert_eq!(bin.ready["tls"], false);
    assert!(bin.ready["tls_fingerprint"].is_null());
}

/// Reads the banner (on stderr with --json) up to its last TLS row.
async fn banner(bin: &mut Binary) -> String {
    let stderr = bin.child.stderr.take().unwrap();
    tokio::task::spawn_blocking(move || {
        let mut r = std::io::BufReader::new(stderr);
        let mut seen = String::new();
        for _ in 0..60 {
            let mut l = String::new();
            if std::io::BufRead::read_line(&mut r, &mut l).unwrap() == 0 {
                break;
            }
            seen.push_str(&l);
            if l.trim_start().starts_with("lftp") {
                break;
            }
        }
        seen
    })
    .await
    .unwrap()
}

/// The banner prints the fingerprint as two lines of 16 hex pairs.
fn assert_shows_fingerprint(text: &str, printed: &str) {
    let pairs: Vec<&str> = printed.split(':').collect();
    assert_eq!(pairs.len(), 32, "{printed}");
    for half in pairs.chunks(16) {
        assert!(text.contains(&half.join(":")), "{printed} in {text}");
    }
    assert!(text.contains("SHA-256 fingerprint"), "{text}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_shows_the_fingerprint_and_client_hints() {
    let dir = tempfile::tempdir().unwrap();
    let mut bin = start_binary(dir.path(), &["--tls"]);
    let printed = bin.ready["tls_fingerprint"].as_str().unwrap().to_string();
    let text = banner(&mut bin).await;
    assert_shows_fingerprint(&text, &printed);
    assert!(
        text.contains("ftpes://") && text.contains("--ssl-reqd"),
        "{text}"
    );
    assert!(text.contains("ssl:verify-certificate no"), "{text}");

    let mut bin = start_binary(dir.path(), &["--implicit-tls"]);
    let printed = bin.ready["tls_fingerprint"].as_str().unwrap().to_string();
    let text = banner(&mut bin).await;
    assert_shows_fingerprint(&text, &printed);
    let port = bin.ready["port"].as_u64().unwrap();
    assert!(
        text.contains(&format!("curl -k 'ftps://{USER}:{PASS}@")),
        "{text}"
    );
    assert!(
        text.contains(&format!("ftps://127.0.0.1:{port}")),
        "lftp hint: {text}"
    );
}

/// `--no-tls-reuse` lets ftplib transfer; without it ftplib gets 425.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_no_tls_reuse_flag_serves_ftplib() {
    if !need("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.txt"), b"x").unwrap();
    for (flags, works) in [
        (&["--tls", "--no-tls-reuse"][..], true),
        (&["--tls"][..], false),
    ] {
        let bin = start_binary(dir.path(), flags);
        let port = bin.ready["port"].as_u64().unwrap().to_string();
        let out = run_client("python3", &["-c", FTPLIB_REFUSED, &port, USER, PASS]).await;
        assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.contains("TRANSFER worked"),
            works,
            "{flags:?}: {stdout}"
        );
        assert_eq!(stdout.contains("REPLY 425"), !works, "{flags:?}: {stdout}");
    }
}

// ---------------------------------------------------------------------
// --tls-cert / --tls-key
// ---------------------------------------------------------------------

fn write_pem_pair(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, String) {
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join("cert.pem");
    let key = dir.join("key.pem");
    std::fs::write(&cert, ck.cert.pem()).unwrap();
    std::fs::write(&key, ck.signing_key.serialize_pem()).unwrap();
    (cert, key, ftpshare::fingerprint(ck.cert.der()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_cert_and_key_from_pem_files() {
    let keys = tempfile::tempdir().unwrap();
    let (cert, key, fp) = write_pem_pair(keys.path());
    let share = tempfile::tempdir().unwrap();
    std::fs::write(
        share.path().join("pem.txt"),
        b"served with my own certificate",
    )
    .unwrap();
    let bin = start_binary(
        share.path(),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    assert_eq!(bin.ready["tls"], true);
    assert_eq!(bin.ready["tls_fingerprint"], fp.as_str());
    if need("curl") {
        // Verified against the certificate itself, not -k.
        let port = bin.ready["port"].as_u64().unwrap();
        let url = format!("ftp://{USER}:{PASS}@localhost:{port}/pem.txt");
        let resolve = format!("localhost:{port}:127.0.0.1");
        let out = run_client(
            "curl",
            &[
                "-sS",
                "--ssl-reqd",
                "--cacert",
                cert.to_str().unwrap(),
                "--resolve",
                &resolve,
                &url,
            ],
        )
        .await;
        assert_success(&out);
        assert_eq!(out.stdout, b"served with my own certificate");
    }
}

#[test]
fn bad_tls_files_exit_1_with_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let (cert, key, _) = write_pem_pair(dir.path());
    let garbage = dir.path().join("garbage.pem");
    std::fs::write(&garbage, b"this is not PEM at all\n").unwrap();
    let (other_cert, _, _) = {
        let d = dir.path().join("other");
        std::fs::create_dir(&d).unwrap();
        write_pem_pair(&d)
    };
    let corrupt = dir.path().join("corrupt.pem");
    std::fs::write(
        &corrupt,
        b"-----BEGIN CERTIFICATE-----\nAA@@\n-----END CERTIFICATE-----\n",
    )
    .unwrap();
    let missing = dir.path().join("missing.pem");
    let cases = [
        (&missing, &key, "missing.pem"),
        (&cert, &missing, "missing.pem"),
        (&garbage, &key, "garbage.pem"),
        (&cert, &garbage, "garbage.pem"),
        (&corrupt, &key, "corrupt.pem"),
        (&key, &cert, "key.pem"),
        (&other_cert, &key, "certificate and key"),
    ];
    for (c, k, mention) in cases {
        let out = Command::new("timeout")
            .arg("30")
            .arg(env!("CARGO_BIN_EXE_ftpshare"))
            .arg(dir.path())
            .args(["-b", "127.0.0.1", "-p", "0", "--no-qr", "-t", "5s"])
            .arg("--tls-cert")
            .arg(c)
            .arg("--tls-key")
            .arg(k)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{c:?} {k:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
        assert!(stderr.starts_with("ftpshare: error: "), "{stderr}");
        assert!(stderr.contains(mention), "{c:?} {k:?}: {stderr}");
        assert!(
            out.stdout.is_empty(),
            "{}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}

// ---------------------------------------------------------------------
// Truncated uploads and stalled handshakes
// ---------------------------------------------------------------------

#[tokio::test]
async fn upload_cut_without_close_notify_is_426_and_keeps_the_old_file() {
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    let old = pseudo_random(100_000, 23);
    t.write("keep.bin", &old);
    let mut events = t.server.subscribe();
    let mut c = TlsRaw::explicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    c.login().await;
    c.protect().await;
    c.ok("TYPE I", 200).await;
    let tcp = c.epsv().await;
    c.ok("STOR keep.bin", 150).await;
    let mut tls = c.secure(tcp).await.unwrap();
    tls.write_all(&pseudo_random(1_000_000, 24)).await.unwrap();
    tls.flush().await.unwrap();
    // Gone without close_notify: what a truncating client or a cut
    // connection looks like.
    let (tcp, _) = tls.into_inner();
    drop(tcp);
    let r = c.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    assert!(r.text.contains("close_notify"), "{r:?}");
    assert_eq!(file_sha(&t, "keep.bin"), sha256(&old));
    assert_eq!(entries(t.root()), ["keep.bin"], "no temporary file left");
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv());
        match e.await.unwrap().unwrap() {
            ftpshare::Event::TransferFinished { error, .. } => {
                assert!(error.is_some());
                break;
            }
            _ => continue,
        }
    }
    // The session goes on, and a complete upload does replace the file.
    c.ok("NOOP", 200).await;
    let new = pseudo_random(200_000, 25);
    let (_, done) = c.push("STOR keep.bin", &new, false).await;
    assert_eq!(done.code, 226);
    assert_eq!(file_sha(&t, "keep.bin"), sha256(&new));
}

/// The same cut made by Python's ssl module: close the socket under the
/// TLS layer.
const PY_CUT_UPLOAD: &str = r#"
import ftplib, socket, ssl, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", port)
f.login(user, pw)
f.prot_p()
f.voidcmd("TYPE I")
conn = f.transfercmd("STOR old.txt")
conn.sendall(b"partial upload " * 20000)
raw = socket.socket(fileno=conn.detach())
raw.close()
try:
    f.voidresp()
    print("REPLY 226")
except ftplib.error_temp as e:
    print("REPLY", e)
print("NOOP", f.voidcmd("NOOP"))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_cut_upload_is_426_and_keeps_the_old_file() {
    if !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, false).await;
    t.write("old.txt", b"the previous version\n");
    let port = t.addr.port().to_string();
    let out = run_client("python3", &["-c", PY_CUT_UPLOAD, &port, USER, PASS]).await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("REPLY 426"), "{stdout}");
    assert!(stdout.contains("NOOP 200"), "{stdout}");
    assert_eq!(
        std::fs::read(t.path("old.txt")).unwrap(),
        b"the previous version\n"
    );
    assert_eq!(entries(t.root()), ["old.txt"]);
}

#[tokio::test]
async fn silent_clients_are_dropped_without_blocking_others() {
    let limits = Limits {
        tls_handshake_timeout: Duration::from_secs(2),
        ..test_limits()
    };
    let (t, id) = tls_server_with(TlsMode::Implicit, true, limits.clone()).await;
    t.write("o.txt", b"others are served");
    let mut events = t.server.subscribe();
    // Connects to the implicit port and never says ClientHello.
    let mut silent = TcpStream::connect(t.addr).await.unwrap();
    let silent_addr = silent.local_addr().unwrap();
    // Meanwhile another client is served normally.
    let mut c = TlsRaw::implicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    c.login().await;
    let (got, done) = c.fetch("RETR o.txt", false).await;
    assert_eq!(
        (got.as_slice(), done.code),
        (&b"others are served"[..], 226)
    );
    // The silent one is dropped once the handshake time is up.
    let mut buf = [0u8; 64];
    let n = tokio::time::timeout(Duration::from_secs(15), silent.read(&mut buf))
        .await
        .expect("a silent client must be dropped")
        .unwrap_or(0);
    assert_eq!(n, 0, "nothing is sent before the handshake");
    // …and its Connected has its Disconnected (the UI counts clients so).
    loop {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv());
        if let ftpshare::Event::Disconnected { peer } = e.await.unwrap().unwrap() {
            if peer == silent_addr {
                break;
            }
        }
    }

    // Explicit: AUTH TLS, then silence.
    let (t, id) = tls_server_with(TlsMode::Explicit, true, limits).await;
    let mut raw = Raw::connect(t.addr).await;
    raw.ok("AUTH TLS", 234).await;
    let mut c = TlsRaw::explicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    c.login().await;
    assert!(raw.closed().await, "dropped after the handshake timeout");
    c.ok("NOOP", 200).await;

    // A data connection that never starts its handshake: 425, and the
    // control connection stays usable.
    c.protect().await;
    let _tcp = c.epsv().await;
    c.ok("LIST", 150).await;
    let r = c.reply().await;
    assert_eq!(r.code, 425, "{r:?}");
    c.ok("NOOP", 200).await;
}

/// A client stuck in the TLS handshake does not hold up a shutdown.
#[tokio::test]
async fn shutdown_does_not_wait_for_stalled_handshakes() {
    let limits = Limits {
        tls_handshake_timeout: Duration::from_secs(120),
        shutdown_grace: Duration::from_secs(1),
        ..test_limits()
    };
    for mode in [TlsMode::Implicit, TlsMode::Explicit] {
        let (t, _id) = tls_server_with(mode, true, limits.clone()).await;
        // Implicit: no ClientHello. Explicit: AUTH TLS, then no ClientHello.
        let mut silent = TcpStream::connect(t.addr).await.unwrap();
        let mut raw = if mode == TlsMode::Explicit {
            let mut raw = Raw::connect(t.addr).await;
            raw.ok("AUTH TLS", 234).await;
            Some(raw)
        } else {
            None
        };
        // Both sessions are admitted and waiting in their handshakes.
        let want = if raw.is_some() { 2 } else { 1 };
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while t.server.connections() < want {
            assert!(
                std::time::Instant::now() < deadline,
                "sessions never started"
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        let started = std::time::Instant::now();
        t.server.shutdown().await;
        // Within the grace period (plus a second for the goodbyes), far
        // below the 120 s handshake limit, and nobody is left connected.
        let bound = limits.shutdown_grace + Duration::from_secs(1);
        assert!(
            started.elapsed() < bound,
            "{mode:?}: {:?}",
            started.elapsed()
        );
        assert_eq!(t.server.connections(), 0, "{mode:?}");
        let mut rest = Vec::new();
        let closed = tokio::time::timeout(Duration::from_secs(2), silent.read_to_end(&mut rest));
        assert!(
            closed.await.is_ok(),
            "{mode:?}: the silent client is still connected"
        );
        if let Some(raw) = raw.as_mut() {
            assert!(
                raw.closed().await,
                "{mode:?}: the AUTH TLS client is still connected"
            );
        }
    }
}

/// rustls uses each TLS 1.3 ticket once, and upload data connections give
/// none back (an uploading client never reads them): the stock it gets
/// at login, and again with every listing or download, covers 8 uploads.
#[tokio::test]
async fn runs_of_uploads_keep_resuming() {
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    let mut c = TlsRaw::explicit(t.addr, client_config(&id, &[&rustls::version::TLS13])).await;
    c.login().await;
    c.protect().await;
    for i in 0..15 {
        if i == 7 {
            let (_, done) = c.fetch("NLST", false).await;
            assert_eq!(done.code, 226);
        }
        let body = pseudo_random(50_000, 100 + i);
        let (_, done) = c.push(&format!("STOR u{i}.bin"), &body, false).await;
        assert_eq!(done.code, 226, "upload {i}: {done:?}");
        assert_eq!(file_sha(&t, &format!("u{i}.bin")), sha256(&body));
    }
}
