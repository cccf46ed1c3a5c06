//! The extensions beyond the RFC table: MFMT, MFF, the MDTM set form, SITE
//! CHMOD/UTIME/HELP, HOST, CLNT, AVBL, HASH/RANG and the X* hashes, and
//! MODE Z, with Python's ftplib, curl and lftp, plus a raw client where a
//! test needs exact timing.

mod common;

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use ftpshare::AccessMode;

/// Whether `program` can be used; a missing one fails the test under CI
/// (which installs them all) and skips it elsewhere.
fn need(program: &str) -> bool {
    if have(program) {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "{program} is required when CI is set"
    );
    eprintln!("skipped: {program} not installed");
    false
}

/// Runs an external client off the runtime's threads (the server under
/// test runs on them).
async fn client(program: &str, args: Vec<String>) -> Output {
    let program = program.to_string();
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run(&program, &args)
    })
    .await
    .unwrap()
}

fn stdout_of(what: &str, out: &Output) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

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
    let out = stdout_of("python3", &client("python3", args).await);
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
    assert!(r[3].starts_with("213 "), "{r:?}");
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
    stdout_of("curl", &out);
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
    let out = client(
        "lftp",
        vec![
            "-u".into(),
            format!("{USER},{PASS}"),
            "-p".into(),
            t.addr.port().to_string(),
            "127.0.0.1".into(),
            "-e".into(),
            script,
        ],
    )
    .await;
    stdout_of("lftp", &out);
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
        raw.ok("AVBL", if upload_only { 213 } else { 550 }).await;
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
    let expected = statvfs_free(t.root());
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
