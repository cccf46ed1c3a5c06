//! Upload limits (`--max-upload-size`, `--quota`, `--min-free`) against
//! the library server, with curl, lftp, Python's ftplib and a raw client:
//! each limit stops an upload with the right code, and a stopped upload
//! leaves the old file as it was and no temporary file behind.

mod common;

use std::path::Path;
use std::process::Output;
use std::time::Duration;

use common::*;
use ftpshare::{AccessMode, Event, MinFree, UploadLimit, UploadLimits};
use tokio::io::AsyncWriteExt;
use tokio::sync::broadcast::Receiver;

/// A writable server with these upload limits (the free-space check off
/// unless asked for: the test machine's disk is not the subject).
async fn start_limited(limits: UploadLimits) -> TestServer {
    start_with(|b| b.access(AccessMode::Writable).upload_limits(limits)).await
}

fn no_min_free() -> UploadLimits {
    UploadLimits {
        min_free: MinFree::Bytes(0),
        ..UploadLimits::default()
    }
}

/// A --min-free above what a fresh temporary folder's disk has free: the
/// real disk trips it.
fn min_free_above_the_disk() -> UploadLimits {
    let dir = tempfile::tempdir().unwrap();
    let free = free_bytes(&std::fs::File::open(dir.path()).unwrap());
    UploadLimits {
        min_free: MinFree::Bytes(free + (1 << 30)),
        ..UploadLimits::default()
    }
}

/// curl's arguments to upload `file` as `name`.
fn put_args(t: &TestServer, file: &Path, name: &str) -> Vec<String> {
    let (file, url) = (file.display().to_string(), t.url(name));
    ["-sS", "--max-time", "50", "-T", &file, &url]
        .map(String::from)
        .to_vec()
}

async fn curl_put(t: &TestServer, file: &Path, name: &str) -> Output {
    client("curl", put_args(t, file, name)).await
}

/// The next finished transfer: its path, bytes, error and limit.
async fn finished(
    events: &mut Receiver<Event>,
) -> (String, u64, Option<String>, Option<UploadLimit>) {
    loop {
        let ev = tokio::time::timeout(Duration::from_secs(60), events.recv())
            .await
            .expect("no TransferFinished event")
            .expect("event channel");
        if let Event::TransferFinished {
            path,
            bytes,
            error,
            limit,
            ..
        } = ev
        {
            return (path, bytes, error, limit);
        }
    }
}

