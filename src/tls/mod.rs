//! FTPS: the certificate (generated per run or loaded from PEM files), the
//! pins clients can check it by, and the rustls configurations of each
//! control connection and its data connections, whose sessions are
//! tracked back to the control connection that negotiated them.

use std::net::IpAddr;
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::ServerConfig;

mod cert;
mod pins;
mod resume;
mod tickets;

pub(crate) use resume::Refusal;

/// TLS 1.3 tickets sent with each handshake.
const TLS13_TICKETS: usize = 8;

/// How long a generated certificate lasts when no run length is known.
pub const DEFAULT_VALIDITY: Duration = Duration::from_secs(30 * 86_400);

/// A certificate chain, its key, and the configuration built from them.
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<ServerConfig>,
    fingerprint: String,
    fingerprint_sha1: String,
    spki_sha256: Option<String>,
    cert_der: Vec<u8>,
    /// Sessions and tickets, shared by every connection of the run.
    resumption: Arc<resume::Resumption>,
}

impl std::fmt::Debug for TlsIdentity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsIdentity")
            .field("fingerprint", &self.fingerprint)
            .finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {what}")]
    Pem { path: String, what: String },
    #[error("cannot generate a certificate: {0}")]
    Generate(String),
    #[error("certificate and key do not work together: {0}")]
    Config(String),
}

impl TlsIdentity {
    /// A fresh self-signed certificate for `names` (host names or
    /// addresses), valid for 30 days. See [`TlsIdentity::self_signed_for`].
    pub fn self_signed(names: &[String]) -> Result<TlsIdentity, TlsError> {
        TlsIdentity::self_signed_for(names, DEFAULT_VALIDITY)
    }

    /// A fresh self-signed ECDSA P-256 certificate, subject `CN = ftpshare
    /// on <host name>, O = ftpshare (generated for this run)`. Its
    /// alternative names are `names` (host names or addresses; brackets
    /// around IPv6 addresses are fine), this machine's host name,
    /// `localhost`, `127.0.0.1` and `::1`. It is valid from an hour ago (for
    /// clients whose clock is behind) until `valid_for` from now.
    pub fn self_signed_for(names: &[String], valid_for: Duration) -> Result<TlsIdentity, TlsError> {
        let (cert, key) = cert::generate(names, valid_for)?;
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key));
        TlsIdentity::new(vec![CertificateDer::from(cert)], key)
    }

    /// A certificate chain and private key from PEM files.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsIdentity, TlsError> {
        let read = |p: &Path| {
            std::fs::read(p).map_err(|source| TlsError::Read {
                path: p.display().to_string(),
                source,
            })
        };
        let pem_err = |p: &Path, what: String| TlsError::Pem {
            path: p.display().to_string(),
            what,
        };
        let cert_pem = read(cert)?;
        let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
            .collect::<Result<_, _>>()
            .map_err(|e| pem_err(cert, format!("not a PEM certificate ({e})")))?;
        if certs.is_empty() {
            return Err(pem_err(cert, "no certificate found".into()));
        }
        let key_pem = read(key)?;
        let key_der = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| match e {
            rustls::pki_types::pem::Error::NoItemsFound => {
                pem_err(key, "no PEM private key found".into())
            }
            e => pem_err(key, format!("not a PEM private key ({e})")),
        })?;
        TlsIdentity::new(certs, key_der)
    }

    fn new(
        certs: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<TlsIdentity, TlsError> {
        let cert_der = certs[0].to_vec();
        // rustls 0.23.48 deprecates ring's provider for its lack of
        // post-quantum key exchange, which the clients of FTPS (curl with
        // OpenSSL 3.0, lftp with GnuTLS, ftplib) do not offer anyway;
        // aws-lc-rs, which has it, measured the same CPU here and needs a
        // C toolchain and cmake to build. So ring stays.
        #[allow(deprecated)]
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        // ALPACA: a client that names another protocol (a browser offering
        // http/1.1) is refused at the handshake; FTP clients name none.
        config.alpn_protocols = vec![b"ftp".to_vec()];
        // Clients such as rustls use each TLS 1.3 ticket once and keep the
        // newest 8: a full stock with every handshake.
        config.send_tls13_tickets = TLS13_TICKETS;
        let resumption = resume::Resumption::new().map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(TlsIdentity {
            resumption: Arc::new(resumption),
            fingerprint: fingerprint(&cert_der),
            fingerprint_sha1: pins::sha1_fingerprint(&cert_der),
            spki_sha256: pins::spki_sha256(&cert_der),
            config: Arc::new(config),
            cert_der,
        })
    }

    /// SHA-256 of the certificate, as `AB:CD:…` (what browsers and
    /// FileZilla show).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// SHA-1 of the certificate, as `AB:CD:…`: the name lftp's
    /// `ssl:verify-certificate/<fingerprint>` setting pins it by.
    pub fn fingerprint_sha1(&self) -> &str {
        &self.fingerprint_sha1
    }

    /// Base64 SHA-256 of the certificate's public key (SubjectPublicKeyInfo):
    /// what `curl --pinnedpubkey sha256//<this>` checks. `None` only for a
    /// certificate whose structure could not be read.
    pub fn spki_sha256(&self) -> Option<&str> {
        self.spki_sha256.as_deref()
    }

    /// The leaf certificate in DER form.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The TLS side of one control connection from `ip`: its own
    /// configuration, and one for each of its data connections.
    pub(crate) fn session_tls(&self, ip: IpAddr) -> SessionTls {
        let issuer = self.resumption.register(ip);
        let control = self
            .resumption
            .configure(&self.config, &issuer, &Arc::default());
        SessionTls {
            control: Arc::new(control),
            base: Arc::clone(&self.config),
            resumption: Arc::clone(&self.resumption),
            issuer,
            uploads: Arc::default(),
        }
    }
}

