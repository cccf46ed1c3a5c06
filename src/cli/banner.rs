//! The block a person sees at startup: where, how to log in, for how long,
//! ready-to-paste commands and a QR code of the URL.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use ftpshare::{escape, RunningServer};

use super::fit::{fit_line, width, wrap, Piece};
use qrcode::render::unicode::Dense1x2;
use qrcode::QrCode;

/// What the banner shows; built by main from the running server.
pub struct BannerInfo<'a> {
    pub root: &'a str,
    pub mode: &'a str,
    pub url: &'a str,
    /// Where `curl -T` can upload to, if anywhere (a shared folder).
    pub upload_url: Option<&'a str>,
    pub host: &'a str,
    pub port: u16,
    pub user: &'a str,
    pub password: &'a str,
    pub generated_password: bool,
    pub anonymous: bool,
    pub others: &'a [String],
    /// When the run ends: a banner drawn again after a resize tells the
    /// time left then.
    pub expires: Option<SystemTime>,
    pub tls: Option<TlsInfo<'a>>,
    pub temp: Temp,
    /// Active upload limits (`at most 2 MiB per file, …`), when uploads are allowed.
    pub limits: Option<&'a str>,
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

/// The banner for a terminal `width` columns wide: the QR code, then what
/// is shared, how to log in and the commands (`usize::MAX` when the
/// output is not a terminal: whole lines, and the QR code's note within
/// [`WIDTH`]).
pub fn render(info: &BannerInfo<'_>, qr: bool, qr_invert: bool, width: usize) -> String {
    // The folder, host, user and interface names can hold anything.
    let (root, url, host) = (escape(info.root), escape(info.url), escape(info.host));
    let upload_url = info.upload_url.map(escape);
    let (user, password) = (escape(info.user), escape(info.password));
    let others: Vec<String> = info.others.iter().map(|o| escape(o).into()).collect();
    let info = &BannerInfo {
        root: &root,
        url: &url,
        upload_url: upload_url.as_deref(),
        host: &host,
        user: &user,
        password: &password,
        others: &others,
        ..*info
    };
    // The QR code first and the facts to copy last: on a short terminal
    // (80×24) the top of the code scrolls away, never the URL and password.
    let mut out = String::new();
    if qr {
        if let Some(code) = qr_code(info.url, qr_invert) {
            out.push_str(&beside(&code, QR_NOTE, width.min(WIDTH)));
            out.push('\n');
        }
    }
    out.push_str(&title(info, width));
    let mut rows = Rows { out, width };
    login_rows(&mut rows, info);
    expires_row(&mut rows, info.expires);
    if let Some(limits) = info.limits {
        rows.prose("limits", limits);
    }
    temp_row(&mut rows, info.temp);
    if let Some(tls) = &info.tls {
        tls_rows(&mut rows, tls);
    }
    command_rows(&mut rows, info);
    rows.out
}

/// `ftpshare 0.1.0 — sharing FOLDER (mode)` and a blank line; the folder
/// is the piece shortened or wrapped to fit.
fn title(info: &BannerInfo<'_>, width: usize) -> String {
    let mut s = String::new();
    let title = format!("ftpshare {} — sharing ", env!("CARGO_PKG_VERSION"));
    let mode = format!(" ({})", info.mode);
    let pieces = [
        Piece::Text(title.as_str()),
        Piece::Name(info.root),
        Piece::Text(&mode),
    ];
    for line in fit_line(&pieces, width, 2) {
        let _ = writeln!(s, "{line}");
    }
    let _ = writeln!(s);
    s
}

/// Where to connect and with what: the URL, the login, and the other
/// addresses this machine answers on.
fn login_rows(rows: &mut Rows, info: &BannerInfo<'_>) {
    rows.copy("URL", &console::style(info.url).bold().to_string());
    rows.copy("user", info.user);
    let note = match info.generated_password {
        true => "(generated for this run)",
        false => "",
    };
    rows.copy_noted("password", info.password, note);
    if info.anonymous {
        rows.prose(
            "anonymous",
            "also accepted (user anonymous or ftp, read-only)",
        );
    }
    if !info.others.is_empty() {
        rows.prose("also on", &info.others.join(", "));
    }
}

