//! The root handle and the file operations commands use.

use std::ffi::OsStr;
use std::fs::{File, FileTimes, Permissions};
use std::io;
use std::os::fd::{AsFd, AsRawFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::SystemTime;

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions, OpenOptionsExt};

use super::cached::Download;
use super::listing::{Entry, Kind};
use super::names::display_name;
use super::upload::is_temp_name;
use super::{TimeVal, VPath};

/// The served folder, opened once. All access goes through `dir`. Cheap
/// to clone, so that work can move to the blocking pool.
#[derive(Debug, Clone)]
pub struct Root {
    dir: Arc<Dir>,
    path: Arc<PathBuf>,
    /// Set once the folder was found unusable and that was reported.
    reported: Arc<AtomicBool>,
    /// Its file system lets files be opened without the pool (`cached`);
    /// cleared if the kernel turns out not to support it.
    cached: Arc<AtomicBool>,
}

/// What an APPE target is, found before any data is accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AppendTarget {
    /// A regular file holding this many bytes (0: not there yet).
    File(u64),
    /// A symbolic link, which APPE does not write through.
    Symlink,
}

/// Why the served folder cannot be used any more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RootState {
    Usable,
    /// Deleted (its link count is 0) while we serve it.
    Gone,
    /// Its permissions no longer let us read it.
    Unreadable,
}

impl Root {
    pub fn open(path: &Path) -> io::Result<Root> {
        let path = path.canonicalize()?;
        let dir = Dir::open_ambient_dir(&path, ambient_authority())?;
        Ok(Root {
            cached: Arc::new(AtomicBool::new(super::cached::allowed_on(&dir))),
            dir: Arc::new(dir),
            path: Arc::new(path),
            reported: Arc::new(AtomicBool::new(false)),
        })
    }

    /// Whether the folder is still there to serve. Our handle keeps a
    /// deleted folder open, where every listing would just come back empty,
    /// so a deletion is seen by its link count (one fstat). With `deep`, a
    /// folder that became unreadable is also seen, by opening it again
    /// through the handle.
    pub fn state(&self, deep: bool) -> RootState {
        match self.dir.dir_metadata() {
            Ok(md) if md.nlink() == 0 => return RootState::Gone,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return RootState::Gone,
            _ if !deep => return RootState::Usable,
            _ => {}
        }
        match self.dir.open_dir(".") {
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => RootState::Unreadable,
            Err(e) if e.kind() == io::ErrorKind::NotFound => RootState::Gone,
            _ => RootState::Usable,
        }
    }

    /// True the first time it is called: the folder's loss is reported once.
    pub fn first_report(&self) -> bool {
        !self.reported.swap(true, Ordering::Relaxed)
    }

    /// The folder's absolute path on this machine (for the banner, never for access).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Metadata, following symlinks that stay inside the root.
    pub fn metadata(&self, p: &VPath) -> io::Result<Metadata> {
        self.dir.metadata(p.to_relative())
    }

    pub fn symlink_metadata(&self, p: &VPath) -> io::Result<Metadata> {
        self.dir.symlink_metadata(p.to_relative())
    }

    /// Opens a regular file for reading; anything else is refused.
    pub fn open_read(&self, p: &VPath) -> io::Result<(File, Metadata)> {
        self.open_regular(p, OpenOptions::new().read(true))
    }

    /// [`open_read`](Self::open_read) and, for a small file's worth of
    /// bytes from `offset`, the read, when the kernel can do both without
    /// waiting (see `vfs::cached`).
    pub fn open_read_cached(&self, p: &VPath, offset: u64) -> Option<Download> {
        use super::cached::{open_read, Cached, SMALL_FILE};
        if !self.cached.load(Ordering::Relaxed) {
            return None;
        }
        match open_read(&*self.dir, &p.to_relative(), offset, SMALL_FILE) {
            Cached::Read(download) => Some(download),
            Cached::NotNow => None,
            Cached::Never => {
                self.cached.store(false, Ordering::Relaxed);
                None
            }
        }
    }

