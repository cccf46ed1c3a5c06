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
