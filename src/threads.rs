//! Session threads: each runs its own single-threaded runtime, and each
//! session lives on one of them from its first line to its last.
//!
//! A work-stealing runtime moves a session's tasks between threads: every
//! wake-up of a transfer, a reply or a file-system job's return may wake
//! another thread, a few system calls each time, many times per small
//! file. A session kept on one thread pays none of that, and the threads
//! together still use every CPU when many clients are connected.

use std::future::Future;
use std::io;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::net::TcpStream;
use tokio::runtime::{Builder, Handle};
use tokio_util::task::TaskTracker;

pub struct SessionThreads {
    handles: Vec<Handle>,
    /// Sessions on each thread: a new one goes where there are fewest,
    /// since a session never moves.
    load: Arc<Vec<AtomicUsize>>,
}

impl SessionThreads {
    /// Starts `n` threads; none with `n == 0`, and then sessions run on
    /// the caller's runtime. A thread ends once `tracker` is closed and
    /// empty: when the server has shut down and its last session ended.
    pub fn start(n: usize, tracker: &TaskTracker) -> io::Result<SessionThreads> {
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let runtime = Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let tracker = tracker.clone();
            std::thread::Builder::new()
                .name(format!("ftpshare-{i}"))
                .spawn(move || runtime.block_on(tracker.wait()))?;
        }
        let load = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
        Ok(SessionThreads { handles, load })
    }

    /// The runtime of the first thread, where the accept loop runs; `None`
    /// without threads.
    pub fn first(&self) -> Option<&Handle> {
        self.handles.first()
    }

    /// Spawns the session `task` makes on the thread with the fewest
    /// sessions, or on the caller's runtime without threads. The task
    /// gets its connection (moved to that thread's runtime unless it is
    /// the first, where the accept loop runs) and holds the [`Seat`] it is
    /// given until it ends. (Not a wrapping `async` block: that would hold
    /// the task's future twice over.)
    pub fn spawn<F>(
        &self,
        tracker: &TaskTracker,
        stream: TcpStream,
        task: impl FnOnce(Arriving, Seat) -> F,
    ) where
        F: Future<Output = ()> + Send + 'static,
    {
        let fewest = (0..self.handles.len()).min_by_key(|&i| self.load[i].load(Ordering::Relaxed));
        let Some(i) = fewest else {
            tracker.spawn(task(Arriving::Here(stream), Seat(None)));
            return;
        };
        let stream = match i {
            0 => Arriving::Here(stream),
            _ => match stream.into_std() {
                Ok(s) => Arriving::Moved(s),
                Err(e) => return tracing::warn!("cannot move a connection: {e}"),
            },
        };
        self.load[i].fetch_add(1, Ordering::Relaxed);
        let seat = Seat(Some((Arc::clone(&self.load), i)));
        self.handles[i].spawn(tracker.track_future(task(stream, seat)));
    }
}

/// An accepted connection on its way to its session's thread.
pub enum Arriving {
    Here(TcpStream),
    Moved(std::net::TcpStream),
}

impl Arriving {
    /// The connection, registered with the runtime this runs on.
    pub fn here(self) -> Option<TcpStream> {
        match self {
            Arriving::Here(s) => Some(s),
            Arriving::Moved(s) => TcpStream::from_std(s)
                .inspect_err(|e| tracing::warn!("cannot register a connection: {e}"))
                .ok(),
        }
    }
}

/// A session's place on its thread, given up when dropped.
pub struct Seat(Option<(Arc<Vec<AtomicUsize>>, usize)>);

impl Drop for Seat {
    fn drop(&mut self) {
        if let Some((load, i)) = &self.0 {
            load[*i].fetch_sub(1, Ordering::Relaxed);
        }
    }
}