/// The TLS side of one control connection.
pub(crate) struct SessionTls {
    pub control: Arc<ServerConfig>,
    base: Arc<ServerConfig>,
    resumption: Arc<resume::Resumption>,
    issuer: Arc<resume::Issuer>,
    uploads: Arc<Mutex<UploadTickets>>,
}

/// How the client's uploads in a row resumed: clients that use each TLS
/// 1.3 ticket only once (rustls) resume every upload with a different one
/// and would run out; clients that reuse one (OpenSSL, GnuTLS, Go) resume
/// a run of uploads with the same ticket.
#[derive(Debug, Default)]
struct UploadTickets {
    last: u64,
    /// Uploads in a row, each resumed with a new ticket.
    fresh: u32,
}

/// After this many uploads in a row each resumed with a new ticket, the
/// client uses tickets up: its uploads get new ones. Such clients
/// (suppaftp) read their upload connection to its end, so the tickets do
/// not make the kernel reset it.
const TICKET_USERS: u32 = 3;

/// The TLS configuration of one data connection, and what the strict
/// check needs once its handshake is done.
pub(crate) struct DataTls {
    pub config: Arc<ServerConfig>,
    resumed: Arc<resume::Resumed>,
    resumption: Arc<resume::Resumption>,
    issuer: Arc<resume::Issuer>,
    upload: bool,
    uploads: Arc<Mutex<UploadTickets>>,
}

impl DataTls {
    /// `--require-tls-reuse`: whether a data connection whose handshake
    /// did (`resumed`) or did not resume a session may go on. The session
    /// must have been issued to a control connection from the same
    /// address, logged in now as the same user as this one's.
    pub fn check(&self, resumed: bool) -> Result<(), Refusal> {
        let from = match resumed {
            true => self.resumed.issuer.load(Ordering::Relaxed),
            false => 0,
        };
        self.resumption.check(&self.issuer, from)
    }

    /// Notes how the handshake resumed, for the ticket decision of the
    /// next uploads. Any other transfer ends a run of uploads.
    pub fn note(&self, resumed: bool) {
        let Ok(mut u) = self.uploads.lock() else {
            return;
        };
        let ticket = match resumed && self.upload {
            true => self.resumed.ticket.load(Ordering::Relaxed),
            false => 0,
        };
        u.fresh = match ticket != 0 && ticket != u.last {
            true => u.fresh.saturating_add(1),
            false => 0,
        };
        u.last = ticket;
    }
}

impl SessionTls {
    /// A data connection's configuration. Uploads get no TLS 1.3 tickets
    /// unless the client uses tickets up (see [`UploadTickets`]): an
    /// uploading client may never read its data connection, and closing a
    /// socket with unread data makes the kernel reset it, which can throw
    /// away the end of the upload (curl: 426 on a complete upload).
    pub fn data(&self, upload: bool) -> DataTls {
        let resumed = Arc::new(resume::Resumed::default());
        let mut config = self
            .resumption
            .configure(&self.base, &self.issuer, &resumed);
        let uses_up = self.uploads.lock().is_ok_and(|u| u.fresh >= TICKET_USERS);
        if upload && !uses_up {
            config.send_tls13_tickets = 0;
        }
        DataTls {
            config: Arc::new(config),
            resumed,
            resumption: Arc::clone(&self.resumption),
            issuer: Arc::clone(&self.issuer),
            upload,
            uploads: Arc::clone(&self.uploads),
        }
    }

    /// Publishes who this control connection is logged in as (`None`:
    /// nobody), for the strict check of its own and its siblings' data
    /// connections.
    pub fn set_login(&self, login: Option<String>) {
        resume::set_login(&self.issuer, login);
    }
}

impl Drop for SessionTls {
    fn drop(&mut self) {
        self.resumption.retire(&self.issuer);
    }
}

/// Formats a SHA-256 digest of `der` as colon-separated hex.
pub fn fingerprint(der: &[u8]) -> String {
    pins::colon_hex(ring::digest::digest(&ring::digest::SHA256, der).as_ref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint(b"");
        assert_eq!(fp.len(), 95);
        assert!(fp.starts_with("E3:B0:C4:42:"));
    }
}
