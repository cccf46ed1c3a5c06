//! What the operator sees: the `ftpshare` binary's output with hostile
//! client names, in a pipe (plain log lines, `--json`) and on a terminal
//! (tmux), and the live display's fit to the terminal's width.

mod common;

use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::{need, run, Spawned};
use serde_json::Value;

/// The tests here run one at a time: the resize test reads a live screen
/// against a redraw deadline, and four other servers with their clients
/// starting beside it on a 2-core machine make it race its own redraws.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn one_at_a_time() -> std::sync::MutexGuard<'static, ()> {
    ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner())
}

const BIN: &str = env!("CARGO_BIN_EXE_ftpshare");

/// Generous: the machine may be busy compiling.
const WAIT: Duration = Duration::from_secs(60);

const PASSWORD: &str = "secret";

/// Names made of terminal controls (ESC sequences that retitle the window
/// and clear the screen, the C1 CSI U+009B) that another program put in
/// the shared folder: a client cannot make such names itself.
fn plant_hostile_names(dir: &std::path::Path) {
    std::fs::create_dir(dir.join("\x1b]0;PWNED\x07")).unwrap();
    for name in ["\x1b[2J.txt", "\u{9b}2J.txt"] {
        std::fs::write(dir.join(name), b"x").unwrap();
    }
}

/// What a hostile client does: a user name made of terminal controls, a
/// folder name of them (refused), and then work on the names
/// [`plant_hostile_names`] made and on a bidi override (U+202E), which is
/// not a control character and so can be made.
const HOSTILE: &str = r#"
import ftplib, io
bad = ftplib.FTP()
bad.connect('127.0.0.1', port, timeout=30)
try:
    bad.login('\x1b]0;PWNED\x07\x1b[31mevil\u009b', 'wrong')
except ftplib.error_perm:
    pass
bad.close()
f = ftplib.FTP()
f.connect('127.0.0.1', port, timeout=30)
f.login('share', password)
try:
    f.mkd('\x1b[2J\x1b]0;NEW\x07')
    raise SystemExit('a name with control characters was made')
except ftplib.error_perm as e:
    assert str(e).startswith('553'), e
f.mkd('\x1b]0;PWNED\x07/sub')
f.storbinary('STOR \u202etxt.exe', io.BytesIO(b'x' * 10))
f.retrbinary('RETR \x1b[2J.txt', lambda b: None)
f.rename('\u009b2J.txt', 'moved')
f.delete('\u202etxt.exe')
f.quit()
"#;