fn expires_row(rows: &mut Rows, expires: Option<SystemTime>) {
    let Some(at) = expires else {
        rows.prose("expires", "never; Ctrl-C stops");
        return;
    };
    // Whole seconds, rounded up: `1h` right after the start.
    let left = at.duration_since(SystemTime::now()).unwrap_or_default();
    let d = Duration::from_secs(left.as_secs() + u64::from(left.subsec_nanos() > 0));
    // Past a day, the time of day alone would not say which day.
    let at = match d >= Duration::from_secs(86_400) {
        true => local_date_time(at),
        false => crate::cli::ui::clock_at(at),
    };
    rows.prose(
        "expires",
        &format!("in {} (at {at}); Ctrl-C stops sooner", span(d)),
    );
}

fn temp_row(rows: &mut Rows, temp: Temp) {
    match temp {
        Temp::No => {}
        Temp::Removed => rows.prose(
            "folder",
            "temporary: removed when ftpshare exits (--keep keeps it)",
        ),
        Temp::Kept => rows.prose("folder", "temporary, kept when ftpshare exits (--keep)"),
    }
}

/// The certificate to check, which kind of FTPS to choose, and whether a
/// data connection must resume the login's TLS session.
fn tls_rows(rows: &mut Rows, tls: &TlsInfo<'_>) {
    // 32 pairs of hex digits: two lines of 16 fit the width.
    rows.prose(
        "TLS",
        "certificate SHA-256 fingerprint (check your client shows it):",
    );
    let pairs: Vec<&str> = tls.fingerprint.split(':').collect();
    for half in pairs.chunks(16) {
        rows.copy("", &half.join(":"));
    }
    if tls.implicit {
        rows.prose("clients", "choose implicit FTPS (FileZilla: ftps://)");
    } else {
        rows.prose(
            "clients",
            "choose explicit FTPS (FileZilla: ftpes://); plain FTP is refused",
        );
    }
    rows.prose("", "the commands below accept this certificate only");
    // Two short rows each: the banner stays within 80 columns even
    // when it is not a terminal (no width to wrap prose to).
    let reuse = match tls.strict {
        true => [
            "required: a data connection must resume the TLS session of a login",
            "of yours; clients that never resume (ftplib) get 522",
        ],
        false => [
            "offered, not required: every FTPS client works;",
            "data connections stay encrypted and tied to your address",
        ],
    };
    rows.prose("reuse", reuse[0]);
    rows.prose("", reuse[1]);
}

/// Ready-to-paste commands: curl to download (unless upload-only) and to
/// upload (unless read-only), and lftp to browse.
fn command_rows(rows: &mut Rows, info: &BannerInfo<'_>) {
    let curl = curl(info.tls.as_ref());
    if info.mode != "upload-only" {
        // A URL that names a file saves it under its name.
        let mut cmd = curl.clone();
        if !info.url.ends_with('/') {
            cmd.push(Arg::plain("-O"));
        }
        cmd.push(Arg::plain(&sh_quote(info.url)));
        rows.command("curl", &cmd);
    }
    if let Some(to) = info.upload_url.filter(|_| info.mode != "read-only") {
        let mut cmd = curl;
        cmd.extend([Arg::plain("-T FILE"), Arg::plain(&sh_quote(to))]);
        rows.command("upload", &cmd);
    }
    rows.command("lftp", &lftp(info));
}

/// curl and its flags for the TLS mode: -k because the certificate is
/// self-signed, and the key pinned so that no other is accepted.
fn curl(tls: Option<&TlsInfo<'_>>) -> Vec<Arg> {
    let mut curl = vec![Arg::plain("curl")];
    if let Some(tls) = tls {
        if !tls.implicit {
            curl.push(Arg::plain("--ssl-reqd"));
        }
        curl.push(Arg::plain("-k"));
        if let Some(pin) = tls.spki_sha256 {
            curl.push(Arg::plain("--pinnedpubkey"));
            curl.push(Arg::plain(&sh_quote(&format!("sha256//{pin}"))));
        }
    }
    curl
}

