//! Live output for a person: a status line and one progress bar per
//! transfer on a terminal, plain log lines otherwise.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ftpshare::{Direction, Event, Progress};
use indicatif::{
    HumanBytes, HumanDuration, MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle,
};

pub struct Ui {
    /// Bars only on a terminal, and never with -q.
    multi: Option<MultiProgress>,
    status: Option<ProgressBar>,
    bars: HashMap<u64, (ProgressBar, Progress)>,
    to_stderr: bool,
    quiet: bool,
    deadline: Option<Instant>,
    clients: usize,
    running: usize,
    bytes_in: u64,
    bytes_out: u64,
}

impl Ui {
    pub fn new(to_stderr: bool, quiet: bool, deadline: Option<Instant>) -> Ui {
        let terminal = if to_stderr {
            std::io::stderr().is_terminal()
        } else {
            std::io::stdout().is_terminal()
        };
        let (multi, status) = if terminal && !quiet {
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
            (Some(multi), Some(status))
        } else {
            (None, None)
        };
        let mut ui = Ui {
            multi,
            status,
            bars: HashMap::new(),
            to_stderr,
            quiet,
            deadline,
            clients: 0,
            running: 0,
            bytes_in: 0,
            bytes_out: 0,
        };
        ui.tick();
        ui
    }

    /// Prints a log line (above the bars when there are bars).
    pub fn log(&self, msg: &str) {
        if self.quiet {
            return;
        }
        let stamp = clock();
        let line = format!("{stamp} {msg}");
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
                self.log(&format!("login    {who} from {peer}"));
            }
            Event::LoginFailed { peer, user } => {
                self.log(&format!("refused  wrong password for {user:?} from {peer}"))
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
                    let template = if size.is_some() {
                        "  {prefix} {wide_bar:.cyan/blue} {bytes}/{total_bytes} {binary_bytes_per_sec} {eta}"
                    } else {
                        "  {prefix} {spinner} {bytes} {binary_bytes_per_sec}"
                    };
                    if let Ok(style) = ProgressStyle::with_template(template) {
                        bar.set_style(style.progress_chars("█▉▊▋▌▍▎▏ "));
                    }
                    bar.set_prefix(format!("{arrow} {}", short(path, 30)));
                    self.bars.insert(*id, (bar, progress.clone()));
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
                if let Some((bar, _)) = self.bars.remove(id) {
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
                let rate = HumanBytes((*bytes as f64 / duration.as_secs_f64().max(1e-3)) as u64);
                let outcome = match error {
                    None => String::new(),
                    Some(e) => format!(" — FAILED: {e}"),
                };
                self.log(&format!(
                    "{verb} {path} {} in {} ({rate}/s) by {peer}{outcome}",
                    HumanBytes(*bytes),
                    HumanDuration(*duration),
                ));
            }
            Event::Mkdir { peer, path } => self.log(&format!("mkdir    {path} by {peer}")),
            Event::Delete { peer, path, .. } => self.log(&format!("delete   {path} by {peer}")),
            Event::Rename { peer, from, to } => {
                self.log(&format!("rename   {from} -> {to} by {peer}"))
            }
        }
        self.tick();
    }

    /// Refreshes the status line and the bars from the live counters.
    pub fn tick(&mut self) {
        let mut live_in = 0;
        let mut live_out = 0;
        for (bar, progress) in self.bars.values() {
            let n = progress.load(Ordering::Relaxed);
            bar.set_position(n);
            if bar.prefix().starts_with('↓') {
                live_out += n;
            } else {
                live_in += n;
            }
        }
        let Some(status) = &self.status else { return };
        let left = match self.deadline {
            Some(d) => {
                let secs = d.saturating_duration_since(Instant::now()).as_secs();
                if secs >= 3600 {
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
        status.set_message(format!(
            "{left} · {clients} · ↓ {} ↑ {}      Ctrl-C to stop",
            HumanBytes(self.bytes_out + live_out),
            HumanBytes(self.bytes_in + live_in)
        ));
    }

    /// Transfers started and not yet finished.
    pub fn running_transfers(&self) -> usize {
        self.running
    }

    pub fn finish(&mut self) {
        for (_, (bar, _)) in self.bars.drain() {
            bar.finish_and_clear();
        }
        if let Some(s) = &self.status {
            s.finish_and_clear();
        }
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
