//! From ready to exit: waiting for the timeout, a signal or the last
//! allowed transfer, then stopping while still reporting what happens.

use std::time::{Duration, Instant};

use ftpshare::{Event, RunningServer};
use serde_json::json;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio::sync::broadcast::Receiver;
use tokio::sync::watch;

use super::ui::Ui;

/// How often the status line and the bars refresh.
pub const TICK: Duration = Duration::from_millis(200);

/// Why the server stopped, as the `exit` event says it.
#[derive(Clone, Copy)]
pub enum Reason {
    Timeout,
    Signal,
    MaxTransfers,
    /// Fixture mode: the command exited by itself.
    Command,
}

impl Reason {
    pub fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Signal => "signal",
            Reason::MaxTransfers => "max-transfers",
            Reason::Command => "command",
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

    /// The next of these signals, by number.
    pub async fn recv(&mut self) -> libc::c_int {
        tokio::select! {
            _ = self.int.recv() => libc::SIGINT,
            _ = self.term.recv() => libc::SIGTERM,
            _ = self.hup.recv() => libc::SIGHUP,
        }
    }
}

/// What the loops below read: events to report, and the exact count of
/// completed transfers (the event stream may drop some under a burst).
pub struct Feed {
    pub events: Receiver<Event>,
    pub completed: watch::Receiver<u64>,
}

impl Feed {
    /// Subscribes to both; do it before the ready line, or what a fast
    /// client does right after is missed.
    pub fn new(server: &RunningServer) -> Feed {
        Feed {
            events: server.subscribe(),
            completed: server.completed_transfers(),
        }
    }

    fn done(&self) -> u64 {
        *self.completed.borrow()
    }
}

/// Runs until the timeout, a signal, or the last allowed transfer.
async fn run_until_stop(
    feed: &mut Feed,
    signals: &mut Signals,
    ui: &mut Ui<'_>,
    json: bool,
    deadline: Option<Instant>,
    max_transfers: Option<u64>,
) -> Reason {
    let timeout = until(deadline);
    tokio::pin!(timeout);
    let mut tick = tokio::time::interval(TICK);
    loop {
        if max_transfers.is_some_and(|max| feed.done() >= max) {
            // Report the events that led here before stopping.
            drain(&mut feed.events, ui, json);
            return Reason::MaxTransfers;
        }
        tokio::select! {
            _ = &mut timeout => return Reason::Timeout,
            _ = signals.recv() => return Reason::Signal,
            _ = tick.tick() => ui.tick(),
            // The count is checked at the top of the loop; the server
            // (and so the sender) outlives this loop.
            Ok(()) = feed.completed.changed() => {}
            ev = feed.events.recv() => match ev {
                Ok(ev) => report_burst(ev, &mut feed.events, ui, json),
                Err(RecvError::Lagged(missed)) => lagged(missed, ui, json),
                Err(RecvError::Closed) => return Reason::Signal,
            },
        }
    }
}

/// Sleeps until `deadline`, or forever without one.
pub async fn until(deadline: Option<Instant>) {
    match deadline {
        Some(d) => tokio::time::sleep_until(d.into()).await,
        None => std::future::pending().await,
    }
}

/// Events were dropped because this reader fell behind (a burst while
/// stdout was blocked): say so; the transfer count stays exact.
pub fn lagged(missed: u64, ui: &mut Ui<'_>, json: bool) {
    let msg = format!("{missed} events were not reported (too many at once); counts stay exact");
    ui.log(&msg);
    if json {
        super::json::emit(&json!({"event": "warning", "message": msg, "missed_events": missed}));
    }
}

/// Reports the events already waiting, without waiting for more.
fn drain(events: &mut Receiver<Event>, ui: &mut Ui<'_>, json: bool) {
    loop {
        match events.try_recv() {
            Ok(ev) => report(&ev, ui, json),
            Err(TryRecvError::Lagged(missed)) => lagged(missed, ui, json),
            Err(_) => return,
        }
    }
}

/// How long the report of an event waits for the ones right behind it:
/// a burst of small files then wakes this loop and writes each output
/// once, not once per file (scripts see the line this much later).
const GATHER: Duration = Duration::from_millis(10);

/// Reports `first` and the events that follow it within [`GATHER`],
/// writing all their lines at once.
///
/// The wait blocks this thread: it runs the display alone (sessions have
/// threads of their own), and a timer would cost a wake-up more.
pub fn report_burst(first: Event, events: &mut Receiver<Event>, ui: &mut Ui<'_>, json: bool) {
    std::thread::sleep(GATHER);
    super::ui::held(|| {
        report(&first, ui, json);
        drain(events, ui, json);
    });
}

fn report(ev: &Event, ui: &mut Ui<'_>, json: bool) {
    ui.on_event(ev);
    if json {
        if let Some(v) = super::json::event(ev) {
            super::json::emit(&v);
        }
    }
}

/// Serves until it is time to stop, then shuts the server down (a second
/// signal aborts running transfers). Returns why it stopped and how many
/// transfers completed.
pub async fn run(
    server: &RunningServer,
    mut feed: Feed,
    signals: &mut Signals,
    ui: &mut Ui<'_>,
    json: bool,
    deadline: Option<Instant>,
    max_transfers: Option<u64>,
) -> (Reason, u64) {
    let reason = run_until_stop(&mut feed, signals, ui, json, deadline, max_transfers).await;
    let done = stop(server, feed, signals, ui, json, reason).await;
    (reason, done)
}

/// Shuts the server down while still reporting what happens; a signal
/// meanwhile aborts running transfers. Returns the completed transfers.
pub async fn stop(
    server: &RunningServer,
    mut feed: Feed,
    signals: &mut Signals,
    ui: &mut Ui<'_>,
    json: bool,
    reason: Reason,
) -> u64 {
    let running = ui.running_transfers();
    if running > 0 {
        let s = if running == 1 { "" } else { "s" };
        ui.notice(&format!(
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
            ev = feed.events.recv() => match ev {
                Ok(ev) => report_burst(ev, &mut feed.events, ui, json),
                Err(RecvError::Lagged(missed)) => lagged(missed, ui, json),
                Err(RecvError::Closed) => {}
            },
        }
    }
    // Sessions are gone; report what they said last.
    drain(&mut feed.events, ui, json);
    feed.done()
}
