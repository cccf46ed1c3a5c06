//! Uploads that cannot destroy data: bytes go to a hidden temporary file
//! next to the target, which replaces the target only once the transfer
//! completed. Dropping an [`Upload`] without committing removes the
//! temporary file, so an aborted or broken upload leaves no trace.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::os::unix::fs::PermissionsExt;

use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use rand::Rng;

use super::names::{creatable, display_name, os_name, NAME_MAX};
use super::{Share, VPath};

const TEMP_PREFIX: &str = ".ftpshare-";
const TEMP_SUFFIX: &str = ".part";

/// What a replacing upload's file keeps of the file it replaces.
#[derive(Debug, Clone, Copy)]
struct Kept {
    mode: u32,
    /// User and group, when they say whose the name is.
    owner: Option<(u32, u32)>,
}

impl Kept {
    fn apply(self, file: &File) -> io::Result<()> {
        use std::os::unix::fs::fchown;
        if let Some((uid, gid)) = self.owner {
            // Only root gives a file away; an owner may still pass it to
            // one of its groups. Where neither can be done (no right, an
            // owner a user namespace does not map, a file system without
            // owners) the file stays ours, as any new file is: best effort.
            // (Asking first whether it is ours already costs the same call.)
            let _ = fchown(file, Some(uid), Some(gid)).or_else(|_| fchown(file, None, Some(gid)));
        }
        // After the owner: a change of owner may clear mode bits.
        file.set_permissions(std::fs::Permissions::from_mode(self.mode))
    }
}

#[derive(Debug)]
pub struct Upload {
    /// Shared with the removal a drop hands to the blocking pool.
    dir: Arc<Dir>,
    /// Where `dir` was when the upload began, to check at the commit.
    share: Share,
    folder: VPath,
    temp: OsString,
    /// Folders under `dir` that do not exist yet and lead to the target
    /// ([`begin_making_folders`](Self::begin_making_folders)): made by the
    /// commit, so that a refused or failed upload makes none.
    missing: Vec<OsString>,
    committed: bool,
    /// `dir`'s identity when the upload began: what the commit locks by.
    folder_id: super::FolderId,
}

impl Upload {
    /// What committing onto `target` (a name in the upload's folder)
    /// locks: see [`lock_key`](super::lock_key).
    pub fn lock_key(&self, target: &VPath) -> String {
        match target.file_name() {
            Some(name) => super::lock_key(self.folder_id, name),
            None => target.to_string(),
        }
    }

    /// Creates the temporary file in the target's directory, for an
    /// upload that replaces the target ([`commit`](Self::commit)).
    pub fn begin(root: &Share, target: &VPath) -> io::Result<(Upload, File)> {
        Upload::start(root, target, true)
    }

    /// [`begin`](Self::begin) for an upload that never replaces anything
    /// ([`commit_unique`](Self::commit_unique): a drop box, STOU). What
    /// holds the name now is not looked at, so a folder or a symlink there
    /// is answered like a file or nothing: the upload takes a free name.
    pub fn begin_new(root: &Share, target: &VPath) -> io::Result<(Upload, File)> {
        Upload::start(root, target, false)
    }

    /// [`begin_new`](Self::begin_new) for a drop box, whose uploads make
    /// the folders on their way: the temporary file goes to the nearest
    /// folder that exists, and the missing ones are made only when the
    /// upload is stored ([`commit_unique`](Self::commit_unique)). A path
    /// through a file is refused now, before any data.
    pub fn begin_making_folders(root: &Share, target: &VPath) -> io::Result<(Upload, File)> {
        root.check_change(target)?;
        let mut missing = Vec::new();
        let mut folder = target.parent();
        let dir = loop {
            match root.open_dir(&folder) {
                Ok(dir) => break dir,
                // Missing, not a dangling symlink: made by the commit.
                Err(e)
                    if e.kind() == io::ErrorKind::NotFound
                        && root.symlink_metadata(&folder).is_err() =>
                {
                    let Some(name) = folder.file_name() else {
                        return Err(e);
                    };
                    missing.push(os_name(name));
                    folder = folder.parent();
                }
                Err(e) => return Err(e),
            }
        };
        missing.reverse();
        let (mut upload, file) = Upload::create_temp(root, folder, dir, None)?;
        upload.missing = missing;
        Ok((upload, file))
    }

