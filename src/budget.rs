//! Upload limits for drop boxes: how large one file may grow, how many
//! bytes the whole run accepts, and how much free disk space must remain.
//!
//! Every upload holds a [`Ticket`] that is charged, chunk by chunk, before
//! the chunk reaches the disk. The quota is one atomic counter that is
//! reserved before writing, so concurrent uploads cannot overshoot it
//! together; an upload that is discarded gives its bytes back when its
//! ticket drops. Free space is estimated per file system from the last
//! measurement minus what uploads to it charged and had not written when
//! it was taken, so that concurrent uploads cannot pass the reserve
//! together either, not even by the bytes one of them has charged but not
//! yet written when another measures the disk again.

use std::collections::HashMap;
use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use crate::error::{FtpError, FtpResult};
use crate::upload_limits::{size_text, UploadLimit, UploadLimits, UploadUsage};

/// Free space is measured again after this many bytes…
const RECHECK_BYTES: u64 = 8 << 20;
/// …or this long, whichever comes first.
const RECHECK_AFTER: Duration = Duration::from_secs(1);

/// The limits of a running server and what uploads have used of them.
#[derive(Debug)]
pub(crate) struct Budget {
    limits: UploadLimits,
    used: AtomicU64,
    stopped: [AtomicU64; 3],
    /// Names the running uploads in [`DiskEstimate::uploads`].
    next_upload: AtomicU64,
    /// By device number: only file systems that uploads went to.
    disks: Mutex<HashMap<u64, DiskEstimate>>,
}

/// Free space on one file system as last measured, and what uploads
/// charged to it that the measurement did not see written.
#[derive(Debug)]
struct DiskEstimate {
    free: Option<u64>,
    since: u64,
    at: Instant,
    /// The uploads writing to this file system, by number.
    uploads: HashMap<u64, Writing>,
}

/// One upload's file and what it charged, to tell at a measurement how
/// much of that is not on the disk yet.
#[derive(Debug)]
struct Writing {
    /// While it runs. `None` once stored: every byte is written, and it
    /// is left for the next measurement, which may have begun before the
    /// last of them. Let go of then, so that a stored file deleted at once
    /// is not kept alive (and written back) by us.
    file: Option<Arc<File>>,
    /// The file's length when the upload was admitted (a resume's or a
    /// prefix copy's bytes are there already).
    start: u64,
    charged: u64,
}

impl DiskEstimate {
    fn empty() -> DiskEstimate {
        DiskEstimate {
            free: None,
            since: 0,
            at: Instant::now(),
            uploads: HashMap::new(),
        }
    }
}

impl Budget {
    /// `limits` with `MinFree::Auto` already resolved.
    pub fn new(limits: UploadLimits) -> Budget {
        Budget {
            limits,
            used: AtomicU64::new(0),
            stopped: Default::default(),
            next_upload: AtomicU64::new(0),
            disks: Mutex::default(),
        }
    }

    pub fn usage(&self) -> UploadUsage {
        UploadUsage {
            accepted: self.used.load(Ordering::Relaxed),
            stopped: self.stopped.each_ref().map(|n| n.load(Ordering::Relaxed)),
        }
    }

    /// ALLO n: whether `n` more bytes would fit. `dir` opens the folder
    /// whose disk is measured, off the runtime and only when the
    /// free-space check is on.
    pub async fn check_allo(
        &self,
        n: u64,
        dir: impl FnOnce() -> io::Result<File> + Send + 'static,
    ) -> FtpResult<()> {
        self.check_size(0, n)?;
        self.check_quota(n)?;
        if self.min_free() > 0 {
            self.check_free(free_space(dir).await, n)?;
        }
        Ok(())
    }

    /// Admits an upload into `file` that starts from `base` bytes (what the
    /// file holds already, for APPE and resume), if one more byte fits.
    /// Measures the file's disk: a file-system job's work, done by the job
    /// that opened the file.
    pub fn admit(self: &Arc<Self>, file: &Arc<File>, base: u64) -> FtpResult<Ticket> {
        let refuse = |e| self.stopped(e);
        self.check_size(base, 1).map_err(refuse)?;
        self.check_quota(1).map_err(refuse)?;
        let disk = match self.min_free() {
            0 => None,
            _ => self.watch(file).map_err(refuse)?,
        };
        Ok(Ticket {
            budget: Arc::clone(self),
            size: base,
            charged: 0,
            keep: false,
            disk,
        })
    }

