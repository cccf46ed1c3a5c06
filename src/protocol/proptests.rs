//! Property tests of the parser and line framing. A quick run is part of
//! `cargo test`; a long run sets the case count, for example
//! `PROPTEST_CASES=10000000 cargo test --release --lib protocol::proptests`.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use proptest::prelude::*;

use super::command::{parse, Command, DataPort, EpsvArg, ProtLevel, TransferType};
use super::telnet::{Framed, LineBuffer};

proptest! {
    /// Whatever bytes arrive, parsing returns a value and never panics.
    #[test]
    fn parse_never_panics(line in proptest::collection::vec(any::<u8>(), 0..300)) {
        let _ = parse(&line);
    }

    /// Text that starts like a real command (the interesting paths) never
    /// panics either.
    #[test]
    fn parse_never_panics_on_command_like_text(
        verb in verb(),
        arg in "[ -~\u{80}-\u{10FFFF}]{0,40}",
    ) {
        let _ = parse(format!("{verb} {arg}").as_bytes());
        let _ = parse(verb.as_bytes());
    }

    /// Framing arbitrary bytes in arbitrary chunks never panics, never
    /// yields a line over the limit or containing a line end, and keeps the
    /// buffer bounded.
    #[test]
    fn framing_is_bounded(
        chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..40),
        max in 1usize..48,
    ) {
        let mut b = LineBuffer::new(max);
        for chunk in &chunks {
            b.extend(chunk);
            while let Some(f) = b.next_line() {
                if let Framed::Line(l) = f {
                    prop_assert!(l.len() <= max);
                    prop_assert!(!l.contains(&b'\n'));
                }
            }
            prop_assert!(b.buffered() <= max + 2);
        }
    }

    /// Every valid command, written the way a client may write it (any
    /// verb case), parses back to itself.
    #[test]
    fn valid_commands_round_trip((text, cmd) in command()) {
        prop_assert_eq!(parse(text.as_bytes()), Ok(cmd));
    }
}

fn verb() -> impl Strategy<Value = String> {
    prop::sample::select(VERBS.to_vec()).prop_flat_map(random_case)
}

/// Randomly upper/lower-cases each letter.
fn random_case(word: &'static str) -> impl Strategy<Value = String> {
    proptest::collection::vec(any::<bool>(), word.len()).prop_map(move |up| {
        word.chars()
            .zip(up)
            .map(|(c, u)| if u { c } else { c.to_ascii_lowercase() })
            .collect()
    })
}

const VERBS: &[&str] = &[
    "USER", "PASS", "ACCT", "CWD", "XCWD", "CDUP", "XCUP", "SMNT", "REIN", "QUIT", "PORT", "PASV",
    "TYPE", "STRU", "MODE", "RETR", "STOR", "STOU", "APPE", "ALLO", "REST", "RNFR", "RNTO", "ABOR",
    "DELE", "RMD", "XRMD", "MKD", "XMKD", "PWD", "XPWD", "LIST", "NLST", "SITE", "SYST", "STAT",
    "HELP", "NOOP", "FEAT", "OPTS", "EPRT", "EPSV", "SIZE", "MDTM", "MLST", "MLSD", "LANG", "AUTH",
    "PBSZ", "PROT", "CCC", "ADAT", "MIC", "CONF", "ENC",
];

/// A non-empty argument as clients send it: any text without NUL or line ends.
fn arg() -> impl Strategy<Value = String> {
    "[^\u{0}\r\n]{1,40}"
}

/// A path for LIST, NLST and STAT: not starting with a flag or a space.
fn ls_path() -> impl Strategy<Value = String> {
    "[^\u{0}\r\n\t -][^\u{0}\r\n]{0,30}"
        .prop_filter("leading space", |s| !s.starts_with(char::is_whitespace))
}