/// lftp logged in to this server, with the TLS settings it needs.
fn lftp(info: &BannerInfo<'_>) -> Vec<Arg> {
    let mut lftp = vec![Arg::plain("lftp")];
    if let Some(tls) = &info.tls {
        lftp.extend(lftp_tls(tls));
    }
    // `-u` splits at the first comma: a user name with one takes the
    // long options.
    let login = match info.user.contains(',') {
        false => format!(
            "-u {}",
            sh_quote(&format!("{},{}", info.user, info.password))
        ),
        true => format!(
            "--user {} --password {}",
            sh_quote(info.user),
            sh_quote(info.password)
        ),
    };
    lftp.push(Arg::plain(&login));
    let port = info.port.to_string();
    match &info.tls {
        Some(t) if t.implicit => {
            let url = format!("ftps://{}:{port}", info.host);
            lftp.push(Arg::plain(&shell_word(&url)));
        }
        _ => lftp.extend([
            Arg::plain("-p"),
            Arg::plain(&port),
            Arg::plain(&shell_word(info.host)),
        ]),
    }
    lftp
}

/// lftp's `-e "…"` for TLS. Verification stays on for every other
/// certificate. The settings are one double-quoted word, broken only at
/// its spaces (where the indentation of a continuation line is harmless
/// to lftp).
fn lftp_tls(tls: &TlsInfo<'_>) -> Vec<Arg> {
    let pin = format!("set ssl:verify-certificate/{} no", tls.fingerprint_sha1);
    let mut settings = Vec::new();
    if !tls.implicit {
        settings.push("set ftp:ssl-force true;".to_string());
        settings.push("set ftp:ssl-protect-data true;".to_string());
    }
    settings.push(pin);
    let last = settings.len() - 1;
    settings
        .into_iter()
        .enumerate()
        .map(|(i, text)| {
            let open = if i == 0 { "-e \"" } else { "" };
            let close = if i == last { "\"" } else { "" };
            Arg::quoted(&format!("{open}{text}{close}"))
        })
        .collect()
}

/// What is shared, for the first line: the folder, or the names listed in
/// the virtual root (folders with a trailing `/`).
pub fn shared(server: &RunningServer) -> String {
    match server.root() {
        Some(folder) => folder.display().to_string(),
        None => server
            .paths()
            .iter()
            .map(|p| match p.is_dir {
                true => format!("{}/", p.name),
                false => p.name.clone(),
            })
            .collect::<Vec<_>>()
            .join(", "),
    }
}

/// Where uploads can go: the root folder, else the first shared folder.
pub fn upload_url(server: &RunningServer, url: &str) -> Option<String> {
    if server.root().is_some() {
        return Some(url.to_string());
    }
    let folder = server.paths().into_iter().find(|p| p.is_dir)?;
    Some(format!("{url}{}/", ftpshare::url_escape(&folder.name)))
}

/// Banner rows, `  key        value`, fitted to the width: a value too
/// long to sit beside its key goes on the lines below it.
struct Rows {
    out: String,
    width: usize,
}

impl Rows {
    /// A value meant to be copied (a URL, a command, a password): never
    /// broken, and when it does not fit beside its key, alone on its own
    /// line, so that a triple click or a drag copies exactly it.
    fn copy(&mut self, key: &str, value: &str) {
        if !self.one_line(key, value) {
            self.key(key);
            let _ = writeln!(self.out, "{value}");
        }
    }

    /// A value to copy with a remark after it (`password   PASS   (generated
    /// for this run)`); the remark goes below when the line is too long.
    fn copy_noted(&mut self, key: &str, value: &str, note: &str) {
        if note.is_empty() || !self.one_line(key, &format!("{value}   {note}")) {
            self.copy(key, value);
            if !note.is_empty() {
                self.prose("", note);
            }
        }
    }

    /// Prose: wrapped under its key when it does not fit beside it.
    fn prose(&mut self, key: &str, value: &str) {
        if !self.one_line(key, value) {
            self.key(key);
            for line in wrap(value, self.width.saturating_sub(4)) {
                let _ = writeln!(self.out, "    {line}");
            }
        }
    }

    /// Writes `  key        value` if it fits, and says whether it did.
    fn one_line(&mut self, key: &str, value: &str) -> bool {
        let line = format!("  {key:<10} {value}");
        let fits = width(&line) <= self.width;
        if fits {
            let _ = writeln!(self.out, "{line}");
        }
        fits
    }

