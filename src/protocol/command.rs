//! The command parser: one line of bytes in, one [`Command`] out.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// Representation type (RFC 959 §3.1.1). `TYPE L 8` is a synonym of image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Image,
}

/// Data channel protection level (RFC 2228 PROT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtLevel {
    Clear,
    Private,
    /// `S` and `E`, which TLS cannot provide (RFC 4217 §9).
    Unsupported,
}

/// An EPRT argument: a network protocol we may or may not speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataPort {
    Addr(SocketAddr),
    /// A protocol number other than 1 (IPv4) and 2 (IPv6): answered with 522.
    UnknownProtocol,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    Any,
    All,
    Ipv4,
    Ipv6,
    UnknownProtocol,
}

/// Every command the server understands. Path arguments stay strings: they
/// are resolved against the session's working directory by the vfs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(String),
    Pass(String),
    Acct,
    Cwd(String),
    Cdup,
    Smnt,
    Rein,
    Quit,
    Port(SocketAddr),
    Pasv,
    Type(TransferType),
    Stru,
    Mode,
    Retr(String),
    Stor(String),
    Stou(Option<String>),
    Appe(String),
    /// ALLO n [R m]: the size of the coming upload, if given.
    Allo(Option<u64>),
    Rest(u64),
    Rnfr(String),
    Rnto(String),
    Abor,
    Dele(String),
    Rmd(String),
    Mkd(String),
    Pwd,
    List(Option<String>),
    Nlst(Option<String>),
    Site(String),
    Syst,
    Stat(Option<String>),
    Help(Option<String>),
    Noop,
    Feat,
    Opts(String),
    Eprt(DataPort),
    Epsv(EpsvArg),
    Size(String),
    Mdtm(String),
    Mlst(Option<String>),
    Mlsd(Option<String>),
    Lang(Option<String>),
    Auth(String),
    Pbsz(String),
    Prot(ProtLevel),
    Ccc,
    /// ADAT, MIC, CONF, ENC: RFC 2228 mechanisms other than TLS.
    SecurityMechanism,
}

