//! File names on the wire are UTF-8 (RFC 2640). Names on disk that are not
//! valid UTF-8 are shown with each offending byte as `%XX`, and such an
//! escaped name sent back by a client is turned into the original bytes,
//! so these files can still be listed and fetched.
//!
//! CR and LF are escaped the same way (`%0D`, `%0A`): raw, they would end
//! a line of a listing and let a file name forge entries.
//!
//! A name shown escaped has every `%` escaped too (`%25`), and a UTF-8 name
//! that reads like another's escaped form (`100%FF.txt`) is shown escaped,
//! so no two names look alike and every shown name leads back to its file.
//! A client component is unescaped only when it is exactly such an escaped
//! form; `50%.txt` or `caf%C3%A9.pdf` are names as they are.

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A name that is shown as it is: UTF-8 without CR or LF, and not the
/// escaped form of another name (`100%FF.txt` is shown `100%25FF.txt`,
/// since `100%FF.txt` is how the name with the byte 0xFF is shown).
fn shown_as_is(bytes: &[u8]) -> Option<&str> {
    // Bytes are searched faster than chars, and CR and LF are ASCII.
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    let s = std::str::from_utf8(bytes).ok()?;
    unescaped(s).is_none().then_some(s)
}

/// The longest file name Linux file systems take, in bytes (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// How an on-disk name is shown to clients: as it is where it can be
/// (see [`shown_as_is`]), otherwise in its escaped form, which
/// [`os_name`] turns back into exactly this name. Borrowed exactly when
/// shown as it is.
pub fn display_name(name: &OsStr) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    match shown_as_is(bytes) {
        Some(s) => Cow::Borrowed(s),
        None => Cow::Owned(escaped(bytes)),
    }
}

