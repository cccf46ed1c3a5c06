//! USER, PASS, ACCT, REIN, QUIT.

use crate::config::TlsMode;
use crate::error::{FtpError, FtpResult};
use crate::events::Event;
use crate::protocol::{anonymous_mode, Reply};
use crate::session::{Login, Session};
use crate::vfs::VPath;

fn is_anonymous_name(name: &str) -> bool {
    name.eq_ignore_ascii_case("anonymous") || name.eq_ignore_ascii_case("ftp")
}

/// USER starts (or restarts) a login. It always answers 331, so nobody
/// can probe which names exist (RFC 2577 §5).
pub fn user(s: &mut Session, name: String) -> FtpResult<Reply> {
    if s.shared.config.tls_mode == TlsMode::Explicit && !s.control.is_tls() {
        return Err(FtpError::NotLoggedIn(
            "This server requires TLS: send AUTH TLS first (FileZilla: ftpes://, curl: --ssl-reqd, lftp: set ftp:ssl-force true)".into(),
        ));
    }
    let anonymous = s.shared.config.anonymous && is_anonymous_name(&name);
    s.login = Login::User(name);
    s.cwd = VPath::root();
    Ok(if anonymous {
        Reply::new(
            331,
            "Anonymous login ok, send your e-mail address as password",
        )
    } else {
        Reply::new(331, "Password required")
    })
}

pub async fn pass(s: &mut Session, pass: String) -> FtpResult<Option<Reply>> {
    let name = match &s.login {
        Login::None => return Err(FtpError::BadSequence("Send USER first".into())),
        Login::LoggedIn { .. } => return Err(FtpError::BadSequence("Already logged in".into())),
        Login::User(name) => name.clone(),
    };
    let cfg = &s.shared.config;
    let ip = s.client_ip();
    if s.shared.is_banned(ip) {
        // While the address is banned, every password is refused alike,
        // the right one included: same code, text and delay, and it counts
        // towards closing this connection. A session opened before the ban
        // must not go on guessing with an answer that tells right from
        // wrong. The password is not even compared, and the ban is not
        // extended by it (that, too, would differ).
        s.shared.emit(Event::LoginFailed {
            peer: s.peer,
            user: name,
        });
        return refuse_login(
            s,
            "Too many failed logins from your address; try again later",
        )
        .await;
    }
    // `-u anonymous --anonymous`: the right password logs in the named
    // user; any other is an anonymous login.
    let (mode, anonymous) =
        if name == cfg.user && constant_time_eq(pass.as_bytes(), cfg.password.as_bytes()) {
            (Some(cfg.access), false)
        } else if cfg.anonymous && is_anonymous_name(&name) {
            (anonymous_mode(cfg.access), true)
        } else {
            (None, false)
        };
    if let Some(mode) = mode {
        s.shared.emit(Event::Login {
            peer: s.peer,
            user: name.clone(),
            anonymous,
            client: s.client.clone(),
        });
        s.login = Login::LoggedIn {
            user: name,
            mode,
            anonymous,
        };
        s.failed_logins = 0;
        return Ok(Some(Reply::new(230, "Login successful")));
    }
    s.shared.login_failed(ip);
    s.shared.emit(Event::LoginFailed {
        peer: s.peer,
        user: name,
    });
    refuse_login(s, "Login incorrect").await
}

/// A refused PASS: counted against this connection, answered `530 text`
/// after the failed-login delay (or `421` and closed after the last try).
async fn refuse_login(s: &mut Session, text: &str) -> FtpResult<Option<Reply>> {
    s.failed_logins = s.failed_logins.saturating_add(1);
    s.login = Login::None;
    // RFC 2577 §5: slow down guessing. The delay holds this session only;
    // up to half again as much jitter keeps the reply time from being a
    // clean signal to time against.
    let delay = s.shared.config.limits.failed_login_delay;
    let jitter = delay.mul_f64(rand::Rng::random_range(&mut rand::rng(), 0.0..0.5));
    tokio::time::sleep(delay.saturating_add(jitter)).await;
    if s.failed_logins >= s.shared.config.limits.max_login_failures {
        return Err(FtpError::Closing(
            "Too many failed logins; closing connection".into(),
        ));
    }
    Err(FtpError::NotLoggedIn(text.into()))
}

/// ACCT: accounts are not used here; RFC 959 lists 202 for that case.
pub fn acct() -> FtpResult<Reply> {
    Ok(Reply::new(
        202,
        "ACCT not needed; command superfluous at this site",
    ))
}

/// REIN: back to the state right after connecting; TLS stays as it is.
pub fn rein(s: &mut Session) -> FtpResult<Reply> {
    s.login = Login::None;
    s.cwd = VPath::root();
    s.ascii = true;
    s.rest = None;
    s.rename_from = None;
    s.data = Default::default();
    s.epsv_all = false;
    s.facts = crate::vfs::Facts::all();
    s.host = None;
    s.range = None;
    s.deflate = None;
    s.deflate_level = crate::data::DEFAULT_DEFLATE_LEVEL;
    s.hash_algo = crate::protocol::HashAlgo::ALL[0];
    Ok(Reply::new(220, "Service ready for new user"))
}

/// QUIT: the session loop already waited for a running transfer.
pub fn quit() -> FtpResult<Reply> {
    Ok(Reply::new(221, "Goodbye"))
}

/// Compares secrets in time that depends on neither their contents nor
/// their lengths: both are hashed to 32 bytes first, then compared in
/// constant time (`subtle` alone would return early on unequal lengths).
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use ring::digest::{digest, SHA256};
    use subtle::ConstantTimeEq;
    digest(&SHA256, a)
        .as_ref()
        .ct_eq(digest(&SHA256, b).as_ref())
        .into()
}

#[cfg(test)]
mod tests {
    #[test]
    fn constant_time_eq_compares() {
        assert!(super::constant_time_eq(b"abc", b"abc"));
        assert!(!super::constant_time_eq(b"abc", b"abd"));
        assert!(!super::constant_time_eq(b"abc", b"abcd"));
        assert!(!super::constant_time_eq(b"", b"a"));
        assert!(super::constant_time_eq(b"", b""));
    }
}
