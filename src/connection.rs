//! The connection driver: one control connection from greeting to
//! goodbye. It reads commands while a transfer may be running, applies the
//! command table, dispatches to the handlers, watches the idle and login
//! timers, and honours shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpStream;
use tokio::time::{sleep, sleep_until, Instant};

use crate::config::{AccessMode, TlsMode};
use crate::error::FtpError;
use crate::events::Direction;
use crate::protocol::telnet::Framed;
use crate::protocol::{self, Command, ProtLevel, Refusal, Reply};
use crate::session::{running, Control, EndsAt, Flow, Session, Waited};
use crate::shared::Shared;

pub(crate) async fn run(shared: Arc<Shared>, tcp: TcpStream, peer: SocketAddr) {
    let Ok(local) = tcp.local_addr() else { return };
    let local = SocketAddr::new(local.ip().to_canonical(), local.port());
    // Replies are small and latency-bound: never wait for a delayed ACK.
    let _ = tcp.set_nodelay(true);
    // Clients send ABOR with TCP urgent data (Telnet Synch); keep the
    // urgent byte in the stream so the line still parses.
    let _ = socket2::SockRef::from(&tcp).set_out_of_band_inline(true);

    let control = Control::new(tcp, shared.config.limits.max_line);
    let mut s = Session::new(shared, control, peer, local);
    s.shared.emit(crate::Event::Connected { peer });
    tracing::debug!(%peer, "connected");
    // Every Connected gets its Disconnected, even when the implicit TLS
    // handshake fails (the UI counts clients by them).
    // Boxed, like the larger steps below: an idle session's task holds
    // only what waiting for a command takes.
    let implicit = s.shared.config.tls_mode == TlsMode::Implicit;
    if (!implicit || Box::pin(s.implicit_tls()).await)
        && s.reply(Reply::new(220, "ftpshare ready")).await == Flow::Continue
    {
        s.serve().await;
    }
    // The client is gone: a transfer still running cannot be confirmed,
    // but whoever watches events still learns how it ended.
    if let Some(report) = s.stop_transfer().await {
        s.report(report);
    }
    s.control.close().await;
    s.shared.emit(crate::Event::Disconnected { peer });
    tracing::debug!(%peer, "disconnected");
}

impl Session {
    /// With implicit FTPS, the TLS handshake before anything else; false
    /// when it failed, timed out or the server is shutting down.
    async fn implicit_tls(&mut self) -> bool {
        let Some(cfg) = self.tls.as_ref().map(|t| Arc::clone(&t.control)) else {
            return false;
        };
        let limit = self.shared.config.limits.tls_handshake_timeout;
        let result = tokio::select! {
            r = self.control.upgrade(cfg, limit) => r,
            _ = self.shared.shutdown.cancelled() => return false,
        };
        if let Err(e) = result {
            tracing::debug!(peer = %self.peer, "implicit TLS handshake failed: {}", crate::escape(&e.to_string()));
            return false;
        }
        // Implicit FTPS protects data connections from the start.
        self.pbsz = true;
        self.prot = ProtLevel::Private;
        true
    }

