//! The command line: the flags, their defaults and conflicts (clap), and
//! the parsers for durations, port ranges and rates; README.md explains them.

use std::ffi::OsString;
use std::net::IpAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use super::size::{parse_limit, parse_size};

#[derive(Debug, Parser)]
#[command(
    name = "ftpshare",
    version,
    about = "Share a folder or files over FTP(S) in one command",
    long_about = "Share a folder or files over FTP(S) in one command.\n\nServes PATH (default: the current directory) read-only with a fresh one-time password, prints the URL and a QR code, and exits after --timeout or on Ctrl-C. One file gets a URL that opens it directly; several paths are listed by their names.",
    args_conflicts_with_subcommands = true,
    subcommand_value_name = "TOOL",
    subcommand_help_heading = "Tools"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Option<Tool>,
    #[command(flatten)]
    pub serve: Serve,
}

#[derive(Debug, Subcommand)]
pub enum Tool {
    /// Print a shell completion script
    Completions {
        #[arg(value_enum)]
        shell: clap_complete::Shell,
    },
    /// Print the man page (roff)
    Man,
}

#[derive(Debug, clap::Args)]
pub struct Serve {
    /// Files and folders to share [default: the current directory]. One folder is served as the root; one file, or several paths, are listed by name in a read-only virtual root (writes only inside the shared folders)
    #[arg(value_name = "PATH", conflicts_with = "temp")]
    pub paths: Vec<PathBuf>,

    /// Control port; 0 picks a free random port
    #[arg(short, long, default_value_t = 0)]
    pub port: u16,

    /// Address to listen on, IPv4 or IPv6 [default: all interfaces]
    #[arg(short, long, value_name = "ADDR")]
    pub bind: Option<IpAddr>,

    /// Login name
    #[arg(short, long, default_value = "share", value_parser = clap::builder::NonEmptyStringValueParser::new())]
    pub user: String,

    /// Fixed password instead of a generated one
    #[arg(long, env = "FTPSHARE_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,

    /// Allow uploads, new folders, renames and deletes
    #[arg(short, long, conflicts_with = "upload_only")]
    pub write: bool,

    /// Drop box: uploads only; nothing can be listed, downloaded or replaced
    #[arg(long)]
    pub upload_only: bool,

    /// Also accept anonymous/ftp logins (always read-only)
    #[arg(long, conflicts_with = "upload_only")]
    pub anonymous: bool,

    /// Exit after this long (90s, 10m, 2h, 7d; a bare number is seconds; 0 = never) [default: 1h; none with a COMMAND]
    #[arg(short, long, value_parser = parse_duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub timeout: Option<MaybeDuration>,

    /// Close control connections idle this long (0 = never)
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub idle_timeout: MaybeDuration,

    /// Exit after N completed downloads or uploads
    #[arg(long, value_name = "N", conflicts_with_all = ["once", "command"], value_parser = at_least_one::<u64>)]
    pub max_transfers: Option<u64>,

    /// Exit after one completed transfer (--max-transfers 1)
    #[arg(long, conflicts_with = "command")]
    pub once: bool,

    /// Explicit FTPS (AUTH TLS) with a fresh self-signed certificate; plain-text logins are refused
    #[arg(long)]
    pub tls: bool,

    /// Implicit FTPS: TLS from the first byte (ftps:// URLs)
    #[arg(long, conflicts_with = "tls")]
    pub implicit_tls: bool,

    /// PEM certificate (chain) for FTPS instead of a generated one; turns on --tls unless --implicit-tls is given
    #[arg(long, value_name = "FILE", requires = "tls_key")]
    pub tls_cert: Option<PathBuf>,

    /// PEM private key for --tls-cert
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    pub tls_key: Option<PathBuf>,

    /// Strict FTPS: data connections must resume a TLS session of a control connection logged in as the same user from the same address (refuses clients such as Python's ftplib). Turns on --tls unless --implicit-tls is given
    #[arg(long)]
    pub require_tls_reuse: bool,

    /// The default; kept so that older scripts still run
    #[arg(long, hide = true, conflicts_with = "require_tls_reuse")]
    pub no_tls_reuse: bool,

    /// Port range for passive data connections
    #[arg(long, value_name = "LO-HI", value_parser = parse_port_range)]
    pub passive_ports: Option<RangeInclusive<u16>>,

    /// Address announced in PASV replies and shown in the URL (NAT, port
    /// forwarding); clients on this machine are still given its own address
    #[arg(long, value_name = "HOST", value_parser = parse_host)]
    pub public_host: Option<String>,

