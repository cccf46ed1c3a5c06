//! The `ftpshare` binary as scripts and people use it: started as a
//! subprocess on 127.0.0.1, read through its output (`--json` events, the
//! banner, stderr and exit status), and exercised with curl and Python's
//! ftplib.

mod common;

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use common::{need, pseudo_random, run, sha256, Spawned};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ftpshare");

/// Generous: the machine may be busy compiling.
const WAIT: Duration = Duration::from_secs(60);

/// A running `ftpshare` with the stdout lines read so far.
struct Share {
    process: Spawned,
    seen: Vec<String>,
}

impl Share {
    fn start(args: &[&str]) -> Share {
        Share::start_env(args, &[])
    }

    fn start_env(args: &[&str], env: &[(&str, &str)]) -> Share {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_remove("FTPSHARE_PASSWORD");
        for (k, v) in env {
            cmd.env(k, v);
        }
        Share::spawn(cmd)
    }

    fn spawn(cmd: Command) -> Share {
        Share {
            process: Spawned::new(cmd),
            seen: Vec::new(),
        }
    }

    /// `--json` on 127.0.0.1 with the given extra arguments; returns the
    /// server and its `ready` event.
    fn json(extra: &[&str]) -> (Share, Value) {
        let mut args = vec!["--json", "--bind", "127.0.0.1"];
        args.extend_from_slice(extra);
        let mut share = Share::start(&args);
        let ready = share.event("ready");
        (share, ready)
    }

    fn line(&mut self) -> Option<String> {
        let line = self.process.lines.recv_timeout(WAIT).ok()?;
        self.seen.push(line.clone());
        Some(line)
    }