    /// Names `file`'s disk, measures it (unless a measurement is recent
    /// enough, see [`Budget::due`]), refuses when it is at the
    /// `--min-free` line, and counts the upload among those running there.
    /// A file whose disk cannot even be named passes, like one whose free
    /// space cannot be measured.
    fn watch(&self, file: &Arc<File>) -> FtpResult<Option<DiskWatch>> {
        // The upload's own handle, shared: its length is what a later
        // measurement reads.
        let file = Arc::clone(file);
        let Ok(md) = file.metadata() else {
            return Ok(None);
        };
        let (dev, start) = (md.dev(), md.len());
        // A recent measurement, less what was charged since, will do.
        if self.due(dev, 1) {
            self.measure_now(dev, &file);
        }
        let estimate = self.disks().get(&dev).and_then(DiskEstimate::estimate);
        self.check_free(estimate, 1)?;
        let id = self.next_upload.fetch_add(1, Ordering::Relaxed);
        let writing = Writing {
            file: Some(Arc::clone(&file)),
            start,
            charged: 0,
        };
        let mut disks = self.disks();
        let d = disks.entry(dev).or_insert_with(DiskEstimate::empty);
        d.uploads.insert(id, writing);
        Ok(Some(DiskWatch { file, dev, id }))
    }

    /// AVBL: what one upload may store now on a disk with `free` bytes
    /// free: that less the reserve `--min-free` keeps, at most what is
    /// left of the quota and at most the per-file limit.
    pub fn available(&self, free: u64) -> u64 {
        let mut room = free.saturating_sub(self.min_free());
        if let Some(q) = self.limits.quota {
            room = room.min(q.saturating_sub(self.used.load(Ordering::Acquire)));
        }
        if let Some(max) = self.limits.max_upload_size {
            room = room.min(max);
        }
        room
    }

    fn min_free(&self) -> u64 {
        self.limits.min_free_bytes()
    }

    fn disks(&self) -> std::sync::MutexGuard<'_, HashMap<u64, DiskEstimate>> {
        // The map stays consistent whatever panicked: every update is one
        // assignment.
        self.disks.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Measures `dev` (through `own`, a file on it) afresh: a file-system
    /// job's work. What running uploads charged but had not written then
    /// (up to two batches each, see `data::file_sink`) is not in the
    /// measurement: each one's file length is read first, and what it
    /// charged beyond that stays counted. Read before the free space, a
    /// length can only miss bytes the measurement saw, which are then
    /// counted twice until the next one: on the safe side.
    fn measure_now(&self, dev: u64, own: &File) {
        let lengths = lengths(self.running_on(dev));
        let free = crate::vfs::disk_space(own).ok().map(|(free, _)| free);
        self.measured_at(dev, &lengths, free);
    }

    /// The files of the uploads running on `dev`, to measure.
    fn running_on(&self, dev: u64) -> Vec<(u64, Arc<File>)> {
        let disks = self.disks();
        let Some(d) = disks.get(&dev) else {
            return Vec::new();
        };
        let each = d.uploads.iter();
        each.filter_map(|(id, w)| Some((*id, Arc::clone(w.file.as_ref()?))))
            .collect()
    }

    /// Takes a measurement of `dev`: its free space, read after the
    /// lengths of the files its uploads were writing.
    fn measured_at(&self, dev: u64, lengths: &HashMap<u64, u64>, free: Option<u64>) {
        let mut disks = self.disks();
        let d = disks.entry(dev).or_insert_with(DiskEstimate::empty);
        let mut unwritten = 0u64;
        d.uploads.retain(|id, w| match lengths.get(id) {
            Some(&len) => {
                let written = len.saturating_sub(w.start);
                unwritten = unwritten.saturating_add(w.charged.saturating_sub(written));
                // A stored upload measured now is all on the disk.
                w.file.is_some()
            }
            // Stored before the lengths were read: all of it was written
            // before the free space was.
            None if w.file.is_none() => false,
            // Admitted after the lengths were read: none of it counted.
            None => {
                unwritten = unwritten.saturating_add(w.charged);
                true
            }
        });
        d.free = free;
        d.since = unwritten;
        d.at = Instant::now();
    }

    /// A measurement of `dev` with no uploads running, for tests.
    #[cfg(test)]
    fn measured(&self, dev: u64, free: Option<u64>) {
        let fresh = DiskEstimate {
            free,
            ..DiskEstimate::empty()
        };
        self.disks().insert(dev, fresh);
    }

