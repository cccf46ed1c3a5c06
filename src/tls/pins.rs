//! The forms in which clients can pin a certificate: curl pins the key
//! (SHA-256 of the SubjectPublicKeyInfo, base64), lftp the certificate
//! (SHA-1, colon-separated hex).

use base64::Engine as _;

/// `sha256//…` without the prefix: what `curl --pinnedpubkey` compares.
pub fn spki_sha256(cert_der: &[u8]) -> Option<String> {
    let spki = spki(cert_der)?;
    let digest = ring::digest::digest(&ring::digest::SHA256, spki);
    Some(base64::engine::general_purpose::STANDARD.encode(digest))
}

/// SHA-1 of the certificate as `AB:CD:…` (lftp's `ssl:verify-certificate`
/// closure). SHA-1 is only a name here: lftp looks certificates up by it.
pub fn sha1_fingerprint(cert_der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA1_FOR_LEGACY_USE_ONLY, cert_der);
    colon_hex(digest.as_ref())
}

pub fn colon_hex(bytes: &[u8]) -> String {
    let hex: Vec<String> = bytes.iter().map(|b| format!("{b:02X}")).collect();
    hex.join(":")
}

/// The SubjectPublicKeyInfo (tag and length included) of an X.509
/// certificate: the seventh element of the TBSCertificate when the version
/// is given, the sixth otherwise (RFC 5280 §4.1).
fn spki(cert_der: &[u8]) -> Option<&[u8]> {
    let (cert, _) = tlv(cert_der, SEQUENCE)?;
    let (tbs, _) = tlv(cert.content, SEQUENCE)?;
    let mut rest = tbs.content;
    // version [0] EXPLICIT, then serial, signature, issuer, validity, subject
    if rest.first() == Some(&0xA0) {
        rest = tlv(rest, 0xA0)?.1;
    }
    for tag in [0x02, SEQUENCE, SEQUENCE, SEQUENCE, SEQUENCE] {
        rest = tlv(rest, tag)?.1;
    }
    Some(tlv(rest, SEQUENCE)?.0.whole)
}

const SEQUENCE: u8 = 0x30;

struct Tlv<'a> {
    whole: &'a [u8],
    content: &'a [u8],
}

/// One DER element of tag `tag` at the start of `input`, and what follows.
fn tlv(input: &[u8], tag: u8) -> Option<(Tlv<'_>, &[u8])> {
    let (&t, rest) = input.split_first()?;
    if t != tag {
        return None;
    }
    let (&first, mut rest) = rest.split_first()?;
    let len = if first < 0x80 {
        usize::from(first)
    } else {
        let n = usize::from(first & 0x7F);
        if n == 0 || n > 4 || rest.len() < n {
            return None;
        }
        let (bytes, after) = rest.split_at(n);
        rest = after;
        bytes
            .iter()
            .fold(0usize, |acc, &b| (acc << 8) | usize::from(b))
    };
    let header = input.len() - rest.len();
    let end = header.checked_add(len)?;
    if end > input.len() {
        return None;
    }
    Some((
        Tlv {
            whole: &input[..end],
            content: &input[header..end],
        },
        &input[end..],
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spki_is_the_key_rcgen_made() {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec!["x".to_string()])
            .unwrap()
            .self_signed(&key)
            .unwrap();
        let expected = rcgen::PublicKeyData::subject_public_key_info(&key);
        assert_eq!(spki(cert.der()), Some(&expected[..]));
    }

    #[test]
    fn garbage_has_no_spki() {
        assert_eq!(spki(b""), None);
        assert_eq!(spki(&[0x30, 0x84, 0xFF, 0xFF, 0xFF, 0xFF]), None);
        assert_eq!(spki(&[0x30, 0x03, 0x30, 0x01]), None);
    }

    #[test]
    fn sha1_of_nothing() {
        assert_eq!(
            sha1_fingerprint(b""),
            "DA:39:A3:EE:5E:6B:4B:0D:32:55:BF:EF:95:60:18:90:AF:D8:07:09"
        );
    }
}
