//! Load: many concurrent clients, each logging in, uploading and
//! downloading its own file, checked by sha256. Ignored by default:
//!
//! ```sh
//! cargo test --release --test load -- --ignored --nocapture
//! FTPSHARE_LOAD_CLIENTS=2000 cargo test --release --test load -- --ignored --nocapture
//! ```

mod common;

use std::sync::Arc;
use std::time::{Duration, Instant};

use std::net::SocketAddr;

use common::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::sync::Barrier;

/// A `kB` field of a process's /proc status (VmRSS, VmHWM).
fn status_kb(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}

fn raise_fd_limit(want: u64) -> u64 {
    // SAFETY: getrlimit/setrlimit only read and write the struct given.
    unsafe {
        let mut lim = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur = want.min(lim.rlim_max);
        libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim);
        lim.rlim_cur
    }
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "load test: run with --ignored (see the file's doc)"]
async fn a_thousand_concurrent_clients_upload_and_download() {
    let clients: usize = std::env::var("FTPSHARE_LOAD_CLIENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let nofile = raise_fd_limit(65536);
    // Per client: a control and two data connections, and a passive
    // listener; the server (which inherits the limit) has as many.
    assert!(
        nofile as usize > clients * 5,
        "RLIMIT_NOFILE {nofile} too low for {clients} clients"
    );
    // The server runs as the real binary in its own process, so its
    // memory can be read apart from the clients'.
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let max = (clients + 16).to_string();
    let mut server = tokio::process::Command::new(env!("CARGO_BIN_EXE_ftpshare"))
        .arg(dir.path())
        .args([
            "--write",
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--no-qr",
            "--json",
        ])
        .args(["--user", USER, "--password", PASS, "--timeout", "0"])
        .args(["--max-connections", &max, "--max-connections-per-ip", &max])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let pid = server.id().unwrap();
    let mut events = BufReader::new(server.stdout.take().unwrap()).lines();
    let ready = events.next_line().await.unwrap().expect("no ready event");
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let addr: SocketAddr = ([127, 0, 0, 1], ready["port"].as_u64().unwrap() as u16).into();
    // Keep reading events so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = events.next_line().await {} });
    let rss_before = status_kb(pid, "VmRSS:");
    let barrier = Arc::new(Barrier::new(clients));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..clients {
        let dir = Arc::clone(&dir);
        let barrier = Arc::clone(&barrier);
        tasks.spawn(async move {
            let data = pseudo_random(16_384 + i * 37, i as u64 + 1000);
            let name = format!("client-{i}.bin");
            let mut c = Raw::connect(addr).await;
            c.ok(&format!("USER {USER}"), 331).await;
            c.ok(&format!("PASS {PASS}"), 230).await;
            c.ok("TYPE I", 200).await;
            // Everyone is logged in at the same moment.
            let all_in = tokio::time::timeout(Duration::from_secs(120), barrier.wait())
                .await
                .expect("not all clients logged in");
            let leader = all_in.is_leader();
            let mut d = c.epsv().await;
            c.ok(&format!("STOR {name}"), 150).await;
            d.write_all(&data).await.unwrap();
            d.shutdown().await.unwrap();
            drop(d);
            assert_eq!(c.reply().await.code, 226);
            let d = c.epsv().await;
            c.ok(&format!("RETR {name}"), 150).await;
            let got = read_all(d).await;
            assert_eq!(c.reply().await.code, 226);
            assert_eq!(sha256(&got), sha256(&data), "{name} came back different");
            let on_disk = std::fs::read(dir.path().join(&name)).unwrap();
            assert_eq!(sha256(&on_disk), sha256(&data), "{name} stored wrongly");
            c.ok("QUIT", 221).await;
            leader
        });
    }
    let mut failures = 0;
    let mut leaders = 0;
    while let Some(r) = tasks.join_next().await {
        match r {
            Ok(leader) => leaders += usize::from(leader),
            Err(e) => {
                failures += 1;
                eprintln!("client failed: {e}");
            }
        }
    }
    let elapsed = started.elapsed();
    let rss_after = status_kb(pid, "VmRSS:");
    let peak = status_kb(pid, "VmHWM:");
    eprintln!(
        "load: {clients} clients, all logged in at once, {failures} failures, {elapsed:.2?}; \
         server VmRSS {rss_before} kB before, {rss_after} kB after, peak {peak} kB"
    );
    assert_eq!(failures, 0);
    assert_eq!(leaders, 1, "the barrier did not release everyone together");
    server.start_kill().unwrap();
    server.wait().await.unwrap();
}
