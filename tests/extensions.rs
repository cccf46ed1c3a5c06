//! The extensions beyond the RFC table: MFMT, MFF, the MDTM set form, SITE
//! CHMOD/UTIME/HELP, HOST, CLNT, AVBL, HASH/RANG and the X* hashes, and
//! MODE Z, with Python's ftplib, curl and lftp, plus a raw client where a
//! test needs exact timing.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ftpshare::{AccessMode, Limits};

/// Sends each line with ftplib's `sendcmd` and prints `line => reply`.
/// Lines before `LOGIN` go before logging in; `LOGIN` logs in.
const FTPLIB_COMMANDS: &str = r#"
import ftplib, sys
port, user, pw = int(sys.argv[1]), sys.argv[2], sys.argv[3]
f = ftplib.FTP()
f.connect("127.0.0.1", port, timeout=30)
for line in sys.argv[4:]:
    if line == "LOGIN":
        f.login(user, pw)
        continue
    try:
        r = f.sendcmd(line)
    except ftplib.all_errors as e:
        r = str(e)
    print(line + " => " + r.replace("\n", " | "))
f.quit()
"#;

/// The replies ftplib got to `lines`, in order.
async fn ftplib(t: &TestServer, user: &str, lines: &[&str]) -> Vec<String> {
    let mut args = vec![
        "-c".to_string(),
        FTPLIB_COMMANDS.to_string(),
        t.addr.port().to_string(),
        user.to_string(),
        PASS.to_string(),
    ];
    args.extend(lines.iter().map(|l| l.to_string()));
    let out = success("python3", &client("python3", args).await);
    let replies: Vec<String> = out
        .lines()
        .filter_map(|l| l.split_once(" => ").map(|(_, r)| r.to_string()))
        .collect();
    let sent = lines.iter().filter(|l| **l != "LOGIN").count();
    assert_eq!(replies.len(), sent, "{out}");
    replies
}

fn mtime(p: &Path) -> (i64, i64) {
    let md = std::fs::metadata(p).unwrap();
    (md.mtime(), md.mtime_nsec())
}