    /// Serve a fresh temporary folder (writable), removed on exit
    #[arg(long)]
    pub temp: bool,

    /// With --temp: keep the folder on exit
    #[arg(long, requires = "temp")]
    pub keep: bool,

    /// Machine-readable JSON Lines events on stdout; human output goes to stderr
    #[arg(long)]
    pub json: bool,

    /// No QR code
    #[arg(long)]
    pub no_qr: bool,

    /// Dark-on-light QR code, for terminals with a light background
    #[arg(long)]
    pub qr_invert: bool,

    /// Only the essentials: no banner, no progress
    #[arg(short, long)]
    pub quiet: bool,

    /// Log every command (-vv: and every reply); passwords are never logged
    #[arg(short, long, action = clap::ArgAction::Count)]
    pub verbose: u8,

    /// Most simultaneous control connections
    #[arg(long, default_value_t = 1024, value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_connections: usize,

    /// Most simultaneous control connections from one address
    #[arg(long, default_value_t = 512, value_name = "N", value_parser = at_least_one::<usize>)]
    pub max_connections_per_ip: usize,

    /// Refuse an address for --ban-duration after this many failed logins (0 = never)
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub ban_after: u32,

    /// How long a banned address is refused
    #[arg(long, default_value = "5m", value_parser = parse_duration, value_name = "DURATION", allow_hyphen_values = true)]
    pub ban_duration: MaybeDuration,

    /// Bandwidth limit per transfer, in bytes per second (2MiB, 500K, 1.5MB)
    #[arg(long, value_name = "RATE", value_parser = parse_rate)]
    pub max_rate: Option<u64>,

    /// Largest file an upload may store; beyond it the upload is refused (552) and discarded. SIZE: 500K, 2MiB, 1G or bytes; K, M, G, T = 1000-based, KiB, MiB, GiB, TiB = 1024-based
    #[arg(long, value_name = "SIZE", value_parser = parse_limit, allow_hyphen_values = true)]
    pub max_upload_size: Option<u64>,

    /// Total bytes the uploads of this run may store; once used up, uploads are refused (552) and a cut-off one is discarded
    #[arg(long, value_name = "SIZE", value_parser = parse_limit, allow_hyphen_values = true)]
    pub quota: Option<u64>,

    /// Refuse uploads (552) that would leave less than SIZE free on the disk; 0 = no check [default: 256MiB or 1% of the disk, whichever is smaller]
    #[arg(long, value_name = "SIZE", value_parser = parse_size, allow_hyphen_values = true)]
    pub min_free: Option<u64>,

    /// Fixture mode: run COMMAND with FTPSHARE_URL, FTPSHARE_HOST, FTPSHARE_PORT, FTPSHARE_USER, FTPSHARE_PASSWORD and FTPSHARE_ROOT (and FTPSHARE_TLS_FINGERPRINT) set, stop when it exits and exit with its status (124 after --timeout). Binds 127.0.0.1 unless --bind is given; no banner; --json events go to stderr
    #[arg(last = true, value_name = "COMMAND")]
    pub command: Vec<OsString>,
}

impl Serve {
    /// The fixture mode's command, if one was given after `--`.
    pub fn fixture(&self) -> bool {
        !self.command.is_empty()
    }

    /// How long to serve: the --timeout given, else an hour, or for as
    /// long as COMMAND runs.
    pub fn timeout(&self) -> Option<Duration> {
        match self.timeout {
            Some(t) => t.0,
            None if self.fixture() => None,
            None => Some(Duration::from_secs(3600)),
        }
    }
}

/// A duration where `0` means "never".
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MaybeDuration(pub Option<Duration>);

/// The longest duration accepted: anything longer is a typo, and the
/// library refuses limits beyond it (adding it to a clock must not overflow).
const MAX_DURATION: Duration = ftpshare::Limits::MAX_DURATION;

/// `90s`, `10m`, `2h`, `1h30m`, `7d`, a bare number of seconds, or `0`
/// for never; between 1 second and 10 years. Whole numbers only, units in
/// any case, except `M` alone, which could mean minutes or months.
pub fn parse_duration(s: &str) -> Result<MaybeDuration, String> {
    let s = s.trim();
    if let Some(rest) = s.strip_prefix('-') {
        return Err(match rest.starts_with(|c: char| c.is_ascii_digit()) {
            true => "a duration cannot be negative (try 90s, 10m, 2h or 0 for never)".into(),
            // `-t --json`: the value was forgotten.
            false => {
                format!("expected a duration (90s, 10m, 2h or 0 for never), not the option {s:?}")
            }
        });
    }
    let secs = match s.bytes().all(|b| b.is_ascii_digit()) && !s.is_empty() {
        true => s.parse::<u64>().ok(),
        false => sum_of_parts(s)?,
    };
    let max = MAX_DURATION.as_secs();
    match secs {
        Some(0) => Ok(MaybeDuration(None)),
        Some(n) if n <= max => Ok(MaybeDuration(Some(Duration::from_secs(n)))),
        _ => Err("too long: at most 10 years (10y, 3652d 12h), or 0 for never".into()),
    }
}

