//! What a transfer's task carries, and its first phase: opening the data
//! connection's TLS and MODE Z layers. Shared by downloads (`running`) and
//! uploads (`upload`).

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::data::{self, DataStream, Opened, Progress, TransferLimits};
use crate::error::FtpResult;
use crate::path_locks::PathLocks;

pub(super) struct TaskContext {
    pub(super) peer: std::net::SocketAddr,
    pub(super) require_reuse: bool,
    pub(super) handshake: Duration,
    pub(super) limits: TransferLimits,
    /// MODE Z at this level.
    pub(super) deflate: Option<u32>,
    pub(super) progress: Progress,
    pub(super) stop: CancellationToken,
    /// For an upload: the control connection's socket, to tell whether
    /// the client hung up before its upload was confirmed.
    pub(super) control: Option<Arc<std::os::fd::OwnedFd>>,
    pub(super) locks: Arc<PathLocks>,
    /// For what a transfer does besides its own report (the folders a
    /// drop box's upload makes).
    pub(super) events: tokio::sync::broadcast::Sender<crate::events::Event>,
}

/// Opening: the data connection's TLS (its handshake, unless the client
/// made it before its command) and MODE Z layer.
pub(super) async fn open(ctx: &TaskContext, conn: Opened) -> FtpResult<DataStream> {
    let policy = data::TlsPolicy {
        strict: ctx.require_reuse,
        handshake: ctx.handshake,
        stall: ctx.limits.stall,
    };
    let mut stream = match conn {
        Opened::Tcp(tcp, None) => DataStream::Plain(tcp),
        Opened::Tcp(tcp, Some(tls)) => {
            DataStream::Tls(Box::new(data::secure(tcp, tls, policy, ctx.peer).await?))
        }
        Opened::Tls(stream, tls) => {
            DataStream::Tls(Box::new(data::vet(*stream, &tls, policy, ctx.peer).await?))
        }
    };
    if let Some(level) = ctx.deflate {
        stream = DataStream::Deflate(Box::new(data::Deflate::new(stream, level)));
    }
    Ok(stream)
}
