//! An upload's way to its file: bytes gather in a batch that one
//! blocking-pool job writes while the next batch is read from the network.
//!
//! A write can wait on the disk, so it never runs on the runtime. tokio's
//! `File` also writes on the blocking pool, but copies every socket read
//! into a buffer of its own and makes one hop per read; here the network
//! is read straight into the batch, and a hop is made per batch. Two
//! batches per upload: 512 KiB, as much as before.

use std::fs::File;
use std::io::{self, Write};
use std::sync::Arc;

use tokio::sync::RwLock;
use tokio::task::JoinHandle;

/// Bytes gathered before they are written.
const BATCH: usize = 256 << 10;

/// Held (shared) by each write while it runs, so that whoever stops an
/// upload can wait, by taking it exclusively, until no write of the
/// upload is left: dropping the upload's task does not stop a write
/// already on the blocking pool.
pub type WriteGate = Arc<RwLock<()>>;

/// What a write job gives back: the file, its buffer (to reuse), and how
/// the write went.
type Written = (File, Vec<u8>, io::Result<()>);

pub struct FileSink {
    /// The file, while no write is in flight.
    file: Option<File>,
    writing: Option<JoinHandle<Written>>,
    /// The batch being gathered.
    batch: Vec<u8>,
    /// The buffer of the last write, to gather the batch after next in.
    spare: Vec<u8>,
    gate: WriteGate,
}

impl FileSink {
    pub fn new(file: File, gate: WriteGate) -> FileSink {
        FileSink {
            file: Some(file),
            writing: None,
            batch: Vec::with_capacity(BATCH),
            spare: Vec::new(),
            gate,
        }
    }

    /// The batch being gathered: read or convert into its spare capacity,
    /// then call [`FileSink::filled`].
    pub fn batch(&mut self) -> &mut Vec<u8> {
        &mut self.batch
    }

    /// Starts writing the batch once it is full.
    pub async fn filled(&mut self) -> io::Result<()> {
        if self.batch.len() >= BATCH {
            self.submit().await?;
        }
        Ok(())
    }

    /// Writes what is gathered and gives the file back once every byte is
    /// in: the last write's error counts too.
    pub async fn finish(mut self) -> io::Result<File> {
        if !self.batch.is_empty() {
            self.submit().await?;
        }
        self.wait().await
    }

    async fn submit(&mut self) -> io::Result<()> {
        let file = self.wait().await?;
        let mut next = std::mem::take(&mut self.spare);
        next.reserve(BATCH);
        let batch = std::mem::replace(&mut self.batch, next);
        let running = Arc::clone(&self.gate).read_owned().await;
        self.writing = Some(tokio::task::spawn_blocking(move || {
            let result = (&file).write_all(&batch);
            drop(running);
            (file, batch, result)
        }));
        Ok(())
    }

    /// The file, once the write in flight (if any) is done.
    async fn wait(&mut self) -> io::Result<File> {
        let Some(job) = self.writing.take() else {
            return self
                .file
                .take()
                .ok_or_else(|| io::Error::other("an earlier write failed"));
        };
        let (file, mut buf, result) = job.await.map_err(io::Error::other)?;
        buf.clear();
        self.spare = buf;
        result.map(|()| file)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Seek};

    #[tokio::test]
    async fn every_byte_arrives_in_order_across_batches() {
        let mut sink = FileSink::new(tempfile::tempfile().unwrap(), WriteGate::default());
        let mut want = Vec::new();
        for i in 0..3_000u32 {
            // Chunks of odd sizes, so that batches end mid-chunk.
            let chunk: Vec<u8> = (0..(i % 1500)).map(|j| (i ^ j) as u8).collect();
            sink.batch().extend_from_slice(&chunk);
            want.extend_from_slice(&chunk);
            sink.filled().await.unwrap();
        }
        let mut file = sink.finish().await.unwrap();
        file.rewind().unwrap();
        let mut got = Vec::new();
        file.read_to_end(&mut got).unwrap();
        assert!(want.len() > 2 * BATCH);
        assert!(got == want);
    }

    #[tokio::test]
    async fn a_failed_write_is_reported() {
        // Opened read-only: every write fails.
        let file = File::open("/dev/null").unwrap();
        let mut sink = FileSink::new(file, WriteGate::default());
        sink.batch().resize(BATCH, 1);
        sink.filled().await.unwrap();
        assert!(sink.finish().await.is_err());
    }

    #[tokio::test]
    async fn the_gate_is_held_while_a_write_runs() {
        let gate = WriteGate::default();
        let mut sink = FileSink::new(tempfile::tempfile().unwrap(), Arc::clone(&gate));
        sink.batch().resize(BATCH, 1);
        sink.filled().await.unwrap();
        // The upload's task is gone; its write may still be running.
        drop(sink);
        let _none_left = gate.write().await;
        assert!(gate.try_read().is_err());
    }
}