    fn start(root: &Share, target: &VPath, replacing: bool) -> io::Result<(Upload, File)> {
        // Never onto a shared folder itself or into the virtual root.
        root.check_change(target)?;
        let dir = root.open_dir(&target.parent())?;
        // A replaced file keeps its permission bits: a private file must
        // not become world-readable by being uploaded again. Only those:
        // set-user-ID, set-group-ID and sticky bits on new content would
        // let a client plant a setuid program when we run as root. And it
        // keeps its owner where we may give it (as root): otherwise a file
        // in someone's folder, shared with sudo, would become root's.
        let mut kept = None;
        if let Some(name) = target.file_name().filter(|_| replacing) {
            let name = os_name(name);
            // One look at the name (and, for a symlink, one where it leads).
            let own = dir.symlink_metadata(&name);
            // The owner of what the name holds: a symlink's own, not its
            // target's, and none for a file with other links, whose owner
            // says nothing about this name (else anyone who can make a
            // link could choose whom a new file belongs to).
            let owner = own
                .as_ref()
                .ok()
                .filter(|m| m.file_type().is_symlink() || m.nlink() == 1)
                .map(|m| (m.uid(), m.gid()));
            let held = match own {
                Ok(m) if m.file_type().is_symlink() => match dir.metadata(&name) {
                    Ok(m) => Some(m),
                    // A symlink that leads out of the share (or nowhere)
                    // stands for a file the client may not touch: refuse
                    // rather than silently replace the link with a file.
                    Err(_) => return Err(io::Error::from(io::ErrorKind::PermissionDenied)),
                },
                Ok(m) => Some(m),
                Err(_) => None,
            };
            // Renaming a file over a directory fails late; fail early instead.
            if held.as_ref().is_some_and(|m| m.is_dir()) {
                return Err(io::Error::from(io::ErrorKind::IsADirectory));
            }
            kept = held.filter(|m| m.is_file()).map(|m| Kept {
                mode: m.mode() & 0o777,
                owner,
            });
        }
        Upload::create_temp(root, target.parent(), dir, kept)
    }