fn perms(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

// ---------------------------------------------------------------------
// MFMT, MFF, the MDTM set form, SITE
// ---------------------------------------------------------------------

/// A time the file system cannot hold (ext4 keeps 1901 to 2446) is
/// answered with the time it stored, the one MDTM then shows, not the one
/// asked for.
#[tokio::test]
async fn mfmt_answers_with_the_time_stored() {
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"file");
    let mut raw = t.login().await;
    for cmd in [
        "MFMT 99991231235959 f.txt",
        "MFMT 00000101000000 f.txt",
        "MDTM 99991231235959 f.txt",
        "MFF Modify=99991231235959; f.txt",
    ] {
        let r = raw.ok(cmd, 213).await;
        let shown = raw.ok("MDTM f.txt", 213).await;
        // MDTM's set form answers as MDTM does: `213 time`.
        let echoed = match cmd.starts_with("MDTM") {
            true => r.text.get(4..),
            false => r.text.split_once("Modify=").unwrap().1.split(';').next(),
        };
        assert_eq!(echoed, Some(&shown.text[4..]), "{cmd}: {r:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_sets_times_and_modes() {
    if !need("python3") {
        return;
    }
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"file");
    t.write("d/inner.txt", b"inner");
    let r = ftplib(
        &t,
        USER,
        &[
            "LOGIN",
            "MFMT 20150607080910 f.txt",
            "MDTM f.txt",
            "MFMT 20150607080910.250 d",
            "MDTM 20160101000000 f.txt",
            "MDTM f.txt",
            "MFF Modify=20170101000000;UNIX.mode=4750; f.txt",
            "MFF Create=20170101000000; f.txt",
            "MFF UNIX.mode=rw; f.txt",
            "MFMT 20151301000000 f.txt",
            "MFMT 20150607080910 missing.txt",
            "MFMT 20150607080910 ../../etc/passwd",
        ],
    )
    .await;
    assert_eq!(r[0], "213 Modify=20150607080910; f.txt");
    assert_eq!(r[1], "213 20150607080910");
    assert!(
        r[2].starts_with("213 Modify=20150607080910.250; d"),
        "{r:?}"
    );
    assert_eq!(mtime(&t.path("d")), (1_433_664_550, 250_000_000));
    // The set form answers as MDTM does: the time now stored.
    assert_eq!(r[3], "213 20160101000000");
    assert_eq!(r[4], "213 20160101000000");
    assert_eq!(r[5], "213 Modify=20170101000000;UNIX.mode=0750; f.txt");
    assert_eq!(mtime(&t.path("f.txt")).0, 1_483_228_800);
    // Set-id bits are never set.
    assert_eq!(perms(&t.path("f.txt")), 0o750);
    assert!(r[6].starts_with("504"), "{r:?}");
    assert!(r[7].starts_with("501"), "{r:?}");
    assert!(r[8].starts_with("501"), "{r:?}");
    assert!(r[9].starts_with("550"), "{r:?}");
    assert!(r[10].starts_with("550"), "{r:?}");

    // A name that starts with a time is a name: MDTM queries it and
    // changes nothing, though a file named like its tail exists.
    let whole = "20160101000000 g.txt";
    t.write(whole, b"g");
    t.write("g.txt", b"g");
    let before = (mtime(&t.path(whole)), mtime(&t.path("g.txt")));
    let r = ftplib(&t, USER, &["LOGIN", &format!("MDTM {whole}")]).await;
    assert!(r[0].starts_with("213 2"), "{r:?}");
    assert!(!r[0].starts_with("213 20160101"), "{r:?}");
    assert_eq!(before, (mtime(&t.path(whole)), mtime(&t.path("g.txt"))));

    let r = ftplib(
        &t,
        USER,
        &[
            "LOGIN",
            "SITE CHMOD 644 f.txt",
            "SITE CHMOD 2711 d",
            "SITE CHMOD 9 f.txt",
            "SITE UTIME 20180101000000 f.txt",
            "SITE UTIME d 20190101000000 20190202000000 20190101000000 UTC",
            "SITE HELP",
            "SITE EXEC ls",
            "SITE CHMOD 644 nothing-here",
        ],
    )
    .await;
    assert!(r[0].starts_with("200"), "{r:?}");
    assert_eq!(perms(&t.path("f.txt")), 0o644);
    assert!(r[1].starts_with("200"), "{r:?}");
    assert_eq!(perms(&t.path("d")), 0o711);
    assert!(r[2].starts_with("501"), "{r:?}");
    assert!(r[3].starts_with("200"), "{r:?}");
    assert_eq!(mtime(&t.path("f.txt")).0, 1_514_764_800);
    assert!(r[4].starts_with("200"), "{r:?}");
    let d = std::fs::metadata(t.path("d")).unwrap();
    assert_eq!((d.mtime(), d.atime()), (1_549_065_600, 1_546_300_800));
    assert!(r[5].starts_with("214") && r[5].contains("CHMOD") && r[5].contains("UTIME"));
    assert!(r[6].starts_with("500"), "{r:?}");
    assert!(r[7].starts_with("550"), "{r:?}");
    std::fs::set_permissions(t.path("d"), std::fs::Permissions::from_mode(0o755)).unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn feat_and_help_list_the_extensions() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    let feat = raw.ok("FEAT", 211).await.text;
    for line in [
        " AVBL",
        " CLNT",
        " HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32;",
        " HOST",
        " MFF Modify;UNIX.mode;",
        " MFMT",
        " MODE Z",
        " XCRC",
        " XMD5",
        " XSHA1",
        " XSHA256",
        " XSHA512",
    ] {
        assert!(feat.lines().any(|l| l == line), "{line:?} not in {feat}");
    }
    let help = raw.ok("HELP", 214).await.text;
    for cmd in [
        "AVBL", "CLNT", "HASH", "HOST", "MFF", "MFMT", "RANG", "XCRC", "XSHA512",
    ] {
        assert!(help.split_whitespace().any(|w| w == cmd), "{cmd} in {help}");
    }
    raw.ok("HELP MFMT", 214).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_quote_mfmt() {
    if !need("curl") {
        return;
    }
    let t = start(AccessMode::Writable).await;
    t.write("c.txt", b"curl");
    let out = client(
        "curl",
        vec![
            "-sS".into(),
            "--max-time".into(),
            "30".into(),
            "-Q".into(),
            "MFMT 20140304050607 c.txt".into(),
            t.url(""),
        ],
    )
    .await;
    success("curl", &out);
    assert_eq!(mtime(&t.path("c.txt")).0, 1_393_909_567);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_mirror_r_keeps_times_and_modes() {
    if !need("lftp") {
        return;
    }
    let t = start(AccessMode::Writable).await;
    let local = tempfile::tempdir().unwrap();
    let src = local.path().join("src");
    std::fs::create_dir_all(src.join("sub")).unwrap();
    let files = [
        ("a.txt", 1_393_909_567i64, 0o640u32),
        ("sub/b.bin", 1_433_664_550, 0o600),
    ];
    for (i, (rel, secs, perm)) in files.iter().enumerate() {
        let p = src.join(rel);
        std::fs::write(&p, pseudo_random(10_000 + i, i as u64)).unwrap();
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(*perm)).unwrap();
        let when = std::time::UNIX_EPOCH + Duration::from_secs(*secs as u64);
        std::fs::File::options()
            .write(true)
            .open(&p)
            .unwrap()
            .set_modified(when)
            .unwrap();
    }
    let script = format!(
        "set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 1; \
         set net:timeout 20; lcd {}; mirror -R src dst; bye",
        local.path().display()
    );
    let out = lftp(&t, false, script).await;
    success("lftp", &out);
    for (rel, secs, perm) in files {
        let remote = t.path(&format!("dst/{rel}"));
        assert_eq!(mtime(&remote).0, secs, "{rel}");
        assert_eq!(perms(&remote), perm, "{rel}");
        assert_eq!(
            sha256(&std::fs::read(&remote).unwrap()),
            sha256(&std::fs::read(src.join(rel)).unwrap())
        );
    }
}

/// Every command that writes is refused (550) in read-only, upload-only
/// and anonymous sessions; the MDTM set form falls back to a query there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_extensions_are_refused_without_write_access() {
    for (mode, anonymous) in [
        (AccessMode::ReadOnly, false),
        (AccessMode::UploadOnly, false),
        (AccessMode::Writable, true),
    ] {
        let t = start_with(|b| b.access(mode).anonymous(anonymous)).await;
        t.write("f.txt", b"x");
        std::fs::create_dir(t.path("d")).unwrap();
        let before = mtime(&t.path("f.txt"));
        std::fs::set_permissions(t.path("f.txt"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let mut raw = Raw::connect(t.addr).await;
        if anonymous {
            raw.ok("USER anonymous", 331).await;
            raw.ok("PASS a@b", 230).await;
        } else {
            raw.ok(&format!("USER {USER}"), 331).await;
            raw.ok(&format!("PASS {PASS}"), 230).await;
        }
        for cmd in [
            "MFMT 20150607080910 f.txt",
            "MFF Modify=20150607080910; f.txt",
            "MFF UNIX.mode=777; f.txt",
            "SITE CHMOD 777 f.txt",
            "SITE UTIME 20150607080910 f.txt",
            "SITE UTIME f.txt 20150607080910 20150607080910 20150607080910 UTC",
        ] {
            raw.ok(cmd, 550).await;
        }
        // Not a write here: a query for a file of that whole name.
        raw.ok("MDTM 20150607080910 f.txt", 550).await;
        let upload_only = mode == AccessMode::UploadOnly;
        raw.ok("MDTM f.txt", if upload_only { 550 } else { 213 })
            .await;
        raw.ok("SITE HELP", 214).await;
        // AVBL is about uploading: refused where nothing can be uploaded.
        // A drop box answers alike whatever the name: a file, a folder or
        // nothing (the free bytes aside, which may move between calls).
        let mut answers = Vec::new();
        for name in ["", " .", " f.txt", " d", " nothere", " nothere/deeper"] {
            let code = if upload_only { 213 } else { 550 };
            let r = raw.ok(&format!("AVBL{name}"), code).await;
            answers.push(r.text.replace(|c: char| c.is_ascii_digit(), "N"));
        }
        answers.dedup();
        assert_eq!(answers.len(), 1, "{mode:?}: {answers:?}");
        raw.ok("XCRC f.txt", if upload_only { 550 } else { 250 })
            .await;
        assert_eq!(mtime(&t.path("f.txt")), before);
        assert_eq!(perms(&t.path("f.txt")), 0o644);
        raw.ok("QUIT", 221).await;
    }
}

// ---------------------------------------------------------------------
// HOST, CLNT, AVBL
// ---------------------------------------------------------------------

/// Free bytes for an unprivileged user on the file system holding `p`.
fn statvfs_free(p: &Path) -> u64 {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(p.as_os_str().as_bytes()).unwrap();
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    assert_eq!(unsafe { libc::statvfs(c.as_ptr(), &mut st) }, 0);
    st.f_bavail * st.f_frsize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_host_clnt_avbl() {
    if !need("python3") {
        return;
    }
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"x");
    std::fs::create_dir(t.path("up")).unwrap();
    let mut events = t.server.subscribe();
    let r = ftplib(
        &t,
        USER,
        &[
            "HOST ftp.example.org",
            "CLNT pyftp-test/1.0",
            "LOGIN",
            "HOST other.example.org",
            "AVBL",
            "AVBL up",
            "AVBL nothere",
            "AVBL f.txt",
        ],
    )
    .await;
    assert!(r[0].starts_with("220"), "{r:?}");
    assert!(r[1].starts_with("200"), "{r:?}");
    assert!(r[2].starts_with("503"), "{r:?}");
    let free: u64 = r[3].strip_prefix("213 ").unwrap().parse().unwrap();
    // What an upload may store: the free space less what --min-free keeps.
    let ftpshare::MinFree::Bytes(kept) = t.server.config().uploads.min_free else {
        panic!("--min-free not resolved");
    };
    let expected = statvfs_free(t.root()).saturating_sub(kept);
    assert!(free.abs_diff(expected) < 64 << 20, "{free} vs {expected}");
    assert!(r[4].starts_with("213 "), "{r:?}");
    assert!(r[5].starts_with("550"), "{r:?}");
    assert!(r[6].starts_with("550"), "{r:?}");
    let client = loop {
        match events.recv().await.unwrap() {
            ftpshare::Event::Login { client, .. } => break client,
            _ => continue,
        }
    };
    assert_eq!(client.as_deref(), Some("pyftp-test/1.0"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_only_before_user_and_again_after_rein() {
    let t = start(AccessMode::ReadOnly).await;
    let mut raw = Raw::connect(t.addr).await;
    raw.ok("HOST a.example", 220).await;
    raw.ok("HOST b.example", 220).await;
    raw.ok(&format!("USER {USER}"), 331).await;
    raw.ok("HOST c.example", 503).await;
    raw.ok(&format!("PASS {PASS}"), 230).await;
    raw.ok("HOST c.example", 503).await;
    raw.ok("HOST", 501).await;
    raw.ok(&format!("CLNT {}", "x".repeat(300)), 501).await;
    raw.ok("REIN", 220).await;
    raw.ok("HOST d.example", 220).await;
}

// ---------------------------------------------------------------------
// HASH, RANG, OPTS HASH, XCRC/XMD5/XSHA*
// ---------------------------------------------------------------------

/// RANG is for HASH alone here: a transfer right after it is refused
/// (504) rather than moving the whole file, and a STOR never cuts the file
/// short (draft-bryan-ftp-range §4.3); HASH still takes the range.
#[tokio::test]
async fn a_transfer_after_rang_is_refused() {
    let t = start(AccessMode::Writable).await;
    t.write("rg.bin", b"0123456789ABCDEFGHIJ");
    let mut raw = t.login().await;
    for cmd in ["STOR rg.bin", "APPE rg.bin", "STOU rg.bin", "RETR rg.bin"] {
        let _data = raw.epsv().await;
        raw.ok("RANG 5 9", 350).await;
        raw.ok(cmd, 504).await;
    }
    assert_eq!(
        std::fs::read(t.path("rg.bin")).unwrap(),
        b"0123456789ABCDEFGHIJ"
    );
    assert_eq!(std::fs::read_dir(t.root()).unwrap().count(), 1);
    raw.ok("RANG 5 9", 350).await;
    let r = raw.ok("HASH rg.bin", 213).await;
    assert!(r.text.starts_with("213 SHA-256 5-9 "), "{r:?}");
}

/// Checks every reply against Python's own hashlib/zlib; prints `BAD …`
/// for a mismatch and `CODE cmd => reply` for the refusals.
const FTPLIB_HASH: &str = r#"
import ftplib, hashlib, sys, zlib
port, user, pw, path = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
data = open(path, "rb").read()
n = len(data)
f = ftplib.FTP()
f.connect("127.0.0.1", port, timeout=60)
f.login(user, pw)
def c(line):
    try:
        return f.sendcmd(line)
    except ftplib.all_errors as e:
        return str(e)
def check(label, got, want):
    print(("OK " if got == want else "BAD ") + label + ": got " + repr(got) + " want " + repr(want))
algos = {
    "SHA-256": lambda b: hashlib.sha256(b).hexdigest(),
    "SHA-512": lambda b: hashlib.sha512(b).hexdigest(),
    "SHA-1": lambda b: hashlib.sha1(b).hexdigest(),
    "MD5": lambda b: hashlib.md5(b).hexdigest(),
    "CRC32": lambda b: "%08x" % zlib.crc32(b),
}
check("default", c("HASH h.bin"), "213 SHA-256 0-%d %s h.bin" % (n - 1, algos["SHA-256"](data)))
check("query", c("OPTS HASH"), "200 SHA-256")
for name, fn in algos.items():
    check("opts " + name, c("OPTS HASH " + name.lower()), "200 " + name)
    check("hash " + name, c("HASH h.bin"), "213 %s 0-%d %s h.bin" % (name, n - 1, fn(data)))
    check("rang", c("RANG 100 199")[:3], "350")
    check("range " + name, c("HASH h.bin"), "213 %s 100-199 %s h.bin" % (name, fn(data[100:200])))
    check("range reset " + name, c("HASH h.bin"), "213 %s 0-%d %s h.bin" % (name, n - 1, fn(data)))
c("OPTS HASH SHA-256")
check("rang past end", c("RANG 5 999999999")[:3], "350")
check("clamped", c("HASH h.bin"), "213 SHA-256 5-%d %s h.bin" % (n - 1, algos["SHA-256"](data[5:])))
check("rang 1 0", c("RANG 1 0")[:3], "350")
xs = {"XCRC": "CRC32", "XMD5": "MD5", "XSHA1": "SHA-1", "XSHA256": "SHA-256", "XSHA512": "SHA-512"}
for cmd, name in xs.items():
    fn = algos[name]
    check(cmd, c(cmd + " h.bin"), "250 " + fn(data).upper())
    check(cmd + " from", c(cmd + " h.bin 1000"), "250 " + fn(data[1000:]).upper())
    check(cmd + " range", c(cmd + " h.bin 10 20"), "250 " + fn(data[10:20]).upper())
check("empty", c("HASH empty.bin"), "213 SHA-256 0-0 %s empty.bin" % algos["SHA-256"](b""))
for line in ["OPTS HASH SHA-3", "RANG 9 3", "HASH missing.bin", "HASH .", "XMD5 h.bin 9 3", "RANG 5000000 6000000"]:
    print("CODE " + line + " => " + c(line))
print("CODE after-rang HASH => " + c("HASH h.bin")[:20])
f.quit()
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ftplib_hash_rang_and_x_forms_match_hashlib() {
    if !need("python3") {
        return;
    }
    let t = start(AccessMode::ReadOnly).await;
    t.write("h.bin", &pseudo_random(3_000_000, 77));
    t.write("empty.bin", b"");
    let out = client(
        "python3",
        vec![
            "-c".into(),
            FTPLIB_HASH.into(),
            t.addr.port().to_string(),
            USER.into(),
            PASS.into(),
            t.path("h.bin").display().to_string(),
        ],
    )
    .await;
    let out = success("python3", &out);
    assert!(!out.contains("BAD "), "{out}");
    assert_eq!(
        out.lines().filter(|l| l.starts_with("OK ")).count(),
        46,
        "{out}"
    );
    let code = |cmd: &str| {
        out.lines()
            .find_map(|l| l.strip_prefix(&format!("CODE {cmd} => ")))
            .unwrap_or_else(|| panic!("no {cmd} in {out}"))[..3]
            .to_string()
    };
    assert_eq!(code("OPTS HASH SHA-3"), "501");
    assert_eq!(code("RANG 9 3"), "501");
    assert_eq!(code("HASH missing.bin"), "550");
    assert_eq!(code("HASH ."), "550");
    assert_eq!(code("XMD5 h.bin 9 3"), "501");
    // RANG itself is accepted; the HASH it applies to starts past the end.
    assert_eq!(code("RANG 5000000 6000000"), "350");
    assert_eq!(code("after-rang HASH"), "550");
}

/// A 1 GiB file (sparse) with nothing on disk.
fn big_file(t: &TestServer, name: &str, len: u64) {
    std::fs::File::create(t.path(name))
        .unwrap()
        .set_len(len)
        .unwrap();
}

/// Session `raw` is hashing: STAT says so once bytes have been hashed.
async fn wait_until_hashing(raw: &mut Raw) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let stat = raw.ok("STAT", 211).await.text;
        if stat.contains("Transfer in progress") && !stat.contains("(0 bytes") {
            return;
        }
        assert!(Instant::now() < deadline, "no hash running: {stat}");
        tokio::task::yield_now().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hashing_a_gibibyte_leaves_other_sessions_responsive() {
    let t = start(AccessMode::ReadOnly).await;
    big_file(&t, "big.bin", 1 << 30);
    let mut hasher = t.login().await;
    let mut other = t.login().await;
    hasher.send_raw(b"XSHA256 big.bin\r\n").await;
    let hashing = tokio::spawn(async move {
        let r = hasher.reply().await;
        (r, Instant::now())
    });
    let mut slowest = Duration::ZERO;
    let mut noops = 0;
    while !hashing.is_finished() {
        let sent = Instant::now();
        other.ok("NOOP", 200).await;
        slowest = slowest.max(sent.elapsed());
        noops += 1;
    }
    let (reply, _) = hashing.await.unwrap();
    let path = t.path("big.bin");
    let want = tokio::task::spawn_blocking(move || {
        let out = run("sha256sum", &[path.to_str().unwrap()]);
        String::from_utf8_lossy(&out.stdout)
            .split_whitespace()
            .next()
            .unwrap()
            .to_ascii_uppercase()
    })
    .await
    .unwrap();
    assert_eq!(reply.text, format!("250 {want}"));
    assert!(noops > 0);
    assert!(
        slowest < Duration::from_millis(500),
        "a NOOP took {slowest:?} while hashing"
    );
}

fn throttled(rate: u64) -> Limits {
    Limits {
        max_rate: Some(rate),
        ..test_limits()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn abor_and_quit_cut_a_throttled_hash() {
    // 1 GiB at 32 MiB/s would take 32 seconds.
    let t = start_with(|b| b.limits(throttled(32 << 20))).await;
    big_file(&t, "big.bin", 1 << 30);
    let mut raw = t.login().await;
    raw.send_raw(b"HASH big.bin\r\n").await;
    wait_until_hashing(&mut raw).await;
    let mut other = t.login().await;
    let sent = Instant::now();
    other.ok("NOOP", 200).await;
    assert!(sent.elapsed() < Duration::from_millis(500));
    let sent = Instant::now();
    raw.send_raw(b"ABOR\r\n").await;
    assert_eq!(raw.reply().await.code, 426);
    assert_eq!(raw.reply().await.code, 226);
    assert!(sent.elapsed() < Duration::from_secs(5));
    raw.ok("NOOP", 200).await;

    raw.send_raw(b"XCRC big.bin\r\n").await;
    wait_until_hashing(&mut raw).await;
    let sent = Instant::now();
    raw.send_raw(b"QUIT\r\n").await;
    let r = raw.reply().await;
    let r = if r.code == 426 { raw.reply().await } else { r };
    assert_eq!(r.code, 221);
    assert!(raw.closed().await);
    assert!(sent.elapsed() < Duration::from_secs(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hash_is_a_transfer_for_the_idle_timer_and_the_rate_limit() {
    let limits = Limits {
        idle_timeout: Duration::from_millis(500),
        ..throttled(4 << 20)
    };
    let t = start_with(|b| b.limits(limits)).await;
    big_file(&t, "eight.bin", 8 << 20);
    let mut raw = t.login().await;
    let sent = Instant::now();
    let r = raw.ok("XMD5 eight.bin", 250).await;
    // 8 MiB at 4 MiB/s: about two seconds, four idle timeouts long.
    assert!(
        sent.elapsed() >= Duration::from_millis(1500),
        "{:?}",
        sent.elapsed()
    );
    assert_eq!(r.text.len(), "250 ".len() + 32);
    // Idle from here on: the timer runs again.
    assert!(raw.reply().await.code == 421);
}

// ---------------------------------------------------------------------
// MODE Z
// ---------------------------------------------------------------------

/// A client that speaks MODE Z with Python's zlib: uploads a compressible
/// 50 MB file compressed, downloads it again, and reports what crossed
/// the wire. Then TYPE A, a listing, REST, and a stream that is not zlib.
const FTPLIB_MODE_Z: &str = r#"
import ftplib, hashlib, io, ssl, sys, zlib
port, user, pw, level, tls = int(sys.argv[1]), sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5] == "tls"
if tls:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    f = ftplib.FTP_TLS(context=ctx, timeout=120)
else:
    f = ftplib.FTP(timeout=120)
f.connect("127.0.0.1", port)
f.login(user, pw)
if tls:
    f.prot_p()
f.voidcmd("TYPE I")
print("MODE", f.sendcmd("MODE Z"))
print("LEVEL", f.sendcmd("OPTS MODE Z LEVEL %d" % level))
data = b"".join(b"line %08d of a file that compresses well\n" % i for i in range(1_250_000))
c = zlib.compressobj(level)
wire = c.compress(data) + c.flush()
print("STOR", f.storbinary("STOR z.bin", io.BytesIO(wire))[:3], len(data), len(wire), hashlib.sha256(data).hexdigest())
def fetch(cmd):
    d = zlib.decompressobj()
    parts, seen = [], [0]
    def got(b):
        seen[0] += len(b)
        parts.append(d.decompress(b))
    r = f.retrbinary(cmd, got)
    parts.append(d.flush())
    return r, seen[0], b"".join(parts), d.eof
r, seen, back, eof = fetch("RETR z.bin")
print("RETR", r[:3], seen, hashlib.sha256(back).hexdigest(), eof)
# ftplib's own helpers always switch to TYPE I: TYPE A by hand.
def ascii(cmd, payload=None):
    f.voidcmd("TYPE A")
    conn = f.transfercmd(cmd)
    got = b""
    if payload is None:
        while True:
            b = conn.recv(65536)
            if not b:
                break
            got += b
    else:
        conn.sendall(payload)
    if tls:
        conn.unwrap()
    conn.close()
    return f.voidresp(), got
c = zlib.compressobj(level)
print("ASCII-STOR", ascii("STOR a.txt", c.compress(b"one\r\ntwo\r\n") + c.flush())[0][:3])
print("ASCII-RETR", repr(zlib.decompress(ascii("RETR a.txt")[1])))
r, seen, back, eof = fetch("NLST")
print("NLST", ",".join(sorted(back.decode().split())))
f.voidcmd("TYPE I")
try:
    print("REST", f.sendcmd("REST 10"))
except ftplib.error_perm as e:
    print("REST", e)
try:
    print("BAD", f.storbinary("STOR bad.bin", io.BytesIO(b"this is not a zlib stream" * 1000)))
except ftplib.Error as e:
    print("BAD", e)
except (OSError, EOFError) as e:
    # The server hung up mid-upload; its reply is still to be read.
    try:
        print("BAD none", f.getresp())
    except ftplib.Error as e:
        print("BAD", e)
print("MODE-S", f.sendcmd("MODE S"))
print("REST-S", f.sendcmd("REST 10")[:3])
f.quit()
"#;

async fn mode_z_round_trip(tls: bool) {
    if !need("python3") {
        return;
    }
    for level in [1, 9] {
        let t = if tls {
            let id = ftpshare::TlsIdentity::self_signed(&["127.0.0.1".into()]).unwrap();
            start_with(|b| {
                b.access(AccessMode::Writable)
                    .tls(id, ftpshare::TlsMode::Explicit)
                    .require_tls_reuse(false)
            })
            .await
        } else {
            start(AccessMode::Writable).await
        };
        let out = client(
            "python3",
            vec![
                "-c".into(),
                FTPLIB_MODE_Z.into(),
                t.addr.port().to_string(),
                USER.into(),
                PASS.into(),
                level.to_string(),
                if tls { "tls" } else { "plain" }.into(),
            ],
        )
        .await;
        let out = success("python3", &out);
        let field = |key: &str| -> Vec<String> {
            out.lines()
                .find_map(|l| l.strip_prefix(&format!("{key} ")))
                .unwrap_or_else(|| panic!("no {key} in {out}"))
                .split(' ')
                .map(String::from)
                .collect()
        };
        assert!(field("MODE")[0] == "200", "{out}");
        assert!(field("LEVEL")[0] == "200", "{out}");
        let stor = field("STOR");
        let (size, wire): (u64, u64) = (stor[1].parse().unwrap(), stor[2].parse().unwrap());
        assert_eq!(stor[0], "226", "{out}");
        assert!(size >= 50_000_000 && wire < size / 4, "{out}");
        assert_eq!(
            sha256(&std::fs::read(t.path("z.bin")).unwrap()),
            stor[3],
            "level {level}"
        );
        let retr = field("RETR");
        assert_eq!(retr[0], "226", "{out}");
        let received: u64 = retr[1].parse().unwrap();
        assert!(
            received < size / 4,
            "{received} bytes on the wire for {size}"
        );
        assert_eq!(retr[2], stor[3]);
        assert_eq!(retr[3], "True", "the zlib stream was not finished");
        assert_eq!(field("ASCII-STOR")[0], "226");
        assert_eq!(std::fs::read(t.path("a.txt")).unwrap(), b"one\ntwo\n");
        assert_eq!(field("ASCII-RETR")[0], r"b'one\r\ntwo\r\n'");
        assert_eq!(field("NLST")[0], "a.txt,z.bin");
        assert_eq!(field("REST")[0], "504");
        let bad = field("BAD")[0].clone();
        assert!(bad == "426" || bad == "451", "{out}");
        assert_eq!(field("MODE-S")[0], "200");
        assert_eq!(field("REST-S")[0], "350");
        // Nothing of the broken upload is left, not even a temporary file.
        let mut names: Vec<String> = std::fs::read_dir(t.root())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["a.txt", "z.bin"]);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_z_with_python_zlib() {
    mode_z_round_trip(false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_z_with_python_zlib_over_tls() {
    mode_z_round_trip(true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mode_z_downloads_are_paced_by_the_rate_limit() {
    use std::io::Read;
    let t = start_with(|b| b.limits(throttled(1 << 20))).await;
    let text: Vec<u8> = (0..3u32 << 20)
        .map(|i| b"paced "[(i % 6) as usize])
        .collect();
    t.write("paced.txt", &text);
    let mut raw = t.login().await;
    raw.ok("MODE Z", 200).await;
    let data = raw.epsv().await;
    let sent = Instant::now();
    raw.ok("RETR paced.txt", 150).await;
    let wire = read_all(data).await;
    assert_eq!(raw.reply().await.code, 226);
    // 3 MiB of file at 1 MiB/s, however few bytes the wire carries.
    assert!(
        sent.elapsed() >= Duration::from_millis(2500),
        "{:?}",
        sent.elapsed()
    );
    assert!(wire.len() < text.len() / 100);
    let mut back = Vec::new();
    flate2::read::ZlibDecoder::new(&wire[..])
        .read_to_end(&mut back)
        .unwrap();
    assert_eq!(sha256(&back), sha256(&text));
}

/// lftp switches to MODE Z by itself when FEAT lists it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lftp_uses_mode_z_both_ways() {
    if !need("lftp") {
        return;
    }
    let t = start(AccessMode::Writable).await;
    let text: Vec<u8> = (0..200_000u32)
        .flat_map(|i| format!("line {i} for lftp\n").into_bytes())
        .collect();
    t.write("t.txt", &text);
    let local = tempfile::tempdir().unwrap();
    let script = format!(
        "set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 1; \
         set net:timeout 20; set ftp:use-mode-z yes; lcd {}; get t.txt -o got.txt; \
         put got.txt -o back.txt; bye",
        local.path().display()
    );
    let out = lftp(&t, true, script).await;
    success("lftp", &out);
    let debug = String::from_utf8_lossy(&out.stderr);
    assert!(debug.contains("---> MODE Z"), "{debug}");
    assert_eq!(
        sha256(&std::fs::read(local.path().join("got.txt")).unwrap()),
        sha256(&text)
    );
    assert_eq!(
        sha256(&std::fs::read(t.path("back.txt")).unwrap()),
        sha256(&text)
    );
}

/// Shutdown treats a hash as a running transfer: it gets the grace period,
/// then is cut (426) before the goodbye (421).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_gives_a_hash_the_grace_period_then_cuts_it() {
    let limits = Limits {
        shutdown_grace: Duration::from_millis(500),
        ..throttled(32 << 20)
    };
    let t = start_with(|b| b.limits(limits)).await;
    big_file(&t, "big.bin", 1 << 30);
    let mut raw = t.login().await;
    raw.send_raw(b"HASH big.bin\r\n").await;
    wait_until_hashing(&mut raw).await;
    let sent = Instant::now();
    t.server.shutdown().await;
    assert_eq!(raw.reply().await.code, 426);
    assert_eq!(raw.reply().await.code, 421);
    assert!(sent.elapsed() >= Duration::from_millis(500));
    assert!(sent.elapsed() < Duration::from_secs(5));
}