/// Why a line is not a command we can run; each maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ParseError {
    /// 500: not a command at all.
    Unknown(String),
    /// 500: the line is empty or not text.
    Garbled,
    /// 501: the arguments do not parse.
    Syntax(&'static str),
    /// 504: a parameter we understand but do not implement.
    Unsupported(&'static str),
}

/// Parses one command line (without its line ending and Telnet controls).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], &line[i + 1..]),
        None => (line, &b""[..]),
    };
    // A verb that is not text is no command (500); bad bytes after a good
    // verb are a bad argument (501).
    let verb = match std::str::from_utf8(verb) {
        Ok(v) if !v.is_empty() && !v.contains('\0') => v,
        _ => return Err(ParseError::Garbled),
    };
    let arg =
        std::str::from_utf8(arg).map_err(|_| ParseError::Syntax("Invalid UTF-8 in argument"))?;
    if arg.contains('\0') {
        return Err(ParseError::Syntax("NUL byte in argument"));
    }
    let verb = verb.to_ascii_uppercase();
    let arg_opt = || (!arg.is_empty()).then(|| arg.to_string());
    let need = |what: &'static str| {
        if arg.is_empty() {
            Err(ParseError::Syntax(what))
        } else {
            Ok(arg.to_string())
        }
    };
    let no_arg = |c: Command| {
        if arg.trim().is_empty() {
            Ok(c)
        } else {
            Err(ParseError::Syntax("This command takes no argument"))
        }
    };
    use Command::*;
    Ok(match verb.as_str() {
        "USER" => User(need("USER needs a name")?),
        // An empty password is a password; anonymous clients may send one.
        "PASS" => Pass(arg.to_string()),
        "ACCT" => Acct,
        "CWD" | "XCWD" => Cwd(need("CWD needs a path")?),
        "CDUP" | "XCUP" => no_arg(Cdup)?,
        "SMNT" => Smnt,
        "REIN" => no_arg(Rein)?,
        "QUIT" => Quit,
        "PORT" => Port(parse_port(arg)?),
        "PASV" => no_arg(Pasv)?,
        "TYPE" => Type(parse_type(arg)?),
        "STRU" => match arg.to_ascii_uppercase().as_str() {
            "F" => Stru,
            "R" | "P" => {
                return Err(ParseError::Unsupported(
                    "Only file structure (F) is supported",
                ))
            }
            _ => return Err(ParseError::Syntax("STRU takes F, R or P")),
        },
        "MODE" => match arg.to_ascii_uppercase().as_str() {
            "S" => Mode,
            "B" | "C" => return Err(ParseError::Unsupported("Only stream mode (S) is supported")),
            _ => return Err(ParseError::Syntax("MODE takes S, B or C")),
        },
        "RETR" => Retr(need("RETR needs a file name")?),
        "STOR" => Stor(need("STOR needs a file name")?),
        "STOU" => Stou(arg_opt()),
        "APPE" => Appe(need("APPE needs a file name")?),
        "ALLO" => Allo(parse_allo(arg)?),
        "REST" => Rest(
            arg.trim()
                .parse()
                .map_err(|_| ParseError::Syntax("REST needs a byte offset"))?,
        ),
        "RNFR" => Rnfr(need("RNFR needs a path")?),
        "RNTO" => Rnto(need("RNTO needs a path")?),
        "ABOR" => Abor,
        "DELE" => Dele(need("DELE needs a file name")?),
        "RMD" | "XRMD" => Rmd(need("RMD needs a path")?),
        "MKD" | "XMKD" => Mkd(need("MKD needs a path")?),
        "PWD" | "XPWD" => no_arg(Pwd)?,
        "LIST" => List(strip_ls_flags(arg)),
        "NLST" => Nlst(strip_ls_flags(arg)),
        "SITE" => Site(arg.to_string()),
        "SYST" => Syst,
        "STAT" => Stat(strip_ls_flags(arg)),
        "HELP" => Help(arg_opt()),
        "NOOP" => Noop,
        "FEAT" => Feat,
        "OPTS" => Opts(need("OPTS needs an option")?),
        "EPRT" => Eprt(parse_eprt(arg)?),
        "EPSV" => Epsv(match arg.trim().to_ascii_uppercase().as_str() {
            "" => EpsvArg::Any,
            "ALL" => EpsvArg::All,
            "1" => EpsvArg::Ipv4,
            "2" => EpsvArg::Ipv6,
            n if n.parse::<u32>().is_ok() => EpsvArg::UnknownProtocol,
            _ => return Err(ParseError::Syntax("EPSV takes ALL or a protocol number")),
        }),
        "SIZE" => Size(need("SIZE needs a file name")?),
        "MDTM" => Mdtm(need("MDTM needs a file name")?),
        "MLST" => Mlst(arg_opt()),
        "MLSD" => Mlsd(arg_opt()),
        "LANG" => Lang(arg_opt()),
        "AUTH" => Auth(need("AUTH needs a mechanism")?.to_ascii_uppercase()),
        "PBSZ" => Pbsz(need("PBSZ needs a size")?),
        "PROT" => Prot(match arg.to_ascii_uppercase().as_str() {
            "C" => ProtLevel::Clear,
            "P" => ProtLevel::Private,
            "S" | "E" => ProtLevel::Unsupported,
            _ => return Err(ParseError::Syntax("PROT takes C, S, E or P")),
        }),
        "CCC" => Ccc,
        "ADAT" | "MIC" | "CONF" | "ENC" => SecurityMechanism,
        _ => return Err(ParseError::Unknown(verb)),
    })
}

