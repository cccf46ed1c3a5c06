//! Security: nothing outside the served folder can be read or written,
//! read-only means read-only, and misbehaving clients cannot hurt the
//! server or the files.

mod common;

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use common::*;
use ftpshare::{AccessMode, Limits};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// A server whose root is `outer/root`, with a secret file next to the
/// root and a folder `outer/elsewhere` that must never be written.
struct Jail {
    t: TestServer,
    outer: tempfile::TempDir,
}

impl Jail {
    fn root(&self) -> PathBuf {
        self.outer.path().join("root")
    }
    fn secret(&self) -> PathBuf {
        self.outer.path().join("secret.txt")
    }
    fn elsewhere(&self) -> PathBuf {
        self.outer.path().join("elsewhere")
    }
}

const SECRET: &[u8] = b"top secret, outside the share";

async fn jail(mode: AccessMode) -> Jail {
    let outer = tempfile::tempdir().unwrap();
    let root = outer.path().join("root");
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::create_dir_all(outer.path().join("elsewhere")).unwrap();
    std::fs::write(outer.path().join("secret.txt"), SECRET).unwrap();
    std::fs::write(outer.path().join("elsewhere/kept.txt"), b"kept").unwrap();
    std::fs::write(root.join("inside.txt"), b"inside").unwrap();
    std::fs::write(root.join("sub/f.txt"), b"in sub").unwrap();
    let r = root.clone();
    let t = start_with(move |b| b.root(r).access(mode)).await;
    Jail { t, outer }
}

/// Every file under `dir` with its hash (symlinks by their target text),
/// and every folder: a fingerprint of the whole tree.
fn tree(dir: &Path) -> BTreeMap<String, String> {
    fn walk(base: &Path, dir: &Path, out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let e = e.unwrap();
            let p = e.path();
            let rel = p.strip_prefix(base).unwrap().to_string_lossy().into_owned();
            let ft = e.file_type().unwrap();
            if ft.is_symlink() {
                let target = std::fs::read_link(&p).unwrap();
                out.insert(rel, format!("link:{}", target.display()));
            } else if ft.is_dir() {
                out.insert(rel.clone(), "dir".into());
                walk(base, &p, out);
            } else {
                let bytes = std::fs::read(&p).unwrap();
                let md = e.metadata().unwrap();
                use std::os::unix::fs::MetadataExt;
                out.insert(rel, format!("{} {}", sha256(&bytes), md.mode()));
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, dir, &mut out);
    out
}

#[tokio::test]
async fn dot_dot_and_absolute_paths_stay_inside() {
    let j = jail(AccessMode::Writable).await;
    // A non-UTF-8 name next to the root: its escaped form with an escaped
    // `../` in front must not reach it.
    use std::os::unix::ffi::OsStrExt;
    let raw_name = std::ffi::OsStr::from_bytes(b"secret\xff");
    std::fs::write(j.outer.path().join(raw_name), SECRET).unwrap();
    let mut raw = j.t.login().await;
    let secret_abs = j.secret().display().to_string();
    for path in [
        "../secret.txt",
        "/../secret.txt",
        "/../../secret.txt",
        "sub/../../secret.txt",
        "\\..\\secret.txt",
        "..\\secret.txt",
        "../../etc/passwd",
        "../../../../../../etc/passwd",
        "/etc/passwd",
        "..%2Fsecret.txt",
        "%2E%2E/secret.txt",
        "%2E%2E%2Fsecret%FF",
        "sub/%2E%2E%2F%2E%2E%2Fsecret%FF",
        secret_abs.as_str(),
    ] {
        let (code, got) = try_retr(&mut raw, path).await;
        assert_eq!(code, 550, "RETR {path} gave {code}: {got:?}");
        raw.ok(&format!("SIZE {path}"), 550).await;
    }
    // `..` above the root is the root, as in a chroot.
    for path in ["..", "/../..", "../../..", "sub/../.."] {
        raw.ok(&format!("CWD {path}"), 250).await;
        let r = raw.ok("PWD", 257).await;
        assert!(r.text.starts_with("257 \"/\""), "{path}: {r:?}");
    }
    raw.ok("CWD \\..\\", 550).await;
    let (code, text) = try_list(&mut raw, "NLST ../..").await;
    assert_eq!(code, 150);
    let names: Vec<&str> = text.lines().collect();
    assert_eq!(names, ["inside.txt", "sub"], "{text}");
    // Writes with `..` land inside the root, never next to it.
    assert_eq!(try_stor(&mut raw, "STOR ../escaped.txt", b"x").await, 226);
    assert!(j.root().join("escaped.txt").exists());
    assert!(!j.outer.path().join("escaped.txt").exists());
    raw.ok("MKD ../../made", 257).await;
    assert!(j.root().join("made").is_dir());
    assert!(!j.outer.path().join("made").exists());
    raw.ok("RNFR inside.txt", 350).await;
    raw.ok("RNTO ../../moved.txt", 250).await;
    assert!(j.root().join("moved.txt").exists());
    assert!(!j.outer.path().join("moved.txt").exists());
    assert_eq!(std::fs::read(j.secret()).unwrap(), SECRET);
}

#[tokio::test]
async fn symlinks_out_of_the_root_are_refused() {
    let j = jail(AccessMode::Writable).await;
    let root = j.root();
    std::os::unix::fs::symlink("/etc", root.join("etc_link")).unwrap();
    std::os::unix::fs::symlink(j.secret(), root.join("secret_link")).unwrap();
    std::os::unix::fs::symlink(j.elsewhere(), root.join("out_dir")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", root.join("rel_secret")).unwrap();
    let outside_before = tree(&j.elsewhere());
    let mut raw = j.t.login().await;

    for path in [
        "etc_link/passwd",
        "/etc_link/hostname",
        "secret_link",
        "rel_secret",
        "out_dir/kept.txt",
    ] {
        let (code, got) = try_retr(&mut raw, path).await;
        assert_eq!(code, 550, "RETR {path} gave {code}: {got:?}");
        raw.ok(&format!("SIZE {path}"), 550).await;
        raw.ok(&format!("MDTM {path}"), 550).await;
        if path.contains('/') {
            raw.ok(&format!("MLST {path}"), 550).await;
        }
    }
    for dir in ["etc_link", "out_dir", "etc_link/", "/sub/../out_dir"] {
        raw.ok(&format!("CWD {dir}"), 550).await;
        for cmd in ["LIST", "NLST", "MLSD"] {
            let (code, text) = try_list(&mut raw, &format!("{cmd} {dir}")).await;
            assert_eq!(code, 550, "{cmd} {dir} gave {code}: {text}");
        }
        raw.ok(&format!("STAT {dir}"), 550).await;
    }
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/\""), "{r:?}");

    // Writing through a link: refused, and nothing changes out there.
    for cmd in [
        "STOR out_dir/new.txt",
        "STOR out_dir/kept.txt",
        "STOR secret_link",
        "STOR rel_secret",
        "APPE secret_link",
        "APPE out_dir/kept.txt",
        "STOR etc_link/ftpshare-test",
        "STOU out_dir/x",
    ] {
        let code = try_stor(&mut raw, cmd, b"overwritten!").await;
        assert_eq!(code, 550, "{cmd} gave {code}");
    }
    raw.ok("MKD out_dir/newdir", 550).await;
    raw.ok("DELE out_dir/kept.txt", 550).await;
    raw.ok("RMD out_dir", 550).await;
    raw.ok("RNFR inside.txt", 350).await;
    raw.ok("RNTO out_dir/stolen.txt", 550).await;
    raw.ok("RNFR out_dir/kept.txt", 550).await;
    assert_eq!(std::fs::read(j.secret()).unwrap(), SECRET);
    assert_eq!(tree(&j.elsewhere()), outside_before);
    assert!(!Path::new("/etc/ftpshare-test").exists());
    assert!(root.join("inside.txt").exists());
    // The links themselves are still there, untouched.
    assert_eq!(
        std::fs::read_link(root.join("secret_link")).unwrap(),
        j.secret()
    );

    // Listings show them as links, without following them and without
    // where they point: LIST, STAT, MLSD and MLST alike.
    let (code, text) = try_list(&mut raw, "LIST").await;
    assert_eq!(code, 150);
    let line = text.lines().find(|l| l.contains("etc_link")).unwrap();
    assert!(
        line.starts_with('l') && line.ends_with(" etc_link"),
        "{line}"
    );
    // Not even the target's length (a link's own size) is shown.
    assert_eq!(line.split_whitespace().nth(4), Some("0"), "{line}");
    let (_, mlsd) = try_list(&mut raw, "MLSD").await;
    let mut shown = vec![text, mlsd, raw.ok("STAT /", 212).await.text];
    for link in ["etc_link", "secret_link", "out_dir", "rel_secret"] {
        shown.push(raw.cmd(&format!("STAT {link}")).await.text);
        shown.push(raw.ok(&format!("MLST {link}"), 250).await.text);
    }
    let outer = j.outer.path().to_string_lossy().into_owned();
    for text in shown {
        for leak in ["->", "passwd", "secret.txt", "elsewhere", &outer] {
            assert!(!text.contains(leak), "{leak:?} shown in {text}");
        }
    }
}

