//! File names on the wire are UTF-8 (RFC 2640). Names on disk that are not
//! valid UTF-8 are shown with each offending byte as `%XX`, and such an
//! escaped name sent back by a client is turned into the original bytes,
//! so these files can still be listed and fetched.
//!
//! CR and LF are escaped the same way (`%0D`, `%0A`): raw, they would end
//! a line of a listing and let a file name forge entries.
//!
//! A client component is unescaped only when unescaping yields bytes that
//! are not UTF-8 or hold CR/LF, i.e. exactly when it can be the escaped
//! form of an on-disk name. (The one ambiguity: a valid UTF-8 name that itself
//! contains such a sequence, like `%E9`, is taken as the escaped form.)

use std::borrow::Cow;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::{OsStrExt, OsStringExt};

/// A name that is shown as it is: UTF-8 without CR or LF.
pub fn shown_as_is(bytes: &[u8]) -> Option<&str> {
    // Bytes are searched faster than chars, and CR and LF are ASCII.
    if bytes.iter().any(|&b| b == b'\r' || b == b'\n') {
        return None;
    }
    std::str::from_utf8(bytes).ok()
}

/// The longest file name Linux file systems take, in bytes (NAME_MAX).
pub const NAME_MAX: usize = 255;

/// How an on-disk name is shown to clients.
pub fn display_name(name: &OsStr) -> Cow<'_, str> {
    let bytes = name.as_bytes();
    if let Some(s) = shown_as_is(bytes) {
        return Cow::Borrowed(s);
    }
    let mut out = String::with_capacity(bytes.len() + 8);
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => out.push_str("%0D"),
                '\n' => out.push_str("%0A"),
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    Cow::Owned(out)
}

/// The on-disk name for one component of a client path.
pub fn os_name(component: &str) -> OsString {
    if component.contains('%') {
        if let Some(bytes) = unescape(component) {
            // An escaped `/` or NUL would smuggle path structure past
            // VPath's normalisation; no on-disk name contains either.
            let escaped = std::str::from_utf8(&bytes).is_err()
                || bytes.contains(&b'\r')
                || bytes.contains(&b'\n');
            if escaped && !bytes.contains(&b'/') && !bytes.contains(&0) {
                return OsString::from_vec(bytes);
            }
        }
    }
    OsString::from(component)
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

    #[test]
    fn invalid_bytes_round_trip() {
        let raw = OsStr::from_bytes(b"caf\xe9-\xff.txt");
        let shown = display_name(raw);
        assert_eq!(shown, "caf%E9-%FF.txt");
        assert_eq!(os_name(&shown), raw.to_os_string());
        assert_eq!(os_name("%2E%2E%2Fx%FF"), OsString::from("%2E%2E%2Fx%FF"));
    }
}