/// A name with `%`, CR, LF and the bytes that are not UTF-8 written as
/// `%XX` (upper-case hex), everything else as it is.
fn escaped(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '%' => out.push_str("%25"),
                '\r' => out.push_str("%0D"),
                '\n' => out.push_str("%0A"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The name `shown` is the escaped form of, if it is one: its `%XX`
/// decoded, when that name is shown escaped and escaping it gives back
/// exactly `shown`. Anything else with a `%` in it (`50%.txt`, `50%25.txt`,
/// `caf%C3%A9.pdf`, `%2e%2e`) is a name as it is. (The recursion through
/// [`shown_as_is`] works on ever shorter names.)
fn unescaped(shown: &str) -> Option<Vec<u8>> {
    // Bytes are searched faster than chars.
    if !shown.as_bytes().contains(&b'%') {
        return None;
    }
    let bytes = unescape(shown)?;
    let form = bytes != shown.as_bytes() && escaped(&bytes) == shown;
    (form && shown_as_is(&bytes).is_none()).then_some(bytes)
}

/// The on-disk name for one component of a client path.
pub fn os_name(component: &str) -> OsString {
    match unescaped(component) {
        // An escaped `/` or NUL would smuggle path structure past VPath's
        // normalisation; no on-disk name contains either.
        Some(bytes) if !bytes.contains(&b'/') && !bytes.contains(&0) => OsString::from_vec(bytes),
        _ => OsString::from(component),
    }
}

/// Whether a client may give a new file or folder this name (one
/// component as the client sends it): not when the name on disk would
/// hold a control character. Such a name, made through its escaped form
/// (`%0A`), would break the line-by-line tools and the terminal of
/// whoever owns the folder. Bytes that are not UTF-8 are allowed: a
/// folder of Latin-1 names stays manageable.
pub fn creatable(component: &str) -> bool {
    // Bytes that are not UTF-8 are never ASCII, so only the UTF-8 parts
    // can hold a control character.
    os_name(component)
        .as_bytes()
        .utf8_chunks()
        .all(|part| !part.valid().chars().any(char::is_control))
}

fn unescape(s: &str) -> Option<Vec<u8>> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            let hex = std::str::from_utf8(&b[i + 1..i + 3]).ok()?;
            if let Ok(v) = u8::from_str_radix(hex, 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn utf8_names_are_shown_as_they_are() {
        assert_eq!(display_name(OsStr::new("héllo 100%.txt")), "héllo 100%.txt");
        assert_eq!(os_name("héllo 100%.txt"), OsString::from("héllo 100%.txt"));
        assert_eq!(os_name("%C3%A9"), OsString::from("%C3%A9"));
    }

    #[test]
    fn line_breaks_in_names_are_escaped_and_round_trip() {
        let raw = OsStr::new("evil\r\n226 fake.txt");
        let shown = display_name(raw);
        assert_eq!(shown, "evil%0D%0A226 fake.txt");
        assert_eq!(os_name(&shown), raw.to_os_string());
    }

    /// A UTF-8 name that looks like another's escaped form is shown
    /// escaped itself: the two stay apart, and each leads back to itself.
    #[test]
    fn names_that_look_escaped_are_escaped() {
        let cases: [(&[u8], &str); 8] = [
            (b"100%FF.txt", "100%25FF.txt"),
            (b"100\xff.txt", "100%FF.txt"),
            (b"na%EFve.txt", "na%25EFve.txt"),
            (b"a%25b", "a%25b"),
            (b"50%.txt", "50%.txt"),
            (b"x\r%FF", "x%0D%25FF"),
            (b"my%20file.pdf", "my%20file.pdf"),
            (b"caf%C3%A9.pdf", "caf%C3%A9.pdf"),
        ];
        for (raw, shown) in cases {
            let raw = OsStr::from_bytes(raw);
            assert_eq!(display_name(raw), shown, "{raw:?}");
            assert_eq!(os_name(shown), raw.to_os_string(), "{shown}");
        }
        // Only the exact escaped form of a name shown escaped is unescaped:
        // lower-case hex, or the form of a name shown as it is, is a name.
        for literal in ["100%ff.txt", "50%25.txt", "file%2520name.pdf"] {
            assert_eq!(os_name(literal), OsString::from(literal));
        }
    }

    #[test]
    fn new_names_hold_no_control_characters() {
        // `%1B` and `%7F` are not escaped forms (only CR, LF, `%` and
        // bytes that are not UTF-8 are shown escaped): names as they are.
        let ok = [
            "a.txt",
            "caf\u{e9}",
            "50%.txt",
            "new%FE",
            "100%25FF.txt",
            "-rf",
            "x%1B",
            "%7F",
        ];
        for ok in ok {
            assert!(creatable(ok), "{ok}");
        }
        for bad in [
            "p%0Aq",
            "p%0Dq",
            "tab\there",
            "del\u{7f}",
            "c1\u{9b}x",
            "esc\u{1b}[2J",
            "\u{9b}x%FF",
        ] {
            assert!(!creatable(bad), "{bad:?}");
        }
    }

    /// Every name, whatever its bytes, comes back from what is shown.
    #[test]
    fn every_name_round_trips() {
        let alphabet: &[u8] = b"%0DAF9a\r\n\xff\xc3\xa9.";
        let mut state = 0x2545_f491_4f6c_dd1du64;
        let mut len = state % 9;
        let mut next = || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let mut raw = Vec::new();
            for _ in 0..len {
                raw.push(alphabet[(next() % alphabet.len() as u64) as usize]);
            }
            len = next() % 9;
            let raw = OsStr::from_bytes(&raw);
            let shown = display_name(raw);
            assert!(!shown.contains(['\r', '\n']), "{shown:?}");
            assert_eq!(
                os_name(&shown),
                raw.to_os_string(),
                "{raw:?} shown {shown:?}"
            );
        }
    }

    #[test]
    fn invalid_bytes_round_trip() {
        let raw = OsStr::from_bytes(b"caf\xe9-\xff.txt");
        let shown = display_name(raw);
        assert_eq!(shown, "caf%E9-%FF.txt");
        assert_eq!(os_name(&shown), raw.to_os_string());
        assert_eq!(os_name("%2E%2E%2Fx%FF"), OsString::from("%2E%2E%2Fx%FF"));
    }
}
