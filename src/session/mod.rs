//! One control connection's state: login, working directory, transfer
//! settings, the running transfer; path resolution and sending replies.
//! The loop that drives it lives in `connection.rs`.

mod control;
pub(crate) mod running;
mod task;
mod upload;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

pub(crate) use control::{Control, EndsAt, Waited};
pub(crate) use running::{Job, RunningTransfer};
pub(crate) use upload::{Finish, InPlace};

use crate::config::AccessMode;
use crate::data::DataPlan;
use crate::error::{FtpError, FtpResult};
use crate::protocol::{grants, rules, Access, HashAlgo, ProtLevel, Reply, Rules};
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
        /// Logged in as `anonymous`/`ftp` without the share's password.
        anonymous: bool,
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
    /// The size ALLO announced for the next upload: its progress total.
    pub announced: Option<u64>,
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
    /// Notified for each line read from the control connection: a client
    /// that started TLS on a data connection early is told apart by it
    /// (see `data::EarlyTls`).
    pub activity: Arc<crate::data::Activity>,
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
        let tls = shared.config.tls.as_ref().map(|t| t.session_tls(peer.ip()));
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
            announced: None,
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
            activity: Arc::default(),
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
        self.replies(&[reply]).await
    }

    /// Sends `replies` in one write.
    pub async fn replies(&mut self, replies: &[Reply]) -> Flow {
        for reply in replies {
            tracing::trace!(peer = %self.peer, "{} {}", reply.code, crate::escape(&reply.lines.join(" | ")));
        }
        let limit = self.shared.config.limits.stall_timeout;
        match tokio::time::timeout(limit, self.control.send(replies)).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) | Err(_) => Flow::Close,
        }
    }

    /// Sends part of a reply written in pieces, with the same stall limit.
    pub async fn send_part(&mut self, bytes: &[u8]) -> Flow {
        let limit = self.shared.config.limits.stall_timeout;
        match tokio::time::timeout(limit, self.control.send_bytes(bytes)).await {
            Ok(Ok(())) => Flow::Continue,
            Ok(Err(_)) | Err(_) => Flow::Close,
        }
    }

    pub fn logged_in(&self) -> bool {
        matches!(self.login, Login::LoggedIn { .. })
    }

    /// The access mode once logged in.
    pub fn mode(&self) -> Option<AccessMode> {
        match &self.login {
            Login::LoggedIn { mode, .. } => Some(*mode),
            _ => None,
        }
    }

    pub fn anonymous(&self) -> bool {
        matches!(
            self.login,
            Login::LoggedIn {
                anonymous: true,
                ..
            }
        )
    }

    /// Whether this session's mode grants `access` (the policy table).
    pub fn may(&self, access: Access) -> bool {
        self.mode().is_some_and(|mode| grants(mode, access))
    }

    /// What this session's mode makes of the commands it may use.
    pub fn rules(&self) -> Rules {
        rules(self.mode())
    }

    /// The MLSD/MLST `perm` fact's view of [`Session::may`].
    pub fn perms(&self) -> Perms {
        Perms {
            read: self.may(Access::Read),
            create: self.may(Access::Create),
            modify: self.may(Access::Modify),
            purge: self.may(Access::Modify),
            // Narrowed to the real folder's where a listing knows it.
            folder: crate::vfs::Rights::ALL,
        }
    }

    pub fn client_ip(&self) -> IpAddr {
        self.peer.ip()
    }

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

    /// [`Session::path`] for a command that creates the name (an upload,
    /// MKD, RNTO): refused when the name is not one a client may create.
    pub fn new_path(&self, arg: &str) -> FtpResult<VPath> {
        let path = self.path(arg)?;
        if !path.creatable(!self.rules().sees_names) {
            return Err(FtpError::InvalidName(
                "New names may not hold control characters".into(),
            ));
        }
        Ok(path)
    }

    /// The data-connection wait, from the limits.
    pub fn data_timeout(&self) -> Duration {
        self.shared.config.limits.data_timeout
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session(dir: &std::path::Path, login: Login) -> Session {
        let shared = Shared::for_tests(dir, AccessMode::Writable);
        let (control, _client) = Control::in_memory(512);
        let addr: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        let mut s = Session::new(shared, control, addr, addr);
        s.login = login;
        s
    }

    #[tokio::test]
    async fn the_perm_fact_follows_the_mode() {
        let dir = tempfile::tempdir().unwrap();
        let logged_in = |mode| Login::LoggedIn {
            user: "share".into(),
            mode,
            anonymous: false,
        };
        let perms = |login| {
            let p = session(dir.path(), login).perms();
            (p.read, p.create, p.modify)
        };
        assert_eq!(perms(Login::None), (false, false, false));
        assert_eq!(perms(logged_in(AccessMode::ReadOnly)), (true, false, false));
        assert_eq!(perms(logged_in(AccessMode::Writable)), (true, true, true));
        assert_eq!(
            perms(logged_in(AccessMode::UploadOnly)),
            (false, true, false)
        );
    }

    #[tokio::test]
    async fn paths_resolve_against_the_working_directory_and_hide_temp_files() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = session(dir.path(), Login::None);
        s.cwd = s.path("a/b").unwrap();
        assert_eq!(s.path("../c").unwrap().as_str(), "/a/c");
        assert_eq!(s.path("/../..").unwrap().as_str(), "/");
        let temp = "x/.ftpshare-0123456789abcdef.part";
        assert!(crate::vfs::is_temp_name(
            "x/.ftpshare-0123456789abcdef.part"
                .rsplit('/')
                .next()
                .unwrap()
        ));
        assert!(s.path(temp).is_err());
    }
}
