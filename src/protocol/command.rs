//! The command parser: one line of bytes in, one [`Command`] out.

use std::ffi::OsStr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use crate::vfs::{display_name, TimeVal};

/// Representation type (RFC 959 §3.1.1). `TYPE L 8` is a synonym of image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    Ascii,
    Image,
}

/// Transfer mode (RFC 959 §3.4): stream, or stream through deflate
/// (`MODE Z`, as FileZilla and others implement it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferMode {
    Stream,
    Deflate,
}

/// The hash functions HASH (draft-bryan-ftpext-hash) and the X* commands
/// offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HashAlgo {
    Sha256,
    Sha512,
    Sha1,
    Md5,
    Crc32,
}

impl HashAlgo {
    /// In FEAT order; the first is the default.
    pub const ALL: [HashAlgo; 5] = [
        HashAlgo::Sha256,
        HashAlgo::Sha512,
        HashAlgo::Sha1,
        HashAlgo::Md5,
        HashAlgo::Crc32,
    ];

    /// The IANA hash function text name the draft uses.
    pub fn name(self) -> &'static str {
        match self {
            HashAlgo::Sha256 => "SHA-256",
            HashAlgo::Sha512 => "SHA-512",
            HashAlgo::Sha1 => "SHA-1",
            HashAlgo::Md5 => "MD5",
            HashAlgo::Crc32 => "CRC32",
        }
    }

    pub fn from_name(name: &str) -> Option<HashAlgo> {
        HashAlgo::ALL
            .into_iter()
            .find(|a| a.name().eq_ignore_ascii_case(name.trim()))
    }
}

/// One fact an MFF command changes (draft-somers-ftp-mfxx).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FactChange {
    Modify(TimeVal),
    /// Permission bits, already masked to 0o777.
    UnixMode(u32),
}

/// SITE subcommands.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SiteCommand {
    Help,
    /// `SITE CHMOD mode path`, the mode masked to 0o777.
    Chmod {
        mode: u32,
        path: String,
    },
    /// `SITE UTIME`: a modification time and, in the three-time form, an
    /// access time.
    Utime {
        mtime: TimeVal,
        atime: Option<TimeVal>,
        path: String,
    },
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
    Mode(TransferMode),
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
    Site(SiteCommand),
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
    /// `MDTM time path`: the set form older clients send. `whole` is the
    /// argument as a path, for sessions that may not write (a query then).
    MdtmSet {
        time: TimeVal,
        path: String,
        whole: String,
    },
    Mfmt(TimeVal, String),
    Mff(Vec<FactChange>, String),
    Hash(String),
    /// A byte range (first and last byte, inclusive) for the next HASH;
    /// `None` resets it (`RANG 1 0`).
    Rang(Option<(u64, u64)>),
    /// XCRC, XMD5, XSHA1, XSHA256, XSHA512: `path [start [end]]`, `end`
    /// exclusive.
    XHash {
        algo: HashAlgo,
        path: String,
        start: u64,
        end: Option<u64>,
    },
    Host(String),
    Clnt(String),
    Avbl(Option<String>),
    Mlst(Option<String>),
    Mlsd(Option<String>),
    Lang(Option<String>),
    Auth(String),
    /// RFC 2228's buffer size, a 32-bit decimal; TLS needs none (0).
    Pbsz(u32),
    Prot(ProtLevel),
    Ccc,
    /// ADAT, MIC, CONF, ENC: RFC 2228 mechanisms other than TLS.
    SecurityMechanism,
}

impl Command {
    /// Whether it sends or stores a file's bytes.
    pub fn moves_a_file(&self) -> bool {
        use Command::*;
        matches!(self, Retr(_) | Stor(_) | Stou(_) | Appe(_))
    }

