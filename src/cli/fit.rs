//! Lines that fit the terminal: widths in terminal columns (a CJK
//! character takes two), names shortened in the middle, words and
//! addresses never split.

use std::borrow::Cow;

/// Columns of the terminal on stderr or stdout, if it is one.
pub fn terminal_width(stderr: bool) -> Option<usize> {
    let term = match stderr {
        true => console::Term::stderr(),
        false => console::Term::stdout(),
    };
    term.size_checked().map(|(_, cols)| usize::from(cols))
}

/// Columns `text` takes on a terminal (ANSI styling takes none).
pub fn width(text: &str) -> usize {
    console::measure_text_width(text)
}

/// `text` in at most `max` columns: its start and its end with `…`
/// between (`IMG_2024…0412.jpg`); the end gets the odd column, so that an
/// extension survives. An escape (`\u{202e}`, `\e`) is kept whole or left
/// out, never cut.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        return Cow::Borrowed(text);
    }
    let Some(room) = max.checked_sub(1) else {
        return Cow::Borrowed("");
    };
    let atoms = atoms(text);
    let head = take_width(atoms.iter().copied(), room / 2);
    let mut tail = take_width(atoms.iter().rev().copied(), room - room / 2);
    tail.reverse();
    Cow::Owned(format!("{}…{}", head.concat(), tail.concat()))
}

/// A path in at most `max` columns, keeping what says most: the file
/// name whole, after as much of its folder as fits (`…/2024/IMG_0412.jpg`),
/// or, when the name alone is too long, the name shortened in the middle
/// after its `/` (`/IMG_2…0412.jpg`, `…/IMG_2…412.jpg` in a folder).
pub fn shorten_path(path: &str, max: usize) -> Cow<'_, str> {
    if width(path) <= max {
        return Cow::Borrowed(path);
    }
    let Some((folder, name)) = path.rsplit_once('/') else {
        return shorten(path, max);
    };
    // `…` and the `/` before the name, at least.
    if width(name) + 2 <= max {
        let mut tail = take_width(atoms(path).into_iter().rev(), max - 1);
        tail.reverse();
        return Cow::Owned(format!("…{}", tail.concat()));
    }
    let lead = if folder.is_empty() { "/" } else { "…/" };
    match max.checked_sub(width(lead)) {
        Some(room) if room > 1 => Cow::Owned(format!("{lead}{}", shorten(name, room))),
        _ => shorten(name, max),
    }
}

/// What shortening may not cut: an escape written by `ftpshare::escape`
/// (`\e`, `\t`, `\r`, `\n`, `\u{…}`), or else one character.
fn atoms(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    let mut rest = text;
    while let Some(c) = rest.chars().next() {
        let len = match rest.as_bytes() {
            [b'\\', b'u', b'{', ..] => rest.find('}').map_or(1, |end| end + 1),
            [b'\\', b'e' | b't' | b'r' | b'n', ..] => 2,
            _ => c.len_utf8(),
        };
        let (atom, after) = rest.split_at(len);
        out.push(atom);
        rest = after;
    }
    out
}

/// The first pieces of `atoms` that fit in `max` columns.
fn take_width<'a>(atoms: impl Iterator<Item = &'a str>, max: usize) -> Vec<&'a str> {
    let mut used = 0;
    atoms
        .take_while(|a| {
            used += width(a);
            used <= max
        })
        .collect()
}