/// The names in `dir`, sorted: a temporary upload file would show here.
fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn curl_upload_past_the_size_limit_is_cut_and_the_old_file_kept() {
    if !need("curl") {
        return;
    }
    let t = start_limited(UploadLimits {
        max_upload_size: Some(1 << 20),
        ..no_min_free()
    })
    .await;
    let old = pseudo_random(1000, 1);
    t.write("photo.jpg", &old);
    let local = tempfile::tempdir().unwrap();
    let big = local.path().join("big");
    std::fs::write(&big, pseudo_random(8 << 20, 2)).unwrap();
    let mut events = t.server.subscribe();

    let out = curl_put(&t, &big, "photo.jpg").await;
    // 70 is curl's code for a 552 reply: it read the refusal instead of
    // failing on a reset data connection (55 or 56).
    assert_eq!(
        out.status.code(),
        Some(70),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let (path, bytes, error, limit) = finished(&mut events).await;
    assert_eq!(path, "/photo.jpg");
    assert_eq!(limit, Some(UploadLimit::MaxUploadSize), "{error:?}");
    // Stopped in the stream, once past the limit, long before the end.
    assert!(bytes > 1 << 20 && bytes < 8 << 20, "{bytes}");
    assert_eq!(
        sha256(&std::fs::read(t.path("photo.jpg")).unwrap()),
        sha256(&old)
    );
    assert_eq!(names(t.root()), ["photo.jpg"]);

    // Exactly the limit is fine.
    let exact = local.path().join("exact");
    let data = pseudo_random(1 << 20, 3);
    std::fs::write(&exact, &data).unwrap();
    let out = curl_put(&t, &exact, "photo.jpg").await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(finished(&mut events).await.3, None);
    assert_eq!(
        sha256(&std::fs::read(t.path("photo.jpg")).unwrap()),
        sha256(&data)
    );
    assert_eq!(
        t.server
            .upload_usage()
            .stopped_by(UploadLimit::MaxUploadSize),
        1
    );

    // lftp reads the 552 and gives up, rather than taking a reset for a
    // network error and sending the file again and again.
    if need("lftp") {
        let script = format!(
            "set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 5; \
             put {} -o photo.jpg; bye",
            big.display()
        );
        let out = lftp(&t, false, script).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Access failed: 552"), "{err}");
        assert_eq!(
            t.server
                .upload_usage()
                .stopped_by(UploadLimit::MaxUploadSize),
            2,
            "{err}"
        );
        assert_eq!(
            sha256(&std::fs::read(t.path("photo.jpg")).unwrap()),
            sha256(&data)
        );
    }
}

const FTPLIB_PUTS: &str = r#"
import ftplib, os, sys
port, user, password = int(sys.argv[1]), sys.argv[2], sys.argv[3]
f = ftplib.FTP()
f.connect('127.0.0.1', port, timeout=30)
f.login(user, password)

class Source:
    def __init__(self, n): self.left = n
    def read(self, size):
        size = min(size, self.left)
        self.left -= size
        return os.urandom(size)

def put(name, n):
    try:
        f.storbinary('STOR ' + name, Source(n))
        return 'ok'
    except ftplib.error_perm as e:
        return str(e)[:3]
    except OSError:
        # The server stopped reading: its reply is on the control connection.
        try:
            f.getresp()
        except ftplib.error_perm as e:
            return str(e)[:3]
        return 'no reply'

for arg in sys.argv[4:]:
    name, n = arg.split('=')
    print(name, put(name, int(n)))
f.quit()
"#;

async fn ftplib_puts(t: &TestServer, puts: &[(&str, usize)]) -> String {
    let mut args = vec![
        "-c".to_string(),
        FTPLIB_PUTS.into(),
        t.addr.port().to_string(),
        USER.into(),
        PASS.into(),
    ];
    args.extend(puts.iter().map(|(name, n)| format!("{name}={n}")));
    let out = client("python3", args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout(&out)
}

#[tokio::test]
async fn ftplib_quota_spans_uploads_and_a_discarded_one_gives_its_bytes_back() {
    if !need("python3") {
        return;
    }
    let t = start_limited(UploadLimits {
        quota: Some(1 << 20),
        ..no_min_free()
    })
    .await;
    t.write("b.bin", b"the old b");
    let out = ftplib_puts(
        &t,
        &[
            ("a.bin", 600 << 10),
            ("b.bin", 600 << 10),
            ("c.bin", 400 << 10),
        ],
    )
    .await;
    // The second does not fit after the first; its bytes are given back,
    // so the third (600 + 400 KiB) still does.
    assert_eq!(out, "a.bin ok\nb.bin 552\nc.bin ok\n");
    assert_eq!(std::fs::read(t.path("b.bin")).unwrap(), b"the old b");
    assert_eq!(names(t.root()), ["a.bin", "b.bin", "c.bin"]);
    assert_eq!(std::fs::metadata(t.path("a.bin")).unwrap().len(), 600 << 10);
    let usage = t.server.upload_usage();
    assert_eq!(usage.accepted, 1000 << 10);
    assert_eq!(usage.stopped_by(UploadLimit::Quota), 1);

    // Full to the last 24 KiB: a bigger upload is stopped in the stream,
    // one that fits exactly is stored, then the quota refuses up front.
    let out = ftplib_puts(
        &t,
        &[("d.bin", 25 << 10), ("e.bin", 24 << 10), ("f.bin", 1)],
    )
    .await;
    assert_eq!(out, "d.bin 552\ne.bin ok\nf.bin 552\n");
    assert_eq!(t.server.upload_usage().accepted, 1 << 20);
    assert_eq!(names(t.root()), ["a.bin", "b.bin", "c.bin", "e.bin"]);
}

#[tokio::test]
async fn concurrent_uploads_never_store_more_than_the_quota() {
    if !need("curl") {
        return;
    }
    let quota = 1u64 << 20;
    let t = start_limited(UploadLimits {
        quota: Some(quota),
        ..no_min_free()
    })
    .await;
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("up");
    std::fs::write(&file, pseudo_random(700 << 10, 4)).unwrap();
    let mut events = t.server.subscribe();
    let uploads: Vec<_> = (0..4)
        .map(|i| {
            let args = put_args(&t, &file, &format!("up{i}"));
            tokio::spawn(client("curl", args))
        })
        .collect();
    let mut ok = 0;
    for u in uploads {
        ok += u.await.unwrap().status.success() as u64;
    }
    let mut stopped = 0;
    for _ in 0..4 {
        stopped += (finished(&mut events).await.3 == Some(UploadLimit::Quota)) as u64;
    }
    assert!(ok <= 1, "{ok} uploads of 700 KiB fit a 1 MiB quota");
    assert_eq!(ok + stopped, 4);
    let stored: u64 = names(t.root())
        .iter()
        .map(|n| std::fs::metadata(t.path(n)).unwrap().len())
        .sum();
    assert_eq!(stored, ok * (700 << 10), "{:?}", names(t.root()));
    assert_eq!(t.server.upload_usage().accepted, stored);
}

#[tokio::test]
async fn a_disk_below_min_free_refuses_uploads_before_any_data() {
    let t = start_limited(min_free_above_the_disk()).await;
    t.write("keep.txt", b"keep");
    let mut events = t.server.subscribe();

    let mut raw = t.login().await;
    let _data = raw.epsv().await;
    let r = raw.cmd("STOR keep.txt").await;
    assert_eq!(r.code, 552, "{r:?}");
    assert!(r.text.contains("keeps"), "{r:?}");
    // Whoever watches the share sees the refusal, and why.
    let (path, bytes, _, limit) = finished(&mut events).await;
    assert_eq!((path.as_str(), bytes), ("/keep.txt", 0));
    assert_eq!(limit, Some(UploadLimit::MinFree));
    raw.ok("ALLO 10", 552).await;
    assert_eq!(std::fs::read(t.path("keep.txt")).unwrap(), b"keep");
    assert_eq!(names(t.root()), ["keep.txt"]);
    assert_eq!(t.server.upload_usage().stopped_by(UploadLimit::MinFree), 1);

    if need("lftp") {
        let local = tempfile::tempdir().unwrap();
        std::fs::write(local.path().join("new.txt"), b"new").unwrap();
        let script = format!(
            "set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 1; \
             lcd {}; put new.txt; bye",
            local.path().display()
        );
        // -d shows the replies: the refusal comes before any data.
        let out = lftp(&t, true, script).await;
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("<--- 552"), "{err}");
        assert!(!err.contains("<--- 150"), "{err}");
        assert_eq!(names(t.root()), ["keep.txt"]);
    }
}

fn free_bytes(f: &std::fs::File) -> u64 {
    use std::os::fd::AsRawFd;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    assert_eq!(unsafe { libc::fstatvfs(f.as_raw_fd(), st.as_mut_ptr()) }, 0);
    let st = unsafe { st.assume_init() };
    st.f_bavail * st.f_frsize
}

/// The real disk, with a minimum just below what is free now: an upload
/// starts, then is stopped with 552 once it has eaten the margin. Other
/// programs write to the same disk, so a run whose margin vanished before
/// the upload began (552 before 150) is tried again.
#[tokio::test]
async fn min_free_stops_an_upload_in_the_stream() {
    const MARGIN: u64 = 32 << 20;
    for _attempt in 0..3 {
        let dir = tempfile::tempdir().unwrap();
        let free = free_bytes(&std::fs::File::open(dir.path()).unwrap());
        // A disk with no more than the margin free cannot run this test.
        let Some(min_free) = free.checked_sub(MARGIN).filter(|&m| m > 0) else {
            need_that(&format!("more than {MARGIN} bytes free ({free})"), false);
            return;
        };
        let t = start_limited(UploadLimits {
            min_free: MinFree::Bytes(min_free),
            ..UploadLimits::default()
        })
        .await;
        t.write("keep.bin", b"old");
        let mut events = t.server.subscribe();
        let mut raw = t.login().await;
        let mut data = raw.epsv().await;
        let r = raw.cmd("STOR keep.bin").await;
        if r.code == 552 {
            continue;
        }
        assert_eq!(r.code, 150, "{r:?}");
        let chunk = vec![0x5a; 1 << 20];
        let mut sent = 0u64;
        while sent < 8 * MARGIN {
            if data.write_all(&chunk).await.is_err() {
                break;
            }
            sent += chunk.len() as u64;
        }
        drop(data);
        let r = raw.reply().await;
        assert_eq!(r.code, 552, "{r:?} after {sent} bytes");
        let (_, bytes, _, limit) = finished(&mut events).await;
        assert_eq!(limit, Some(UploadLimit::MinFree));
        assert!(bytes > 0, "stopped in the stream, not before it");
        assert_eq!(std::fs::read(t.path("keep.bin")).unwrap(), b"old");
        assert_eq!(names(t.root()), ["keep.bin"]);
        return;
    }
    panic!("the disk kept changing by more than {MARGIN} bytes");
}

#[tokio::test]
async fn allo_answers_up_front() {
    let t = start_limited(UploadLimits {
        max_upload_size: Some(1000),
        quota: Some(5000),
        ..no_min_free()
    })
    .await;
    let mut raw = t.login().await;
    raw.ok("ALLO 1000", 202).await;
    raw.ok("ALLO 1001", 552).await;
    raw.ok("ALLO 99999999999999999999999", 552).await;
    raw.ok("ALLO 500 R 10", 202).await;
    raw.ok("ALLO", 202).await;
    raw.ok("ALLO lots", 501).await;
    // Nothing was uploaded: ALLO only asks.
    assert_eq!(t.server.upload_usage(), ftpshare::UploadUsage::default());

    let quota_only = start_limited(UploadLimits {
        quota: Some(5000),
        ..no_min_free()
    })
    .await;
    let mut raw = quota_only.login().await;
    raw.ok("ALLO 5001", 552).await;
    raw.ok("ALLO 5000", 202).await;

    // No limit, or no uploads at all: nothing to check.
    let unlimited = start_limited(no_min_free()).await;
    unlimited.login().await.ok("ALLO 1000000", 202).await;
    let read_only = start_with(|b| {
        b.upload_limits(UploadLimits {
            quota: Some(1),
            ..no_min_free()
        })
    })
    .await;
    read_only.login().await.ok("ALLO 5", 202).await;
}

/// A resumed upload counts what the file held before its offset, and its
/// bytes stay (it writes in place) when the limit stops it.
#[tokio::test]
async fn resume_counts_the_bytes_before_the_offset() {
    let t = start_limited(UploadLimits {
        max_upload_size: Some(1000),
        ..no_min_free()
    })
    .await;
    t.write("part.bin", &[b'a'; 900]);
    let mut raw = t.login().await;
    raw.ok("REST 1000", 350).await;
    let _data = raw.epsv().await;
    raw.ok("STOR part.bin", 554).await; // past the end: nothing to resume
    raw.ok("REST 900", 350).await;
    let mut data = raw.epsv().await;
    raw.ok("STOR part.bin", 150).await;
    let _ = data.write_all(&[b'b'; 300]).await;
    drop(data);
    assert_eq!(raw.reply().await.code, 552);
    assert_eq!(std::fs::read(t.path("part.bin")).unwrap(), [b'a'; 900]);
    assert_eq!(names(t.root()), ["part.bin"]);
}

/// The size a client announces with ALLO becomes the upload's progress
/// total (its bar gets a length and an ETA); the next upload, without
/// ALLO, has none. Python's ftplib sends TYPE and PASV in between, which
/// keep the announcement as they keep a REST offset.
#[tokio::test]
async fn allo_announces_the_size_of_the_next_upload() {
    if !need("python3") {
        return;
    }
    let t = start_limited(no_min_free()).await;
    let mut events = t.server.subscribe();
    let script = r#"
import ftplib, io, sys
f = ftplib.FTP()
f.connect('127.0.0.1', int(sys.argv[1]), timeout=30)
f.login(sys.argv[2], sys.argv[3])
print(f.sendcmd('ALLO 5000')[:3])
f.storbinary('STOR announced.bin', io.BytesIO(b'x' * 5000))
f.storbinary('STOR plain.bin', io.BytesIO(b'y' * 300))
f.quit()
"#;
    let args = vec![
        "-c".to_string(),
        script.into(),
        t.addr.port().to_string(),
        USER.into(),
        PASS.into(),
    ];
    let out = client("python3", args).await;
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout(&out).trim(), "202");
    let mut sizes = Vec::new();
    while sizes.len() < 2 {
        let e = tokio::time::timeout(Duration::from_secs(10), events.recv()).await;
        if let Ok(Ok(Event::TransferStarted { path, size, .. })) = e {
            sizes.push((path, size));
        } else if e.is_err() {
            panic!("no TransferStarted events: {sizes:?}");
        }
    }
    assert_eq!(
        sizes,
        [
            ("/announced.bin".to_string(), Some(5000)),
            ("/plain.bin".to_string(), None)
        ]
    );
    assert_eq!(std::fs::read(t.path("announced.bin")).unwrap().len(), 5000);
}

