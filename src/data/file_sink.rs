//! An upload's way to its file: bytes gather in a batch that one
//! file-system job writes while the next batch is read from the network.
//!
//! tokio's `File` also writes on the blocking pool, but copies every
//! socket read into a buffer of its own and makes one hop per read; here
//! the network is read straight into the batch, and a hop is made per
//! batch. Two batches per upload: 512 KiB, or 2 MiB once it is large.
//!
//! A write job runs to its end even when the upload stops; so an upload
//! always ends through [`FileSink::finish`], which waits for it: whatever
//! is decided about the file after that (keep, truncate, discard) cannot
//! be undone by a write still running.

use std::fs::File;
use std::io::{self, Seek, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// Bytes gathered before they are written.
const BATCH: usize = 256 << 10;

/// The batch of an upload past its first: a quarter of the hops to the
/// file-system pool, which on one CPU took a fifth of a large upload's
/// server time (measured: 1 MiB beat both 512 KiB and 2 MiB).
const LARGE_BATCH: usize = 1 << 20;

/// The places for uploads with large batches, so that their memory stays
/// bounded (128 MiB) however many run; the others gather [`BATCH`]es
/// until a place is free.
static LARGE_BATCHES: Slots = Slots::new(64);

/// What a write job gives back.
struct Written {
    file: Arc<File>,
    /// The batch's buffer, to gather the batch after next in.
    buf: Vec<u8>,
    allocate: Allocate,
    result: io::Result<()>,
    /// Held until the buffer is freed, wherever that happens.
    _place: Option<Arc<Place>>,
}

pub struct FileSink {
    /// The file, while no write is in flight.
    file: Option<Arc<File>>,
    writing: Option<crate::blocking::Started<Written>>,
    /// The batch being gathered.
    batch: Vec<u8>,
    /// The buffer of the last write, to gather the batch after next in.
    spare: Vec<u8>,
    /// Where a place for large batches is taken from.
    places: &'static Slots,
    /// Held while the batches are large.
    place: Option<Arc<Place>>,
    allocate: Allocate,
}

impl FileSink {
    pub fn new(file: Arc<File>) -> FileSink {
        FileSink::sharing(file, &LARGE_BATCHES)
    }

    fn sharing(file: Arc<File>, places: &'static Slots) -> FileSink {
        FileSink {
            file: Some(file),
            writing: None,
            batch: Vec::with_capacity(BATCH + 1),
            spare: Vec::new(),
            places,
            place: None,
            allocate: Allocate::Unknown,
        }
    }

    /// The batch being gathered: read or convert into its spare capacity
    /// (at most [`FileSink::room`] bytes), then call [`FileSink::filled`].
    pub fn batch(&mut self) -> &mut Vec<u8> {
        &mut self.batch
    }

    /// How many bytes to read next: what fills the batch, whose buffer
    /// has one byte more for the CR that TYPE A may hold back from the
    /// read before, so that it never grows.
    pub fn room(&self) -> usize {
        self.full().saturating_sub(self.batch.len()).max(1)
    }

    fn full(&self) -> usize {
        match self.place {
            Some(_) => LARGE_BATCH,
            None => BATCH,
        }
    }

    /// Starts writing the batch once it is full.
    pub async fn filled(&mut self) -> io::Result<()> {
        if self.batch.len() < self.full() {
            return Ok(());
        }
        if self.place.is_none() && self.places.take() {
            self.place = Some(Arc::new(Place(self.places)));
        }
        let file = self.wait().await?;
        let mut next = std::mem::take(&mut self.spare);
        next.reserve(self.full() + 1);
        let batch = std::mem::replace(&mut self.batch, next);
        self.start(file, batch);
        Ok(())
    }

    /// Writes what is gathered and gives the file back once every byte is
    /// in: the last write's error counts too.
    pub async fn finish(mut self) -> io::Result<Arc<File>> {
        let file = self.wait().await?;
        let last = std::mem::take(&mut self.batch);
        if last.is_empty() {
            return Ok(file);
        }
        self.start(file, last);
        self.wait().await
    }

    /// The file, once no write is running, and the bytes gathered since the
    /// last write: for the caller to write in the job that commits the
    /// upload. A small upload then reaches the disk in one job, and a
    /// resume written in place is never whole on disk before it commits
    /// (a stop until then cuts it back, and a reader must not have seen it
    /// whole).
    pub async fn finish_but_last(mut self) -> io::Result<(Arc<File>, Last)> {
        let file = self.wait().await?;
        let last = Last {
            bytes: std::mem::take(&mut self.batch),
            _place: self.place.take(),
        };
        Ok((file, last))
    }

    /// Starts writing `batch`, which runs while the next one is read.
    fn start(&mut self, file: Arc<File>, batch: Vec<u8>) {
        let (allocate, place) = (self.allocate, self.place.clone());
        self.writing = Some(crate::blocking::start(move || {
            let allocate = allocate.before(&file, batch.len());
            let result = (&*file).write_all(&batch);
            Written {
                file,
                buf: batch,
                allocate,
                result,
                _place: place,
            }
        }));
    }

    /// The file, once the write in flight (if any) is done.
    /// Cancel-safe: the write stays in `writing` until it has ended.
    async fn wait(&mut self) -> io::Result<Arc<File>> {
        let Some(job) = self.writing.as_mut() else {
            return self
                .file
                .take()
                .ok_or_else(|| io::Error::other("an earlier write failed"));
        };
        let ended = job.await;
        self.writing = None;
        let mut written = ended?;
        written.buf.clear();
        self.spare = written.buf;
        self.allocate = written.allocate;
        written.result.map(|()| written.file)
    }
}

/// Whether a batch's blocks are allocated before it is written (only an
/// upload larger than its first batch gets here): ext4 then skips delayed
/// allocation's bookkeeping for each block, which was a tenth of a large
/// upload's server time here. Only the batch's own range is allocated, so
/// no block is ever left past the file's end. Not on other file systems:
/// tmpfs, for one, would zero the pages first.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Allocate {
    /// Not known yet: asked with the first write.
    Unknown,
    Ahead,
    Never,
}

