//! Fuzzes the control-connection input path: Telnet line framing, then the
//! command parser. The two modules are pure and self-contained, so they are
//! compiled straight from the server's sources instead of being exported.
//!
//! cargo +nightly fuzz run parse_command -- -max_total_time=300

#![no_main]

use libfuzzer_sys::fuzz_target;

#[allow(dead_code)]
#[path = "../../src/protocol/command.rs"]
mod command;
#[allow(dead_code)]
#[path = "../../src/protocol/telnet.rs"]
mod telnet;

const MAX_LINE: usize = 64;

fuzz_target!(|data: &[u8]| {
    let _ = command::parse(data);
    let mut lines = telnet::LineBuffer::new(MAX_LINE);
    // Feed in two pieces so lines also cross read boundaries.
    let (a, b) = data.split_at(data.len() / 2);
    for piece in [a, b] {
        lines.extend(piece);
        while let Some(framed) = lines.next_line() {
            if let telnet::Framed::Line(line) = framed {
                assert!(line.len() <= MAX_LINE);
                assert!(!line.contains(&b'\n'));
                let _ = command::parse(&line);
            }
        }
    }
});