    /// The next JSON event, which must be valid JSON (stdout is JSON only).
    fn next_event(&mut self) -> Option<Value> {
        let line = self.line()?;
        let v: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("not a JSON line: {line:?}: {e}"));
        assert!(v["event"].is_string(), "no event field: {line}");
        Some(v)
    }

    /// Skips events until one named `name`.
    fn event(&mut self, name: &str) -> Value {
        loop {
            match self.next_event() {
                Some(v) if v["event"] == name => return v,
                Some(_) => {}
                None => panic!("no {name:?} event; saw {:#?}", self.seen),
            }
        }
    }

    fn signal(&self, sig: libc::c_int) {
        let pid = self.process.child.id() as libc::pid_t;
        assert_eq!(unsafe { libc::kill(pid, sig) }, 0);
    }

    /// Waits for the exit; returns the status, the rest of stdout and stderr.
    fn wait(mut self) -> (ExitStatus, Vec<String>, String) {
        let start = Instant::now();
        let status = loop {
            if let Some(status) = self.process.child.try_wait().unwrap() {
                break status;
            }
            if start.elapsed() > WAIT {
                let _ = self.process.child.kill();
                panic!("ftpshare did not exit; stdout so far {:#?}", self.seen);
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        let mut rest = Vec::new();
        while let Ok(line) = self.process.lines.recv_timeout(Duration::from_secs(5)) {
            rest.push(line);
        }
        let stderr = String::from_utf8_lossy(&self.process.stderr()).into_owned();
        (status, rest, stderr)
    }

    /// Waits for the exit and returns the final `exit` event, checking that
    /// it is the last line and the status is 0.
    fn exit_event(self) -> Value {
        let (status, rest, stderr) = self.wait();
        assert_eq!(status.code(), Some(0), "stderr: {stderr}");
        let last = rest.last().unwrap_or_else(|| panic!("no exit line"));
        let v: Value = serde_json::from_str(last).unwrap();
        assert_eq!(v["event"], "exit", "{rest:#?}");
        for line in &rest {
            serde_json::from_str::<Value>(line).expect("JSON lines only");
        }
        v
    }
}

fn port(ready: &Value) -> u16 {
    ready["port"].as_u64().unwrap() as u16
}

fn url(ready: &Value, rel: &str) -> String {
    format!("{}{rel}", ready["url"].as_str().unwrap())
}

fn curl(args: &[&str]) -> std::process::Output {
    let mut all = vec!["-sS", "--max-time", "60"];
    all.extend_from_slice(args);
    run("curl", &all)
}

/// Python's ftplib: a script with `port`, `user` and `password` defined.
fn ftplib(ready: &Value, user: &str, password: &str, body: &str) -> String {
    let script = format!(
        "import ftplib, io, sys\nport, user, password = {}, {:?}, {:?}\n\
         f = ftplib.FTP()\nf.connect('127.0.0.1', port, timeout=30)\nf.login(user, password)\n{body}\n",
        port(ready),
        user,
        password
    );
    let out = run("python3", &["-c", &script]);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn tempdir() -> tempfile::TempDir {
    tempfile::tempdir().unwrap()
}

fn dir_arg(d: &Path) -> &str {
    d.to_str().unwrap()
}

fn files_in(d: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(d)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

/// Polls until `done` (or fails the test after a long wait).
fn wait_for(mut done: impl FnMut() -> bool) {
    let start = Instant::now();
    while !done() {
        assert!(start.elapsed() < WAIT, "gave up waiting");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn is_url_safe(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"-._~".contains(&b))
}

// ---------------------------------------------------------------- ready line

#[test]
fn ready_line_carries_every_contract_field() {
    let dir = tempdir();
    let (share, ready) = Share::json(&[dir_arg(dir.path())]);
    let password = ready["password"].as_str().unwrap().to_string();
    let port = port(&ready);
    assert_ne!(port, 0);
    assert_eq!(
        ready["url"],
        format!("ftp://share:{password}@127.0.0.1:{port}/")
    );
    assert_eq!(ready["host"], "127.0.0.1");
    assert_eq!(ready["user"], "share");
    let root = std::fs::canonicalize(dir.path()).unwrap();
    assert_eq!(ready["root"], root.to_str().unwrap());
    assert_eq!(ready["writable"], false);
    assert_eq!(ready["tls"], false);
    assert!(ready["tls_fingerprint"].is_null());
    assert_eq!(ready["expires_in_s"], 3600);
    assert_eq!(ready["pid"], share.process.child.id());

    // The contract's fields come first and in its order.
    let keys: Vec<&str> = ready
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let contract = [
        "event",
        "url",
        "host",
        "port",
        "user",
        "password",
        "root",
        "writable",
        "tls",
        "tls_fingerprint",
        "expires_in_s",
        "pid",
    ];
    assert_eq!(keys[..contract.len()], contract);

    // Ready means ready: the greeting comes at once.
    let mut s = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(WAIT)).unwrap();
    let mut greeting = [0u8; 4];
    s.read_exact(&mut greeting).unwrap();
    assert_eq!(&greeting, b"220 ");
    drop(s);

    // And the URL works as printed.
    std::fs::write(dir.path().join("hello.txt"), b"hi there\n").unwrap();
    let out = curl(&[&url(&ready, "hello.txt")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(out.stdout, b"hi there\n");
}

#[test]
fn each_run_gets_its_own_password_and_port() {
    let dir = tempdir();
    let (a, ready_a) = Share::json(&[dir_arg(dir.path())]);
    let (b, ready_b) = Share::json(&[dir_arg(dir.path())]);
    assert_ne!(ready_a["password"], ready_b["password"]);
    assert_ne!(ready_a["port"], ready_b["port"]);
    for ready in [&ready_a, &ready_b] {
        let p = ready["password"].as_str().unwrap();
        // At least 96 bits even from a 57-letter alphabet: 17 letters.
        assert!(p.len() >= 17, "{p:?} is short");
        assert!(is_url_safe(p), "{p:?} is not URL-safe");
        // The URL carries it as is, without escapes.
        assert!(ready["url"].as_str().unwrap().contains(p));
    }
    drop((a, b));
}

#[test]
fn timeout_zero_means_never() {
    let dir = tempdir();
    let (share, ready) = Share::json(&["-t", "0", dir_arg(dir.path())]);
    assert!(ready["expires_in_s"].is_null());
    share.signal(libc::SIGTERM);
    assert_eq!(share.exit_event()["reason"], "signal");
}

#[test]
fn public_host_goes_into_the_url() {
    let dir = tempdir();
    let (share, ready) = Share::json(&["--public-host", "10.1.2.3", dir_arg(dir.path())]);
    assert_eq!(ready["host"], "10.1.2.3");
    assert!(ready["url"]
        .as_str()
        .unwrap()
        .ends_with(&format!("@10.1.2.3:{}/", port(&ready))));
    drop(share);
    // An empty one is a bad argument, not a host that cannot be found.
    let line = refused_argument(&["--public-host", ""]);
    assert!(line.contains("--public-host"), "{line}");
}

// ------------------------------------------------------------- stopping

#[test]
fn timeout_exits_0_with_reason_timeout() {
    let dir = tempdir();
    let started = Instant::now();
    let (share, ready) = Share::json(&["--timeout", "2s", dir_arg(dir.path())]);
    assert_eq!(ready["expires_in_s"], 2);
    let exit = share.exit_event();
    assert_eq!(exit["reason"], "timeout");
    assert!(started.elapsed() >= Duration::from_millis(1900));
}

fn stops_on(sig: libc::c_int) {
    let dir = tempdir();
    let (share, _) = Share::json(&[dir_arg(dir.path())]);
    share.signal(sig);
    let exit = share.exit_event();
    assert_eq!(exit["reason"], "signal");
    // Read-only: no upload counts.
    assert!(exit.get("uploads_stopped").is_none(), "{exit}");
}

/// Uploads allowed with no limit at all: the counts are still there.
#[test]
fn the_exit_line_counts_stopped_uploads_whenever_uploads_are_allowed() {
    let dir = tempdir();
    let (share, _) = Share::json(&["-w", "--min-free", "0", dir_arg(dir.path())]);
    share.signal(libc::SIGTERM);
    let exit = share.exit_event();
    let zero = serde_json::json!({"max_upload_size": 0, "quota": 0, "min_free": 0});
    assert_eq!(exit["uploads_stopped"], zero, "{exit}");
}

#[test]
fn sigint_exits_0_with_reason_signal() {
    stops_on(libc::SIGINT);
}

#[test]
fn sigterm_exits_0_with_reason_signal() {
    stops_on(libc::SIGTERM);
}

#[test]
fn connected_clients_hear_421_on_stop() {
    let dir = tempdir();
    let (share, ready) = Share::json(&[dir_arg(dir.path())]);
    let stream = std::net::TcpStream::connect(("127.0.0.1", port(&ready))).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("220"), "{line}");
    share.signal(libc::SIGTERM);
    line.clear();
    reader.read_line(&mut line).unwrap();
    assert!(line.starts_with("421 "), "{line}");
    assert_eq!(share.exit_event()["reason"], "signal");
}

/// The client whose transfer was the last `--once` allows says QUIT at
/// once: it gets 221, not a 421 (which ftplib's `quit()` raises).
#[test]
fn once_answers_the_last_clients_quit() {
    let dir = tempdir();
    std::fs::write(dir.path().join("t.txt"), b"x").unwrap();
    let (share, ready) = Share::json(&["--once", dir_arg(dir.path())]);
    let out = ftplib(
        &ready,
        "share",
        ready["password"].as_str().unwrap(),
        "f.retrbinary('RETR t.txt', io.BytesIO().write)\nprint(f.quit()[:3])",
    );
    assert_eq!(out.trim(), "221");
    assert_eq!(share.exit_event()["transfers"], 1);
}

/// Started under a low soft limit on open files, the server raises it to
/// the hard limit: its 1024 connections need more than the usual 1024.
#[test]
fn the_open_file_limit_is_raised_to_the_hard_limit() {
    let dir = tempdir();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!(
            "ulimit -Sn 256 && exec {BIN} --json --bind 127.0.0.1 --no-qr '{}'",
            dir_arg(dir.path())
        ))
        .env_remove("FTPSHARE_PASSWORD");
    let mut share = Share::spawn(cmd);
    share.event("ready");
    let limits =
        std::fs::read_to_string(format!("/proc/{}/limits", share.process.child.id())).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let numbers: Vec<&str> = line.split_whitespace().skip(3).take(2).collect();
    assert_eq!(numbers[0], numbers[1], "{line}");
    assert_ne!(numbers[0], "256", "{line}");
}

#[test]
fn max_transfers_1_exits_after_one_download() {
    let dir = tempdir();
    let data = pseudo_random(70_000, 1);
    std::fs::write(dir.path().join("f.bin"), &data).unwrap();
    let (mut share, ready) = Share::json(&["--max-transfers", "1", dir_arg(dir.path())]);
    // A listing is not a transfer.
    let out = curl(&["-l", &url(&ready, "")]);
    assert!(out.status.success(), "{out:?}");
    let out = curl(&[&url(&ready, "f.bin")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256(&out.stdout), sha256(&data));
    let download = share.event("download");
    assert_eq!(download["bytes"], 70_000);
    let exit = share.exit_event();
    assert_eq!(exit["reason"], "max-transfers");
    assert_eq!(exit["transfers"], 1);
}

/// A client that asks for the next transfer at once gets `421` for it:
/// the limit is the server's, not the display's, which learns of each
/// transfer some milliseconds late (it once let a fast ftplib loop
/// complete 18 downloads under `--once`). Nothing is stored past it.
#[test]
fn max_transfers_refuses_the_next_transfer_at_once() {
    for (args, n, upload) in [
        (vec!["--once"], 1, false),
        (vec!["--max-transfers", "3"], 3, false),
        (vec!["--once", "-w"], 1, true),
    ] {
        let dir = tempdir();
        std::fs::write(dir.path().join("t.txt"), b"x").unwrap();
        let mut all = args.clone();
        all.push(dir_arg(dir.path()));
        let (share, ready) = Share::json(&all);
        let transfer = if upload {
            "f.storbinary(f'STOR u{done}.txt', io.BytesIO(b'y'))"
        } else {
            "f.retrbinary('RETR t.txt', io.BytesIO().write)"
        };
        let out = ftplib(
            &ready,
            "share",
            ready["password"].as_str().unwrap(),
            &format!(
                "done = 0\ntry:\n    while done < 50:\n        {transfer}\n        done += 1\n\
                 except ftplib.error_temp as e:\n    print(done, str(e)[:3])"
            ),
        );
        assert_eq!(out.trim(), format!("{n} 421"), "{args:?}");
        let exit = share.exit_event();
        assert_eq!(exit["reason"], "max-transfers", "{args:?}");
        assert_eq!(exit["transfers"], n, "{args:?}");
        let mut want = vec!["t.txt".to_string()];
        if upload {
            want.push("u0.txt".into());
        }
        assert_eq!(files_in(dir.path()), want, "{args:?}");
    }
}

/// A burst of tiny downloads while the reader of `--json` is slow (its
/// stdout not read, so the pipe fills and the CLI blocks): the event
/// stream overflows, yet `--max-transfers` still ends the run on the last
/// transfer and the exit line counts every one. The old CLI skipped the
/// lost events, so it never reached the count and ran into its timeout.
#[test]
fn max_transfers_counts_a_burst_the_event_stream_cannot_hold() {
    // 2 events each: far more than the 4096 the channel holds plus the
    // ~1000 that fit in the pipe before the CLI blocks.
    const N: usize = 4000;
    let dir = tempdir();
    std::fs::write(dir.path().join("t.txt"), b"x").unwrap();
    let mut child = Command::new(BIN)
        .args([
            "--json",
            "--bind",
            "127.0.0.1",
            "-t",
            "5m",
            "--max-transfers",
        ])
        .arg(N.to_string())
        .arg(dir.path())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    let ready: Value = serde_json::from_str(&first).unwrap();
    // One control connection, N passive downloads; stdout is left unread
    // meanwhile.
    ftplib(
        &ready,
        "share",
        ready["password"].as_str().unwrap(),
        &format!(
            "for _ in range({N}):\n    b = io.BytesIO()\n    f.retrbinary('RETR t.txt', b.write)\n    assert b.getvalue() == b'x'"
        ),
    );
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(&l.unwrap()).expect("JSON lines only"))
        .collect();
    let status = child.wait().unwrap();
    assert_eq!(status.code(), Some(0));
    let exit = lines.last().unwrap();
    assert_eq!(exit["event"], "exit", "{exit}");
    assert_eq!(exit["reason"], "max-transfers", "{exit}");
    assert_eq!(exit["transfers"], N, "{exit}");
    let downloads = lines.iter().filter(|l| l["event"] == "download").count();
    let missed: u64 = lines
        .iter()
        .filter(|l| l["event"] == "warning")
        .map(|l| l["missed_events"].as_u64().unwrap())
        .sum();
    assert!(
        missed > 0,
        "the burst was expected to overflow the stream ({} downloads)",
        lines.iter().filter(|l| l["event"] == "download").count()
    );
    assert!(downloads < N, "{downloads} download events");
}

#[test]
fn once_is_max_transfers_1() {
    let dir = tempdir();
    let (share, ready) = Share::json(&["--once", "-w", dir_arg(dir.path())]);
    let src = dir.path().join("..").join(format!(
        "{}-src",
        dir.path().file_name().unwrap().to_string_lossy()
    ));
    std::fs::write(&src, b"one upload\n").unwrap();
    let out = curl(&["-T", src.to_str().unwrap(), &url(&ready, "in.txt")]);
    std::fs::remove_file(&src).unwrap();
    assert!(out.status.success(), "{out:?}");
    let exit = share.exit_event();
    assert_eq!(exit["reason"], "max-transfers");
    assert_eq!(
        std::fs::read(dir.path().join("in.txt")).unwrap(),
        b"one upload\n"
    );
}

#[test]
fn first_ctrl_c_lets_a_running_download_finish() {
    if !need("curl") {
        return;
    }
    let dir = tempdir();
    let data = pseudo_random(200_000, 2);
    std::fs::write(dir.path().join("slow.bin"), &data).unwrap();
    // 200 kB at 100 kB/s: about 2 s, well inside the 5 s grace period.
    let (share, ready) = Share::json(&["--max-rate", "100K", dir_arg(dir.path())]);
    let target = url(&ready, "slow.bin");
    let got = tempfile::NamedTempFile::new().unwrap();
    let got_path = got.path().to_str().unwrap().to_string();
    let client = std::thread::spawn(move || curl(&["-o", &got_path, &target]));
    // Ctrl-C once the first bytes have arrived.
    wait_for(|| std::fs::metadata(got.path()).is_ok_and(|m| m.len() > 0));
    share.signal(libc::SIGINT);
    let out = client.join().unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256(&std::fs::read(got.path()).unwrap()), sha256(&data));
    let (status, rest, _) = share.wait();
    assert_eq!(status.code(), Some(0));
    let events: Vec<Value> = rest
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert!(
        events
            .iter()
            .any(|e| e["event"] == "download" && e["bytes"] == 200_000),
        "{rest:#?}"
    );
    let exit = events.last().unwrap();
    assert_eq!(exit["reason"], "signal");
    // A transfer that finishes while stopping still counts.
    assert_eq!(exit["transfers"], 1);
}

/// With -q, the first Ctrl-C still says that transfers are finishing and
/// that a second one stops them.
#[test]
fn quiet_still_explains_the_grace_period() {
    let dir = tempdir();
    std::fs::write(dir.path().join("slow.bin"), pseudo_random(300_000, 3)).unwrap();
    let mut share = Share::start(&[
        "-q",
        "--bind",
        "127.0.0.1",
        "--max-rate",
        "100K",
        dir_arg(dir.path()),
    ]);
    let target = format!("{}slow.bin", share.line().unwrap());
    let got = tempfile::NamedTempFile::new().unwrap();
    let got_path = got.path().to_str().unwrap().to_string();
    let client = std::thread::spawn(move || curl(&["-o", &got_path, &target]));
    wait_for(|| std::fs::metadata(got.path()).is_ok_and(|m| m.len() > 0));
    share.signal(libc::SIGINT);
    assert!(client.join().unwrap().status.success());
    let (status, _, stderr) = share.wait();
    assert_eq!(status.code(), Some(0));
    assert!(
        stderr.contains("letting 1 transfer finish, Ctrl-C again to stop now"),
        "{stderr}"
    );
}

#[test]
fn second_ctrl_c_stops_an_upload_and_leaves_no_partial_file() {
    let dir = tempdir();
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), pseudo_random(2_000_000, 3)).unwrap();
    // 2 MB at 100 kB/s takes 20 s: it is still running when stopped.
    let (share, ready) = Share::json(&["-w", "--max-rate", "100K", dir_arg(dir.path())]);
    let target = url(&ready, "big.bin");
    let src_path = src.path().to_str().unwrap().to_string();
    let client = std::thread::spawn(move || curl(&["-T", &src_path, &target]));
    // Stop once the upload's hidden temporary file has some bytes.
    let dir_path = dir.path().to_path_buf();
    wait_for(|| {
        std::fs::read_dir(&dir_path)
            .unwrap()
            .any(|e| e.unwrap().metadata().unwrap().len() > 0)
    });
    let started = Instant::now();
    share.signal(libc::SIGINT);
    // The first Ctrl-C has been handled once the listener is closed.
    let port = ready["port"].as_u64().unwrap() as u16;
    wait_for(|| std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    share.signal(libc::SIGINT);
    let (status, rest, _) = share.wait();
    assert_eq!(status.code(), Some(0));
    // Well before the transfer could have finished, and before the 5 s
    // grace period the first Ctrl-C gives would have ended.
    assert!(
        started.elapsed() < Duration::from_millis(4500),
        "{:?}",
        started.elapsed()
    );
    let out = client.join().unwrap();
    assert!(!out.status.success(), "the upload cannot have completed");
    assert!(
        rest.iter().any(|l| l.contains("\"upload_failed\"")),
        "{rest:#?}"
    );
    assert!(!rest.iter().any(|l| l.contains("\"upload\"")), "{rest:#?}");
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

// ------------------------------------------------------------- modes

#[test]
fn upload_only_refuses_list_and_retr_and_never_overwrites() {
    let dir = tempdir();
    std::fs::write(dir.path().join("secret.txt"), b"private").unwrap();
    let (mut share, ready) = Share::json(&["--upload-only", dir_arg(dir.path())]);
    let password = ready["password"].as_str().unwrap().to_string();
    let replies = ftplib(
        &ready,
        "share",
        &password,
        "for cmd in ['LIST', 'NLST', 'MLSD', 'RETR secret.txt']:\n\
         \x20   try:\n\
         \x20       f.retrbinary(cmd, lambda b: print('GOT DATA'))\n\
         \x20       print(cmd, 'allowed')\n\
         \x20   except ftplib.error_perm as e:\n\
         \x20       print(cmd, str(e)[:3])\n\
         for cmd in ['MKD box', 'DELE secret.txt', 'RNFR secret.txt', 'SIZE secret.txt']:\n\
         \x20   try:\n\
         \x20       print(cmd, f.sendcmd(cmd)[:3])\n\
         \x20   except ftplib.error_perm as e:\n\
         \x20       print(cmd, str(e)[:3])\n\
         f.quit()",
    );
    assert_eq!(
        replies.lines().collect::<Vec<_>>(),
        [
            "LIST 550",
            "NLST 550",
            "MLSD 550",
            "RETR secret.txt 550",
            "MKD box 257",
            "DELE secret.txt 550",
            "RNFR secret.txt 550",
            "SIZE secret.txt 550"
        ],
        "{replies}"
    );

    // The same name twice: both arrive, nothing is replaced.
    let src = tempfile::NamedTempFile::new().unwrap();
    for (i, body) in [b"first drop\n".as_slice(), b"second drop\n"]
        .iter()
        .enumerate()
    {
        std::fs::write(src.path(), body).unwrap();
        let out = curl(&["-T", src.path().to_str().unwrap(), &url(&ready, "drop.txt")]);
        assert!(out.status.success(), "upload {i}: {out:?}");
        // The event names the file as stored.
        let path = share.event("upload")["path"].as_str().unwrap().to_string();
        let stored = dir.path().join(path.trim_start_matches('/'));
        assert_eq!(std::fs::read(&stored).unwrap(), *body, "{path}");
    }
    assert!(dir.path().join("box").is_dir());
    std::fs::remove_dir(dir.path().join("box")).unwrap();
    let names = files_in(dir.path());
    assert_eq!(names.len(), 3, "{names:?}");
    assert!(names.contains(&"drop.txt".to_string()));
    let mut bodies: Vec<Vec<u8>> = names
        .iter()
        .filter(|n| n.as_str() != "secret.txt")
        .map(|n| std::fs::read(dir.path().join(n)).unwrap())
        .collect();
    bodies.sort();
    assert_eq!(
        bodies,
        [b"first drop\n".to_vec(), b"second drop\n".to_vec()]
    );
    assert_eq!(
        std::fs::read(dir.path().join("secret.txt")).unwrap(),
        b"private"
    );
}

#[test]
fn read_only_by_default() {
    let dir = tempdir();
    let (_share, ready) = Share::json(&[dir_arg(dir.path())]);
    let password = ready["password"].as_str().unwrap().to_string();
    let replies = ftplib(
        &ready,
        "share",
        &password,
        "for cmd in ['STOR x.txt', 'MKD d', 'DELE x.txt']:\n\
         \x20   try:\n\
         \x20       if cmd.startswith('STOR'):\n\
         \x20           f.storbinary(cmd, io.BytesIO(b'x'))\n\
         \x20       else:\n\
         \x20           f.sendcmd(cmd)\n\
         \x20       print(cmd, 'allowed')\n\
         \x20   except ftplib.error_perm as e:\n\
         \x20       print(cmd, str(e)[:3])",
    );
    assert_eq!(
        replies.lines().collect::<Vec<_>>(),
        ["STOR x.txt 550", "MKD d 550", "DELE x.txt 550"],
        "{replies}"
    );
    assert_eq!(files_in(dir.path()), Vec::<String>::new());
}

#[test]
fn anonymous_logins_are_read_only() {
    let dir = tempdir();
    std::fs::write(dir.path().join("pub.txt"), b"public file\n").unwrap();
    let (_share, ready) = Share::json(&["--anonymous", "-w", dir_arg(dir.path())]);
    for user in ["anonymous", "ftp"] {
        let out = ftplib(
            &ready,
            user,
            "guest@example.org",
            "print(f.nlst())\n\
             buf = io.BytesIO()\n\
             f.retrbinary('RETR pub.txt', buf.write)\n\
             print(buf.getvalue().decode().strip())\n\
             try:\n\
             \x20   f.storbinary('STOR new.txt', io.BytesIO(b'no'))\n\
             \x20   print('STOR allowed')\n\
             except ftplib.error_perm as e:\n\
             \x20   print('STOR', str(e)[:3])",
        );
        assert_eq!(
            out.lines().collect::<Vec<_>>(),
            ["['pub.txt']", "public file", "STOR 550"],
            "{user}: {out}"
        );
    }
    // The named user still writes (-w).
    let password = ready["password"].as_str().unwrap().to_string();
    ftplib(
        &ready,
        "share",
        &password,
        "f.storbinary('STOR new.txt', io.BytesIO(b'yes'))",
    );
    assert_eq!(std::fs::read(dir.path().join("new.txt")).unwrap(), b"yes");
}

/// `-u anonymous --anonymous`: the share's password logs in the named
/// (writable) user; any other password is an anonymous, read-only login,
/// and both the event and the refusal say so.
#[test]
fn anonymous_as_the_user_name_tells_the_two_logins_apart() {
    let dir = tempdir();
    let (mut share, ready) =
        Share::json(&["-u", "anonymous", "--anonymous", "-w", dir_arg(dir.path())]);
    let out = ftplib(
        &ready,
        "anonymous",
        "guest@example.org",
        "try:\n\
         \x20   f.storbinary('STOR no.txt', io.BytesIO(b'no'))\n\
         except ftplib.error_perm as e:\n\
         \x20   print(e)",
    );
    assert!(
        out.starts_with("550") && out.contains("anonymous sessions are read-only"),
        "{out}"
    );
    let login = share.event("login");
    assert_eq!(login["user"], "anonymous");
    assert_eq!(login["anonymous"], true, "{login}");

    let password = ready["password"].as_str().unwrap().to_string();
    ftplib(
        &ready,
        "anonymous",
        &password,
        "f.storbinary('STOR yes.txt', io.BytesIO(b'yes'))",
    );
    assert_eq!(std::fs::read(dir.path().join("yes.txt")).unwrap(), b"yes");
    let login = share.event("login");
    assert_eq!(login["anonymous"], false, "{login}");
    assert!(!dir.path().join("no.txt").exists());
}

#[test]
fn without_anonymous_flag_anonymous_is_refused() {
    let dir = tempdir();
    let (_share, ready) = Share::json(&[dir_arg(dir.path())]);
    let script = format!(
        "import ftplib\nf = ftplib.FTP()\nf.connect('127.0.0.1', {}, timeout=30)\n\
         try:\n    f.login('anonymous', 'x@y')\n    print('in')\n\
         except ftplib.error_perm as e:\n    print(str(e)[:3])",
        port(&ready)
    );
    let out = run("python3", &["-c", &script]);
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "530");
}

#[test]
fn temp_folder_is_writable_and_removed_on_exit() {
    let (share, ready) = Share::json(&["--temp"]);
    let root = PathBuf::from(ready["root"].as_str().unwrap());
    assert!(root.is_dir());
    assert_eq!(ready["writable"], true);
    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), b"temporary\n").unwrap();
    let out = curl(&["-T", src.path().to_str().unwrap(), &url(&ready, "t.txt")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(std::fs::read(root.join("t.txt")).unwrap(), b"temporary\n");
    share.signal(libc::SIGTERM);
    share.exit_event();
    assert!(!root.exists(), "{} is still there", root.display());
}

/// The binary as a user that file permissions apply to: as root, run as
/// `nobody` through setpriv (`None` if that is missing).
fn unprivileged() -> Option<Command> {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some(Command::new(BIN));
    }
    if !need("setpriv") {
        eprintln!("skipped: running as root and setpriv is missing to drop privileges");
        return None;
    }
    let mut cmd = Command::new("setpriv");
    cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
    Some(cmd)
}

