//! One control connection's state: login, working directory, transfer
//! settings, the running transfer; path resolution and sending replies.
//! The loop that drives it lives in `connection.rs`.

mod control;
pub(crate) mod running;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use control::Control;
pub(crate) use running::{Finish, Job, RunningTransfer};

use crate::config::AccessMode;
use crate::data::DataPlan;
use crate::error::{FtpError, FtpResult};
use crate::protocol::{HashAlgo, ProtLevel, Reply};
use crate::shared::Shared;
use crate::tls::SessionTls;
use crate::vfs::{Facts, Perms, VPath};

#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Login {
    None,
    /// USER given, PASS expected.
    User(String),
    LoggedIn {
        user: String,
        mode: AccessMode,
    },
}

pub(crate) struct Session {
    pub shared: Arc<Shared>,
    pub control: Control,
    pub peer: SocketAddr,
    pub local: SocketAddr,
    pub login: Login,
    pub failed_logins: u32,
    pub cwd: VPath,
    pub ascii: bool,
    /// REST offset for the next RETR/STOR.
    pub rest: Option<u64>,
    /// RNFR source, for the RNTO that must come next.
    pub rename_from: Option<VPath>,
    pub data: DataPlan,
    /// After `EPSV ALL` only EPSV may set up data connections (RFC 2428).
    pub epsv_all: bool,
    pub facts: Facts,
    /// This connection's TLS configuration, when FTPS is offered.
    pub tls: Option<SessionTls>,
    pub pbsz: bool,
    pub prot: ProtLevel,
    pub transfer: Option<RunningTransfer>,
    /// HOST (RFC 7151): the name the client asked for, as sent.
    pub host: Option<String>,
    /// CLNT: the client program's own description, as sent.
    pub client: Option<String>,
    /// OPTS HASH: the algorithm HASH uses.
    pub hash_algo: HashAlgo,
    /// RANG: the byte range (inclusive) for the next HASH.
    pub range: Option<(u64, u64)>,
    /// MODE Z: data connections carry a deflate stream at this level.
    pub deflate: Option<u32>,
    /// OPTS MODE Z LEVEL: the level the next MODE Z uses.
    pub deflate_level: u32,
}

/// Whether the session goes on after a command.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Flow {
    Continue,
    Close,
}

impl Session {
    /// A fresh session on `control`: logged out, in `/`, ASCII type, no
    /// data connection planned yet.
    pub fn new(shared: Arc<Shared>, control: Control, peer: SocketAddr, local: SocketAddr) -> Self {
        let tls = shared.config.tls.as_ref().map(|t| t.session_configs());
        Session {
            control,
            peer,
            local,
            login: Login::None,
            failed_logins: 0,
            cwd: VPath::root(),
            // RFC 959 §3.1.1.1: ASCII is the default type.
            ascii: true,
            rest: None,
            rename_from: None,
            data: DataPlan::None,
            epsv_all: false,
            facts: Facts::all(),
            prot: ProtLevel::Clear,
            pbsz: false,
            transfer: None,
            host: None,
            client: None,
            hash_algo: HashAlgo::ALL[0],
            range: None,
            deflate: None,
            deflate_level: crate::data::DEFAULT_DEFLATE_LEVEL,
            tls,
            shared,
        }
    }

    /// Sends a reply; a failed write ends the session, and so does a
    /// client that stops reading its replies (otherwise the session would
    /// wait forever, outside the idle timer, holding a connection slot).
    pub async fn reply(&mut self, reply: Reply) -> Flow {
        tracing::trace!(peer = %self.peer, "{} {}", reply.code, crate::escape(&reply.lines.join(" | ")));
        let limit = self.shared.config.limits.stall_timeout;
        match tokio::time::timeout(limit, self.control.send(&reply)).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) | Err(_) => Flow::Close,
        }
    }

    pub fn logged_in(&self) -> bool {
        matches!(self.login, Login::LoggedIn { .. })
    }

    pub fn mode(&self) -> AccessMode {
        match &self.login {
            Login::LoggedIn { mode, .. } => *mode,
            _ => AccessMode::ReadOnly,
        }
    }

    pub fn perms(&self) -> Perms {
        let mode = self.mode();
        Perms {
            read: mode != AccessMode::UploadOnly,
            create: mode != AccessMode::ReadOnly,
            modify: mode == AccessMode::Writable,
        }
    }

    pub fn client_ip(&self) -> IpAddr {
        self.peer.ip()
    }

    /// Resolves a client path against the working directory.
    /// Resolves a client path against the working directory. Our own
    /// temporary upload files do not exist as far as clients can tell.
    pub fn path(&self, arg: &str) -> FtpResult<VPath> {
        let path = self.cwd.join(arg)?;
        if path.components().any(crate::vfs::is_temp_name) {
            return Err(FtpError::FileUnavailable(format!(
                "{path}: No such file or directory"
            )));
        }
        Ok(path)
    }

    /// The data-connection wait, from the limits.
    pub fn data_timeout(&self) -> Duration {
        self.shared.config.limits.data_timeout
    }
}