#[tokio::test]
async fn symlinks_inside_the_root_work() {
    let j = jail(AccessMode::Writable).await;
    let root = j.root();
    std::os::unix::fs::symlink("sub", root.join("sub_link")).unwrap();
    std::os::unix::fs::symlink("sub/f.txt", root.join("f_link")).unwrap();
    std::os::unix::fs::symlink("../inside.txt", root.join("sub/up_link")).unwrap();
    let mut raw = j.t.login().await;
    let (code, got) = try_retr(&mut raw, "f_link").await;
    assert_eq!((code, got.as_slice()), (150, &b"in sub"[..]));
    let (code, got) = try_retr(&mut raw, "sub/up_link").await;
    assert_eq!((code, got.as_slice()), (150, &b"inside"[..]));
    let (code, got) = try_retr(&mut raw, "sub_link/f.txt").await;
    assert_eq!((code, got.as_slice()), (150, &b"in sub"[..]));
    raw.ok("SIZE f_link", 213).await;
    raw.ok("CWD sub_link", 250).await;
    let (code, text) = try_list(&mut raw, "NLST").await;
    assert_eq!(code, 150);
    assert!(text.contains("f.txt"), "{text}");
    raw.ok("CWD /", 250).await;
    // MLSD types links as links, with their targets, as LIST does.
    let (_, text) = try_list(&mut raw, "MLSD").await;
    assert!(
        text.contains("type=OS.unix=slink:sub;modify=") && text.contains(" sub_link\r\n"),
        "{text}"
    );
    assert!(
        text.contains("type=OS.unix=slink:sub/f.txt;size=6;"),
        "{text}"
    );
    // A target a fact value cannot hold (a space) is left out.
    std::fs::create_dir(root.join("a b")).unwrap();
    std::os::unix::fs::symlink("a b", root.join("sp_link")).unwrap();
    let (_, text) = try_list(&mut raw, "MLSD").await;
    let line = text.lines().find(|l| l.ends_with(" sp_link")).unwrap();
    assert!(line.starts_with("type=OS.unix=slink;modify="), "{line}");
    // Links inside the share show their target as it reads.
    let (_, text) = try_list(&mut raw, "LIST").await;
    assert!(text.contains(" f_link -> sub/f.txt\r\n"), "{text}");
    assert!(text.contains(" sub_link -> sub\r\n"), "{text}");
    let r = raw.ok("STAT sub/up_link", 213).await;
    assert!(r.text.contains(" up_link -> ../inside.txt\n"), "{r:?}");
    // Uploading through a link to a folder inside the root works.
    assert_eq!(try_stor(&mut raw, "STOR sub_link/up.txt", b"up").await, 226);
    assert_eq!(std::fs::read(root.join("sub/up.txt")).unwrap(), b"up");
}

#[tokio::test]
async fn read_only_refuses_every_write() {
    let j = jail(AccessMode::ReadOnly).await;
    let root = j.root();
    std::fs::create_dir(root.join("empty")).unwrap();
    let before = tree(&root);
    let mut raw = j.t.login().await;
    for cmd in [
        "STOR new.txt",
        "STOR inside.txt",
        "APPE inside.txt",
        "STOU",
        "STOU inside.txt",
    ] {
        assert_eq!(try_stor(&mut raw, cmd, b"changed").await, 550, "{cmd}");
    }
    raw.ok("REST 2", 350).await;
    assert_eq!(try_stor(&mut raw, "STOR inside.txt", b"x").await, 550);
    for cmd in [
        "DELE inside.txt",
        "DELE sub/f.txt",
        "MKD newdir",
        "XMKD newdir",
        "RMD empty",
        "XRMD empty",
        "RNFR inside.txt",
        "RNTO renamed.txt",
    ] {
        raw.ok(cmd, 550).await;
    }
    // Reading still works.
    let (code, got) = try_retr(&mut raw, "inside.txt").await;
    assert_eq!((code, got.as_slice()), (150, &b"inside"[..]));
    let (_, text) = try_list(&mut raw, "MLSD").await;
    assert!(text.contains("perm=r;"), "{text}");
    assert!(!text.contains("perm=adfwr"), "{text}");
    assert_eq!(tree(&root), before);
}

#[tokio::test]
async fn an_over_long_line_is_refused_and_the_session_goes_on() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    let long = format!("RETR {}\r\n", "a".repeat(10 * 1024));
    raw.send_raw(long.as_bytes()).await;
    assert_eq!(raw.reply().await.code, 500);
    raw.ok("NOOP", 200).await;
    // Also before login, and split over many writes.
    let mut raw = Raw::connect(t.addr).await;
    for _ in 0..40 {
        raw.send_raw(&[b'x'; 1024]).await;
    }
    raw.send_raw(b"\r\n").await;
    assert_eq!(raw.reply().await.code, 500);
    raw.ok("USER tester", 331).await;
    raw.ok("PASS s3cret-pass", 230).await;
}

#[tokio::test]
async fn a_silent_client_is_closed_by_the_login_timeout() {
    let t = start_with(|b| {
        b.access(AccessMode::Writable).limits(Limits {
            login_timeout: Duration::from_secs(2),
            ..test_limits()
        })
    })
    .await;
    let mut silent = Raw::connect(t.addr).await;
    assert_eq!(silent.greeting.code, 220);
    // A client that logs in in time is not affected.
    let mut ok = t.login().await;
    let r = silent.reply().await;
    assert_eq!(r.code, 421, "{r:?}");
    assert!(silent.closed().await);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    ok.ok("NOOP", 200).await;
    // USER alone is not a login: still closed.
    let mut half = Raw::connect(t.addr).await;
    half.ok("USER tester", 331).await;
    assert_eq!(half.reply().await.code, 421);
    assert!(half.closed().await);
}