/// A shared folder this process may enter but not list serves names it
/// is given, and says at once that listings will fail.
#[test]
fn a_folder_that_cannot_be_listed_is_warned_of_at_start() {
    use std::os::unix::fs::PermissionsExt;
    let Some(mut cmd) = unprivileged() else {
        return;
    };
    let base = tempdir();
    std::fs::set_permissions(base.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let dir = base.path().join("share");
    std::fs::create_dir(&dir).unwrap();
    std::fs::write(dir.join("known.txt"), b"by name").unwrap();
    std::fs::set_permissions(
        dir.join("known.txt"),
        std::fs::Permissions::from_mode(0o644),
    )
    .unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o311)).unwrap();
    cmd.args(["--json", "--bind", "127.0.0.1", dir_arg(&dir)])
        .env_remove("FTPSHARE_PASSWORD");
    let mut share = Share::spawn(cmd);
    let ready = share.event("ready");
    let warning = share.event("warning");
    let message = warning["message"].as_str().unwrap();
    assert!(
        message.starts_with(&format!("cannot list the shared folder {}", dir.display())),
        "{message}"
    );
    let out = curl(&[&url(&ready, "known.txt")]);
    assert_eq!(out.stdout, b"by name", "{out:?}");
    share.signal(libc::SIGINT);
    share.exit_event();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
}

/// A client that takes the rights away from folders in the temporary
/// folder (`SITE CHMOD 000`) does not keep it, or the uploads in it, from
/// being removed. Root ignores rights, so as root the binary runs as
/// `nobody`.
#[test]
fn temp_folder_is_removed_even_after_site_chmod_000() {
    let Some(mut cmd) = unprivileged() else {
        return;
    };
    cmd.args(["--json", "--bind", "127.0.0.1", "--temp"])
        .env_remove("FTPSHARE_PASSWORD");
    let mut share = Share::spawn(cmd);
    let ready = share.event("ready");
    let root = PathBuf::from(ready["root"].as_str().unwrap());
    let (user, password) = (
        ready["user"].as_str().unwrap(),
        ready["password"].as_str().unwrap(),
    );
    ftplib(
        &ready,
        user,
        password,
        "f.mkd('sub'); f.mkd('sub/inner')\n\
         f.storbinary('STOR sub/inner/a.txt', io.BytesIO(b'private'))\n\
         print(f.sendcmd('SITE CHMOD 500 sub/inner')); print(f.sendcmd('SITE CHMOD 000 sub'))",
    );
    share.signal(libc::SIGINT);
    let exit = share.exit_event();
    assert!(exit.get("kept").is_none(), "{exit}");
    assert!(!root.exists(), "{} is still there", root.display());
}

#[test]
fn temp_folder_is_kept_with_keep() {
    let (share, ready) = Share::json(&["--temp", "--keep"]);
    let root = PathBuf::from(ready["root"].as_str().unwrap());
    std::fs::write(root.join("k.txt"), b"keep me").unwrap();
    share.signal(libc::SIGINT);
    let exit = share.exit_event();
    assert_eq!(exit["kept"], root.to_str().unwrap());
    assert_eq!(std::fs::read(root.join("k.txt")).unwrap(), b"keep me");
    std::fs::remove_dir_all(&root).unwrap();
}

#[test]
fn temp_path_is_printed_for_people() {
    let mut share = Share::start(&["--temp", "--bind", "127.0.0.1", "--no-qr", "-t", "0"]);
    let mut banner = String::new();
    while let Some(line) = share.line() {
        banner.push_str(&line);
        banner.push('\n');
        if line.contains("lftp") {
            break;
        }
    }
    let path = banner
        .split_whitespace()
        .find(|w| w.contains("ftpshare-"))
        .unwrap_or_else(|| panic!("no temporary path in {banner}"));
    assert!(Path::new(path).is_dir(), "{path}");
    share.signal(libc::SIGTERM);
    let (status, _, _) = share.wait();
    assert_eq!(status.code(), Some(0));
    assert!(!Path::new(path).exists());
}

// -------------------------------------------------------------- failures

/// Exit 1 and exactly one line on stderr.
fn fails_with_one_line(args: &[&str]) -> String {
    let (status, stdout, stderr) = Share::start(args).wait();
    assert_eq!(status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr:?}");
    assert!(!stderr.contains("panicked") && !stderr.contains("backtrace"));
    assert!(stdout.is_empty(), "{stdout:?}");
    lines[0].to_string()
}

#[test]
fn missing_folder_exits_1_with_one_line() {
    let dir = tempdir();
    let missing = dir.path().join("not-here");
    let line = fails_with_one_line(&["--bind", "127.0.0.1", missing.to_str().unwrap()]);
    assert!(line.contains("not-here"), "{line}");

    // Scripts also get an exit event.
    let (status, stdout, stderr) =
        Share::start(&["--json", "--bind", "127.0.0.1", missing.to_str().unwrap()]).wait();
    assert_eq!(status.code(), Some(1));
    assert_eq!(stderr.lines().count(), 1);
    assert_eq!(stdout.len(), 1, "{stdout:?}");
    let exit: Value = serde_json::from_str(&stdout[0]).unwrap();
    assert_eq!(exit["event"], "exit");
    assert_eq!(exit["reason"], "error");
    // As the README's table of events says: every exit line counts transfers.
    assert_eq!(exit["transfers"], 0, "{exit}");
}

