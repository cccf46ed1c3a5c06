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
async fn run_client(program: &'static str, args: &[&str]) -> Output {
    client(program, args.iter().map(|s| s.to_string()).collect()).await
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
    // The server's provider; why ring stays is said in src/tls/mod.rs.
    #[allow(deprecated)]
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

/// Strict mode, one curl control connection: in TLS 1.2, 25 uploads and
/// 25 downloads in turn; in TLS 1.3, 50 downloads (curl uses each TLS 1.3
/// ticket once and never reads an upload's connection, so after an upload
/// it has no ticket left: see the README). Every data connection resumes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_50_transfers_strict_all_resume() {
    if !need("curl") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let local = tempfile::tempdir().unwrap();
    for version in [&["--tls-max", "1.2"][..], &["--tlsv1.3"][..]] {
        let tls12 = version.len() == 2;
        let mut events = t.server.subscribe();
        let mut want = Vec::new();
        let mut common: Vec<String> = ["-sS", "--ssl-reqd", "-k"].map(String::from).to_vec();
        common.extend(version.iter().map(|v| v.to_string()));
        // --next gives each URL its own options on the same connection.
        let mut args = Vec::new();
        for i in 0..50 {
            args.extend(common.clone());
            if tls12 && i % 2 == 0 {
                let up = local.path().join(format!("u{i}.txt"));
                std::fs::write(&up, format!("upload {i}\n")).unwrap();
                args.extend(["-T".into(), up.display().to_string()]);
                args.push(curl_url(&t, "ftp", &format!("u{i}.txt")));
            } else {
                let body = format!("file number {i}\n");
                t.write(&format!("f{i}.txt"), body.as_bytes());
                want.extend_from_slice(body.as_bytes());
                args.push(curl_url(&t, "ftp", &format!("f{i}.txt")));
            }
            args.push("--next".into());
        }
        args.pop();
        let a: Vec<&str> = args.iter().map(|s| s.as_str()).collect();
        let out = run_client("curl", &a).await;
        assert_success(&out);
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&want),
            "{version:?}: {}",
            text(&out)
        );
        for i in (0..50).step_by(2).filter(|_| tls12) {
            let on_disk = std::fs::read_to_string(t.root().join(format!("u{i}.txt"))).unwrap();
            assert_eq!(on_disk, format!("upload {i}\n"));
        }
        // All on one control connection (curl reuses it), none refused.
        let mut connects = 0;
        let mut finished = 0;
        while finished < 50 {
            let e = tokio::time::timeout(Duration::from_secs(10), events.recv())
                .await
                .expect("50 transfers reported")
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
    }
}

/// Strict mode: 25 uploads and 25 downloads in one lftp (GnuTLS)
/// session, TLS 1.2 and 1.3.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_50_transfers_strict_all_resume() {
    if !need("lftp") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let local = tempfile::tempdir().unwrap();
    for (version, priority) in [
        ("1.2", "NORMAL:-VERS-ALL:+VERS-TLS1.2"),
        ("1.3", "NORMAL:-VERS-ALL:+VERS-TLS1.3"),
    ] {
        let mut script = format!(
            "set ssl:verify-certificate no; set ssl:priority {priority}; \
             set ftp:ssl-force true; set ftp:ssl-protect-data true; \
             set net:max-retries 1; "
        );
        for i in 0..25 {
            let up = local.path().join(format!("l{version}-{i}.txt"));
            std::fs::write(&up, format!("lftp {version} {i}\n")).unwrap();
            script.push_str(&format!("put {} -o l{version}-{i}.txt; ", up.display()));
        }
        for i in 0..25 {
            let down = local.path().join(format!("back{version}-{i}.txt"));
            script.push_str(&format!("get l{version}-{i}.txt -o {}; ", down.display()));
        }
        script.push_str("bye");
        let out = lftp(&t, false, script).await;
        assert_success(&out);
        for i in 0..25 {
            let want = format!("lftp {version} {i}\n");
            let name = format!("l{version}-{i}.txt");
            assert_eq!(std::fs::read_to_string(t.root().join(&name)).unwrap(), want);
            let back = local.path().join(format!("back{version}-{i}.txt"));
            assert_eq!(
                std::fs::read_to_string(back).unwrap(),
                want,
                "{}",
                text(&out)
            );
        }
    }
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