    /// A ready-to-paste command in the row `label`, within the width (and
    /// never more than [`WIDTH`] columns, terminal or not):
    /// longer commands go on with `\` continuation lines, so they still paste
    /// as one command. A piece too long for any line: a quoted one is split
    /// (its continuation starts in column 0, as any indentation would become
    /// part of the word); a plain word (a long URL) stays whole.
    fn command(&mut self, label: &str, pieces: &[Arg]) {
        let width = self.width.min(WIDTH);
        let whole: Vec<&str> = pieces.iter().map(|p| p.text.as_str()).collect();
        let whole = whole.join(" ");
        // On one line when it fits, beside its key or alone below it.
        let line = format!("  {label:<10} {whole}");
        if self::width(&line) <= width {
            let _ = writeln!(self.out, "{line}");
            return;
        }
        if self::width(&whole) <= width {
            self.key(label);
            let _ = writeln!(self.out, "{whole}");
            return;
        }
        let out = &mut self.out;
        let mut line = format!("  {label:<10} ");
        let mut fresh = true;
        for piece in pieces {
            let len = piece.text.chars().count();
            // +2 for the " \" a continued line ends with.
            if !fresh && line.chars().count() + 1 + len + 2 > width {
                let _ = writeln!(out, "{line} \\");
                // Outside quotes any indentation works: less of it when the
                // piece would not fit at the usual one.
                let indent = if CONTINUED + len + 2 <= width || piece.quoted {
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
                if line.chars().count() + 2 > width {
                    let _ = writeln!(out, "{line}\\");
                    line.clear();
                }
                line.push(c);
            }
        }
        let _ = writeln!(out, "{line}");
    }

    fn key(&mut self, key: &str) {
        if !key.is_empty() {
            let _ = writeln!(self.out, "  {key}");
        }
    }
}

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

/// `text` as it can be typed: as it is when the shell reads it as one
/// literal word, quoted otherwise (`[::1]` unquoted is a glob, which a
/// file named `1` would replace).
fn shell_word(text: &str) -> String {
    let literal = |c: char| c.is_ascii_alphanumeric() || "._-:/@%+=,".contains(c);
    match !text.is_empty() && text.chars().all(literal) {
        true => text.to_string(),
        false => sh_quote(text),
    }
}

/// `text` as one shell word.
fn sh_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', "'\\''"))
}

/// The QR code and its note never take more columns than this.
const WIDTH: usize = 80;

/// Where a command's continuation lines start: two columns in from its
/// row's value (`  curl       `).
const CONTINUED: usize = 15;

/// A piece of a shell command kept on one line: shell words (an option
/// with its value), or a space-separated part of a double-quoted word.
#[derive(Clone)]
struct Arg {
    text: String,
    /// Inside double quotes: a line break made with `\` there vanishes,
    /// so the piece itself may be split where it does not fit.
    quoted: bool,
}

impl Arg {
    fn plain(text: &str) -> Arg {
        Arg {
            text: text.to_string(),
            quoted: false,
        }
    }

    fn quoted(text: &str) -> Arg {
        Arg {
            text: text.to_string(),
            quoted: true,
        }
    }
}

const QR_NOTE: &str = "Scan with an FTP app: phone browsers no longer open ftp:// links.";

