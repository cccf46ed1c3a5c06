//! One transfer's line on a terminal: `↓ name  ████▌    2.03 MiB/4.40 MiB
//! 2.20 MiB/s   1s`, laid out for the terminal's width. Every column has
//! a width it never exceeds, and what does not fit is left out (the total
//! first, then the rate), so that the line never wraps: a wrapped line
//! leaves copies of itself behind when it is redrawn.

use std::fmt::Write;
use std::time::Duration;

use indicatif::{ProgressState, ProgressStyle};

/// Widest `size()`: `1023 KiB`.
const SIZE: usize = 8;
/// Widest rate: `1023 KiB/s`.
const RATE: usize = SIZE + 2;
/// Widest `eta()`: `59m`, `>99d`.
const ETA: usize = 4;
const MIN_NAME: usize = 12;
const MAX_NAME: usize = 40;
const MIN_BAR: usize = 8;
const MAX_BAR: usize = 40;

/// Column widths for a transfer's line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BarLayout {
    /// Columns for the name (the arrow and its space come on top).
    pub name: usize,
    bar: usize,
    total: bool,
    rate: bool,
}

impl BarLayout {
    /// The richest layout that fits in `cols` columns, one column spare.
    pub fn for_width(cols: usize) -> BarLayout {
        let room = cols.saturating_sub(1);
        let options = [(true, true), (false, true), (false, false)];
        let fits =
            |&(total, rate): &(bool, bool)| Self::fixed(total, rate) + MIN_NAME + MIN_BAR <= room;
        let (total, rate) = options
            .iter()
            .copied()
            .find(|o| fits(o))
            .unwrap_or((false, false));
        let free = room.saturating_sub(Self::fixed(total, rate));
        let name = (free / 2).clamp(MIN_NAME, MAX_NAME).min(free);
        let bar = (free - name).clamp(1, MAX_BAR);
        BarLayout {
            name,
            bar,
            total,
            rate,
        }
    }

    /// Columns besides the name and the bar: indent 2, arrow and space 2,
    /// the gaps around the bar 2, bytes done, ` ETA`, and `/total` and
    /// ` rate` when shown.
    fn fixed(total: bool, rate: bool) -> usize {
        2 + 2
            + 2
            + SIZE
            + 1
            + ETA
            + usize::from(total) * (1 + SIZE)
            + usize::from(rate) * (1 + RATE)
    }

    /// The widest the line can be.
    #[cfg(test)]
    fn max_width(&self) -> usize {
        Self::fixed(self.total, self.rate) + self.name + self.bar
    }

    /// The style for a transfer of known (`sized`) or unknown length. A
    /// transfer of unknown length has a spinner for a bar and no ETA; its
    /// byte count stays under the other bars' byte counts.
    pub fn style(&self, sized: bool) -> ProgressStyle {
        let prefix = self.name + 2;
        let mut t = format!("  {{prefix:{prefix}!}} ");
        if sized {
            let _ = write!(t, "{{bar:{}.cyan/blue}} {{done:>{SIZE}!}}", self.bar);
            if self.total {
                let _ = write!(t, "/{{total:<{SIZE}!}}");
            }
        } else {
            let pad = " ".repeat(self.bar - 1);
            let _ = write!(t, "{{spinner}}{pad} {{done:>{SIZE}!}}");
            if self.total {
                t.push_str(&" ".repeat(1 + SIZE));
            }
        }
        if self.rate {
            let _ = write!(t, " {{rate:>{RATE}!}}");
        }
        if sized {
            let _ = write!(t, " {{eta:>{ETA}!}}");
        }
        ProgressStyle::with_template(&t)
            .unwrap_or_else(|_| ProgressStyle::default_bar())
            .with_key("done", |s: &ProgressState, w: &mut dyn Write| {
                let _ = w.write_str(&size(s.pos()));
            })
            .with_key("total", |s: &ProgressState, w: &mut dyn Write| {
                let _ = w.write_str(&s.len().map(size).unwrap_or_default());
            })
            .with_key("rate", |s: &ProgressState, w: &mut dyn Write| {
                let _ = write!(w, "{}/s", size(s.per_sec() as u64));
            })
            .with_key("eta", |s: &ProgressState, w: &mut dyn Write| {
                let _ = w.write_str(&eta(s.eta()));
            })
            .progress_chars("█▉▊▋▌▍▎▏ ")
    }
}

/// A byte count in at most 8 columns: `999 B`, `9.99 KiB`, `99.9 MiB`,
/// `1023 GiB`.
pub fn size(n: u64) -> String {
    const UNITS: [&str; 7] = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"];
    let mut v = n as f64;
    let mut unit = 0;
    while v >= 1024.0 && unit + 1 < UNITS.len() {
        v /= 1024.0;
        unit += 1;
    }
    if unit == 0 {
        return format!("{n} B");
    }
    // Three or four digits, whichever way the rounding goes.
    let text = [2, 1, 0]
        .iter()
        .map(|&p| format!("{v:.p$}"))
        .find(|t| t.len() <= 4)
        .unwrap_or_else(|| format!("{v:.0}"));
    format!("{text} {}", UNITS[unit])
}