/// `ALLO n [R m]` (RFC 959): the file size; the record size means nothing
/// in file structure. A bare ALLO is accepted, as it always was here. A
/// size past u64 is kept as u64::MAX, which no limit allows.
fn parse_allo(arg: &str) -> Result<Option<u64>, ParseError> {
    let mut words = arg.split_ascii_whitespace();
    let Some(n) = words.next() else {
        return Ok(None);
    };
    let record = match (words.next(), words.next(), words.next()) {
        (None, ..) => true,
        (Some(r), Some(m), None) => r.eq_ignore_ascii_case("R") && digits(m),
        _ => false,
    };
    if !digits(n) || !record {
        return Err(ParseError::Syntax("ALLO takes a byte count"));
    }
    Ok(Some(n.parse().unwrap_or(u64::MAX)))
}

fn digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

fn parse_type(arg: &str) -> Result<TransferType, ParseError> {
    let words: Vec<String> = arg
        .split_whitespace()
        .map(str::to_ascii_uppercase)
        .collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    match words.as_slice() {
        ["A"] | ["A", "N"] => Ok(TransferType::Ascii),
        ["I"] | ["L", "8"] => Ok(TransferType::Image),
        ["A", "T" | "C"] | ["E", ..] | ["L", _] => Err(ParseError::Unsupported(
            "Only TYPE A, A N, I and L 8 are supported",
        )),
        _ => Err(ParseError::Syntax("TYPE takes A, E, I or L")),
    }
}

/// `h1,h2,h3,h4,p1,p2` (RFC 959 PORT).
fn parse_port(arg: &str) -> Result<SocketAddr, ParseError> {
    const BAD: ParseError = ParseError::Syntax("PORT takes h1,h2,h3,h4,p1,p2");
    let nums: Vec<u8> = arg
        .trim()
        .split(',')
        .map(|n| n.trim().parse::<u8>())
        .collect::<Result<_, _>>()
        .map_err(|_| BAD)?;
    let [a, b, c, d, p1, p2] = nums[..] else {
        return Err(BAD);
    };
    let ip = Ipv4Addr::new(a, b, c, d);
    Ok(SocketAddr::new(
        IpAddr::V4(ip),
        u16::from(p1) << 8 | u16::from(p2),
    ))
}

/// `<d><proto><d><addr><d><port><d>` (RFC 2428 EPRT).
fn parse_eprt(arg: &str) -> Result<DataPort, ParseError> {
    const BAD: ParseError = ParseError::Syntax("EPRT takes |proto|address|port|");
    let arg = arg.trim();
    let delim = arg.chars().next().ok_or(BAD)?;
    if !(33..=126).contains(&(delim as u32)) {
        return Err(BAD);
    }
    let parts: Vec<&str> = arg.split(delim).collect();
    let ["", proto, addr, port, ""] = parts[..] else {
        return Err(BAD);
    };
    let port: u16 = port.parse().map_err(|_| BAD)?;
    let ip: IpAddr = match proto {
        "1" => IpAddr::V4(addr.parse::<Ipv4Addr>().map_err(|_| BAD)?),
        "2" => IpAddr::V6(addr.parse::<Ipv6Addr>().map_err(|_| BAD)?),
        p if p.parse::<u32>().is_ok() => return Ok(DataPort::UnknownProtocol),
        _ => return Err(BAD),
    };
    Ok(DataPort::Addr(SocketAddr::new(ip, port)))
}