    /// Whether it starts a transfer (or a hash, which runs as one): an
    /// ABOR sent after it is meant for it.
    pub fn starts_transfer(&self) -> bool {
        use Command::*;
        matches!(
            self,
            Retr(_)
                | Stor(_)
                | Stou(_)
                | Appe(_)
                | List(_)
                | Nlst(_)
                | Mlsd(_)
                | Hash(_)
                | XHash { .. }
        )
    }
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
    // A CR inside a path name comes as CR NUL (RFC 2640 §3.1, after
    // Telnet's rule for a CR that does not end a line). A part of the path
    // with one is a name as it is on disk: it becomes the form listings
    // show it in (`%0D`, and `%` as `%25`), which reaches that file and
    // keeps line breaks out of the server.
    let unstuffed: String;
    let arg = match arg.contains("\r\0") {
        true => {
            let shown = |part: &str| match part.contains("\r\0") {
                true => display_name(OsStr::new(&part.replace("\r\0", "\r"))).into_owned(),
                false => part.to_string(),
            };
            unstuffed = arg.split('/').map(shown).collect::<Vec<_>>().join("/");
            unstuffed.as_str()
        }
        false => arg,
    };
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
        "STRU" => match arg.trim().to_ascii_uppercase().as_str() {
            "F" => Stru,
            "R" | "P" => {
                return Err(ParseError::Unsupported(
                    "Only file structure (F) is supported",
                ))
            }
            _ => return Err(ParseError::Syntax("STRU takes F, R or P")),
        },
        "MODE" => match arg.trim().to_ascii_uppercase().as_str() {
            "S" => Mode(TransferMode::Stream),
            "Z" => Mode(TransferMode::Deflate),
            "B" | "C" => {
                return Err(ParseError::Unsupported(
                    "Only stream mode (S) and deflate (Z) are supported",
                ))
            }
            _ => return Err(ParseError::Syntax("MODE takes S, B, C or Z")),
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
        "SITE" => Site(parse_site(arg)?),
        "SYST" => Syst,
        "STAT" => Stat(stat_arg(arg)),
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
        "MDTM" => match arg.split_once(' ') {
            Some((time, path)) if !path.is_empty() => match TimeVal::parse(time) {
                Some(time) => MdtmSet {
                    time,
                    path: path.to_string(),
                    whole: arg.to_string(),
                },
                None => Mdtm(arg.to_string()),
            },
            _ => Mdtm(need("MDTM needs a file name")?),
        },
        "MFMT" => {
            let (time, path) = time_and_path(arg, "MFMT takes YYYYMMDDHHMMSS[.sss] and a path")?;
            Mfmt(time, path)
        }
        "MFF" => {
            let (facts, path) = parse_mff(arg)?;
            Mff(facts, path)
        }
        "HASH" => Hash(need("HASH needs a file name")?),
        "RANG" => Rang(parse_rang(arg)?),
        "XCRC" => parse_xhash(HashAlgo::Crc32, arg)?,
        "XMD5" => parse_xhash(HashAlgo::Md5, arg)?,
        "XSHA1" => parse_xhash(HashAlgo::Sha1, arg)?,
        "XSHA256" => parse_xhash(HashAlgo::Sha256, arg)?,
        "XSHA512" => parse_xhash(HashAlgo::Sha512, arg)?,
        "HOST" => Host(limited(arg.trim(), "HOST needs a host name")?),
        "CLNT" => Clnt(limited(arg.trim(), "CLNT needs a client name")?),
        "AVBL" => Avbl(arg_opt()),
        "MLST" => Mlst(arg_opt()),
        "MLSD" => Mlsd(arg_opt()),
        "LANG" => Lang(arg_opt()),
        "AUTH" => Auth(need("AUTH needs a mechanism")?.to_ascii_uppercase()),
        "PBSZ" => Pbsz(
            arg.trim()
                .parse()
                .map_err(|_| ParseError::Syntax("PBSZ needs a size from 0 to 4294967295"))?,
        ),
        "PROT" => Prot(match arg.trim().to_ascii_uppercase().as_str() {
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

/// Longest HOST or CLNT text kept: enough for any DNS name (253) and any
/// real client's version string.
pub const MAX_NAME_TEXT: usize = 255;

fn limited(arg: &str, what: &'static str) -> Result<String, ParseError> {
    if arg.is_empty() {
        return Err(ParseError::Syntax(what));
    }
    if arg.len() > MAX_NAME_TEXT {
        return Err(ParseError::Syntax("Argument longer than 255 bytes"));
    }
    Ok(arg.to_string())
}

/// `time path`, the time first (MFMT, the second SITE UTIME form).
fn time_and_path(arg: &str, bad: &'static str) -> Result<(TimeVal, String), ParseError> {
    let (time, path) = arg.split_once(' ').ok_or(ParseError::Syntax(bad))?;
    let time = TimeVal::parse(time).ok_or(ParseError::Syntax(bad))?;
    if path.is_empty() {
        return Err(ParseError::Syntax(bad));
    }
    Ok((time, path.to_string()))
}

/// Octal permission bits; set-id and sticky bits are dropped (0o777).
fn parse_mode(text: &str) -> Option<u32> {
    if text.is_empty() || text.len() > 4 {
        return None;
    }
    u32::from_str_radix(text, 8).ok().map(|m| m & 0o777)
}

/// `fact=value;fact=value; path` (draft-somers-ftp-mfxx MFF).
fn parse_mff(arg: &str) -> Result<(Vec<FactChange>, String), ParseError> {
    const BAD: ParseError = ParseError::Syntax("MFF takes fact=value;...; path");
    let (facts, path) = arg.split_once(' ').ok_or(BAD)?;
    let facts = facts.strip_suffix(';').ok_or(BAD)?;
    if path.is_empty() || facts.is_empty() {
        return Err(BAD);
    }
    let mut out = Vec::new();
    for fact in facts.split(';') {
        let (name, value) = fact.split_once('=').ok_or(BAD)?;
        out.push(match name.to_ascii_lowercase().as_str() {
            "modify" => FactChange::Modify(TimeVal::parse(value).ok_or(BAD)?),
            "unix.mode" => FactChange::UnixMode(parse_mode(value).ok_or(BAD)?),
            _ => {
                return Err(ParseError::Unsupported(
                    "MFF changes only the Modify and UNIX.mode facts",
                ))
            }
        });
    }
    Ok((out, path.to_string()))
}

/// `RANG start end`, both inclusive; `RANG 1 0` resets (draft-bryan-ftp-range).
fn parse_rang(arg: &str) -> Result<Option<(u64, u64)>, ParseError> {
    const BAD: ParseError = ParseError::Syntax("RANG takes a first and a last byte position");
    let nums: Vec<u64> = arg
        .split_whitespace()
        .map(|n| n.parse::<u64>().map_err(|_| BAD))
        .collect::<Result<_, _>>()?;
    match nums[..] {
        [1, 0] => Ok(None),
        [start, end] if start <= end => Ok(Some((start, end))),
        _ => Err(BAD),
    }
}

/// `path [start [end]]`: trailing numbers are the range, the rest the path.
fn parse_xhash(algo: HashAlgo, arg: &str) -> Result<Command, ParseError> {
    let mut path = arg.trim_end();
    let mut nums = Vec::new();
    while nums.len() < 2 {
        let Some((head, last)) = path.rsplit_once(' ') else {
            break;
        };
        let Ok(n) = last.parse::<u64>() else { break };
        nums.push(n);
        path = head.trim_end();
    }
    nums.reverse();
    if path.is_empty() {
        return Err(ParseError::Syntax("Needs a file name"));
    }
    let (start, end) = match nums[..] {
        [] => (0, None),
        [s] => (s, None),
        [s, e] if s <= e => (s, Some(e)),
        _ => return Err(ParseError::Syntax("The range ends before it starts")),
    };
    Ok(Command::XHash {
        algo,
        path: path.to_string(),
        start,
        end,
    })
}

fn parse_site(arg: &str) -> Result<SiteCommand, ParseError> {
    let (sub, rest) = match arg.trim_start().split_once(' ') {
        Some((sub, rest)) => (sub, rest),
        None => (arg.trim(), ""),
    };
    match sub.to_ascii_uppercase().as_str() {
        "" | "HELP" => Ok(SiteCommand::Help),
        "CHMOD" => {
            const BAD: ParseError = ParseError::Syntax("SITE CHMOD takes an octal mode and a path");
            let (mode, path) = rest.split_once(' ').ok_or(BAD)?;
            let mode = parse_mode(mode).ok_or(BAD)?;
            if path.is_empty() {
                return Err(BAD);
            }
            Ok(SiteCommand::Chmod {
                mode,
                path: path.to_string(),
            })
        }
        "UTIME" => parse_utime(rest),
        other => Err(ParseError::Unknown(format!("SITE {other}"))),
    }
}

/// Both forms clients send: `time path` (ProFTPD's), and `path atime
/// mtime ctime UTC` or `path mtime` (others').
fn parse_utime(arg: &str) -> Result<SiteCommand, ParseError> {
    const BAD: ParseError =
        ParseError::Syntax("SITE UTIME takes YYYYMMDDhhmmss and a path, or a path and its times");
    if let Ok((mtime, path)) = time_and_path(arg, "") {
        return Ok(SiteCommand::Utime {
            mtime,
            atime: None,
            path,
        });
    }
    let mut rest = arg.trim_end();
    if let Some(head) = rest.strip_suffix(" UTC") {
        rest = head;
    }
    let mut times = Vec::new();
    while times.len() < 3 {
        let Some((head, last)) = rest.rsplit_once(' ') else {
            break;
        };
        let Some(t) = TimeVal::parse(last) else { break };
        times.push(t);
        rest = head;
    }
    times.reverse();
    let (atime, mtime) = match times[..] {
        [m] => (None, m),
        [a, m, _c] => (Some(a), m),
        _ => return Err(BAD),
    };
    if rest.is_empty() {
        return Err(BAD);
    }
    Ok(SiteCommand::Utime {
        mtime,
        atime,
        path: rest.to_string(),
    })
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
/// A path given without flags is taken whole, spaces and all, as every
/// other command takes its path (RFC 3659 §2.2).
fn strip_ls_flags(arg: &str) -> Option<String> {
    let mut rest = match arg.trim().is_empty() {
        true => "",
        false => arg,
    };
    while rest.starts_with('-') {
        rest = match rest.split_once(' ') {
            Some((_, after)) => after.trim_start(),
            None => "",
        };
    }
    (!rest.is_empty()).then(|| rest.to_string())
}

/// STAT: no argument asks for the server's status; anything else, flags
/// alone too (`STAT -la`), for a listing, of the current folder if no
/// path is left.
fn stat_arg(arg: &str) -> Option<String> {
    match arg.trim().is_empty() {
        true => None,
        false => Some(strip_ls_flags(arg).unwrap_or_else(|| ".".into())),
    }
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
        assert_eq!(parse(b"RETR a\r\0b"), Ok(Command::Retr("a%0Db".into())));
        assert_eq!(
            parse(b"RETR d%/50%\r\0x"),
            Ok(Command::Retr("d%/50%25%0Dx".into()))
        );
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
        assert_eq!(parse(b"MODE z"), Ok(Command::Mode(TransferMode::Deflate)));
        assert_eq!(parse(b"MODE S"), Ok(Command::Mode(TransferMode::Stream)));
        assert!(matches!(parse(b"STRU R"), Err(ParseError::Unsupported(_))));
        assert_eq!(parse(b"STRU f"), Ok(Command::Stru));
        // A trailing space, as TYPE, PWD and the others allow.
        assert_eq!(parse(b"MODE S "), Ok(Command::Mode(TransferMode::Stream)));
        assert_eq!(parse(b"STRU F "), Ok(Command::Stru));
        assert_eq!(parse(b"PROT P "), Ok(Command::Prot(ProtLevel::Private)));
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
        // A path without flags is taken whole, as RETR takes its own.
        assert_eq!(
            parse(b"NLST  lead space"),
            Ok(Command::Nlst(Some(" lead space".into())))
        );
        assert_eq!(parse(b"LIST "), Ok(Command::List(None)));
        // STAT with flags alone lists the current folder; bare, it is
        // the server's status.
        assert_eq!(parse(b"STAT -la"), Ok(Command::Stat(Some(".".into()))));
        assert_eq!(parse(b"STAT -la d"), Ok(Command::Stat(Some("d".into()))));
        assert_eq!(parse(b"STAT"), Ok(Command::Stat(None)));
    }

    fn t(text: &str) -> TimeVal {
        TimeVal::parse(text).unwrap()
    }

    #[test]
    fn mfmt_and_the_mdtm_set_form() {
        assert_eq!(
            parse(b"MFMT 20200102030405 a b.txt"),
            Ok(Command::Mfmt(t("20200102030405"), "a b.txt".into()))
        );
        assert_eq!(
            parse(b"MFMT 20200102030405.123 x"),
            Ok(Command::Mfmt(t("20200102030405.123"), "x".into()))
        );
        assert!(matches!(parse(b"MFMT 2020 x"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse(b"MFMT 20200102030405"),
            Err(ParseError::Syntax(_))
        ));
        assert_eq!(
            parse(b"MDTM 20200102030405 f"),
            Ok(Command::MdtmSet {
                time: t("20200102030405"),
                path: "f".into(),
                whole: "20200102030405 f".into()
            })
        );
        assert_eq!(parse(b"MDTM my file"), Ok(Command::Mdtm("my file".into())));
        assert_eq!(
            parse(b"MDTM 20200102030405"),
            Ok(Command::Mdtm("20200102030405".into()))
        );
    }

    #[test]
    fn mff_facts() {
        assert_eq!(
            parse(b"MFF Modify=20200102030405;UNIX.mode=4755; d/f"),
            Ok(Command::Mff(
                vec![
                    FactChange::Modify(t("20200102030405")),
                    FactChange::UnixMode(0o755)
                ],
                "d/f".into()
            ))
        );
        assert!(matches!(
            parse(b"MFF Create=20200102030405; f"),
            Err(ParseError::Unsupported(_))
        ));
        assert!(matches!(
            parse(b"MFF UNIX.mode=9; f"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"MFF UNIX.mode=644 f"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"MFF UNIX.mode=644;"),
            Err(ParseError::Syntax(_))
        ));
    }

    #[test]
    fn site_commands() {
        assert_eq!(parse(b"SITE"), Ok(Command::Site(SiteCommand::Help)));
        assert_eq!(parse(b"site help"), Ok(Command::Site(SiteCommand::Help)));
        assert_eq!(
            parse(b"SITE CHMOD 6755 a b"),
            Ok(Command::Site(SiteCommand::Chmod {
                mode: 0o755,
                path: "a b".into()
            }))
        );
        assert!(matches!(
            parse(b"SITE CHMOD rwx f"),
            Err(ParseError::Syntax(_))
        ));
        assert!(matches!(
            parse(b"SITE CHMOD 17777 f"),
            Err(ParseError::Syntax(_))
        ));
        assert_eq!(
            parse(b"SITE UTIME 20200102030405 my file"),
            Ok(Command::Site(SiteCommand::Utime {
                mtime: t("20200102030405"),
                atime: None,
                path: "my file".into()
            }))
        );
        assert_eq!(
            parse(b"SITE UTIME my file 20210101000000 20200102030405 20200102030405 UTC"),
            Ok(Command::Site(SiteCommand::Utime {
                mtime: t("20200102030405"),
                atime: Some(t("20210101000000")),
                path: "my file".into()
            }))
        );
        assert_eq!(
            parse(b"SITE UTIME f 20200102030405"),
            Ok(Command::Site(SiteCommand::Utime {
                mtime: t("20200102030405"),
                atime: None,
                path: "f".into()
            }))
        );
        assert!(matches!(parse(b"SITE UTIME f"), Err(ParseError::Syntax(_))));
        assert!(matches!(
            parse(b"SITE EXEC ls"),
            Err(ParseError::Unknown(_))
        ));
    }

    #[test]
    fn hash_rang_and_the_x_forms() {
        assert_eq!(parse(b"HASH a b"), Ok(Command::Hash("a b".into())));
        assert_eq!(parse(b"RANG 10 20"), Ok(Command::Rang(Some((10, 20)))));
        assert_eq!(parse(b"RANG 1 0"), Ok(Command::Rang(None)));
        assert!(matches!(parse(b"RANG 5 4"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"RANG 5"), Err(ParseError::Syntax(_))));
        assert_eq!(
            parse(b"XCRC my file 10 20"),
            Ok(Command::XHash {
                algo: HashAlgo::Crc32,
                path: "my file".into(),
                start: 10,
                end: Some(20)
            })
        );
        assert_eq!(
            parse(b"XSHA256 f 7"),
            Ok(Command::XHash {
                algo: HashAlgo::Sha256,
                path: "f".into(),
                start: 7,
                end: None
            })
        );
        assert!(matches!(parse(b"XMD5 f 9 3"), Err(ParseError::Syntax(_))));
        assert!(matches!(parse(b"XSHA1"), Err(ParseError::Syntax(_))));
        assert_eq!(HashAlgo::from_name("sha-512"), Some(HashAlgo::Sha512));
        assert_eq!(HashAlgo::from_name("SHA-3"), None);
    }

    #[test]
    fn host_clnt_avbl() {
        assert_eq!(
            parse(b"HOST ftp.example.org"),
            Ok(Command::Host("ftp.example.org".into()))
        );
        assert!(matches!(parse(b"HOST"), Err(ParseError::Syntax(_))));
        let long = format!("CLNT {}", "x".repeat(MAX_NAME_TEXT + 1));
        assert!(matches!(parse(long.as_bytes()), Err(ParseError::Syntax(_))));
        assert_eq!(
            parse(b"CLNT lftp 4.9"),
            Ok(Command::Clnt("lftp 4.9".into()))
        );
        assert_eq!(parse(b"AVBL"), Ok(Command::Avbl(None)));
        assert_eq!(parse(b"AVBL up"), Ok(Command::Avbl(Some("up".into()))));
    }
}