    /// Whether `dev` should be measured before `n` more bytes: after
    /// [`RECHECK_BYTES`] or [`RECHECK_AFTER`], and before refusing on an
    /// estimate (someone may have freed space since).
    fn due(&self, dev: u64, n: u64) -> bool {
        self.disks().get(&dev).is_none_or(|d| {
            d.since >= RECHECK_BYTES
                || d.at.elapsed() >= RECHECK_AFTER
                || self.check_free(d.estimate(), n).is_err()
        })
    }

    /// Takes `n` bytes from `dev`'s estimated free space for upload `id`,
    /// or refuses them.
    fn take_free(&self, dev: u64, id: u64, n: u64) -> FtpResult<()> {
        let mut disks = self.disks();
        let Some(d) = disks.get_mut(&dev) else {
            return Ok(());
        };
        self.check_free(d.estimate(), n)?;
        d.since = d.since.saturating_add(n);
        if let Some(w) = d.uploads.get_mut(&id) {
            w.charged = w.charged.saturating_add(n);
        }
        Ok(())
    }

    fn stopped(&self, e: FtpError) -> FtpError {
        if let FtpError::Limit(limit, _) = &e {
            self.stopped[*limit as usize].fetch_add(1, Ordering::Relaxed);
        }
        e
    }

    fn check_size(&self, base: u64, n: u64) -> FtpResult<()> {
        match self.limits.max_upload_size {
            Some(max) if base.checked_add(n).is_none_or(|s| s > max) => Err(Self::size_error(max)),
            _ => Ok(()),
        }
    }

    fn size_error(max: u64) -> FtpError {
        FtpError::Limit(
            UploadLimit::MaxUploadSize,
            format!(
                "Exceeded storage allocation: files may hold at most {}",
                size_text(max)
            ),
        )
    }

    fn quota_error(quota: u64) -> FtpError {
        FtpError::Limit(
            UploadLimit::Quota,
            format!(
                "Exceeded storage allocation: this share accepts {} in all",
                size_text(quota)
            ),
        )
    }

    fn check_quota(&self, n: u64) -> FtpResult<()> {
        match self.limits.quota {
            Some(q) if self.used.load(Ordering::Relaxed).saturating_add(n) > q => {
                Err(Self::quota_error(q))
            }
            _ => Ok(()),
        }
    }

    /// Takes `n` bytes from the quota for an upload that holds `charged`
    /// bytes of it already. If they do not all fit, the upload is stopped
    /// and gives its `charged` bytes back in the same atomic step, so that
    /// uploads reaching the quota together cannot all stop one another:
    /// each refusal leaves room for the others, and one that fits alone
    /// goes on.
    fn reserve(&self, n: u64, charged: u64) -> FtpResult<()> {
        let Some(q) = self.limits.quota else {
            // Only counted for the exit line: saturate rather than wrap.
            let _ = self
                .used
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |u| {
                    Some(u.saturating_add(n))
                });
            return Ok(());
        };
        let fits = |used: u64| used.checked_add(n).filter(|&total| total <= q);
        let step = self
            .used
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(fits(used).unwrap_or_else(|| used.saturating_sub(charged)))
            });
        let (Ok(before) | Err(before)) = step;
        match fits(before) {
            Some(_) => Ok(()),
            None => Err(Self::quota_error(q)),
        }
    }

    /// `free` unknown (statvfs failed) passes: a failing probe must not
    /// stop uploads the disk can take.
    fn check_free(&self, free: Option<u64>, n: u64) -> FtpResult<()> {
        let min = self.min_free();
        match free {
            Some(free) if min > 0 && free.checked_sub(n).is_none_or(|left| left < min) => {
                Err(FtpError::Limit(
                    UploadLimit::MinFree,
                    format!(
                        "Exceeded storage allocation: the server keeps {} free on its disk",
                        size_text(min)
                    ),
                ))
            }
            _ => Ok(()),
        }
    }
}

/// One upload's share of the budget. Dropped without [`Ticket::keep`],
/// it gives its bytes back to the quota; stopped by the quota, it gives
/// them back at once.
#[derive(Debug)]
pub(crate) struct Ticket {
    budget: Arc<Budget>,
    /// The file's size so far, for the per-file limit.
    size: u64,
    /// Bytes taken from the quota.
    charged: u64,
    keep: bool,
    disk: Option<DiskWatch>,
}

/// The file an upload writes, to measure its disk by, and that disk.
#[derive(Debug)]
struct DiskWatch {
    file: Arc<File>,
    dev: u64,
    /// The upload's number in its disk's [`DiskEstimate::uploads`].
    id: u64,
}

