//! Opening and reading a file when the kernel can do it without waiting
//! for any device: the one file-system work done on a session's thread.
//!
//! A small download otherwise makes a round trip to the file-system pool
//! (two thread switches) for an open and a read that, on a warm cache,
//! take microseconds. Here the kernel itself guarantees they do not wait:
//! every name must already be in its lookup cache (`RESOLVE_CACHED`), the
//! file must be on the shared folder's own file system (`RESOLVE_NO_XDEV`),
//! which must be a local one (whose open is no request to a server or a
//! FUSE daemon), and the bytes must be in the page cache (`RWF_NOWAIT`).
//! If any of that fails, nothing is answered from here: the caller goes
//! to the pool, which also gives the real error, and reads a small file
//! there with the same loop ([`read_small`]).

use std::fs::File;
use std::io::{self, IoSliceMut};
use std::os::fd::AsFd;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, OFlags, ResolveFlags, StatxFlags};
use rustix::io::{Errno, ReadWriteFlags};

/// Whether files under `dir` may be opened here: its file system is a
/// local disk one (tmpfs is not: it refuses `RWF_NOWAIT`). Asked once,
/// when the folder is opened.
pub fn allowed_on(dir: &impl AsFd) -> bool {
    // Values of statfs(2)'s f_type.
    const LOCAL: [u64; 5] = [
        0xEF53,      // ext2, ext3, ext4
        0x5846_5342, // xfs
        0x9123_683E, // btrfs
        0xF2F5_2010, // f2fs
        0x2FC1_2FC1, // zfs
    ];
    rustix::fs::fstatfs(dir).is_ok_and(|fs| LOCAL.contains(&(fs.f_type as u64)))
}

/// A file opened for a download.
pub struct Download {
    pub file: File,
    pub len: u64,
    /// The bytes from the offset on, when they are few enough to have
    /// been read with the open.
    pub bytes: Option<Vec<u8>>,
}

/// What [`open_read`] did.
pub enum Cached {
    /// Opened, and read when at most `max` bytes are left.
    Read(Download),
    /// Not now (a name or a page not cached, an error): ask the pool.
    NotNow,
    /// Never on this file system or kernel (no `RESOLVE_CACHED` before
    /// Linux 5.12, no `RWF_NOWAIT`): stop trying.
    Never,
}

/// Whether an error says the call itself cannot be made here.
fn unsupported(e: Errno) -> bool {
    matches!(e, Errno::INVAL | Errno::NOSYS | Errno::OPNOTSUPP)
}

/// A regular file under `dir`, opened, with its length and, when at most
/// `max` bytes are left from `offset`, those bytes.
pub fn open_read(dir: &impl AsFd, rel: &Path, offset: u64, max: u64) -> Cached {
    let resolve = ResolveFlags::BENEATH
        | ResolveFlags::NO_MAGICLINKS
        | ResolveFlags::NO_XDEV
        | ResolveFlags::CACHED;
    // O_NONBLOCK: a FIFO cannot block the open (it is refused below).
    let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat2(dir, rel, flags, rustix::fs::Mode::empty(), resolve) {
        Ok(fd) => fd,
        Err(e) if unsupported(e) => return Cached::Never,
        Err(_) => return Cached::NotNow,
    };
    let want = StatxFlags::TYPE | StatxFlags::SIZE;
    let flags = AtFlags::EMPTY_PATH | AtFlags::STATX_DONT_SYNC;
    let Ok(st) = rustix::fs::statx(&fd, "", flags, want) else {
        return Cached::NotNow;
    };
    if FileType::from_raw_mode(st.stx_mode.into()) != FileType::RegularFile {
        return Cached::NotNow;
    }
    let len = st.stx_size;
    let nowait = |buf: &mut [u8], at| {
        let buf = &mut [IoSliceMut::new(buf)];
        rustix::io::preadv2(&fd, buf, at, ReadWriteFlags::NOWAIT).map_err(io::Error::from)
    };
    let bytes = match read_rest(offset, len, max, nowait) {
        Ok(bytes) => bytes,
        Err(e) if Errno::from_io_error(&e).is_some_and(unsupported) => return Cached::Never,
        // Not in the page cache (AGAIN), or failed: the pool will tell.
        Err(_) => return Cached::NotNow,
    };
    let file = File::from(fd);
    Cached::Read(Download { file, len, bytes })
}