/// `1h30m`, `2h 30m`, `90S`, `1500ms`: the seconds the parts add up to,
/// `None` past the longest duration; an error for anything but whole
/// numbers with known units, or a total that is not whole seconds.
fn sum_of_parts(text: &str) -> Result<Option<u64>, String> {
    let hint = "(try 90s, 10m, 2h, 1h30m or 0 for never; a bare number is seconds)";
    let mut total = Some(0u128);
    let mut rest = text.trim_start();
    if rest.is_empty() {
        return Err(format!("expected a duration {hint}"));
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(rest.len());
        if digits == 0 {
            return Err(format!("expected a number at {rest:?} {hint}"));
        }
        let (number, after) = rest.split_at(digits);
        if after.starts_with(['.', ',']) {
            return Err(format!(
                "whole numbers only, so {text:?} cannot be read: write 1h30m, not 1.5h {hint}"
            ));
        }
        let after = after.trim_start();
        let letters = after
            .find(|c: char| !c.is_alphabetic())
            .unwrap_or(after.len());
        let (unit, after) = after.split_at(letters);
        let unit = unit_nanos(unit)?;
        let part = number
            .parse::<u128>()
            .ok()
            .and_then(|n| n.checked_mul(unit));
        total = total.zip(part).and_then(|(t, p)| t.checked_add(p));
        if total.is_none_or(|t| t > MAX_DURATION.as_nanos()) {
            // Too long already, whatever follows.
            return Ok(None);
        }
        rest = after.trim_start();
    }
    match total {
        Some(t) if t % SECOND != 0 => Err(format!(
            "durations count whole seconds, at least 1s: {text} is not (or 0 for never)"
        )),
        // At most MAX_DURATION, so it fits.
        t => Ok(t.and_then(|t| u64::try_from(t / SECOND).ok())),
    }
}

/// A second, in the nanoseconds duration parts are summed in.
const SECOND: u128 = 1_000_000_000;

/// Nanoseconds in one `unit`, in any case; `M` alone is refused rather
/// than guessed.
fn unit_nanos(unit: &str) -> Result<u128, String> {
    if unit == "M" {
        return Err("ambiguous unit \"M\": write 10m for minutes, 10months for months".into());
    }
    Ok(match unit.to_lowercase().as_str() {
        "ns" | "nsec" | "nanos" => 1,
        "us" | "µs" | "usec" | "micros" => 1_000,
        "ms" | "msec" | "millis" => 1_000_000,
        "s" | "sec" | "secs" | "second" | "seconds" => SECOND,
        "m" | "min" | "mins" | "minute" | "minutes" => 60 * SECOND,
        "h" | "hr" | "hrs" | "hour" | "hours" => 3600 * SECOND,
        "d" | "day" | "days" => 86_400 * SECOND,
        "w" | "wk" | "wks" | "week" | "weeks" => 604_800 * SECOND,
        // As humantime counted them: 30.44 and 365.25 days.
        "month" | "months" => 2_630_016 * SECOND,
        "y" | "yr" | "yrs" | "year" | "years" => 31_557_600 * SECOND,
        "" => return Err("a number without a unit: write 90s, 10m, 2h or 7d".into()),
        _ => {
            return Err(format!(
                "unknown unit {unit:?}: use s, m, h, d, w, months or y (10m is minutes)"
            ))
        }
    })
}

