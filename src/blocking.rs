//! The one way file-system work leaves the async runtime.
//!
//! Any call that touches the disk can take long (a cold cache, a USB disk,
//! NFS); on a runtime thread it would stall every session scheduled there.
//! So it runs here, on a pool of threads of its own, with two rules:
//!
//! - A job does file-system work only and never waits on a socket or a
//!   channel the network drains: a client that never reads then parks no
//!   pool thread. Work that feeds the network (a listing, a download) is
//!   cut into jobs of one chunk each; the async side does the waiting.
//! - At most [`MAX_JOBS`] jobs run at once, server-wide: a flood of slow
//!   requests queues here instead of growing the pool without end.
//!
//! A job, once handed over, runs to its end even if its caller stops
//! waiting: dropping the future does not stop it. Whoever must know that a
//! job's effect is over (a transfer reporting 226 or 426) awaits it.
//!
//! Why not tokio's blocking pool: it wakes its thread while holding its
//! lock, and the woken thread then sleeps on that lock again, several
//! system calls per job where a small file's transfer makes one or two
//! jobs. Here a job costs one wake-up of a pool thread and one of the
//! caller's.

use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::sync::oneshot;

/// File-system jobs that run at once: enough for a disk's queue to stay
/// full; more wait their turn.
pub const MAX_JOBS: usize = 64;

/// How long an idle pool thread waits for work before it ends.
const IDLE: Duration = Duration::from_secs(10);

type Job = Box<dyn FnOnce() + Send>;

struct Pool {
    state: Mutex<State>,
    work: Condvar,
}

struct State {
    queue: VecDeque<Job>,
    threads: usize,
    idle: usize,
}

static POOL: Pool = Pool {
    state: Mutex::new(State {
        queue: VecDeque::new(),
        threads: 0,
        idle: 0,
    }),
    work: Condvar::new(),
};

impl Pool {
    fn state(&self) -> MutexGuard<'_, State> {
        // Jobs run outside the lock and their panics are caught, so the
        // state is never left half changed.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn submit(&'static self, job: Job) {
        let mut state = self.state();
        state.queue.push_back(job);
        // Each queued job needs an idle thread to be woken for it, or a new
        // thread, or (at the bound) the next thread to finish its job.
        let wake = state.queue.len() <= state.idle;
        let spawn = !wake && state.threads < MAX_JOBS;
        if spawn {
            state.threads += 1;
        }
        drop(state);
        if wake {
            // After the unlock: the woken thread does not sleep on the lock.
            self.work.notify_one();
        } else if spawn {
            let started = std::thread::Builder::new()
                .name("ftpshare-fs".into())
                .spawn(move || self.serve());
            if started.is_err() {
                // Out of threads: the queue waits for the ones there are;
                // with none, its jobs are dropped, and their callers told.
                let mut state = self.state();
                state.threads -= 1;
                let orphans = match state.threads {
                    0 => std::mem::take(&mut state.queue),
                    _ => VecDeque::new(),
                };
                drop(state);
                drop(orphans);
            }
        }
    }

    /// A pool thread: jobs until it has been idle for [`IDLE`].
    fn serve(&self) {
        loop {
            let mut state = self.state();
            let job = loop {
                if let Some(job) = state.queue.pop_front() {
                    break job;
                }
                state.idle += 1;
                let (again, waited) = self
                    .work
                    .wait_timeout(state, IDLE)
                    .unwrap_or_else(PoisonError::into_inner);
                state = again;
                state.idle -= 1;
                if waited.timed_out() && state.queue.is_empty() {
                    state.threads -= 1;
                    return;
                }
            };
            drop(state);
            job();
        }
    }
}

/// The result of a job handed to the pool; awaiting it is cancel-safe
/// (the job goes on either way).
pub struct Started<T>(oneshot::Receiver<std::thread::Result<T>>);

impl<T> Future for Started<T> {
    type Output = io::Result<T>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        Pin::new(&mut self.0).poll(cx).map(|done| match done {
            Ok(Ok(value)) => Ok(value),
            _ => Err(io::Error::other("file-system job failed")),
        })
    }
}

/// Hands `job` to the pool now; it runs as soon as a thread is free.
pub fn start<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> Started<T> {
    let (done, result) = oneshot::channel();
    POOL.submit(Box::new(move || {
        let _ = done.send(catch_unwind(AssertUnwindSafe(job)));
    }));
    Started(result)
}

/// Runs `job` on the pool, and gives back what it returned. An error only
/// when the job panicked, or never ran (no pool thread could be started).
pub async fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    start(job).await
}

/// Runs `job` without waiting for it: for clean-up that no reply depends on
/// (a temporary file dropped by a task that is gone).
pub fn detach(job: impl FnOnce() + Send + 'static) {
    POOL.submit(Box::new(move || drop(catch_unwind(AssertUnwindSafe(job)))));
}

/// Waits, at most `limit`, until no job runs or waits: so that clean-up
/// handed over by sessions that just ended is done before the process
/// exits.
pub async fn settle(limit: Duration) {
    let until = tokio::time::Instant::now() + limit;
    loop {
        let idle = {
            let state = POOL.state();
            state.queue.is_empty() && state.idle == state.threads
        };
        if idle || tokio::time::Instant::now() >= until {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn no_more_than_the_bound_run_at_once() {
        let (now, most) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let jobs = (0..3 * MAX_JOBS).map(|_| {
            let (now, most) = (Arc::clone(&now), Arc::clone(&most));
            tokio::spawn(run(move || {
                let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(n, Ordering::SeqCst);
                std::thread::sleep(std::time::Duration::from_millis(5));
                now.fetch_sub(1, Ordering::SeqCst);
            }))
        });
        for job in jobs.collect::<Vec<_>>() {
            job.await.unwrap().unwrap();
        }
        let most = most.load(Ordering::SeqCst);
        assert!(most > 1 && most <= MAX_JOBS, "{most} at once");
    }

    #[tokio::test]
    async fn a_job_runs_to_its_end_when_its_caller_is_gone() {
        let (tx, rx) = std::sync::mpsc::channel();
        let started = run(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            tx.send(()).unwrap();
        });
        // Polled just long enough to start, then dropped.
        let _ = tokio::time::timeout(std::time::Duration::from_millis(5), started).await;
        let done = std::thread::spawn(move || rx.recv_timeout(std::time::Duration::from_secs(5)));
        assert!(done.join().unwrap().is_ok());
    }
}