/// A folder this process may not even enter is refused at start, rather
/// than served to clients who would get nothing but refusals. One it may
/// enter but not list (known paths still work) or not write at its top
/// (a drop box's writable subfolder) is served. Run as an unprivileged
/// user, which root may become here; elsewhere the test has nothing to
/// show (an owner can always enter its own folder).
#[test]
fn an_unusable_folder_exits_1_with_one_line() {
    use std::os::unix::fs::PermissionsExt;
    if !rustix::process::geteuid().is_root() {
        println!("skipped: only root can run ftpshare as another user here");
        return;
    }
    if !need("setpriv") {
        return;
    }
    let dir = tempdir();
    let mode = |p: &Path, m| std::fs::set_permissions(p, std::fs::Permissions::from_mode(m));
    mode(dir.path(), 0o755).unwrap();
    let (secret, drop_box) = (dir.path().join("secret"), dir.path().join("drop"));
    for (folder, m) in [(&secret, 0o700), (&drop_box, 0o733)] {
        std::fs::create_dir(folder).unwrap();
        mode(folder, m).unwrap();
    }
    let nobody = |extra: &[&str], folder: &Path| {
        let mut cmd = std::process::Command::new("setpriv");
        cmd.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        cmd.args(["--bind", "127.0.0.1", "--timeout", "1s", "-q"]);
        cmd.args(extra).arg(folder);
        cmd.output().unwrap()
    };
    // The binary must be one the other user may run (not under a private
    // home folder, say).
    let runs = std::process::Command::new("setpriv")
        .args([
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            BIN,
            "-V",
        ])
        .output();
    if !runs.is_ok_and(|o| o.status.success()) {
        println!("skipped: user 65534 cannot run {BIN}");
        return;
    }
    for extra in [&[][..], &["--upload-only"][..]] {
        let out = nobody(extra, &secret);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{extra:?}: {stderr}");
        assert!(stderr.contains("Permission denied"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        // One that may be entered, though not listed, is served.
        let out = nobody(extra, &drop_box);
        assert_eq!(out.status.code(), Some(0), "{extra:?}: {out:?}");
    }
}

#[test]
fn port_in_use_exits_1_with_one_line() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port().to_string();
    let dir = tempdir();
    let line = fails_with_one_line(&["--bind", "127.0.0.1", "-p", &port, dir_arg(dir.path())]);
    assert!(line.contains(&port), "{line}");
    assert!(line.starts_with("ftpshare: error: "), "{line}");
    // A bind failure's exit line has the fields every exit line has.
    let (status, stdout, _) = Share::start(&[
        "--json",
        "-b",
        "127.0.0.1",
        "-p",
        &port,
        dir_arg(dir.path()),
    ])
    .wait();
    assert_eq!(status.code(), Some(1));
    let exit: Value = serde_json::from_str(stdout.last().unwrap()).unwrap();
    assert_eq!(
        (&exit["reason"], &exit["transfers"]),
        (&Value::from("error"), &Value::from(0)),
        "{exit}"
    );
}

#[test]
fn unreadable_certificate_exits_1_with_one_line() {
    let dir = tempdir();
    let missing = dir.path().join("cert.pem");
    let key = dir.path().join("key.pem");
    std::fs::write(&key, b"not a key").unwrap();
    fails_with_one_line(&[
        "--bind",
        "127.0.0.1",
        "--tls-cert",
        missing.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
        dir_arg(dir.path()),
    ]);
}

#[test]
fn bad_arguments_exit_2() {
    let dir = tempdir();
    for args in [
        vec!["--no-such-flag"],
        vec!["--timeout", "soon"],
        vec!["--port", "70000"],
        vec!["--bind", "not-an-address"],
        vec!["--passive-ports", "9-1"],
        vec!["--write", "--upload-only"],
        vec!["--keep"],
        vec!["--anonymous", "--upload-only"],
        vec!["--user", ""],
        vec!["--password", ""],
        vec!["--max-transfers", "0"],
    ] {
        let mut all = args.clone();
        all.push(dir_arg(dir.path()));
        let (status, stdout, stderr) = Share::start(&all).wait();
        assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
        assert!(stdout.is_empty(), "{args:?}: {stdout:?}");
        assert!(stderr.contains("error"), "{args:?}: {stderr}");
    }
}

/// Exit 2 with clap's one error line (then its usual hint), and no panic.
fn refused_argument(args: &[&str]) -> String {
    let dir = tempdir();
    let mut all = args.to_vec();
    all.push(dir_arg(dir.path()));
    let (status, stdout, stderr) = Share::start(&all).wait();
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{args:?}: {stdout:?}");
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    let first = stderr.lines().next().unwrap_or_default().to_string();
    assert!(first.starts_with("error: "), "{args:?}: {stderr}");
    first
}

/// Durations no clock can hold used to panic ("overflow when adding
/// duration to instant"), at once for --timeout and in every session for
/// --idle-timeout; negative and sub-second ones got confusing answers.
#[test]
fn out_of_range_durations_are_refused_in_one_line() {
    for flag in ["--timeout", "--idle-timeout", "--ban-duration"] {
        for (value, says) in [
            ("18446744073709551615", "at most 10 years"),
            ("3653d", "at most 10 years"),
            ("10y 1s", "at most 10 years"),
            ("99999999999999999999999h", "at most 10 years"),
            ("-5s", "cannot be negative"),
            ("1ns", "at least 1s"),
            ("500ms", "at least 1s"),
        ] {
            let line = refused_argument(&[flag, value]);
            assert!(line.contains(says), "{flag} {value}: {line}");
        }
    }
    let line = refused_argument(&["-t", "-5s"]);
    assert!(!line.contains("unexpected argument"), "{line}");
    for (flag, value) in [
        ("--max-rate", "0.5"),
        ("--max-rate", "99999999999999999999GiB"),
        ("--max-connections", "0"),
        ("--max-connections-per-ip", "0"),
        ("--max-transfers", "0"),
    ] {
        let line = refused_argument(&[flag, value]);
        if value == "0" {
            assert!(line.ends_with("must be at least 1"), "{flag}: {line}");
        }
    }
}

/// Units in any case, whole numbers only, and `M` alone refused: `10M`
/// used to mean ten months, `90S` was an error and `1.5h` was accepted.
/// The README's examples are accepted as it says.
#[test]
fn durations_read_units_in_any_case_but_refuse_m_alone() {
    let line = refused_argument(&["-t", "10M"]);
    assert!(
        line.contains("10m for minutes, 10months for months"),
        "{line}"
    );
    let line = refused_argument(&["-t", "1.5h"]);
    assert!(line.contains("1h30m"), "{line}");
    let readme = include_str!("../README.md");
    assert!(readme.contains("`10m` for minutes, `10months` for months"));
    for (value, secs) in [
        ("90S", 90),
        ("2h 30m", 9000),
        ("1h30m", 5400),
        ("10months", 26_300_160),
    ] {
        assert!(
            readme.contains(&format!("`{value}`")),
            "{value} not in the README"
        );
        let dir = tempdir();
        let (share, ready) = Share::json(&["-t", value, dir_arg(dir.path())]);
        assert_eq!(ready["expires_in_s"], secs, "{value}");
        share.signal(libc::SIGTERM);
        let _ = share.wait();
    }
}

/// The longest accepted durations run normally: sessions get past the
/// greeting and serve files.
#[test]
fn ten_year_durations_serve_normally() {
    let dir = tempdir();
    std::fs::write(dir.path().join("a.txt"), b"still here\n").unwrap();
    let (share, ready) = Share::json(&[
        "-t",
        "3650d",
        "--idle-timeout",
        "3650d",
        "--ban-duration",
        "3650d",
        dir_arg(dir.path()),
    ]);
    assert_eq!(ready["expires_in_s"], 3650 * 86_400);
    let out = curl(&[&url(&ready, "a.txt")]);
    assert_eq!(out.stdout, b"still here\n", "{out:?}");
    share.signal(libc::SIGTERM);
    assert_eq!(share.exit_event()["reason"], "signal");
}

/// Past a day, the banner says on which date the share expires.
#[test]
fn a_long_timeout_shows_the_date() {
    let dir = tempdir();
    let mut share = Share::start(&[
        "--no-qr",
        "--bind",
        "127.0.0.1",
        "-t",
        "200d",
        dir_arg(dir.path()),
    ]);
    let expires = loop {
        let line = share.line().expect("an expires line");
        if line.trim_start().starts_with("expires") {
            break line;
        }
    };
    assert!(expires.contains("in 200d (at "), "{expires}");
    let date = expires.split("(at ").nth(1).unwrap();
    let ymd: Vec<&str> = date.split(' ').next().unwrap().split('-').collect();
    assert!(
        ymd.len() == 3 && ymd[0].len() == 4 && ymd[0].parse::<u32>().unwrap() >= 2025,
        "{expires}"
    );
}

/// Connects and returns the first line the server sends.
fn first_line(ready: &Value) -> (std::net::TcpStream, String) {
    let stream = std::net::TcpStream::connect(("127.0.0.1", port(ready))).unwrap();
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut line = String::new();
    BufReader::new(&stream).read_line(&mut line).unwrap();
    (stream, line)
}

/// A refused connection (421) is reported: one `refused` event per address
/// a minute however many are refused, with the reason.
#[test]
fn refused_connections_are_reported_once_a_minute() {
    let dir = tempdir();
    let (mut share, ready) = Share::json(&["--max-connections-per-ip", "1", dir_arg(dir.path())]);
    let (held, greeting) = first_line(&ready);
    assert!(greeting.starts_with("220"), "{greeting}");
    for _ in 0..5 {
        let (_, line) = first_line(&ready);
        assert!(line.starts_with("421 "), "{line}");
    }
    drop(held);
    let mut refused = Vec::new();
    loop {
        let ev = share.next_event().expect("events");
        match ev["event"].as_str() {
            Some("refused") => refused.push(ev),
            Some("disconnect") => break,
            _ => {}
        }
    }
    assert_eq!(refused.len(), 1, "{refused:?}");
    assert_eq!(refused[0]["reason"], "max-connections-per-ip");
    assert!(refused[0]["peer"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));

    // A banned address, and the line a person sees (on stderr with --json).
    let (share, ready) = Share::json(&["--ban-after", "1", dir_arg(dir.path())]);
    let (mut guess, greeting) = first_line(&ready);
    assert!(greeting.starts_with("220"), "{greeting}");
    std::io::Write::write_all(&mut guess, b"USER share\r\nPASS wrong\r\n").unwrap();
    let mut replies = BufReader::new(&guess);
    let mut line = String::new();
    while !line.starts_with("530") {
        line.clear();
        assert!(replies.read_line(&mut line).unwrap() > 0, "no 530");
    }
    let (_, line) = first_line(&ready);
    assert!(line.starts_with("421 Too many failed logins"), "{line}");
    share.signal(libc::SIGTERM);
    let (_, rest, stderr) = share.wait();
    assert!(
        rest.iter()
            .any(|l| l.contains(r#""event":"refused""#) && l.contains(r#""reason":"banned""#)),
        "{rest:?}"
    );
    assert!(
        stderr
            .lines()
            .any(|l| l.contains("refused") && l.contains("banned")),
        "{stderr}"
    );
}

/// Binding a port below 1024 without the right says how to get around it.
/// Root may bind anything, so as root the binary runs as `nobody`; where
/// every port is unprivileged (containers often set that), root runs it in
/// a fresh network namespace, which starts with the kernel default of 1024.
#[test]
fn a_privileged_port_says_what_to_do() {
    let unprivileged_start: u16 =
        std::fs::read_to_string("/proc/sys/net/ipv4/ip_unprivileged_port_start")
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(1024);
    let root = unsafe { libc::geteuid() } == 0;
    let own_netns = unprivileged_start <= 21
        && root
        && Command::new("unshare")
            .args(["--net", "true"])
            .status()
            .is_ok_and(|s| s.success());
    if !common::need_that(
        "a privileged port 21 (ip_unprivileged_port_start above 21, or root with unshare --net)",
        unprivileged_start > 21 || own_netns,
    ) {
        return;
    }
    let dir = tempdir();
    let mut cmd = if !root {
        Command::new(BIN)
    } else {
        let mut c = Command::new(if own_netns { "unshare" } else { "setpriv" });
        if own_netns {
            c.args(["--net", "setpriv"]);
        }
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    };
    std::fs::set_permissions(
        dir.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = cmd
        .args(["--bind", "127.0.0.1", "-p", "21", dir_arg(dir.path())])
        .env_remove("FTPSHARE_PASSWORD")
        .output()
        .expect("run ftpshare (setpriv, in unshare --net if needed, when root)");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("CAP_NET_BIND_SERVICE") && stderr.contains("-p 0"),
        "{stderr}"
    );
}

#[test]
fn an_empty_password_says_where_it_came_from() {
    let dir = tempdir();
    let (status, _, stderr) =
        Share::start_env(&[dir_arg(dir.path())], &[("FTPSHARE_PASSWORD", "")]).wait();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("FTPSHARE_PASSWORD is set but empty"),
        "{stderr}"
    );
    let (status, _, stderr) = Share::start(&["--password", "", dir_arg(dir.path())]).wait();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("--password must not be empty") && !stderr.contains("FTPSHARE_PASSWORD is"),
        "{stderr}"
    );
}

/// The binary run with one argument in `dir`.
fn bin_in(dir: &Path, arg: &str) -> std::process::Output {
    Command::new(BIN)
        .arg(arg)
        .current_dir(dir)
        .output()
        .unwrap()
}

/// `ftpshare man` prints the man page; with a folder `./man` here it also
/// says how to share that folder instead.
#[test]
fn man_next_to_a_man_folder_says_how_to_share_it() {
    let dir = tempdir();
    let out = bin_in(dir.path(), "man");
    assert!(out.status.success() && out.stderr.is_empty(), "{out:?}");
    std::fs::create_dir(dir.path().join("man")).unwrap();
    let out = bin_in(dir.path(), "man");
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(".TH ftpshare"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ftpshare ./man"), "{err}");
}

/// `help` is a command word too: with a folder `./help` here, `ftpshare
/// help` prints the help and says how to share that folder, as the README
/// says of all three words.
#[test]
fn help_next_to_a_help_folder_says_how_to_share_it() {
    let readme = include_str!("../README.md");
    assert!(readme.contains("These three words are commands"));
    let dir = tempdir();
    std::fs::create_dir(dir.path().join("help")).unwrap();
    let out = bin_in(dir.path(), "help");
    assert!(out.status.success(), "{out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("Usage"));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("ftpshare ./help"), "{err}");
    // `--help` is no command word: no note.
    let out = bin_in(dir.path(), "--help");
    assert!(out.stderr.is_empty(), "{out:?}");
}

/// A 75-character CLNT reaches the login event as its first 64
/// characters and `…`, as the README says.
#[test]
fn a_long_clnt_is_cut_after_64_characters() {
    let readme = include_str!("../README.md");
    assert!(readme.contains("(its first 64 characters, then `…` when it is longer)"));
    let dir = tempdir();
    let (mut share, ready) = Share::json(&["--password", "pw", dir_arg(dir.path())]);
    let script = format!(
        "import ftplib\nf = ftplib.FTP()\nf.connect('127.0.0.1', {}, timeout=30)\n\
         f.sendcmd('CLNT ' + 'c' * 75)\nf.login('share', 'pw')\nf.quit()\n",
        port(&ready)
    );
    assert!(run("python3", &["-c", &script]).status.success());
    let login = share.event("login");
    assert_eq!(login["client"], format!("{}…", "c".repeat(64)), "{login}");
}

/// A download refused with 550 (no such file) is an event too.
#[test]
fn a_refused_download_emits_download_failed() {
    let dir = tempdir();
    let (mut share, ready) = Share::json(&[dir_arg(dir.path())]);
    let password = ready["password"].as_str().unwrap().to_string();
    let out = ftplib(
        &ready,
        "share",
        &password,
        "try:\n    f.retrbinary('RETR missing.txt', print)\nexcept ftplib.error_perm as e:\n    print(e)",
    );
    assert!(out.starts_with("550"), "{out}");
    let failed = share.event("download_failed");
    assert_eq!(failed["path"], "/missing.txt");
    assert_eq!(failed["bytes"], 0);
    assert!(
        failed["error"].as_str().unwrap().contains("missing.txt"),
        "{failed}"
    );
    // The operator sees what was asked for too: a log line (on stderr
    // with --json).
    share.signal(libc::SIGTERM);
    let (_, _, stderr) = share.wait();
    assert!(
        stderr.contains("download /missing.txt  FAILED after 0 B"),
        "{stderr}"
    );
}

/// An upload refused before it began (a name with a control character, a
/// folder's name, a path through a file, no data connection, a share
/// that may not be written) is an event too, as a refused download is,
/// and nothing lands.
#[test]
fn a_refused_upload_emits_upload_failed() {
    let dir = tempdir();
    std::fs::write(dir.path().join("k.txt"), b"k").unwrap();
    let refusals = "import io\ntry:\n    f.sendcmd('STOR nopasv.txt')\n\
         except ftplib.all_errors as e:\n    print(str(e)[:3])\nfor name in NAMES:\n    try:\n        \
         f.storbinary('STOR ' + name, io.BytesIO(b'x'))\n    except ftplib.all_errors as e:\n        \
         print(str(e)[:3])";
    for (writable, names, codes, paths) in [
        (
            true,
            "['bad%0Aname.txt', 'dir/', 'k.txt/x']",
            &["425", "553", "553", "550"][..],
            &["/nopasv.txt", "/bad%0Aname.txt", "/dir", "/k.txt/x"][..],
        ),
        (
            false,
            "['new.txt']",
            &["550", "550"],
            &["/nopasv.txt", "/new.txt"],
        ),
    ] {
        let args = [&["--write"][..(writable as usize)], &[dir_arg(dir.path())]].concat();
        let (mut share, ready) = Share::json(&args);
        let password = ready["password"].as_str().unwrap().to_string();
        let out = ftplib(
            &ready,
            "share",
            &password,
            &refusals.replace("NAMES", names),
        );
        assert_eq!(
            out.split_whitespace().collect::<Vec<_>>(),
            codes,
            "{args:?}"
        );
        for want in paths {
            let failed = share.event("upload_failed");
            assert_eq!(failed["path"], *want, "{args:?}: {failed}");
            assert_eq!(failed["bytes"], 0);
            assert!(failed["error"].is_string(), "{failed}");
        }
        let names: Vec<_> = std::fs::read_dir(dir.path()).unwrap().collect();
        assert_eq!(names.len(), 1, "{names:?}");
    }
}

// --------------------------------------------------------------- people

/// The banner of a run that stops by itself after a second.
fn banner(extra: &[&str]) -> (String, String) {
    let dir = tempdir();
    let mut args = vec!["--bind", "127.0.0.1", "--timeout", "1s"];
    args.extend_from_slice(extra);
    args.push(dir_arg(dir.path()));
    let (status, stdout, stderr) = Share::start(&args).wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    (stdout.join("\n"), stderr)
}

#[test]
fn banner_shows_url_and_qr_within_80_columns() {
    let (out, _) = banner(&[]);
    let url_line = out
        .lines()
        .find(|l| l.trim_start().starts_with("URL"))
        .unwrap_or_else(|| panic!("no URL line in {out}"));
    let url = url_line.split_whitespace().nth(1).unwrap();
    assert!(url.starts_with("ftp://share:") && url.contains("@127.0.0.1:"));
    assert!(out.contains(&format!("curl '{url}'")), "{out}");
    assert!(out.contains("lftp -u 'share,"), "{out}");
    assert!(out.contains("expires"), "{out}");
    assert!(out.contains("FTP app"), "{out}");
    assert!(out.contains('▀') && out.contains('▄') && out.contains('█'));
    for line in out.lines() {
        assert!(line.chars().count() <= 80, "too wide: {line:?}");
    }
    // Not a terminal: no escape sequences, and the run ends with a log line.
    assert!(!out.contains('\x1b'), "{out:?}");
    assert!(
        out.lines().any(|l| l.contains("stopping (timeout)")),
        "{out}"
    );
}

#[test]
fn no_qr_drops_the_code() {
    let (out, _) = banner(&["--no-qr"]);
    assert!(out.contains("URL"));
    assert!(!out.contains('█') && !out.contains('▀') && !out.contains('▄'));
}

#[test]
fn qr_invert_draws_the_other_way() {
    let (normal, _) = banner(&[]);
    let (inverted, _) = banner(&["--qr-invert"]);
    // The quiet zone is light: full blocks normally, blanks inverted.
    let first_qr_line = |s: &str| {
        s.lines()
            .find(|l| l.contains('▀') || l.contains('█'))
            .unwrap()
            .to_string()
    };
    assert!(first_qr_line(&normal).trim().starts_with("████"));
    assert!(!first_qr_line(&inverted).trim().starts_with("████"));
}

#[test]
fn quiet_prints_only_the_url() {
    let (out, _) = banner(&["-q"]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 1, "{out}");
    assert!(lines[0].starts_with("ftp://share:"), "{out}");
}

#[test]
fn json_sends_people_output_to_stderr() {
    let dir = tempdir();
    let (share, _) = Share::json(&["--timeout", "1s", dir_arg(dir.path())]);
    let (status, rest, stderr) = share.wait();
    assert_eq!(status.code(), Some(0));
    assert!(rest.iter().all(|l| l.starts_with('{')), "{rest:#?}");
    assert!(stderr.contains("URL") && stderr.contains('█'), "{stderr}");
}

// ----------------------------------------------------------------- events

#[test]
fn json_events_for_curl_upload_and_download() {
    let dir = tempdir();
    let up = pseudo_random(123_457, 4);
    let down = pseudo_random(65_536, 5);
    std::fs::create_dir(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("sub/down.bin"), &down).unwrap();
    let (mut share, ready) = Share::json(&["-w", dir_arg(dir.path())]);

    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), &up).unwrap();
    let out = curl(&["-T", src.path().to_str().unwrap(), &url(&ready, "up.bin")]);
    assert!(out.status.success(), "{out:?}");
    let connect = share.event("connect");
    assert!(connect["peer"].as_str().unwrap().starts_with("127.0.0.1:"));
    let login = share.event("login");
    assert_eq!(login["user"], "share");
    assert_eq!(login["anonymous"], false);
    let upload = share.event("upload");
    assert_eq!(upload["path"], "/up.bin");
    assert_eq!(upload["bytes"], 123_457);
    assert_eq!(upload["peer"], connect["peer"]);
    assert_eq!(
        sha256(&std::fs::read(dir.path().join("up.bin")).unwrap()),
        sha256(&up)
    );
    share.event("disconnect");

    let out = curl(&[&url(&ready, "sub/down.bin")]);
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256(&out.stdout), sha256(&down));
    let download = share.event("download");
    assert_eq!(download["path"], "/sub/down.bin");
    assert_eq!(download["bytes"], 65_536);
    assert!(download["duration_ms"].is_u64());

    // A failed login is reported, without the password tried.
    let bad = format!("ftp://share:wrong-guess@127.0.0.1:{}/", port(&ready));
    let out = curl(&[&bad]);
    assert!(!out.status.success());
    let failed = share.event("login_failed");
    assert_eq!(failed["user"], "share");
    assert!(!serde_json::to_string(&failed)
        .unwrap()
        .contains("wrong-guess"));

    // mkdir, rename and delete too.
    let ops = curl(&[
        &url(&ready, ""),
        "-Q",
        "MKD newdir",
        "-Q",
        "RNFR up.bin",
        "-Q",
        "RNTO newdir/moved.bin",
        "-Q",
        "DELE sub/down.bin",
    ]);
    assert!(ops.status.success(), "{ops:?}");
    assert_eq!(share.event("mkdir")["path"], "/newdir");
    let rename = share.event("rename");
    assert_eq!(rename["from"], "/up.bin");
    assert_eq!(rename["to"], "/newdir/moved.bin");
    assert_eq!(share.event("delete")["path"], "/sub/down.bin");

    share.signal(libc::SIGTERM);
    let exit = share.exit_event();
    assert_eq!(exit["transfers"], 2);
}

