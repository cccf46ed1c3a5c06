//! Listings of a huge directory cost the server bounded memory: the
//! binary lists 200,000 entries over LIST, NLST, MLSD and STAT while its
//! resident memory is read from /proc.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use common::*;
use tokio::io::{AsyncBufReadExt, BufReader as AsyncBufReader};

const ENTRIES: usize = 200_000;
const LIMIT_MIB: f64 = 16.0;

fn name(i: usize) -> String {
    format!("file-with-a-longish-name-{i:07}.dat")
}

/// A `kB` field of /proc/PID/status, in MiB.
fn status_mib(pid: u32, key: &str) -> f64 {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with(&format!("{key}:")))
        .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"));
    let kb: f64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|n| n.parse().ok())
        .unwrap();
    kb / 1024.0
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Reads a listing line by line (never whole), checking that line `i`
/// names entry `i`: every entry, in sorted order.
async fn check_listing(raw: &mut Raw, verb: &str) {
    let data = raw.epsv().await;
    raw.ok(verb, 150).await;
    let mut lines = AsyncBufReader::new(data).lines();
    let mut i = 0;
    while let Some(line) = lines.next_line().await.unwrap() {
        let want = name(i);
        assert!(line.ends_with(&want), "{verb} line {i}: {line:?}");
        i += 1;
    }
    assert_eq!(i, ENTRIES, "{verb}");
    assert_eq!(raw.reply().await.code, 226, "{verb}");
}

/// The entries, created in reverse so directory order is not already
/// sorted order. They are hard links to a few empty files: a link adds a
/// directory entry but no inode, which on a busy disk made this take
/// about 3 s instead of 5 to 100 s. A new file is started whenever the
/// file system's link limit is reached (65,000 on ext4); the files
/// themselves are removed, so only the entries are listed.
fn fill(dir: &std::path::Path) {
    let new_source = |n: usize| {
        let source = dir.join(format!(".source-{n}"));
        std::fs::File::create(&source).unwrap();
        source
    };
    let mut sources = vec![new_source(0)];
    for i in (0..ENTRIES).rev() {
        let entry = dir.join(name(i));
        while let Err(e) = std::fs::hard_link(&sources[sources.len() - 1], &entry) {
            assert_eq!(e.raw_os_error(), Some(libc::EMLINK), "link {entry:?}: {e}");
            sources.push(new_source(sources.len()));
        }
    }
    for source in sources {
        std::fs::remove_file(source).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listing_200000_entries_grows_the_server_by_less_than_16_mib() {
    let dir = tempfile::tempdir().unwrap();
    fill(dir.path());
    let child = Command::new(env!("CARGO_BIN_EXE_ftpshare"))
        .args(["--json", "--bind", "127.0.0.1", "--port", "0", "--no-qr"])
        .args(["--timeout", "0", "--user", USER, "--password", PASS])
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("start ftpshare");
    let mut child = Killed(child);
    let pid = child.0.id();
    let mut ready = String::new();
    BufReader::new(child.0.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let port = ready["port"].as_u64().unwrap() as u16;

    let mut raw = Raw::connect(([127, 0, 0, 1], port).into()).await;
    raw.ok(&format!("USER {USER}"), 331).await;
    raw.ok(&format!("PASS {PASS}"), 230).await;
    let before = status_mib(pid, "VmRSS");
    for verb in ["LIST", "NLST", "MLSD"] {
        check_listing(&mut raw, verb).await;
    }
    let stat = raw.ok("STAT .", 212).await;
    assert_eq!(stat.text.lines().count(), ENTRIES + 2);
    assert!(stat
        .text
        .lines()
        .nth(ENTRIES)
        .unwrap()
        .ends_with(&name(ENTRIES - 1)));
    let peak = status_mib(pid, "VmHWM");
    let growth = peak - before;
    println!("RSS before {before:.1} MiB, peak {peak:.1} MiB, growth {growth:.1} MiB");
    assert!(
        growth < LIMIT_MIB,
        "listing {ENTRIES} entries grew the server by {growth:.1} MiB"
    );
}
