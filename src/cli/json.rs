//! `--json`: one JSON object per line on stdout (stderr in fixture mode,
//! where stdout belongs to the command), flushed at once, so a script can
//! read the `ready` line, wait for events, and read the `exit` line.

use std::fmt::Write as _;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use ftpshare::{AccessMode, Direction, Event, MinFree, RunningServer, TlsMode, UploadLimit};
use serde_json::{json, Value};

/// Set once in fixture mode, where stdout belongs to the command.
static TO_STDERR: AtomicBool = AtomicBool::new(false);

/// Sends the JSON lines to stderr from now on.
pub fn to_stderr() {
    TO_STDERR.store(true, Ordering::Relaxed);
}

pub fn emit(v: &Value) {
    let line = to_line(v);
    // A closed stdout (the script went away) must not stop the server.
    super::ui::out_line(TO_STDERR.load(Ordering::Relaxed), &line);
}

/// `v` as one line of JSON in which every character a terminal could act
/// on is a `\u` escape: serde_json escapes C0 controls only, and would
/// pass DEL, C1 controls and bidi overrides from client names through raw
/// to a person watching `--json` on a terminal. Outside strings JSON is
/// plain ASCII, so any such character left is inside a string, where a
/// `\u` escape means the same character.
fn to_line(v: &Value) -> String {
    let text = v.to_string();
    if !text.chars().any(ftpshare::steers_terminal) {
        return text;
    }
    let mut out = String::with_capacity(text.len() + 16);
    for c in text.chars() {
        if ftpshare::steers_terminal(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                let _ = write!(out, "\\u{unit:04x}");
            }
        } else {
            out.push(c);
        }
    }
    out
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
        "root": server.root().map(|p| p.display().to_string()),
        "writable": cfg.access != AccessMode::ReadOnly,
        "tls": cfg.tls_mode != TlsMode::Off,
        "tls_fingerprint": cfg.tls.as_ref().map(|t| t.fingerprint()),
        "expires_in_s": expires.map(|d| d.as_secs()),
        "pid": std::process::id(),
        "mode": super::setup::mode_name(cfg.access),
        "anonymous": cfg.anonymous,
        "paths": cfg.paths.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
        "tls_mode": match cfg.tls_mode {
            TlsMode::Off => "off",
            TlsMode::Explicit => "explicit",
            TlsMode::Implicit => "implicit",
        },
        "tls_spki_sha256": cfg.tls.as_ref().and_then(|t| t.spki_sha256()),
        "tls_fingerprint_sha1": cfg.tls.as_ref().map(|t| t.fingerprint_sha1()),
        "max_upload_size": cfg.uploads.max_upload_size,
        "quota": cfg.uploads.quota,
        "min_free": match cfg.uploads.min_free {
            MinFree::Bytes(n) => n,
            MinFree::Auto => 0, // resolved by start()
        },
    })
}

/// The `exit` line of a run that served: why it stopped, the completed
/// transfers, COMMAND's status in fixture mode, and a folder `--keep` kept.
pub fn exit(reason: &str, transfers: u64, status: Option<u8>, kept: Option<&Path>) -> Value {
    let mut exit = json!({"event": "exit", "reason": reason, "transfers": transfers});
    if let Some(status) = status {
        exit["status"] = json!(status);
    }
    if let Some(k) = kept {
        exit["kept"] = json!(k.display().to_string());
    }
    exit
}

/// Exit-line extras: the bytes uploads stored against the quota, and how
/// many uploads each limit stopped.
pub fn upload_usage(exit: &mut Value, server: &RunningServer) {
    let usage = server.upload_usage();
    let stopped: serde_json::Map<String, Value> = UploadLimit::ALL
        .iter()
        .map(|&l| (l.as_str().to_string(), json!(usage.stopped_by(l))))
        .collect();
    exit["uploads_stopped"] = Value::Object(stopped);
    if server.config().uploads.quota.is_some() {
        exit["quota_used"] = json!(usage.accepted);
    }
}

/// The JSON form of a server event, or `None` for events scripts do not see.
pub fn event(e: &Event) -> Option<Value> {
    Some(match e {
        Event::Connected { peer } => json!({"event": "connect", "peer": peer.to_string()}),
        Event::Warning { message } => json!({"event": "warning", "message": message}),
        Event::Disconnected { peer } => json!({"event": "disconnect", "peer": peer.to_string()}),
        Event::Refused { peer, reason } => {
            json!({"event": "refused", "peer": peer.to_string(), "reason": reason.as_str()})
        }
        Event::Login {
            peer,
            user,
            anonymous,
            client,
        } => {
            let client = client
                .as_deref()
                .map(|c| super::ui::clip(c, super::ui::CLIENT_TEXT_MAX));
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
            limit,
            ..
        } => {
            let mut v = json!({
                "event": transfer_event(*direction, error.is_some()),
                "path": path,
                "bytes": bytes,
                "peer": peer.to_string(),
                "duration_ms": u64::try_from(duration.as_millis()).unwrap_or(u64::MAX),
            });
            if let Some(err) = error {
                v["error"] = json!(err);
            }
            if let Some(limit) = limit {
                v["limit"] = json!(limit.as_str());
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

/// `download`, `upload`, or with `_failed` after.
fn transfer_event(direction: Direction, failed: bool) -> &'static str {
    match (direction, failed) {
        (Direction::Download, false) => "download",
        (Direction::Upload, false) => "upload",
        (Direction::Download, true) => "download_failed",
        (Direction::Upload, true) => "upload_failed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_hold_no_terminal_controls_and_decode_to_the_same_text() {
        let name = "/\x1b]0;PWNED\x07/\u{9b}2J\u{7f}\u{202e}txt.exe\u{e0041}";
        let line = to_line(&json!({"event": "mkdir", "path": name}));
        assert!(!line.chars().any(ftpshare::steers_terminal), "{line}");
        assert!(
            line.contains(r"\u009b") && line.contains(r"\udb40\udc41"),
            "{line}"
        );
        let back: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(back["path"], name);
    }

    #[test]
    fn login_carries_the_clnt_text_clipped() {
        let peer = "127.0.0.1:5000".parse().unwrap();
        let login = |client: Option<String>| {
            event(&Event::Login {
                peer,
                user: "u".into(),
                anonymous: false,
                client,
            })
            .unwrap()
        };
        assert_eq!(login(None)["client"], Value::Null);
        let long = format!("\x1b[2J{}", "x".repeat(100));
        let v = login(Some(long));
        let shown = v["client"].as_str().unwrap();
        assert!(
            shown.starts_with("\x1b[2Jxxx") && shown.ends_with('…'),
            "{shown}"
        );
        assert_eq!(shown.chars().count(), super::super::ui::CLIENT_TEXT_MAX + 1);
        assert!(!to_line(&v).contains('\x1b'));
    }
}
