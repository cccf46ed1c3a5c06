//! Replies that tell the truth: a reply describes the file system as the
//! client will find it. `226` means the bytes are there, whole; `426`
//! means the upload left no trace. Each test sets up the moment where that
//! used to bend — an ABOR after the body is in, two resumes at once,
//! clients that never read — with raw control connections, so that the
//! codes and their order are exact.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, Instant};

use common::*;
use ftpshare::AccessMode;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpSocket;

/// Holds flock(2) on a file, as another program appending to it would;
/// released when dropped (the file closes).
struct OtherProgramsLock(#[allow(dead_code)] std::fs::File);

impl OtherProgramsLock {
    fn take(path: &std::path::Path) -> OtherProgramsLock {
        let file = std::fs::OpenOptions::new().append(true).open(path).unwrap();
        // SAFETY: the descriptor is open for the call.
        assert_eq!(unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) }, 0);
        OtherProgramsLock(file)
    }
}

/// The client sends its whole body and closes the data connection; the
/// append then waits for another program's lock when ABOR arrives. The
/// append goes ahead once the lock is free, so the replies say so: 226 for
/// the transfer, 226 for ABOR. (It used to be 426, with the bytes appended
/// anyway: a client that retried appended them twice.)
#[tokio::test]
async fn abor_while_an_append_commits_reports_the_append() {
    let t = start(AccessMode::Writable).await;
    t.write("log.txt", b"start\n");
    let body = pseudo_random(100_000, 1);
    let lock = OtherProgramsLock::take(&t.path("log.txt"));
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("APPE log.txt", 150).await;
    d.write_all(&body).await.unwrap();
    d.shutdown().await.unwrap();
    drop(d);
    // The server has the whole body and waits for the lock.
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send_raw(b"ABOR\r\n").await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(lock);
    let transfer = c.reply().await;
    let abor = c.reply().await;
    assert_eq!(
        (transfer.code, abor.code),
        (226, 226),
        "{transfer:?} {abor:?}"
    );
    let mut want = b"start\n".to_vec();
    want.extend_from_slice(&body);
    assert!(std::fs::read(t.path("log.txt")).unwrap() == want);
}

/// The other order: ABOR while the body is still coming. The upload
/// stops, 426 then 226, and no byte of it is anywhere.
#[tokio::test]
async fn abor_mid_upload_leaves_no_trace() {
    let t = start(AccessMode::Writable).await;
    t.write("log.txt", b"start\n");
    t.write("kept.bin", b"old content");
    for cmd in ["APPE log.txt", "STOR kept.bin", "STOR new.bin"] {
        let mut c = t.login().await;
        let mut d = c.epsv().await;
        c.ok(cmd, 150).await;
        d.write_all(&pseudo_random(600_000, 2)).await.unwrap();
        c.send_raw(b"ABOR\r\n").await;
        assert_eq!(c.reply().await.code, 426, "{cmd}");
        assert_eq!(c.reply().await.code, 226, "{cmd}");
    }
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"start\n");
    assert_eq!(std::fs::read(t.path("kept.bin")).unwrap(), b"old content");
    assert!(!t.path("new.bin").exists());
}