/// Runs `body` in Python with `port` and `password` defined.
fn python(port: u16, body: &str) {
    let script = format!("port, password = {port}, {PASSWORD:?}\n{body}");
    let out = run("python3", &["-c", &script]);
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Bytes a terminal would act on: ESC, BEL, other C0 controls except
/// the line end, DEL, C1 controls (UTF-8 `c2 80`..`c2 9f`) and bidi
/// overrides (U+202A..U+202E, UTF-8 `e2 80 aa`..`e2 80 ae`).
fn raw_controls(bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter(|l| {
            l.chars()
                .any(|c| (c.is_control() && c != '\t') || ('\u{202a}'..='\u{202e}').contains(&c))
        })
        .map(|l| format!("{l:?}"))
        .collect()
}

/// A `ftpshare` subprocess with the stdout lines read so far.
struct Piped {
    process: Spawned,
    stdout: Vec<String>,
}

impl Piped {
    fn start(args: &[&str]) -> Piped {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env_remove("FTPSHARE_PASSWORD");
        Piped {
            process: Spawned::new(cmd),
            stdout: Vec::new(),
        }
    }

    /// Reads stdout until a line satisfies `want`.
    fn until(&mut self, want: impl Fn(&str) -> bool) -> String {
        loop {
            let line = self
                .process
                .lines
                .recv_timeout(WAIT)
                .unwrap_or_else(|_| panic!("output ended; saw {:#?}", self.stdout));
            self.stdout.push(line.clone());
            if want(&line) {
                return line;
            }
        }
    }

    /// Ctrl-C, then everything printed until the exit: stdout and stderr.
    fn stop(mut self) -> (String, Vec<u8>) {
        assert_eq!(
            unsafe { libc::kill(self.process.child.id() as libc::pid_t, libc::SIGINT) },
            0
        );
        let status = self.process.child.wait().unwrap();
        assert!(status.success(), "{status:?}");
        while let Ok(line) = self.process.lines.recv_timeout(Duration::from_secs(5)) {
            self.stdout.push(line);
        }
        let stderr = self.process.stderr();
        (self.stdout.join("\n"), stderr)
    }
}

/// The port in a banner's `URL` line (`ftp://share:…@127.0.0.1:PORT/`).
fn banner_port(line: &str) -> u16 {
    let after = line.rsplit_once("127.0.0.1:").expect("a URL").1;
    after.trim_end_matches('/').parse().expect("a port")
}

/// The password in an `ftp://share:PASSWORD@…` URL.
fn url_password(url: &str) -> &str {
    let after = url.split_once("share:").unwrap().1;
    after.split_once('@').unwrap().0
}

#[test]
fn hostile_names_reach_plain_output_escaped() {
    let _serial = one_at_a_time();
    if !need("python3") {
        return;
    }
    // The shared folder's own name is shown escaped in the banner too.
    let dir = tempfile::tempdir().unwrap();
    let shared = dir.path().join("\x1b]0;DIR\x07\u{9b}");
    std::fs::create_dir(&shared).unwrap();
    plant_hostile_names(&shared);
    let d = shared.to_str().unwrap();
    let mut share = Piped::start(&[
        "-vv",
        "-w",
        "--bind",
        "127.0.0.1",
        "--no-qr",
        "--password",
        PASSWORD,
        d,
    ]);
    let port = banner_port(&share.until(|l| l.trim_start().starts_with("URL")));
    python(port, HOSTILE);
    share.until(|l| l.contains("delete"));
    let (stdout, stderr) = share.stop();
    assert_eq!(raw_controls(stdout.as_bytes()), Vec::<String>::new());
    assert_eq!(raw_controls(&stderr), Vec::<String>::new());
    // Escaped, not dropped: the operator can still tell what happened.
    for seen in [
        r"\e]0;DIR\u{7}\u{9b} (writable)",
        r#"refused  password for "\e]0;PWNED\u{7}\e[31mevil\u{9b}""#,
        r"mkdir    /\e]0;PWNED\u{7}/sub",
        r"upload   /\u{202e}txt.exe",
        r"download /\e[2J.txt",
        r"rename   /\u{9b}2J.txt -> /moved",
        r"delete   /\u{202e}txt.exe",
    ] {
        assert!(stdout.contains(seen), "{seen} not in {stdout}");
    }
    // -vv logs the commands and replies the same way.
    let stderr = String::from_utf8_lossy(&stderr);
    for seen in [
        r"MKD \e[2J\e]0;NEW\u{7}",
        r#"257 "/\e]0;PWNED\u{7}/sub""#,
        r"DELE \u{202e}txt.exe",
    ] {
        assert!(stderr.contains(seen), "{seen} not in {stderr}");
    }
}

#[test]
fn hostile_names_keep_json_valid_and_terminal_safe() {
    let _serial = one_at_a_time();
    if !need("python3") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    plant_hostile_names(dir.path());
    let d = dir.path().to_str().unwrap();
    let mut share = Piped::start(&[
        "--json",
        "-w",
        "--bind",
        "127.0.0.1",
        "--password",
        PASSWORD,
        d,
    ]);
    let ready: Value = serde_json::from_str(&share.until(|l| l.contains("ready"))).unwrap();
    python(ready["port"].as_u64().unwrap() as u16, HOSTILE);
    share.until(|l| l.contains(r#""event":"delete""#));
    let (stdout, stderr) = share.stop();
    assert_eq!(raw_controls(stdout.as_bytes()), Vec::<String>::new());
    assert_eq!(raw_controls(&stderr), Vec::<String>::new());
    // Every line is JSON, and the names come back exactly as sent.
    let events: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{l:?}: {e}")))
        .collect();
    let path = |name: &str| {
        events
            .iter()
            .find(|e| e["event"] == name)
            .map(|e| e["path"].as_str().unwrap_or_default().to_string())
    };
    assert_eq!(path("mkdir").as_deref(), Some("/\x1b]0;PWNED\x07/sub"));
    assert_eq!(path("download").as_deref(), Some("/\x1b[2J.txt"));
    assert_eq!(path("delete").as_deref(), Some("/\u{202e}txt.exe"));
    let failed = events
        .iter()
        .find(|e| e["event"] == "login_failed")
        .unwrap();
    assert_eq!(failed["user"], "\x1b]0;PWNED\x07\x1b[31mevil\u{9b}");
    // The people's lines on stderr are escaped too.
    let stderr = String::from_utf8_lossy(&stderr);
    assert!(
        stderr.contains(r"mkdir    /\e]0;PWNED\u{7}/sub"),
        "{stderr}"
    );
}

/// A tmux server of its own (a socket in a temporary folder), killed on
/// drop.
struct Tmux {
    dir: tempfile::TempDir,
}

impl Tmux {
    /// Runs `command` in a detached `cols`×`rows` session named `t`; the
    /// pane stays after the command exits so that its output can be read.
    fn start(cols: u16, rows: u16, command: &str) -> Tmux {
        let tmux = Tmux {
            dir: tempfile::tempdir().unwrap(),
        };
        let (x, y) = (cols.to_string(), rows.to_string());
        tmux.ok(&[
            "-f",
            "/dev/null",
            "new-session",
            "-d",
            "-s",
            "t",
            "-x",
            &x,
            "-y",
            &y,
            command,
        ]);
        tmux.ok(&["set-option", "-t", "t", "remain-on-exit", "on"]);
        tmux
    }

    fn run(&self, args: &[&str]) -> std::process::Output {
        Command::new("tmux")
            .arg("-S")
            .arg(self.dir.path().join("socket"))
            .args(args)
            .output()
            .expect("run tmux")
    }

    fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            out.status.success(),
            "tmux {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8_lossy(&out.stdout).into_owned()
    }

    /// The screen and its scrollback, one string per row.
    fn screen(&self) -> String {
        self.ok(&["capture-pane", "-p", "-J", "-S", "-", "-t", "t"])
    }

    /// The visible rows exactly as drawn (wrapped lines not joined).
    fn rows(&self) -> Vec<String> {
        let text = self.ok(&["capture-pane", "-p", "-t", "t"]);
        text.lines().map(|l| l.trim_end().to_string()).collect()
    }

    fn wait_for(&self, what: &str) -> String {
        self.wait_until(what, |screen| screen.contains(what))
    }

    /// Polls the screen until `done` says so; returns that screen.
    fn wait_until(&self, what: &str, done: impl Fn(&str) -> bool) -> String {
        let start = Instant::now();
        loop {
            let screen = self.screen();
            if done(&screen) {
                return screen;
            }
            assert!(start.elapsed() < WAIT, "{what:?} never appeared:\n{screen}");
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn resize(&self, cols: u16) {
        self.ok(&["resize-window", "-t", "t", "-x", &cols.to_string()]);
    }
}

/// What is wrong with the live part of the screen (from the first log
/// or status row on), if anything: every row must be a whole log line
/// (or its indented continuation), the one status line, or a transfer's
/// line ending in its last column; a row of any other kind is a piece of
/// a line that wrapped, or a stale copy left by a redraw.
fn live_rows_problem(rows: &[String], cols: usize) -> Option<String> {
    let stamp = |r: &str| {
        let b = r.as_bytes();
        b.len() > 9 && b[2] == b':' && b[5] == b':' && b[8] == b' '
    };
    let status = |r: &str| r.contains(" left · ");
    let Some(first) = rows.iter().position(|r| stamp(r) || status(r)) else {
        return Some("no live rows".into());
    };
    let live: Vec<&String> = rows[first..].iter().filter(|r| !r.is_empty()).collect();
    let mut in_log = false;
    for r in &live {
        if r.chars().count() > cols {
            return Some(format!("wider than {cols}: {r:?}"));
        }
        let bar = r.starts_with("  ↓ ") || r.starts_with("  ↑ ");
        let more = in_log && r.starts_with(&" ".repeat(9)) && !r.trim().is_empty();
        in_log = stamp(r) || more;
        if !(in_log || status(r) || bar) {
            return Some(format!("stray row {r:?}"));
        }
        // The rate (`/s`) or the ETA (`7s`, `3m`) is a bar's last column.
        let last = r.split_whitespace().last().unwrap_or_default();
        let eta = last
            .strip_suffix(['s', 'm', 'h', 'd'])
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        if bar && !last.ends_with("/s") && !eta {
            return Some(format!("cut short {r:?}"));
        }
    }
    let statuses = live.iter().filter(|r| status(r)).count();
    (statuses != 1).then(|| format!("{statuses} status lines"))
}

/// Waits for a redraw showing `want` to leave a clean screen at `cols`:
/// right after a resize the terminal shows its own rewrapping of the old
/// lines until ftpshare redraws (within its 200 ms tick), but a stale or
/// wrapped line that stays is a failure.
fn settles(tmux: &Tmux, cols: usize, want: &str) {
    let start = Instant::now();
    loop {
        let rows = tmux.rows();
        let problem = match live_rows_problem(&rows, cols) {
            None if rows.iter().any(|r| r.contains(want)) => return,
            None => format!("no {want:?}"),
            Some(p) => p,
        };
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "{cols} columns: {problem}:\n{}",
            rows.join("\n")
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_live_display_fits_60_and_80_columns_and_follows_a_resize() {
    let _serial = one_at_a_time();
    if !need("python3") || !need("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let name = "IMG_20240412_184512_HDR_edited_final_version.jpg";
    std::fs::write(dir.path().join(name), common::pseudo_random(1_200_000, 7)).unwrap();
    // A generated password: a URL too long to sit beside its key at 60.
    let command = format!(
        "{BIN} -w --bind 127.0.0.1 --no-qr --max-rate 100K {}",
        dir.path().display()
    );
    let tmux = Tmux::start(60, 40, &command);
    let screen = tmux.wait_for("lftp ");
    let rows = tmux.rows();
    let url = rows
        .iter()
        .find(|r| r.starts_with("ftp://"))
        .unwrap_or_else(|| panic!("the URL is not alone on a row at 60 columns:\n{screen}"));
    assert!(url.len() > 60 - 13, "{url}");
    assert!(rows.iter().all(|r| r.chars().count() <= 60));
    let port = banner_port(url);
    let password = url_password(url);
    assert!(screen.contains(&format!("curl '{url}'")), "{screen}");

    // Two throttled transfers: a download of known size, an upload of
    // unknown size (a spinner instead of a bar).
    let script = format!(
        "import ftplib, io, time\n\
         f = ftplib.FTP()\nf.connect('127.0.0.1', {port}, timeout=60)\nf.login('share', {password:?})\n\
         if 'up' in __import__('sys').argv:\n    f.storbinary('STOR upload-of-unknown-size.bin', io.BytesIO(bytes(1_000_000)))\n\
         else:\n    f.retrbinary('RETR {name}', lambda b: None)\nf.quit()\n"
    );
    let clients: Vec<Child> = ["down", "up"]
        .iter()
        .map(|arg| {
            Command::new("python3")
                .args(["-c", &script, arg])
                .spawn()
                .expect("python3")
        })
        .collect();
    let both = |s: &str| s.contains("  ↓ ") && s.contains("  ↑ ");
    tmux.wait_until("two transfer lines", both);
    // Names get 12 columns at 60, 20 at 80, and keep their `/`.
    settles(&tmux, 60, "  ↓ /IMG_2…n.jpg ");
    // The banner is drawn again for each width: the URL beside its key
    // at 80, alone on its row at 60.
    tmux.resize(80);
    settles(&tmux, 80, "  ↓ /IMG_20240…rsion.jpg ");
    settles(&tmux, 80, &format!("  URL        {url}"));
    // Narrower again mid-transfer: no stale copy of the status line or
    // the bars may stay behind, even from frames still drawn for 80
    // columns while tmux already showed 60.
    tmux.resize(60);
    settles(&tmux, 60, "  ↓ /IMG_2…n.jpg ");
    assert!(tmux.rows().iter().any(|r| r == url));
    assert!(tmux
        .rows()
        .iter()
        .any(|r| r.starts_with("  ↑ /uploa…e.bin ")));
    for mut c in clients {
        assert!(c.wait().unwrap().success());
    }
    settles(&tmux, 60, "download /IMG_2");
}

/// At 80×24 the banner with its QR code is taller than the screen: what
/// people copy, the URL and the password, must be what stays on it after
/// start-up (the code's top may scroll away), at 60 columns, without the
/// QR code and with TLS's longer banner too.
#[test]
fn the_url_and_password_stay_on_an_80x24_screen() {
    let _serial = one_at_a_time();
    if !need("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    for (cols, extra) in [(80, ""), (60, ""), (80, "--no-qr"), (80, "--tls")] {
        let command = format!("{BIN} --bind 127.0.0.1 {extra} {}", dir.path().display());
        let tmux = Tmux::start(cols, 24, &command);
        tmux.wait_for(" left · ");
        let rows = tmux.rows();
        let shown = rows.join("\n");
        let url = rows
            .iter()
            .find_map(|r| r.split_whitespace().find(|w| w.starts_with("ftp://share:")))
            .unwrap_or_else(|| panic!("{cols} {extra}: no URL on screen:\n{shown}"));
        let password = url_password(url);
        assert!(
            rows.iter()
                .any(|r| r.starts_with("  password   ") && r.contains(password)),
            "{cols} {extra}: no password on screen:\n{shown}"
        );
        assert!(rows.iter().all(|r| r.chars().count() <= usize::from(cols)));
    }
}

impl Drop for Tmux {
    fn drop(&mut self) {
        let _ = self.run(&["kill-server"]);
    }
}

#[test]
fn hostile_names_reach_a_terminal_escaped() {
    let _serial = one_at_a_time();
    if !need("python3") || !need("tmux") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    plant_hostile_names(dir.path());
    let command = format!(
        "{BIN} -w --bind 127.0.0.1 --no-qr --password {PASSWORD} {}",
        dir.path().display()
    );
    let tmux = Tmux::start(100, 40, &command);
    let title = tmux.ok(&["display-message", "-p", "-t", "t", "#{pane_title}"]);
    let screen = tmux.wait_for("URL");
    let line = screen
        .lines()
        .find(|l| l.trim_start().starts_with("URL"))
        .unwrap();
    python(banner_port(line.trim_end()), HOSTILE);
    let screen = tmux.wait_for("delete");
    // The title did not change and the screen was not cleared: the banner
    // is still there above the log lines.
    assert_eq!(
        tmux.ok(&["display-message", "-p", "-t", "t", "#{pane_title}"]),
        title
    );
    assert!(
        screen.contains("ftpshare ") && screen.contains("curl"),
        "{screen}"
    );
    for seen in [
        r"mkdir    /\e]0;PWNED\u{7}/sub",
        r"download /\e[2J.txt",
        r"rename   /\u{9b}2J.txt -> /moved",
    ] {
        assert!(screen.contains(seen), "{seen} not in\n{screen}");
    }
    tmux.ok(&["send-keys", "-t", "t", "C-c"]);
    tmux.wait_for("done:");
}

#[test]
fn error_lines_escape_the_path_they_quote() {
    let _serial = one_at_a_time();
    let out = Command::new(BIN)
        .args(["--bind", "127.0.0.1", "/nonexistent/\x1b[2J\u{9b}"])
        .env_remove("FTPSHARE_PASSWORD")
        .output()
        .expect("run ftpshare");
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(raw_controls(&out.stderr), Vec::<String>::new());
    assert!(stderr.contains(r"\e[2J\u{9b}"), "{stderr}");
}
