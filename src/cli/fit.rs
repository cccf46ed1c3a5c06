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

fn char_width(c: char) -> usize {
    width(c.encode_utf8(&mut [0; 4]))
}

/// `text` in at most `max` columns: its start and its end with `…`
/// between (`IMG_2024…0412.jpg`); the end gets the odd column, so that an
/// extension survives.
pub fn shorten(text: &str, max: usize) -> Cow<'_, str> {
    if width(text) <= max {
        return Cow::Borrowed(text);
    }
    let Some(room) = max.checked_sub(1) else {
        return Cow::Borrowed("");
    };
    let head = take_width(text.chars(), room / 2);
    let mut tail = take_width(text.chars().rev(), room - room / 2);
    tail.reverse();
    let mut out: String = head.into_iter().collect();
    out.push('…');
    out.extend(tail);
    Cow::Owned(out)
}

/// A path in at most `max` columns, keeping what says most: the file
/// name whole, after as much of its folder as fits (`…/2024/IMG_0412.jpg`),
/// or, when the name alone is too long, the name shortened in the middle.
pub fn shorten_path(path: &str, max: usize) -> Cow<'_, str> {
    let name = path.rsplit('/').next().unwrap_or(path);
    if width(path) <= max {
        Cow::Borrowed(path)
    } else if width(name) < max {
        let mut tail = take_width(path.chars().rev(), max - 1);
        tail.reverse();
        Cow::Owned(std::iter::once('…').chain(tail).collect())
    } else {
        shorten(name, max)
    }
}

/// The first characters of `chars` that fit in `max` columns.
fn take_width(chars: impl Iterator<Item = char>, max: usize) -> Vec<char> {
    let mut used = 0;
    chars
        .take_while(|&c| {
            used += char_width(c);
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
    let line = shortened(pieces, cols);
    if width(&line) <= cols {
        return vec![line];
    }
    broken(words(pieces), cols, indent)
}

/// The pieces as one line, each name shortened to its share of the
/// columns the fixed text leaves.
fn shortened(pieces: &[Piece<&str>], cols: usize) -> String {
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
    let mut caps = share(&names, cols.saturating_sub(fixed)).into_iter();
    pieces
        .iter()
        .map(|p| match p {
            Piece::Text(t) => Cow::Borrowed(*t),
            Piece::Name(n) => shorten_path(n, caps.next().unwrap_or(MIN_NAME)),
        })
        .collect()
}

/// Words, each with whether a space goes before it: text splits at its
/// spaces, a name is one word glued to what surrounds it.
fn words<'a>(pieces: &[Piece<&'a str>]) -> Vec<(Piece<&'a str>, bool)> {
    let mut words: Vec<(Piece<&str>, bool)> = Vec::new();
    let mut space = false;
    for p in pieces {
        match p {
            Piece::Text(t) => {
                for (i, w) in t.split(' ').enumerate() {
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
    fn paths_keep_their_file_name() {
        let p = "/holidays/2024/IMG_0412.jpg";
        assert_eq!(shorten_path(p, 30), p);
        assert_eq!(shorten_path(p, 19), "…/2024/IMG_0412.jpg");
        assert_eq!(shorten_path(p, 13), "…IMG_0412.jpg");
        assert_eq!(shorten_path(p, 12), "IMG_0412.jpg");
        assert_eq!(shorten_path(p, 11), "IMG_0…2.jpg");
        assert_eq!(shorten_path("no-folder-at-all.txt", 12), "no-fo…ll.txt");
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
