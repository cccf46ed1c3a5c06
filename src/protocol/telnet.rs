//! Control-connection line framing: Telnet controls are removed (RFC 959
//! says the control connection follows the Telnet protocol) and lines end
//! at LF, with an optional CR before it. Option negotiation is refused, as
//! RFC 1123 §4.1.2.12 requires: `DO x` gets `WONT x`, `WILL x` gets `DONT x`.

const IAC: u8 = 255;
const DONT: u8 = 254;
const DO: u8 = 253;
const WONT: u8 = 252;
const WILL: u8 = 251;
const SB: u8 = 250;
const SE: u8 = 240;

/// Where the Telnet decoder stands; kept across reads, since a command
/// may arrive split.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    /// After IAC.
    Command,
    /// After IAC and a negotiation verb: the option comes next.
    Option(u8),
    /// Inside a subnegotiation (IAC SB … IAC SE), which is dropped whole.
    Sub,
    SubCommand,
}

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
    telnet: Telnet,
    /// Bytes received since the last line end, Telnet commands included.
    since_line: usize,
    /// Refusals to send the client, written before more is read, so
    /// they never outgrow what one read brought.
    refusals: Vec<u8>,
}

impl LineBuffer {
    pub fn new(max: usize) -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            max,
            discarding: false,
            telnet: Telnet::Data,
            since_line: 0,
            refusals: Vec::new(),
        }
    }

    /// Adds bytes from the connection, Telnet commands taken out: `IAC
    /// IAC` is a literal 255, negotiation (`IAC WILL/WONT/DO/DONT x`) is
    /// refused or ignored, a subnegotiation dropped, and any other `IAC x`
    /// (IP, DM, AYT…; clients send `IAC IP IAC DM` before ABOR) dropped.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.telnet == Telnet::Data && !bytes.contains(&IAC) {
            self.buf.extend_from_slice(bytes);
            self.since_line = match bytes.iter().rposition(|&b| b == b'\n') {
                Some(end) => bytes.len() - end - 1,
                None => self.since_line.saturating_add(bytes.len()),
            };
            return;
        }
        for &b in bytes {
            self.since_line = self.since_line.saturating_add(1);
            self.telnet = match (self.telnet, b) {
                (Telnet::Data, IAC) => Telnet::Command,
                // After IAC, a byte that is no Telnet command at all (a
                // lone IAC before a line end, say) is data too.
                (Telnet::Data, _) | (Telnet::Command, 0..SE) => {
                    self.buf.push(b);
                    if b == b'\n' {
                        self.since_line = 0;
                    }
                    Telnet::Data
                }
                (Telnet::Command, IAC) => {
                    self.buf.push(IAC);
                    Telnet::Data
                }
                (Telnet::Command, WILL..=DONT) => Telnet::Option(b),
                (Telnet::Command, SB) => Telnet::Sub,
                (Telnet::Command, _) => Telnet::Data,
                (Telnet::Option(verb), option) => {
                    self.refuse(verb, option);
                    Telnet::Data
                }
                (Telnet::Sub, IAC) => Telnet::SubCommand,
                (Telnet::Sub, _) | (Telnet::SubCommand, IAC) => Telnet::Sub,
                (Telnet::SubCommand, SE) => Telnet::Data,
                (Telnet::SubCommand, _) => Telnet::Sub,
            };
        }
    }

    /// Answers a request to enable an option with a refusal, each time
    /// (RFC 1143: the option stays off); WONT and DONT ask for what is so
    /// already, and get nothing.
    fn refuse(&mut self, verb: u8, option: u8) {
        let answer = match verb {
            DO => WONT,
            WILL => DONT,
            _ => return,
        };
        self.refusals.extend_from_slice(&[IAC, answer, option]);
    }

    /// The Telnet refusals still to send.
    pub fn refusals(&self) -> &[u8] {
        &self.refusals
    }

    /// The first `n` bytes of [`refusals`](Self::refusals) were sent.
    pub fn refusals_sent(&mut self, n: usize) {
        self.refusals.drain(..n.min(self.refusals.len()));
    }

    /// Takes the next complete line out of the buffer, if there is one.
    pub fn next_line(&mut self) -> Option<Framed> {
        loop {
            match self.buf.iter().position(|&b| b == b'\n') {
                Some(end) => {
                    let mut line: Vec<u8> = self.buf.drain(..=end).collect();
                    if std::mem::take(&mut self.discarding) {
                        return Some(Framed::TooLong);
                    }
                    line.truncate(end);
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

    /// Whether anything at all came after the last complete line, Telnet
    /// commands included: used to refuse a client that pipelines bytes
    /// after AUTH TLS (plaintext that would act inside the TLS session).
    pub fn has_rest(&self) -> bool {
        !self.buf.is_empty() || self.since_line > 0
    }
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

    /// After a line, any byte that follows counts as more, a Telnet
    /// command too (AUTH TLS must be the last thing sent in the clear).
    #[test]
    fn bytes_after_the_last_line_are_seen_whatever_they_are() {
        for rest in [
            &b""[..],
            b"X",
            b"\xff",
            b"\xff\xfb",
            b"\xff\xfa",
            b"\xff\xfd\x01",
            b"\xff\xf1",
        ] {
            let mut b = LineBuffer::new(100);
            b.extend(b"AUTH TLS\r\n");
            b.extend(rest);
            assert_eq!(b.next_line(), Some(Framed::Line(b"AUTH TLS".to_vec())));
            assert_eq!(b.has_rest(), !rest.is_empty(), "{rest:?}");
        }
    }

    /// RFC 1123 §4.1.2.12: negotiation is refused, and a subnegotiation
    /// is dropped whole, also when split across reads.
    #[test]
    fn option_negotiation_is_refused_and_subnegotiation_dropped() {
        let mut b = LineBuffer::new(100);
        b.extend(b"\xff\xfd\x01\xff\xfb\x03\xff\xfc\x05\xff");
        assert_eq!(b.refusals(), b"\xff\xfc\x01\xff\xfe\x03");
        b.refusals_sent(4);
        assert_eq!(b.refusals(), b"\xfe\x03");
        b.refusals_sent(2);
        b.extend(b"\xfd\x01\xff\xfa\x18\x01\xff\xff\xff");
        assert_eq!(b.refusals(), b"\xff\xfc\x01");
        b.refusals_sent(3);
        b.extend(b"\xf0NOOP\r\n");
        assert_eq!(b.next_line(), Some(Framed::Line(b"NOOP".to_vec())));
        // A lone IAC before a line end does not join two lines.
        b.extend(b"NOOP\xff\nPWD\r\n");
        assert_eq!(b.next_line(), Some(Framed::Line(b"NOOP".to_vec())));
        assert_eq!(b.next_line(), Some(Framed::Line(b"PWD".to_vec())));
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
