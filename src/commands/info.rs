//! SYST, FEAT, OPTS, HELP, STAT (server status), AVBL, LANG.

use crate::config::TlsMode;
use crate::error::{FtpError, FtpResult};
use crate::protocol::{features, Reply};
use crate::session::{Login, Session};
use crate::vfs::{Facts, VPath};

pub fn syst() -> FtpResult<Reply> {
    Ok(Reply::new(215, "UNIX Type: L8"))
}

/// FEAT lists exactly what is implemented (RFC 2389) and this session
/// may use (the policy table; before login, what the share's mode allows),
/// TLS only when on.
pub fn feat(s: &Session) -> FtpResult<Reply> {
    let tls = s.shared.config.tls_mode;
    let mode = s.mode().unwrap_or(s.shared.config.access);
    let mut lines: Vec<String> = features(mode)
        .map(|line| match line {
            "MLST" => format!("MLST {}", s.facts.feat()),
            "HASH" => super::hash::feat(s),
            _ => line.to_string(),
        })
        .collect();
    if tls == TlsMode::Explicit {
        lines.push("AUTH TLS".into());
    }
    if tls != TlsMode::Off {
        lines.extend(["PBSZ", "PROT"].map(String::from));
    }
    lines.sort_unstable();
    Ok(Reply::multi(211, "Features:", lines, "End"))
}

pub fn opts(s: &mut Session, opt: &str) -> FtpResult<Reply> {
    let (name, value) = match opt.find(' ') {
        Some(i) => (&opt[..i], opt[i + 1..].trim()),
        None => (opt, ""),
    };
    match name.to_ascii_uppercase().as_str() {
        // Paths are always UTF-8; clients such as Windows Explorer insist
        // on hearing that OPTS UTF8 ON worked.
        "UTF8" | "UTF-8" => Ok(Reply::new(200, "UTF8 mode is always on")),
        "MLST" => {
            s.facts = Facts::select(value);
            // RFC 3659 §7.9: the space comes with the list, if any.
            let list = s.facts.selected();
            let sep = if list.is_empty() { "" } else { " " };
            Ok(Reply::new(200, format!("MLST OPTS{sep}{list}")))
        }
        "HASH" => super::hash::opts(s, value),
        "MODE" => super::transfer::opts_mode(s, value),
        _ => Err(FtpError::Syntax(format!("Option {name} not understood"))),
    }
}

const COMMANDS: &[(&str, &str)] = &[
    ("ABOR", "ABOR (abort transfer)"),
    ("ACCT", "ACCT <account> (not needed)"),
    ("ALLO", "ALLO <bytes> (not needed)"),
    ("APPE", "APPE <file> (append)"),
    ("AUTH", "AUTH TLS (secure the control connection)"),
    ("AVBL", "AVBL [dir] (free bytes for uploads)"),
    ("CCC", "CCC (refused)"),
    ("CDUP", "CDUP (parent directory)"),
    ("CLNT", "CLNT <client name>"),
    ("CWD", "CWD <dir>"),
    ("DELE", "DELE <file>"),
    ("EPRT", "EPRT |proto|addr|port|"),
    ("EPSV", "EPSV [1|2|ALL]"),
    ("FEAT", "FEAT (list extensions)"),
    (
        "HASH",
        "HASH <file> (checksum; OPTS HASH <algorithm> to choose)",
    ),
    ("HELP", "HELP [command]"),
    ("HOST", "HOST <name> (before USER)"),
    ("LANG", "LANG [EN]"),
    ("LIST", "LIST [path]"),
    ("MDTM", "MDTM <file> | MDTM <YYYYMMDDHHMMSS> <path>"),
    ("MFF", "MFF Modify=<time>;UNIX.mode=<octal>; <path>"),
    ("MFMT", "MFMT <YYYYMMDDHHMMSS[.sss]> <path>"),
    ("MKD", "MKD <dir>"),
    ("MLSD", "MLSD [dir]"),
    ("MLST", "MLST [path]"),
    ("MODE", "MODE S|Z"),
    ("NLST", "NLST [path]"),
    ("NOOP", "NOOP"),
    (
        "OPTS",
        "OPTS UTF8 ON | MLST <facts> | HASH [algorithm] | MODE Z LEVEL <0-9>",
    ),
    ("PASS", "PASS <password>"),
    ("PASV", "PASV"),
    ("PBSZ", "PBSZ 0"),
    ("PORT", "PORT h1,h2,h3,h4,p1,p2"),
    ("PROT", "PROT C|P"),
    ("PWD", "PWD"),
    ("QUIT", "QUIT"),
    (
        "RANG",
        "RANG <first byte> <last byte> (for HASH; RANG 1 0 resets)",
    ),
    ("REIN", "REIN (log out, keep the connection)"),
    ("REST", "REST <offset>"),
    ("RETR", "RETR <file>"),
    ("RMD", "RMD <dir>"),
    ("RNFR", "RNFR <path>"),
    ("RNTO", "RNTO <path>"),
    ("SITE", "SITE CHMOD|UTIME|HELP"),
    ("SIZE", "SIZE <file>"),
    ("SMNT", "SMNT (not supported)"),
    ("STAT", "STAT [path]"),
    ("STOR", "STOR <file>"),
    ("STOU", "STOU [name]"),
    ("STRU", "STRU F"),
    ("SYST", "SYST"),
    ("TYPE", "TYPE A|I|L 8"),
    ("USER", "USER <name>"),
    ("XCRC", "XCRC <file> [start [end]]"),
    ("XCUP", "XCUP (= CDUP)"),
    ("XCWD", "XCWD <dir> (= CWD)"),
    ("XMD5", "XMD5 <file> [start [end]]"),
    ("XMKD", "XMKD <dir> (= MKD)"),
    ("XPWD", "XPWD (= PWD)"),
    ("XRMD", "XRMD <dir> (= RMD)"),
    ("XSHA1", "XSHA1 <file> [start [end]]"),
    ("XSHA256", "XSHA256 <file> [start [end]]"),
    ("XSHA512", "XSHA512 <file> [start [end]]"),
];