/// Two appends admitted at once each fit the per-file limit on their own,
/// but not together: the one that completes second is refused (552, the
/// limit named), and the file holds only the first.
#[tokio::test]
async fn concurrent_appends_never_grow_a_file_past_the_size_limit() {
    let t = start_limited(UploadLimits {
        max_upload_size: Some(1000),
        ..no_min_free()
    })
    .await;
    t.write("log.bin", b"head:");
    let (a, b) = (pseudo_random(600, 1), pseudo_random(600, 2));
    let mut events = t.server.subscribe();
    let mut ca = t.login().await;
    let mut cb = t.login().await;
    let mut da = ca.epsv().await;
    let mut db = cb.epsv().await;
    ca.ok("APPE log.bin", 150).await;
    cb.ok("APPE log.bin", 150).await;
    da.write_all(&a).await.unwrap();
    drop(da);
    assert_eq!(ca.reply().await.code, 226);
    assert_eq!(finished(&mut events).await.3, None);
    db.write_all(&b).await.unwrap();
    drop(db);
    let r = cb.reply().await;
    assert_eq!(r.code, 552, "{r:?}");
    assert!(r.text.contains("files may hold at most 1 kB"), "{r:?}");
    let (path, _, error, limit) = finished(&mut events).await;
    assert_eq!(path, "/log.bin");
    assert_eq!(limit, Some(UploadLimit::MaxUploadSize), "{error:?}");
    let now = std::fs::read(t.path("log.bin")).unwrap();
    assert_eq!(sha256(&now), sha256(&[&b"head:"[..], &a].concat()));
    assert_eq!(names(t.root()), ["log.bin"]);
    assert_eq!(
        t.server
            .upload_usage()
            .stopped_by(UploadLimit::MaxUploadSize),
        1
    );
}

