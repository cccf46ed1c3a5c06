//! AUTH, PBSZ, PROT, CCC and the other RFC 2228 mechanisms.

use std::sync::Arc;

use crate::config::TlsMode;
use crate::error::{FtpError, FtpResult};
use crate::protocol::{ProtLevel, Reply};
use crate::session::{Flow, Session};

/// AUTH TLS (AUTH SSL is the older name clients still send): reply 234,
/// then the TLS handshake on the control connection.
pub async fn auth(s: &mut Session, mech: &str) -> FtpResult<Option<Reply>> {
    let Some(cfg) = s.tls.as_ref().map(|t| Arc::clone(&t.control)) else {
        return Err(FtpError::NotImplemented(
            "TLS is not enabled on this server (start it with --tls)".into(),
        ));
    };
    if s.control.is_tls() {
        return Err(FtpError::BadSequence("Already using TLS".into()));
    }
    if !matches!(mech, "TLS" | "SSL" | "TLS-C" | "TLS-P") {
        return Err(FtpError::ParamNotImplemented(format!(
            "Unsupported mechanism {mech}; use AUTH TLS"
        )));
    }
    if s.reply(Reply::new(234, "Proceed with TLS negotiation"))
        .await
        == Flow::Close
    {
        return Err(FtpError::ControlLost);
    }
    let limit = s.shared.config.limits.tls_handshake_timeout;
    // A stalled handshake must not hold up a shutdown.
    let result = tokio::select! {
        r = s.control.upgrade(cfg, limit) => r,
        _ = s.shared.shutdown.cancelled() => {
            return Err(FtpError::Closing("Server shutting down".into()));
        }
    };
    if let Err(e) = result {
        tracing::debug!(peer = %s.peer, "TLS handshake failed: {}", crate::escape(&e.to_string()));
        // The stream is unusable now; end the session without a reply.
        return Err(FtpError::Closing(format!("TLS handshake failed: {e}")));
    }
    // A new security context starts a new login (RFC 2228 §3).
    s.login = crate::session::Login::None;
    Ok(None)
}

/// PBSZ: TLS needs no buffer size; RFC 4217 §9 says answer `PBSZ=0`.
pub fn pbsz(s: &mut Session) -> FtpResult<Reply> {
    if !s.control.is_tls() {
        return Err(FtpError::BadSequence(
            "PBSZ needs a secure control connection: send AUTH TLS first".into(),
        ));
    }
    s.pbsz = true;
    Ok(Reply::new(200, "PBSZ=0"))
}

pub fn prot(s: &mut Session, level: ProtLevel) -> FtpResult<Reply> {
    if !s.pbsz {
        return Err(FtpError::BadSequence("Send PBSZ 0 before PROT".into()));
    }
    match level {
        ProtLevel::Private => {
            s.prot = level;
            Ok(Reply::new(200, "Protection level set to Private"))
        }
        ProtLevel::Clear if s.shared.config.tls_mode != TlsMode::Off => {
            Err(FtpError::PolicyDenied(
                "Clear data connections are not allowed on this server; use PROT P".into(),
            ))
        }
        ProtLevel::Clear => {
            s.prot = level;
            Ok(Reply::new(200, "Protection level set to Clear"))
        }
        ProtLevel::Unsupported => Err(FtpError::ProtNotSupported(
            "Only PROT C and PROT P are supported".into(),
        )),
    }
}

/// CCC would drop TLS on the control connection, exposing later commands.
pub fn ccc(s: &Session) -> FtpResult<Reply> {
    if !s.control.is_tls() {
        // RFC 2228: a CCC that did not itself arrive protected gets 533.
        return Err(FtpError::CommandNotProtected(
            "CCC is only meaningful on a TLS control connection".into(),
        ));
    }
    Err(FtpError::PolicyDenied(
        "CCC is not allowed; the control connection stays encrypted".into(),
    ))
}

pub fn other_mechanism() -> FtpResult<Reply> {
    Err(FtpError::NotImplemented(
        "Only the TLS mechanism is supported (AUTH TLS)".into(),
    ))
}
