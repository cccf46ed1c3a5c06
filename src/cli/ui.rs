//! Live output for a person: a status line and one progress bar per
//! transfer on a terminal, plain log lines otherwise.

use std::collections::{HashMap, VecDeque};
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ftpshare::{escape, Direction, Event, Progress};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustix::process::getpgrp;
use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, LocalModes, OptionalActions, Termios};

use super::bar::{size, BarLayout};
use super::fit::{fit_line, shorten_path, terminal_width, width, Piece};

/// The bars being drawn, if any, so that `-v` log lines can be printed
/// around them instead of through them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Where `-v` logging goes: stderr, with the bars cleared while a line is
/// written and redrawn after.
#[derive(Default)]
pub struct LogWriter;

impl Write for LogWriter {
    /// A closed stderr loses the line and nothing else: an error here would
    /// reach tracing, whose own report of it would panic the session.
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        let _ = match BARS.get() {
            Some(m) => m.suspend(|| err.write_all(buf)),
            None => err.write_all(buf),
        };
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        let _ = std::io::stderr().flush();
        Ok(())
    }
}

/// Log timestamps in the same local `HH:MM:SS` as the other log lines.
pub struct Clock;

impl tracing_subscriber::fmt::time::FormatTime for Clock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", clock())
    }
}

/// The banner for a given width, drawn again after a resize.
pub type Banner<'a> = Box<dyn Fn(usize) -> String + Send + 'a>;

/// How many of the latest log lines a redraw can bring back.
const RECENT_LINES: usize = 200;

pub struct Ui<'a> {
    /// Bars only on a terminal, and never with -q.
    multi: Option<MultiProgress>,
    /// The banner above the log lines on the same terminal, if any: with
    /// it, a resize redraws the whole screen.
    banner: Option<Banner<'a>>,
    /// The latest log lines, escaped, to be fitted again on a redraw.
    recent: VecDeque<Vec<Piece<String>>>,
    _no_echo: Option<NoEcho>,
    status: Option<ProgressBar>,
    bars: HashMap<u64, Bar>,
    /// The width the bars were laid out for.
    cols: usize,
    to_stderr: bool,
    quiet: bool,
    deadline: Option<Instant>,
    clients: usize,
    /// Transfers started and not yet finished, by id (a download refused
    /// before it started finishes without having started).
    running: std::collections::HashSet<u64>,
    stopping: bool,
    bytes_in: u64,
    bytes_out: u64,
}

