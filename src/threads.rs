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

use tokio::runtime::{Builder, Handle};
use tokio_util::task::TaskTracker;

pub struct SessionThreads {
    handles: Vec<Handle>,
    next: AtomicUsize,
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
        Ok(SessionThreads {
            handles,
            next: AtomicUsize::new(0),
        })
    }

    /// The runtime of the first thread, where the accept loop runs; `None`
    /// without threads.
    pub fn first(&self) -> Option<&Handle> {
        self.handles.first()
    }

    /// Spawns `task` on the next thread in turn, or on the caller's
    /// runtime without threads.
    pub fn spawn<F>(&self, tracker: &TaskTracker, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        if self.handles.is_empty() {
            tracker.spawn(task);
            return;
        }
        let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
        self.handles[i].spawn(tracker.track_future(task));
    }
}