#[tokio::test]
async fn the_login_timeout_restarts_after_rein() {
    let t = start_with(|b| {
        b.access(AccessMode::Writable).limits(Limits {
            login_timeout: Duration::from_secs(2),
            ..test_limits()
        })
    })
    .await;
    let mut raw = t.login().await;
    // Logged in longer than the login timeout, then logged out: the
    // client gets a fresh login period, not an instant 421.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    raw.ok("REIN", 220).await;
    raw.ok("USER tester", 331).await;
    raw.ok("PASS s3cret-pass", 230).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;
    raw.ok("REIN", 220).await;
    // ...which still runs out if the client stays silent.
    let r = raw.reply().await;
    assert_eq!(r.code, 421, "{r:?}");
    assert!(raw.closed().await);
}

async fn wait_for_no_temp_files(dir: &Path) {
    for _ in 0..100 {
        if temp_files(dir).is_empty() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("temporary files left behind: {:?}", temp_files(dir));
}

#[tokio::test]
async fn a_client_killed_mid_stor_leaves_the_old_file() {
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(100_000, 31);
    t.write("keep.bin", &old);
    let before = tree(t.root());
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("STOR keep.bin", 150).await;
    data.write_all(&pseudo_random(2 << 20, 32)).await.unwrap();
    // Make sure the server got (some of) it, then reset the connection.
    wait_received(&mut raw, 1).await;
    data.set_zero_linger().unwrap();
    drop(data);
    let r = raw.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    wait_for_no_temp_files(t.root()).await;
    assert_eq!(tree(t.root()), before);
    raw.ok("NOOP", 200).await;

    // ABOR in the middle of an upload: the same, 426 then 226.
    let mut data = raw.epsv().await;
    raw.ok("STOR keep.bin", 150).await;
    data.write_all(&pseudo_random(1 << 20, 34)).await.unwrap();
    raw.ok("ABOR", 426).await;
    assert_eq!(raw.reply().await.code, 226);
    drop(data);
    wait_for_no_temp_files(t.root()).await;
    assert_eq!(tree(t.root()), before);
    raw.ok("QUIT", 221).await;
    drop(raw);

    // The whole client dies: control and data connection reset at once.
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("STOR keep.bin", 150).await;
    data.write_all(&pseudo_random(1 << 20, 33)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let Raw { reader, writer, .. } = raw;
    let control = reader.into_inner().reunite(writer).unwrap();
    control.set_zero_linger().unwrap();
    data.set_zero_linger().unwrap();
    drop(control);
    drop(data);
    wait_for_no_temp_files(t.root()).await;
    assert_eq!(tree(t.root()), before);
    for _ in 0..100 {
        if t.server.connections() == 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(t.server.connections(), 0);
}

#[tokio::test]
async fn abor_during_a_200_mb_retr() {
    let t = start(AccessMode::Writable).await;
    let f = std::fs::File::create(t.path("huge.bin")).unwrap();
    f.set_len(200 << 20).unwrap();
    drop(f);
    let small = pseudo_random(50_000, 41);
    t.write("small.bin", &small);
    let mut raw = t.login().await;
    raw.ok("TYPE I", 200).await;
    let mut data = raw.epsv().await;
    raw.ok("RETR huge.bin", 150).await;
    let mut buf = vec![0u8; 1 << 20];
    data.read_exact(&mut buf).await.unwrap();
    assert!(buf.iter().all(|&b| b == 0));
    raw.ok("ABOR", 426).await;
    let r = raw.reply().await;
    assert_eq!(r.code, 226, "{r:?}");
    // The data connection is closed by the server: it ends well short of 200 MB.
    let mut rest = 0usize;
    loop {
        match data.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => rest += n,
        }
    }
    assert!(rest < 150 << 20, "read {rest} more bytes after ABOR");
    let data = raw.epsv().await;
    raw.ok("RETR small.bin", 150).await;
    assert_eq!(sha256(&read_all(data).await), sha256(&small));
    assert_eq!(raw.reply().await.code, 226);
}

fn have_ipv6_loopback() -> bool {
    std::net::TcpListener::bind("[::1]:0").is_ok()
}

#[tokio::test]
async fn dual_stack_listener_serves_ipv4_and_ipv6() {
    if !need_that("IPv6 loopback (::1)", have_ipv6_loopback()) {
        return;
    }
    let t = start_with(|b| {
        b.access(AccessMode::Writable)
            .bind("[::]:0".parse().unwrap())
    })
    .await;
    let payload = pseudo_random(200_000, 51);
    t.write("f.bin", &payload);
    let port = t.addr.port();
    for ip in ["127.0.0.1", "::1"] {
        let ip: IpAddr = ip.parse().unwrap();
        let mut raw = Raw::connect(SocketAddr::new(ip, port)).await;
        raw.ok("USER tester", 331).await;
        raw.ok("PASS s3cret-pass", 230).await;
        raw.ok("TYPE I", 200).await;
        // The data connection goes to the address the client used.
        let data = raw.epsv().await;
        assert_eq!(data.peer_addr().unwrap().ip(), ip);
        raw.ok("RETR f.bin", 150).await;
        assert_eq!(sha256(&read_all(data).await), sha256(&payload));
        assert_eq!(raw.reply().await.code, 226);
        if ip.is_ipv4() {
            raw.ok("EPSV 2", 522).await;
            raw.ok("EPRT |2|::1|5000|", 501).await;
            raw.ok("PASV", 227).await;
            // Active mode over IPv4, through the dual-stack listener.
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let p = listener.local_addr().unwrap().port();
            raw.ok(&format!("PORT 127,0,0,1,{},{}", p >> 8, p & 0xff), 200)
                .await;
            raw.send_raw(b"RETR f.bin\r\n").await;
            let (sock, from) = listener.accept().await.unwrap();
            assert_eq!(from.ip(), ip);
            assert_eq!(raw.reply().await.code, 150);
            assert_eq!(sha256(&read_all(sock).await), sha256(&payload));
            assert_eq!(raw.reply().await.code, 226);
        } else {
            raw.ok("EPSV 1", 522).await;
            raw.ok("EPSV 2", 229).await;
            raw.ok("EPRT |1|127.0.0.1|5000|", 501).await;
            // Active mode over IPv6.
            let listener = TcpListener::bind("[::1]:0").await.unwrap();
            let p = listener.local_addr().unwrap().port();
            raw.ok(&format!("EPRT |2|::1|{p}|"), 200).await;
            raw.send_raw(b"RETR f.bin\r\n").await;
            let (sock, from) = listener.accept().await.unwrap();
            assert_eq!(from.ip(), ip);
            assert_eq!(raw.reply().await.code, 150);
            assert_eq!(sha256(&read_all(sock).await), sha256(&payload));
            assert_eq!(raw.reply().await.code, 226);
            let r = raw.ok("STAT", 211).await;
            assert!(r.text.contains("::1"), "{r:?}");
        }
        raw.ok("QUIT", 221).await;
    }
}

/// Bytes the server has not yet read from the IPv4 connection between
/// `server` and `client` (the receive queue in /proc/net/tcp).
fn unread_by_server(server: SocketAddr, client: SocketAddr) -> Option<u64> {
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    let (local, remote) = (
        format!(":{:04X}", server.port()),
        format!(":{:04X}", client.port()),
    );
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() > 4 && f[1].ends_with(&local) && f[2].ends_with(&remote) {
            let rx = f[4].split(':').nth(1)?;
            return u64::from_str_radix(rx, 16).ok();
        }
        None
    })
}

