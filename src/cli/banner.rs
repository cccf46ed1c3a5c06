//! The block a person sees at startup: where, how to log in, for how long,
//! ready-to-paste commands and a QR code of the URL.

use std::fmt::Write as _;
use std::time::Duration;

use ftpshare::escape;
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// What the banner shows; built by main from the running server.
pub struct BannerInfo<'a> {
    pub root: &'a str,
    pub mode: &'a str,
    pub url: &'a str,
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub generated_password: bool,
    pub anonymous: bool,
    pub others: &'a [String],
    pub expires: Option<Duration>,
    pub tls: Option<TlsInfo<'a>>,
    pub temp: Temp,
}

/// Whether the folder is a `--temp` one, and what happens to it at exit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Temp {
    No,
    Removed,
    Kept,
}

#[derive(Clone, Copy)]
pub struct TlsInfo<'a> {
    pub fingerprint: &'a str,
    /// For curl's `--pinnedpubkey sha256//…`.
    pub spki_sha256: Option<&'a str>,
    /// For lftp's `ssl:verify-certificate/…`.
    pub fingerprint_sha1: &'a str,
    pub implicit: bool,
    /// `--require-tls-reuse`.
    pub strict: bool,
}

pub fn render(info: &BannerInfo<'_>, qr: bool, qr_invert: bool) -> String {
    // The folder, host, user and interface names can hold anything.
    let (root, url, host) = (escape(info.root), escape(info.url), escape(info.host));
    let (user, password) = (escape(info.user), escape(info.password));
    let others: Vec<String> = info.others.iter().map(|o| escape(o).into()).collect();
    let info = &BannerInfo {
        root: &root,
        url: &url,
        host: &host,
        user: &user,
        password: &password,
        others: &others,
        ..*info
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "ftpshare {} — sharing {} ({})\n",
        env!("CARGO_PKG_VERSION"),
        info.root,
        info.mode
    );
    // A URL too long for its row goes alone on the next line: it is meant
    // to be copied, so it is never split.
    if LABEL + info.url.chars().count() <= WIDTH {
        let _ = writeln!(s, "  {:<10} {}", "URL", console::style(info.url).bold());
    } else {
        let _ = writeln!(s, "  URL\n  {}", console::style(info.url).bold());
    }
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(s, "  {k:<10} {v}");
    };
    row("user", info.user);
    let note = if info.generated_password {
        "   (generated for this run)"
    } else {
        ""
    };
    row("password", &format!("{}{note}", info.password));
    if info.anonymous {
        row(
            "anonymous",
            "also accepted (user anonymous or ftp, read-only)",
        );
    }
    if !info.others.is_empty() {
        row("also on", &info.others.join(", "));
    }
    match info.expires {
        Some(d) => {
            let at = std::time::SystemTime::now() + d;
            // Past a day, the time of day alone would not say which day.
            let at = match d >= Duration::from_secs(86_400) {
                true => local_date_time(at),
                false => crate::cli::ui::clock_at(at),
            };
            row(
                "expires",
                &format!("in {} (at {at}); Ctrl-C stops sooner", span(d)),
            );
        }
        None => row("expires", "never; Ctrl-C stops"),
    }
    match info.temp {
        Temp::No => {}
        Temp::Removed => row(
            "folder",
            "temporary: removed when ftpshare exits (--keep keeps it)",
        ),
        Temp::Kept => row("folder", "temporary, kept when ftpshare exits (--keep)"),
    }
    let url = info.url;
    let quoted = sh_quote(url);
    let login = sh_quote(&format!("{},{}", info.user, info.password));
    if let Some(tls) = &info.tls {
        // 32 pairs of hex digits: two lines of 16 fit the width.
        row(
            "TLS",
            "certificate SHA-256 fingerprint (check your client shows it):",
        );
        let pairs: Vec<&str> = tls.fingerprint.split(':').collect();
        for half in pairs.chunks(16) {
            row("", &half.join(":"));
        }
        if tls.implicit {
            row("clients", "choose implicit FTPS (FileZilla: ftps://)");
        } else {
            row(
                "clients",
                "choose explicit FTPS (FileZilla: ftpes://); plain FTP is refused",
            );
        }
        row("", "the commands below accept this certificate only");
        if tls.strict {
            row(
                "reuse",
                "required: a data connection must resume the TLS session of a login",
            );
            row("", "of yours; clients that never resume (ftplib) get 522");
        } else {
            row("reuse", "offered, not required: every FTPS client works;");
            row(
                "",
                "data connections stay encrypted and tied to your address",
            );
        }
    }
    // curl's flags for the TLS mode: -k because the certificate is
    // self-signed, and the key pinned so that no other is accepted.
    let mut curl = vec![Piece::word("curl")];
    if let Some(tls) = &info.tls {
        if !tls.implicit {
            curl.push(Piece::word("--ssl-reqd"));
        }
        curl.push(Piece::word("-k"));
        if let Some(pin) = tls.spki_sha256 {
            curl.push(Piece::word("--pinnedpubkey"));
            curl.push(Piece::word(&sh_quote(&format!("sha256//{pin}"))));
        }
    }
    if info.mode != "upload-only" {
        let mut cmd = curl.clone();
        cmd.push(Piece::word(&quoted));
        command(&mut s, "curl", &cmd);
    }
    if info.mode != "read-only" {
        let mut cmd = curl;
        cmd.extend([Piece::word("-T FILE"), Piece::word(&quoted)]);
        command(&mut s, "upload", &cmd);
    }
    let port = info.port.to_string();
    let mut lftp = vec![Piece::word("lftp")];
    if let Some(tls) = &info.tls {
        // Verification stays on for every other certificate. The settings
        // are one double-quoted word, broken only at its spaces (where
        // the indentation of a continuation line is harmless to lftp).
        let pin = format!("set ssl:verify-certificate/{} no", tls.fingerprint_sha1);
        let mut settings = Vec::new();
        if !tls.implicit {
            settings.push("set ftp:ssl-force true;".to_string());
            settings.push("set ftp:ssl-protect-data true;".to_string());
        }
        settings.push(pin);
        let last = settings.len() - 1;
        for (i, text) in settings.into_iter().enumerate() {
            let open = if i == 0 { "-e \"" } else { "" };
            let close = if i == last { "\"" } else { "" };
            lftp.push(Piece::quoted(&format!("{open}{text}{close}")));
        }
    }
    lftp.push(Piece::word(&format!("-u {login}")));
    match &info.tls {
        Some(t) if t.implicit => {
            lftp.push(Piece::word(&format!("ftps://{}:{port}", info.host)));
        }
        _ => lftp.extend([
            Piece::word("-p"),
            Piece::word(&port),
            Piece::word(info.host),
        ]),
    }
    command(&mut s, "lftp", &lftp);
    if qr {
        if let Some(code) = qr_code(url, qr_invert) {
            let _ = writeln!(s);
            s.push_str(&beside(&code, QR_NOTE, WIDTH));
        }
    }
    s
}