#[test]
fn verbose_logs_commands_but_never_the_password() {
    let dir = tempdir();
    std::fs::write(dir.path().join("v.txt"), b"verbose\n").unwrap();
    let password = "Sup3r-Secret-Verbose";
    let mut share = Share::start(&[
        "-v",
        "--bind",
        "127.0.0.1",
        "--no-qr",
        "--password",
        password,
        dir_arg(dir.path()),
    ]);
    let mut url = String::new();
    while let Some(line) = share.line() {
        if let Some(u) = line.trim_start().strip_prefix("URL") {
            url = u.trim().to_string();
            break;
        }
    }
    // Refused lines are logged too (curl fails on the first), but not
    // what a mistyped PASS carries.
    for refused in ["FOO bar", "PASSWORD Pass-In-A-Typo"] {
        let out = curl(&["-Q", refused, &format!("{url}v.txt")]);
        assert!(!out.status.success(), "{out:?}");
    }
    let out = curl(&[&format!("{url}v.txt")]);
    assert!(out.status.success(), "{out:?}");
    // The download shows up as a log line on stdout.
    while let Some(line) = share.line() {
        if line.contains("download") {
            break;
        }
    }
    share.signal(libc::SIGTERM);
    let (status, _, stderr) = share.wait();
    assert_eq!(status.code(), Some(0));
    assert!(stderr.contains("USER share"), "{stderr}");
    assert!(stderr.contains("RETR v.txt"), "{stderr}");
    assert!(stderr.contains("FOO bar"), "{stderr}");
    assert!(!stderr.contains("Pass-In-A-Typo"), "{stderr}");
    assert!(stderr.contains("PASS"), "{stderr}");
    assert!(!stderr.contains(password), "{stderr}");
    assert!(!stderr.contains('\x1b'), "colour on a pipe: {stderr:?}");
}

#[test]
fn password_from_the_environment() {
    let dir = tempdir();
    std::fs::write(dir.path().join("e.txt"), b"from env\n").unwrap();
    let mut share = Share::start_env(
        &["--json", "--bind", "127.0.0.1", dir_arg(dir.path())],
        &[("FTPSHARE_PASSWORD", "env-pass-123")],
    );
    let ready = share.event("ready");
    assert_eq!(ready["password"], "env-pass-123");
    let ok = format!("ftp://share:env-pass-123@127.0.0.1:{}/e.txt", port(&ready));
    let out = curl(&[&ok]);
    assert_eq!(out.stdout, b"from env\n", "{out:?}");
    let bad = format!("ftp://share:other@127.0.0.1:{}/e.txt", port(&ready));
    assert!(!curl(&[&bad]).status.success());
}

