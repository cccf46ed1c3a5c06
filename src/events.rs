//! What happened on the server, for whoever embeds it (the CLI prints
//! these as progress bars, log lines or JSON). The library never prints.

use std::net::SocketAddr;
use std::time::Duration;

use crate::data::Progress;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Download,
    Upload,
}

#[derive(Debug, Clone)]
pub enum Event {
    Connected {
        peer: SocketAddr,
    },
    Disconnected {
        peer: SocketAddr,
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
}