/// `text` as one shell word.
/// `200d`, `1h 30m`, `90s` → `1m 30s`: whole units, no months (whose
/// length humantime guesses).
fn span(d: Duration) -> String {
    let secs = d.as_secs();
    let parts = [
        (secs / 86_400, "d"),
        (secs / 3600 % 24, "h"),
        (secs / 60 % 60, "m"),
        (secs % 60, "s"),
    ];
    let text: Vec<String> = parts
        .iter()
        .filter(|(n, _)| *n > 0)
        .map(|(n, unit)| format!("{n}{unit}"))
        .collect();
    match text.is_empty() {
        true => "0s".into(),
        false => text.join(" "),
    }
}

/// `2027-06-19 21:04` in local time (UTC if the time zone is unknown).
fn local_date_time(t: std::time::SystemTime) -> String {
    let secs = t
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let stamp = libc::time_t::try_from(secs).unwrap_or(libc::time_t::MAX);
    // SAFETY: localtime_r only writes the tm it is given.
    let mut tm: libc::tm = unsafe { std::mem::zeroed() };
    if unsafe { libc::localtime_r(&stamp, &mut tm) }.is_null() {
        return crate::cli::ui::clock_at(t);
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}",
        i64::from(tm.tm_year) + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min
    )
}

fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The banner never needs more columns than this.
pub const WIDTH: usize = 80;

/// Columns taken by a row's label (`  curl       `).
const LABEL: usize = 13;

/// Where a command's continuation lines start.
const CONTINUED: usize = LABEL + 2;

/// A piece of a shell command kept on one line: shell words (an option
/// with its value), or a space-separated part of a double-quoted word.
#[derive(Clone)]
struct Piece {
    text: String,
    /// Inside double quotes: a line break made with `\` there vanishes,
    /// so the piece itself may be split where it does not fit.
    quoted: bool,
}

impl Piece {
    fn word(text: &str) -> Piece {
        Piece {
            text: text.to_string(),
            quoted: false,
        }
    }

    fn quoted(text: &str) -> Piece {
        Piece {
            text: text.to_string(),
            quoted: true,
        }
    }
}