#[tokio::test]
async fn a_command_queued_behind_a_stuck_transfer_does_not_block_shutdown() {
    let t = start_with(|b| {
        b.access(AccessMode::Writable).limits(Limits {
            shutdown_grace: Duration::from_secs(1),
            ..test_limits()
        })
    })
    .await;
    let f = std::fs::File::create(t.path("huge.bin")).unwrap();
    f.set_len(200 << 20).unwrap();
    drop(f);
    let mut raw = t.login().await;
    let data = raw.epsv().await;
    raw.ok("RETR huge.bin", 150).await;
    // The client reads nothing, and queues a command behind the transfer:
    // the session has read it once the server's socket holds no unread byte.
    raw.send_raw(b"NOOP\r\n").await;
    let client = raw.writer.local_addr().unwrap();
    for _ in 0..1000 {
        if unread_by_server(t.addr, client) == Some(0) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(unread_by_server(t.addr, client), Some(0));
    // Shutdown ends within the grace period plus a second for the
    // goodbyes, and leaves no connection behind.
    let started = std::time::Instant::now();
    t.server.shutdown().await;
    let bound = Duration::from_secs(1 + 1);
    assert!(started.elapsed() < bound, "{:?}", started.elapsed());
    assert_eq!(t.server.connections(), 0);
    let r = raw.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    assert_eq!(raw.reply().await.code, 200);
    assert_eq!(raw.reply().await.code, 421);
    assert!(raw.closed().await);
    drop(data);
}

/// A FIFO in the share must not freeze the server: opening one would
/// block until a writer appears, so it is refused, and listed as what it is.
#[tokio::test]
async fn a_fifo_in_the_share_is_refused_without_blocking() {
    let t = start(AccessMode::Writable).await;
    let fifo = std::ffi::CString::new(t.path("pipe").to_str().unwrap()).unwrap();
    // SAFETY: a valid NUL-terminated path.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o644) }, 0);
    let mut raw = t.login().await;
    // More requests than the runtime has threads: each would have hung.
    for _ in 0..4 {
        assert_eq!(raw.cmd("SIZE pipe").await.code, 550);
        let _data = raw.epsv().await;
        assert_eq!(raw.cmd("RETR pipe").await.code, 550);
        assert_eq!(raw.cmd("APPE pipe").await.code, 550);
    }
    let mut other = t.login().await;
    other.ok("NOOP", 200).await;
    let r = raw.ok("STAT pipe", 213).await;
    assert!(r.text.contains("\n prw-r--r--"), "{r:?}");
    let r = raw.ok("MLST pipe", 250).await;
    assert!(r.text.contains("type=OS.unix=special;"), "{r:?}");
}

/// A resumed upload (REST + STOR) replaces the tail only once complete:
/// cut short, the bytes beyond what arrived are still there.
#[tokio::test]
async fn an_interrupted_resume_keeps_the_rest_of_the_file() {
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(100_000, 71);
    t.write("r.bin", &old);
    let mut raw = t.login().await;
    raw.ok("REST 50000", 350).await;
    let mut data = raw.epsv().await;
    raw.ok("STOR r.bin", 150).await;
    data.write_all(&[7u8; 1000]).await.unwrap();
    wait_received(&mut raw, 1000).await;
    let s = socket2::SockRef::from(&data);
    s.set_linger(Some(Duration::ZERO)).unwrap();
    drop(data);
    assert_eq!(raw.reply().await.code, 426);
    let now = std::fs::read(t.path("r.bin")).unwrap();
    assert_eq!(now.len(), old.len());
    assert_eq!(&now[..50_000], &old[..50_000]);
    assert_eq!(&now[51_000..], &old[51_000..]);
    // A complete resume ends the file where the new data ends.
    raw.ok("REST 50000", 350).await;
    let mut data = raw.epsv().await;
    raw.ok("STOR r.bin", 150).await;
    data.write_all(&[9u8; 10]).await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.code, 226);
    let now = std::fs::read(t.path("r.bin")).unwrap();
    assert_eq!(now.len(), 50_010);
    assert_eq!(&now[50_000..], &[9u8; 10]);
}

/// A client that vanishes mid-upload still produces an event saying how
/// the transfer ended (scripts wait on these).
#[tokio::test]
async fn a_vanished_client_still_gets_its_transfer_reported() {
    let t = start(AccessMode::Writable).await;
    let mut events = t.server.subscribe();
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("STOR gone.bin", 150).await;
    data.write_all(&[1u8; 5000]).await.unwrap();
    drop(raw);
    drop(data);
    let finished = tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            if let Ok(ftpshare::Event::TransferFinished { path, error, .. }) = events.recv().await {
                return (path, error);
            }
        }
    })
    .await
    .expect("no TransferFinished event");
    assert_eq!(finished.0, "/gone.bin");
    assert!(finished.1.is_some(), "{finished:?}");
    assert!(!t.path("gone.bin").exists());
}

/// Our own temporary upload files are invisible: no client can fetch,
/// delete or rename one by guessing its name while an upload runs.
#[tokio::test]
async fn temporary_upload_files_cannot_be_reached_by_name() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("STOR slow.bin", 150).await;
    data.write_all(&[5u8; 1000]).await.unwrap();
    data.flush().await.unwrap();
    let temp = loop {
        let found = std::fs::read_dir(t.root())
            .unwrap()
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .find(|n| n.starts_with(".ftpshare-"));
        if let Some(name) = found {
            break name;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let mut other = t.login().await;
    for cmd in ["SIZE", "MDTM", "DELE", "RNFR", "MLST"] {
        let r = other.cmd(&format!("{cmd} {temp}")).await;
        assert_eq!(r.code, 550, "{cmd}: {r:?}");
    }
    let _d = other.epsv().await;
    assert_eq!(other.cmd(&format!("RETR /{temp}")).await.code, 550);
    drop(data);
    assert_eq!(raw.reply().await.code, 226);
    assert_eq!(std::fs::read(t.path("slow.bin")).unwrap(), vec![5u8; 1000]);
}

/// CR or LF inside a path could forge lines of a listing: refused.
#[tokio::test]
async fn line_breaks_in_paths_are_refused() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    raw.send_raw(b"MKD evil\r226 fake\r\n").await;
    assert_eq!(raw.reply().await.code, 501);
    assert_eq!(std::fs::read_dir(t.root()).unwrap().count(), 0);
    // RFC 2640 §3.1: a CR in a name is sent as CR NUL. It names the file
    // that listings show with `%0D`, and a new name with it is refused
    // as any control character is.
    t.write("cr\rname", b"abc");
    t.write("50%\rx", b"percent");
    t.write("50%0D", b"other");
    raw.send_raw(b"SIZE cr\r\0name\r\n").await;
    assert_eq!(raw.reply().await.text, "213 3");
    raw.send_raw(b"SIZE 50%\r\0x\r\n").await;
    assert_eq!(raw.reply().await.text, "213 7");
    raw.send_raw(b"MKD evil\r\0x\r\n").await;
    assert_eq!(raw.reply().await.code, 553);
    assert_eq!(std::fs::read_dir(t.root()).unwrap().count(), 3);
}