/// A line the parser refuses (empty, unknown, bad arguments, over the
/// line limit) while an upload runs is answered in its turn, after the
/// upload's 226, as any command but ABOR and STAT is: answered first, its
/// 500 was taken for the upload's result, which had in fact landed.
#[tokio::test]
async fn a_refused_line_during_a_transfer_waits_for_its_reply() {
    let t = start(AccessMode::Writable).await;
    let body = pseudo_random(300_000, 9);
    let long = format!("NOOP {}\r\n", "x".repeat(9000));
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("STOR up.bin", 150).await;
    d.write_all(&body[..100_000]).await.unwrap();
    c.send_raw(b"\r\nXYZZY\r\nMODE X\r\n").await;
    c.send_raw(long.as_bytes()).await;
    c.send_raw(b"NOOP\r\n").await;
    // Nothing may be answered while the upload still runs.
    let early = tokio::time::timeout(Duration::from_millis(300), c.reply()).await;
    assert!(early.is_err(), "answered during the upload: {early:?}");
    d.write_all(&body[100_000..]).await.unwrap();
    drop(d);
    let mut got = Vec::new();
    for _ in 0..6 {
        got.push(c.reply().await.code);
    }
    assert_eq!(got, [226, 500, 500, 501, 500, 200]);
    assert_eq!(
        sha256(&std::fs::read(t.path("up.bin")).unwrap()),
        sha256(&body)
    );

    // Pipelined behind a transfer command, before its data connection.
    let d = c.epsv().await;
    c.send_raw(b"RETR up.bin\r\n\r\n").await;
    assert_eq!(read_all(d).await.len(), body.len());
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(c.reply().await.code);
    }
    assert_eq!(got, [150, 226, 500]);
}

/// A resume written in place that fails (ABOR, a reset data connection)
/// is cut back to where it began: 426 leaves the file as it was.
#[tokio::test]
async fn a_failed_resume_leaves_the_file_as_it_was() {
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(50_000, 3);
    t.write("part.bin", &old);
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("REST 50000", 350).await;
    c.ok("STOR part.bin", 150).await;
    d.write_all(&pseudo_random(700_000, 4)).await.unwrap();
    // Long enough for the server to write some of it in place.
    tokio::time::sleep(Duration::from_millis(300)).await;
    c.send_raw(b"ABOR\r\n").await;
    assert_eq!(c.reply().await.code, 426);
    assert_eq!(c.reply().await.code, 226);
    assert!(std::fs::read(t.path("part.bin")).unwrap() == old);
}

/// A resume from before the end replaces the file whole (its prefix, then
/// the new bytes) or, failing, not at all: the bytes it would overwrite
/// are still there after an ABOR.
#[tokio::test]
async fn a_resume_before_the_end_is_prefix_plus_body_or_nothing() {
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(80_000, 5);
    t.write("f.bin", &old);
    let body = pseudo_random(30_000, 6);
    let mut c = t.login().await;
    c.ok("REST 20000", 350).await;
    assert_eq!(try_stor(&mut c, "STOR f.bin", &body).await, 226);
    let mut want = old[..20_000].to_vec();
    want.extend_from_slice(&body);
    assert!(std::fs::read(t.path("f.bin")).unwrap() == want);

    let mut d = c.epsv().await;
    c.ok("REST 10000", 350).await;
    c.ok("STOR f.bin", 150).await;
    d.write_all(&pseudo_random(700_000, 7)).await.unwrap();
    c.send_raw(b"ABOR\r\n").await;
    assert_eq!(c.reply().await.code, 426);
    assert_eq!(c.reply().await.code, 226);
    assert!(std::fs::read(t.path("f.bin")).unwrap() == want);
}

/// Two resumes of one file at once: the short one finishes while the long
/// one is still writing. They are serialized, so the file is the work of
/// whichever committed last, whole — never a mix, never a hole of zeros.
#[tokio::test]
async fn concurrent_resumes_never_tear_a_file() {
    concurrent_resumes("r.bin", "r.bin").await;
}

/// The same through a link to the file's folder: one file, one lock,
/// whichever path names it.
#[tokio::test]
async fn concurrent_resumes_through_a_linked_folder_never_tear_a_file() {
    concurrent_resumes("real/r.bin", "alias/r.bin").await;
}

