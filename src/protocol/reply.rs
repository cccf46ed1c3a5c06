//! FTP replies and their wire format (RFC 959 §4.2), in one place.

use std::fmt::Write as _;

/// A reply: a code and one or more lines of text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub code: u16,
    pub lines: Vec<String>,
}

impl Reply {
    pub fn new(code: u16, text: impl Into<String>) -> Reply {
        Reply {
            code,
            lines: vec![text.into()],
        }
    }

    /// A multi-line reply: the first and last lines carry the code, the
    /// ones between are indented by a space so no line can look like an end.
    pub fn multi(
        code: u16,
        first: impl Into<String>,
        body: impl IntoIterator<Item = String>,
        last: impl Into<String>,
    ) -> Reply {
        let mut lines = vec![first.into()];
        lines.extend(body);
        lines.push(last.into());
        Reply { code, lines }
    }

    /// Appends the wire form (CRLF line endings) to `out`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        let mut s = String::new();
        let n = self.lines.len();
        for (i, line) in self.lines.iter().enumerate() {
            // CR or LF inside a line would let a file name end the reply early.
            let line = line.replace(['\r', '\n'], " ");
            if i + 1 == n {
                let _ = write!(s, "{} {}\r\n", self.code, line);
            } else if i == 0 {
                let _ = write!(s, "{}-{}\r\n", self.code, line);
            } else {
                let _ = write!(s, " {}\r\n", line);
            }
        }
        out.extend_from_slice(s.as_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_and_multi_line() {
        let mut out = Vec::new();
        Reply::new(200, "OK").encode(&mut out);
        assert_eq!(out, b"200 OK\r\n");
        out.clear();
        Reply::multi(211, "Features:", ["SIZE".to_string()], "End").encode(&mut out);
        assert_eq!(out, b"211-Features:\r\n SIZE\r\n211 End\r\n");
    }

    #[test]
    fn embedded_newlines_cannot_end_a_reply() {
        let mut out = Vec::new();
        Reply::new(550, "a\r\n200 fake").encode(&mut out);
        assert_eq!(out, b"550 a  200 fake\r\n");
    }
}