/// A client cannot plant a name with a control character, whether it
/// sends the character itself (a TAB) or the escaped form of a line break
/// that listings show for such names (`%0A`); nor store a file under a
/// name that ends like a folder's (`sub/`). Nothing is made; a name that
/// is merely not UTF-8 still is.
#[tokio::test]
async fn new_names_with_control_characters_are_refused() {
    for mode in [AccessMode::Writable, AccessMode::UploadOnly] {
        let t = start(mode).await;
        t.write("a.txt", b"kept");
        let mut raw = t.login().await;
        for cmd in [
            "STOR p%0Aq",
            "STOR p%0Dq",
            "STOR tab\tname",
            "STOR esc\u{1b}[31mred",
            "STOU p%0Aq",
            "MKD d%0Ax",
            "STOR sub/",
            "STOR sub/.",
        ] {
            let _data = raw.epsv().await;
            raw.ok(cmd, 553).await;
        }
        // A drop box makes the folders on the way; elsewhere they must be
        // there already.
        let _data = raw.epsv().await;
        if mode == AccessMode::Writable {
            raw.ok("STOR dir%0Ax/f.txt", 550).await;
            raw.ok("APPE p%0Aq", 553).await;
            raw.ok("RNFR a.txt", 350).await;
            raw.ok("RNTO z%0Az", 553).await;
        } else {
            raw.ok("STOR dir%0Ax/f.txt", 553).await;
        }
        let names: Vec<_> = std::fs::read_dir(t.root())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, ["a.txt"], "{mode:?}");
        assert_eq!(std::fs::read(t.path("a.txt")).unwrap(), b"kept");
        assert_eq!(try_stor(&mut raw, "STOR latin%E9.txt", b"ok").await, 226);
        // STOU's other names are held to the same rule: here cutting the
        // stem short would turn `.%0A` into an escaped line break.
        let long = format!("{}%zz.%0A", "a".repeat(247));
        assert_eq!(try_stor(&mut raw, &format!("STOU {long}"), b"1").await, 226);
        try_stor(&mut raw, &format!("STOU {long}"), b"2").await;
        for entry in std::fs::read_dir(t.root()).unwrap() {
            let name = entry.unwrap().file_name();
            assert!(
                !name.as_encoded_bytes().iter().any(u8::is_ascii_control),
                "{name:?}"
            );
        }
    }
}

/// Replacing a file keeps its permission bits: a private file stays private.
#[tokio::test]
async fn a_replaced_file_keeps_its_permissions() {
    use std::os::unix::fs::PermissionsExt;
    let t = start(AccessMode::Writable).await;
    t.write("private.txt", b"old secret");
    std::fs::set_permissions(
        t.path("private.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("STOR private.txt", 150).await;
    data.write_all(b"new secret").await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.code, 226);
    assert_eq!(std::fs::read(t.path("private.txt")).unwrap(), b"new secret");
    let mode = std::fs::metadata(t.path("private.txt"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

/// Replacing someone else's file as root (`sudo ftpshare -w ~user/inbox`)
/// keeps its owner, so its owner can still write it; so does a resume
/// from the middle, which replaces the file too.
#[tokio::test]
async fn a_replaced_file_keeps_its_owner() {
    use std::os::unix::fs::MetadataExt;
    // SAFETY: no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: giving a file away takes root");
        return;
    }
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    // A name with another link says nothing of whose it is: the new file
    // is the server's. A symlink's own owner counts, not its target's.
    t.write("bobs.txt", b"bob's");
    std::os::unix::fs::chown(t.path("bobs.txt"), Some(1002), Some(1002)).unwrap();
    std::fs::hard_link(t.path("bobs.txt"), t.path("hard.txt")).unwrap();
    std::os::unix::fs::symlink("bobs.txt", t.path("soft.txt")).unwrap();
    std::os::unix::fs::lchown(t.path("soft.txt"), Some(1005), Some(1005)).unwrap();
    for (name, owner) in [("hard.txt", (0, 0)), ("soft.txt", (1005, 1005))] {
        assert_eq!(
            try_stor(&mut raw, &format!("STOR {name}"), b"new").await,
            226
        );
        let md = std::fs::symlink_metadata(t.path(name)).unwrap();
        assert_eq!((md.uid(), md.gid()), owner, "{name}");
    }
    assert_eq!(std::fs::read(t.path("bobs.txt")).unwrap(), b"bob's");
    for (name, rest) in [("theirs.txt", None), ("resumed.txt", Some(3))] {
        t.write(name, b"old content");
        std::os::unix::fs::chown(t.path(name), Some(1234), Some(2345)).unwrap();
        if let Some(offset) = rest {
            raw.ok(&format!("REST {offset}"), 350).await;
        }
        assert_eq!(
            try_stor(&mut raw, &format!("STOR {name}"), b"new").await,
            226
        );
        let md = std::fs::metadata(t.path(name)).unwrap();
        assert_eq!((md.uid(), md.gid()), (1234, 2345), "{name}");
        let want: &[u8] = if rest.is_some() { b"oldnew" } else { b"new" };
        assert_eq!(std::fs::read(t.path(name)).unwrap(), want);
    }
}

/// APPE with no data adds nothing: the file keeps every byte.
#[tokio::test]
async fn an_empty_append_leaves_the_file_as_it_was() {
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(10_000, 91);
    t.write("log.txt", &old);
    let mut raw = t.login().await;
    assert_eq!(try_stor(&mut raw, "APPE log.txt", b"").await, 226);
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), old);
    // An append cut off by a vanished client adds nothing either.
    let mut data = raw.epsv().await;
    raw.ok("APPE log.txt", 150).await;
    data.write_all(&[3u8; 5000]).await.unwrap();
    wait_received(&mut raw, 5000).await;
    drop(raw);
    drop(data);
    wait_for_no_temp_files(t.root()).await;
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), old);
}

/// REST before APPE: the bytes go at the file's end, so a restart point
/// there is kept and one elsewhere refused (554), leaving the file as it
/// was, rather than silently ignored.
#[tokio::test]
async fn rest_before_appe_must_be_the_end() {
    let t = start(AccessMode::Writable).await;
    t.write("log.txt", b"0123456789");
    let mut raw = t.login().await;
    assert_eq!(try_resumed(&mut raw, 3, "APPE log.txt", b"Y").await, 554);
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"0123456789");
    assert_eq!(try_resumed(&mut raw, 10, "APPE log.txt", b"Y").await, 226);
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"0123456789Y");
    assert_eq!(try_resumed(&mut raw, 1, "APPE new.txt", b"Z").await, 554);
    assert!(!t.path("new.txt").exists());
    assert!(temp_files(t.root()).is_empty());
    // Another append lands while this one's data comes: the end is no
    // longer where REST said, so this one adds nothing.
    raw.ok("REST 11", 350).await;
    let mut data = raw.epsv().await;
    raw.ok("APPE log.txt", 150).await;
    data.write_all(b"late").await.unwrap();
    let mut other = t.login().await;
    assert_eq!(try_stor(&mut other, "APPE log.txt", b"Z").await, 226);
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.code, 554);
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"0123456789YZ");
    assert!(temp_files(t.root()).is_empty());
    // TYPE A: REST counts the octets sent, CRLF line ends and all, as
    // SIZE does (RFC 3659 §5); the end is there, not at the file's length.
    t.write("text.txt", b"a\nb\n");
    raw.ok("TYPE A", 200).await;
    let size = raw.ok("SIZE text.txt", 213).await;
    assert_eq!(size.text, "213 6");
    assert_eq!(
        try_resumed(&mut raw, 4, "APPE text.txt", b"c\r\n").await,
        554
    );
    assert_eq!(
        try_resumed(&mut raw, 6, "APPE text.txt", b"c\r\n").await,
        226
    );
    assert_eq!(std::fs::read(t.path("text.txt")).unwrap(), b"a\nb\nc\n");
    // STOR resumes the same way: at the end (9 octets), and before it,
    // here between the CR and LF of the second line's end.
    assert_eq!(
        try_resumed(&mut raw, 9, "STOR text.txt", b"d\r\n").await,
        226
    );
    assert_eq!(std::fs::read(t.path("text.txt")).unwrap(), b"a\nb\nc\nd\n");
    assert_eq!(
        try_resumed(&mut raw, 5, "STOR text.txt", b"\nX\r\n").await,
        226
    );
    assert_eq!(std::fs::read(t.path("text.txt")).unwrap(), b"a\nb\nX\n");
    assert_eq!(try_resumed(&mut raw, 10, "STOR text.txt", b"Y").await, 554);
    assert_eq!(std::fs::read(t.path("text.txt")).unwrap(), b"a\nb\nX\n");
    // Right after a CR the client sent, what follows decides what that CR
    // becomes, as in one upload of all the octets: with an LF, a line end;
    // with anything else, a CR kept. At the file's end and before it.
    for (before, rest, body, after) in [
        (
            &b"line1\r"[..],
            6,
            &b"\nline2\r\n"[..],
            &b"line1\nline2\n"[..],
        ),
        (b"line1\r", 6, b"x", b"line1\rx"),
        (b"ab\r\ncd\n", 3, b"\nXY\r\n", b"ab\nXY\n"),
    ] {
        t.write("cr.txt", before);
        assert_eq!(try_resumed(&mut raw, rest, "STOR cr.txt", body).await, 226);
        assert_eq!(
            std::fs::read(t.path("cr.txt")).unwrap(),
            after,
            "{before:?}"
        );
    }
    // An append cannot take back the CR a file ends in: REST + STOR can.
    t.write("cr.txt", b"line1\r");
    assert_eq!(try_resumed(&mut raw, 6, "APPE cr.txt", b"\nx").await, 554);
    assert_eq!(std::fs::read(t.path("cr.txt")).unwrap(), b"line1\r");
    assert!(temp_files(t.root()).is_empty());
}