/// (line, expected command) pairs covering every command form.
fn command() -> impl Strategy<Value = (String, Command)> {
    use Command as C;
    let with = |verb: &'static str, f: fn(String) -> Command| {
        (random_case(verb), arg()).prop_map(move |(v, a)| (format!("{v} {a}"), f(a.clone())))
    };
    let bare = |verb: &'static str, c: Command| random_case(verb).prop_map(move |v| (v, c.clone()));
    let optional = |verb: &'static str, f: fn(Option<String>) -> Command| {
        (random_case(verb), proptest::option::of(arg())).prop_map(move |(v, a)| match a {
            Some(a) => (format!("{v} {a}"), f(Some(a))),
            None => (v, f(None)),
        })
    };
    // `flags_alone`: what flags without a path stand for (STAT lists the
    // current folder then; bare, it gives the server's status).
    let listing = |verb: &'static str,
                   f: fn(Option<String>) -> Command,
                   flags_alone: Option<&'static str>| {
        (
            random_case(verb),
            proptest::option::of(ls_path()),
            prop::sample::select(vec!["", "-l ", "-la ", "-a -l "]),
        )
            .prop_map(move |(v, a, flags)| match a {
                Some(a) => (format!("{v} {flags}{a}"), f(Some(a))),
                None if flags.is_empty() => (v, f(None)),
                None => (
                    format!("{v} {flags}").trim_end().to_string(),
                    f(flags_alone.map(str::to_string)),
                ),
            })
    };
    let v4 = any::<[u8; 4]>().prop_map(Ipv4Addr::from);
    let v6 = any::<[u16; 8]>().prop_map(Ipv6Addr::from);
    prop_oneof![
        with("USER", C::User),
        with("CWD", C::Cwd),
        with("XCWD", C::Cwd),
        with("RETR", C::Retr),
        with("STOR", C::Stor),
        with("APPE", C::Appe),
        with("RNFR", C::Rnfr),
        with("RNTO", C::Rnto),
        with("DELE", C::Dele),
        with("RMD", C::Rmd),
        with("MKD", C::Mkd),
        with("XMKD", C::Mkd),
        with("SIZE", C::Size),
        with("MDTM", C::Mdtm),
        with("OPTS", C::Opts),
        (random_case("PASS"), "[^\u{0}\r\n]{0,40}")
            .prop_map(|(v, a)| (format!("{v} {a}"), C::Pass(a))),
        optional("STOU", C::Stou),
        optional("HELP", C::Help),
        optional("MLST", C::Mlst),
        optional("MLSD", C::Mlsd),
        optional("LANG", C::Lang),
        listing("LIST", C::List, None),
        listing("NLST", C::Nlst, None),
        listing("STAT", C::Stat, Some(".")),
        bare("ACCT", C::Acct),
        bare("CDUP", C::Cdup),
        bare("XCUP", C::Cdup),
        bare("SMNT", C::Smnt),
        bare("REIN", C::Rein),
        bare("QUIT", C::Quit),
        bare("PASV", C::Pasv),
        bare("ALLO", C::Allo(None)),
        bare("ABOR", C::Abor),
        bare("PWD", C::Pwd),
        bare("XPWD", C::Pwd),
        bare("SYST", C::Syst),
        bare("NOOP", C::Noop),
        bare("FEAT", C::Feat),
        bare("CCC", C::Ccc),
        bare("ADAT", C::SecurityMechanism),
        bare("ENC", C::SecurityMechanism),
        (random_case("REST"), any::<u64>()).prop_map(|(v, n)| (format!("{v} {n}"), C::Rest(n))),
        (random_case("PBSZ"), any::<u32>()).prop_map(|(v, n)| (format!("{v} {n}"), C::Pbsz(n))),
        (random_case("ALLO"), any::<u64>())
            .prop_map(|(v, n)| (format!("{v} {n}"), C::Allo(Some(n)))),
        (
            random_case("TYPE"),
            prop::sample::select(vec![
                ("A", TransferType::Ascii),
                ("a n", TransferType::Ascii),
                ("I", TransferType::Image),
                ("L 8", TransferType::Image),
            ])
        )
            .prop_map(|(v, (a, t))| (format!("{v} {a}"), C::Type(t))),
        (random_case("STRU"), prop::sample::select(vec!["F", "f"]))
            .prop_map(|(v, a)| (format!("{v} {a}"), C::Stru)),
        (random_case("MODE"), prop::sample::select(vec!["S", "s"]))
            .prop_map(|(v, a)| (format!("{v} {a}"), C::Mode(super::TransferMode::Stream))),
        (
            random_case("PROT"),
            prop::sample::select(vec![
                ("C", ProtLevel::Clear),
                ("p", ProtLevel::Private),
                ("S", ProtLevel::Unsupported),
                ("E", ProtLevel::Unsupported),
            ])
        )
            .prop_map(|(v, (a, p))| (format!("{v} {a}"), C::Prot(p))),
        (random_case("AUTH"), "[A-Za-z-]{1,8}")
            .prop_map(|(v, a)| (format!("{v} {a}"), C::Auth(a.to_ascii_uppercase()))),
        (random_case("PORT"), v4.clone(), any::<u16>()).prop_map(|(v, ip, port)| {
            let [a, b, c, d] = ip.octets();
            let line = format!("{v} {a},{b},{c},{d},{},{}", port >> 8, port & 0xff);
            (line, C::Port(SocketAddr::new(IpAddr::V4(ip), port)))
        }),
        (
            random_case("EPRT"),
            prop_oneof![v4.prop_map(IpAddr::V4), v6.prop_map(IpAddr::V6)],
            any::<u16>(),
            prop::sample::select(vec!['|', '!', '~'])
        )
            .prop_map(|(v, ip, port, d)| {
                let proto = if ip.is_ipv4() { 1 } else { 2 };
                let line = format!("{v} {d}{proto}{d}{ip}{d}{port}{d}");
                (line, C::Eprt(DataPort::Addr(SocketAddr::new(ip, port))))
            }),
        (
            random_case("EPSV"),
            prop_oneof![
                Just(("".to_string(), EpsvArg::Any)),
                Just((" ALL".to_string(), EpsvArg::All)),
                Just((" all".to_string(), EpsvArg::All)),
                Just((" 1".to_string(), EpsvArg::Ipv4)),
                Just((" 2".to_string(), EpsvArg::Ipv6)),
                (3u32..).prop_map(|n| (format!(" {n}"), EpsvArg::UnknownProtocol)),
            ]
        )
            .prop_map(|(v, (a, e))| (format!("{v}{a}"), C::Epsv(e))),
    ]
}
