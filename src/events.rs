//! What happened on the server, for whoever embeds it (the CLI prints
//! these as progress bars, log lines or JSON). The library never prints.

use std::net::SocketAddr;
use std::time::Duration;

use crate::data::Progress;
use crate::upload_limits::UploadLimit;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

/// Why a connection was turned away with `421` before its greeting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refused {
    /// Too many failed logins from the address (`ban_after`).
    Banned,
    /// `max_connections` are open.
    MaxConnections,
    /// `max_connections_per_ip` are open from the address.
    MaxConnectionsPerIp,
}

impl Refused {
    /// A short name for logs and scripts.
    pub fn as_str(self) -> &'static str {
        match self {
            Refused::Banned => "banned",
            Refused::MaxConnections => "max-connections",
            Refused::MaxConnectionsPerIp => "max-connections-per-ip",
        }
    }

    /// The text of the 421 reply the client gets.
    pub fn message(self) -> &'static str {
        match self {
            Refused::Banned => "Too many failed logins from your address; try again later",
            Refused::MaxConnections => "Too many connections; try again later",
            Refused::MaxConnectionsPerIp => "Too many connections from your address",
        }
    }
}

#[derive(Debug, Clone)]
pub enum Event {
    Connected {
        peer: SocketAddr,
    },
    Disconnected {
        peer: SocketAddr,
    },
    /// A connection was refused; reported at most once a minute per
    /// address and reason, so a flood cannot flood the reader too, and a
    /// ban still shows after refusals for another reason.
    Refused {
        peer: SocketAddr,
        reason: Refused,
    },
    Login {
        peer: SocketAddr,
        user: String,
        anonymous: bool,
        /// What the client called itself with CLNT, as sent (unescaped).
        client: Option<String>,
    },
    LoginFailed {
        peer: SocketAddr,
        user: String,
    },
    /// A file transfer began; `progress` counts its bytes as they move.
    TransferStarted {
        id: u64,
        peer: SocketAddr,
        direction: Direction,
        path: String,
        size: Option<u64>,
        progress: Progress,
    },
    /// A file transfer ended; `error` says why if it did not complete.
    TransferFinished {
        id: u64,
        peer: SocketAddr,
        direction: Direction,
        path: String,
        bytes: u64,
        duration: Duration,
        error: Option<String>,
        /// The upload limit that stopped an upload, if one did.
        limit: Option<UploadLimit>,
    },
    Mkdir {
        peer: SocketAddr,
        path: String,
    },
    Delete {
        peer: SocketAddr,
        path: String,
        dir: bool,
    },
    Rename {
        peer: SocketAddr,
        from: String,
        to: String,
    },
    /// Something the operator should know about, such as the shared
    /// folder having been deleted; each cause is reported once.
    Warning {
        message: String,
    },
}