/// REST `at`, then `cmd` with `body` as [`try_stor`] sends it.
async fn try_resumed(raw: &mut Raw, at: u64, cmd: &str, body: &[u8]) -> u16 {
    raw.ok(&format!("REST {at}"), 350).await;
    try_stor(raw, cmd, body).await
}

/// A server killed mid-upload leaves its hidden upload file behind, in a
/// folder that lists empty: RMD removes it with the folder. A folder with
/// anything else in it keeps everything. An upload still running into a
/// folder removed this way fails, and leaves nothing.
#[tokio::test]
async fn rmd_removes_a_folder_that_holds_only_upload_files() {
    let t = start(AccessMode::Writable).await;
    let left = ".ftpshare-0123456789abcdef.part";
    t.write(&format!("d/{left}"), b"left by a killed server");
    t.write(&format!("e/{left}"), b"left by a killed server");
    t.write("e/kept.txt", b"kept");
    let mut raw = t.login().await;
    let r = raw.ok("STAT d", 212).await;
    assert_eq!(r.text.lines().count(), 2, "{r:?}");
    raw.ok("RMD d", 250).await;
    assert!(!t.path("d").exists());
    raw.ok("RMD e", 550).await;
    assert!(t.path(&format!("e/{left}")).exists());
    assert!(t.path("e/kept.txt").exists());
    // Another program's file that only looks like ours is an ordinary
    // file: listed, and kept.
    t.write("g/.ftpshare-notes.part", b"someone's notes");
    let r = raw.ok("STAT g", 212).await;
    assert!(r.text.contains(".ftpshare-notes.part"), "{r:?}");
    raw.ok("RMD g", 550).await;
    assert!(t.path("g/.ftpshare-notes.part").exists());

    std::fs::create_dir(t.path("f")).unwrap();
    let mut up = t.login().await;
    let mut data = up.epsv().await;
    up.ok("STOR f/new.bin", 150).await;
    data.write_all(&[1u8; 1000]).await.unwrap();
    wait_received(&mut up, 1000).await;
    raw.ok("RMD f", 250).await;
    data.shutdown().await.unwrap();
    drop(data);
    let r = up.reply().await;
    assert_eq!(r.code, 550, "{r:?}");
    assert!(!t.path("f").exists());
}