/// A drop box with these limits.
async fn start_drop_box(limits: UploadLimits) -> TestServer {
    start_with(|b| b.access(AccessMode::UploadOnly).upload_limits(limits)).await
}

/// Every name under `dir`, as paths relative to it, sorted: an empty
/// folder shows as well as a file.
fn tree(dir: &Path) -> Vec<String> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            found.push(p.strip_prefix(dir).unwrap().display().to_string());
            if p.is_dir() {
                todo.push(p);
            }
        }
    }
    found.sort();
    found
}

/// `tree(dir)` once no temporary upload file is left (one dropped with
/// a refused command is removed off the runtime, a moment later).
async fn settled_tree(dir: &Path) -> Vec<String> {
    for _ in 0..100 {
        let now = tree(dir);
        if !now.iter().any(|n| n.contains(".ftpshare-")) {
            return now;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    tree(dir)
}

/// A drop box enters folders that do not exist yet, and only an upload
/// that is stored makes them: uploads refused for want of a data
/// connection (STOR, STOU) or by --min-free leave the disk as it was.
/// Two uploads into the same new folder at once are both stored there.
#[tokio::test]
async fn a_refused_drop_box_upload_makes_no_folder() {
    let t = start_drop_box(no_min_free()).await;
    let mut raw = t.login().await;
    raw.ok("CWD /p/q", 250).await;
    raw.ok("STOR g.txt", 425).await;
    raw.ok("STOU", 425).await;
    raw.ok("STOU g.txt", 425).await;
    raw.ok("STOR /x/y/z.txt", 425).await;
    assert_eq!(settled_tree(t.root()).await, Vec::<String>::new());

    // Stored: the folders appear with the file, nothing else.
    assert_eq!(try_stor(&mut raw, "STOR g.txt", b"g").await, 226);
    assert_eq!(tree(t.root()), ["p", "p/q", "p/q/g.txt"]);
    assert_eq!(std::fs::read(t.path("p/q/g.txt")).unwrap(), b"g");

    // Two at once into one new folder: both land there.
    let mut other = t.login().await;
    other.ok("CWD /n/m", 250).await;
    raw.ok("CWD /n/m", 250).await;
    let mut d1 = raw.epsv().await;
    let mut d2 = other.epsv().await;
    raw.ok("STOR f.txt", 150).await;
    other.ok("STOR f.txt", 150).await;
    d1.write_all(b"one").await.unwrap();
    d2.write_all(b"two").await.unwrap();
    drop(d1);
    drop(d2);
    assert_eq!(raw.reply().await.code, 226);
    assert_eq!(other.reply().await.code, 226);
    let mut got = [
        std::fs::read(t.path("n/m/f.txt")).unwrap(),
        std::fs::read(t.path("n/m/f.1.txt")).unwrap(),
    ];
    got.sort();
    assert_eq!(got, [b"one".to_vec(), b"two".to_vec()]);
    assert_eq!(
        tree(t.root()),
        [
            "n",
            "n/m",
            "n/m/f.1.txt",
            "n/m/f.txt",
            "p",
            "p/q",
            "p/q/g.txt"
        ]
    );
    // A path through a file is still answered before any data.
    let mut raw = t.login().await;
    let _d = raw.epsv().await;
    raw.ok("STOR /p/q/g.txt/h.txt", 550).await;

    // Refused by --min-free: no folder either.
    let full = start_drop_box(min_free_above_the_disk()).await;
    let mut raw = full.login().await;
    raw.ok("CWD /p/q", 250).await;
    let _d = raw.epsv().await;
    raw.ok("STOR g.txt", 552).await;
    let _d = raw.epsv().await;
    raw.ok("STOU", 552).await;
    assert_eq!(settled_tree(full.root()).await, Vec::<String>::new());
}

/// Three uploads of 3 MB at once under a 5 MiB quota: one fits, and it
/// is stored. Each upload the quota stops gives its bytes back at once,
/// so the others go on rather than all three being stopped together.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_stopped_by_the_quota_lets_the_others_go_on() {
    const SIZE: usize = 3_000_000;
    for round in 0..3 {
        let t = start_limited(UploadLimits {
            quota: Some(5 << 20),
            ..no_min_free()
        })
        .await;
        // Round robin, so that all three reach the quota together.
        let body = pseudo_random(SIZE, round);
        let codes = uploads_side_by_side(&t, 3, &body).await;
        let mut sorted = codes.clone();
        sorted.sort();
        assert_eq!(sorted, [226, 552, 552], "round {round}: {codes:?}");
        let stored = codes.iter().position(|&c| c == 226).unwrap();
        let name = format!("up{stored}.bin");
        assert_eq!(
            names(t.root()),
            std::slice::from_ref(&name),
            "round {round}"
        );
        assert_eq!(
            sha256(&std::fs::read(t.path(&name)).unwrap()),
            sha256(&body)
        );
        let usage = t.server.upload_usage();
        assert_eq!(usage.accepted, SIZE as u64);
        assert_eq!(usage.stopped_by(UploadLimit::Quota), 2);
    }
}

/// A drop box whose disk is at the --min-free line will not get emptier
/// (nothing there is deleted): the refusal reads as final. lftp gives up
/// at once with the reason, rather than "Delaying before retry" for half
/// an hour, and curl fails with the code of a full allocation.
#[tokio::test]
async fn a_full_drop_box_reads_as_final_to_lftp_and_curl() {
    let t = start_drop_box(min_free_above_the_disk()).await;
    let local = tempfile::tempdir().unwrap();
    let file = local.path().join("new.txt");
    std::fs::write(&file, b"new").unwrap();
    let mut raw = t.login().await;
    let _d = raw.epsv().await;
    let r = raw.cmd("STOR new.txt").await;
    assert_eq!(r.code, 552, "{r:?}");
    assert!(r.text.contains("keeps"), "{r:?}");
    raw.ok("ALLO 10", 552).await;

    if need("lftp") {
        // lftp's own defaults: no retry setting lowered.
        let script = format!(
            "set cmd:fail-exit yes; set ftp:ssl-allow no; put {} -o new.txt; bye",
            file.display()
        );
        let began = std::time::Instant::now();
        let out = lftp(&t, false, script).await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{err}");
        assert!(began.elapsed() < Duration::from_secs(10), "{err}");
        assert!(err.contains("Access failed: 552"), "{err}");
        assert!(err.contains("keeps"), "{err}");
        assert!(!err.contains("Delaying"), "{err}");
    }
    if need("curl") {
        let out = curl_put(&t, &file, "new.txt").await;
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(25), "{err}");
        assert!(err.contains("Failed FTP upload: 552"), "{err}");
    }
    if need("python3") {
        // ftplib raises error_perm (5xx), not error_temp (4xx).
        assert_eq!(ftplib_puts(&t, &[("new.txt", 3)]).await, "new.txt 552\n");
    }
    assert_eq!(tree(t.root()), Vec::<String>::new());
}