    /// A new temporary file in `dir` (which is `folder` of `share`), with
    /// the owner and permission bits of the file it replaces, if any.
    fn create_temp(
        share: &Share,
        folder: VPath,
        dir: Dir,
        kept: Option<Kept>,
    ) -> io::Result<(Upload, File)> {
        let mut opts = OpenOptions::new();
        opts.write(true).create_new(true);
        for _ in 0..16 {
            let temp = OsString::from(format!(
                "{TEMP_PREFIX}{:016x}{TEMP_SUFFIX}",
                rand::rng().random::<u64>()
            ));
            match dir.open_with(&temp, &opts) {
                Ok(file) => {
                    let upload = Upload {
                        folder_id: super::folder_id(&dir.dir_metadata()?),
                        dir: Arc::new(dir),
                        share: share.clone(),
                        folder,
                        temp,
                        missing: Vec::new(),
                        committed: false,
                    };
                    let file = file.into_std();
                    if let Some(kept) = kept {
                        kept.apply(&file)?;
                    }
                    return Ok((upload, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from(io::ErrorKind::AlreadyExists))
    }

    /// A resume before the end of `target`: the temporary file starts as
    /// the target's first `offset` bytes (copied in the kernel), so that
    /// the resumed file replaces the target whole, or not at all.
    pub fn begin_with_prefix(
        root: &Share,
        target: &VPath,
        offset: u64,
    ) -> io::Result<(Upload, File)> {
        let (source, _) = root.open_read(target)?;
        let (upload, mut file) = Upload::begin(root, target)?;
        match io::copy(&mut io::Read::take(&source, offset), &mut file) {
            Ok(copied) if copied == offset => Ok((upload, file)),
            failed => {
                upload.discard();
                // Short: the file shrank meanwhile, below the offset.
                Err(failed
                    .err()
                    .unwrap_or_else(|| io::ErrorKind::UnexpectedEof.into()))
            }
        }
    }

    /// Moves the finished file over the target (atomically replacing it).
    pub fn commit(mut self, target: &VPath) -> io::Result<()> {
        let done = self.rename_over(target);
        self.settle(done)
    }

    /// Fails when the folder this upload began in is no longer where its
    /// path says: another session (or program) renamed it, or a folder
    /// above, meanwhile. The upload would land under a name the client
    /// never gave, so it fails instead, leaving no trace.
    /// The look is for the temporary file, whose name is random, by its
    /// path in the share: a sandboxed look, so that a path that now leads
    /// out of the folder and back in does not count as the same place.
    fn still_in_place(&self) -> io::Result<()> {
        // The name is ours, and ASCII.
        let temp = self.folder.join(&self.temp.to_string_lossy());
        let temp = temp.map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
        match self.share.symlink_metadata(&temp) {
            Ok(_) => Ok(()),
            // A folder whose path plus the name is too long to look at:
            // no sign that it moved.
            Err(e) if e.raw_os_error() == Some(libc::ENAMETOOLONG) => Ok(()),
            Err(_) => Err(io::ErrorKind::NotFound.into()),
        }
    }

    fn rename_over(&self, target: &VPath) -> io::Result<()> {
        self.still_in_place()?;
        let name = target
            .file_name()
            .map(os_name)
            .ok_or(io::ErrorKind::InvalidInput)?;
        self.dir.rename(&self.temp, &self.dir, name)
    }

    /// Removes the temporary file now, on this thread (dropping hands the
    /// removal to the blocking pool instead).
    pub fn discard(mut self) {
        let _ = self.dir.remove_file(&self.temp);
        self.committed = true;
    }

    /// APPE: adds the finished file to the end of the target (created if
    /// missing) in one piece. An exclusive lock serialises appenders, so two
    /// clients appending at once give one order or the other, never their
    /// chunks interleaved; a failure half-way takes our bytes back off.
    /// The per-file limit `max` is checked under that lock against the
    /// size the file has then: another append may have grown it since
    /// this one was admitted. So is the length `end` a REST before it
    /// named as the file's end. A lock held longer than `wait` (by another
    /// program) gives up.
    pub fn append(
        mut self,
        target: &VPath,
        end: Option<u64>,
        max: Option<u64>,
        wait: Duration,
    ) -> Result<(), AppendError> {
        let done = self.append_to(target, end, max, wait);
        self.settle(done)
    }

    fn append_to(
        &self,
        target: &VPath,
        end: Option<u64>,
        max: Option<u64>,
        wait: Duration,
    ) -> Result<(), AppendError> {
        self.still_in_place()?;
        let name = target
            .file_name()
            .map(os_name)
            .ok_or(io::ErrorKind::InvalidInput)?;
        let mut opts = OpenOptions::new();
        // O_NONBLOCK: a FIFO put there since APPE was accepted must not
        // block us in open(2); it is refused below. O_NOFOLLOW: APPE was
        // accepted for a name that was no symlink (`check_appendable`);
        // one put there since is refused, not written through.
        opts.append(true)
            .create(true)
            .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW);
        let mut dest = self.dir.open_with(&name, &opts)?.into_std();
        if !dest.metadata()?.is_file() {
            return Err(io::Error::from(io::ErrorKind::Unsupported).into());
        }
        if !lock_exclusive(&dest, wait)? {
            return Err(AppendError::Busy);
        }
        let before = dest.metadata()?.len();
        if end.is_some_and(|end| end != before) {
            return Err(AppendError::EndMoved);
        }
        let mut src = self.dir.open(&self.temp)?.into_std();
        let adding = src.metadata()?.len();
        if let Some(max) = max.filter(|&m| before.checked_add(adding).is_none_or(|t| t > m)) {
            return Err(AppendError::TooLarge(max));
        }
        clear_special_bits(&dest)?;
        if let Err(e) = io::copy(&mut src, &mut dest) {
            // Only our own bytes lie beyond `before`: we hold the lock.
            let _ = dest.set_len(before);
            return Err(e.into());
        }
        drop(dest);
        let _ = self.dir.remove_file(&self.temp);
        Ok(())
    }

    /// Moves the finished file to `wanted`'s name, or to the first free one
    /// of [`unique_names`]; never replaces anything. Returns the name used.
    /// Folders the upload was to make are made first; one that another
    /// upload made meanwhile is used as it is.
    pub fn commit_unique(
        mut self,
        wanted: &str,
        folders_made: &mut Vec<usize>,
    ) -> io::Result<String> {
        let done = self.link_unique(wanted, folders_made);
        self.settle(done)
    }

    /// The end of a commit, whatever it did: a failed one's temporary file
    /// is removed now, on this thread (a file-system job), before the
    /// failure is answered; either way nothing is left for the drop.
    fn settle<T, E>(&mut self, done: Result<T, E>) -> Result<T, E> {
        if done.is_err() {
            let _ = self.dir.remove_file(&self.temp);
        }
        self.committed = true;
        done
    }

    fn link_unique(&self, wanted: &str, folders_made: &mut Vec<usize>) -> io::Result<String> {
        self.still_in_place()?;
        let made = self.make_folders(folders_made)?;
        let dest = made.as_ref().unwrap_or(&self.dir);
        for candidate in unique_names(wanted) {
            let name = os_name(&candidate);
            // A hard link fails if the name exists, so unlike a
            // check-then-rename this cannot race with another upload.
            match self.dir.hard_link(&self.temp, dest, &name) {
                Ok(()) => {
                    let _ = self.dir.remove_file(&self.temp);
                    return Ok(display_name(&name).into_owned());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    // File systems without hard links: check, then rename.
                    if dest.symlink_metadata(&name).is_ok() {
                        continue;
                    }
                    if e.kind() != io::ErrorKind::Unsupported
                        && e.raw_os_error() != Some(libc::EPERM)
                    {
                        return Err(e);
                    }
                    self.dir.rename(&self.temp, dest, &name)?;
                    return Ok(candidate);
                }
            }
        }
        Err(io::Error::from(io::ErrorKind::AlreadyExists))
    }
}

impl Upload {
    /// Makes the folders in `missing` (each in the one before, the first
    /// in `dir`) and opens the last; `None` when there are none. Notes in
    /// `folders_made` which it made, as levels above the last (0), whether
    /// the commit then succeeds or not, since they are never removed
    /// again: another upload into the same new folder may be about to use
    /// it, and removing it could pull it away from under that upload.
    fn make_folders(&self, folders_made: &mut Vec<usize>) -> io::Result<Option<Dir>> {
        let mut made: Option<Dir> = None;
        for (i, name) in self.missing.iter().enumerate() {
            let parent = made.as_ref().unwrap_or(&self.dir);
            match parent.create_dir(name) {
                Ok(()) => folders_made.push(self.missing.len() - 1 - i),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            made = Some(parent.open_dir(name)?);
        }
        Ok(made)
    }
}

/// Why [`Upload::append`] added nothing.
#[derive(Debug)]
pub enum AppendError {
    Io(io::Error),
    /// The file would grow past this per-file limit.
    TooLarge(u64),
    /// Someone else held the file's lock for too long.
    Busy,
    /// The file no longer ends where a REST said it did: another writer
    /// changed it since.
    EndMoved,
}

impl From<io::Error> for AppendError {
    fn from(e: io::Error) -> Self {
        AppendError::Io(e)
    }
}

impl From<io::ErrorKind> for AppendError {
    fn from(kind: io::ErrorKind) -> Self {
        AppendError::Io(kind.into())
    }
}

/// The names an upload that must not replace anything tries, in order:
/// `wanted`, then `report.1.pdf`, `report.2.pdf`… for `report.pdf` (the
/// number goes before the extension, so the file still opens with the
/// same program), up to a bound. When a numbered name would be longer than
/// [`NAME_MAX`] bytes, the stem is shortened (on a character boundary, the
/// extension kept) so that every name tried fits.
pub fn unique_names(wanted: &str) -> impl Iterator<Item = String> + '_ {
    let (stem, ext) = split_extension(wanted);
    (0..10_000u32)
        .map(move |n| match n {
            0 => wanted.to_string(),
            n => {
                let suffix = format!(".{n}{ext}");
                let room = NAME_MAX.saturating_sub(suffix.len());
                format!("{}{suffix}", shorten(stem, room))
            }
        })
        // A shortened stem can turn the rest into an escaped form (`%zz`
        // cut off before `.%0A`): such a name is skipped, never made.
        .filter(|name| creatable(name))
}

/// `report.pdf` → (`report`, `.pdf`). A leading dot (`.profile`) is not an
/// extension, and neither is a long tail, which is more likely part of the
/// name than a type.
fn split_extension(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && name.len() - i <= 16 => name.split_at(i),
        _ => (name, ""),
    }
}

/// The longest prefix of `s` of at most `max` bytes that ends on a
/// character boundary and not inside a `%XX` escape (see `names`).
fn shorten(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    if let Some(pct) = s[..end].rfind('%') {
        if end - pct < 3 {
            end = pct;
        }
    }
    &s[..end]
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let (dir, temp) = (Arc::clone(&self.dir), std::mem::take(&mut self.temp));
        // Dropped by a session task (a refused or aborted upload): unlink
        // off the runtime.
        crate::blocking::detach(move || {
            let _ = dir.remove_file(&temp);
        });
    }
}

/// Drops set-user-ID, set-group-ID and sticky bits from a file whose
/// content a client changes in place (APPE, resumed STOR): the kernel does
/// so on writes by unprivileged users, but not when we run as root.
pub fn clear_special_bits(file: &File) -> io::Result<()> {
    let mode = file.metadata()?.permissions().mode();
    if mode & 0o7000 != 0 {
        file.set_permissions(std::fs::Permissions::from_mode(mode & 0o777))?;
    }
    Ok(())
}

/// flock(2), waiting for other appenders, but at most `wait`: the lock may
/// be held by another program for any time, and a thread blocked in
/// flock(2) could be neither aborted nor waited for at shutdown. So the
/// lock is tried without blocking, with a growing pause between tries.
/// False when `wait` ran out. Released when `file` closes.
fn lock_exclusive(file: &File, wait: Duration) -> io::Result<bool> {
    use std::os::fd::AsRawFd;
    // A wait too long to add to the clock is as good as no deadline.
    let deadline = Instant::now().checked_add(wait);
    let mut pause = Duration::from_millis(1);
    loop {
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(true);
        }
        let e = io::Error::last_os_error();
        match e.kind() {
            io::ErrorKind::Interrupted => continue,
            io::ErrorKind::WouldBlock => {}
            _ => return Err(e),
        }
        let left = deadline.map_or(MAX_LOCK_PAUSE, |d| {
            d.saturating_duration_since(Instant::now())
        });
        if left.is_zero() {
            return Ok(false);
        }
        std::thread::sleep(pause.min(left));
        pause = (pause * 2).min(MAX_LOCK_PAUSE);
    }
}