    async fn serve(&mut self) {
        let limits = self.shared.config.limits.clone();
        let mut idle_deadline = Instant::now() + limits.idle_timeout;
        // One timer of each for the whole session, pushed back only when
        // it goes off early (idle) or the client logs out (login): a timer
        // made afresh for each command costs a wake-up of the runtime when
        // it is the earliest, many times per file.
        let idle = sleep_until(idle_deadline);
        let login = sleep_until(Instant::now() + limits.login_timeout);
        tokio::pin!(idle, login);
        let mut was_logged_in = false;
        loop {
            let logged_in = self.logged_in();
            // Logged out again (REIN, a new USER, AUTH TLS): a fresh login
            // period, or a long session would be cut off at once.
            if was_logged_in && !logged_in {
                login.as_mut().reset(Instant::now() + limits.login_timeout);
            }
            was_logged_in = logged_in;
            let busy = self.transfer.is_some();
            tokio::select! {
                biased;
                _ = self.shared.shutdown.cancelled() => {
                    Box::pin(self.on_shutdown()).await;
                    return;
                }
                report = running::wait(&mut self.transfer) => {
                    if Box::pin(self.finish_transfer(report)).await == Flow::Close {
                        return;
                    }
                    idle_deadline = Instant::now() + limits.idle_timeout;
                }
                line = self.control.read_line() => {
                    idle_deadline = Instant::now() + limits.idle_timeout;
                    self.activity.line();
                    let flow = match line {
                        Ok(Some(Framed::Line(line))) => Box::pin(self.on_line(&line)).await,
                        Ok(Some(Framed::TooLong)) => Box::pin(self.on_too_long()).await,
                        // A client that only closed its sending side still
                        // gets its download and the 226, as after a QUIT.
                        Ok(None) if self.transfer.as_ref().is_some_and(|t| t.is_download()) => {
                            let _ = Box::pin(self.finish_before(Some(&Command::Quit))).await;
                            Flow::Close
                        }
                        Ok(None) | Err(_) => Flow::Close,
                    };
                    if flow == Flow::Close {
                        return;
                    }
                }
                () = &mut login, if !logged_in => {
                    let _ = self.reply(Reply::new(421, "Login timed out; closing control connection")).await;
                    return;
                }
                // RFC 1123 §4.1.3.2: an idle timeout, but never during a transfer.
                () = &mut idle, if !busy => {
                    if Instant::now() < idle_deadline {
                        idle.as_mut().reset(idle_deadline);
                        continue;
                    }
                    let _ = self.reply(Reply::new(421, "Idle timeout; closing control connection")).await;
                    return;
                }
            }
        }
    }

    /// A line over the limit: refused, in its turn after a running
    /// transfer like any line that is not ABOR or STAT.
    async fn on_too_long(&mut self) -> Flow {
        if self.transfer.is_some() && self.finish_before(None).await == Flow::Close {
            return Flow::Close;
        }
        let max = self.shared.config.limits.max_line;
        let msg = format!("Command line too long (limit {max} bytes)");
        self.reply(Reply::new(500, msg)).await
    }

    async fn on_line(&mut self, line: &[u8]) -> Flow {
        // Unit tests only: lets a test make a session task panic, to show
        // that the server and other sessions are unaffected.
        #[cfg(test)]
        if line == tests::PANIC_LINE {
            panic!("test-only session panic");
        }
        let parsed = protocol::parse(line);
        // `-v` logs every line, a refused one too, and no password.
        if line
            .get(..4)
            .is_some_and(|verb| verb.eq_ignore_ascii_case(b"PASS"))
        {
            tracing::debug!(peer = %self.peer, "PASS ****");
        } else {
            tracing::debug!(peer = %self.peer, "{}", crate::escape(&String::from_utf8_lossy(line)));
        }
        // A garbled line waits for a running transfer too: its 500 must
        // not come before the transfer's own reply.
        let waits = parsed
            .as_ref()
            .map_or(true, |cmd| !protocol::policy(cmd).during_transfer);
        if self.transfer.is_some()
            && waits
            && self.finish_before(parsed.as_ref().ok()).await == Flow::Close
        {
            return Flow::Close;
        }
        let cmd = match parsed {
            Ok(cmd) => cmd,
            Err(e) => {
                // Even a garbled line ends a REST or RNFR sequence.
                self.rest = None;
                self.rename_from = None;
                return self.reply(FtpError::from(e).reply()).await;
            }
        };
        let policy = protocol::policy(&cmd);
        let kept = Kept::by(&cmd);
        // A refused command ends a REST or RNFR sequence too, so it goes
        // through the reset below. (This whole future is boxed by `serve`,
        // so the command's state is allocated only while it runs.)
        let result = match protocol::check(&policy, self.mode()) {
            // RANG is kept for HASH alone: a transfer after it would move
            // the whole file (a STOR would cut it short) where the client
            // meant a range (draft-bryan-ftp-range §4.3).
            Ok(()) if self.range.is_some() && cmd.moves_a_file() => {
                Err(FtpError::ParamNotImplemented(
                    "RANG applies to HASH only here; RANG 1 0 clears it".into(),
                ))
            }
            Ok(()) => crate::commands::dispatch(self, cmd).await,
            Err(refusal) => Err(self.refused(&cmd, refusal)),
        };
        self.publish_login();
        self.end_sequences(kept);
        let reply = match result {
            Ok(Some(reply)) => reply,
            Ok(None) => return Flow::Continue,
            Err(FtpError::ControlLost) => return Flow::Close,
            Err(e) => e.reply(),
        };
        // QUIT's 221 and any 421 end the session once sent.
        let close = matches!(reply.code, 221 | 421);
        match self.reply(reply).await {
            Flow::Continue if !close => Flow::Continue,
            _ => Flow::Close,
        }
    }

