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

/// The first line of a multi-line reply that is sent in pieces (a STAT
/// listing of any length): `code-text`.
pub fn begin_multi(code: u16, first: &str, out: &mut Vec<u8>) {
    let first = first.replace(['\r', '\n'], " ");
    out.extend_from_slice(format!("{code}-{first}\r\n").as_bytes());
}

/// Lines between the first and the last of a multi-line reply, from text
/// whose lines end in CRLF (or LF): each is indented by a space, as in
/// [`Reply::encode`]. A lone CR becomes a space, so it cannot end a line.
pub fn body_lines(text: &[u8], out: &mut Vec<u8>) {
    for line in text.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        out.push(b' ');
        out.extend(line.iter().map(|&b| if b == b'\r' { b' ' } else { b }));
        out.extend_from_slice(b"\r\n");
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
    fn a_multi_line_reply_in_pieces_is_the_same_on_the_wire() {
        let whole = Reply::multi(212, "Status:", ["a b".into(), "c".into()], "End");
        let mut expected = Vec::new();
        whole.encode(&mut expected);
        let mut out = Vec::new();
        begin_multi(212, "Status:", &mut out);
        body_lines(b"a b\r\n", &mut out);
        body_lines(b"c\r\n", &mut out);
        Reply::new(212, "End").encode(&mut out);
        assert_eq!(out, expected);
        out.clear();
        body_lines(b"x\ry\r\n", &mut out);
        assert_eq!(out, b" x y\r\n");
    }

    #[test]
    fn embedded_newlines_cannot_end_a_reply() {
        let mut out = Vec::new();
        Reply::new(550, "a\r\n200 fake").encode(&mut out);
        assert_eq!(out, b"550 a  200 fake\r\n");
    }
}
