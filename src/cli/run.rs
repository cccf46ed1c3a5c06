//! From ready to exit: waiting for the timeout, a signal or the last
//! allowed transfer, then stopping while still reporting what happens.

use std::time::{Duration, Instant};

use ftpshare::{Event, RunningServer};
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::broadcast::{error::RecvError, Receiver};

use super::ui::Ui;

/// How often the status line and the bars refresh.
const TICK: Duration = Duration::from_millis(200);

/// Why the server stopped, as the `exit` event says it.
#[derive(Clone, Copy)]
pub enum Reason {
    Timeout,
    Signal,
    MaxTransfers,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Signal => "signal",
            Reason::MaxTransfers => "max-transfers",
        }
    }
}

/// Ctrl-C, SIGTERM and SIGHUP (the terminal closed), caught from the
/// start so that none kills the process before it can stop cleanly.
pub struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    pub fn new() -> Result<Signals, String> {
        let sig = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
        Ok(Signals {
            int: sig(SignalKind::interrupt())?,
            term: sig(SignalKind::terminate())?,
            hup: sig(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// Runs until the timeout, a signal, or the last allowed transfer;
/// `done` counts completed transfers.
async fn run_until_stop(
    events: &mut Receiver<Event>,
    signals: &mut Signals,
    ui: &mut Ui,
    json: bool,
    deadline: Option<Instant>,
    max_transfers: Option<u64>,
    done: &mut u64,
) -> Reason {
    let timeout = async {
        match deadline {
            Some(d) => tokio::time::sleep_until(d.into()).await,
            None => std::future::pending().await,
        }
    };
    tokio::pin!(timeout);
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = &mut timeout => return Reason::Timeout,
            _ = signals.recv() => return Reason::Signal,
            _ = tick.tick() => ui.tick(),
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Reason::Signal,
                };
                report(&ev, ui, json);
                if completed(&ev) {
                    *done += 1;
                    if max_transfers.is_some_and(|max| *done >= max) {
                        return Reason::MaxTransfers;
                    }
                }
            }
        }
    }
}

/// A download or upload that finished without error.
fn completed(ev: &Event) -> bool {
    matches!(ev, Event::TransferFinished { error: None, .. })
}

fn report(ev: &Event, ui: &mut Ui, json: bool) {
    ui.on_event(ev);
    if json {
        if let Some(v) = super::json::event(ev) {
            super::json::emit(&v);
        }
    }
}

/// Serves until it is time to stop, then shuts the server down (a second
/// signal aborts running transfers). `events` must be subscribed before
/// the ready line, or what a fast client does right after is missed.
/// Returns why it stopped and how many transfers completed.
pub async fn run(
    server: &RunningServer,
    mut events: Receiver<Event>,
    signals: &mut Signals,
    ui: &mut Ui,
    json: bool,
    deadline: Option<Instant>,
    max_transfers: Option<u64>,
) -> (Reason, u64) {
    let mut done = 0;
    let reason = run_until_stop(
        &mut events,
        signals,
        ui,
        json,
        deadline,
        max_transfers,
        &mut done,
    )
    .await;
    let running = ui.running_transfers();
    if running > 0 {
        let s = if running == 1 { "" } else { "s" };
        ui.log(&format!(
            "stopping ({}): letting {running} transfer{s} finish, Ctrl-C again to stop now",
            reason.as_str()
        ));
    } else {
        ui.log(&format!("stopping ({})", reason.as_str()));
    }
    ui.stopping();
    // Keep reporting while running transfers finish.
    let shutdown = server.shutdown();
    tokio::pin!(shutdown);
    let mut aborted = false;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = signals.recv(), if !aborted => {
                // A second Ctrl-C: stop running transfers now.
                aborted = true;
                ui.log("stopping now");
                server.abort_transfers();
            }
            _ = tick.tick() => ui.tick(),
            ev = events.recv() => {
                if let Ok(ev) = ev {
                    report(&ev, ui, json);
                    done += u64::from(completed(&ev));
                }
            }
        }
    }
    // Sessions are gone; report what they said last.
    while let Ok(ev) = events.try_recv() {
        report(&ev, ui, json);
        done += u64::from(completed(&ev));
    }
    (reason, done)
}