    /// The error for a command the session's rights refuse. A file
    /// transfer refused so (a read-only share's STOR, an upload-only
    /// share's RETR) is reported as one that failed before it began, as
    /// any other refused transfer is.
    fn refused(&self, cmd: &Command, refusal: Refusal) -> FtpError {
        let e = match refusal {
            // The share may be writable for the named user: say who is limited.
            Refusal::Mode(AccessMode::ReadOnly)
                if self.anonymous() && self.shared.config.access != AccessMode::ReadOnly =>
            {
                FtpError::PermissionDenied("anonymous sessions are read-only".into())
            }
            refusal => refusal.into(),
        };
        let transfer = match cmd {
            Command::Retr(p) => Some((Direction::Download, p.as_str())),
            Command::Stor(p) | Command::Appe(p) => Some((Direction::Upload, p.as_str())),
            Command::Stou(p) => Some((Direction::Upload, p.as_deref().unwrap_or(""))),
            _ => None,
        };
        if let (Some((direction, arg)), Refusal::Mode(_)) = (transfer, refusal) {
            self.report_refused(direction, arg, &e);
        }
        e
    }

    /// Before a command that does not run during a transfer (`None`: a
    /// line refused unparsed): the transfer's own final reply comes first,
    /// so commands are answered in order.
    /// Shutdown must still get through, after the grace period it gives
    /// transfers: the transfer may never end on its own.
    async fn finish_before(&mut self, cmd: Option<&Command>) -> Flow {
        // QUIT waits for a data transfer (RFC 959) but not for a hash,
        // which has no client-side end to wait for.
        let quit = cmd == Some(&Command::Quit);
        let cut = quit && self.transfer.as_ref().is_some_and(|t| t.is_hash());
        let report = match cut {
            true => None,
            false => {
                self.wait_for_transfer(cmd.is_some_and(Command::starts_transfer))
                    .await
            }
        };
        match report {
            Some(report) => self.finish_transfer(report).await,
            None => self.abort_transfer().await.unwrap_or(Flow::Close),
        }
    }

    /// The running transfer's end; `None` when it is to be stopped: at an
    /// ABOR queued behind the waiting command (unless that command starts
    /// a transfer, `starts`: the ABOR is then for that one), when the
    /// client hangs up during an upload, at a kill, or when shutdown's
    /// grace is over. Lines read meanwhile are held, to be answered in
    /// order after the waiting command.
    async fn wait_for_transfer(&mut self, starts: bool) -> Option<running::TransferReport> {
        let (kill, shutdown) = (self.shared.kill.clone(), self.shared.shutdown.clone());
        let grace = self.shared.config.limits.shutdown_grace;
        // A client gone mid-upload loses it, as when no command waits; a
        // download (which changes nothing) runs on for a client that only
        // closed its side.
        let upload = self.transfer.as_ref().is_some_and(|t| t.is_upload());
        let transfer = &mut self.transfer;
        let ended = async move {
            tokio::select! {
                report = running::wait(transfer) => Some(report),
                _ = kill.cancelled() => None,
                () = async { shutdown.cancelled().await; sleep(grace).await } => None,
            }
        };
        let ends = EndsAt {
            abor: !starts,
            hang_up: upload,
        };
        match self.control.hold_until(ended, ends).await {
            Waited::Done(report) => report,
            Waited::Abor | Waited::HungUp => None,
        }
    }

    /// Ends the REST, ALLO, RNFR and RANG sequences a command does not
    /// continue.
    fn end_sequences(&mut self, kept: Kept) {
        if !kept.rest {
            self.rest = None;
            self.announced = None;
        }
        if !kept.rename {
            self.rename_from = None;
        }
        if !kept.range {
            self.range = None;
        }
    }