impl<'a> Ui<'a> {
    /// `bars: false` keeps to plain log lines even on a terminal (fixture
    /// mode, where the terminal belongs to the command). `banner` is what
    /// was printed above on the same stream, if anything.
    pub fn new(
        to_stderr: bool,
        quiet: bool,
        bars: bool,
        deadline: Option<Instant>,
        banner: Option<Banner<'a>>,
    ) -> Ui<'a> {
        let terminal = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let (multi, status) = if bars && terminal && !quiet {
            let multi = MultiProgress::with_draw_target(draw_target(to_stderr));
            let status = multi.add(ProgressBar::new_spinner());
            status.set_style(
                // `wide_msg`: cut to the width at the moment of drawing, so
                // that even a resize between two ticks cannot make it wrap.
                ProgressStyle::with_template("{spinner} {wide_msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            // No steady tick: every draw happens in `tick` or `log`, after
            // a width change has been seen (see `follow_width`).
            let _ = BARS.set(multi.clone());
            (Some(multi), Some(status))
        } else {
            (None, None)
        };
        let no_echo = multi.as_ref().and_then(|_| NoEcho::new());
        let mut ui = Ui {
            banner: banner.filter(|_| multi.is_some()),
            recent: VecDeque::new(),
            multi,
            _no_echo: no_echo,
            status,
            bars: HashMap::new(),
            cols: 0,
            to_stderr,
            quiet,
            deadline,
            clients: 0,
            running: Default::default(),
            stopping: false,
            bytes_in: 0,
            bytes_out: 0,
        };
        ui.cols = ui.columns();
        ui.tick();
        ui
    }

    /// Prints a log line (above the bars when there are bars).
    pub fn log(&mut self, msg: &str) {
        self.log_pieces(&[Piece::Text(msg)]);
    }

    /// Prints a warning; `message` may hold names, and is escaped.
    pub fn warn(&mut self, message: &str) {
        self.log_pieces(&[Piece::Text("warning  "), Piece::Name(message)]);
    }

    /// Prints a log line made of fixed text and names. Every piece is
    /// escaped: names, error messages and the user come from clients. On
    /// a terminal the line is fitted to its width, names shortened first.
    fn log_pieces(&mut self, pieces: &[Piece<&str>]) {
        if self.quiet {
            return;
        }
        self.follow_width();
        let stamp = format!("{} ", clock());
        let escaped: Vec<_> = pieces.iter().map(|p| p.map(escape)).collect();
        let mut all = vec![Piece::Text(stamp.as_str())];
        all.extend(escaped.iter().map(|p| p.as_deref()));
        match &self.multi {
            Some(m) => {
                let cols = self.cols.saturating_sub(1);
                let _ = m.println(fit_line(&all, cols, stamp.len()).join("\n"));
                if self.recent.len() == RECENT_LINES {
                    self.recent.pop_front();
                }
                self.recent
                    .push_back(all.iter().map(|p| p.map(str::to_string)).collect());
            }
            None => {
                let line: String = all.iter().map(|p| p.text()).collect();
                out_line(self.to_stderr, &line);
            }
        }
    }

    /// A line that matters even with `-q` (what a second Ctrl-C would do):
    /// a log line, or with `-q` a plain line on stderr.
    pub fn notice(&mut self, msg: &str) {
        match self.quiet {
            true => stderr_line(&format!("ftpshare: {}", ftpshare::escape(msg))),
            false => self.log(msg),
        }
    }

    pub fn on_event(&mut self, e: &Event) {
        self.follow_width();
        match e {
            Event::Connected { .. } => self.clients += 1,
            Event::Disconnected { .. } => self.clients = self.clients.saturating_sub(1),
            Event::Refused { peer, reason } => self.log(&format!(
                "refused  {peer}: {} (421; at most one line per address a minute)",
                reason.as_str()
            )),
            Event::Login {
                peer,
                user,
                anonymous,
                client,
            } => self.log_login(*peer, user, *anonymous, client.as_deref()),
            Event::LoginFailed { peer, user } => {
                let user = format!("\"{user}\"");
                // Wrong, or any password from a banned address.
                self.log_named("refused  password for ", &user, *peer);
            }
            Event::TransferStarted {
                id,
                direction,
                path,
                size,
                progress,
                ..
            } => self.transfer_started(*id, *direction, path, *size, progress),
            Event::TransferFinished {
                id,
                peer,
                direction,
                path,
                bytes,
                duration,
                error,
                ..
            } => {
                self.transfer_finished(*id, *direction, *bytes);
                let rest = outcome(*bytes, *duration, error.as_deref(), *peer);
                self.log_transfer(*direction, path, &rest);
            }
            Event::Warning { message } => self.warn(message),
            Event::Mkdir { peer, path } => self.log_named("mkdir    ", path, *peer),
            Event::Delete { peer, path, .. } => self.log_named("delete   ", path, *peer),
            Event::Rename { peer, from, to } => {
                let peer = format!(" · {peer}");
                self.log_pieces(&[
                    Piece::Text("rename   "),
                    Piece::Name(from),
                    Piece::Text(" -> "),
                    Piece::Name(to),
                    Piece::Text(&peer),
                ]);
            }
        }
        self.tick();
    }

    /// `login    USER using CLIENT (anonymous) · peer`: the user and the
    /// client's own name (CLNT, clipped) are names a client chose.
    fn log_login(
        &mut self,
        peer: std::net::SocketAddr,
        user: &str,
        anonymous: bool,
        client: Option<&str>,
    ) {
        let anon = if anonymous { " (anonymous)" } else { "" };
        let peer = format!("{anon} · {peer}");
        let client = client.map(|c| clip(c, CLIENT_TEXT_MAX));
        let mut pieces = vec![Piece::Text("login    "), Piece::Name(user)];
        if let Some(c) = &client {
            pieces.extend([Piece::Text(" using "), Piece::Name(c)]);
        }
        pieces.push(Piece::Text(&peer));
        self.log_pieces(&pieces);
    }

    /// Counts the transfer as running and, with bars, gives it one.
    fn transfer_started(
        &mut self,
        id: u64,
        direction: Direction,
        path: &str,
        size: Option<u64>,
        progress: &Progress,
    ) {
        self.running.insert(id);
        let Some(m) = &self.multi else {
            return;
        };
        let bar = m.add(match size {
            Some(n) => ProgressBar::new(n),
            None => ProgressBar::no_length(),
        });
        let bar = Bar {
            bar,
            name: escape(path).into_owned(),
            progress: progress.clone(),
            direction,
            sized: size.is_some(),
        };
        bar.lay_out(BarLayout::for_width(self.cols));
        self.bars.insert(id, bar);
    }

    /// Removes the transfer's bar and adds its bytes to the totals.
    fn transfer_finished(&mut self, id: u64, direction: Direction, bytes: u64) {
        self.running.remove(&id);
        if let Some(b) = self.bars.remove(&id) {
            b.bar.finish_and_clear();
        }
        match direction {
            Direction::Download => self.bytes_out = self.bytes_out.saturating_add(bytes),
            Direction::Upload => self.bytes_in = self.bytes_in.saturating_add(bytes),
        }
    }

    /// `download PATH  REST` or `upload   PATH  REST`, as a log line.
    fn log_transfer(&mut self, direction: Direction, path: &str, rest: &str) {
        let verb = match direction {
            Direction::Download => "download ",
            Direction::Upload => "upload   ",
        };
        self.log_pieces(&[Piece::Text(verb), Piece::Name(path), Piece::Text(rest)]);
    }

    /// `verb name · peer`, as a log line.
    fn log_named(&mut self, verb: &str, name: &str, peer: std::net::SocketAddr) {
        let peer = format!(" · {peer}");
        self.log_pieces(&[Piece::Text(verb), Piece::Name(name), Piece::Text(&peer)]);
    }

    /// Refreshes the status line and the bars from the live counters, and
    /// lays them out again when the terminal's width changed.
    pub fn tick(&mut self) {
        self.follow_width();
        for b in self.bars.values() {
            b.bar.set_position(b.progress.load(Ordering::Relaxed));
        }
        if let Some(status) = &self.status {
            status.set_message(self.status_text());
            status.tick();
        }
    }

    /// The status line's text for the current width.
    fn status_text(&self) -> String {
        let (mut live_in, mut live_out) = (0, 0);
        for b in self.bars.values() {
            let n = b.progress.load(Ordering::Relaxed);
            match b.direction {
                Direction::Download => live_out += n,
                Direction::Upload => live_in += n,
            }
        }
        let left = match self.deadline {
            _ if self.stopping => "stopping".to_string(),
            Some(d) => {
                let secs = d.saturating_duration_since(Instant::now()).as_secs();
                if secs >= 86_400 {
                    format!(
                        "{}d {}:{:02}:{:02} left",
                        secs / 86_400,
                        secs / 3600 % 24,
                        secs / 60 % 60,
                        secs % 60
                    )
                } else if secs >= 3600 {
                    format!(
                        "{}:{:02}:{:02} left",
                        secs / 3600,
                        secs / 60 % 60,
                        secs % 60
                    )
                } else {
                    format!("{}:{:02} left", secs / 60, secs % 60)
                }
            }
            None => "no time limit".into(),
        };
        let line = StatusLine {
            left,
            clients: self.clients,
            out: self.bytes_out + live_out,
            r#in: self.bytes_in + live_in,
            stopping: self.stopping,
        };
        // The spinner and its space take two columns, and one stays spare.
        line.fit(self.cols.saturating_sub(1 + 2))
    }

    /// Lays the bars and the status line out again when the terminal's
    /// width changed. Runs before anything else is drawn, so that nothing
    /// is ever drawn wider than the terminal.
    fn follow_width(&mut self) {
        // Off a terminal there is no width to follow, and asking would
        // cost a system call per event.
        let Some(m) = self.multi.clone() else {
            return;
        };
        let cols = self.columns();
        if cols == self.cols {
            return;
        }
        let old = std::mem::replace(&mut self.cols, cols);
        let layout = BarLayout::for_width(cols);
        if cols > old && self.banner.is_none() {
            for b in self.bars.values() {
                b.lay_out(layout);
            }
            return;
        }
        // With drawing held, clear what the old width left and draw afresh.
        m.set_draw_target(ProgressDrawTarget::hidden());
        for b in self.bars.values() {
            b.lay_out(layout);
        }
        if let Some(status) = &self.status {
            status.set_message(self.status_text());
        }
        match &self.banner {
            Some(banner) => self.redraw(banner),
            None => self.clear_block(old),
        }
        m.set_draw_target(draw_target(self.to_stderr));
    }

    /// Clears the screen and draws it again for the new width: the banner,
    /// then as many of the latest log lines as fit above the bars.
    /// Nothing less is reliable: a terminal rewraps its rows its own way
    /// when it narrows (tmux reflows, others cut), and until the process
    /// learns the new size (tmux tells it up to a quarter second late)
    /// frames laid out for the old width keep landing on the new one, each
    /// pushing a copy of the status line up into the log.
    fn redraw(&self, banner: &Banner<'_>) {
        let term = self.term();
        // As main printed it: the banner, and a line break after it.
        let top = banner(self.cols);
        let live = 1 + self.bars.len();
        let room = usize::from(term.size().0).saturating_sub(top.split('\n').count() + live);
        let lines: Vec<String> = self
            .recent
            .iter()
            .flat_map(|line| {
                let pieces: Vec<_> = line.iter().map(Piece::as_deref).collect();
                let indent = line.first().map_or(0, |stamp| width(stamp.text()));
                fit_line(&pieces, self.cols.saturating_sub(1), indent)
            })
            .collect();
        let _ = term.clear_screen();
        let _ = term.write_line(&top);
        for line in &lines[lines.len().saturating_sub(room)..] {
            let _ = term.write_line(line);
        }
    }

    /// Without a banner to draw from, clears just the rows the bars and
    /// the status line take now. indicatif pads each line to the full
    /// width and lets the terminal wrap to the next, so most terminals
    /// (tmux, VTE, kitty, iTerm2) rewrap the whole block into more rows
    /// when it narrows, and indicatif, moving up one row per line, would
    /// leave the rest behind as stale copies.
    fn clear_block(&self, old: usize) {
        let rows = ((1 + self.bars.len()) * old).div_ceil(self.cols.max(1));
        let term = self.term();
        let _ = term.move_cursor_up(rows.saturating_sub(1));
        let _ = term.write_str("\r");
        let _ = term.clear_to_end_of_screen();
    }

    /// The run is ending; the status line says so.
    pub fn stopping(&mut self) {
        self.stopping = true;
        self.tick();
    }

    /// Columns of the terminal the bars are drawn on.
    fn columns(&self) -> usize {
        terminal_width(self.to_stderr).unwrap_or(80)
    }

    fn term(&self) -> console::Term {
        match self.to_stderr {
            true => console::Term::stderr(),
            false => console::Term::stdout(),
        }
    }

    /// Transfers started and not yet finished.
    pub fn running_transfers(&self) -> usize {
        self.running.len()
    }

    /// The closing line. `transfers` is the server's own count: events can
    /// be dropped when the display falls behind, so the UI's would not do.
    pub fn finish(&mut self, transfers: u64) {
        for (_, b) in self.bars.drain() {
            b.bar.finish_and_clear();
        }
        if let Some(s) = &self.status {
            s.finish_and_clear();
        }
        let s = if transfers == 1 { "" } else { "s" };
        self.log(&format!(
            "done: {transfers} transfer{s}, ↓ {} ↑ {}",
            HumanBytes(self.bytes_out),
            HumanBytes(self.bytes_in)
        ));
    }
}

fn draw_target(to_stderr: bool) -> ProgressDrawTarget {
    match to_stderr {
        true => ProgressDrawTarget::stderr(),
        false => ProgressDrawTarget::stdout(),
    }
}

/// Keeps keys typed into the terminal from being echoed while the bars
/// are drawn. indicatif pads every line to the terminal's full width and
/// lets the terminal wrap to the next line, so anything echoed, such as
/// the ^C that stops the server, wraps once more and the next redraw
/// starts a line too low, stranding a copy of the status line. The
/// previous mode comes back on drop.
struct NoEcho {
    saved: Termios,
}

impl NoEcho {
    fn new() -> Option<NoEcho> {
        if !std::io::stdin().is_terminal() || !foreground() {
            return None;
        }
        let saved = tcgetattr(std::io::stdin()).ok()?;
        let mut quiet = saved.clone();
        quiet.local_modes -= LocalModes::ECHO | LocalModes::ECHOCTL;
        tcsetattr(std::io::stdin(), OptionalActions::Now, &quiet).ok()?;
        Some(NoEcho { saved })
    }
}

/// Whether this process owns the terminal: changing its mode from the
/// background (`ftpshare &`) would stop the process with SIGTTOU.
fn foreground() -> bool {
    tcgetpgrp(std::io::stdin()).is_ok_and(|group| group == getpgrp())
}

impl Drop for NoEcho {
    fn drop(&mut self) {
        // From the background the shell owns the terminal; it restores our
        // mode itself when the job comes back with `fg`.
        if !foreground() {
            return;
        }
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &self.saved);
    }
}

