//! The block a person sees at startup: where, how to log in, for how long,
//! ready-to-paste commands and a QR code of the URL.

use std::fmt::Write as _;
use std::time::Duration;

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
    pub temp: bool,
}

pub struct TlsInfo<'a> {
    pub fingerprint: &'a str,
    pub implicit: bool,
}

pub fn render(info: &BannerInfo<'_>, qr: bool, qr_invert: bool) -> String {
    let mut s = String::new();
    let how_long = match info.expires {
        Some(d) => format!("for {}", humantime::format_duration(d)),
        None => "until Ctrl-C".to_string(),
    };
    let _ = writeln!(
        s,
        "ftpshare {} — serving {} ({}) {how_long}\n",
        env!("CARGO_PKG_VERSION"),
        info.root,
        info.mode
    );
    let mut row = |k: &str, v: &str| {
        let _ = writeln!(s, "  {k:<10} {v}");
    };
    row("URL", &console::style(info.url).bold().to_string());
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
    if info.temp {
        row(
            "folder",
            "temporary: removed when ftpshare exits (--keep keeps it)",
        );
    }
    let url = info.url;
    match &info.tls {
        None => {
            row("curl", &format!("curl '{url}'"));
            row(
                "lftp",
                &format!(
                    "lftp -u '{},{}' -p {} {}",
                    info.user, info.password, info.port, info.host
                ),
            );
        }
        Some(tls) => {
            row("TLS", &format!("SHA-256 {}", tls.fingerprint));
            if tls.implicit {
                row("clients", "choose implicit FTPS (FileZilla: ftps://)");
                row("curl", &format!("curl -k '{url}'"));
                row(
                    "lftp",
                    &format!(
                        "lftp -e 'set ssl:verify-certificate no' -u '{},{}' ftps://{}:{}",
                        info.user, info.password, info.host, info.port
                    ),
                );
            } else {
                row(
                    "clients",
                    "choose explicit FTPS (FileZilla: ftpes://); plain FTP is refused",
                );
                row("curl", &format!("curl --ssl-reqd -k '{url}'"));
                row(
                    "lftp",
                    &format!(
                        "lftp -e 'set ftp:ssl-force true; set ssl:verify-certificate no' -u '{},{}' -p {} {}",
                        info.user, info.password, info.port, info.host
                    ),
                );
            }
            row(
                "",
                "check that the fingerprint your client shows matches the one above",
            );
        }
    }
    if qr {
        if let Some(code) = qr_code(url, qr_invert) {
            let _ = writeln!(s);
            let lines: Vec<&str> = code.lines().collect();
            let captions = [
                "scan with an FTP app",
                "(phone browsers no longer open ftp:// links)",
            ];
            for (i, line) in lines.iter().enumerate() {
                let caption = if i >= 1 && i <= captions.len() {
                    captions[i - 1]
                } else {
                    ""
                };
                let _ = writeln!(s, "  {line}   {caption}");
            }
        }
    }
    s
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
    fn qr_fits_80_columns() {
        let url = "ftp://share:AbCdEfGhJkMnPqRsTuVwXy@192.168.100.200:65535/";
        let code = qr_code(url, false).unwrap();
        let width = code.lines().map(|l| l.chars().count()).max().unwrap();
        assert!(width + 2 + 3 + 46 <= 100 && width <= 45, "width {width}");
        assert!(code.contains('▀') || code.contains('▄') || code.contains('█'));
    }
}