/// AVBL answers what an upload there may really store: the disk's free
/// space less --min-free, at most what is left of --quota and at most
/// --max-upload-size. A drop box answers alike for any folder name.
#[tokio::test]
async fn avbl_answers_what_an_upload_may_store() {
    async fn avbl(raw: &mut Raw, arg: &str) -> u64 {
        let r = raw.ok(format!("AVBL {arg}").trim_end(), 213).await;
        r.text[4..].trim().parse().unwrap()
    }
    let t = start_limited(UploadLimits {
        quota: Some(5000),
        ..no_min_free()
    })
    .await;
    let mut raw = t.login().await;
    assert_eq!(avbl(&mut raw, "").await, 5000);
    assert_eq!(try_stor(&mut raw, "STOR a.bin", &[7; 1200]).await, 226);
    assert_eq!(avbl(&mut raw, "").await, 3800);

    let t = start_limited(UploadLimits {
        max_upload_size: Some(1000),
        ..no_min_free()
    })
    .await;
    assert_eq!(avbl(&mut t.login().await, "").await, 1000);

    // The real disk, with a reserve 100 MB below its free space.
    const ROOM: u64 = 100_000_000;
    let dir = tempfile::tempdir().unwrap();
    let free = free_bytes(&std::fs::File::open(dir.path()).unwrap());
    let Some(min_free) = free.checked_sub(ROOM).filter(|&m| m > 0) else {
        need_that(&format!("more than {ROOM} bytes free ({free})"), false);
        return;
    };
    for drop_box in [false, true] {
        let limits = UploadLimits {
            min_free: MinFree::Bytes(min_free),
            ..UploadLimits::default()
        };
        let t = match drop_box {
            true => start_drop_box(limits).await,
            false => start_limited(limits).await,
        };
        let mut raw = t.login().await;
        // Other programs write to the disk meanwhile: 10 MB either way.
        let room = avbl(&mut raw, "").await;
        assert!(room.abs_diff(ROOM) < 10_000_000, "{room}");
        if drop_box {
            let elsewhere = avbl(&mut raw, "/no/such/folder").await;
            assert!(elsewhere.abs_diff(ROOM) < 10_000_000, "{elsewhere}");
        }
    }
}