/// `n` uploads in a row, each checked on disk.
async fn suppaftp_uploads(t: &TestServer, ftp: &mut suppaftp::tokio::AsyncRustlsFtpStream, n: u64) {
    for i in 0..n {
        let name = format!("run{i}.bin");
        let body = pseudo_random(4096, 1000 + i);
        ftp.put_file(&name, &mut std::io::Cursor::new(body.clone()))
            .await
            .unwrap_or_else(|e| panic!("upload {i}: {e}"));
        assert_eq!(file_sha(t, &name), sha256(&body), "upload {i}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn suppaftp_100_uploads_in_a_row_strict_tls12() {
    use suppaftp::tokio::{AsyncRustlsConnector, AsyncRustlsFtpStream};
    let (t, id) = tls_server(TlsMode::Explicit, true).await;
    let ftp = AsyncRustlsFtpStream::connect(t.addr).await.unwrap();
    let config = client_config(&id, &[&rustls::version::TLS12]);
    let connector = AsyncRustlsConnector::from(tokio_rustls::TlsConnector::from(config));
    let mut ftp = ftp.into_secure(connector, "localhost").await.unwrap();
    ftp.login(USER, PASS).await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .await
        .unwrap();
    suppaftp_uploads(&t, &mut ftp, 100).await;
    ftp.quit().await.unwrap();
}

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
    // A long run of uploads: rustls uses each TLS 1.3 ticket once, so it
    // lives on the tickets its uploads get back.
    suppaftp_uploads(&t, &mut ftp, 100).await;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_plain_ftp_tls_works_by_default() {
    if !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, false).await;
    t.write("x.txt", b"hello ftplib");
    for version in ["1.2", "1.3"] {
        let stdout = plain_ftplib(&t, version, "default").await;
        assert!(
            stdout.contains("LIST ") && stdout.contains("x.txt"),
            "{stdout}"
        );
        assert!(stdout.contains("RETR hello ftplib"), "{stdout}");
        for i in 0..20 {
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&format!("STOR {i} ")))
                .unwrap_or_else(|| panic!("upload {i}: {stdout}"));
            assert!(line.contains(" 226 "), "{line}");
            let sent = line.rsplit(' ').next().unwrap();
            assert_eq!(file_sha(&t, &format!("up{i}.txt")), sent);
        }
    }
}

/// Plain `FTP_TLS`, no tricks, on TLS `argv[4]` ("1.2" or "1.3"):
/// `default` lists, downloads and makes 20 uploads; `strict` expects 522
/// for NLST and STOR, each answered in turn (NOOP right after gets 200).
const FTPLIB_PLAIN: &str = r#"
import ftplib, hashlib, io, ssl, sys
port, user, pw, version, mode = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
ctx.minimum_version = ctx.maximum_version = v
f = ftplib.FTP_TLS(context=ctx, timeout=30)
f.connect("127.0.0.1", port)
f.login(user, pw)
f.prot_p()
print("VERSION", f.sock.version())
if mode == "default":
    lines = []
    f.retrlines("LIST", lines.append)
    print("LIST", "|".join(lines))
    buf = io.BytesIO()
    f.retrbinary("RETR x.txt", buf.write)
    print("RETR", buf.getvalue().decode())
    for i in range(20):
        body = ("upload %d\n" % i).encode() * 1000
        r = f.storbinary("STOR up%d.txt" % i, io.BytesIO(body))
        print("STOR", i, r, hashlib.sha256(body).hexdigest())
else:
    for cmd in ("NLST", "STOR"):
        try:
            if cmd == "NLST":
                f.retrlines("NLST", print)
            else:
                f.storbinary("STOR refused.txt", io.BytesIO(b"no"))
            print(cmd, "worked")
        except ftplib.error_perm as e:
            print(cmd, "REFUSED", e)
        print("NOOP", f.voidcmd("NOOP"))
print("PWD", f.pwd())
f.quit()
"#;

/// Runs [`FTPLIB_PLAIN`] and returns its output.
async fn plain_ftplib(t: &TestServer, version: &str, mode: &str) -> String {
    let port = t.addr.port().to_string();
    let out = run_client(
        "python3",
        &["-c", FTPLIB_PLAIN, &port, USER, PASS, version, mode],
    )
    .await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let want = format!("VERSION TLSv{version}");
    assert!(stdout.contains(&want), "{stdout}");
    stdout
}

/// Strict mode refuses plain ftplib with 522 and a hint, as the reply to
/// the transfer command itself: the next command gets its own reply.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_strict_mode_refuses_with_522_and_stays_in_step() {
    if !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    t.write("x.txt", b"x");
    for version in ["1.2", "1.3"] {
        let stdout = plain_ftplib(&t, version, "strict").await;
        for cmd in ["NLST", "STOR"] {
            let line = stdout
                .lines()
                .find(|l| l.starts_with(&format!("{cmd} ")))
                .unwrap();
            assert!(
                line.contains("REFUSED 522 TLS session resumption required (client did not resume; restart the server without --require-tls-reuse)"),
                "{version}: {stdout}"
            );
        }
        assert_eq!(stdout.matches("NOOP 200").count(), 2, "{version}: {stdout}");
        assert!(stdout.contains("PWD /"), "{stdout}");
        assert!(!t.root().join("refused.txt").exists());
    }
}

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

/// Eight control connections of one user at once, each of whose data
/// connections resumes the session of *another* one (as clients with one
/// session cache for all their connections do); then a session of a
/// connection that never logged in, and one of an anonymous login.
const PY_SIBLINGS: &str = r#"
import ftplib, ssl, sys
from concurrent.futures import ThreadPoolExecutor
port, user, pw, version = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
v = {"1.2": ssl.TLSVersion.TLSv1_2, "1.2-ids": ssl.TLSVersion.TLSv1_2,
     "1.3": ssl.TLSVersion.TLSv1_3}[version]