async fn concurrent_resumes(first: &str, second: &str) {
    let linked = first != second;
    let t = start(AccessMode::Writable).await;
    let base = vec![b'A'; 1000];
    t.write(first, &base);
    if linked {
        std::os::unix::fs::symlink("real", t.path("alias")).unwrap();
        // A link to the file itself has a lock of its own: refused.
        std::os::unix::fs::symlink("real/r.bin", t.path("link.bin")).unwrap();
        let mut c = t.login().await;
        c.ok("REST 1000", 350).await;
        assert_eq!(try_stor(&mut c, "STOR link.bin", b"x").await, 550);
    }
    let (long, short) = (vec![b'L'; 400_000], vec![b'S'; 300]);

    let mut a = t.login().await;
    let mut ad = a.epsv().await;
    a.ok("REST 1000", 350).await;
    a.ok(&format!("STOR {first}"), 150).await;
    // More than one write batch (256 KiB): some of it reaches the file.
    ad.write_all(&long[..300_000]).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;

    let mut b = t.login().await;
    let second = second.to_string();
    let second = tokio::spawn(async move {
        b.ok("REST 1000", 350).await;
        let cmd = format!("STOR {second}");
        assert_eq!(try_stor(&mut b, &cmd, &short).await, 226);
    });
    tokio::time::sleep(Duration::from_millis(500)).await;
    ad.write_all(&long[300_000..]).await.unwrap();
    ad.shutdown().await.unwrap();
    drop(ad);
    assert_eq!(a.reply().await.code, 226);
    second.await.unwrap();

    let got = std::fs::read(t.path(first)).unwrap();
    let a_last = [&base[..], &long[..]].concat();
    let b_last = [&base[..], &vec![b'S'; 300][..]].concat();
    assert!(
        got == a_last || got == b_last,
        "torn: {} bytes, {} zero bytes",
        got.len(),
        got.iter().filter(|&&b| b == 0).count()
    );
    if linked {
        // One name under two paths is locked once, not twice by itself.
        let mut c = t.login().await;
        c.ok("RNFR alias/r.bin", 350).await;
        c.ok("RNTO real/r.bin", 250).await;
    }
}

/// A connection from another loopback address: a different client as far
/// as the per-address limit is concerned.
async fn raw_from(local: IpAddr, addr: SocketAddr) -> Raw {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    Raw::over(socket.connect(addr).await.unwrap()).await
}

fn threads_of(pid: u32) -> usize {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap()
}

/// 512 sessions (the per-address limit) start a listing of a 6,000-entry
/// folder and never read it. No pool thread waits for them: the server's
/// thread count stays small, and another client's SIZE, MDTM and RETR are
/// answered at once. (Each listing used to park a blocking-pool thread,
/// and at tokio's limit of 512 every file-system command stopped.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_read_stall_no_one() {
    let dir = tempfile::tempdir().unwrap();
    let big = dir.path().join("big");
    std::fs::create_dir(&big).unwrap();
    for i in 0..6000 {
        std::fs::write(big.join(format!("entry-with-a-long-name-{i:05}.txt")), b"").unwrap();
    }
    std::fs::write(dir.path().join("f.txt"), b"hello").unwrap();
    let server = Spawned::new({
        let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_ftpshare"));
        cmd.arg(dir.path())
            .args(["--bind", "127.0.0.1", "--port", "0", "--json", "--no-qr"])
            .args(["--user", USER, "--password", PASS]);
        cmd
    });
    let ready = server.lines.recv_timeout(Duration::from_secs(20)).unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], ready["port"].as_u64().unwrap() as u16).into();
    let pid = server.child.id();

    let mut stalled = Vec::new();
    for _ in 0..512 {
        let mut c = Raw::connect(addr).await;
        c.ok(&format!("USER {USER}"), 331).await;
        c.ok(&format!("PASS {PASS}"), 230).await;
        let r = c.ok("EPSV", 229).await;
        let port: u16 = r.text.split('|').nth(3).unwrap().parse().unwrap();
        // A slow link's small window: the listing does not fit in flight.
        let data = TcpSocket::new_v4().unwrap();
        data.set_recv_buffer_size(4096).unwrap();
        socket2::SockRef::from(&data).set_tcp_mss(1400).unwrap();
        let d = data
            .connect(SocketAddr::new(addr.ip(), port))
            .await
            .unwrap();
        c.ok("LIST big", 150).await;
        stalled.push((c, d));
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let threads = threads_of(pid);
    assert!(threads < 100, "{threads} threads for 512 stalled listings");

    let mut probe = raw_from([127, 0, 0, 2].into(), addr).await;
    probe.ok(&format!("USER {USER}"), 331).await;
    probe.ok(&format!("PASS {PASS}"), 230).await;
    probe.ok("TYPE I", 200).await;
    let started = Instant::now();
    probe.ok("SIZE f.txt", 213).await;
    probe.ok("MDTM f.txt", 213).await;
    // The data connection from the probe's own address, as its client's
    // would be (the server checks that it is).
    let r = probe.ok("EPSV", 229).await;
    let port: u16 = r.text.split('|').nth(3).unwrap().parse().unwrap();
    let data = TcpSocket::new_v4().unwrap();
    data.bind(SocketAddr::new([127, 0, 0, 2].into(), 0))
        .unwrap();
    let data = data
        .connect(SocketAddr::new(addr.ip(), port))
        .await
        .unwrap();
    probe.ok("RETR f.txt", 150).await;
    assert_eq!(read_all(data).await, b"hello");
    assert_eq!(probe.reply().await.code, 226);
    let took = started.elapsed();
    assert!(took < Duration::from_secs(2), "answered after {took:?}");
    drop(stalled);
}