impl DiskEstimate {
    fn estimate(&self) -> Option<u64> {
        self.free.map(|f| f.saturating_sub(self.since))
    }
}

impl Ticket {
    /// Charges `n` bytes about to be written; refuses them (and the
    /// upload) if they would break a limit.
    pub async fn charge(&mut self, n: u64) -> FtpResult<()> {
        let budget = Arc::clone(&self.budget);
        let refuse = |e| budget.stopped(e);
        budget.check_size(self.size, n).map_err(refuse)?;
        if let Some(d) = &self.disk {
            if budget.due(d.dev, n) {
                let (b, dev, own) = (Arc::clone(&budget), d.dev, Arc::clone(&d.file));
                let _ = crate::blocking::run(move || b.measure_now(dev, &own)).await;
            }
            budget.take_free(d.dev, d.id, n).map_err(refuse)?;
        }
        if let Err(e) = budget.reserve(n, self.charged) {
            // Given back by the refusal itself.
            self.charged = 0;
            return Err(refuse(e));
        }
        self.charged = self.charged.saturating_add(n);
        self.size = self.size.saturating_add(n);
        Ok(())
    }

    /// The per-file limit, for APPE, which checks the file's final size
    /// itself while it holds the file's lock.
    pub fn max_size(&self) -> Option<u64> {
        self.budget.limits.max_upload_size
    }

    /// The refusal of an upload that would make a file larger than `max`,
    /// counted as a stop by that limit.
    pub fn size_refused(&self, max: u64) -> FtpError {
        self.budget.stopped(Budget::size_error(max))
    }

    /// The upload took effect: its bytes stay charged.
    pub fn keep(&mut self) {
        self.keep = true;
    }
}

impl Drop for Ticket {
    fn drop(&mut self) {
        if !self.keep {
            self.budget.used.fetch_sub(self.charged, Ordering::AcqRel);
        }
        if let Some(d) = &self.disk {
            let mut disks = self.budget.disks();
            if let Some(e) = disks.get_mut(&d.dev) {
                if !self.keep {
                    // Discarded: what it wrote is freed, the rest never comes.
                    e.uploads.remove(&d.id);
                } else if let Some(w) = e.uploads.get_mut(&d.id) {
                    w.file = None;
                }
            }
        }
    }
}

/// The lengths of running uploads' files, by upload (a file-system job's work).
fn lengths(running: Vec<(u64, Arc<File>)>) -> HashMap<u64, u64> {
    running
        .into_iter()
        .map(|(id, f)| (id, f.metadata().map_or(0, |m| m.len())))
        .collect()
}

