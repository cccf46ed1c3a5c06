//! A first end-to-end check with suppaftp: login, list, download, upload.

mod common;

use common::*;
use ftpshare::AccessMode;
use suppaftp::tokio::AsyncFtpStream;
use tokio::io::AsyncReadExt;

#[tokio::test]
async fn suppaftp_round_trip() {
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(300_000, 1);
    t.write("hello.bin", &data);
    let mut ftp = AsyncFtpStream::connect(t.addr).await.unwrap();
    ftp.login(USER, PASS).await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Binary)
        .await
        .unwrap();
    let names = ftp.nlst(None).await.unwrap();
    assert_eq!(names, vec!["hello.bin".to_string()]);
    let mut download = ftp.retr_as_stream("hello.bin").await.unwrap();
    let mut got = Vec::new();
    download.read_to_end(&mut got).await.unwrap();
    download.finish().await.unwrap();
    assert_eq!(sha256(&got), sha256(&data));
    let mut src = std::io::Cursor::new(data.clone());
    ftp.put_file("copy.bin", &mut src).await.unwrap();
    assert_eq!(
        sha256(&std::fs::read(t.path("copy.bin")).unwrap()),
        sha256(&data)
    );
    ftp.quit().await.unwrap();
}

/// Session threads in this process (the only test here that starts any).
fn session_threads() -> usize {
    std::fs::read_dir("/proc/self/task")
        .unwrap()
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .filter(|name| name.starts_with("ftpshare-") && !name.starts_with("ftpshare-fs"))
        .count()
}

/// With threads of its own, the server serves each session on one of them,
/// and the threads end with the server, whether it is shut down or dropped.
#[tokio::test]
async fn session_threads_serve_and_end_with_the_server() {
    for drop_it in [false, true] {
        let t = start_with(|b| b.access(AccessMode::Writable).session_threads(2)).await;
        // A thread takes its name once it runs.
        wait_for("the session threads to start", || session_threads() == 2).await;
        let data = pseudo_random(100_000, 2);
        let mut clients = Vec::new();
        for i in 0..4 {
            let mut ftp = AsyncFtpStream::connect(t.addr).await.unwrap();
            ftp.login(USER, PASS).await.unwrap();
            ftp.transfer_type(suppaftp::types::FileType::Binary)
                .await
                .unwrap();
            let mut src = std::io::Cursor::new(data.clone());
            ftp.put_file(format!("f{i}.bin"), &mut src).await.unwrap();
            clients.push(ftp);
        }
        for i in 0..4 {
            assert_eq!(
                sha256(&std::fs::read(t.path(&format!("f{i}.bin"))).unwrap()),
                sha256(&data)
            );
        }
        let TestServer { server, dir, .. } = t;
        if drop_it {
            drop(server);
        } else {
            server.shutdown().await;
        }
        // Dropped, the server says goodbye to its sessions; they end, and
        // then their threads.
        wait_for("the session threads to end", || session_threads() == 0).await;
        drop((clients, dir));
    }
}
