//! Shell patterns in listings (`NLST *.jpg`), matched as a shell does.

use std::ffi::CString;
use std::sync::OnceLock;

/// A shell pattern: `*`, `?`, `[...]` (negated by `!` or `^`, with
/// classes such as `[[:digit:]]`), and `\` taking the next character as
/// it is. Matched by fnmatch(3), the C library's own shell matching, so
/// an unclosed `[` is an ordinary character, as in a shell.
pub struct Pattern(CString);

impl Pattern {
    /// `name`, if it has a wildcard.
    pub fn of(name: &str) -> Option<Pattern> {
        if !name.contains(['*', '?', '[']) {
            return None;
        }
        CString::new(name).ok().map(Pattern)
    }

    /// Whether `name` matches; a leading dot only matches a dot written
    /// as such (`FNM_PERIOD`). `buf` is scratch space for the name.
    pub(super) fn matches(&self, name: &str, buf: &mut Vec<u8>) -> bool {
        buf.clear();
        buf.extend_from_slice(name.as_bytes());
        buf.push(0);
        // SAFETY: both strings end in NUL and outlive the call; names hold
        // no NUL before it.
        unsafe { libc::fnmatch(self.0.as_ptr(), buf.as_ptr().cast(), libc::FNM_PERIOD) == 0 }
    }
}

/// fnmatch(3) reads characters by the thread's locale: under C.UTF-8 `?`
/// and `[é]` take one character of a UTF-8 name, not one byte. Entered
/// for as long as this lives, on this thread only; where the C library
/// has no such locale, patterns go by bytes.
pub(super) struct Utf8Locale(libc::locale_t);

impl Utf8Locale {
    pub(super) fn enter() -> Option<Utf8Locale> {
        // Made once, kept for the life of the process (as a number: the
        // handle is a pointer, which a static cannot hold).
        static UTF8: OnceLock<usize> = OnceLock::new();
        let utf8 = *UTF8.get_or_init(|| {
            // SAFETY: a valid locale name and no base locale to modify.
            let made = unsafe {
                libc::newlocale(
                    libc::LC_CTYPE_MASK,
                    c"C.UTF-8".as_ptr(),
                    std::ptr::null_mut(),
                )
            };
            made as usize
        });
        if utf8 == 0 {
            return None;
        }
        // SAFETY: a locale made by newlocale and never freed.
        let previous = unsafe { libc::uselocale(utf8 as libc::locale_t) };
        Some(Utf8Locale(previous))
    }
}

impl Drop for Utf8Locale {
    fn drop(&mut self) {
        // SAFETY: the thread's locale before `enter`, still valid.
        unsafe { libc::uselocale(self.0) };
    }
}