pub fn help(topic: Option<&str>) -> FtpResult<Reply> {
    match topic {
        None => {
            let names: Vec<&str> = COMMANDS.iter().map(|(n, _)| *n).collect();
            let lines = names.chunks(10).map(|c| c.join(" "));
            Ok(Reply::multi(
                214,
                "The following commands are recognized:",
                lines,
                "Help OK",
            ))
        }
        Some(t) => {
            let t = t.trim().to_ascii_uppercase();
            match COMMANDS.iter().find(|(n, _)| *n == t) {
                Some((_, syntax)) => Ok(Reply::new(214, format!("Syntax: {syntax}"))),
                None => Err(FtpError::NotImplemented(format!("Unknown command {t}"))),
            }
        }
    }
}

/// STAT without an argument: the session's state, also while a transfer
/// runs (RFC 959 §4.1.3).
pub fn stat(s: &Session) -> FtpResult<Reply> {
    let mut lines = vec![format!("Connected from {}", s.peer)];
    lines.push(match &s.login {
        Login::LoggedIn { user, .. } => format!("Logged in as {user}"),
        _ => "Not logged in".into(),
    });
    lines.push(format!(
        "TYPE: {}; STRUcture: File; MODE: {}",
        if s.ascii { "ASCII" } else { "BINARY" },
        if s.deflate.is_some() {
            "Deflate"
        } else {
            "Stream"
        }
    ));
    lines.push(format!(
        "Control connection: {}",
        if s.control.is_tls() {
            "TLS"
        } else {
            "plain text"
        }
    ));
    lines.push(match &s.transfer {
        Some(t) => format!(
            "Transfer in progress: {} ({} bytes so far)",
            t.path(),
            t.bytes()
        ),
        None => "No data transfer in progress".into(),
    });
    Ok(Reply::multi(
        211,
        "ftpshare status:",
        lines,
        "End of status",
    ))
}

/// AVBL (draft-peterson-streamlined-ftp-command-extensions): the bytes an
/// upload there may really store: the folder's free space (statvfs) less
/// what `--min-free` keeps, at most what is left of `--quota` and at most
/// `--max-upload-size`. A drop box answers for its shared folder whatever
/// the name (an upload makes missing folders there), so the answer tells
/// nothing about what exists.
pub async fn avbl(s: &Session, arg: Option<&str>) -> FtpResult<Reply> {
    let mut path = s.path(arg.unwrap_or("."))?;
    if !s.rules().sees_names {
        path = VPath::root();
    }
    let free = super::fs(s, &path, |root, p| root.free_space(p)).await?;
    let room = s.shared.budget.available(free);
    Ok(Reply::new(213, room.to_string()))
}

/// LANG (RFC 2640 §4): English is the one language offered.
pub fn lang(lang: Option<&str>) -> FtpResult<Reply> {
    match lang.map(|l| l.trim().to_ascii_uppercase()) {
        None => Ok(Reply::new(200, "Using default language EN")),
        Some(l) if !is_language_tag(&l) => Err(FtpError::Syntax(
            "LANG takes a language tag, such as EN or EN-US".into(),
        )),
        Some(l) if l == "EN" || l.starts_with("EN-") => Ok(Reply::new(200, "Language set to EN")),
        Some(l) => Err(FtpError::ParamNotImplemented(format!(
            "Language {l} not supported"
        ))),
    }
}

/// RFC 1766's tags, which RFC 2640 takes: parts of 1 to 8 letters (the
/// first) or letters and digits, joined by `-`.
fn is_language_tag(tag: &str) -> bool {
    tag.split('-').enumerate().all(|(i, part)| {
        (1..=8).contains(&part.len())
            && part
                .bytes()
                .all(|b| b.is_ascii_alphabetic() || (i > 0 && b.is_ascii_digit()))
    })
}

#[cfg(test)]
mod tests {
    /// The table's command × mode walk has a row for every command HELP
    /// names (the X… forms are aliases that parse to the same commands).
    #[test]
    fn the_table_walk_covers_every_command_help_names() {
        let rows = crate::protocol::table::tests::ROWS;
        for (verb, _) in super::COMMANDS {
            let covered = verb.starts_with('X')
                || rows
                    .iter()
                    .any(|(line, _)| line.split(' ').next() == Some(*verb));
            assert!(covered, "{verb} has no row in the table walk");
        }
    }
}