/// Polls STAT until the running transfer has received at least `n` bytes.
async fn wait_received(raw: &mut Raw, n: usize) {
    for _ in 0..500 {
        let text = raw.ok("STAT", 211).await.text;
        let so_far = text
            .split_once("Transfer in progress: ")
            .and_then(|(_, t)| t.split_once(" ("))
            .and_then(|(_, t)| t.split(' ').next()?.parse::<usize>().ok());
        if so_far.is_some_and(|got| got >= n) {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the server never received {n} bytes");
}

/// Two clients appending to one file at once: both parts arrive whole,
/// one after the other, whatever the order in which their bytes came.
///
/// The appends are made to contend: the test holds an `flock` on the file
/// (as another program may) while both bodies arrive and both data
/// connections close, so both appends are ready to add their bytes when it
/// lets go. Parts of 16 MiB take long enough to add that two unserialised
/// appends, started together, overlap (planting that bug, by not taking
/// the lock in `Upload::append`, makes this test fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_appends_keep_both_parts_whole() {
    use std::os::fd::AsRawFd;
    const PART: usize = 16 << 20;
    let t = start(AccessMode::Writable).await;
    t.write("log.bin", b"head:");
    let (a, b) = (pseudo_random(PART, 1), pseudo_random(PART, 2));
    let held = std::fs::File::open(t.path("log.bin")).unwrap();
    // SAFETY: the descriptor is open for the duration of the call.
    assert_eq!(unsafe { libc::flock(held.as_raw_fd(), libc::LOCK_EX) }, 0);
    let mut ca = t.login().await;
    let mut cb = t.login().await;
    let mut da = ca.epsv().await;
    let mut db = cb.epsv().await;
    ca.ok("APPE log.bin", 150).await;
    cb.ok("APPE log.bin", 150).await;
    // Interleave the halves as they reach the server: A1 B1 A2 B2.
    let half = PART / 2;
    da.write_all(&a[..half]).await.unwrap();
    wait_received(&mut ca, half).await;
    db.write_all(&b[..half]).await.unwrap();
    wait_received(&mut cb, half).await;
    da.write_all(&a[half..]).await.unwrap();
    wait_received(&mut ca, PART).await;
    db.write_all(&b[half..]).await.unwrap();
    wait_received(&mut cb, PART).await;
    // Both bodies end together; both appends now wait for the lock.
    let (_, _) = tokio::join!(da.shutdown(), db.shutdown());
    drop(da);
    drop(db);
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(held);
    assert_eq!(ca.reply().await.code, 226);
    assert_eq!(cb.reply().await.code, 226);
    let now = std::fs::read(t.path("log.bin")).unwrap();
    let ab = [&b"head:"[..], &a, &b].concat();
    let ba = [&b"head:"[..], &b, &a].concat();
    assert!(
        now == ab || now == ba,
        "appends interleaved ({} bytes)",
        now.len()
    );
}

/// New content never inherits set-user-ID, set-group-ID or sticky bits
/// (as root, a replaced 4755 file would otherwise be a planted setuid
/// program): STOR, APPE and a resumed STOR all leave plain 0755.
#[tokio::test]
async fn uploads_never_keep_set_id_or_sticky_bits() {
    use std::os::unix::fs::PermissionsExt;
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    for special in [0o4755, 0o2755, 0o1755, 0o6755] {
        for (rest, cmd) in [(false, "STOR"), (false, "APPE"), (true, "STOR")] {
            t.write("prog", b"#!/bin/sh\n");
            let perms = std::fs::Permissions::from_mode(special);
            std::fs::set_permissions(t.path("prog"), perms).unwrap();
            let mode = || {
                std::fs::metadata(t.path("prog"))
                    .unwrap()
                    .permissions()
                    .mode()
            };
            assert_eq!(mode() & 0o7777, special, "chmod did not take");
            let mut data = raw.epsv().await;
            if rest {
                raw.ok("REST 2", 350).await;
            }
            raw.ok(&format!("{cmd} prog"), 150).await;
            data.write_all(b"echo planted\n").await.unwrap();
            drop(data);
            assert_eq!(raw.reply().await.code, 226, "{cmd}");
            assert_eq!(
                mode() & 0o7777,
                0o755,
                "{cmd} (REST: {rest}) over {special:o}"
            );
        }
    }
}

/// A drop box never loses an upload to its own renaming: a second file of
/// a long name gets a numbered name that still fits 255 bytes, with its
/// extension kept (`a.txt` becomes `a.1.txt`, not `a.txt.1`).
#[tokio::test]
async fn drop_box_unique_names_fit_and_keep_the_extension() {
    let t = start(AccessMode::UploadOnly).await;
    let mut raw = t.login().await;
    let long = format!("{}.txt", "é".repeat(125)); // 254 bytes
    for (name, second) in [
        ("a.txt", "a.1.txt".to_string()),
        (long.as_str(), String::new()),
    ] {
        assert_eq!(
            try_stor(&mut raw, &format!("STOR {name}"), b"first").await,
            226
        );
        let mut data = raw.epsv().await;
        raw.ok(&format!("STOR {name}"), 150).await;
        data.write_all(b"second").await.unwrap();
        drop(data);
        let r = raw.reply().await;
        assert_eq!(r.code, 226, "{r:?}");
        let stored = r.text.rsplit("stored as ").next().unwrap().to_string();
        assert!(
            stored.len() <= 255 && stored.ends_with(".1.txt"),
            "{stored}"
        );
        if !second.is_empty() {
            assert_eq!(stored, second);
        }
        assert_eq!(std::fs::read(t.path(name)).unwrap(), b"first");
        assert_eq!(std::fs::read(t.path(&stored)).unwrap(), b"second");
    }
}

/// An upload that cannot be stored is refused before 150, with the reason,
/// and no data is read: a name over 255 bytes, or a folder that is not there.
#[tokio::test]
async fn impossible_uploads_are_refused_before_any_data() {
    for mode in [AccessMode::Writable, AccessMode::UploadOnly] {
        let t = start(mode).await;
        let mut raw = t.login().await;
        let long = "n".repeat(256);
        for cmd in ["STOR", "APPE", "STOU"] {
            if mode == AccessMode::UploadOnly && cmd == "APPE" {
                continue;
            }
            let _data = raw.epsv().await;
            let r = raw.cmd(&format!("{cmd} {long}")).await;
            assert_eq!(r.code, 553, "{mode:?} {cmd}: {r:?}");
            assert!(r.text.contains("name too long (max 255 bytes)"), "{r:?}");
        }
        let r = raw.cmd(&format!("MKD {long}")).await;
        assert!(r.text.contains("name too long (max 255 bytes)"), "{r:?}");
        if mode == AccessMode::Writable {
            let _data = raw.epsv().await;
            raw.ok("STOR missing/folder/x.txt", 550).await;
        }
        assert!(temp_files(t.root()).is_empty());
    }
}

/// APPE through a symlink (inside the share) is answered before 150, so a
/// client never sends a body that is then thrown away; the target keeps
/// its bytes and no temporary file stays behind.
#[tokio::test]
async fn appe_through_a_symlink_is_refused_before_any_data() {
    let t = start(AccessMode::Writable).await;
    t.write("f", b"target");
    t.write("sub/keep", b"");
    std::os::unix::fs::symlink("../f", t.path("sub/link")).unwrap();
    std::os::unix::fs::symlink("f", t.path("same")).unwrap();
    let mut raw = t.login().await;
    for link in ["sub/link", "same"] {
        let mut data = raw.epsv().await;
        let r = raw.cmd(&format!("APPE {link}")).await;
        if r.code == 150 {
            let _ = data.write_all(&[7u8; 4000]).await;
            drop(data);
            let end = raw.reply().await;
            panic!("APPE {link} took the data first, then answered {end:?}");
        }
        assert_eq!(r.code, 550, "{link}: {r:?}");
        assert!(r.text.contains("symbolic link"), "{link}: {r:?}");
    }
    assert_eq!(std::fs::read(t.path("f")).unwrap(), b"target");
    assert!(temp_files(t.root()).is_empty());
}

/// Another program holding a lock on the APPE target cannot hold a server
/// thread forever: the append waits at most the stall timeout, answers 450
/// (file busy) and leaves the file as it was; once the lock is gone the
/// same append goes through.
#[tokio::test]
async fn appe_to_a_file_locked_elsewhere_answers_450_in_time() {
    let stall = Duration::from_millis(800);
    let limits = Limits {
        stall_timeout: stall,
        ..test_limits()
    };
    let t = start_with(move |b| b.access(AccessMode::Writable).limits(limits)).await;
    t.write("log.txt", b"head:");
    let held = std::fs::File::open(t.path("log.txt")).unwrap();
    held.lock().unwrap();
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("APPE log.txt", 150).await;
    data.write_all(b"tail").await.unwrap();
    drop(data);
    let sent = std::time::Instant::now();
    let r = raw.reply().await;
    assert_eq!(r.code, 450, "{r:?}");
    assert!(sent.elapsed() < stall * 4, "{:?}", sent.elapsed());
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"head:");
    assert!(temp_files(t.root()).is_empty());
    drop(held);
    assert_eq!(try_stor(&mut raw, "APPE log.txt", b"tail").await, 226);
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"head:tail");
}

/// The permission bits and modification time of a folder on disk.
fn mode_and_mtime(p: &Path) -> (u32, std::time::SystemTime) {
    use std::os::unix::fs::PermissionsExt;
    let md = std::fs::metadata(p).unwrap();
    (md.permissions().mode() & 0o7777, md.modified().unwrap())
}

/// Sends each command that would change `target` (a shared folder itself,
/// named as a client would) and checks each is refused with 550. An
/// upload gets a data connection first; RNTO follows a good RNFR.
async fn every_change_is_refused(raw: &mut Raw, target: &str, movable: &str) {
    for cmd in [
        format!("SITE CHMOD 777 {target}"),
        format!("MFMT 20000101000000 {target}"),
        format!("MDTM 20000101000000 {target}"),
        format!("MFF Modify=20000101000000; {target}"),
        format!("MFF UNIX.mode=777; {target}"),
        format!("SITE UTIME 20000101000000 {target}"),
        format!("SITE UTIME {target} 20000101000000 20000101000000 20000101000000 UTC"),
        format!("RMD {target}"),
        format!("RNFR {target}"),
        format!("DELE {target}"),
        format!("MKD {target}"),
    ] {
        let r = raw.cmd(&cmd).await;
        assert_eq!(r.code, 550, "{cmd}: {r:?}");
    }
    raw.ok(&format!("RNFR {movable}"), 350).await;
    raw.ok(&format!("RNTO {target}"), 550).await;
    for cmd in ["STOR", "APPE"] {
        let line = format!("{cmd} {target}");
        assert_eq!(try_stor(raw, &line, b"data").await, 550, "{line}");
    }
    raw.ok("REST 1", 350).await;
    let line = format!("STOR {target}");
    assert_eq!(try_stor(raw, &line, b"data").await, 550, "REST 1, {line}");
}

