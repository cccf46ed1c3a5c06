//! Live output for a person: a status line and one progress bar per
//! transfer on a terminal, plain log lines otherwise.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use ftpshare::{Direction, Event, Progress};
use indicatif::{HumanBytes, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use rustix::process::getpgrp;
use rustix::termios::{tcgetattr, tcgetpgrp, tcsetattr, LocalModes, OptionalActions, Termios};

/// The bars being drawn, if any, so that `-v` log lines can be printed
/// around them instead of through them.
static BARS: OnceLock<MultiProgress> = OnceLock::new();

/// Where `-v` logging goes: stderr, with the bars cleared while a line is
/// written and redrawn after.
#[derive(Default)]
pub struct LogWriter;

impl Write for LogWriter {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut err = std::io::stderr().lock();
        match BARS.get() {
            Some(m) => m.suspend(|| err.write_all(buf))?,
            None => err.write_all(buf)?,
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        std::io::stderr().flush()
    }
}

/// Log timestamps in the same local `HH:MM:SS` as the other log lines.
pub struct Clock;

impl tracing_subscriber::fmt::time::FormatTime for Clock {
    fn format_time(&self, w: &mut tracing_subscriber::fmt::format::Writer<'_>) -> std::fmt::Result {
        write!(w, "{}", clock())
    }
}

pub struct Ui {
    /// Bars only on a terminal, and never with -q.
    multi: Option<MultiProgress>,
    _no_echo: Option<NoEcho>,
    status: Option<ProgressBar>,
    bars: HashMap<u64, (ProgressBar, Progress, Direction)>,
    to_stderr: bool,
    quiet: bool,
    deadline: Option<Instant>,
    clients: usize,
    running: usize,
    transfers: u64,
    stopping: bool,
    bytes_in: u64,
    bytes_out: u64,
}

impl Ui {
    /// `bars: false` keeps to plain log lines even on a terminal (fixture
    /// mode, where the terminal belongs to the command).
    pub fn new(to_stderr: bool, quiet: bool, bars: bool, deadline: Option<Instant>) -> Ui {
        let terminal = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let (multi, status) = if bars && terminal && !quiet {
            let target = if to_stderr {
                ProgressDrawTarget::stderr()
            } else {
                ProgressDrawTarget::stdout()
            };
            let multi = MultiProgress::with_draw_target(target);
            let status = multi.add(ProgressBar::new_spinner());
            status.set_style(
                ProgressStyle::with_template("{spinner} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            status.enable_steady_tick(Duration::from_millis(120));
            let _ = BARS.set(multi.clone());
            (Some(multi), Some(status))
        } else {
            (None, None)
        };
        let no_echo = multi.as_ref().and_then(|_| NoEcho::new());
        let mut ui = Ui {
            multi,
            _no_echo: no_echo,
            status,
            bars: HashMap::new(),
            to_stderr,
            quiet,
            deadline,
            clients: 0,
            running: 0,
            transfers: 0,
            stopping: false,
            bytes_in: 0,
            bytes_out: 0,
        };
        ui.tick();
        ui
    }

    /// Prints a log line (above the bars when there are bars). The whole
    /// line is escaped: it carries names and messages a client chose.
    pub fn log(&self, msg: &str) {
        if self.quiet {
            return;
        }
        let stamp = clock();
        let line = format!("{stamp} {}", ftpshare::escape(msg));
        match &self.multi {
            Some(m) => {
                let _ = m.println(line);
            }
            None if self.to_stderr => eprintln!("{line}"),
            None => {
                let mut out = std::io::stdout().lock();
                let _ = writeln!(out, "{line}");
                let _ = out.flush();
            }
        }
    }

    pub fn on_event(&mut self, e: &Event) {
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
            } => {
                let who = if *anonymous {
                    format!("{user} (anonymous)")
                } else {
                    user.clone()
                };
                self.log(&format!("login    {who} · {peer}"));
            }
            Event::LoginFailed { peer, user } => {
                self.log(&format!("refused  wrong password for \"{user}\" · {peer}"))
            }
            Event::TransferStarted {
                id,
                direction,
                path,
                size,
                progress,
                ..
            } => {
                self.running += 1;
                if let Some(m) = &self.multi {
                    let bar = m.add(match size {
                        Some(n) => ProgressBar::new(*n),
                        None => ProgressBar::no_length(),
                    });
                    let arrow = if *direction == Direction::Download {
                        "↓"
                    } else {
                        "↑"
                    };
                    let layout = BarLayout::for_width(self.columns());
                    if let Ok(style) =
                        ProgressStyle::with_template(&layout.template(size.is_some()))
                    {
                        bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
                    }
                    bar.set_prefix(format!(
                        "{arrow} {}",
                        short(&ftpshare::escape(path), layout.name)
                    ));
                    self.bars.insert(*id, (bar, progress.clone(), *direction));
                }
            }
            Event::TransferFinished {
                id,
                peer,
                direction,
                path,
                bytes,
                duration,
                error,
            } => {
                self.running = self.running.saturating_sub(1);
                if let Some((bar, ..)) = self.bars.remove(id) {
                    bar.finish_and_clear();
                }
                match direction {
                    Direction::Download => self.bytes_out += bytes,
                    Direction::Upload => self.bytes_in += bytes,
                }
                let verb = if *direction == Direction::Download {
                    "download"
                } else {
                    "upload  "
                };
                let secs = duration.as_secs_f64();
                let size = HumanBytes(*bytes);
                let took = seconds(*duration);
                let line = match error {
                    None => {
                        self.transfers += 1;
                        // A rate over a few milliseconds means nothing.
                        let rate = if secs >= 0.2 {
                            format!(", {}/s", HumanBytes((*bytes as f64 / secs) as u64))
                        } else {
                            String::new()
                        };
                        format!("{verb} {path}  {size} in {took}{rate} · {peer}")
                    }
                    Some(e) => {
                        format!("{verb} {path}  FAILED after {size}, {took}: {e} · {peer}")
                    }
                };
                self.log(&line);
            }
            Event::Mkdir { peer, path } => self.log(&format!("mkdir    {path} · {peer}")),
            Event::Delete { peer, path, .. } => self.log(&format!("delete   {path} · {peer}")),
            Event::Rename { peer, from, to } => {
                self.log(&format!("rename   {from} -> {to} · {peer}"))
            }
        }
        self.tick();
    }

    /// Refreshes the status line and the bars from the live counters.
    pub fn tick(&mut self) {
        let mut live_in = 0;
        let mut live_out = 0;
        for (bar, progress, direction) in self.bars.values() {
            let n = progress.load(Ordering::Relaxed);
            bar.set_position(n);
            match direction {
                Direction::Download => live_out += n,
                Direction::Upload => live_in += n,
            }
        }
        let Some(status) = &self.status else { return };
        let left = match self.deadline {
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
        let clients = if self.clients == 1 {
            "1 client".to_string()
        } else {
            format!("{} clients", self.clients)
        };
        let (left, hint) = if self.stopping {
            ("stopping".to_string(), "Ctrl-C again: stop now")
        } else {
            (left, "Ctrl-C: stop")
        };
        let line = format!(
            "{left} · {clients} · ↓ {} ↑ {}",
            HumanBytes(self.bytes_out + live_out),
            HumanBytes(self.bytes_in + live_in),
        );
        // The hint only where it fits: a wrapped status line leaves
        // copies of itself behind on redraw.
        let room = self.columns().saturating_sub(2 + 3 + 1);
        if line.chars().count() + hint.len() <= room {
            status.set_message(format!("{line} · {hint}"));
        } else {
            status.set_message(line);
        }
    }

    /// The run is ending; the status line says so.
    pub fn stopping(&mut self) {
        self.stopping = true;
        self.tick();
    }

    /// Columns of the terminal the bars are drawn on.
    fn columns(&self) -> usize {
        let term = if self.to_stderr {
            console::Term::stderr()
        } else {
            console::Term::stdout()
        };
        term.size_checked().map_or(80, |(_, cols)| cols as usize)
    }

    /// Transfers started and not yet finished.
    pub fn running_transfers(&self) -> usize {
        self.running
    }

    pub fn finish(&mut self) {
        for (_, (bar, ..)) in self.bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(s) = &self.status {
            s.finish_and_clear();
        }
        let s = if self.transfers == 1 { "" } else { "s" };
        self.log(&format!(
            "done: {} transfer{s}, ↓ {} ↑ {}",
            self.transfers,
            HumanBytes(self.bytes_out),
            HumanBytes(self.bytes_in)
        ));
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

/// Column widths for a transfer's bar line.
struct BarLayout {
    name: usize,
    bar: usize,
}

impl BarLayout {
    /// Besides name and bar: indent and arrow (4), bytes/total (19), rate
    /// (12), ETA (5), gaps (3).
    const FIXED: usize = 43;

    fn for_width(cols: usize) -> BarLayout {
        // Never wider than the terminal, or the line wraps in two.
        let room = cols.saturating_sub(Self::FIXED + 1);
        let name = (room / 2).clamp(12, 30);
        let bar = room.saturating_sub(name).clamp(8, 40);
        BarLayout { name, bar }
    }

    fn template(&self, sized: bool) -> String {
        // The prefix is the arrow, a space and the name.
        let prefix = self.name + 2;
        if sized {
            format!(
                "  {{prefix:{prefix}}} {{bar:{}.cyan/blue}} {{bytes:>9}}/{{total_bytes:<9}} {{binary_bytes_per_sec:>12}} {{eta:>4}}",
                self.bar
            )
        } else {
            // Size unknown: a spinner where the bar would be, and the
            // byte count under the other bars' byte counts.
            let pad = " ".repeat(self.bar.saturating_sub(1));
            format!(
                "  {{prefix:{prefix}}} {{spinner}}{pad} {{bytes:>9}}          {{binary_bytes_per_sec:>12}}"
            )
        }
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

fn short(path: &str, max: usize) -> String {
    let n = path.chars().count();
    if n <= max {
        return path.to_string();
    }
    let tail: String = path.chars().skip(n - (max - 1)).collect();
    format!("…{tail}")
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
    let local = (secs as i64 + offset).rem_euclid(86_400);
    format!(
        "{:02}:{:02}:{:02}",
        local / 3600,
        local / 60 % 60,
        local % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bar_lines_leave_a_margin() {
        for cols in [40, 80, 100, 200] {
            let l = BarLayout::for_width(cols);
            let used = BarLayout::FIXED + l.name + l.bar;
            assert!(used < cols || cols < 70, "{cols}: {used}");
        }
        assert_eq!(
            BarLayout::for_width(80).name + BarLayout::for_width(80).bar,
            36
        );
    }

    #[test]
    fn durations_read_well() {
        assert_eq!(seconds(Duration::from_millis(850)), "850ms");
        assert_eq!(seconds(Duration::from_millis(4250)), "4.2s");
        assert_eq!(seconds(Duration::from_secs(185)), "3m 5s");
    }

    #[test]
    fn long_names_keep_their_end() {
        assert_eq!(short("/a/b/c.txt", 30), "/a/b/c.txt");
        assert_eq!(short("/abcdefghij/file.bin", 10), "…/file.bin");
    }
}