/// Files up to this size are read whole when they are opened.
pub const SMALL_FILE: u64 = 64 << 10;

/// The bytes of `file` from `offset` to `len` when that is a small file's
/// worth (read now: the caller is a file-system job), else `None`.
pub fn read_small(file: &File, offset: u64, len: u64) -> io::Result<Option<Vec<u8>>> {
    use std::os::unix::fs::FileExt;
    read_rest(offset, len, SMALL_FILE, |buf, at| file.read_at(buf, at))
}

/// The bytes from `offset` to `len`, read with `read_at`, when there are
/// at most `max` (none past the end); fewer when the file shrank meanwhile.
fn read_rest(
    offset: u64,
    len: u64,
    max: u64,
    mut read_at: impl FnMut(&mut [u8], u64) -> io::Result<usize>,
) -> io::Result<Option<Vec<u8>>> {
    let left = len.saturating_sub(offset);
    if left > max {
        return Ok(None);
    }
    let mut bytes = vec![0u8; usize::try_from(left).map_err(io::Error::other)?];
    let mut got = 0;
    while got < bytes.len() {
        match read_at(&mut bytes[got..], offset + got as u64) {
            Ok(0) => break, // the file shrank: send what there is
            Ok(n) => got += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    bytes.truncate(got);
    Ok(Some(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn folder() -> (tempfile::TempDir, File) {
        let dir = tempfile::tempdir().unwrap();
        let handle = File::open(dir.path()).unwrap();
        (dir, handle)
    }

    #[test]
    fn a_cached_file_is_read_whole_or_from_an_offset() {
        let (dir, handle) = folder();
        if !allowed_on(&handle) {
            return; // not a local file system here: never used
        }
        let data: Vec<u8> = (0..40_000u32).map(|i| (i * 7) as u8).collect();
        std::fs::write(dir.path().join("f.bin"), &data).unwrap();
        let read = |offset, max| match open_read(&handle, Path::new("f.bin"), offset, max) {
            Cached::Read(d) => Some((d.len, d.bytes)),
            Cached::NotNow => panic!("a file just written is not cached"),
            Cached::Never => None, // an older kernel
        };
        let Some(whole) = read(0, 64 << 10) else {
            return;
        };
        assert_eq!(whole, (40_000, Some(data.clone())));
        assert_eq!(
            read(39_000, 64 << 10),
            Some((40_000, Some(data[39_000..].to_vec())))
        );
        // More than `max` left: opened, not read.
        assert_eq!(read(0, 1000), Some((40_000, None)));
    }

    #[test]
    fn what_is_not_a_regular_file_beneath_the_folder_is_left_to_the_pool() {
        let (dir, handle) = folder();
        let outside = tempfile::NamedTempFile::new().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("out")).unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        rustix::fs::mknodat(
            &handle,
            "fifo",
            FileType::Fifo,
            rustix::fs::Mode::from_raw_mode(0o600),
            0,
        )
        .unwrap();
        for name in ["out", "sub", "fifo", "missing", "../x", "/etc/passwd"] {
            let got = open_read(&handle, Path::new(name), 0, 64 << 10);
            assert!(!matches!(got, Cached::Read(..)), "{name} was opened");
        }
    }

    #[test]
    fn bytes_not_in_the_page_cache_are_left_to_the_pool() {
        let (dir, handle) = folder();
        if !allowed_on(&handle) {
            return;
        }
        let path = dir.path().join("cold.bin");
        let mut f = File::create(&path).unwrap();
        f.write_all(&[5u8; 32 << 10]).unwrap();
        f.sync_all().unwrap();
        let evicted = rustix::fs::fadvise(&f, 0, None, rustix::fs::Advice::DontNeed);
        assert!(evicted.is_ok());
        // Evicted pages make RWF_NOWAIT give up.
        let got = open_read(&handle, Path::new("cold.bin"), 0, 64 << 10);
        assert!(
            !matches!(got, Cached::Read(..)),
            "read pages not in the cache"
        );
    }
}