ctx.minimum_version = ctx.maximum_version = v
if version == "1.2-ids":
    ctx.options |= ssl.OP_NO_TICKET  # resume by session ID only

class Borrowing(ftplib.FTP_TLS):
    donor = None
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        conn = self.context.wrap_socket(conn, server_hostname=self.host,
                                        session=self.donor.session)
        self.reused = conn.session_reused
        return conn, size

def connect(cls=ftplib.FTP_TLS):
    f = cls(context=ctx, timeout=30)
    f.connect("127.0.0.1", port)
    return f

conns = []
for i in range(8):
    f = connect(Borrowing)
    f.login(user, pw)
    f.prot_p()
    conns.append(f)
for i, f in enumerate(conns):
    f.donor = conns[(i + 3) % 8].sock

def run(i):
    names = conns[i].nlst()
    return "SIBLING %d %s reused=%s" % (i, ",".join(names), conns[i].reused)

with ThreadPoolExecutor(8) as pool:
    for line in pool.map(run, range(8)):
        print(line)

stranger = connect()
stranger.auth()
stranger.sendcmd("FEAT")  # reads the TLS 1.3 tickets
anon = connect()
anon.login("anonymous", "guest@example.org")
anon.sendcmd("NOOP")
f = conns[0]
for name, donor in (("UNAUTHENTICATED", stranger), ("ANONYMOUS", anon)):
    f.donor = donor.sock
    try:
        f.nlst()
        print(name, "worked")
    except ftplib.error_perm as e:
        print(name, "REFUSED reused=%s" % f.reused, e)
    print(name, "NOOP", f.voidcmd("NOOP"))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn strict_mode_accepts_sessions_of_sibling_logins_only() {
    if !need("python3") {
        return;
    }
    let id = identity();
    let t = start_with(|b| {
        b.access(AccessMode::Writable)
            .anonymous(true)
            .tls(id.clone(), TlsMode::Explicit)
            .require_tls_reuse(true)
            .limits(test_limits())
    })
    .await;
    t.write("x.txt", b"x");
    let port = t.addr.port().to_string();
    for version in ["1.2", "1.2-ids", "1.3"] {
        let out = run_client("python3", &["-c", PY_SIBLINGS, &port, USER, PASS, version]).await;
        assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        for i in 0..8 {
            assert!(
                stdout.contains(&format!("SIBLING {i} x.txt reused=True")),
                "{version}: {stdout}"
            );
        }
        for name in ["UNAUTHENTICATED", "ANONYMOUS"] {
            // The session was resumed, and still refused: it is not this
            // user's.
            let want = format!("{name} REFUSED reused=True 522 TLS session resumption required (the session resumed belongs to a connection not logged in as you;");
            assert!(stdout.contains(&want), "{version}: {stdout}");
            assert!(stdout.contains(&format!("{name} NOOP 200")), "{stdout}");
        }
    }
}

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
    let out = lftp(&t, false, script).await;
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
                               // RFC 2228: a 32-bit decimal; TLS answers any with 0 (RFC 4217).
    for bad in ["PBSZ abc", "PBSZ -1", "PBSZ 4294967296"] {
        c.ok(bad, 501).await;
    }
    c.ok("PROT P", 503).await; // still no PBSZ
    let r = c.ok("PBSZ 4096", 200).await;
    assert!(r.text.contains("PBSZ=0"), "{r:?}");
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

/// A TLS download stopped while the server's writes wait (the reader
/// paused) counts what reached the socket: never more than the client
/// got, and at most one flush of TLS less. (Counting what TLS took into
/// its own buffer said more than had left; counting whole 256 KiB steps
/// said up to a step less.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_tls_download_counts_what_left() {
    let (t, id) = tls_server(TlsMode::Explicit, false).await;
    let f = std::fs::File::create(t.path("big.bin")).unwrap();
    f.set_len(1 << 32).unwrap();
    for ty in ["I", "A", "I", "A"] {
        let mut events = t.server.subscribe();
        let mut c = TlsRaw::explicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
        c.login().await;
        c.protect().await;
        c.ok(&format!("TYPE {ty}"), 200).await;
        let tcp = c.epsv().await;
        c.ok("RETR big.bin", 150).await;
        let mut data = c.secure(tcp).await.unwrap();
        let (mut buf, mut got) = (vec![0u8; 1 << 16], 0u64);
        while got < 8 << 20 {
            got += data.read(&mut buf).await.unwrap() as u64;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        c.send("ABOR").await;
        assert_eq!(c.reply().await.code, 426);
        while let Ok(n @ 1..) = data.read(&mut buf).await {
            got += n as u64;
        }
        assert_eq!(c.reply().await.code, 226);
        let bytes = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(ftpshare::Event::TransferFinished { bytes, .. })) => break bytes,
                Ok(Ok(_)) => {}
                other => panic!("no transfer event: {other:?}"),
            }
        };
        assert!(
            bytes <= got && got - bytes <= 64 << 10,
            "TYPE {ty}: counted {bytes}, got {got}"
        );
    }
}