/// Free bytes on the disk of what `open` opens, if they can be measured.
/// Opening and statvfs can wait on a network file system: never on the
/// runtime.
async fn free_space<F: AsFd>(open: impl FnOnce() -> io::Result<F> + Send + 'static) -> Option<u64> {
    let measured = crate::blocking::run(move || crate::vfs::disk_space(open()?)).await;
    measured.ok()?.ok().map(|(free, _)| free)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::upload_limits::MinFree;

    fn budget(limits: UploadLimits) -> Arc<Budget> {
        Arc::new(Budget::new(limits))
    }

    fn limit(r: FtpResult<impl std::fmt::Debug>) -> Option<UploadLimit> {
        match r {
            Err(FtpError::Limit(l, _)) => Some(l),
            _ => None,
        }
    }

    #[test]
    fn sizes_read_as_people_write_them() {
        assert_eq!(size_text(2 << 20), "2 MiB");
        assert_eq!(size_text(500_000), "500 kB");
        assert_eq!(size_text(1_000_000_000), "1 GB");
        assert_eq!(size_text(1 << 40), "1 TiB");
        assert_eq!(size_text(1500), "1.5 KiB");
        assert_eq!(size_text(999), "999 bytes");
        assert_eq!(size_text(1), "1 byte");
        assert_eq!(size_text(u64::MAX), "16777216.0 TiB");
    }

    #[test]
    fn auto_min_free_is_the_smaller_of_256_mib_and_one_percent() {
        let auto = UploadLimits::default();
        let on = |total| auto.resolve(Ok(total)).min_free;
        assert_eq!(on(1 << 40), MinFree::Bytes(256 << 20));
        assert_eq!(on(10_000_000_000), MinFree::Bytes(100_000_000));
        let unknown = auto.resolve(Err(io::Error::other("x"))).min_free;
        assert_eq!(unknown, MinFree::Bytes(256 << 20));
        let off = UploadLimits {
            min_free: MinFree::Bytes(0),
            ..auto
        };
        assert_eq!(off.resolve(Ok(1 << 40)).min_free, MinFree::Bytes(0));
        assert!(!off.any());
    }

    #[test]
    fn zero_limits_are_refused() {
        let bad = UploadLimits {
            quota: Some(0),
            ..UploadLimits::default()
        };
        assert!(bad.check().is_err());
        let bad = UploadLimits {
            max_upload_size: Some(0),
            ..UploadLimits::default()
        };
        assert!(bad.check().is_err());
    }

    #[tokio::test]
    async fn the_quota_is_reserved_atomically_and_refunded_by_stopped_uploads() {
        let b = budget(UploadLimits {
            quota: Some(100),
            min_free: MinFree::Bytes(0),
            ..UploadLimits::default()
        });
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut first = b.admit(&file, 0).unwrap();
        let mut second = b.admit(&file, 0).unwrap();
        first.charge(60).await.unwrap();
        second.charge(40).await.unwrap();
        // The full quota refuses a new upload up front.
        assert_eq!(limit(b.admit(&file, 0)), Some(UploadLimit::Quota));
        // Stopped by the quota: its 40 bytes come back at once, before
        // the ticket is dropped, and the first upload can go on.
        assert_eq!(limit(second.charge(1).await), Some(UploadLimit::Quota));
        assert_eq!(b.usage().accepted, 60);
        let mut third = b.admit(&file, 0).unwrap();
        third.charge(30).await.unwrap();
        drop(third); // discarded: its 30 come back
        first.charge(40).await.unwrap();
        assert_eq!(limit(first.charge(1).await), Some(UploadLimit::Quota));
        assert_eq!(b.usage().accepted, 0);
        drop(second);
        drop(first);
        assert_eq!(b.usage().accepted, 0);
        assert_eq!(b.usage().stopped_by(UploadLimit::Quota), 3);
        // Kept: its bytes stay.
        let mut fourth = b.admit(&file, 0).unwrap();
        fourth.charge(100).await.unwrap();
        fourth.keep();
        drop(fourth);
        assert_eq!(b.usage().accepted, 100);
    }

    /// Three uploads that reach the quota together: however their charges
    /// interleave, one that fits alone is never stopped by the others.
    #[test]
    fn uploads_reaching_the_quota_together_leave_one_standing() {
        let b = Budget::new(UploadLimits {
            quota: Some(500),
            min_free: MinFree::Bytes(0),
            ..UploadLimits::default()
        });
        // Each holds 160 (480 in all); each wants 20 more, then 300 in all.
        let mut held = [160u64; 3];
        b.used.store(480, Ordering::Relaxed);
        let mut stopped = [false; 3];
        for _ in 0..7 {
            for i in 0..3 {
                if stopped[i] || held[i] >= 300 {
                    continue;
                }
                match b.reserve(20, held[i]) {
                    Ok(()) => held[i] += 20,
                    Err(_) => {
                        held[i] = 0;
                        stopped[i] = true;
                    }
                }
            }
        }
        assert_eq!(stopped.iter().filter(|s| !**s).count(), 1, "{held:?}");
        assert_eq!(b.usage().accepted, 300);
    }

    #[tokio::test]
    async fn the_size_limit_counts_what_the_file_held_before() {
        let b = budget(UploadLimits {
            max_upload_size: Some(10),
            min_free: MinFree::Bytes(0),
            ..UploadLimits::default()
        });
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut t = b.admit(&file, 4).unwrap();
        t.charge(6).await.unwrap();
        assert_eq!(limit(t.charge(1).await), Some(UploadLimit::MaxUploadSize));
        assert_eq!(limit(b.admit(&file, 10)), Some(UploadLimit::MaxUploadSize));
        assert_eq!(
            limit(b.check_allo(11, || unreachable!()).await),
            Some(UploadLimit::MaxUploadSize)
        );
        b.check_allo(10, || unreachable!()).await.unwrap();
        b.check_allo(u64::MAX, || unreachable!()).await.unwrap_err();
        // ALLO only asks: nothing is counted as stopped.
        assert_eq!(b.usage().stopped_by(UploadLimit::MaxUploadSize), 2);
    }

    #[tokio::test]
    async fn available_is_the_least_of_the_limits() {
        let b = budget(UploadLimits {
            quota: Some(5000),
            max_upload_size: Some(3000),
            min_free: MinFree::Bytes(100),
        });
        assert_eq!(b.available(10_000), 3000);
        assert_eq!(b.available(2100), 2000);
        assert_eq!(b.available(50), 0);
        let file = Arc::new(tempfile::tempfile().unwrap());
        let mut t = b.admit(&file, 0);
        // The disk of `file` may be below 100 bytes free: then no ticket.
        if let Ok(t) = t.as_mut() {
            t.charge(2500).await.unwrap();
            assert_eq!(b.available(10_000), 2500);
        }
        let open = budget(UploadLimits {
            min_free: MinFree::Bytes(0),
            ..UploadLimits::default()
        });
        assert_eq!(open.available(u64::MAX), u64::MAX);
    }

    #[test]
    fn concurrent_uploads_share_one_estimate_of_their_disk() {
        let b = budget(UploadLimits {
            min_free: MinFree::Bytes(100),
            ..UploadLimits::default()
        });
        b.measured(7, Some(1000));
        b.measured(8, Some(1000));
        // Two uploads to disk 7 between measurements: the second sees the
        // first one's bytes as gone.
        b.take_free(7, 0, 500).unwrap();
        assert!(!b.due(7, 400));
        b.take_free(7, 1, 400).unwrap();
        assert_eq!(limit(b.take_free(7, 0, 1)), Some(UploadLimit::MinFree));
        // Refusing on an estimate first asks for a measurement.
        assert!(b.due(7, 1));
        // Another file system keeps its own count.
        b.take_free(8, 0, 900).unwrap();
    }

    /// Bytes one upload charged but has not written yet are not in a new
    /// measurement another upload takes: they stay counted, so that the
    /// two cannot pass the reserve together. Once written, they are
    /// counted once, not twice.
    #[tokio::test]
    async fn a_new_measurement_still_counts_bytes_charged_but_not_written() {
        const MB: u64 = 1_000_000;
        let dir = tempfile::tempdir().unwrap();
        let first = Arc::new(tempfile::tempfile_in(dir.path()).unwrap());
        let second = Arc::new(tempfile::tempfile_in(dir.path()).unwrap());
        let (free, _) = crate::vfs::disk_space(&first).unwrap();
        let Some(min) = free.checked_sub(10 * MB).filter(|&m| m > 0) else {
            return; // a disk with 10 MB free or less cannot run this
        };
        let b = budget(UploadLimits {
            min_free: MinFree::Bytes(min),
            ..UploadLimits::default()
        });
        let mut a = b.admit(&first, 0).unwrap();
        a.charge(6 * MB).await.unwrap();
        // Admitting measures the disk afresh: a's 6 MB are not on it.
        let mut c = b.admit(&second, 0).unwrap();
        assert_eq!(limit(c.charge(6 * MB).await), Some(UploadLimit::MinFree));
        // Written, and measured again by a new upload: counted once.
        io::Write::write_all(&mut &*first, &vec![1u8; 6 * MB as usize]).unwrap();
        first.sync_all().unwrap();
        let mut d = b.admit(&second, 0).unwrap();
        d.charge(3 * MB).await.unwrap();
        // a is discarded: its bytes no longer count once measured again.
        drop(a);
        drop(first);
        let mut e = b.admit(&second, 0).unwrap();
        e.charge(6 * MB).await.unwrap();
    }

    #[test]
    fn free_space_must_stay_above_the_minimum_after_the_bytes() {
        let b = budget(UploadLimits {
            min_free: MinFree::Bytes(100),
            ..UploadLimits::default()
        });
        assert!(b.check_free(Some(150), 50).is_ok());
        assert_eq!(
            limit(b.check_free(Some(150), 51)),
            Some(UploadLimit::MinFree)
        );
        assert_eq!(limit(b.check_free(Some(10), 0)), Some(UploadLimit::MinFree));
        // A failed measurement lets the upload through.
        assert!(b.check_free(None, u64::MAX).is_ok());
    }

    #[tokio::test]
    async fn a_disk_with_less_free_than_the_minimum_refuses_uploads_up_front() {
        let file = Arc::new(tempfile::tempfile().unwrap());
        let (free, _) = crate::vfs::disk_space(&file).unwrap();
        let b = budget(UploadLimits {
            min_free: MinFree::Bytes(free + (1 << 30)),
            ..UploadLimits::default()
        });
        assert_eq!(limit(b.admit(&file, 0)), Some(UploadLimit::MinFree));
        assert_eq!(
            limit(b.check_allo(0, move || file.try_clone()).await),
            Some(UploadLimit::MinFree)
        );
    }
}
