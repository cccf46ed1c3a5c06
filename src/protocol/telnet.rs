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
    /// Refusals to send the client.
    refusals: Vec<u8>,
    /// Options refused so far, per verb (DO, WILL): each is refused once,
    /// so a client that repeats itself cannot make us write without end.
    refused: [[u64; 4]; 2],
}

impl LineBuffer {
    pub fn new(max: usize) -> LineBuffer {
        LineBuffer {
            buf: Vec::new(),
            max,
            discarding: false,
            telnet: Telnet::Data,
            refusals: Vec::new(),
            refused: [[0; 4]; 2],
        }
    }

    /// Adds bytes from the connection, Telnet commands taken out: `IAC
    /// IAC` is a literal 255, negotiation (`IAC WILL/WONT/DO/DONT x`) is
    /// refused or ignored, a subnegotiation dropped, and any other `IAC x`
    /// (IP, DM, AYT…; clients send `IAC IP IAC DM` before ABOR) dropped.
    pub fn extend(&mut self, bytes: &[u8]) {
        if self.telnet == Telnet::Data && !bytes.contains(&IAC) {
            self.buf.extend_from_slice(bytes);
            return;
        }
        for &b in bytes {
            self.telnet = match (self.telnet, b) {
                (Telnet::Data, IAC) => Telnet::Command,
                (Telnet::Data, _) => {
                    self.buf.push(b);
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

    /// Answers a request to enable an option with a refusal, once per
    /// option; WONT and DONT ask for what is so already.
    fn refuse(&mut self, verb: u8, option: u8) {
        let (which, answer) = match verb {
            DO => (0, WONT),
            WILL => (1, DONT),
            _ => return,
        };
        let (word, bit) = (usize::from(option / 64), 1u64 << (option % 64));
        if self.refused[which][word] & bit == 0 {
            self.refused[which][word] |= bit;
            self.refusals.extend_from_slice(&[IAC, answer, option]);
        }
    }

    /// The Telnet refusals to send, if any.
    pub fn take_refusals(&mut self) -> Option<Vec<u8>> {
        Some(std::mem::take(&mut self.refusals)).filter(|r| !r.is_empty())
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

    /// Bytes received after the last complete line: used to refuse a
    /// client that pipelines data after AUTH TLS (it would bypass TLS).
    pub fn take_rest(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
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

    /// RFC 1123 §4.1.2.12: negotiation is refused (once per option), and
    /// a subnegotiation is dropped whole, also when split across reads.
    #[test]
    fn option_negotiation_is_refused_and_subnegotiation_dropped() {
        let mut b = LineBuffer::new(100);
        b.extend(b"\xff\xfd\x01\xff\xfb\x03\xff\xfc\x05\xff");
        assert_eq!(
            b.take_refusals(),
            Some(b"\xff\xfc\x01\xff\xfe\x03".to_vec())
        );
        b.extend(b"\xfd\x01\xff\xfa\x18\x01\xff\xff\xff");
        assert_eq!(b.take_refusals(), None);
        b.extend(b"\xf0NOOP\r\n");
        assert_eq!(b.next_line(), Some(Framed::Line(b"NOOP".to_vec())));
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