impl Allocate {
    /// Allocates the next `len` bytes of `file` if this says so (or, the
    /// first time, if it is on ext4), and says what to do next time.
    fn before(self, file: &File, len: usize) -> Allocate {
        let ahead = match self {
            Allocate::Never => false,
            Allocate::Ahead => true,
            Allocate::Unknown => on_ext4(file),
        };
        // Only a hint: the write tells whether the space was there. A file
        // that cannot be allocated (ext3's format) is not asked again.
        if ahead && allocate(file, len).is_ok() {
            Allocate::Ahead
        } else {
            Allocate::Never
        }
    }
}

fn on_ext4(file: &File) -> bool {
    const EXT4: u64 = 0xEF53;
    rustix::fs::fstatfs(file).is_ok_and(|fs| fs.f_type as u64 == EXT4)
}

/// Allocates `len` bytes from the file's position, its size unchanged.
fn allocate(mut file: &File, len: usize) -> io::Result<()> {
    let at = file.stream_position()?;
    let len = u64::try_from(len).map_err(io::Error::other)?;
    rustix::fs::fallocate(file, rustix::fs::FallocateFlags::KEEP_SIZE, at, len)?;
    Ok(())
}

/// A number of places, taken and put back.
struct Slots {
    taken: AtomicUsize,
    max: usize,
}

impl Slots {
    const fn new(max: usize) -> Slots {
        Slots {
            taken: AtomicUsize::new(0),
            max,
        }
    }

    /// Takes a place, if one is free.
    fn take(&self) -> bool {
        self.taken
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                (n < self.max).then_some(n + 1)
            })
            .is_ok()
    }
}

/// A place taken from [`Slots`], put back when dropped.
struct Place(&'static Slots);

/// An upload's last bytes ([`FileSink::finish_but_last`]); a large
/// upload's place is held with them, so no large buffer outlives it.
pub struct Last {
    bytes: Vec<u8>,
    _place: Option<Arc<Place>>,
}

impl std::ops::Deref for Last {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.bytes
    }
}

