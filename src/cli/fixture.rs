//! Fixture mode (`ftpshare [PATH] -- COMMAND`): COMMAND runs against the
//! server with its address in the environment; its exit ends the run, and
//! ftpshare exits with its status, as `timeout(1)` does.

use std::ffi::OsString;
use std::os::unix::process::ExitStatusExt;
use std::process::ExitStatus;
use std::time::{Duration, Instant};

use ftpshare::RunningServer;
use tokio::process::{Child, Command};

use super::run::{lagged, report_burst, until, Feed, Reason, Signals};
use super::ui::Ui;

/// The exit status when the timeout ended COMMAND, as `timeout(1)` uses.
pub const TIMED_OUT: u8 = 124;

/// What COMMAND finds in its environment.
pub fn environment(server: &RunningServer, url: &str, host: &str) -> Vec<(&'static str, String)> {
    let cfg = server.config();
    let mut env = vec![
        ("FTPSHARE_URL", url.to_string()),
        ("FTPSHARE_HOST", host.trim_matches(['[', ']']).to_string()),
        ("FTPSHARE_PORT", server.local_addr().port().to_string()),
        ("FTPSHARE_USER", cfg.user.clone()),
        ("FTPSHARE_PASSWORD", cfg.password.clone()),
        // Empty when a file or several paths are shared (no folder is the root).
        (
            "FTPSHARE_ROOT",
            server
                .root()
                .map(|p| p.display().to_string())
                .unwrap_or_default(),
        ),
    ];
    if let Some(tls) = &cfg.tls {
        env.push(("FTPSHARE_TLS_FINGERPRINT", tls.fingerprint().to_string()));
    }
    env
}

/// Starts COMMAND with stdin, stdout and stderr inherited, or says why it
/// cannot start with the status a shell would give: 127 when it is not
/// found, 126 when it cannot be run.
pub fn spawn(command: &[OsString], env: &[(&'static str, String)]) -> Result<Child, (u8, String)> {
    let (program, args) = command
        .split_first()
        .ok_or((2, "no command after --".to_string()))?;
    let name = program.to_string_lossy();
    let mut cmd = Command::new(program);
    super::copies::restore_for(cmd.as_std_mut());
    cmd.args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => (127, format!("{name}: command not found")),
            _ => (126, format!("{name}: cannot run: {e}")),
        })
}

/// How the run ended: why, and the status to exit with.
pub struct Outcome {
    pub reason: Reason,
    pub status: u8,
}

/// Waits for COMMAND while reporting events. The timeout sends it
/// SIGTERM, then SIGKILL after `grace`; Ctrl-C, SIGTERM and SIGHUP are
/// passed on to it, and it decides when the run ends.
pub async fn run(
    mut child: Child,
    feed: &mut Feed,
    signals: &mut Signals,
    ui: &mut Ui<'_>,
    json: bool,
    deadline: Option<Instant>,
    grace: Duration,
) -> Outcome {
    let pid = child.id().and_then(|id| libc::pid_t::try_from(id).ok());
    let mut timed_out = false;
    let mut signalled = false;
    let mut kill_at = None;
    let mut tick = tokio::time::interval(super::run::TICK);
    let status = loop {
        tokio::select! {
            status = child.wait() => break status,
            _ = until(deadline), if !timed_out => {
                timed_out = true;
                ui.log("timeout: stopping the command (SIGTERM)");
                send(pid, libc::SIGTERM);
                kill_at = Some(Instant::now() + grace);
            }
            _ = until(kill_at), if kill_at.is_some() => {
                kill_at = None;
                ui.log("the command outlived the grace period: SIGKILL");
                let _ = child.start_kill();
            }
            sig = signals.recv() => {
                signalled = true;
                // A Ctrl-C typed in the terminal already reached COMMAND,
                // which shares our process group; do not double it.
                if !(sig == libc::SIGINT && terminal_delivered_it()) {
                    send(pid, sig);
                }
            }
            _ = tick.tick() => ui.tick(),
            ev = feed.events.recv() => match ev {
                Ok(ev) => report_burst(ev, &mut feed.events, ui, json),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => lagged(n, ui, json),
                Err(_) => {}
            },
        }
    };
    let reason = match (timed_out, signalled) {
        (true, _) => Reason::Timeout,
        (false, true) => Reason::Signal,
        (false, false) => Reason::Command,
    };
    let status = match status {
        _ if timed_out => TIMED_OUT,
        Ok(status) => exit_code(status),
        Err(e) => {
            ui.log(&format!("cannot wait for the command: {e}"));
            1
        }
    };
    Outcome { reason, status }
}

/// A shell's `$?`: the exit code, or 128 + N when signal N ended it.
fn exit_code(status: ExitStatus) -> u8 {
    match (status.code(), status.signal()) {
        (Some(code), _) => u8::try_from(code).unwrap_or(1),
        (None, Some(sig)) => u8::try_from(128 + sig).unwrap_or(255),
        (None, None) => 1,
    }
}

fn send(pid: Option<libc::pid_t>, sig: libc::c_int) {
    if let Some(pid) = pid {
        // SAFETY: kill has no memory effects; an exited child is ESRCH.
        unsafe { libc::kill(pid, sig) };
    }
}

/// Whether we run in the foreground process group of our terminal, where
/// a typed Ctrl-C reaches every process of the group, COMMAND included.
fn terminal_delivered_it() -> bool {
    let ours = |group| group == rustix::process::getpgrp();
    rustix::termios::tcgetpgrp(std::io::stdin()).is_ok_and(ours)
        || rustix::termios::tcgetpgrp(std::io::stderr()).is_ok_and(ours)
}