/// --min-free 15 MiB on a 20 MiB disk, two 3,000,000-byte uploads at once,
/// again and again: the line holds, to the file system's rounding of each
/// file to its blocks (4 KiB), never by what one upload charged but had
/// not written when the other measured the disk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn min_free_holds_against_concurrent_uploads_on_a_small_disk() {
    const SIZE: usize = 3_000_000;
    const MIN: u64 = 15 << 20;
    // SAFETY: geteuid has no preconditions.
    if !need_that(
        "root, to mount a small tmpfs",
        unsafe { libc::geteuid() } == 0,
    ) {
        return;
    }
    for round in 0..6 {
        let dir = tempfile::tempdir().unwrap();
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=20m", "tmpfs"])
            .arg(dir.path())
            .output()
            .unwrap();
        if !need_that("a tmpfs mount", mounted.status.success()) {
            return;
        }
        let _unmount = Unmount(dir.path().to_path_buf());
        let t = start_with(|b| {
            b.root(dir.path())
                .access(AccessMode::UploadOnly)
                .upload_limits(UploadLimits {
                    min_free: MinFree::Bytes(MIN),
                    ..UploadLimits::default()
                })
        })
        .await;
        let codes = uploads_side_by_side(&t, 2, &pseudo_random(SIZE, round)).await;
        let stored = codes.iter().filter(|&&c| c == 226).count();
        assert!(stored <= 1, "round {round}: {codes:?}");
        assert!(codes.iter().all(|&c| c == 226 || c == 552), "{codes:?}");
        let left = settled_tree(dir.path()).await;
        assert_eq!(left.len(), stored, "round {round}: {left:?}");
        let free = free_bytes(&std::fs::File::open(dir.path()).unwrap());
        assert!(
            free + 4096 >= MIN,
            "round {round}: {free} free, {} under the line",
            MIN - free
        );
        drop(t);
    }
}

/// `n` sessions upload `body` as `up0.bin`, `up1.bin`… at once, a chunk
/// each in turn, so that they reach a limit together; their final codes.
async fn uploads_side_by_side(t: &TestServer, n: usize, body: &[u8]) -> Vec<u16> {
    let mut controls = Vec::new();
    let mut streams = Vec::new();
    for i in 0..n {
        let mut raw = t.login().await;
        let data = raw.epsv().await;
        raw.ok(&format!("STOR up{i}.bin"), 150).await;
        controls.push(raw);
        streams.push(Some(data));
    }
    for chunk in body.chunks(64 << 10) {
        for s in streams.iter_mut() {
            if let Some(d) = s {
                if d.write_all(chunk).await.is_err() {
                    *s = None;
                }
            }
        }
    }
    for s in streams.iter_mut() {
        if let Some(mut d) = s.take() {
            let _ = d.shutdown().await;
        }
    }
    let mut codes = Vec::new();
    for raw in controls.iter_mut() {
        codes.push(raw.reply().await.code);
    }
    codes
}