/// `text` as lines of at most `max` columns, broken between words; a word
/// wider than `max` gets a line of its own rather than being split.
pub fn wrap(text: &str, max: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && width(&cur) + 1 + width(word) > max {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// A piece of a log line: fixed text, or a name (a path, a user) that
/// may be shortened to make the line fit.
pub enum Piece<T> {
    Text(T),
    Name(T),
}

impl<T: AsRef<str>> Piece<T> {
    pub fn text(&self) -> &str {
        match self {
            Piece::Text(t) | Piece::Name(t) => t.as_ref(),
        }
    }

    /// The same kind of piece around `f` of the text.
    pub fn map<'a, U>(&'a self, f: impl FnOnce(&'a str) -> U) -> Piece<U> {
        match self {
            Piece::Text(t) => Piece::Text(f(t.as_ref())),
            Piece::Name(t) => Piece::Name(f(t.as_ref())),
        }
    }

    pub fn as_deref(&self) -> Piece<&str> {
        self.map(|t| t)
    }
}

/// Names are not shortened below this many columns: a narrower name says
/// too little. Past that point the line is wrapped instead.
const MIN_NAME: usize = 16;

/// The pieces as lines of at most `cols` columns: names shortened in the
/// middle first; on a terminal too narrow even for that, the line broken
/// between words, continuation lines indented by `indent`, each name
/// kept whole as one word (shortened only to a whole line's width). An
/// address or a name is never split across lines.
pub fn fit_line(pieces: &[Piece<&str>], cols: usize, indent: usize) -> Vec<String> {
    match shortened(pieces, cols) {
        Some(line) if width(&line) <= cols => vec![line],
        _ => broken(words(pieces), cols, indent),
    }
}

/// A name is shortened on one line only while it keeps this many columns:
/// past that, the line is broken instead, where the name gets more room
/// (a wider terminal never shows less of a name than a narrower one,
/// whose broken lines give a name less than this).
const LONG_NAME: usize = 32;

/// The pieces as one line, each name shortened to its share of the
/// columns the fixed text leaves; `None` when a name would keep less than
/// [`LONG_NAME`] columns.
fn shortened(pieces: &[Piece<&str>], cols: usize) -> Option<String> {
    let fixed: usize = pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => width(t),
            Piece::Name(_) => 0,
        })
        .sum();
    let names: Vec<usize> = pieces
        .iter()
        .filter_map(|p| match p {
            Piece::Name(n) => Some(width(n)),
            Piece::Text(_) => None,
        })
        .collect();
    let caps = share(&names, cols.saturating_sub(fixed));
    if caps
        .iter()
        .zip(&names)
        .any(|(cap, name)| cap < name && *cap < LONG_NAME)
    {
        return None;
    }
    let mut caps = caps.into_iter();
    let line = pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => Cow::Borrowed(*t),
            Piece::Name(n) => shorten_path(n, caps.next().unwrap_or(MIN_NAME)),
        })
        .collect();
    Some(line)
}

/// Words, each with whether a space goes before it: text splits at its
/// spaces, a name is one word glued to what surrounds it.
fn words<'a>(pieces: &[Piece<&'a str>]) -> Vec<(Piece<&'a str>, bool)> {
    let mut words: Vec<(Piece<&str>, bool)> = Vec::new();
    let mut space = false;
    for p in pieces {
        match p {
            Piece::Text(t) => {
                for (i, w) in text_words(t).into_iter().enumerate() {
                    words.push((Piece::Text(w), space || i > 0));
                    space = false;
                }
                // Text ending in a space: the space goes before the next word.
                if t.ends_with(' ') && words.last().is_some_and(|(w, _)| w.text().is_empty()) {
                    words.pop();
                    space = true;
                }
            }
            Piece::Name(n) => {
                words.push((Piece::Name(*n), space));
                space = false;
            }
        }
    }
    words
}

/// `text` split at its spaces, where a unit stays with the number before
/// it: `976.47 KiB/s` is one word.
fn text_words(text: &str) -> Vec<&str> {
    let mut out: Vec<&str> = Vec::new();
    let (mut start, mut last_start) = (0, 0);
    for word in text.split(' ') {
        let end = start + word.len();
        match out.last_mut() {
            Some(last) if is_unit(word) => *last = &text[last_start..end],
            _ => {
                out.push(&text[start..end]);
                last_start = start;
            }
        }
        start = end + 1;
    }
    out
}

/// Whether `word` is a byte unit (`KiB`, `MiB/s,`) that must stay on the
/// line of the number before it.
fn is_unit(word: &str) -> bool {
    let unit = word.trim_end_matches([',', ')']).trim_end_matches("/s");
    ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"].contains(&unit)
}

