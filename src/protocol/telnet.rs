//! Control-connection line framing: Telnet controls are removed (RFC 959
//! says the control connection follows the Telnet protocol) and lines end
//! at LF, with an optional CR before it.

const IAC: u8 = 255;
const DONT: u8 = 254;
const WILL: u8 = 251;

/// What [`LineBuffer::next_line`] found in the buffered bytes.
#[derive(Debug, PartialEq, Eq)]
pub enum Framed {
    Line(Vec<u8>),
    /// The line exceeded the limit; it was discarded up to its end.
    TooLong,
}

/// Accumulates bytes from the control connection and yields whole lines.
#[derive(Debug)]
pub struct LineBuffer {
    buf: Vec<u8>,
    max: usize,
    /// Set while discarding the rest of an over-long line.
    discarding: bool,
}

impl LineBuffer {
    pub fn new(max: usize) -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            max,
            discarding: false,
        }
    }

    pub fn extend(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Takes the next complete line out of the buffer, if there is one.
    pub fn next_line(&mut self) -> Option<Framed> {
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let raw: Vec<u8> = self.buf.drain(..=end).collect();
                    if std::mem::take(&mut self.discarding) {
                        return Some(Framed::TooLong);
                    }
                    let mut line = strip_telnet(&raw[..end]);
                    if line.last() == Some(&b'\r') {
                        line.pop();
                    }
                    if line.len() > self.max {
                        return Some(Framed::TooLong);
                    }
                    return Some(Framed::Line(line));
                }
                None if self.buf.len() > self.max + 2 => {
                    // Keep memory bounded: drop what we have and remember to
                    // drop the rest of this line too.
                    self.buf.clear();
                    self.discarding = true;
                    continue;
                }
                None => return None,
            }
        }
    }

    #[cfg(test)]
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// Bytes received after the last complete line: used to refuse a
    /// client that pipelines data after AUTH TLS (it would bypass TLS).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }
}

/// Removes Telnet command sequences: `IAC IAC` is a literal 255, option
/// negotiation (`IAC WILL/WONT/DO/DONT x`) is three bytes, any other
/// `IAC x` (IP, DM, AYT, ...) two. Clients send `IAC IP IAC DM` before ABOR.
fn strip_telnet(raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] != IAC {
            out.push(raw[i]);
            i += 1;
            continue;
        }
        match raw.get(i + 1) {
            Some(&IAC) => {
                out.push(IAC);
                i += 2;
            }
            Some(&c) if (WILL..=DONT).contains(&c) => i += 3,
            Some(_) => i += 2,
            None => i += 1,
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lines(input: &[u8], max: usize) -> Vec<Framed> {
        let mut b = LineBuffer::new(max);
        b.extend(input);
        std::iter::from_fn(|| b.next_line()).collect()
    }

    #[test]
    fn crlf_and_bare_lf_end_lines() {
        assert_eq!(
            lines(b"NOOP\r\nPWD\nSYST\r\npartial", 100),
            vec![
                Framed::Line(b"NOOP".to_vec()),
                Framed::Line(b"PWD".to_vec()),
                Framed::Line(b"SYST".to_vec())
            ]
        );
    }

    #[test]
    fn telnet_interrupt_before_abor_is_removed() {
        assert_eq!(
            lines(b"\xff\xf4\xff\xf2ABOR\r\n", 100),
            vec![Framed::Line(b"ABOR".to_vec())]
        );
        assert_eq!(
            lines(b"\xff\xfb\x01NOOP\r\n", 100),
            vec![Framed::Line(b"NOOP".to_vec())]
        );
        assert_eq!(
            lines(b"a\xff\xffb\n", 100),
            vec![Framed::Line(b"a\xffb".to_vec())]
        );
    }

    #[test]
    fn long_lines_are_discarded_to_their_end_and_memory_stays_bounded() {
        let mut b = LineBuffer::new(8);
        for _ in 0..1000 {
            b.extend(b"xxxxxxxxxxxxxxxxxxxx");
            assert!(b.next_line().is_none());
            assert!(b.buf.len() <= 30);
        }
        b.extend(b"tail\r\nNOOP\r\n");
        assert_eq!(b.next_line(), Some(Framed::TooLong));
        assert_eq!(b.next_line(), Some(Framed::Line(b"NOOP".to_vec())));
    }
}
