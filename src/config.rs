//! Everything that shapes a server, with the defaults the CLI documents.

use std::net::SocketAddr;
use std::ops::RangeInclusive;
use std::path::PathBuf;
use std::time::Duration;

use crate::tls::TlsIdentity;
use crate::upload_limits::UploadLimits;

/// What logged-in users may do to the served files.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AccessMode {
    /// List and download; nothing on disk ever changes.
    ReadOnly,
    /// Also upload, create folders, rename and delete.
    Writable,
    /// A drop box: upload and create folders only; no listing, no
    /// download, and an upload never replaces an existing file.
    UploadOnly,
}

/// How FTPS is offered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TlsMode {
    /// Plain FTP only.
    Off,
    /// Explicit FTPS (RFC 4217): the client sends AUTH TLS; login and data
    /// in clear text are refused.
    Explicit,
    /// Implicit FTPS: TLS from the first byte, data always protected.
    Implicit,
}

/// Limits that protect the server; each has a test.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Close a control connection after this long without a command
    /// (never while a transfer runs). RFC 1123 suggests 5 minutes.
    pub idle_timeout: Duration,
    /// How long to wait for a data connection to be opened.
    pub data_timeout: Duration,
    /// End a transfer that makes no progress for this long; also close a
    /// control connection whose client does not read a reply for this long.
    pub stall_timeout: Duration,
    /// A login must complete this long after connecting.
    pub login_timeout: Duration,
    /// A TLS handshake must complete within this.
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    pub max_connections_per_ip: usize,
    /// Failed passwords before the connection is closed (RFC 2577).
    pub max_login_failures: u32,
    /// Delay before answering a wrong password (RFC 2577).
    pub failed_login_delay: Duration,
    /// Failed logins from one address, across connections, before it is
    /// refused for `ban_duration`; 0 never bans.
    pub ban_after: u32,
    pub ban_duration: Duration,
    /// Clients (IPv4 addresses, IPv6 /64 networks) whose failed logins are
    /// remembered at once; when full, the one that failed longest ago is
    /// forgotten. Bounds the memory a flood of guessing addresses can use.
    pub ban_table_size: usize,
    /// Longest command line accepted, in bytes.
    pub max_line: usize,
    /// Bytes per second per transfer.
    pub max_rate: Option<u64>,
    /// How long running transfers may finish after shutdown is asked.
    pub shutdown_grace: Duration,
    /// No transfer starts (`421`) once this many have completed; those
    /// running may finish. The server itself runs on:
    /// [`RunningServer::completed_transfers`](crate::RunningServer::completed_transfers)
    /// tells when to call `shutdown`, as the CLI's `--max-transfers` does.
    pub max_transfers: Option<u64>,
}

impl Limits {
    /// The longest duration a limit may have (10 years of 365.25 days, as
    /// `10y` counts them): long enough to mean "never", short enough that
    /// adding it to a clock cannot overflow.
    pub const MAX_DURATION: Duration = Duration::from_secs(10 * 31_557_600);

    /// Why these limits cannot run a server, if they cannot: a duration
    /// past [`MAX_DURATION`](Self::MAX_DURATION), or a limit that refuses
    /// everything.
    pub fn check(&self) -> Result<(), String> {
        let durations = [
            ("idle_timeout", self.idle_timeout),
            ("data_timeout", self.data_timeout),
            ("stall_timeout", self.stall_timeout),
            ("login_timeout", self.login_timeout),
            ("tls_handshake_timeout", self.tls_handshake_timeout),
            ("failed_login_delay", self.failed_login_delay),
            ("ban_duration", self.ban_duration),
            ("shutdown_grace", self.shutdown_grace),
        ];
        for (name, d) in durations {
            if d > Self::MAX_DURATION {
                return Err(format!("limit {name} is longer than 10 years"));
            }
        }
        let at_least_one = [
            ("max_connections", self.max_connections),
            ("max_connections_per_ip", self.max_connections_per_ip),
            ("max_line", self.max_line),
        ];
        for (name, n) in at_least_one {
            if n == 0 {
                return Err(format!("limit {name} must be at least 1"));
            }
        }
        if self.max_transfers == Some(0) {
            return Err("limit max_transfers must be at least 1".into());
        }
        if self.max_rate == Some(0) {
            return Err("limit max_rate must be at least 1 byte per second".into());
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            idle_timeout: Duration::from_secs(300),
            data_timeout: Duration::from_secs(30),
            stall_timeout: Duration::from_secs(120),
            login_timeout: Duration::from_secs(60),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: 1024,
            max_connections_per_ip: 512,
            max_login_failures: 3,
            failed_login_delay: Duration::from_secs(1),
            ban_after: 10,
            ban_duration: Duration::from_secs(300),
            ban_table_size: 16_384,
            max_line: 8192,
            max_rate: None,
            shutdown_grace: Duration::from_secs(5),
            max_transfers: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    /// The folder served as the root when no `paths` are given; once
    /// started, the absolute folder (unchanged for a virtual root).
    pub root: PathBuf,
    /// Files and folders to share (one folder alone is the root); once
    /// started, their absolute paths.
    pub paths: Vec<PathBuf>,
    pub bind: SocketAddr,
    pub user: String,
    pub password: String,
    pub access: AccessMode,
    /// Also accept `anonymous` and `ftp` with any password, read-only.
    pub anonymous: bool,
    pub passive_ports: Option<RangeInclusive<u16>>,
    /// Host or address announced in PASV replies and URLs (for NAT).
    pub public_host: Option<String>,
    pub tls_mode: TlsMode,
    pub tls: Option<TlsIdentity>,
    /// Strict FTPS: a data connection must resume a TLS session issued to
    /// a control connection logged in as the same user from the same
    /// address, proving it comes from someone who logged in.
    pub require_tls_reuse: bool,
    pub limits: Limits,
    /// Per-file, per-run and free-disk limits on uploads.
    pub uploads: UploadLimits,
}