/// Waits for every temporary upload file under the share to go, and
/// fails if one is still there after 3 s.
async fn no_temp_file_within_3s(t: &TestServer) {
    let since = Instant::now();
    while !temp_files(t.root()).is_empty() {
        assert!(
            since.elapsed() < Duration::from_secs(3),
            "{:?}",
            temp_files(t.root())
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// When the control connection is gone, the upload is over: its
/// temporary file goes at once, though the data connection stays open
/// (it used to stay until the data connection's stall timeout).
#[tokio::test]
async fn a_client_that_hangs_up_mid_upload_leaves_no_temporary_file() {
    let t = start(AccessMode::Writable).await;
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("STOR big.bin", 150).await;
    d.write_all(&pseudo_random(300_000, 8)).await.unwrap();
    assert_eq!(temp_files(t.root()).len(), 1);
    drop(c);
    no_temp_file_within_3s(&t).await;
    assert!(!t.path("big.bin").exists());
    drop(d);
}

/// A server that waits for a data connection no client will make: the
/// data timeout is long, so that a test waiting it out fails.
async fn slow_to_give_up() -> TestServer {
    start_with(|b| {
        let mut limits = test_limits();
        limits.data_timeout = Duration::from_secs(120);
        b.access(AccessMode::Writable).limits(limits)
    })
    .await
}

/// An ABOR sent before the data connection came ends the wait for it
/// (it used to last the data timeout): the transfer command gets 426,
/// the ABOR 226, the passive port closes, and an upload so stopped
/// leaves nothing on disk.
#[tokio::test]
async fn abor_before_the_data_connection_came_ends_the_wait() {
    let t = slow_to_give_up().await;
    t.write("old.bin", b"kept as it was");
    let mut c = t.login().await;
    for (cmd, abor) in [
        ("RETR old.bin", "ABOR"),
        ("STOR old.bin", "ABOR"),
        ("APPE old.bin", "NOOP\r\nABOR"),
        ("LIST", "ABOR"),
    ] {
        let port = c.epsv_address().await;
        c.send_raw(format!("{cmd}\r\n{abor}\r\n").as_bytes()).await;
        let r = c.reply().await;
        assert_eq!(r.code, 426, "{cmd}: {r:?}");
        for line in abor.split("\r\n") {
            let r = c.reply().await;
            assert!(r.code < 300, "{cmd}, then {line}: {r:?}");
        }
        assert!(
            tokio::net::TcpStream::connect(port).await.is_err(),
            "{cmd}: the passive port still takes connections"
        );
    }
    assert_eq!(std::fs::read(t.path("old.bin")).unwrap(), b"kept as it was");
    assert_eq!(temp_files(t.root()), Vec::<String>::new());
    c.ok("NOOP", 200).await;
}

/// A client that hangs up after STOR, before its data connection came,
/// is gone: its temporary file goes at once, not after the data timeout.
#[tokio::test]
async fn a_client_that_hangs_up_before_its_upload_connects_leaves_nothing() {
    let t = slow_to_give_up().await;
    let mut c = t.login().await;
    let port = c.epsv_address().await;
    c.send_raw(b"STOR never.bin\r\n").await;
    wait_for("the upload's temporary file", || {
        temp_files(t.root()).len() == 1
    })
    .await;
    drop(c);
    no_temp_file_within_3s(&t).await;
    assert!(tokio::net::TcpStream::connect(port).await.is_err());
    assert!(!t.path("never.bin").exists());
}

/// A client that sends an upload and then closes its side while a
/// download runs gets the download, and the upload ends there and then:
/// no 150, nothing on disk, no wait for the data timeout.
#[tokio::test]
async fn an_upload_queued_before_the_client_closed_never_starts() {
    use tokio::io::AsyncReadExt;
    let t = slow_to_give_up().await;
    let data = pseudo_random(2 << 20, 41);
    t.write("big.bin", &data);
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("RETR big.bin", 150).await;
    c.send_raw(b"EPSV\r\nSTOR up.bin\r\n").await;
    c.writer.shutdown().await.unwrap();
    let mut got = Vec::new();
    d.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
    assert_eq!(c.reply().await.code, 226);
    assert_eq!(c.reply().await.code, 229);
    let since = Instant::now();
    assert!(c.closed().await, "the session did not end");
    assert!(
        since.elapsed() < Duration::from_secs(5),
        "{:?}",
        since.elapsed()
    );
    assert!(!t.path("up.bin").exists());
    assert_eq!(temp_files(t.root()), Vec::<String>::new());
}

/// Nothing temporary outlives the server: an upload still running when it
/// shuts down is stopped and its temporary file removed before
/// `shutdown` returns.
#[tokio::test]
async fn no_temporary_file_outlives_the_server() {
    let t = start_with(|b| {
        let mut limits = test_limits();
        limits.shutdown_grace = Duration::from_millis(200);
        b.access(AccessMode::Writable).limits(limits)
    })
    .await;
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("STOR big.bin", 150).await;
    d.write_all(&pseudo_random(300_000, 9)).await.unwrap();
    assert_eq!(temp_files(t.root()).len(), 1);
    t.server.shutdown().await;
    assert_eq!(temp_files(t.root()), Vec::<String>::new());
    assert!(!t.path("big.bin").exists());
    drop((c, d));
}

/// A download stopped mid-way is reported with exactly the bytes the
/// client got, in TYPE I (sendfile) and TYPE A (written from user space),
/// whether ABOR comes while a fast reader takes the data or while the
/// reader pauses and the server's writes fill the socket. (A sendfile job
/// on the pool used to run on for up to 4 MiB after the stop, uncounted;
/// a TYPE A step counted nothing of a buffer it had partly written.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_download_counts_every_byte_it_sent() {
    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;
    use tokio::io::AsyncReadExt;

    let t = start(AccessMode::ReadOnly).await;
    let f = std::fs::File::create(t.path("big.bin")).unwrap();
    // Sparse, and large enough that no download of it ends before ABOR.
    f.set_len(1 << 36).unwrap();
    let rounds = [("I", false), ("A", false), ("I", true), ("A", true)];
    for (round, (ty, pause)) in rounds.repeat(3).into_iter().enumerate() {
        let mut events = t.server.subscribe();
        let mut c = t.login().await;
        c.ok(&format!("TYPE {ty}"), 200).await;
        let mut d = c.epsv().await;
        c.ok("RETR big.bin", 150).await;
        let got = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&got);
        let (resume, resumed) = tokio::sync::oneshot::channel::<()>();
        let reader = tokio::spawn(async move {
            let mut buf = vec![0u8; 1 << 16];
            let mut resumed = Some(resumed).filter(|_| pause);
            loop {
                if counted.load(Ordering::Relaxed) >= 8 << 20 {
                    if let Some(resumed) = resumed.take() {
                        let _ = resumed.await;
                    }
                }
                match d.read(&mut buf).await {
                    Ok(0) | Err(_) => break,
                    Ok(n) => counted.fetch_add(n as u64, Ordering::Relaxed),
                };
            }
        });
        let since = Instant::now();
        while got.load(Ordering::Relaxed) < 8 << 20 {
            assert!(
                since.elapsed() < Duration::from_secs(20),
                "the download stalled"
            );
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        if pause {
            // The server's writes fill the socket and wait part-way.
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        c.send_raw(b"ABOR\r\n").await;
        assert_eq!(c.reply().await.code, 426);
        let _ = resume.send(());
        assert_eq!(c.reply().await.code, 226);
        tokio::time::timeout(Duration::from_secs(10), reader)
            .await
            .expect("the data connection stays open after the stop")
            .unwrap();
        let bytes = loop {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(ftpshare::Event::TransferFinished { bytes, error, .. })) => {
                    assert!(error.is_some(), "round {round}: reported complete");
                    break bytes;
                }
                Ok(Ok(_)) => {}
                other => panic!("no transfer event: {other:?}"),
            }
        };
        let got = got.load(Ordering::Relaxed);
        assert_eq!(bytes, got, "round {round}: TYPE {ty}, pause {pause}");
    }
}

/// Another session renames the folder an upload is going into while the
/// body comes: the upload cannot land where the client asked, so it fails
/// and leaves no trace, rather than answering 226 for a path that does not
/// exist (the file would have been under the folder's new name). For STOR,
/// APPE, a drop box's upload and a resume at the file's end (written in
/// place, so cut back to what it was) alike.
#[tokio::test]
async fn an_upload_whose_folder_was_moved_fails_without_trace() {
    let before = pseudo_random(1000, 12);
    for (mode, rest, cmd) in [
        (AccessMode::Writable, None, "STOR d/f.bin"),
        (AccessMode::Writable, None, "APPE d/f.bin"),
        (AccessMode::UploadOnly, None, "STOR d/f.bin"),
        (AccessMode::Writable, Some("REST 1000"), "STOR d/f.bin"),
    ] {
        let t = start(mode).await;
        std::fs::create_dir(t.path("d")).unwrap();
        if rest.is_some() {
            std::fs::write(t.path("d/f.bin"), &before).unwrap();
        }
        let mut c = t.login().await;
        let mut d = c.epsv().await;
        if let Some(rest) = rest {
            c.ok(rest, 350).await;
        }
        c.ok(cmd, 150).await;
        d.write_all(&pseudo_random(300_000, 11)).await.unwrap();
        // The operator (or a session with rename rights) moves the folder.
        std::fs::rename(t.path("d"), t.path("e")).unwrap();
        d.shutdown().await.unwrap();
        drop(d);
        let r = c.reply().await;
        assert_eq!(r.code, 550, "{cmd} in {mode:?}: {r:?}");
        let left: Vec<_> = std::fs::read_dir(t.path("e"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        match rest {
            None => assert!(left.is_empty(), "{cmd} in {mode:?}: {left:?}"),
            Some(_) => {
                assert_eq!(left, ["f.bin"]);
                assert!(std::fs::read(t.path("e/f.bin")).unwrap() == before);
            }
        }
        assert!(!t.path("d").exists());
    }
}