#[test]
fn user_and_password_flags() {
    let dir = tempdir();
    let (_share, ready) = Share::json(&[
        "-u",
        "alice",
        "--password",
        "p@ss word",
        dir_arg(dir.path()),
    ]);
    assert_eq!(ready["user"], "alice");
    assert_eq!(ready["password"], "p@ss word");
    // The URL escapes what needs escaping and still logs in.
    let u = ready["url"].as_str().unwrap();
    assert!(u.starts_with("ftp://alice:p%40ss%20word@127.0.0.1:"), "{u}");
    let out = curl(&["-l", u]);
    assert!(out.status.success(), "{out:?}");
}

// ---------------------------------------------------------- fixture mode

/// `ftpshare DIR -- sh -c SCRIPT`; stdout is the script's alone.
fn fixture(extra: &[&str], dir: &Path, script: &str) -> Share {
    let mut args = extra.to_vec();
    args.extend_from_slice(&[dir_arg(dir), "--", "sh", "-c", script]);
    Share::start(&args)
}

#[test]
fn fixture_mode_gives_the_command_the_server_and_its_exit_status() {
    let dir = tempdir();
    std::fs::write(dir.path().join("a.txt"), b"fixture data\n").unwrap();
    let script = r#"
        curl -sS "${FTPSHARE_URL}a.txt" || exit 90
        curl -sS -u "$FTPSHARE_USER:$FTPSHARE_PASSWORD" "ftp://$FTPSHARE_HOST:$FTPSHARE_PORT/a.txt" || exit 91
        echo "root=$FTPSHARE_ROOT"
        echo "tls=${FTPSHARE_TLS_FINGERPRINT-unset}"
        exit 7
    "#;
    let (status, out, err) = fixture(&[], dir.path(), script).wait();
    assert_eq!(status.code(), Some(7), "{err}");
    let root = dir.path().canonicalize().unwrap();
    assert_eq!(
        out,
        [
            "fixture data",
            "fixture data",
            &format!("root={}", root.display()),
            "tls=unset"
        ],
        "stdout is the command's alone; stderr: {err}"
    );
    assert!(err.is_empty(), "nothing on stderr without -v: {err}");
}

/// The README's `ftpshare --temp -w -- pytest …` shape: the command
/// uploads into a fresh folder, which is gone once the run ends.
#[test]
fn fixture_mode_with_temp_uploads_and_cleans_up() {
    let script = r#"
        printf 'payload\n' > "$FTPSHARE_ROOT.src" || exit 90
        curl -sS -T "$FTPSHARE_ROOT.src" "${FTPSHARE_URL}up.txt" || exit 91
        rm -f "$FTPSHARE_ROOT.src"
        cat "$FTPSHARE_ROOT/up.txt"
        echo "$FTPSHARE_ROOT"
    "#;
    let (status, out, err) = Share::start(&["--temp", "-w", "--", "sh", "-c", script]).wait();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(out[0], "payload", "{out:?}");
    assert!(out[1].contains("ftpshare-"), "{out:?}");
    assert!(
        !Path::new(&out[1]).exists(),
        "the temporary folder is removed"
    );
}

/// A server with TLS starts itself again to set a glibc tunable where
/// that helps (`cli/copies.rs`): it keeps its name, its arguments, its
/// process id and the tunables the user set, and adds the threshold only
/// on such a machine.
#[test]
fn a_tls_server_keeps_its_name_arguments_and_tunables() {
    let dir = tempdir();
    let tunable = "glibc.malloc.arena_max=4";
    let mut share = Share::start_env(
        &[
            "--json",
            "--bind",
            "127.0.0.1",
            "--tls",
            dir_arg(dir.path()),
        ],
        &[("GLIBC_TUNABLES", tunable)],
    );
    let ready = share.event("ready");
    let pid = share.process.child.id();
    assert_eq!(ready["pid"], pid);
    let proc_file = |name: &str| std::fs::read(format!("/proc/{pid}/{name}")).unwrap();
    assert_eq!(proc_file("comm"), b"ftpshare\n");
    let cmdline = proc_file("cmdline");
    let args: Vec<&[u8]> = cmdline.split(|&b| b == 0).collect();
    assert_eq!(args[0], BIN.as_bytes());
    assert_eq!(
        args[1..5],
        [&b"--json"[..], b"--bind", b"127.0.0.1", b"--tls"]
    );
    // glibc cuts the variable at its first `:` in place as it reads it, so
    // the environment shows the user's part; the variable only the second
    // start has tells whether there was one, and what the user gave.
    let env = proc_file("environ");
    let var = |name: &str| {
        env.split(|&b| b == 0)
            .find_map(|kv| kv.strip_prefix(format!("{name}=").as_bytes()))
    };
    assert_eq!(var("GLIBC_TUNABLES"), Some(tunable.as_bytes()));
    let given = var("FTPSHARE_GIVEN_GLIBC_TUNABLES");
    assert_eq!(given, restarts_here().then_some(tunable.as_bytes()));
}

/// What `cli/copies.rs` checks: an AMD processor with fast `rep movsb`,
/// and a glibc without its own fix (before 2.40).
fn restarts_here() -> bool {
    let cpu = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let flags = cpu.lines().find(|l| l.starts_with("flags")).unwrap_or("");
    let amd = cpu.contains("AuthenticAMD") && flags.split_whitespace().any(|f| f == "fsrm");
    let glibc = run("getconf", &["GNU_LIBC_VERSION"]);
    let version = String::from_utf8_lossy(&glibc.stdout);
    let mut v = version.trim().trim_start_matches("glibc ").split('.');
    let minor: u32 = match (v.next(), v.next()) {
        (Some("2"), Some(minor)) => minor.parse().unwrap_or(u32::MAX),
        _ => u32::MAX,
    };
    amd && minor < 40
}

/// The tunable a TLS server may add for itself (`cli/copies.rs`) is not
/// passed on: the command gets the environment the user gave.
#[test]
fn fixture_mode_with_tls_gives_the_command_the_users_glibc_tunables() {
    let dir = tempdir();
    let script = r#"printf '%s|' "${GLIBC_TUNABLES-unset}""#;
    let run = |tunables: Option<&str>| {
        let mut cmd = Command::new(BIN);
        cmd.args(["--tls", dir_arg(dir.path()), "--", "sh", "-c", script])
            .env_remove("FTPSHARE_PASSWORD")
            .env_remove("GLIBC_TUNABLES");
        if let Some(t) = tunables {
            cmd.env("GLIBC_TUNABLES", t);
        }
        let (status, out, err) = Share::spawn(cmd).wait();
        assert_eq!(status.code(), Some(0), "{err}");
        out
    };
    assert_eq!(run(None), ["unset|"]);
    let theirs = "glibc.malloc.arena_max=2";
    assert_eq!(run(Some(theirs)), [format!("{theirs}|")]);
}

#[test]
fn fixture_mode_with_tls_and_json_keeps_stdout_for_the_command() {
    let dir = tempdir();
    let script = r#"printf '%s' "$FTPSHARE_TLS_FINGERPRINT"; test "${FTPSHARE_URL#ftp://}" != "$FTPSHARE_URL""#;
    let (status, out, err) = fixture(&["--tls", "--json"], dir.path(), script).wait();
    assert_eq!(status.code(), Some(0), "{err}");
    let events: Vec<Value> = err
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    assert_eq!(events[0]["event"], "ready");
    assert_eq!(out, [events[0]["tls_fingerprint"].as_str().unwrap()]);
    let exit = events.last().unwrap();
    assert_eq!(exit["event"], "exit");
    assert_eq!(exit["reason"], "command");
    assert_eq!(exit["status"], 0);
}

#[test]
fn fixture_mode_timeout_exits_124_after_sigterm_or_sigkill() {
    let dir = tempdir();
    let started = Instant::now();
    let (status, _, err) = fixture(&["-t", "1s"], dir.path(), "exec sleep 60").wait();
    assert_eq!(status.code(), Some(124), "{err}");
    assert!(started.elapsed() < Duration::from_secs(30));
    // A command that ignores SIGTERM gets SIGKILL after the grace period.
    let (status, _, err) = fixture(
        &["-t", "1s", "--json"],
        dir.path(),
        "trap '' TERM; exec sleep 60",
    )
    .wait();
    assert_eq!(status.code(), Some(124), "{err}");
    let exit: Value = serde_json::from_str(err.lines().last().unwrap()).unwrap();
    assert_eq!(exit["reason"], "timeout");
    assert_eq!(exit["status"], 124);
}

#[test]
fn fixture_mode_127_when_not_found_126_when_not_runnable() {
    let dir = tempdir();
    let (status, out, err) =
        Share::start(&[dir_arg(dir.path()), "--", "no-such-command-here"]).wait();
    assert_eq!(status.code(), Some(127), "{err}");
    assert!(out.is_empty());
    assert_eq!(err.lines().count(), 1, "{err}");
    assert!(
        err.contains("no-such-command-here: command not found"),
        "{err}"
    );

    let script = dir.path().join("not-executable.sh");
    std::fs::write(&script, b"#!/bin/sh\nexit 0\n").unwrap();
    let (status, _, err) =
        Share::start(&[dir_arg(dir.path()), "--", script.to_str().unwrap()]).wait();
    assert_eq!(status.code(), Some(126), "{err}");
    assert_eq!(err.lines().count(), 1, "{err}");
}

/// Ctrl-C and SIGTERM go to the command, which decides how the run ends;
/// a command killed by signal N gives 128 + N.
#[test]
fn fixture_mode_forwards_signals_and_reports_deaths_by_signal() {
    let dir = tempdir();
    for (sig, name, code) in [(libc::SIGTERM, "TERM", 5), (libc::SIGINT, "INT", 6)] {
        let script = format!(
            "trap 'kill $!; echo got-{name}; exit {code}' {name}; echo ready; sleep 60 & wait"
        );
        let mut share = fixture(&[], dir.path(), &script);
        assert_eq!(share.line().as_deref(), Some("ready"));
        share.signal(sig);
        let (status, rest, err) = share.wait();
        assert_eq!(status.code(), Some(code), "{name}: {err}");
        assert_eq!(rest, [format!("got-{name}")]);
    }
    let (status, _, err) = fixture(&[], dir.path(), "kill -9 $$").wait();
    assert_eq!(status.code(), Some(128 + 9), "{err}");
}

#[test]
fn fixture_mode_logs_only_with_verbose_and_to_stderr() {
    let dir = tempdir();
    std::fs::write(dir.path().join("a.txt"), b"x").unwrap();
    let script = r#"curl -sS "${FTPSHARE_URL}a.txt" -o /dev/null"#;
    let (status, out, err) = fixture(&["-v"], dir.path(), script).wait();
    assert_eq!(status.code(), Some(0), "{err}");
    assert!(out.is_empty(), "{out:?}");
    assert!(err.contains("RETR a.txt"), "{err}");
    assert!(err.contains("a.txt"), "{err}");
}

// ------------------------------------------------------------- completions

const SHELLS: [(&str, &str); 5] = [
    ("bash", "ftpshare.bash"),
    ("zsh", "_ftpshare"),
    ("fish", "ftpshare.fish"),
    ("elvish", "ftpshare.elv"),
    ("powershell", "_ftpshare.ps1"),
];

/// `completions/` must match what the binary prints. To regenerate:
/// `UPDATE_COMPLETIONS=1 cargo test --test cli completions`.
#[test]
fn completions_are_up_to_date() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("completions");
    let update = std::env::var_os("UPDATE_COMPLETIONS").is_some();
    for (shell, file) in SHELLS {
        let out = Command::new(BIN)
            .args(["completions", shell])
            .output()
            .unwrap();
        assert!(out.status.success());
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("ftpshare"),
            "{shell}"
        );
        let path = dir.join(file);
        if update {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &out.stdout).unwrap();
            continue;
        }
        let stored = std::fs::read(&path).unwrap_or_default();
        assert!(
            stored == out.stdout,
            "completions/{file} is stale or missing; regenerate with \
             `UPDATE_COMPLETIONS=1 cargo test --test cli completions`"
        );
    }
}

#[test]
fn man_page_renders() {
    let out = Command::new(BIN).arg("man").output().unwrap();
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(".TH ftpshare")
            && text.contains("upload\\-only")
            && text.contains("[\\fICOMMAND\\fR]")
            && text.contains("FTPSHARE_URL"),
        "{text}"
    );
}