/// A client that closes its side of the TLS control connection without
/// close_notify (a bare FIN) during a download has closed it all the
/// same: it gets the whole download and the 226, as over plain FTP.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bare_close_of_the_tls_control_connection_keeps_the_download() {
    let (t, id) = tls_server(TlsMode::Explicit, false).await;
    let data = pseudo_random(5_000_000, 31);
    t.write("big.bin", &data);
    let mut c = TlsRaw::explicit(t.addr, client_config(&id, rustls::ALL_VERSIONS)).await;
    c.login().await;
    c.protect().await;
    let tcp = c.epsv().await;
    c.ok("RETR big.bin", 150).await;
    let mut d = c.secure(tcp).await.unwrap();
    c.ctl.get_mut().get_mut().0.shutdown().await.unwrap();
    let mut got = Vec::new();
    d.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
    assert_eq!(c.reply().await.code, 226);
}

/// Plain-text commands pipelined behind AUTH TLS would be taken as if
/// they came over TLS (the STARTTLS injection attack): the connection is
/// closed instead. So are Telnet commands, whose state would carry into
/// the TLS session (a half IAC eating the first protected byte, an open
/// subnegotiation every protected command).
#[tokio::test]
async fn commands_pipelined_after_auth_tls_are_refused() {
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let user = format!("USER {USER}\r\n");
    for extra in [user.as_bytes(), b"\xff", b"\xff\xfa", b"\xff\xf1"] {
        let mut raw = Raw::connect(t.addr).await;
        raw.send_raw(&[&b"AUTH TLS\r\n"[..], extra].concat()).await;
        assert_eq!(raw.reply().await.code, 234);
        let r = raw.reply().await;
        assert_eq!(r.code, 421, "{extra:?}: {r:?}");
        assert!(raw.closed().await);
    }
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
    let mut all = vec!["-b", "127.0.0.1", "-t", "2m"];
    all.extend(args);
    spawn_ftpshare(dir, &all)
}

