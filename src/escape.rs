//! Client text made safe for a terminal or a log.
//!
//! A file name, a user name or a command line comes from the client and
//! may hold bytes a terminal obeys: ESC starts a sequence that can retitle
//! the window, clear the screen or move the cursor; C1 controls such as
//! U+009B do the same on terminals that take 8-bit controls; bidi
//! overrides reorder what follows them, so a log line can read differently
//! from what it says. Every place that prints such text runs it through
//! [`escape`] first.

use std::borrow::Cow;
use std::fmt::Write as _;

/// `text` with every character that could steer a terminal written out as
/// an escape: ESC as `\e`, tab, LF and CR as `\t`, `\n`, `\r`, any other
/// control, bidi or invisible formatting character as `\u{…}`. Text
/// without such characters is borrowed as is. A backslash stays single:
/// the banner shows passwords and commands to copy, which must stay
/// exact, and what matters is that no control reaches the terminal.
///
/// ```
/// assert_eq!(ftpshare::escape("\x1b]0;PWNED\x07"), r"\e]0;PWNED\u{7}");
/// assert_eq!(ftpshare::escape("a\u{9b}b"), r"a\u{9b}b");
/// assert_eq!(ftpshare::escape("photo.jpg"), "photo.jpg");
/// ```
pub fn escape(text: &str) -> Cow<'_, str> {
    if !text.chars().any(steers_terminal) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\x1b' => out.push_str(r"\e"),
            '\t' => out.push_str(r"\t"),
            '\n' => out.push_str(r"\n"),
            '\r' => out.push_str(r"\r"),
            c if steers_terminal(c) => {
                let _ = write!(out, "\\u{{{:x}}}", u32::from(c));
            }
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

/// Whether a terminal could act on `c` instead of showing it: C0, DEL and
/// C1 (the controls), and the format characters that reorder or hide
/// text. For output with escapes of its own, such as JSON.
pub fn steers_terminal(c: char) -> bool {
    c.is_control() || invisible_format(c)
}

/// Characters a terminal shows as nothing, or as a blank: Unicode's
/// default-ignorable code points (bidi marks, embeddings, overrides and
/// isolates, zero-width characters, the soft hyphen, fillers, variation
/// selectors, tag characters, the byte-order mark…), line and paragraph
/// separators, interlinear annotation marks and the blank braille
/// pattern. Any of them would let one name pass for another in a log.
fn invisible_format(c: char) -> bool {
    matches!(
        u32::from(c),
        0x00AD
            | 0x034F
            | 0x061C
            | 0x115F..=0x1160
            | 0x17B4..=0x17B5
            | 0x180B..=0x180F
            | 0x200B..=0x200F
            | 0x2028..=0x202E
            | 0x2060..=0x206F
            | 0x2800
            | 0x3164
            | 0xFE00..=0xFE0F
            | 0xFEFF
            | 0xFFA0
            | 0xFFF0..=0xFFFB
            | 0x1BCA0..=0x1BCA3
            | 0x1D173..=0x1D17A
            | 0xE0000..=0xE0FFF
    )
}

#[cfg(test)]
mod tests {
    use super::escape;

    #[test]
    fn terminal_controls_are_written_out() {
        assert_eq!(escape("\x1b[2J"), r"\e[2J");
        assert_eq!(escape("a\u{7}b\u{0}c\u{7f}"), r"a\u{7}b\u{0}c\u{7f}");
        assert_eq!(escape("\t\r\n"), r"\t\r\n");
        assert_eq!(escape("\u{9b}31m"), r"\u{9b}31m");
        assert_eq!(escape("\u{85}"), r"\u{85}");
    }

    #[test]
    fn bidi_and_invisible_characters_are_written_out() {
        assert_eq!(escape("abc\u{202e}gpj.exe"), r"abc\u{202e}gpj.exe");
        for c in [
            '\u{200b}',
            '\u{200f}',
            '\u{2066}',
            '\u{2069}',
            '\u{feff}',
            '\u{e0041}',
            '\u{ad}',
            '\u{34f}',
            '\u{115f}',
            '\u{2800}',
            '\u{3164}',
            '\u{fe0f}',
            '\u{1d173}',
            '\u{e0100}',
        ] {
            assert!(escape(&c.to_string()).starts_with(r"\u{"), "{c:?}");
        }
    }

    #[test]
    fn ordinary_text_is_untouched() {
        for s in [
            "IMG_0412.jpg",
            "Übersicht 2024.pdf",
            "写真/猫.png",
            "a b'c\"d",
            "🙂",
            r"C:\dir",
        ] {
            assert!(matches!(escape(s), std::borrow::Cow::Borrowed(_)), "{s}");
        }
    }

    #[test]
    fn output_never_holds_a_control() {
        let all: String = (0u32..0x3000).filter_map(char::from_u32).collect();
        let out = escape(&all);
        assert!(!out.chars().any(|c| c.is_control() || c == '\u{202e}'));
    }
}