/// The words as lines of at most `cols` columns, continuation lines
/// indented by `indent`.
fn broken(words: Vec<(Piece<&str>, bool)>, cols: usize, indent: usize) -> Vec<String> {
    let rest = cols.saturating_sub(indent).max(1);
    let mut lines = Vec::new();
    let mut cur = String::new();
    for (word, space) in words {
        let start = cur.trim().is_empty();
        let room = cols.saturating_sub(width(&cur) + usize::from(space));
        // A name takes what is left of the line if that is enough to
        // say something; anything else moves to the next line whole.
        let text = match word {
            Piece::Name(n) if room >= MIN_NAME => shorten_path(n, room),
            Piece::Name(n) => shorten_path(n, rest),
            Piece::Text(t) => shorten(t, rest),
        };
        // A continuation line starts with its indent, not a space.
        let indented = start && !lines.is_empty();
        if !start && width(&text) > room {
            // A ` · ` separator starts the next line rather than ending this.
            let done = cur.trim_end();
            let carry = indent + 2 + width(&text) <= cols;
            let (done, carry) = match done.strip_suffix(" ·").filter(|_| carry) {
                Some(d) => (d, "· "),
                None => (done, ""),
            };
            lines.push(done.trim_end().to_string());
            cur = format!("{}{carry}", " ".repeat(indent));
        } else if space && !indented {
            cur.push(' ');
        }
        cur.push_str(&text);
    }
    lines.push(cur);
    lines
}