impl Drop for Place {
    fn drop(&mut self) {
        self.0.taken.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    #[tokio::test]
    async fn every_byte_arrives_in_order_across_batches() {
        let mut sink = FileSink::new(Arc::new(tempfile::tempfile().unwrap()));
        let mut want = Vec::new();
        for i in 0..3_000u32 {
            // Chunks of odd sizes, so that batches end mid-chunk.
            let chunk: Vec<u8> = (0..(i % 1500)).map(|j| (i ^ j) as u8).collect();
            sink.batch().extend_from_slice(&chunk);
            want.extend_from_slice(&chunk);
            sink.filled().await.unwrap();
        }
        let file = sink.finish().await.unwrap();
        let mut file = &*file;
        file.rewind().unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert!(want.len() > 2 * BATCH);
        assert!(got == want);
    }

    #[tokio::test]
    async fn a_large_upload_gathers_large_batches_and_gives_its_place_back() {
        static ONE: Slots = Slots::new(1);
        let taken = || ONE.taken.load(Ordering::Relaxed);
        let sink = || FileSink::sharing(Arc::new(tempfile::tempfile().unwrap()), &ONE);
        let (mut first, mut second) = (sink(), sink());
        for sink in [&mut first, &mut second] {
            sink.batch().resize(BATCH, 1);
            sink.filled().await.unwrap();
        }
        assert_eq!(first.full(), LARGE_BATCH);
        assert!(first.batch().capacity() > LARGE_BATCH, "gathered at once");
        assert_eq!(second.full(), BATCH, "the one place is taken");
        first.batch().resize(BATCH, 2);
        first.filled().await.unwrap();
        assert_eq!(first.batch().len(), BATCH, "a large batch is not full yet");
        let (file, last) = first.finish_but_last().await.unwrap();
        assert_eq!(last.len(), BATCH, "the last batch waits for the commit");
        assert_eq!(file.metadata().unwrap().len(), BATCH as u64);
        assert_eq!(taken(), 1, "the place is held with the last batch");
        drop(last);
        assert_eq!(taken(), 0);
        second.batch().resize(BATCH, 3);
        second.filled().await.unwrap();
        assert_eq!(second.full(), LARGE_BATCH, "the place was given back");
    }

    /// A large upload stopped while a write runs keeps its place until
    /// the write has ended and its buffer is gone.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_place_is_given_back_only_with_the_last_buffer() {
        static ONE: Slots = Slots::new(1);
        let (mut reader, writer) = crate::data::test_pipe();
        let mut sink = FileSink::sharing(Arc::new(writer), &ONE);
        // More than a pipe holds: the write blocks until the reader reads.
        sink.batch().resize(BATCH, 7);
        sink.filled().await.unwrap();
        drop(sink);
        assert_eq!(ONE.taken.load(Ordering::Relaxed), 1, "a write still runs");
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; BATCH];
            let mut got = 0;
            while got < BATCH {
                got += reader.read(&mut buf).unwrap();
            }
        });
        read.await.unwrap();
        wait_until(|| ONE.taken.load(Ordering::Relaxed) == 0).await;
    }

    async fn wait_until(done: impl Fn() -> bool) {
        for _ in 0..500 {
            if done() {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("the place was never given back");
    }

    /// Whether the file system allocates ahead or not, a large upload's
    /// bytes arrive whole, and no block is left allocated past its end.
    #[tokio::test]
    async fn allocating_ahead_leaves_no_block_past_the_end() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("large");
        let file = Arc::new(File::create_new(&path).unwrap());
        let mut sink = FileSink::new(Arc::clone(&file));
        let want: Vec<u8> = (0..3 * LARGE_BATCH + 12_345)
            .map(|i| (i % 251) as u8)
            .collect();
        for chunk in want.chunks(64 * 1024) {
            sink.batch().extend_from_slice(chunk);
            sink.filled().await.unwrap();
        }
        let ahead = if on_ext4(&file) {
            Allocate::Ahead
        } else {
            Allocate::Never
        };
        assert_eq!(sink.allocate, ahead);
        sink.finish().await.unwrap();
        assert!(std::fs::read(&path).unwrap() == want);
        let blocks = file.metadata().unwrap().blocks() * 512;
        let whole = (want.len() as u64).div_ceil(4096) * 4096;
        // One block more for an extent tree's index, never a batch's worth.
        assert!(
            blocks <= whole + 4096,
            "{blocks} bytes allocated for {whole}"
        );
    }

    #[test]
    fn no_more_places_are_taken_than_there_are() {
        static TWO: Slots = Slots::new(2);
        assert!(TWO.take() && TWO.take());
        assert!(!TWO.take());
        drop(Place(&TWO));
        assert!(TWO.take());
    }

    #[tokio::test]
    async fn a_failed_write_is_reported() {
        // Opened read-only: every write fails.
        let file = File::open("/dev/null").unwrap();
        let mut sink = FileSink::new(Arc::new(file));
        sink.batch().resize(BATCH, 1);
        sink.filled().await.unwrap();
        assert!(sink.finish().await.is_err());
    }

    /// `finish` waits for the write in flight: a write into a pipe that
    /// nobody reads yet is still running, so `finish` must not return
    /// until the reader has taken every byte. (Returning early would let
    /// an upload be answered, cut back or discarded while its last write
    /// still changes the file.)
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn finish_waits_for_a_write_still_running() {
        let (mut reader, writer) = crate::data::test_pipe();
        let mut sink = FileSink::new(Arc::new(writer));
        // More than a pipe holds: the write blocks until the reader reads.
        sink.batch().resize(BATCH, 7);
        sink.filled().await.unwrap();
        let finishing = tokio::spawn(sink.finish());
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
        assert!(
            !finishing.is_finished(),
            "finish returned while a write ran"
        );
        let mut got = Vec::new();
        let read = tokio::task::spawn_blocking(move || {
            let mut buf = vec![0u8; BATCH];
            while got.len() < BATCH {
                let n = reader.read(&mut buf).unwrap();
                got.extend_from_slice(&buf[..n]);
            }
            got
        });
        let file = finishing.await.unwrap().unwrap();
        drop(file);
        assert_eq!(read.await.unwrap().len(), BATCH);
    }
}
