//! Uploads that cannot destroy data: bytes go to a hidden temporary file
//! next to the target, which replaces the target only once the transfer
//! completed. Dropping an [`Upload`] without committing removes the
//! temporary file, so an aborted or broken upload leaves no trace.

use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::sync::Arc;

use std::os::unix::fs::PermissionsExt;

use cap_std::fs::{Dir, MetadataExt, OpenOptions, OpenOptionsExt};
use rand::Rng;

use super::names::{display_name, os_name};
use super::{Share, VPath};

const TEMP_PREFIX: &str = ".ftpshare-";
const TEMP_SUFFIX: &str = ".part";

#[derive(Debug)]
pub struct Upload {
    /// Shared with the removal a drop hands to the blocking pool.
    dir: Arc<Dir>,
    temp: OsString,
    committed: bool,
}

impl Upload {
    /// Creates the temporary file in the target's directory.
    pub fn begin(root: &Share, target: &VPath) -> io::Result<(Upload, File)> {
        let dir = root.open_dir(&target.parent())?;
        // A replaced file keeps its permission bits: a private file must
        // not become world-readable by being uploaded again. Only those:
        // set-user-ID, set-group-ID and sticky bits on new content would
        // let a client plant a setuid program when we run as root.
        let mut keep_mode = None;
        if let Some(name) = target.file_name() {
            let name = os_name(name);
            // Renaming a file over a directory fails late; fail early instead.
            if dir.metadata(&name).is_ok_and(|m| m.is_dir()) {
                return Err(io::Error::from(io::ErrorKind::IsADirectory));
            }
            // A symlink that leads out of the share (or nowhere) stands for
            // a file the client may not touch: refuse rather than silently
            // replace the link with a new file.
            if dir
                .symlink_metadata(&name)
                .is_ok_and(|m| m.file_type().is_symlink())
                && dir.metadata(&name).is_err()
            {
                return Err(io::Error::from(io::ErrorKind::PermissionDenied));
            }
            keep_mode = dir
                .metadata(&name)
                .ok()
                .filter(|m| m.is_file())
                .map(|m| m.mode() & 0o777);
        }
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
                        dir: Arc::new(dir),
                        temp,
                        committed: false,
                    };
                    let file = file.into_std();
                    if let Some(mode) = keep_mode {
                        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
                    }
                    return Ok((upload, file));
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::from(io::ErrorKind::AlreadyExists))
    }

    /// Moves the finished file over the target (atomically replacing it).
    pub fn commit(mut self, target: &VPath) -> io::Result<()> {
        let name = target
            .file_name()
            .map(os_name)
            .ok_or(io::ErrorKind::InvalidInput)?;
        self.dir.rename(&self.temp, &self.dir, name)?;
        self.committed = true;
        Ok(())
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
    pub fn append(mut self, target: &VPath) -> io::Result<()> {
        let name = target
            .file_name()
            .map(os_name)
            .ok_or(io::ErrorKind::InvalidInput)?;
        let mut opts = OpenOptions::new();
        // O_NONBLOCK: a FIFO put there since APPE was accepted must not
        // block us in open(2); it is refused below.
        opts.append(true)
            .create(true)
            .custom_flags(libc::O_NONBLOCK);
        let mut dest = self.dir.open_with(&name, &opts)?.into_std();
        if !dest.metadata()?.is_file() {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        lock_exclusive(&dest)?;
        clear_special_bits(&dest)?;
        let before = dest.metadata()?.len();
        let mut src = self.dir.open(&self.temp)?.into_std();
        if let Err(e) = io::copy(&mut src, &mut dest) {
            // Only our own bytes lie beyond `before`: we hold the lock.
            let _ = dest.set_len(before);
            return Err(e);
        }
        drop(dest);
        let _ = self.dir.remove_file(&self.temp);
        self.committed = true;
        Ok(())
    }

    /// Moves the finished file to `wanted`'s name, or to `name.1`, `name.2`…
    /// if that exists; never replaces anything. Returns the name used.
    pub fn commit_unique(mut self, wanted: &str) -> io::Result<String> {
        for candidate in unique_names(wanted) {
            let name = os_name(&candidate);
            // A hard link fails if the name exists, so unlike a
            // check-then-rename this cannot race with another upload.
            match self.dir.hard_link(&self.temp, &self.dir, &name) {
                Ok(()) => {
                    let _ = self.dir.remove_file(&self.temp);
                    self.committed = true;
                    return Ok(display_name(&name).into_owned());
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => {
                    // File systems without hard links: check, then rename.
                    if self.dir.symlink_metadata(&name).is_ok() {
                        continue;
                    }
                    if e.kind() != io::ErrorKind::Unsupported
                        && e.raw_os_error() != Some(libc::EPERM)
                    {
                        return Err(e);
                    }
                    self.dir.rename(&self.temp, &self.dir, &name)?;
                    self.committed = true;
                    return Ok(candidate);
                }
            }
        }
        Err(io::Error::from(io::ErrorKind::AlreadyExists))
    }
}

/// The names an upload that must not replace anything tries, in order:
/// `wanted`, then `wanted.1`, `wanted.2`… up to a bound.
pub fn unique_names(wanted: &str) -> impl Iterator<Item = String> + '_ {
    (0..10_000u32).map(move |n| match n {
        0 => wanted.to_string(),
        n => format!("{wanted}.{n}"),
    })
}

impl Drop for Upload {
    fn drop(&mut self) {
        if self.committed {
            return;
        }
        let (dir, temp) = (Arc::clone(&self.dir), std::mem::take(&mut self.temp));
        let remove = move || {
            let _ = dir.remove_file(&temp);
        };
        // Dropped by a session task (a refused or aborted upload): unlink
        // on the blocking pool, not on a runtime thread.
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => drop(rt.spawn_blocking(remove)),
            Err(_) => remove(),
        }
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

/// flock(2), waiting for other appenders; released when `file` closes.
fn lock_exclusive(file: &File) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    loop {
        // SAFETY: the descriptor is open for the duration of the call.
        if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } == 0 {
            return Ok(());
        }
        let e = io::Error::last_os_error();
        if e.kind() != io::ErrorKind::Interrupted {
            return Err(e);
        }
    }
}

/// True for our own temporary files, which listings hide.
pub fn is_temp_name(name: &str) -> bool {
    name.starts_with(TEMP_PREFIX) && name.ends_with(TEMP_SUFFIX)
}
