//! ftpshare: a small, safe FTP(S) server you can embed.
//!
//! ```no_run
//! # async fn demo() -> Result<(), ftpshare::StartError> {
//! let server = ftpshare::Server::builder()
//!     .root("/srv/share")
//!     .bind("127.0.0.1:0".parse().unwrap())
//!     .credentials("share", "secret")
//!     .writable(true)
//!     .start()
//!     .await?;
//! println!("serving on {}", server.url());
//! server.shutdown().await;
//! # Ok(()) }
//! ```

mod bans;
mod blocking;
mod budget;
mod commands;
mod config;
mod connection;
mod data;
mod error;
mod escape;
mod events;
mod path_locks;
mod protocol;
mod server;
mod session;
mod shared;
mod threads;
mod tls;
mod upload_limits;
mod vfs;

pub use config::{AccessMode, Config, Limits, TlsMode};
pub use data::Progress;
pub use error::FtpError;
pub use escape::{escape, steers_terminal};
pub use events::{Direction, Event, Refused};
pub use server::{url_escape, url_host, RunningServer, Server, ServerBuilder, StartError};
pub use tls::{fingerprint, TlsError, TlsIdentity, DEFAULT_VALIDITY as DEFAULT_CERT_VALIDITY};
pub use upload_limits::{MinFree, UploadLimit, UploadLimits, UploadUsage};
pub use vfs::{entry_names, ShareError, SharedPath};

/// A fresh password: 22 characters from a 57-letter URL-safe alphabet
/// without look-alikes (0/O, 1/l/I), about 128 bits from a CSPRNG seeded
/// by the operating system.
pub fn generate_password() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789";
    let mut rng = rand::rng();
    (0..22)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