/// The binary with only the test credentials, `--json`, a free port and
/// no QR code added to `args`.
fn spawn_ftpshare(dir: &Path, args: &[&str]) -> Binary {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ftpshare"))
        .arg(dir)
        .args(["--json", "-p", "0", "--no-qr"])
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

/// The certificate `openssl s_client` receives, in DER form.
fn openssl_certificate(port: u16, starttls: bool) -> Vec<u8> {
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
    let (_, pem) = x509_parser::pem::parse_x509_pem(pem.as_bytes()).unwrap();
    pem.contents
}

/// SHA-256 of the certificate `openssl s_client` receives, as AB:CD:…
fn openssl_fingerprint(port: u16, starttls: bool) -> String {
    ftpshare::fingerprint(&openssl_certificate(port, starttls))
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
    for field in ["tls_fingerprint", "tls_spki_sha256", "tls_fingerprint_sha1"] {
        assert!(bin.ready[field].is_null(), "{field}");
    }
}

/// Reads the banner (on stderr with --json) up to the end of its lftp
/// command, the last one (continued lines included).
async fn banner(bin: &mut Binary) -> String {
    let stderr = bin.child.stderr.take().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    // The rest is drained until the server exits: it must not find its
    // stderr closed.
    std::thread::spawn(move || {
        let mut r = std::io::BufReader::new(stderr);
        let mut seen = String::new();
        let mut in_lftp = false;
        let mut tx = Some(tx);
        loop {
            let mut l = String::new();
            if std::io::BufRead::read_line(&mut r, &mut l).unwrap_or(0) == 0 {
                break;
            }
            if tx.is_none() {
                continue;
            }
            seen.push_str(&l);
            in_lftp |= l.trim_start().starts_with("lftp");
            if in_lftp && !l.trim_end().ends_with('\\') {
                if let Some(tx) = tx.take() {
                    let _ = tx.send(std::mem::take(&mut seen));
                }
            }
        }
        if let Some(tx) = tx {
            let _ = tx.send(seen);
        }
    });
    rx.await.unwrap()
}

/// The command in the banner row `label`, continuation lines included,
/// exactly as a person would copy it.
fn banner_command(banner: &str, label: &str) -> String {
    let lines: Vec<&str> = banner.lines().collect();
    let start = lines
        .iter()
        .position(|l| l.starts_with(&format!("  {label:<10} ")))
        .unwrap_or_else(|| panic!("no {label} row in {banner}"));
    let mut cmd = lines[start][13..].to_string();
    for l in &lines[start + 1..] {
        if !cmd.ends_with('\\') {
            break;
        }
        cmd.push('\n');
        cmd.push_str(l);
    }
    cmd
}

/// Runs a pasted command line with `sh`, `stdin` as its input.
async fn paste(cmd: &str, stdin: &str) -> Output {
    let (cmd, stdin) = (cmd.to_string(), stdin.to_string());
    tokio::task::spawn_blocking(move || {
        let mut child = Command::new("timeout")
            .args(["60", "sh", "-c", &cmd])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(child.stdin.as_mut().unwrap(), stdin.as_bytes()).unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap()
}

/// `text` with the character after `marker` replaced by another one of
/// the same alphabet (hex digits and base64 both have 0 and 1).
fn tamper(text: &str, marker: &str) -> String {
    let at = text
        .find(marker)
        .unwrap_or_else(|| panic!("{marker} in {text}"))
        + marker.len();
    let old = &text[at..at + 1];
    let new = if old == "0" { "1" } else { "0" };
    format!("{}{new}{}", &text[..at], &text[at + 1..])
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
    for flag in ["--tls", "--implicit-tls"] {
        let mut bin = start_binary(dir.path(), &[flag]);
        let printed = bin.ready["tls_fingerprint"].as_str().unwrap().to_string();
        let text = banner(&mut bin).await;
        assert_shows_fingerprint(&text, &printed);
        let pin = bin.ready["tls_spki_sha256"].as_str().unwrap();
        assert!(text.contains(&format!("'sha256//{pin}'")), "{text}");
        let url = bin.ready["url"].as_str().unwrap();
        assert_eq!(url.starts_with("ftps://"), flag == "--implicit-tls");
        assert!(banner_command(&text, "curl").contains(url), "{text}");
    }
}

/// The pasted curl and lftp commands list and download with the
/// certificate they pin, and refuse one whose pin differs by a character.
async fn pinned_commands_work_and_refuse_another_certificate(dir: &Path, flags: &[&str]) {
    std::fs::write(dir.join("x.txt"), b"pinned content").unwrap();
    let mut bin = start_binary(dir, flags);
    let shown = banner(&mut bin).await;
    for line in shown.lines() {
        assert!(line.chars().count() <= 80, "{flags:?}: {line:?}");
    }
    let sha1 = bin.ready["tls_fingerprint_sha1"].as_str().unwrap();
    assert_eq!(sha1.len(), 20 * 3 - 1, "{sha1}");

    let curl = banner_command(&shown, "curl");
    let out = paste(&curl, "").await;
    assert!(out.status.success(), "{flags:?}: {curl}\n{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("x.txt"),
        "{}",
        text(&out)
    );
    let download = curl.replace("/'", "/x.txt'");
    let out = paste(&download, "").await;
    assert_eq!(out.stdout, b"pinned content", "{download}\n{}", text(&out));
    let wrong = tamper(&curl, "sha256//");
    let out = paste(&wrong, "").await;
    assert_eq!(out.status.code(), Some(90), "{wrong}\n{}", text(&out));

    let lftp = banner_command(&shown, "lftp");
    let out = paste(&lftp, "ls\ncat x.txt\nbye\n").await;
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("x.txt") && stdout.contains("pinned content"),
        "{flags:?}: {lftp}\n{}",
        text(&out)
    );
    let wrong = tamper(&lftp, "verify-certificate/");
    let out = paste(&wrong, "set net:max-retries 1\nls\nbye\n").await;
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !String::from_utf8_lossy(&out.stdout).contains("x.txt"),
        "{wrong}\n{}",
        text(&out)
    );
    assert!(
        stderr.contains("Certificate verification"),
        "{wrong}\n{}",
        text(&out)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_commands_pin_the_certificate() {
    if !need("curl") || !need("lftp") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    pinned_commands_work_and_refuse_another_certificate(dir.path(), &["--tls"]).await;
    pinned_commands_work_and_refuse_another_certificate(dir.path(), &["--implicit-tls"]).await;
    let keys = tempfile::tempdir().unwrap();
    let (cert, key, _) = write_pem_pair(keys.path());
    let own = [
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ];
    pinned_commands_work_and_refuse_another_certificate(dir.path(), &own).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn banner_fits_80_columns_with_a_long_public_host() {
    let dir = tempfile::tempdir().unwrap();
    for flag in ["--tls", "--implicit-tls"] {
        let host = "2001:db8:aaaa:bbbb:cccc:dddd:eeee:ffff";
        let mut bin = start_binary(dir.path(), &[flag, "-w", "--public-host", host]);
        let text = banner(&mut bin).await;
        let url = bin.ready["url"].as_str().unwrap();
        for line in text.lines() {
            // The URL row is never broken (it is meant to be copied).
            let url_row = line.trim_start().trim_start_matches("URL").trim() == url;
            assert!(
                line.chars().count() <= 80 || url_row,
                "{flag}: {line:?} in\n{text}"
            );
        }
        // Still the same commands, split with continuations.
        let curl = banner_command(&text, "curl");
        assert!(curl.contains("\\\n"), "{curl}");
        let joined = curl.replace("\\\n", " ");
        assert!(
            joined.contains(bin.ready["url"].as_str().unwrap()),
            "{joined}"
        );
    }
}

/// The binary's TLS modes: plain ftplib works by default and with the
/// old `--no-tls-reuse`; `--require-tls-reuse` refuses it with 522. With
/// -v the log says which data connections resumed and which were refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_reuse_flags_and_their_log_lines() {
    if !need("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("x.txt"), b"x").unwrap();
    std::fs::write(dir.path().join("py.bin"), b"resumed").unwrap();
    for (flags, mode) in [
        (&["--tls", "-w", "-v"][..], "default"),
        (&["--tls", "-w", "--no-tls-reuse"][..], "default"),
        (&["--tls", "-w", "--require-tls-reuse", "-v"][..], "strict"),
    ] {
        let mut bin = start_binary(dir.path(), flags);
        let port = bin.ready["port"].as_u64().unwrap().to_string();
        let out = run_client(
            "python3",
            &["-c", FTPLIB_PLAIN, &port, USER, PASS, "1.3", mode],
        )
        .await;
        assert_success(&out);
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert_eq!(
            stdout.contains("REFUSED 522"),
            mode == "strict",
            "{flags:?}: {stdout}"
        );
        // A client that resumes passes in both modes.
        let out = run_client("python3", &["-c", FTPLIB_RESUMING, &port, USER, PASS]).await;
        assert_success(&out);
        if !flags.contains(&"-v") {
            continue;
        }
        let _ = bin.child.kill();
        let mut log = String::new();
        let mut stderr = bin.child.stderr.take().unwrap();
        std::io::Read::read_to_string(&mut stderr, &mut log).unwrap();
        assert!(
            log.contains("data connection resumed a TLS session"),
            "{log}"
        );
        if mode == "strict" {
            assert!(
                log.contains("data connection refused: client did not resume"),
                "{log}"
            );
        } else {
            assert!(
                log.contains("data connection did not resume a TLS session"),
                "{log}"
            );
        }
    }
    // The old flag cannot be mixed with the new one.
    let out = Command::new(env!("CARGO_BIN_EXE_ftpshare"))
        .args(["--tls", "--no-tls-reuse", "--require-tls-reuse", "-t", "1s"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

// ---------------------------------------------------------------------
// Resumption by ticket only, and ALPN
// ---------------------------------------------------------------------

/// `openssl s_client` with STARTTLS FTP and `args`; its exit status and
/// everything it printed.
async fn s_client(port: u16, args: &[&str]) -> (bool, String) {
    let connect = format!("127.0.0.1:{port}");
    let mut all = vec!["s_client", "-connect", &connect, "-starttls", "ftp"];
    all.extend(args);
    let out = run_client("openssl", &all).await;
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openssl_resumes_tls12_by_ticket() {
    if !need("openssl") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, true).await;
    let dir = tempfile::tempdir().unwrap();
    let sess = dir.path().join("sess.pem");
    let sess = sess.to_str().unwrap();
    let port = t.addr.port();
    let (ok, first) = s_client(port, &["-tls1_2", "-sess_out", sess]).await;
    assert!(ok, "{first}");
    assert!(first.contains("TLS session ticket:"), "{first}");
    assert!(first.contains("New, TLSv1.2"), "{first}");
    let (ok, second) = s_client(port, &["-tls1_2", "-sess_in", sess]).await;
    assert!(ok, "{second}");
    assert!(second.contains("Reused, TLSv1.2"), "{second}");
}

/// A Python client whose data connections offer ALPN `argv[4]`.
const PY_DATA_ALPN: &str = r#"
import ftplib, ssl, sys
port, user, pw, alpn = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
def context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx
data = context()
data.set_alpn_protocols([alpn])
class Alpn(ftplib.FTP_TLS):
    def ntransfercmd(self, cmd, rest=None):
        conn, size = ftplib.FTP.ntransfercmd(self, cmd, rest)
        return data.wrap_socket(conn, server_hostname=self.host), size
f = Alpn(context=context(), timeout=30)
f.connect("127.0.0.1", port)
f.login(user, pw)
f.prot_p()
try:
    print("NLST", ",".join(f.nlst()))
except ssl.SSLError as e:
    print("HANDSHAKE", e)
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alpn_other_than_ftp_is_refused_on_control_and_data() {
    if !need("openssl") || !need("python3") {
        return;
    }
    let (t, _id) = tls_server(TlsMode::Explicit, false).await;
    t.write("x.txt", b"x");
    let port = t.addr.port();
    let (ok, said) = s_client(port, &["-alpn", "http/1.1"]).await;
    assert!(!ok, "{said}");
    assert!(said.contains("no application protocol"), "{said}");
    let (ok, said) = s_client(port, &["-alpn", "ftp"]).await;
    assert!(ok && said.contains("ALPN protocol: ftp"), "{said}");
    let (ok, said) = s_client(port, &[]).await;
    assert!(ok && said.contains("No ALPN negotiated"), "{said}");

    let port = port.to_string();
    let out = run_client(
        "python3",
        &["-c", PY_DATA_ALPN, &port, USER, PASS, "http/1.1"],
    )
    .await;
    assert_success(&out);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("HANDSHAKE") && stdout.contains("no application protocol"),
        "{stdout}"
    );
    let out = run_client("python3", &["-c", PY_DATA_ALPN, &port, USER, PASS, "ftp"]).await;
    assert_success(&out);
    assert!(
        String::from_utf8_lossy(&out.stdout).contains("NLST x.txt"),
        "{}",
        text(&out)
    );
}

// ---------------------------------------------------------------------
// The generated certificate
// ---------------------------------------------------------------------

/// What a client sees in the generated certificate.
struct SeenCert {
    subject: String,
    ips: Vec<std::net::IpAddr>,
    dns: Vec<String>,
    not_before: i64,
    not_after: i64,
}

fn decode(der: &[u8]) -> SeenCert {
    use x509_parser::extensions::GeneralName;
    let (_, cert) = x509_parser::parse_x509_certificate(der).unwrap();
    let mut ips = Vec::new();
    let mut dns = Vec::new();
    let san = cert.subject_alternative_name().unwrap().expect("no SANs");
    for name in &san.value.general_names {
        match name {
            GeneralName::IPAddress(b) if b.len() == 4 => {
                ips.push(<[u8; 4]>::try_from(*b).unwrap().into())
            }
            GeneralName::IPAddress(b) => ips.push(<[u8; 16]>::try_from(*b).unwrap().into()),
            GeneralName::DNSName(n) => dns.push(n.to_string()),
            other => panic!("unexpected SAN {other:?}"),
        }
    }
    SeenCert {
        subject: cert.subject().to_string(),
        ips,
        dns,
        not_before: cert.validity().not_before.timestamp(),
        not_after: cert.validity().not_after.timestamp(),
    }
}

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

/// The certificate served by a `--tls` run with `args`, after checking
/// that the fingerprint printed is that certificate's.
async fn served_certificate(dir: &Path, args: &[&str]) -> (SeenCert, serde_json::Value) {
    let bin = spawn_ftpshare(dir, args);
    let port = bin.ready["port"].as_u64().unwrap() as u16;
    let der = tokio::task::spawn_blocking(move || openssl_certificate(port, true))
        .await
        .unwrap();
    assert_eq!(
        bin.ready["tls_fingerprint"].as_str().unwrap(),
        ftpshare::fingerprint(&der)
    );
    (decode(&der), bin.ready.clone())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_certificate_names_this_run_and_its_addresses() {
    if !need("openssl") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let loopback: Vec<std::net::IpAddr> =
        vec![[127, 0, 0, 1].into(), std::net::Ipv6Addr::LOCALHOST.into()];
    let host_name = String::from_utf8(run("hostname", &[]).stdout)
        .unwrap()
        .trim()
        .to_lowercase();

    // All interfaces: the URL shows the detected LAN address.
    let started = unix_now();
    let (cert, ready) = served_certificate(dir.path(), &["--tls", "-t", "10m"]).await;
    assert!(
        cert.subject
            .contains(&format!("CN=ftpshare on {host_name}")),
        "{}",
        cert.subject
    );
    assert!(
        cert.subject.contains("O=ftpshare (generated for this run)"),
        "{}",
        cert.subject
    );
    let url_host: std::net::IpAddr = ready["host"].as_str().unwrap().parse().unwrap();
    assert!(
        cert.ips.contains(&url_host),
        "{url_host} not in {:?}",
        cert.ips
    );
    for ip in &loopback {
        assert!(cert.ips.contains(ip), "{ip} not in {:?}", cert.ips);
    }
    assert!(
        cert.dns.contains(&"localhost".to_string()),
        "{:?}",
        cert.dns
    );
    assert!(cert.dns.contains(&host_name), "{:?}", cert.dns);
    // From an hour before the start to a day after the 10 minutes.
    let ended = unix_now();
    assert!(
        (started - 3600 - 1..=ended - 3600).contains(&cert.not_before),
        "{}",
        cert.not_before
    );
    let end = 600 + 86_400;
    assert!(
        (started + end - 1..=ended + end).contains(&cert.not_after),
        "{}",
        cert.not_after
    );

    // A public address, and a specific bind address; no timeout.
    let started = unix_now();
    let (cert, _) = served_certificate(
        dir.path(),
        &[
            "--tls",
            "-t",
            "0",
            "-b",
            "127.0.0.1",
            "--public-host",
            "203.0.113.7",
        ],
    )
    .await;
    let public: std::net::IpAddr = [203, 0, 113, 7].into();
    assert!(cert.ips.contains(&public), "{:?}", cert.ips);
    assert!(cert.ips.contains(&loopback[0]), "{:?}", cert.ips);
    let ended = unix_now();
    let end = 30 * 86_400;
    assert!(
        (started + end - 1..=ended + end).contains(&cert.not_after),
        "{}",
        cert.not_after
    );
}

/// A --public-host name must resolve, which in a test means a name of
/// this machine; the library call the CLI makes is checked instead.
#[test]
fn generated_certificate_carries_a_public_host_name() {
    let id = TlsIdentity::self_signed_for(
        &["ftp.example.test".into(), "[2001:db8::7]".into()],
        Duration::from_secs(60),
    )
    .unwrap();
    let cert = decode(id.certificate_der());
    assert!(
        cert.dns.contains(&"ftp.example.test".to_string()),
        "{:?}",
        cert.dns
    );
    let v6: std::net::IpAddr = "2001:db8::7".parse().unwrap();
    assert!(cert.ips.contains(&v6), "{:?}", cert.ips);
    assert!(
        cert.not_after - cert.not_before == 3600 + 60
            || cert.not_after - cert.not_before == 3600 + 61
    );
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

// ---------------------------------------------------------------------
// Data connections in either order: a client that shakes hands before
// it sends the transfer command, and one that closes at once after its
// last write.
// ---------------------------------------------------------------------

impl TlsRaw {
    /// Handshake first: connect to the passive port, complete TLS, and
    /// only then send `line` (as some Go and Python clients do).
    async fn handshake_then(&mut self, line: &str) -> (Tls, Reply) {
        let tcp = self.epsv().await;
        let tls = tokio::time::timeout(Duration::from_secs(10), self.secure(tcp))
            .await
            .expect("the server never answered a handshake sent before the command")
            .unwrap();
        let opening = self.cmd(line).await;
        (tls, opening)
    }
}

#[tokio::test]
async fn handshake_before_the_command_works_both_ways_tls12_and_13() {
    for version in [&rustls::version::TLS12, &rustls::version::TLS13] {
        for mode in [TlsMode::Explicit, TlsMode::Implicit] {
            let (t, id) = tls_server(mode, true).await;
            let body = pseudo_random(300_000, 77);
            t.write("down.bin", &body);
            let config = client_config(&id, &[version]);
            let mut c = match mode {
                TlsMode::Implicit => TlsRaw::implicit(t.addr, config).await,
                _ => TlsRaw::explicit(t.addr, config).await,
            };
            c.login().await;
            if mode == TlsMode::Explicit {
                c.protect().await;
            }
            let what = format!("{version:?} {mode:?}");
            // A download.
            let (mut tls, opening) = c.handshake_then("RETR down.bin").await;
            assert_eq!(opening.code, 150, "{what}: {opening:?}");
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            assert_eq!(c.reply().await.code, 226, "{what}");
            assert!(got == body, "{what}: {} bytes", got.len());
            // A listing.
            let (mut tls, opening) = c.handshake_then("NLST").await;
            assert_eq!(opening.code, 150, "{what}: {opening:?}");
            let mut got = Vec::new();
            tls.read_to_end(&mut got).await.unwrap();
            assert_eq!(c.reply().await.code, 226, "{what}");
            assert!(String::from_utf8_lossy(&got).contains("down.bin"), "{what}");
            // An upload, then the command-first order on the same session.
            let (mut tls, opening) = c.handshake_then("STOR up.bin").await;
            assert_eq!(opening.code, 150, "{what}: {opening:?}");
            tls.write_all(&body).await.unwrap();
            tls.shutdown().await.unwrap();
            drop(tls);
            assert_eq!(c.reply().await.code, 226, "{what}");
            assert_eq!(file_sha(&t, "up.bin"), sha256(&body), "{what}");
            let (_, done) = c.push("STOR up2.bin", &body, false).await;
            assert_eq!(done.code, 226, "{what}");
            let (got, done) = c.fetch("RETR up2.bin", false).await;
            assert_eq!(done.code, 226, "{what}");
            assert!(got == body, "{what}");
        }
    }
}

/// A client that closes its data connection right after its last write,
/// reading nothing: hundreds of empty and one-byte uploads over TLS 1.3,
/// none of them taken for a cut-off one.
#[tokio::test]
async fn empty_and_tiny_uploads_that_close_at_once_all_succeed() {
    let (t, id) = tls_server(TlsMode::Explicit, false).await;
    let mut c = TlsRaw::explicit(t.addr, client_config(&id, &[&rustls::version::TLS13])).await;
    c.login().await;
    c.protect().await;
    let mut failed = Vec::new();
    for i in 0..400 {
        let body: &[u8] = if i % 2 == 0 { b"" } else { b"x" };
        let (_, done) = c.push(&format!("STOR e{i}.bin"), body, false).await;
        if done.code != 226
            || std::fs::read(t.path(&format!("e{i}.bin"))).ok().as_deref() != Some(body)
        {
            failed.push(format!("{i}: {done:?}"));
        }
    }
    assert!(
        failed.is_empty(),
        "{} of 400 failed: {failed:?}",
        failed.len()
    );
}