/// The QR code indented, with `note` word-wrapped to its right, or below
/// it when there is no room; no line is wider than `width` columns.
fn beside(code: &str, note: &str, width: usize) -> String {
    let lines: Vec<&str> = code.lines().collect();
    let qr_width = lines.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let room = width.saturating_sub(2 + qr_width + 3);
    let mut out = String::new();
    if 2 + qr_width > width {
        // A wrapped code cannot be scanned.
        let why = format!("(no QR code: it needs {} columns)", 2 + qr_width);
        for l in wrap(&why, width.saturating_sub(2)) {
            let _ = writeln!(out, "  {l}");
        }
        return out;
    }
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
        assert_eq!(shell_word("192.168.1.20"), "192.168.1.20");
        assert_eq!(shell_word("[::1]"), "'[::1]'");
        assert_eq!(shell_word("ftps://[::1]:21"), "'ftps://[::1]:21'");
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

    /// The banner's commands, continuation lines joined, without the
    /// row label and without blanks (which a continuation may add or
    /// move but which never change what the shell runs here).
    fn squashed_commands(text: &str) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        let mut continued = false;
        for line in text.lines() {
            let t = line.trim_start();
            let keys = ["curl", "upload", "lftp"];
            let body = if continued {
                t
            } else if keys.contains(&t) {
                // The key alone: the command is on the next line.
                out.push(String::new());
                continued = true;
                continue;
            } else if let Some(rest) = ["curl ", "upload ", "lftp "]
                .iter()
                .find_map(|k| t.strip_prefix(k))
            {
                out.push(String::new());
                rest
            } else {
                continue;
            };
            continued = body.ends_with('\\');
            let body = body.trim_end_matches('\\');
            if let Some(cmd) = out.last_mut() {
                cmd.extend(body.chars().filter(|c| !c.is_whitespace()));
            }
        }
        out
    }

    #[test]
    fn banner_fits_every_width_and_keeps_commands_whole() {
        let fingerprint = &"AB:".repeat(32)[..95];
        for tls in [
            None,
            Some(TlsInfo {
                fingerprint,
                spki_sha256: Some("jRkMpEmovHX8OoadcKwUM01wO2/9rjbU/LOz5czdML4="),
                fingerprint_sha1: &fingerprint[..59],
                implicit: false,
                strict: false,
            }),
        ] {
            let commands = squashed_commands(&render_at(tls, 1000));
            assert_eq!(commands.len(), 3, "{commands:?}");
            for cols in [40, 60, 80, 100, 120] {
                let text = render_at(tls, cols);
                for line in text.lines() {
                    // Too wide only when it is one word (a URL) that
                    // cannot be broken.
                    let word = line.trim().trim_end_matches(" \\");
                    let alone = !word.contains(' ');
                    assert!(width(line) <= cols || alone, "{cols}: {line:?}\n{text}");
                }
                assert_eq!(squashed_commands(&text), commands, "{cols}:\n{text}");
                assert!(text.contains("ftp://share:AbCdEfGhJkMnPqRsTuVwXy@192.168.100.200:65535/"));
                assert!(text.contains("AbCdEfGhJkMnPqRsTuVwXy"));
                assert!(text.contains("(generated for this run)"));
            }
        }
    }

    /// The README's promise: from the minimum it states up, no banner line
    /// is wider than the terminal, with the longest IPv4 URL a generated
    /// password makes, with and without TLS. Narrower, only a URL or a
    /// command word alone on its line may be wider.
    #[test]
    fn no_banner_line_wraps_from_the_stated_minimum() {
        let readme = include_str!("../../README.md");
        let (_, after) = readme
            .split_once("no line wraps from ")
            .expect("the README states a minimum");
        let min: usize = after
            .split_whitespace()
            .next()
            .and_then(|n| n.parse().ok())
            .expect("a number of columns");
        let fingerprint = &"AB:".repeat(32)[..95];
        let tls = TlsInfo {
            fingerprint,
            spki_sha256: Some("jRkMpEmovHX8OoadcKwUM01wO2/9rjbU/LOz5czdML4="),
            fingerprint_sha1: &fingerprint[..59],
            implicit: false,
            strict: false,
        };
        for tls in [None, Some(tls)] {
            for cols in min..=120 {
                let text = render_at(tls, cols);
                let wide = text.lines().find(|l| width(l) > cols);
                assert!(wide.is_none(), "{cols}: {wide:?}");
            }
            assert!(render_at(tls, min - 1).lines().any(|l| width(l) > min - 1));
        }
    }

    /// The banner for `cols` columns, styling removed.
    fn render_at(tls: Option<TlsInfo<'_>>, cols: usize) -> String {
        let info = BannerInfo {
            root: "/home/ann/Pictures/holidays 2024/the long folder name that goes on",
            mode: "writable",
            url: "ftp://share:AbCdEfGhJkMnPqRsTuVwXy@192.168.100.200:65535/",
            upload_url: Some("ftp://share:AbCdEfGhJkMnPqRsTuVwXy@192.168.100.200:65535/"),
            host: "192.168.100.200",
            port: 65535,
            user: "share",
            password: "AbCdEfGhJkMnPqRsTuVwXy",
            generated_password: true,
            anonymous: true,
            others: &[],
            expires: SystemTime::now().checked_add(Duration::from_secs(3600)),
            tls,
            temp: Temp::Removed,
            limits: Some(
                "uploads: at most 2 GiB per file, 20 GiB in all, 256 MiB kept free on disk",
            ),
        };
        console::strip_ansi_codes(&render(&info, true, false, cols)).into_owned()
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
