//! Hashing a stretch of a file for HASH and the X* commands: read and
//! digested on the blocking pool a chunk at a time, paced by `--max-rate`
//! like a transfer. Aborting the task between chunks stops it.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::atomic::Ordering;

use md5::Digest as _;

use super::transfer::Throttle;
use super::Progress;
use crate::error::{FtpError, FtpResult, IoContext};
use crate::protocol::HashAlgo;

const CHUNK: usize = 1 << 20;

enum Hasher {
    Ring(ring::digest::Context),
    Md5(md5::Md5),
    Crc32(crc32fast::Hasher),
}

impl Hasher {
    fn new(algo: HashAlgo) -> Hasher {
        use ring::digest::{Context, SHA1_FOR_LEGACY_USE_ONLY, SHA256, SHA512};
        match algo {
            HashAlgo::Sha256 => Hasher::Ring(Context::new(&SHA256)),
            HashAlgo::Sha512 => Hasher::Ring(Context::new(&SHA512)),
            // Clients ask for SHA-1 to compare files, not to sign anything.
            HashAlgo::Sha1 => Hasher::Ring(Context::new(&SHA1_FOR_LEGACY_USE_ONLY)),
            HashAlgo::Md5 => Hasher::Md5(md5::Md5::new()),
            HashAlgo::Crc32 => Hasher::Crc32(crc32fast::Hasher::new()),
        }
    }

    fn update(&mut self, bytes: &[u8]) {
        match self {
            Hasher::Ring(c) => c.update(bytes),
            Hasher::Md5(h) => h.update(bytes),
            Hasher::Crc32(h) => h.update(bytes),
        }
    }

    fn finish(self) -> Vec<u8> {
        match self {
            Hasher::Ring(c) => c.finish().as_ref().to_vec(),
            Hasher::Md5(h) => h.finalize().to_vec(),
            Hasher::Crc32(h) => h.finalize().to_be_bytes().to_vec(),
        }
    }
}

/// The digest of `len` bytes of `file` from `start`, in lower-case hex.
/// A file that shrinks meanwhile is hashed up to its new end.
pub async fn digest(
    file: File,
    algo: HashAlgo,
    start: u64,
    len: u64,
    max_rate: Option<u64>,
    progress: Progress,
) -> FtpResult<String> {
    let throttle = Throttle::new(max_rate);
    let mut state = (file, Hasher::new(algo), vec![0u8; CHUNK]);
    let mut done = 0u64;
    while done < len {
        let want = usize::try_from(len - done).map_or(CHUNK, |n| n.min(CHUNK));
        let at = start.checked_add(done).ok_or_else(too_far)?;
        let (file, mut hasher, mut buf) = state;
        let step = crate::blocking::run(move || {
            let n = file.read_at(&mut buf[..want], at);
            if let Ok(n) = n {
                hasher.update(&buf[..n]);
            }
            (n, (file, hasher, buf))
        });
        let (n, back) = step
            .await
            .map_err(|_| FtpError::Local("hashing stopped unexpectedly".into()))?;
        state = back;
        let n = n.at("file")?;
        if n == 0 {
            break;
        }
        done += n as u64;
        progress.fetch_add(n as u64, Ordering::Relaxed);
        throttle.pace(done).await;
    }
    Ok(hex(&state.1.finish()))
}

fn too_far() -> FtpError {
    FtpError::Syntax("Range beyond the largest file offset".into())
}

fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::new(), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    async fn of(algo: HashAlgo, bytes: &[u8], start: u64, len: u64) -> String {
        let mut f = tempfile::tempfile().unwrap();
        f.write_all(bytes).unwrap();
        digest(f, algo, start, len, None, Default::default())
            .await
            .unwrap()
    }

    #[tokio::test]
    async fn known_digests_of_abc() {
        let abc = b"abc";
        assert_eq!(
            of(HashAlgo::Sha256, abc, 0, 3).await,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        assert_eq!(
            of(HashAlgo::Sha1, abc, 0, 3).await,
            "a9993e364706816aba3e25717850c26c9cd0d89d"
        );
        assert_eq!(
            of(HashAlgo::Md5, abc, 0, 3).await,
            "900150983cd24fb0d6963f7d28e17f72"
        );
        assert_eq!(of(HashAlgo::Crc32, abc, 0, 3).await, "352441c2");
        assert!(of(HashAlgo::Sha512, abc, 0, 3)
            .await
            .starts_with("ddaf35a1"));
    }

    #[tokio::test]
    async fn a_range_hashes_only_its_bytes_and_stops_at_the_end() {
        let whole = of(HashAlgo::Md5, b"abc", 0, 3).await;
        assert_eq!(of(HashAlgo::Md5, b"xxabcyy", 2, 3).await, whole);
        assert_eq!(of(HashAlgo::Md5, b"xxabc", 2, 100).await, whole);
    }
}
