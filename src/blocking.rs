//! The one way file-system work leaves the async runtime.
//!
//! Any call that touches the disk can take long (a cold cache, a USB disk,
//! NFS); on a runtime thread it would stall every session scheduled there.
//! So it runs here, on tokio's blocking pool, with two rules:
//!
//! - A job does file-system work only and never waits on a socket or a
//!   channel the network drains: a client that never reads then parks no
//!   pool thread. Work that feeds the network (a listing, a download) is
//!   cut into jobs of one chunk each; the async side does the waiting.
//! - At most [`MAX_JOBS`] jobs run at once, server-wide: a flood of slow
//!   requests queues here instead of growing the pool to its limit.
//!
//! A job, once started, runs to its end even if its caller stops waiting:
//! dropping the future does not stop it. Whoever must know that a job's
//! effect is over (a transfer reporting 226 or 426) awaits it.

use std::io;

use tokio::sync::Semaphore;

/// File-system jobs that run at once. Far below tokio's default of 512
/// blocking threads, so that the pool always has room for the runtime's
/// own needs, and enough for a disk's queue to stay full.
pub const MAX_JOBS: usize = 64;

static JOBS: Semaphore = Semaphore::const_new(MAX_JOBS);

/// Runs `job` on the blocking pool once a slot is free, and gives back what
/// it returned. An error only when the job panicked.
pub async fn run<T: Send + 'static>(job: impl FnOnce() -> T + Send + 'static) -> io::Result<T> {
    let slot = JOBS
        .acquire()
        .await
        .map_err(|_| io::Error::other("file-system executor closed"))?;
    let handle = tokio::task::spawn_blocking(move || {
        // The slot goes with the job, not with the caller's future: it is
        // taken for as long as the job runs.
        let _slot = slot;
        job()
    });
    handle
        .await
        .map_err(|_| io::Error::other("file-system job failed"))
}

/// Starts `job` now and gives a handle to await its result later (a write
/// that runs while the next batch is read). With a slot free it goes
/// straight to the pool; otherwise a task waits for a slot.
pub fn start<T: Send + 'static>(
    job: impl FnOnce() -> T + Send + 'static,
) -> tokio::task::JoinHandle<io::Result<T>> {
    match JOBS.try_acquire() {
        Ok(slot) => tokio::task::spawn_blocking(move || {
            let _slot = slot;
            Ok(job())
        }),
        Err(_) => tokio::spawn(run(job)),
    }
}

/// Runs `job` without waiting for it: for clean-up that no reply depends on
/// (a temporary file dropped by a task that is gone). On a thread with no
/// runtime it runs at once.
pub fn detach(job: impl FnOnce() + Send + 'static) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => drop(rt.spawn(async move {
            let _ = run(job).await;
        })),
        Err(_) => job(),
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
        let done =
            tokio::task::spawn_blocking(move || rx.recv_timeout(std::time::Duration::from_secs(5)));
        assert!(done.await.unwrap().is_ok());
    }
}