#[test]
fn tls_ready_line_has_the_fingerprint_and_curl_gets_in() {
    let dir = tempdir();
    std::fs::write(dir.path().join("s.txt"), b"over tls\n").unwrap();
    let (_share, ready) = Share::json(&["--tls", dir_arg(dir.path())]);
    assert_eq!(ready["tls"], true);
    let fp = ready["tls_fingerprint"].as_str().unwrap();
    let parts: Vec<&str> = fp.split(':').collect();
    assert_eq!(parts.len(), 32, "{fp}");
    assert!(parts
        .iter()
        .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit())));
    let out = curl(&["--ssl-reqd", "-k", &url(&ready, "s.txt")]);
    assert_eq!(out.stdout, b"over tls\n", "{out:?}");
    // Plain text logins are refused.
    assert!(!curl(&[&url(&ready, "s.txt")]).status.success());
}

/// A flag that only means something with TLS never leaves the server on
/// plain FTP: `--require-tls-reuse` alone turns on explicit FTPS, as
/// `--tls-cert` does, and with `--implicit-tls` it stays implicit.
#[test]
fn tls_only_flags_turn_tls_on() {
    let dir = tempdir();
    std::fs::write(dir.path().join("s.txt"), b"over tls\n").unwrap();
    let (_share, ready) = Share::json(&["--require-tls-reuse", dir_arg(dir.path())]);
    assert_eq!(ready["tls"], true, "{ready}");
    assert_eq!(ready["tls_mode"], "explicit", "{ready}");
    assert!(!curl(&[&url(&ready, "s.txt")]).status.success());
    let out = curl(&["--ssl-reqd", "-k", &url(&ready, "s.txt")]);
    assert_eq!(out.stdout, b"over tls\n", "{out:?}");
    let (_share, ready) =
        Share::json(&["--require-tls-reuse", "--implicit-tls", dir_arg(dir.path())]);
    assert_eq!(ready["tls_mode"], "implicit", "{ready}");
}

/// `-q --tls` prints the URL and, on the next line, the fingerprint of
/// the certificate the server really presents: without it nothing says
/// which certificate makes the URL safe to use.
#[test]
fn quiet_with_tls_prints_the_fingerprint_too() {
    let mut share = Share::start(&["-q", "--tls", "--bind", "127.0.0.1", "--password", "pw"]);
    let url = share.line().unwrap();
    let port = url.rsplit_once(':').unwrap().1.trim_end_matches('/');
    let line = share.line().unwrap();
    let fingerprint = line
        .strip_prefix("SHA-256 fingerprint ")
        .unwrap_or_else(|| panic!("{line}"));
    let script = format!(
        "import ftplib, hashlib\nf = ftplib.FTP_TLS()\nf.connect('127.0.0.1', {port}, timeout=30)\nf.auth()\n\
         print(hashlib.sha256(f.sock.getpeercert(binary_form=True)).hexdigest())"
    );
    let out = run("python3", &["-c", &script]);
    let seen = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(fingerprint.replace(':', "").to_lowercase(), seen, "{out:?}");
    let readme = include_str!("../README.md");
    assert!(
        readme.contains("`SHA-256 fingerprint …`"),
        "the README does not say so"
    );
    share.signal(libc::SIGINT);
    let (status, rest, _) = share.wait();
    assert_eq!(status.code(), Some(0));
    assert!(rest.is_empty(), "{rest:?}");
}

/// With `-b ::1` the lftp command quotes `[::1]`: unquoted, the shell
/// reads it as a glob, and a file named `1` in the current folder would
/// replace it. Pasted there, the command still lists the share.
#[test]
fn the_lftp_command_quotes_an_ipv6_address() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return;
    }
    let dir = tempdir();
    std::fs::write(dir.path().join("listed.txt"), b"x").unwrap();
    let mut share = Share::start(&["--no-qr", "--bind", "::1", dir_arg(dir.path())]);
    let lftp = loop {
        let line = share.line().expect("an lftp row");
        if let Some(cmd) = line.trim_start().strip_prefix("lftp ") {
            break cmd.trim().to_string();
        }
    };
    assert!(lftp.ends_with(" '[::1]'"), "{lftp}");
    let cwd = tempdir();
    std::fs::write(cwd.path().join("1"), b"").unwrap();
    if need("lftp") {
        let out = Command::new("sh")
            .args(["-c", &format!("{lftp} -e 'ls; bye'")])
            .current_dir(cwd.path())
            .output()
            .unwrap();
        assert!(
            String::from_utf8_lossy(&out.stdout).contains("listed.txt"),
            "{out:?}"
        );
    }
}

#[test]
fn quiet_with_temp_prints_the_url_and_the_folder() {
    let mut share = Share::start(&["-q", "--temp", "--bind", "127.0.0.1"]);
    let url = share.line().unwrap();
    assert!(url.starts_with("ftp://share:"), "{url}");
    let folder = share.line().unwrap();
    assert!(Path::new(&folder).is_dir(), "{folder}");
    share.signal(libc::SIGINT);
    let (status, rest, stderr) = share.wait();
    assert_eq!(status.code(), Some(0));
    assert!(rest.is_empty() && stderr.is_empty(), "{rest:?} {stderr}");
    assert!(!Path::new(&folder).exists());
}

/// The commands the banner suggests, pasted into a shell as they are,
/// with a password that needs quoting in a shell and escaping in a URL,
/// and a user name with a comma (lftp's `-u` splits at the first).
#[test]
fn banner_commands_work_when_pasted() {
    let dir = tempdir();
    std::fs::write(dir.path().join("listed.txt"), b"x").unwrap();
    for user in ["share", "we,us"] {
        banner_commands_work_for(dir.path(), user);
    }
}

fn banner_commands_work_for(dir: &Path, user: &str) {
    let mut share = Share::start(&[
        "-w",
        "--no-qr",
        "--bind",
        "127.0.0.1",
        "--user",
        user,
        "--password",
        "it's a \"pw\"",
        dir_arg(dir),
    ]);
    let mut rows = std::collections::HashMap::new();
    while let Some(line) = share.line() {
        let line = line.trim_start().to_string();
        if let Some((key, value)) = line.split_once(char::is_whitespace) {
            rows.insert(key.to_string(), value.trim().to_string());
        }
        if line.starts_with("lftp") {
            break;
        }
    }
    let sh = |cmd: &str| run("sh", &["-c", cmd]);

    let out = sh(&format!("{} -sS", rows["curl"]));
    assert!(out.status.success(), "{rows:?} {out:?}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("listed.txt"));

    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), b"pasted upload\n").unwrap();
    let upload = rows["upload"].replace("FILE", src.path().to_str().unwrap());
    // Upload under the file's own name, as curl does with a trailing slash.
    let out = sh(&format!("{upload} -sS"));
    assert!(out.status.success(), "{upload}: {out:?}");
    let name = src.path().file_name().unwrap();
    assert_eq!(std::fs::read(dir.join(name)).unwrap(), b"pasted upload\n");

    if need("lftp") {
        let out = sh(&format!("{} -e 'ls; bye'", rows["lftp"]));
        assert!(out.status.success(), "{user}: {out:?}");
        assert!(String::from_utf8_lossy(&out.stdout).contains("listed.txt"));
    }
}

// ------------------------------------------------------------ upload limits

/// The limits show in the banner and the ready line; an upload past one
/// is reported with the limit's name, and the exit line counts them.
#[test]
fn upload_limits_are_shown_and_reported() {
    if !common::need("curl") {
        return;
    }
    let dir = tempdir();
    std::fs::write(dir.path().join("kept.bin"), b"old").unwrap();
    let (mut share, ready) = Share::json(&[
        "-w",
        "--max-upload-size",
        "100K",
        "--quota",
        "1MiB",
        "--min-free",
        "0",
        dir_arg(dir.path()),
    ]);
    assert_eq!(ready["max_upload_size"], 100_000);
    assert_eq!(ready["quota"], 1 << 20);
    assert_eq!(ready["min_free"], 0);

    let src = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(src.path(), pseudo_random(300_000, 7)).unwrap();
    let out = curl(&["-T", src.path().to_str().unwrap(), &url(&ready, "kept.bin")]);
    assert!(!out.status.success());
    let failed = share.event("upload_failed");
    assert_eq!(failed["path"], "/kept.bin");
    assert_eq!(failed["limit"], "max_upload_size");
    assert!(
        failed["error"].as_str().unwrap().contains("100 kB"),
        "{failed}"
    );
    assert_eq!(std::fs::read(dir.path().join("kept.bin")).unwrap(), b"old");
    assert_eq!(files_in(dir.path()), ["kept.bin"]);

    let small = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(small.path(), b"fits").unwrap();
    let out = curl(&[
        "-T",
        small.path().to_str().unwrap(),
        &url(&ready, "new.txt"),
    ]);
    assert!(out.status.success(), "{out:?}");
    let done = share.event("upload");
    assert!(done.get("limit").is_none(), "{done}");

    share.signal(libc::SIGTERM);
    let (status, rest, stderr) = share.wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    let exit: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(exit["event"], "exit");
    assert_eq!(exit["uploads_stopped"]["max_upload_size"], 1, "{exit}");
    assert_eq!(exit["uploads_stopped"]["quota"], 0, "{exit}");
    assert_eq!(exit["quota_used"], 4, "{exit}");
    assert!(
        stderr.contains("limits     uploads: at most 100 kB per file, 1 MiB in all\n"),
        "{stderr}"
    );
}

/// Without flags, a writable share keeps min(256 MiB, 1 %) free and says so.
#[test]
fn the_default_free_space_check_is_shown() {
    let dir = tempdir();
    let (share, ready) = Share::json(&["--upload-only", dir_arg(dir.path())]);
    let min_free = ready["min_free"].as_u64().unwrap();
    assert!(min_free > 0 && min_free <= 256 << 20, "{ready}");
    assert!(ready["quota"].is_null() && ready["max_upload_size"].is_null());
    share.signal(libc::SIGTERM);
    let (_, rest, stderr) = share.wait();
    assert!(stderr.contains("kept free on disk"), "{stderr}");
    let exit: Value = serde_json::from_str(rest.last().unwrap()).unwrap();
    assert_eq!(exit["uploads_stopped"]["min_free"], 0, "{exit}");
    assert!(exit.get("quota_used").is_none(), "{exit}");
}

#[test]
fn bad_sizes_are_refused_in_one_line() {
    for (flag, value, says) in [
        ("--quota", "0", "at least 1 byte"),
        ("--max-upload-size", "0", "at least 1 byte"),
        ("--max-upload-size", "5Q", "unknown unit"),
        ("--min-free", "-1", "cannot be negative"),
        ("--quota", "lots", "not a size"),
        ("--quota", "16777216TiB", "too large"),
        ("--min-free", "99999999999999999999999", "too large"),
        // Each fits u128, the sum does not: it once wrapped to 543 bytes.
        (
            "--max-upload-size",
            "340282366920938463463374607431768211.999K",
            "too large",
        ),
        (
            "--quota",
            "340282366920938463463374607431768211.999K",
            "too large",
        ),
        (
            "--min-free",
            "340282366920938463463374607431768211.999K",
            "too large",
        ),
        (
            "--max-rate",
            "340282366920938463463374607431768211.999K",
            "too large",
        ),
        // Parts that each fit but add up past u64 seconds (a panic once).
        (
            "--timeout",
            "18446744073709551615s 1000000000ns",
            "too long",
        ),
        (
            "--idle-timeout",
            "18446744073709551615s 1000000000ns",
            "too long",
        ),
        (
            "--ban-duration",
            "18446744073709551615s 1000000000ns",
            "too long",
        ),
        ("--max-transfers", "18446744073709551616", "too large"),
        ("--ban-after", "4294967296", "is not in"),
        ("--max-connections", "18446744073709551616", "too large"),
    ] {
        let line = refused_argument(&[flag, value]);
        assert!(
            line.contains(flag) && line.contains(says),
            "{flag} {value}: {line}"
        );
    }
}

// ------------------------------------------------- files and several paths