    /// Opens an existing file for a resumed STOR, written in place. The
    /// caller positions it and truncates only once the upload is complete,
    /// so an interrupted resume keeps what lies beyond the offset.
    pub fn open_resume(&self, p: &VPath) -> io::Result<(File, Metadata)> {
        self.open_regular(p, OpenOptions::new().write(true))
    }

    /// Refuses an APPE target that is not a regular file before any data
    /// is accepted; a missing file is fine (APPE creates it). A symlink is
    /// reported, not followed: the append opens the name without following
    /// links (see [`Upload::append`](super::Upload::append)), so a target
    /// this check passes is one the append can write.
    pub fn check_appendable(&self, p: &VPath) -> io::Result<AppendTarget> {
        match self.dir.symlink_metadata(p.to_relative()) {
            Ok(md) if md.file_type().is_symlink() => Ok(AppendTarget::Symlink),
            Ok(md) if md.is_dir() => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Ok(md) if !md.is_file() => Err(io::Error::from(io::ErrorKind::Unsupported)),
            Ok(md) => Ok(AppendTarget::File(md.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(AppendTarget::File(0)),
            Err(e) => Err(e),
        }
    }

    /// Opens with O_NONBLOCK so that a FIFO or device in the share cannot
    /// block a runtime thread in open(2) (waiting for a writer forever);
    /// anything but a regular file is then refused.
    fn open_regular(&self, p: &VPath, opts: &mut OpenOptions) -> io::Result<(File, Metadata)> {
        opts.custom_flags(libc::O_NONBLOCK);
        let file = self.dir.open_with(p.to_relative(), opts)?;
        let md = file.metadata()?;
        if md.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        if !md.is_file() {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        // O_NONBLOCK means nothing for a regular file (reads of the page
        // cache and sendfile ignore it), so it can stay set.
        let file = file.into_std();
        Ok((file, md))
    }

    /// A file or folder opened only to change its times or mode; anything
    /// else (FIFO, device) is refused before it is opened.
    fn open_for_attrs(&self, p: &VPath) -> io::Result<File> {
        if self.metadata(p)?.is_dir() {
            // Not `open_dir`: its descriptor may be O_PATH, which cannot
            // change times or modes.
            let mut opts = OpenOptions::new();
            opts.read(true).custom_flags(libc::O_DIRECTORY);
            return Ok(self.dir.open_with(p.to_relative(), &opts)?.into_std());
        }
        Ok(self.open_read(p)?.0)
    }

    /// Sets the modification time and, when given, the access time; gives
    /// the modification time the file system stored, which may differ
    /// (ext4 keeps 1901 to 2446, some file systems whole seconds).
    pub fn set_times(
        &self,
        p: &VPath,
        modified: SystemTime,
        accessed: Option<SystemTime>,
    ) -> io::Result<TimeVal> {
        use std::os::unix::fs::MetadataExt;
        let mut times = FileTimes::new().set_modified(modified);
        if let Some(a) = accessed {
            times = times.set_accessed(a);
        }
        let file = self.open_for_attrs(p)?;
        file.set_times(times)?;
        let stored = file.metadata()?;
        Ok(TimeVal {
            secs: stored.mtime(),
            nanos: u32::try_from(stored.mtime_nsec()).unwrap_or(0),
        })
    }

    /// Sets the permission bits; set-id and sticky bits are never set.
    pub fn set_mode(&self, p: &VPath, mode: u32) -> io::Result<()> {
        self.open_for_attrs(p)?
            .set_permissions(Permissions::from_mode(mode & 0o777))
    }

    /// Bytes an unprivileged user may still write on the folder's file system.
    pub fn free_space(&self, p: &VPath) -> io::Result<u64> {
        disk_space(self.open_dir(p)?.into_std_file()).map(|(free, _)| free)
    }

    pub fn open_dir(&self, p: &VPath) -> io::Result<Dir> {
        self.dir.open_dir(p.to_relative())
    }

    /// Checks that `p` is a folder this process may enter (search, `x`), as
    /// `cd` would: opening it alone succeeds without (`O_PATH`), and a
    /// `CWD` that says yes must not leave every later command refused.
    pub fn check_enterable(&self, p: &VPath) -> io::Result<()> {
        use rustix::fs::{accessat, Access, AtFlags};
        let dir = self.open_dir(p)?;
        accessat(&dir, ".", Access::EXEC_OK, AtFlags::EACCESS)?;
        Ok(())
    }

    pub fn create_dir(&self, p: &VPath) -> io::Result<()> {
        self.dir.create_dir(p.to_relative())
    }

    /// Makes `p` and any missing folders above it; fine if `p` is a folder
    /// already. Gives which it made, as levels above `p` (0 is `p`), so
    /// that each can be announced: another session making the same
    /// folders at once may have made some between them.
    pub fn create_dir_all(&self, p: &VPath) -> io::Result<Vec<usize>> {
        let rel = p.to_relative();
        let names: Vec<_> = rel.components().collect();
        let (mut path, mut made) = (PathBuf::new(), Vec::new());
        for (i, name) in names.iter().enumerate() {
            path.push(name);
            match self.dir.create_dir(&path) {
                Ok(()) => made.push(names.len() - 1 - i),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
        }
        // Whatever else holds the name (a file, any symlink) is "taken",
        // one answer for all, so that a drop box learns nothing of it.
        if !made.contains(&0) && !self.dir.metadata(&path).is_ok_and(|m| m.is_dir()) {
            return Err(io::ErrorKind::AlreadyExists.into());
        }
        Ok(made)
    }

    pub fn remove_file(&self, p: &VPath) -> io::Result<()> {
        if self.dir.symlink_metadata(p.to_relative())?.is_dir() {
            return Err(io::Error::from(io::ErrorKind::IsADirectory));
        }
        self.dir.remove_file(p.to_relative())
    }

    /// Removes a folder that lists empty. Upload files, hidden from
    /// listings, do not count: one left by a server killed mid-upload
    /// would otherwise keep such a folder forever. (An upload still
    /// running into it then fails, and says so.)
    pub fn remove_dir(&self, p: &VPath) -> io::Result<()> {
        let rel = p.to_relative();
        let not_empty = match self.dir.remove_dir(&rel) {
            Err(e) if e.kind() == io::ErrorKind::DirectoryNotEmpty => e,
            done => return done,
        };
        // Not through a symlink swapped in meanwhile, into another folder.
        let mut opts = OpenOptions::new();
        opts.read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW);
        let dir = Dir::from_std_file(self.dir.open_with(&rel, &opts)?.into_std());
        let mut uploads = Vec::new();
        for entry in dir.entries()? {
            let entry = entry?;
            let name = entry.file_name();
            if !entry.file_type()?.is_file() || !name.to_str().is_some_and(is_temp_name) {
                return Err(not_empty);
            }
            uploads.push(name);
        }
        for name in uploads {
            match dir.remove_file(&name) {
                // Committed or discarded meanwhile: rmdir tells which.
                Err(e) if e.kind() == io::ErrorKind::NotFound => {}
                done => done?,
            }
        }
        self.dir.remove_dir(&rel)
    }

    /// Renames within this folder, or into another shared folder (`to_root`).
    pub fn rename(&self, from: &VPath, to_root: &Root, to: &VPath) -> io::Result<()> {
        self.dir
            .rename(from.to_relative(), &to_root.dir, to.to_relative())
    }

    /// The entry for one path, as LIST/MLST show a single file.
    pub fn entry(&self, p: &VPath) -> io::Result<Entry> {
        let name = p.file_name().unwrap_or("/").to_string();
        let lmd = self.dir.symlink_metadata(p.to_relative())?;
        if !lmd.file_type().is_symlink() {
            return Ok(Entry::from_metadata(name, &lmd));
        }
        Ok(self.symlink_entry(p, name, &lmd))
    }

    /// A symlink is shown with the facts of its target when the target is
    /// inside the root, so clients can descend into linked folders, and
    /// with its target as it reads (relative, so that a mirror made by
    /// lftp or wget keeps working links). Any other link is a bare link
    /// that cannot be followed, shown without its target (the target text
    /// would reveal the host's layout, its length included).
    pub(super) fn symlink_entry(&self, link: &VPath, name: String, lmd: &Metadata) -> Entry {
        let rel = link.to_relative();
        let followed = self.dir.metadata(&rel).ok();
        let target = self.dir.read_link_contents(&rel).ok();
        let shown = match (followed, target) {
            (Some(md), Some(target)) => shown_target(&target).map(|t| (md, t)),
            _ => None,
        };
        match shown {
            Some((md, target)) => {
                let mut e = Entry::from_metadata(name, &md);
                e.link_target = Some(target);
                e
            }
            None => {
                let mut e = Entry::from_metadata(name, lmd);
                e.kind = Kind::Symlink;
                e.size = 0;
                e
            }
        }
    }
}

/// The text of a link that resolves inside the root, each part as a
/// listing shows that name (so each leads back to it). The kernel already
/// refused absolute targets and any climb above the root
/// (RESOLVE_BENEATH), so the text names nothing outside.
fn shown_target(target: &Path) -> Option<String> {
    if target.is_absolute() {
        return None;
    }
    let bytes = target.as_os_str().as_bytes();
    let parts: Vec<_> = bytes
        .split(|&b| b == b'/')
        .map(|part| display_name(OsStr::from_bytes(part)))
        .collect();
    Some(parts.join("/"))
}

/// Bytes an unprivileged user may still write on `fd`'s file system, and
/// the file system's size.
pub fn disk_space(fd: impl AsFd) -> io::Result<(u64, u64)> {
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::zeroed();
    // SAFETY: the descriptor is open for the call and `st` is a valid
    // out-pointer for one statvfs.
    if unsafe { libc::fstatvfs(fd.as_fd().as_raw_fd(), st.as_mut_ptr()) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: fstatvfs succeeded, so it filled `st`.
    let st = unsafe { st.assume_init() };
    // The field types are 32-bit on some targets.
    #[allow(clippy::useless_conversion)]
    let (avail, blocks, frsize) = (
        u64::from(st.f_bavail),
        u64::from(st.f_blocks),
        u64::from(st.f_frsize),
    );
    let bytes = |n: u64| {
        n.checked_mul(frsize)
            .ok_or_else(|| io::Error::from(io::ErrorKind::InvalidData))
    };
    Ok((bytes(avail)?, bytes(blocks)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two sessions making the same folders at once: each folder is made
    /// by exactly one of them, and each says which, so that every folder
    /// is announced once.
    #[test]
    fn folders_made_at_once_are_each_counted_once() {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path()).unwrap();
        for round in 0..200 {
            let p = VPath::root().join(&format!("r{round}/a/b/c")).unwrap();
            let make = || {
                let (root, p) = (root.clone(), p.clone());
                std::thread::spawn(move || root.create_dir_all(&p).unwrap())
            };
            let (one, two) = (make(), make());
            let mut made = one.join().unwrap();
            made.extend(two.join().unwrap());
            made.sort_unstable();
            assert_eq!(made, [0, 1, 2, 3], "round {round}");
        }
    }

    /// A link's target is shown part by part as the listing shows each
    /// name: `100%FF.txt` (a UTF-8 name) as `100%25FF.txt`.
    #[test]
    fn a_target_is_shown_part_by_part() {
        let target = Path::new(OsStr::from_bytes(b"50%/100%FF.txt"));
        assert_eq!(shown_target(target).unwrap(), "50%/100%25FF.txt");
        let target = Path::new(OsStr::from_bytes(b"../a\xffb"));
        assert_eq!(shown_target(target).unwrap(), "../a%FFb");
        assert_eq!(shown_target(Path::new("/etc")), None);
    }
}
