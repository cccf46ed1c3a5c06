//! `--json`: one JSON object per line on stdout, flushed at once, so a
//! script can read the `ready` line and then wait for events.

use std::io::Write;

use std::time::Duration;

use ftpshare::{AccessMode, Direction, Event, RunningServer, TlsMode};
use serde_json::{json, Value};

pub fn emit(v: &Value) {
    let mut out = std::io::stdout().lock();
    // A closed stdout (the script went away) must not stop the server.
    let _ = writeln!(out, "{v}");
    let _ = out.flush();
}

/// The `ready` line: the contract's fields first, in its order; extras after.
pub fn ready(server: &RunningServer, url: &str, host: &str, expires: Option<Duration>) -> Value {
    let cfg = server.config();
    json!({
        "event": "ready",
        "url": url,
        "host": host.trim_matches(['[', ']']),
        "port": server.local_addr().port(),
        "user": cfg.user,
        "password": cfg.password,
        "root": server.root().display().to_string(),
        "writable": cfg.access != AccessMode::ReadOnly,
        "tls": cfg.tls_mode != TlsMode::Off,
        "tls_fingerprint": cfg.tls.as_ref().map(|t| t.fingerprint()),
        "expires_in_s": expires.map(|d| d.as_secs()),
        "pid": std::process::id(),
        "mode": super::setup::mode_name(cfg.access),
        "anonymous": cfg.anonymous,
        "tls_mode": match cfg.tls_mode {
            TlsMode::Off => "off",
            TlsMode::Explicit => "explicit",
            TlsMode::Implicit => "implicit",
        },
    })
}

/// The JSON form of a server event, or `None` for events scripts do not see.
pub fn event(e: &Event) -> Option<Value> {
    Some(match e {
        Event::Connected { peer } => json!({"event": "connect", "peer": peer.to_string()}),
        Event::Disconnected { peer } => json!({"event": "disconnect", "peer": peer.to_string()}),
        Event::Login {
            peer,
            user,
            anonymous,
            client,
        } => {
            let client = client
                .as_deref()
                .map(|c| super::ui::client_text(c, super::ui::CLIENT_TEXT_MAX));
            json!({"event": "login", "peer": peer.to_string(), "user": user, "anonymous": anonymous, "client": client})
        }
        Event::LoginFailed { peer, user } => {
            json!({"event": "login_failed", "peer": peer.to_string(), "user": user})
        }
        Event::TransferStarted { .. } => return None,
        Event::TransferFinished {
            peer,
            direction,
            path,
            bytes,
            duration,
            error,
            ..
        } => {
            let name = match (direction, error) {
                (Direction::Download, None) => "download",
                (Direction::Upload, None) => "upload",
                (Direction::Download, Some(_)) => "download_failed",
                (Direction::Upload, Some(_)) => "upload_failed",
            };
            let mut v = json!({
                "event": name,
                "path": path,
                "bytes": bytes,
                "peer": peer.to_string(),
                "duration_ms": duration.as_millis() as u64,
            });
            if let Some(err) = error {
                v["error"] = json!(err);
            }
            v
        }
        Event::Mkdir { peer, path } => {
            json!({"event": "mkdir", "path": path, "peer": peer.to_string()})
        }
        Event::Delete { peer, path, dir } => {
            json!({"event": "delete", "path": path, "dir": dir, "peer": peer.to_string()})
        }
        Event::Rename { peer, from, to } => {
            json!({"event": "rename", "from": from, "to": to, "path": to, "peer": peer.to_string()})
        }
    })
}
