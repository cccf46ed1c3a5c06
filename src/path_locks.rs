//! One writer at a time per name, inside this server.
//!
//! Every change that makes a file's content take effect — a replacing
//! rename, an append, a resume written in place (held from its open to
//! its end) — holds the lock of its name while it does so. A name is
//! keyed by its folder's identity (`vfs::Share::lock_key`), so the paths
//! a linked folder gives it share one lock. Concurrent
//! writers to one name then give some order of whole operations, the
//! last to commit winning, never a mix of them. (Other programs are kept
//! out of an append by flock(2) as well: see `vfs::upload`.)
//!
//! Waiting for a lock is asynchronous, so a writer that waits holds no
//! thread; a lock no longer held or waited for is forgotten.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{Mutex as AsyncMutex, OwnedMutexGuard};

#[derive(Default)]
pub(crate) struct PathLocks {
    held: Mutex<HashMap<String, Arc<AsyncMutex<()>>>>,
}

/// The lock of one path, released when dropped.
pub(crate) struct PathGuard {
    locks: Arc<PathLocks>,
    key: String,
    guard: Option<OwnedMutexGuard<()>>,
}

impl PathLocks {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<AsyncMutex<()>>>> {
        // Every update is one insert or remove: consistent whatever panicked.
        self.held.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Waits until `path` is free, then holds it.
    pub async fn lock(self: &Arc<Self>, path: &str) -> PathGuard {
        let lock = Arc::clone(self.map().entry(path.to_string()).or_default());
        let guard = lock.lock_owned().await;
        PathGuard {
            locks: Arc::clone(self),
            key: path.to_string(),
            guard: Some(guard),
        }
    }

    /// Like [`PathLocks::lock`], but gives up after `wait`.
    pub async fn lock_within(self: &Arc<Self>, path: &str, wait: Duration) -> Option<PathGuard> {
        tokio::time::timeout(wait, self.lock(path)).await.ok()
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.map().len()
    }
}

impl Drop for PathGuard {
    fn drop(&mut self) {
        drop(self.guard.take());
        let mut map = self.locks.map();
        // Only the map refers to it: nobody holds or waits for it.
        if map
            .get(&self.key)
            .is_some_and(|l| Arc::strong_count(l) == 1)
        {
            map.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn one_holder_per_path_and_none_remembered_after() {
        let locks = Arc::new(PathLocks::default());
        let a = locks.lock("/a").await;
        // Another path is free.
        let b = locks.lock("/b").await;
        let waiting = tokio::spawn({
            let locks = Arc::clone(&locks);
            async move { locks.lock("/a").await }
        });
        tokio::time::sleep(Duration::from_millis(20)).await;
        assert!(!waiting.is_finished(), "a second holder of /a");
        drop(a);
        let again = tokio::time::timeout(Duration::from_secs(5), waiting).await;
        drop(again.unwrap().unwrap());
        drop(b);
        assert_eq!(locks.len(), 0);
    }
}