    /// Shutdown: let a running transfer finish within the grace period,
    /// then say goodbye.
    async fn on_shutdown(&mut self) {
        if self.transfer.is_some() {
            let grace = self.shared.config.limits.shutdown_grace;
            let kill = self.shared.kill.clone();
            tokio::select! {
                report = running::wait(&mut self.transfer) => {
                    let _ = self.finish_transfer(report).await;
                }
                _ = sleep(grace) => {}
                _ = kill.cancelled() => {}
            }
            let _ = self.abort_transfer().await;
        }
        // A client whose transfer was the last `--once` allows says QUIT
        // next, at once: it gets its 221, not a 421 it did not ask for.
        let next = tokio::time::timeout(QUIT_LINGER, self.control.read_line()).await;
        let quit = matches!(next, Ok(Ok(Some(Framed::Line(l)))) if protocol::parse(&l) == Ok(Command::Quit));
        // A client that stops reading must not hold up the exit.
        let goodbye = match quit {
            true => Reply::new(221, "Goodbye"),
            false => Reply::new(421, "Server shutting down; goodbye"),
        };
        let _ = tokio::time::timeout(Duration::from_secs(2), self.control.send(&[goodbye])).await;
    }
}

/// How long shutdown waits for a QUIT a client is about to send.
const QUIT_LINGER: Duration = Duration::from_millis(50);

/// The sequences a command continues rather than ends.
#[derive(Clone, Copy)]
struct Kept {
    rest: bool,
    rename: bool,
    range: bool,
}

impl Kept {
    fn by(cmd: &Command) -> Kept {
        Kept {
            // Clients send REST before or after setting up the data
            // connection (PASV/EPSV/PORT/EPRT) and TYPE; dropping the
            // offset there would restart from byte 0 and silently corrupt
            // a resumed file.
            rest: matches!(
                cmd,
                Command::Rest(_)
                    | Command::Allo(_)
                    | Command::Pasv
                    | Command::Epsv(_)
                    | Command::Port(_)
                    | Command::Eprt(_)
                    | Command::Type(_)
            ),
            rename: matches!(cmd, Command::Rnfr(_)),
            range: matches!(cmd, Command::Rang(_)),
        }
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, DuplexStream};

    use super::*;
    use crate::config::AccessMode;

    /// A command line that panics the session task (test builds only).
    pub const PANIC_LINE: &[u8] = b"XTEST-PANIC";

    async fn ask(client: &mut BufReader<DuplexStream>, line: &str) -> String {
        client
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        let mut reply = String::new();
        client.read_line(&mut reply).await.unwrap();
        reply
    }

    /// The whole driver (greeting aside) over an in-memory control channel:
    /// no socket, yet the commands reach the disk and the table applies.
    #[tokio::test]
    async fn a_session_is_driven_over_an_in_memory_control_channel() {
        let dir = tempfile::tempdir().unwrap();
        let shared = Shared::for_tests(dir.path(), AccessMode::UploadOnly);
        let (control, client) = Control::in_memory(512);
        let peer: SocketAddr = "127.0.0.1:40000".parse().unwrap();
        let local: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        let mut session = Session::new(shared, control, peer, local);
        let driver = tokio::spawn(async move { session.serve().await });
        let mut client = BufReader::new(client);

        assert!(ask(&mut client, "PWD").await.starts_with("530 "));
        assert!(ask(&mut client, "USER share").await.starts_with("331 "));
        assert!(ask(&mut client, "PASS secret").await.starts_with("230 "));
        assert!(ask(&mut client, "MKD inbox").await.starts_with("257 "));
        assert!(dir.path().join("inbox").is_dir());
        assert!(ask(&mut client, "SIZE inbox").await.starts_with("550 "));
        assert!(ask(&mut client, "RMD inbox").await.starts_with("550 "));
        assert!(dir.path().join("inbox").is_dir());
        assert!(ask(&mut client, "QUIT").await.starts_with("221 "));
        driver.await.unwrap();
    }
}