/// The longest pause between two tries of a busy lock.
const MAX_LOCK_PAUSE: Duration = Duration::from_millis(50);

/// True for our own temporary files, which listings hide: exactly the
/// names [`Upload::create_temp`] makes, so that another program's
/// `.ftpshare-notes.part` is an ordinary file.
pub fn is_temp_name(name: &str) -> bool {
    name.strip_prefix(TEMP_PREFIX)
        .and_then(|rest| rest.strip_suffix(TEMP_SUFFIX))
        .is_some_and(|id| {
            id.len() == 16 && id.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The append opens the name it was accepted for and never follows a
    /// symlink found there, even one to a file in the same folder.
    #[test]
    fn append_does_not_write_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("f"), b"kept").unwrap();
        std::os::unix::fs::symlink("f", dir.path().join("link")).unwrap();
        let share = Share::open(&[dir.path().to_path_buf()]).unwrap();
        let link = VPath::root().join("/link").unwrap();
        let (upload, mut file) = Upload::begin(&share, &link).unwrap();
        io::Write::write_all(&mut file, b"more").unwrap();
        drop(file);
        let wait = Duration::from_secs(1);
        let refused = upload.append(&link, None, None, wait);
        assert!(matches!(refused, Err(AppendError::Io(_))), "{refused:?}");
        assert_eq!(std::fs::read(dir.path().join("f")).unwrap(), b"kept");
    }

    #[test]
    fn unique_names_keep_the_extension() {
        let names: Vec<String> = unique_names("report.pdf").take(3).collect();
        assert_eq!(names, ["report.pdf", "report.1.pdf", "report.2.pdf"]);
        let names: Vec<String> = unique_names(".profile").take(2).collect();
        assert_eq!(names, [".profile", ".profile.1"]);
        let names: Vec<String> = unique_names("archive.tar.gz").skip(1).take(1).collect();
        assert_eq!(names, ["archive.tar.1.gz"]);
    }

    #[test]
    fn unique_names_always_fit_name_max_and_stay_utf8() {
        for stem in [
            "a".repeat(300),
            "é".repeat(140),
            format!("{}%E9x", "b".repeat(246)),
        ] {
            let wanted = format!("{stem}.txt");
            for (n, name) in unique_names(&wanted).enumerate().skip(1).take(12) {
                assert!(name.len() <= NAME_MAX, "{n}: {} bytes", name.len());
                assert!(name.ends_with(&format!(".{n}.txt")), "{name}");
                let stem_kept = name.trim_end_matches(&format!(".{n}.txt"));
                assert!(stem.starts_with(stem_kept));
                assert!(!stem_kept.ends_with('%'));
            }
        }
    }
}