/// Time left in at most 4 columns: `42s`, `12m`, `3h`, `2d`, `>99d`.
fn eta(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0 => String::new(),
        1..100 => format!("{s}s"),
        100..6000 => format!("{}m", s / 60),
        6000..360_000 => format!("{}h", s / 3600),
        360_000..8_640_000 => format!("{}d", s / 86_400),
        _ => ">99d".into(),
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use indicatif::{ProgressBar, ProgressDrawTarget, TermLike};

    use super::*;
    use crate::cli::fit::{shorten_path, width};

    /// A terminal `cols` wide that records what is drawn on it.
    #[derive(Debug, Clone)]
    struct Screen {
        cols: u16,
        drawn: Arc<Mutex<String>>,
    }

    impl TermLike for Screen {
        fn width(&self) -> u16 {
            self.cols
        }
        fn move_cursor_up(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_down(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_right(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn move_cursor_left(&self, _: usize) -> std::io::Result<()> {
            Ok(())
        }
        fn write_line(&self, s: &str) -> std::io::Result<()> {
            self.write_str(&format!("{s}\n"))
        }
        fn write_str(&self, s: &str) -> std::io::Result<()> {
            self.drawn.lock().unwrap().push_str(s);
            Ok(())
        }
        /// indicatif clears the old lines before each draw: keep the last.
        fn clear_line(&self) -> std::io::Result<()> {
            self.drawn.lock().unwrap().clear();
            Ok(())
        }
        fn flush(&self) -> std::io::Result<()> {
            Ok(())
        }
    }

    /// A bar line as indicatif draws it at `cols` columns, styling and
    /// the padding to the edge taken off.
    fn drawn(cols: u16, name: &str, len: Option<u64>, pos: u64) -> String {
        let screen = Screen {
            cols,
            drawn: Arc::default(),
        };
        let target = ProgressDrawTarget::term_like(Box::new(screen.clone()));
        let bar = ProgressBar::with_draw_target(len, target);
        let layout = BarLayout::for_width(cols.into());
        bar.set_style(layout.style(len.is_some()));
        bar.set_prefix(format!("↓ {}", shorten_path(name, layout.name)));
        bar.set_position(pos);
        bar.tick();
        let text = screen.drawn.lock().unwrap().clone();
        console::strip_ansi_codes(&text).trim_end().to_string()
    }

    #[test]
    fn drawn_lines_never_reach_the_edge() {
        let names = [
            "/holidays/2024/IMG_20240412_184512_HDR_edited_final.jpg",
            "/写真/二〇二四年/長い長い長い長い名前のファイル.png",
            "/a",
        ];
        for cols in [40u16, 60, 80, 100, 120] {
            for name in names {
                for (len, pos) in [
                    (Some(1_048_500), 1_048_000),
                    (Some(u64::MAX), 0),
                    (None, 1_048_000),
                ] {
                    let line = drawn(cols, name, len, pos);
                    assert!(width(&line) < cols.into(), "{cols}: {line:?}");
                    assert!(line.contains("1023 KiB") || pos == 0, "{cols}: {line:?}");
                }
            }
            let line = drawn(cols, names[0], Some(4_613_734), 2_128_609);
            // The name keeps its `/` (here after `…`: folders left out).
            assert!(line.contains("/IMG_"), "{cols}: {line}");
            assert!(
                line.contains(".jpg") && line.contains("2.03 MiB"),
                "{cols}: {line}"
            );
            assert_eq!(line.contains("/4.40 MiB"), cols >= 60, "{cols}: {line}");
        }
    }

    #[test]
    fn sizes_never_pass_their_column() {
        let mut n = 1u64;
        while n < u64::MAX / 3 {
            for m in [n - 1, n, n + n / 2, n * 2 - 1] {
                assert!(size(m).len() <= SIZE, "{m}: {}", size(m));
            }
            n *= 2;
        }
        assert!(size(u64::MAX).len() <= SIZE);
        assert_eq!(size(0), "0 B");
        assert_eq!(size(1023), "1023 B");
        assert_eq!(size(1536), "1.50 KiB");
        assert_eq!(size(4_613_734), "4.40 MiB");
        assert_eq!(size(1024 * 1024 - 1), "1024 KiB");
    }

    #[test]
    fn etas_never_pass_their_column() {
        for s in (0..10_000_000).step_by(7) {
            assert!(eta(Duration::from_secs(s)).chars().count() <= ETA, "{s}");
        }
        assert!(eta(Duration::from_secs(u64::MAX)).len() <= ETA);
        assert_eq!(eta(Duration::from_secs(5)), "5s");
        assert_eq!(eta(Duration::from_secs(185)), "3m");
    }

    #[test]
    fn layouts_leave_a_spare_column_at_every_width() {
        for cols in 40..=200 {
            let l = BarLayout::for_width(cols);
            assert!(l.max_width() < cols, "{cols}: {l:?}");
            assert!(l.name >= MIN_NAME && l.bar >= MIN_BAR, "{cols}: {l:?}");
        }
        let at = |cols| {
            let l = BarLayout::for_width(cols);
            (l.total, l.rate)
        };
        assert_eq!(at(40), (false, false));
        assert_eq!(at(50), (false, false));
        assert_eq!(at(55), (false, true));
        assert_eq!(at(60), (true, true));
        assert_eq!(BarLayout::for_width(120).name, MAX_NAME);
    }
}
