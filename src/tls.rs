//! FTPS: the certificate (generated per run or loaded from PEM files) and
//! the rustls configuration each control connection gets.

use std::collections::{HashMap, VecDeque};
use std::fmt::Write as _;
use std::path::Path;
use std::sync::{Arc, Mutex};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
use rustls::server::StoresServerSessions;
use rustls::ServerConfig;

/// A certificate chain, its key, and the configuration built from them.
#[derive(Clone)]
pub struct TlsIdentity {
    config: Arc<ServerConfig>,
    fingerprint: String,
    cert_der: Vec<u8>,
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
    /// A fresh self-signed certificate for `names` (host names or addresses).
    pub fn self_signed(names: &[String]) -> Result<TlsIdentity, TlsError> {
        let ck = rcgen::generate_simple_self_signed(names.to_vec())
            .map_err(|e| TlsError::Generate(e.to_string()))?;
        let cert = ck.cert.der().clone();
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
        TlsIdentity::new(vec![cert], key)
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
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| TlsError::Config(e.to_string()))?
            .with_no_client_auth()
            .with_single_cert(certs, key)
            .map_err(|e| TlsError::Config(e.to_string()))?;
        Ok(TlsIdentity {
            fingerprint: fingerprint(&cert_der),
            config: Arc::new(config),
            cert_der,
        })
    }

    /// SHA-256 of the certificate, as `AB:CD:…` (what browsers and
    /// FileZilla show).
    pub fn fingerprint(&self) -> &str {
        &self.fingerprint
    }

    /// The leaf certificate in DER form.
    pub fn certificate_der(&self) -> &[u8] {
        &self.cert_der
    }

    /// The configurations for one control connection and its data
    /// connections. They share a session store of their own: a data
    /// connection can then resume only a session this very client
    /// negotiated, which proves it comes from the same client (vsftpd's
    /// require_ssl_reuse).
    pub(crate) fn session_configs(&self) -> SessionTls {
        let sessions = Arc::new(Mutex::new(Sessions::default()));
        let with_store = |control, tickets| {
            let mut config = (*self.config).clone();
            config.session_storage = Arc::new(KeepingStore {
                sessions: Arc::clone(&sessions),
                control,
            });
            config.send_tls13_tickets = tickets;
            Arc::new(config)
        };
        SessionTls {
            // Clients such as rustls use each TLS 1.3 ticket once, and
            // uploads give none back (below): a full stock after the login
            // and after every listing or download covers a run of uploads.
            control: with_store(true, TICKETS),
            data: with_store(false, TICKETS),
            // An uploading client never reads its data connection, so
            // tickets sent there stay unread; closing a socket with unread
            // data makes the kernel reset it, which can throw away the end
            // of the upload (seen with curl: 426 on a complete upload).
            upload: with_store(false, 0),
        }
    }
}

/// The TLS configurations of one control connection.
#[derive(Clone)]
pub(crate) struct SessionTls {
    pub control: Arc<ServerConfig>,
    /// Downloads and listings.
    pub data: Arc<ServerConfig>,
    /// Uploads: the same sessions, but no TLS 1.3 tickets sent.
    pub upload: Arc<ServerConfig>,
}

/// Formats a SHA-256 digest of `der` as colon-separated hex.
pub fn fingerprint(der: &[u8]) -> String {
    let digest = ring::digest::digest(&ring::digest::SHA256, der);
    let mut s = String::with_capacity(95);
    for (i, b) in digest.as_ref().iter().enumerate() {
        if i > 0 {
            s.push(':');
        }
        let _ = write!(s, "{b:02X}");
    }
    s
}

/// A per-connection session cache whose `take` does not remove: rustls
/// takes TLS 1.3 tickets out on use, but clients such as FileZilla resume
/// the same session for every data connection.
///
/// The control connection's sessions are kept for the whole connection.
/// Every data connection adds sessions too (TLS 1.3 tickets), and
/// clients such as curl resume the newest one, so those are kept newest
/// first: when the store is full the oldest data session goes. Refusing
/// new ones instead would leave such a client without a session it may
/// resume after a few dozen transfers.
#[derive(Debug)]
struct KeepingStore {
    sessions: Arc<Mutex<Sessions>>,
    /// Whether this view stores the control connection's sessions.
    control: bool,
}

#[derive(Debug, Default)]
struct Sessions {
    map: HashMap<Vec<u8>, Vec<u8>>,
    /// Keys of data connection sessions, oldest first.
    data_keys: VecDeque<Vec<u8>>,
}

/// Data connection sessions kept per control connection; a client resumes
/// one of the last few (the last `TICKETS` at least).
const MAX_DATA_SESSIONS: usize = 4 * TICKETS;
/// TLS 1.3 tickets sent per handshake (except on uploads); rustls clients
/// keep the newest 8 per server.
const TICKETS: usize = 8;
/// The control connection's handshake happens once and stores at most
/// `TICKETS` sessions.
const MAX_CONTROL_SESSIONS: usize = 2 * TICKETS;

impl StoresServerSessions for KeepingStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        let Ok(mut s) = self.sessions.lock() else {
            return false;
        };
        if let Some(old) = s.map.get_mut(&key) {
            *old = value;
            return true;
        }
        if self.control {
            if s.map.len() - s.data_keys.len() >= MAX_CONTROL_SESSIONS {
                return false;
            }
        } else {
            if s.data_keys.len() >= MAX_DATA_SESSIONS {
                if let Some(oldest) = s.data_keys.pop_front() {
                    s.map.remove(&oldest);
                }
            }
            s.data_keys.push_back(key.clone());
        }
        s.map.insert(key, value);
        true
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.sessions.lock().ok()?.map.get(key).cloned()
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_keeps_control_sessions_and_the_newest_data_sessions() {
        let sessions = Arc::new(Mutex::new(Sessions::default()));
        let control = KeepingStore {
            sessions: Arc::clone(&sessions),
            control: true,
        };
        let data = KeepingStore {
            sessions,
            control: false,
        };
        assert!(control.put(b"control".to_vec(), b"c".to_vec()));
        for i in 0..100u32 {
            assert!(data.put(i.to_be_bytes().to_vec(), vec![1]));
        }
        // Resuming never uses a session up.
        assert_eq!(control.take(b"control"), Some(b"c".to_vec()));
        assert_eq!(data.take(b"control"), Some(b"c".to_vec()));
        for i in 100 - MAX_DATA_SESSIONS as u32..100 {
            assert!(data.take(&i.to_be_bytes()).is_some(), "{i}");
        }
        assert!(data.get(&0u32.to_be_bytes()).is_none());
        let kept = data.sessions.lock().unwrap().map.len();
        assert_eq!(kept, MAX_DATA_SESSIONS + 1);
    }

    #[test]
    fn fingerprint_format() {
        let fp = fingerprint(b"");
        assert_eq!(fp.len(), 95);
        assert!(fp.starts_with("E3:B0:C4:42:"));
    }
}
