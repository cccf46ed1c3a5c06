//! The per-run certificate: named after this machine, valid for the
//! addresses people are told to use, and only for as long as the run.

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use rcgen::{CertificateParams, DistinguishedName, DnType, KeyPair, SanType};

use super::TlsError;

/// The names every generated certificate carries besides the ones asked
/// for: the loopback forms a local client uses.
const LOOPBACK_NAMES: [&str; 3] = ["localhost", "127.0.0.1", "::1"];

/// Clocks of clients are often a little off; a certificate that starts
/// exactly now would be "not yet valid" for some of them.
const CLOCK_SKEW: Duration = Duration::from_secs(3600);

/// Longest validity we write: far beyond any run, and well inside what an
/// X.509 date (and `time`) can hold, whatever timeout was asked for.
const MAX_VALIDITY: Duration = Duration::from_secs(100 * 365 * 86_400);

/// A self-signed ECDSA P-256 certificate for `names` plus this machine's
/// host name and the loopback names, valid from an hour ago for
/// `valid_for`. Returns the certificate and its PKCS#8 key, both DER.
pub(super) fn generate(
    names: &[String],
    valid_for: Duration,
) -> Result<(Vec<u8>, Vec<u8>), TlsError> {
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let host = host_name();
    let mut all: Vec<String> = names.iter().map(|n| bare(n).to_string()).collect();
    all.extend(host.clone());
    all.extend(LOOPBACK_NAMES.iter().map(|n| n.to_string()));
    let mut sans: Vec<SanType> = Vec::new();
    for name in all {
        let san = match name.parse::<IpAddr>() {
            Ok(ip) => SanType::IpAddress(ip.to_canonical()),
            // A name that is not a valid DNS name (a host name with odd
            // characters) cannot be a SAN; it still shows in the subject.
            Err(_) if is_dns_name(&name) => match name.to_ascii_lowercase().try_into() {
                Ok(dns) => SanType::DnsName(dns),
                Err(_) => continue,
            },
            Err(_) => continue,
        };
        if !sans.contains(&san) {
            sans.push(san);
        }
    }
    let mut params = CertificateParams::default();
    params.subject_alt_names = sans;
    let mut dn = DistinguishedName::new();
    let who = host.unwrap_or_else(|| "this machine".into());
    dn.push(DnType::CommonName, format!("ftpshare on {who}"));
    dn.push(
        DnType::OrganizationName,
        "ftpshare (generated for this run)",
    );
    params.distinguished_name = dn;
    let now = SystemTime::now();
    params.not_before = date(now.checked_sub(CLOCK_SKEW).unwrap_or(now));
    params.not_after = date(now.checked_add(valid_for.min(MAX_VALIDITY)).unwrap_or(now));
    let key = KeyPair::generate().map_err(gen_err)?;
    let cert = params.self_signed(&key).map_err(gen_err)?;
    Ok((cert.der().to_vec(), key.serialize_der()))
}

fn is_dns_name(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-')
        })
}

/// An address as shown in a URL (`[::1]`) without its brackets.
fn bare(name: &str) -> &str {
    name.trim_start_matches('[').trim_end_matches(']')
}

fn date(t: SystemTime) -> time::OffsetDateTime {
    // Whole seconds: X.509 dates have no fractions.
    let secs = t
        .duration_since(SystemTime::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    time::OffsetDateTime::from_unix_timestamp(i64::try_from(secs).unwrap_or(i64::MAX))
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH)
}

/// This machine's host name, if it has a usable one.
pub fn host_name() -> Option<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is valid for its length; gethostname writes at
    // most that many bytes.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len()) };
    if rc != 0 {
        return None;
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    let name = std::str::from_utf8(&buf[..end]).ok()?.trim();
    (!name.is_empty()).then(|| name.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn brackets_are_dropped_from_addresses() {
        assert_eq!(bare("[::1]"), "::1");
        assert_eq!(bare("example.org"), "example.org");
    }

    #[test]
    fn dns_names() {
        assert!(is_dns_name("ftp.example.org"));
        assert!(is_dns_name("my-laptop"));
        assert!(!is_dns_name("bad name!"));
        assert!(!is_dns_name("a..b"));
        assert!(!is_dns_name(""));
    }

    #[test]
    fn odd_names_are_left_out_not_fatal() {
        let names = vec!["bad name!".to_string(), "10.1.2.3".to_string()];
        assert!(generate(&names, Duration::from_secs(60)).is_ok());
    }
}