/// `outer/` holds `my report.pdf`, `photos/2024/cat.jpg`, `docs/notes.txt`
/// and, beside them, `secret.txt`; `photos/to_docs` and `photos/to_secret`
/// are symlinks that try to leave their entry.
fn several() -> tempfile::TempDir {
    let outer = tempdir();
    let o = outer.path();
    std::fs::create_dir_all(o.join("photos/2024")).unwrap();
    std::fs::write(o.join("photos/2024/cat.jpg"), pseudo_random(50_003, 3)).unwrap();
    std::fs::create_dir(o.join("docs")).unwrap();
    std::fs::write(o.join("docs/notes.txt"), b"notes").unwrap();
    std::fs::write(o.join("my report.pdf"), pseudo_random(300_007, 4)).unwrap();
    std::fs::write(o.join("secret.txt"), b"never served").unwrap();
    std::os::unix::fs::symlink("../docs/notes.txt", o.join("photos/to_docs")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", o.join("photos/to_secret")).unwrap();
    outer
}

/// The banner shown for these paths.
fn banner_for(paths: &[&str]) -> String {
    let mut args = vec!["--bind", "127.0.0.1", "--timeout", "1s", "--no-qr"];
    args.extend_from_slice(paths);
    let (status, stdout, stderr) = Share::start(&args).wait();
    assert_eq!(status.code(), Some(0), "{stderr}");
    stdout.join("\n")
}

fn arg(outer: &tempfile::TempDir, rel: &str) -> String {
    outer.path().join(rel).to_str().unwrap().to_string()
}

#[test]
fn one_file_is_served_at_a_url_that_opens_it() {
    let outer = several();
    let file = arg(&outer, "my report.pdf");
    let (share, ready) = Share::json(&[&file]);
    let password = ready["password"].as_str().unwrap();
    assert_eq!(
        ready["url"],
        format!(
            "ftp://share:{password}@127.0.0.1:{}/my%20report.pdf",
            port(&ready)
        )
    );
    assert!(ready["root"].is_null(), "{ready}");
    let real = std::fs::canonicalize(&file).unwrap();
    assert_eq!(ready["paths"], serde_json::json!([real.to_str().unwrap()]));
    if need("curl") {
        let out = curl(&[ready["url"].as_str().unwrap()]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(sha256(&out.stdout), sha256(&pseudo_random(300_007, 4)));
    }
    // The virtual root holds that file and nothing else.
    if need("python3") {
        let out = ftplib(&ready, "share", password, "print(f.nlst('/'))");
        assert_eq!(out.trim(), "['my report.pdf']");
    }
    drop(share);

    // The URL printed for people opens the file too.
    let mut quiet = Share::start(&["-q", "--bind", "127.0.0.1", &file]);
    let printed = quiet.line().expect("the URL");
    assert!(printed.ends_with("/my%20report.pdf"), "{printed}");
    if need("curl") {
        let out = curl(&[&printed]);
        assert!(out.status.success(), "{out:?}");
        assert_eq!(sha256(&out.stdout), sha256(&pseudo_random(300_007, 4)));
    }
    drop(quiet);

    // People see what is shared, and where it opens.
    let out = banner_for(&[&file]);
    assert!(out.contains("sharing my report.pdf (read-only)"), "{out}");
    assert!(out.contains("curl -O 'ftp://share:"), "{out}");
}

#[test]
fn several_paths_are_listed_by_name_with_real_sizes() {
    let outer = several();
    let (share, ready) = Share::json(&[
        &arg(&outer, "my report.pdf"),
        &arg(&outer, "photos"),
        &arg(&outer, "docs/"),
    ]);
    assert!(ready["root"].is_null(), "{ready}");
    assert_eq!(ready["paths"].as_array().unwrap().len(), 3, "{ready}");
    let password = ready["password"].as_str().unwrap().to_string();
    if need("lftp") {
        let out = run(
            "lftp",
            &[
                "-u",
                &format!("share,{password}"),
                "-p",
                &port(&ready).to_string(),
                "-e",
                "set net:max-retries 1; ls /; bye",
                "127.0.0.1",
            ],
        );
        assert!(out.status.success(), "{out:?}");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        let pdf = text.lines().find(|l| l.ends_with(" my report.pdf"));
        let pdf = pdf.unwrap_or_else(|| panic!("{text}"));
        assert!(pdf.starts_with('-'), "{pdf}");
        assert_eq!(pdf.split_whitespace().nth(4), Some("300007"), "{pdf}");
        assert!(text
            .lines()
            .any(|l| l.starts_with('d') && l.ends_with(" photos")));
        assert!(text
            .lines()
            .any(|l| l.starts_with('d') && l.ends_with(" docs")));
        assert_eq!(text.lines().count(), 3, "{text}");
    }
    if need("python3") {
        let body = r#"
facts = {name: f for name, f in f.mlsd('/')}
print(facts['my report.pdf']['type'], facts['my report.pdf']['size'], facts['photos']['type'])
f.voidcmd('TYPE I')
print(f.size('/my report.pdf'))
def get(path):
    out = io.BytesIO()
    try:
        f.retrbinary('RETR ' + path, out.write)
        return out.getvalue().decode('latin-1')
    except ftplib.error_perm as e:
        return str(e)[:3]
for path in ['/photos/../docs/notes.txt', '/secret.txt', '/../secret.txt',
             '/photos/../../secret.txt', '/photos/to_docs', '/photos/to_secret',
             '/my report.pdf/../secret.txt', '/docs/../../../secret.txt']:
    print(path, get(path))
"#;
        let out = ftplib(&ready, "share", &password, body);
        let lines: Vec<&str> = out.lines().collect();
        assert_eq!(lines[0], "file 300007 dir", "{out}");
        assert_eq!(lines[1], "300007", "{out}");
        // `..` folds as text first, then one entry serves the rest.
        assert_eq!(lines[2], "/photos/../docs/notes.txt notes", "{out}");
        for line in &lines[3..] {
            assert!(line.ends_with(" 550"), "reached: {line}");
        }
    }
    drop(share);
    let out = banner_for(&[&arg(&outer, "my report.pdf"), &arg(&outer, "photos")]);
    assert!(
        out.contains("sharing my report.pdf, photos/ (read-only)"),
        "{out}"
    );
}

#[test]
fn with_write_changes_happen_only_inside_shared_folders() {
    let outer = several();
    let (_share, ready) = Share::json(&[
        "--write",
        &arg(&outer, "my report.pdf"),
        &arg(&outer, "photos"),
        &arg(&outer, "docs"),
    ]);
    if !need("python3") {
        return;
    }
    let body = r#"
def try_(fn, *args):
    try:
        fn(*args)
        return 'ok'
    except ftplib.error_perm as e:
        return str(e)[:3]
up = lambda path: f.storbinary('STOR ' + path, io.BytesIO(b'uploaded'))
appe = lambda path: f.storbinary('APPE ' + path, io.BytesIO(b'more'))
print(try_(up, '/new.txt'), try_(up, '/my report.pdf'), try_(appe, '/my report.pdf'),
      try_(f.delete, '/my report.pdf'), try_(f.mkd, '/newdir'), try_(f.rmd, '/docs'),
      try_(f.rename, '/my report.pdf', '/photos/x.pdf'),
      try_(f.rename, '/docs/notes.txt', '/notes.txt'))
print(try_(up, '/photos/2024/up.bin'), try_(f.mkd, '/docs/sub'),
      try_(f.rename, '/photos/2024/up.bin', '/docs/sub/up.bin'))
"#;
    let out = ftplib(&ready, "share", ready["password"].as_str().unwrap(), body);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "550 550 550 550 550 550 550 550", "{out}");
    assert_eq!(lines[1], "ok ok ok", "{out}");
    let o = outer.path();
    assert_eq!(
        std::fs::read(o.join("my report.pdf")).unwrap(),
        pseudo_random(300_007, 4)
    );
    assert_eq!(
        std::fs::read(o.join("docs/sub/up.bin")).unwrap(),
        b"uploaded"
    );
    assert_eq!(std::fs::read(o.join("docs/notes.txt")).unwrap(), b"notes");
    let mut beside = files_in(o);
    beside.retain(|n| !["docs", "photos", "my report.pdf", "secret.txt"].contains(&n.as_str()));
    assert!(beside.is_empty(), "created beside the shares: {beside:?}");
}

/// Exit 2 and one line on stderr, nothing on stdout.
fn usage_error(args: &[&str]) -> String {
    let (status, stdout, stderr) = Share::start(args).wait();
    assert_eq!(status.code(), Some(2), "{args:?}: {stderr}");
    assert!(stdout.is_empty(), "{stdout:?}");
    stderr.lines().next().unwrap_or_default().to_string()
}

/// clap's tip for an unknown flag would be `-- -rf`, which here starts
/// fixture mode; the tip says how to name such a path instead, and a
/// misspelt flag keeps only clap's "a similar argument".
#[test]
fn an_unknown_flag_gets_a_tip_that_works() {
    for (word, shown) in [("-rf", "./-rf"), ("-wz", "./-wz")] {
        let (status, _, stderr) = Share::start(&[word]).wait();
        assert_eq!(status.code(), Some(2));
        assert!(stderr.contains(&format!("write '{shown}'")), "{stderr}");
        assert!(!stderr.contains("'-- "), "{stderr}");
    }
    // A word that is not UTF-8 is no reason to panic.
    let mut cmd = Command::new(BIN);
    cmd.arg("--bogus")
        .arg(<std::ffi::OsStr as std::os::unix::ffi::OsStrExt>::from_bytes(b"caf\xe9"));
    let out = cmd.output().unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let (_, _, stderr) = Share::start(&["--wirte"]).wait();
    assert!(stderr.contains("'--write'"), "{stderr}");
    assert!(
        !stderr.contains("./--wirte") && !stderr.contains("'-- "),
        "{stderr}"
    );
}

#[test]
fn paths_that_cannot_be_shared_together_exit_2() {
    let outer = several();
    std::fs::create_dir(outer.path().join("other")).unwrap();
    std::fs::write(outer.path().join("other/notes.txt"), b"other").unwrap();
    let (a, b) = (
        arg(&outer, "docs/notes.txt"),
        arg(&outer, "other/notes.txt"),
    );
    let (status, stdout, stderr) = Share::start(&["--bind", "127.0.0.1", &a, &b]).wait();
    assert_eq!(status.code(), Some(2), "{stderr}");
    assert!(stdout.is_empty());
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(&a) && stderr.contains(&b), "{stderr}");
    // The two forms the README names: ours, and clap's for a conflict.
    let readme = include_str!("../README.md");
    assert!(readme.contains("`ftpshare: error: …`, or for a conflict between\nflags (`--temp` with paths) clap's `error: …`"));
    assert!(stderr.starts_with("ftpshare: error: "), "{stderr}");

    let file = arg(&outer, "my report.pdf");
    let (docs, photos) = (arg(&outer, "docs"), arg(&outer, "photos"));
    let line = usage_error(&["--upload-only", &file]);
    assert!(
        line.contains("--upload-only needs exactly one folder"),
        "{line}"
    );
    usage_error(&["--upload-only", &docs, &photos]);
    let line = usage_error(&["-w", &file]);
    assert!(line.contains("--write needs a folder"), "{line}");
    usage_error(&["-w", &file, &arg(&outer, "docs/notes.txt")]);
    let line = usage_error(&["--temp", &file]);
    assert!(
        line.contains("--temp") && line.starts_with("error: "),
        "{line}"
    );
    usage_error(&[&docs, "/"]);
}

#[test]
fn fixture_mode_with_one_file_hands_over_its_url_and_no_root() {
    if !need("curl") {
        return;
    }
    let outer = several();
    let file = outer.path().join("my report.pdf");
    let script = r#"
        curl -sS "$FTPSHARE_URL" | sha256sum | cut -c1-64 || exit 90
        echo "root=[$FTPSHARE_ROOT]"
    "#;
    let (status, out, err) = fixture(&[], &file, script).wait();
    assert_eq!(status.code(), Some(0), "{err}");
    assert_eq!(
        out,
        [sha256(&pseudo_random(300_007, 4)).as_str(), "root=[]"],
        "{err}"
    );
}

/// A script that stops reading stderr (its pipe closed) must not take the
/// server down: the log lines that follow are lost, the transfers are not.
#[test]
fn a_closed_stderr_does_not_stop_the_server() {
    if !need("curl") {
        return;
    }
    let dir = tempdir();
    let body = pseudo_random(100_003, 9);
    std::fs::write(dir.path().join("f.bin"), &body).unwrap();
    let mut child = Command::new(BIN)
        .args(["--json", "-v", "--bind", "127.0.0.1", "--timeout", "60s"])
        .args(["--password", "pw", dir_arg(dir.path())])
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start ftpshare");
    drop(child.stderr.take());
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready: Value = serde_json::from_str(&lines.next().unwrap().unwrap()).unwrap();
    let url = format!("{}f.bin", ready["url"].as_str().unwrap());
    for _ in 0..3 {
        let out = curl(&[&url]);
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(sha256(&out.stdout), sha256(&body));
    }
    assert!(child.try_wait().unwrap().is_none(), "the server exited");
    let _ = child.kill();
    let _ = child.wait();
}