/// A ready-to-paste command in the row `label`, within `WIDTH` columns:
/// longer commands go on with `\` continuation lines, so they still paste
/// as one command. A piece too long for any line: a quoted one is split
/// (its continuation starts in column 0, as any indentation would become
/// part of the word); a plain word (a long URL) stays whole.
fn command(out: &mut String, label: &str, pieces: &[Piece]) {
    let mut line = format!("  {label:<10} ");
    let mut fresh = true;
    for piece in pieces {
        let len = piece.text.chars().count();
        // +2 for the " \" a continued line ends with.
        if !fresh && line.chars().count() + 1 + len + 2 > WIDTH {
            let _ = writeln!(out, "{line} \\");
            // Outside quotes any indentation works: less of it when the
            // piece would not fit at the usual one.
            let indent = if CONTINUED + len + 2 <= WIDTH || piece.quoted {
                CONTINUED
            } else {
                2
            };
            line = " ".repeat(indent);
            fresh = true;
        }
        if !fresh {
            line.push(' ');
        }
        fresh = false;
        if !piece.quoted {
            line.push_str(&piece.text);
            continue;
        }
        for c in piece.text.chars() {
            if line.chars().count() + 2 > WIDTH {
                let _ = writeln!(out, "{line}\\");
                line.clear();
            }
            line.push(c);
        }
    }
    let _ = writeln!(out, "{line}");
}

const QR_NOTE: &str = "Scan with an FTP app: phone browsers no longer open ftp:// links.";

/// The QR code indented, with `note` word-wrapped to its right, or below
/// it when there is no room; no line is wider than `width` columns.
fn beside(code: &str, note: &str, width: usize) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let qr_width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let room = width.saturating_sub(2 + qr_width + 3);
    let mut out = String::new();
    if room >= 20 {
        let note = wrap(note, room);
        for (i, line) in lines.iter().enumerate() {
            // Start beside the code's top edge, below its quiet zone.
            let caption = i.checked_sub(2).and_then(|n| note.get(n));
            match caption {
                Some(c) => {
                    let _ = writeln!(out, "  {line}   {c}");
                }
                None => {
                    let _ = writeln!(out, "  {line}");
                }
            }
        }
    } else {
        for line in &lines {
            let _ = writeln!(out, "  {line}");
        }
        for l in wrap(note, width.saturating_sub(2)) {
            let _ = writeln!(out, "  {l}");
        }
    }
    out
}

fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut cur = String::new();
    for word in text.split_whitespace() {
        if !cur.is_empty() && cur.chars().count() + 1 + word.chars().count() > width {
            lines.push(std::mem::take(&mut cur));
        }
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(word);
    }
    if !cur.is_empty() {
        lines.push(cur);
    }
    lines
}

/// The URL as a QR code in Unicode half blocks, quiet zone included. By
/// default light modules are drawn, for the usual dark terminal.
pub fn qr_code(text: &str, invert: bool) -> Option<String> {
    let code = QrCode::new(text.as_bytes()).ok()?;
    let mut r = code.render::<Dense1x2>();
    r.quiet_zone(true);
    if !invert {
        r.dark_color(Dense1x2::Light).light_color(Dense1x2::Dark);
    }
    Some(r.build())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_in_whole_units() {
        assert_eq!(span(Duration::from_secs(200 * 86_400)), "200d");
        assert_eq!(span(Duration::from_secs(5400)), "1h 30m");
        assert_eq!(span(Duration::from_secs(90)), "1m 30s");
    }

    #[test]
    fn shell_quoting() {
        assert_eq!(sh_quote("a b"), "'a b'");
        assert_eq!(sh_quote("it's"), "'it'\\''s'");
    }

    #[test]
    fn wrapping_keeps_words_whole() {
        assert_eq!(wrap("aa bb cc dd", 5), ["aa bb", "cc dd"]);
        assert_eq!(wrap("longword x", 4), ["longword", "x"]);
    }

    #[test]
    fn banner_with_qr_fits_80_columns() {
        let url = "ftp://share:AbCdEfGhJkMnPqRsTuVwXy@192.168.100.200:65535/";
        let code = qr_code(url, false).unwrap();
        let text = beside(&code, QR_NOTE, WIDTH);
        assert!(text.lines().all(|l| l.chars().count() <= WIDTH), "{text}");
        assert!(text.contains("FTP app"));
        // A code too wide for a note beside it gets the note below.
        let wide = beside(&code, QR_NOTE, 50);
        assert!(wide.lines().all(|l| l.chars().count() <= 50), "{wide}");
        assert!(wide.lines().last().unwrap().contains("links"));
    }

    #[test]
    fn qr_fits_80_columns() {
        let url = "ftp://share:AbCdEfGhJkMnPqRsTuVwXy@192.168.100.200:65535/";
        let code = qr_code(url, false).unwrap();
        let width = code.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(width + 2 + 3 + 46 <= 100 && width <= 45, "width {width}");
        assert!(code.contains('▀') || code.contains('▄') || code.contains('█'));
    }
}