/// A running transfer's bar and what it is drawn from.
struct Bar {
    bar: ProgressBar,
    /// The escaped path, shortened to fit when laid out.
    name: String,
    progress: Progress,
    direction: Direction,
    sized: bool,
}

impl Bar {
    fn lay_out(&self, layout: BarLayout) {
        let arrow = match self.direction {
            Direction::Download => "↓",
            Direction::Upload => "↑",
        };
        self.bar.set_style(layout.style(self.sized));
        self.bar
            .set_prefix(format!("{arrow} {}", shorten_path(&self.name, layout.name)));
    }
}

/// What the status line says, fitted to the width.
struct StatusLine {
    left: String,
    clients: usize,
    out: u64,
    r#in: u64,
    stopping: bool,
}

impl StatusLine {
    /// The fullest form that fits in `cols`: with the Ctrl-C hint, then
    /// without it, then without the client count; at worst cut short.
    fn fit(&self, cols: usize) -> String {
        let hint = if self.stopping {
            "Ctrl-C again: stop now"
        } else {
            "Ctrl-C: stop"
        };
        let clients = match self.clients {
            1 => "1 client".to_string(),
            n => format!("{n} clients"),
        };
        let bytes = format!("↓ {} ↑ {}", size(self.out), size(self.r#in));
        let left = &self.left;
        let forms = [
            format!("{left} · {clients} · {bytes} · {hint}"),
            format!("{left} · {clients} · {bytes}"),
            format!("{left} · {bytes}"),
        ];
        let last = forms[2].clone();
        forms
            .into_iter()
            .find(|f| width(f) <= cols)
            .unwrap_or_else(|| console::truncate_str(&last, cols, "…").into_owned())
    }
}

/// What a finished transfer's log line says after its path: size, time
/// and rate, or how far it got and why it failed; then the peer.
fn outcome(
    bytes: u64,
    duration: Duration,
    error: Option<&str>,
    peer: std::net::SocketAddr,
) -> String {
    let secs = duration.as_secs_f64();
    let size = HumanBytes(bytes);
    let took = seconds(duration);
    match error {
        None => {
            // A rate over a few milliseconds means nothing.
            let rate = if secs >= 0.2 {
                format!(", {}/s", HumanBytes((bytes as f64 / secs) as u64))
            } else {
                String::new()
            };
            format!("  {size} in {took}{rate} · {peer}")
        }
        Some(e) => format!("  FAILED after {size}, {took}: {e} · {peer}"),
    }
}

/// `850ms`, `4.2s`, `3m 5s`.
fn seconds(d: Duration) -> String {
    let ms = d.as_millis();
    match ms {
        0..1000 => format!("{ms}ms"),
        1000..60_000 => format!("{:.1}s", d.as_secs_f64()),
        _ => format!("{}m {}s", ms / 60_000, ms / 1000 % 60),
    }
}

/// Longest client-chosen text (CLNT) shown, in characters.
pub const CLIENT_TEXT_MAX: usize = 64;

/// Text a client chose, cut at `max` characters so it cannot flood a log
/// line (escaping happens where lines are printed).
pub fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// The local wall-clock time as `HH:MM:SS`.
pub fn clock() -> String {
    clock_at(std::time::SystemTime::now())
}

/// `HH:MM:SS` in local time (UTC if the time zone is unknown).
pub fn clock_at(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let mut offset = 0i64;
    if let Ok(stamp) = libc::time_t::try_from(secs) {
        // SAFETY: localtime_r only writes the tm it is given.
        let mut tm: libc::tm = unsafe { std::mem::zeroed() };
        if !unsafe { libc::localtime_r(&stamp, &mut tm) }.is_null() {
            offset = tm.tm_gmtoff;
        }
    }
    let local = i64::try_from(secs)
        .unwrap_or(0)
        .saturating_add(offset)
        .rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        local / 3600,
        local / 60 % 60,
        local % 60
    )
}

/// One line on stderr. Unlike `eprintln!`, a closed or broken stderr (a
/// script that stopped reading) costs the line, not the server: printing
/// must never end a run that clients depend on.
pub fn stderr_line(line: &str) {
    out_line(true, line);
}

thread_local! {
    /// Lines for stdout and stderr while [`held`] runs.
    static HELD: std::cell::RefCell<Option<[Vec<u8>; 2]>> = const { std::cell::RefCell::new(None) };
}

/// Runs `f`, writing the lines it prints when it returns (or panics): one
/// write per stream for a burst of lines instead of one per line.
pub fn held<R>(f: impl FnOnce() -> R) -> R {
    struct Release;
    impl Drop for Release {
        fn drop(&mut self) {
            if let Some([out, err]) = HELD.with_borrow_mut(Option::take) {
                write_out(false, &out);
                write_out(true, &err);
            }
        }
    }
    HELD.with_borrow_mut(|h| *h = Some([Vec::new(), Vec::new()]));
    let _release = Release;
    f()
}

/// One line on stderr or, flushed, on stdout (or held, see [`held`]);
/// errors ignored like [`stderr_line`]'s.
pub fn out_line(to_stderr: bool, line: &str) {
    let held = HELD.with_borrow_mut(|h| match h {
        Some(bufs) => {
            let buf = &mut bufs[usize::from(to_stderr)];
            buf.extend_from_slice(line.as_bytes());
            buf.push(b'\n');
            true
        }
        None => false,
    });
    if !held {
        write_out(to_stderr, format!("{line}\n").as_bytes());
    }
}

fn write_out(to_stderr: bool, bytes: &[u8]) {
    if bytes.is_empty() {
        return;
    }
    let _ = match to_stderr {
        true => std::io::stderr().lock().write_all(bytes),
        false => {
            let mut out = std::io::stdout().lock();
            out.write_all(bytes).and_then(|()| out.flush())
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(Duration::from_millis(850)), "850ms");
        assert_eq!(seconds(Duration::from_millis(4250)), "4.2s");
        assert_eq!(seconds(Duration::from_secs(185)), "3m 5s");
    }

    #[test]
    fn client_text_is_clipped() {
        assert_eq!(clip("lftp/4.9", 64), "lftp/4.9");
        assert_eq!(clip("ab€def", 3), "ab€…");
    }

    #[test]
    fn the_status_line_fits_every_width() {
        let line = StatusLine {
            left: "59:12 left".into(),
            clients: 12,
            out: 1_048_000,
            r#in: 1_048_000_000,
            stopping: false,
        };
        for cols in [40, 60, 80, 100, 120] {
            // The spinner, its space and a spare column.
            let room = cols - 3;
            let text = line.fit(room);
            assert!(width(&text) <= room, "{cols}: {text}");
            assert!(text.starts_with("59:12 left · "), "{cols}: {text}");
            assert!(text.contains("↓ 1023 KiB ↑ 999 MiB"), "{cols}: {text}");
        }
        assert!(line.fit(77).ends_with("Ctrl-C: stop"));
        assert!(!line.fit(57).contains("Ctrl-C"));
        assert!(!line.fit(37).contains("clients"));
        assert!(width(&line.fit(10)) <= 10);
    }
}
