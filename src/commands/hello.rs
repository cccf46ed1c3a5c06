//! HOST (RFC 7151) and CLNT: what a client says about itself.

use crate::error::{FtpError, FtpResult};
use crate::protocol::Reply;
use crate::session::{Login, Session};

/// HOST: this server is a single virtual host, so any name is accepted
/// and only recorded. It must come before USER (RFC 7151 §3.2).
pub fn host(s: &mut Session, name: String) -> FtpResult<Reply> {
    if s.login != Login::None {
        return Err(FtpError::BadSequence(
            "HOST must be sent before USER".into(),
        ));
    }
    tracing::debug!(peer = %s.peer, host = ?name, "HOST");
    s.host = Some(name);
    Ok(Reply::new(220, "Host accepted"))
}

/// CLNT: kept for the login event and the log.
pub fn clnt(s: &mut Session, name: String) -> FtpResult<Reply> {
    tracing::debug!(peer = %s.peer, client = ?name, "CLNT");
    s.client = Some(name);
    Ok(Reply::new(200, "Noted"))
}