/// A count of 1 or more (0 would refuse every connection, or stop before
/// the first transfer).
fn at_least_one<T>(s: &str) -> Result<T, String>
where
    T: std::str::FromStr + PartialEq + From<u8>,
    T::Err: std::fmt::Display,
{
    match s.trim().parse::<T>() {
        Ok(n) if n == T::from(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(e) => Err(e.to_string()),
    }
}

pub fn parse_port_range(s: &str) -> Result<RangeInclusive<u16>, String> {
    let (lo, hi) = s
        .split_once('-')
        .ok_or("expected LO-HI, e.g. 50000-50100")?;
    let lo: u16 = lo.trim().parse().map_err(|_| format!("bad port {lo:?}"))?;
    let hi: u16 = hi.trim().parse().map_err(|_| format!("bad port {hi:?}"))?;
    if lo == 0 || lo > hi {
        return Err(format!(
            "{lo}-{hi} is not a range of ports (1-65535, low first)"
        ));
    }
    Ok(lo..=hi)
}

/// An IP address or a DNS name (letters, digits, `-` and, as in service
/// names such as `_ftp`, `_` in labels of at most 63, 253 in all): what cannot be one is a bad argument (exit 2),
/// not a name that failed to resolve (exit 1).
pub fn parse_host(s: &str) -> Result<String, String> {
    let bad = || format!("{s:?} is neither a host name nor an IP address");
    if s.parse::<std::net::IpAddr>().is_ok() {
        return Ok(s.to_string());
    }
    let name = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        (1..=63).contains(&l.len())
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    };
    match !name.is_empty() && name.len() <= 253 && name.split('.').all(label_ok) {
        true => Ok(s.to_string()),
        false => Err(bad()),
    }
}

/// `2MiB`, `500K`, `1.5MB`, `1000`: bytes per second, in the units of
/// every size (see [`parse_size`]).
pub fn parse_rate(s: &str) -> Result<u64, String> {
    match parse_size(s.trim().trim_end_matches("/s"))? {
        0 => Err("rate must be at least 1 byte per second".into()),
        rate => Ok(rate),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations() {
        let d = |s| parse_duration(s).map(|d| d.0);
        assert_eq!(d("0"), Ok(None));
        assert_eq!(d("90"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(d("10m"), Ok(Some(Duration::from_secs(600))));
        assert_eq!(d("1h30m"), Ok(Some(Duration::from_secs(5400))));
        assert_eq!(d("3650d"), Ok(Some(Duration::from_secs(3650 * 86_400))));
        // Ten years as `y` counts them is the longest; smaller units that
        // add up to whole seconds are fine.
        assert_eq!(d("10y"), Ok(Some(Duration::from_secs(315_576_000))));
        assert_eq!(d("2000ms"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(d("1s 500ms 500ms"), Ok(Some(Duration::from_secs(2))));
        assert_eq!(d("1000000000ns"), Ok(Some(Duration::from_secs(1))));
        assert_eq!(d("2h 30m"), Ok(Some(Duration::from_secs(9000))));
        // Units in any case; M alone is neither minutes nor months.
        assert_eq!(d("90S"), Ok(Some(Duration::from_secs(90))));
        assert_eq!(d("2H"), Ok(Some(Duration::from_secs(7200))));
        assert_eq!(d("10Min"), Ok(Some(Duration::from_secs(600))));
        assert_eq!(d("1months"), Ok(Some(Duration::from_secs(2_630_016))));
        assert!(parse_duration("10M")
            .unwrap_err()
            .contains("10m for minutes"));
        assert!(parse_duration("1.5h")
            .unwrap_err()
            .contains("whole numbers"));
        assert!(parse_duration("1.5m").unwrap_err().contains("\"1.5m\""));
        for bad in [
            "soon",
            "-5s",
            "",
            "1500ms",
            "h",
            "1h30",
            "1.5h",
            "10M",
            "1h 10M",
            "--json",
            "1ns",
            "999ms",
            "3653d",
            "18446744073709551615",
            "99999999999999999999999h",
            // Parts that each fit but whose sum does not.
            "18446744073709551615s 1000000000ns",
            "18446744073709551615s 1s",
            "18446744073709551615s 999999999ns 1ns",
            "584942417356y",
        ] {
            assert!(parse_duration(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rates_and_ranges() {
        assert_eq!(parse_rate("2MiB"), Ok(2 * 1024 * 1024));
        assert_eq!(parse_rate("500K"), Ok(500_000));
        assert_eq!(parse_rate("1.5MB"), Ok(1_500_000));
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("0.5").is_err());
        assert!(parse_rate("99999999999999999999GiB").is_err());
        assert_eq!(parse_port_range("50000-50100"), Ok(50000..=50100));
        for good in [
            "ftp.example.org",
            "nas",
            "10.0.0.1",
            "::1",
            "host-1.lan.",
            "_x.local",
        ] {
            assert_eq!(parse_host(good), Ok(good.to_string()));
        }
        for bad in [
            "bad host!",
            "",
            ".",
            "a..b",
            "-a.com",
            "a-.com",
            "[::1]",
            "a b",
        ] {
            assert!(parse_host(bad).is_err(), "{bad}");
        }
        assert!(parse_port_range("5-1").is_err());
        assert!(parse_port_range("0-10").is_err());
    }

    #[test]
    fn the_cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