/// Clients send `LIST -la` or `LIST -a dir` as if talking to `ls`; the
/// flags carry no meaning for us, so they are dropped, leaving the path.
fn strip_ls_flags(arg: &str) -> Option<String> {
    let mut rest = arg.trim_start();
    while rest.starts_with('-') {
        match rest.find(' ') {
            Some(i) => rest = rest[i + 1..].trim_start(),
            None => rest = "",
        }
    }
    (!rest.is_empty()).then(|| rest.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbs_are_case_insensitive_and_keep_argument_spaces() {
        assert_eq!(
            parse(b"retr my  file.txt"),
            Ok(Command::Retr("my  file.txt".into()))
        );
        assert_eq!(parse(b"XPWD"), Ok(Command::Pwd));
        assert_eq!(parse(b"xmkd d"), Ok(Command::Mkd("d".into())));
    }

    #[test]
    fn missing_and_extra_arguments_are_syntax_errors() {
        assert!(matches!(parse(b"RETR"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"PWD extra"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"REST abc"), Err(ParseError::Syntax(_))));
        assert_eq!(parse(b""), Err(ParseError::Garbled));
        assert_eq!(parse(b"BOGUS x"), Err(ParseError::Unknown("BOGUS".into())));
        assert!(matches!(parse(b"RETR a\0b"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RETR \xff"), Err(ParseError::Syntax(_))));
        assert_eq!(parse(b"\xffRETR x"), Err(ParseError::Garbled));
        assert_eq!(parse(b"NO\0OP"), Err(ParseError::Garbled));
    }

    #[test]
    fn allo_takes_a_size_and_an_optional_record_size() {
        assert_eq!(parse(b"ALLO"), Ok(Command::Allo(None)));
        assert_eq!(parse(b"ALLO 1024"), Ok(Command::Allo(Some(1024))));
        assert_eq!(parse(b"allo 10 r 512"), Ok(Command::Allo(Some(10))));
        let huge = b"ALLO 99999999999999999999999";
        assert_eq!(parse(huge), Ok(Command::Allo(Some(u64::MAX))));
        for bad in [
            &b"ALLO -1"[..],
            b"ALLO 1K",
            b"ALLO 1 R",
            b"ALLO 1 X 2",
            b"ALLO 1 2",
        ] {
            assert!(matches!(parse(bad), Err(ParseError::Syntax(_))), "{bad:?}");
        }
    }

    #[test]
    fn types_modes_and_structures() {
        assert_eq!(parse(b"TYPE A"), Ok(Command::Type(TransferType::Ascii)));
        assert_eq!(parse(b"TYPE a n"), Ok(Command::Type(TransferType::Ascii)));
        assert_eq!(parse(b"TYPE L 8"), Ok(Command::Type(TransferType::Image)));
        assert!(matches!(parse(b"TYPE E"), Err(ParseError::Unsupported(_))));
        assert!(matches!(parse(b"TYPE X"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"MODE B"), Err(ParseError::Unsupported(_))));
        assert!(matches!(parse(b"STRU R"), Err(ParseError::Unsupported(_))));
        assert_eq!(parse(b"STRU f"), Ok(Command::Stru));
    }

    #[test]
    fn port_and_eprt() {
        assert_eq!(
            parse(b"PORT 127,0,0,1,4,1"),
            Ok(Command::Port("127.0.0.1:1025".parse().unwrap()))
        );
        assert!(parse(b"PORT 127,0,0,1,4").is_err());
        assert!(parse(b"PORT 300,0,0,1,4,1").is_err());
        assert_eq!(
            parse(b"EPRT |2|::1|5000|"),
            Ok(Command::Eprt(DataPort::Addr("[::1]:5000".parse().unwrap())))
        );
        assert_eq!(
            parse(b"EPRT |3|x|5000|"),
            Ok(Command::Eprt(DataPort::UnknownProtocol))
        );
        assert!(parse(b"EPRT |1|::1|5000|").is_err());
        assert_eq!(parse(b"EPSV ALL"), Ok(Command::Epsv(EpsvArg::All)));
        assert_eq!(
            parse(b"EPSV 7"),
            Ok(Command::Epsv(EpsvArg::UnknownProtocol))
        );
    }

    #[test]
    fn list_flags_are_ignored() {
        assert_eq!(parse(b"LIST -la"), Ok(Command::List(None)));
        assert_eq!(
            parse(b"LIST -a -l dir x"),
            Ok(Command::List(Some("dir x".into())))
        );
        assert_eq!(parse(b"NLST sub"), Ok(Command::Nlst(Some("sub".into()))));
    }
}