/// The shared folder itself never changes (issue 24, item 4): with one
/// folder shared writable, `/` and `.` at the top (and the ways there)
/// cannot be chmod-ed, re-timed, removed, renamed, replaced or appended
/// to; in a virtual root neither the root nor a shared folder can. The
/// folders' modes and times on disk stay as they were.
#[tokio::test]
async fn the_shared_folder_itself_never_changes() {
    use std::os::unix::fs::PermissionsExt;
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"file");
    std::fs::create_dir(t.path("sub")).unwrap();
    std::fs::set_permissions(t.root(), std::fs::Permissions::from_mode(0o750)).unwrap();
    let before = mode_and_mtime(t.root());
    let mut raw = t.login().await;
    for target in ["/", ".", "/.", "sub/..", "//"] {
        every_change_is_refused(&mut raw, target, "f.txt").await;
        raw.ok("CWD sub", 250).await;
        every_change_is_refused(&mut raw, "..", "/f.txt").await;
        raw.ok("CWD /", 250).await;
    }
    assert_eq!(
        mode_and_mtime(t.root()),
        before,
        "the shared folder changed"
    );
    assert_eq!(std::fs::read(t.path("f.txt")).unwrap(), b"file");
    assert!(temp_files(t.root()).is_empty());
    // MLST says so (no `d`elete or rename (`f`) of the folder itself,
    // while what it holds may be removed: `p`).
    let mlst = raw.ok("MLST /", 250).await.text;
    assert!(mlst.contains(";perm=cmpel;"), "{mlst}");
    // Inside it, the same commands still work.
    raw.ok("SITE CHMOD 700 sub", 200).await;
    raw.ok("MFMT 20000101000000 sub", 213).await;

    // A virtual root: neither it nor a shared folder in it changes.
    let outer = tempfile::tempdir().unwrap();
    let (a, b) = (outer.path().join("a"), outer.path().join("b"));
    std::fs::create_dir(&a).unwrap();
    std::fs::create_dir(&b).unwrap();
    std::fs::write(a.join("f.txt"), b"file").unwrap();
    std::fs::set_permissions(&a, std::fs::Permissions::from_mode(0o750)).unwrap();
    let (before_a, before_b) = (mode_and_mtime(&a), mode_and_mtime(&b));
    let v = start_with(|builder| builder.paths([&a, &b]).access(AccessMode::Writable)).await;
    let mut raw = v.login().await;
    for target in ["/", ".", "/a", "a/.", "/b", "b"] {
        every_change_is_refused(&mut raw, target, "/a/f.txt").await;
    }
    assert_eq!(mode_and_mtime(&a), before_a);
    assert_eq!(mode_and_mtime(&b), before_b);
}

/// Every command a drop box session may send (see the policy table), and
/// the usual refused ones, each on `NAME`; run once per name in a fresh
/// folder. `CWD NAME` changes into it for the commands after it.
const DROP_BOX_SWEEP: &[&[&str]] = &[
    &[
        "CWD NAME", "PWD", "ALLO 10", "AVBL", "AVBL .", "STAT", "CDUP", "PWD",
    ],
    &["AVBL NAME"],
    &["AVBL NAME/"],
    &["ALLO 10", "AVBL NAME/.."],
    &["STOR NAME"],
    &["STOU NAME"],
    &["REST 1", "STOR NAME"],
    &["MKD NAME", "CWD NAME", "PWD"],
    &["SMNT NAME", "RANG 0 9", "HELP STOR", "CLNT x", "NOOP"],
    &[
        "RETR NAME",
        "LIST NAME",
        "NLST NAME",
        "MLSD NAME",
        "MLST NAME",
        "SIZE NAME",
        "MDTM NAME",
        "MDTM 20000101000000 NAME",
        "STAT NAME",
        "HASH NAME",
        "XCRC NAME",
        "APPE NAME",
        "DELE NAME",
        "RMD NAME",
        "RNFR NAME",
        "RNTO NAME",
        "MFMT 20000101000000 NAME",
        "MFF UNIX.mode=777; NAME",
        "SITE CHMOD 777 NAME",
        "SITE UTIME 20000101000000 NAME",
    ],
];

/// What a drop box session hears for one sequence of [`DROP_BOX_SWEEP`]
/// run on `name` in folder `/dir`: each reply, with the name (and the
/// unique name an upload took, a difference the README owns up to)
/// written as NAME and AVBL's free bytes, which move, as N.
async fn drop_box_replies(t: &TestServer, dir: &str, name: &str, steps: &[&str]) -> Vec<String> {
    let mut raw = t.login().await;
    raw.ok(&format!("CWD /{dir}"), 250).await;
    // STAT shows the client's address, which differs per session.
    let me = raw.writer.local_addr().unwrap().to_string();
    let mut heard = Vec::new();
    for step in steps {
        let cmd = step.replace("NAME", name);
        let upload = ["STOR", "STOU", "APPE"].iter().any(|v| cmd.starts_with(v));
        let data = if upload { Some(raw.epsv().await) } else { None };
        let mut replies = vec![raw.cmd(&cmd).await];
        if let (Some(mut data), 150) = (data, replies[0].code) {
            data.write_all(b"dropped").await.unwrap();
            data.shutdown().await.unwrap();
            drop(data);
            replies.push(raw.reply().await);
        }
        for r in replies {
            let mut text = r.text.replace(&format!("{name}.1"), "NAME");
            text = text.replace(name, "NAME").replace(&me, "ME");
            if step.starts_with("AVBL") && r.code == 213 {
                text = "213 N".into();
            }
            heard.push(format!("{step} -> {text}"));
        }
    }
    raw.ok("QUIT", 221).await;
    heard
}

/// A drop box answers alike for an existing file, an existing folder and
/// a missing name (issue 24, item 6): code and text, the name aside, for
/// every command the session may send and those it may not, on a roomy
/// disk and on one too full for uploads. An upload onto a folder's name
/// takes a free name, as one onto a file's name does.
#[tokio::test]
async fn a_drop_box_answers_alike_for_existing_and_missing_names() {
    use ftpshare::{MinFree, UploadLimits};
    let roomy = start(AccessMode::UploadOnly).await;
    let full = start_with(|b| {
        b.access(AccessMode::UploadOnly)
            .upload_limits(UploadLimits {
                min_free: MinFree::Bytes(u64::MAX / 2),
                ..UploadLimits::default()
            })
    })
    .await;
    for t in [&roomy, &full] {
        for (i, steps) in DROP_BOX_SWEEP.iter().enumerate() {
            let dir = format!("c{i}");
            t.write(&format!("{dir}/secret-file"), b"kept");
            std::fs::create_dir(t.path(&format!("{dir}/secret-plans"))).unwrap();
            let mut seen: Vec<(&str, Vec<String>)> = Vec::new();
            for name in ["secret-file", "secret-plans", "nothing-here"] {
                seen.push((name, drop_box_replies(t, &dir, name, steps).await));
            }
            for (name, heard) in &seen[1..] {
                assert_eq!(
                    &seen[0].1,
                    heard,
                    "{}: secret-file and {name} answered differently",
                    steps.join("; ")
                );
            }
            assert_eq!(
                std::fs::read(t.path(&format!("{dir}/secret-file"))).unwrap(),
                b"kept"
            );
            assert!(t.path(&format!("{dir}/secret-plans")).is_dir());
        }
    }
    // The uploads onto the folder's name went beside it.
    let stored = std::fs::read(roomy.path("c4/secret-plans.1")).unwrap();
    assert_eq!(stored, b"dropped");
    assert!(temp_files(roomy.root()).is_empty());
}