/// Columns for each name out of `room`: names that fit their share keep
/// their width, the longer ones share the rest evenly, none below
/// `MIN_NAME` (or its own width).
fn share(names: &[usize], room: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..names.len()).collect();
    order.sort_by_key(|&i| names[i]);
    let mut caps = names.to_vec();
    let mut left = room;
    for (k, &i) in order.iter().enumerate() {
        let fair = left / (names.len() - k);
        caps[i] = names[i].min(fair.max(MIN_NAME));
        left = left.saturating_sub(caps[i]);
    }
    caps
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_shortened_in_the_middle() {
        assert_eq!(shorten("IMG_20240412_0412.jpg", 17), "IMG_2024…0412.jpg");
        assert_eq!(shorten("short.txt", 17), "short.txt");
        assert_eq!(shorten("abcdef", 1), "…");
        assert_eq!(shorten("abcdef", 0), "");
    }

    #[test]
    fn paths_keep_their_file_name_and_its_slash() {
        let p = "/holidays/2024/IMG_0412.jpg";
        assert_eq!(shorten_path(p, 30), p);
        assert_eq!(shorten_path(p, 19), "…/2024/IMG_0412.jpg");
        assert_eq!(shorten_path(p, 14), "…/IMG_0412.jpg");
        assert_eq!(shorten_path(p, 13), "…/IMG_0…2.jpg");
        assert_eq!(shorten_path(p, 11), "…/IMG_….jpg");
        assert_eq!(shorten_path("/IMG_20240412_0412.jpg", 12), "/IMG_2…2.jpg");
        assert_eq!(shorten_path("no-folder-at-all.txt", 12), "no-fo…ll.txt");
    }

    #[test]
    fn shortening_never_cuts_an_escape() {
        let name = r"/abc\u{202e}defghijklmnop\u{202e}txt.exe";
        for max in 2..40 {
            let s = shorten_path(name, max);
            assert!(width(&s) <= max, "{max}: {s}");
            let cut = s.replace(r"\u{202e}", "");
            assert!(
                !cut.contains(r"\u") && !cut.contains("u{") && !cut.contains("202e"),
                "{max}: {s}"
            );
        }
        assert_eq!(shorten(r"ab\e[2Jcd", 5), "ab…cd");
    }

    #[test]
    fn a_rate_stays_with_its_unit() {
        let pieces = [
            Piece::Text("12:00:00 download "),
            Piece::Name("/a.bin"),
            Piece::Text("  976.47 KiB in 1.0s, 976.47 KiB/s · 127.0.0.1:51544"),
        ];
        for cols in 36..60 {
            let text = fit_line(&pieces, cols, 9).join("\n");
            assert_eq!(text.matches("976.47 KiB").count(), 2, "{cols}:\n{text}");
        }
    }

    /// A wider terminal never shows less of a finished transfer's name.
    #[test]
    fn wider_terminals_show_no_less_of_a_name() {
        let name = "/holidays/2024/IMG_20240412_184512_HDR_edited_final.jpg";
        let shown = |cols| {
            let pieces = [
                Piece::Text("14:42:36 download "),
                Piece::Name(name),
                Piece::Text("  1.20 MiB in 850ms · 127.0.0.1:51544"),
            ];
            let text = fit_line(&pieces, cols, 9).join(" ");
            text.split_whitespace()
                .find(|w| w.ends_with(".jpg"))
                .map_or(0, width)
        };
        for narrow in 40..80 {
            assert!(
                shown(80) >= shown(narrow),
                "80: {} < {narrow}: {}",
                shown(80),
                shown(narrow)
            );
        }
    }

    #[test]
    fn shortening_counts_columns_not_characters() {
        let wide = "写真写真写真写真写真写真.png";
        for max in 3..30 {
            let s = shorten(wide, max);
            assert!(width(&s) <= max, "{max}: {s}");
        }
        assert!(shorten(wide, 12).ends_with(".png"));
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("longword x", 4), ["longword", "x"]);
    }

    fn line(name: &str, cols: usize) -> Vec<String> {
        fit_line(
            &[
                Piece::Text("14:42:36 upload   "),
                Piece::Name(name),
                Piece::Text("  4.12 MiB in 1.9s, 2.17 MiB/s · [fd00:1234:5678:9abc::20]:51544"),
            ],
            cols,
            9,
        )
    }

    #[test]
    fn log_lines_fit_every_width_without_splitting_the_address() {
        let name = "/holidays/2024/IMG_20240412_184512_HDR_edited_final.jpg";
        for cols in [40, 60, 80, 100, 120] {
            let lines = line(name, cols);
            for l in &lines {
                assert!(width(l) <= cols, "{cols}: {l:?}");
            }
            let text = lines.join("\n");
            assert!(
                text.contains("[fd00:1234:5678:9abc::20]:51544"),
                "{cols}: {text}"
            );
            assert!(text.contains(".jpg"), "{cols}: {text}");
        }
        // Wide enough: one line, the name whole.
        assert_eq!(line(name, 200).len(), 1);
        assert!(line(name, 200)[0].contains(name));
        // At 120 columns the name is shortened rather than wrapped.
        assert_eq!(line(name, 120).len(), 1);
        assert!(line(name, 120)[0].contains('…'));
    }

    #[test]
    fn names_with_spaces_are_not_split_across_lines() {
        let pieces = [
            Piece::Text("ftpshare 0.1.0 — sharing "),
            Piece::Name("/home/ann/the long folder name"),
            Piece::Text(" (writable)"),
        ];
        let lines = fit_line(&pieces, 40, 2);
        assert_eq!(
            lines,
            [
                "ftpshare 0.1.0 — sharing",
                "  /home/ann/the long folder name",
                "  (writable)"
            ]
        );
    }

    #[test]
    fn separators_start_continuation_lines() {
        let pieces = [
            Piece::Text("21:35:25 login    "),
            Piece::Name("share"),
            Piece::Text(" · 127.0.0.1:54274"),
        ];
        assert_eq!(
            fit_line(&pieces, 39, 9),
            ["21:35:25 login    share", "         · 127.0.0.1:54274"]
        );
    }

    #[test]
    fn short_names_leave_room_for_long_ones() {
        assert_eq!(share(&[5, 50], 40), [5, 35]);
        assert_eq!(share(&[30, 50], 40), [20, 20]);
        assert_eq!(share(&[30, 50], 10), [16, 16]);
    }
}
