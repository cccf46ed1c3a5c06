//! What is served: one folder as the root, or a virtual root that lists
//! several shared paths (files and folders) by their base names.
//!
//! In a virtual root a path first picks exactly one entry by its first
//! component; only the rest reaches that entry's own handle. `..` is
//! folded away by [`VPath`] before that (`/photos/../docs/x` is `/docs/x`),
//! and every entry is a sandbox of its own, so neither `..` nor a symlink
//! leads from one entry into another, into the virtual root or above it.
//! The virtual root is read-only: nothing is created, removed or renamed at
//! its level, and a shared single file can be read but never changed.

use std::borrow::Cow;
use std::ffi::OsString;
use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, Metadata, MetadataExt, OpenOptions, OpenOptionsExt};

use super::dirlist::ListingJob;
use super::listing::{Entry, Kind, ListFormat, Perms};
use super::names::display_name;
use super::{AppendTarget, Download, Rights, Root, TimeVal, VPath};

/// The served tree: a folder, or a virtual root of named entries. Cheap
/// to clone, so that work can move to the blocking pool.
#[derive(Debug, Clone)]
pub enum Share {
    Folder(Root),
    Virtual(Arc<VirtualRoot>),
}

/// A read-only directory that exists only in memory, listing shared paths.
#[derive(Debug)]
pub struct VirtualRoot {
    /// Sorted by name, names unique.
    entries: Vec<Named>,
    /// When the virtual root was made: its modification time.
    created: i64,
}

#[derive(Debug)]
struct Named {
    name: String,
    item: Item,
}

#[derive(Debug)]
enum Item {
    Folder(Root),
    File(SharedFile),
}

/// One shared file, reached through its parent folder's handle and only
/// ever by its own name, never following a symlink put there later: the
/// rest of that folder stays out of reach.
#[derive(Debug)]
struct SharedFile {
    parent: Dir,
    name: OsString,
    path: PathBuf,
}

/// One shared path as the server shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedPath {
    /// The name clients see: the base name, or `/` for a folder served as
    /// the root.
    pub name: String,
    /// The absolute path on this machine.
    pub path: PathBuf,
    pub is_dir: bool,
}

/// Why a set of paths cannot be shared.
#[derive(Debug, thiserror::Error)]
pub enum ShareError {
    #[error("cannot serve {path}: {source}")]
    Open { path: String, source: io::Error },
    #[error("{path} is neither a regular file nor a folder")]
    NotAFileOrFolder { path: String },
    #[error("{path} has no name to list it by; share it on its own")]
    NoName { path: String },
    #[error("{first} and {second} would both be listed as {name:?}")]
    SameName {
        name: String,
        first: String,
        second: String,
    },
}

/// The names a virtual root lists `paths` by: each one's base name as
/// given (`docs/` is `docs`), or for `.` and `..` the folder's real name.
/// A path with no name (`/`) or two paths with the same name are an error
/// naming them.
pub fn entry_names(paths: &[PathBuf]) -> Result<Vec<String>, ShareError> {
    let mut names: Vec<String> = Vec::with_capacity(paths.len());
    for given in paths {
        let no_name = || ShareError::NoName {
            path: given.display().to_string(),
        };
        let name = match given.file_name() {
            Some(n) => n.to_os_string(),
            None => given
                .canonicalize()
                .map_err(|source| ShareError::Open {
                    path: given.display().to_string(),
                    source,
                })?
                .file_name()
                .ok_or_else(no_name)?
                .to_os_string(),
        };
        let name = display_name(&name).into_owned();
        if let Some(j) = names.iter().position(|n| *n == name) {
            return Err(ShareError::SameName {
                name,
                first: paths[j].display().to_string(),
                second: given.display().to_string(),
            });
        }
        names.push(name);
    }
    Ok(names)
}

/// Where a virtual path leads.
enum Place<'a> {
    /// The virtual root itself.
    Top(&'a VirtualRoot),
    /// A shared folder (the root one included), with the path inside it.
    In(&'a Root, Cow<'a, VPath>),
    /// A shared single file.
    File(&'a SharedFile),
}

fn denied() -> io::Error {
    io::Error::from(io::ErrorKind::PermissionDenied)
}

impl Share {
    /// One folder is served as the root; one file, or several paths, as a
    /// virtual root listing each by its base name. No path means `.`.
    pub fn open(paths: &[PathBuf]) -> Result<Share, ShareError> {
        let open_err = |p: &Path| {
            let path = p.display().to_string();
            move |source| ShareError::Open { path, source }
        };
        if let [only] = paths {
            if std::fs::metadata(only).map_err(open_err(only))?.is_dir() {
                return Ok(Share::Folder(Root::open(only).map_err(open_err(only))?));
            }
        }
        if paths.is_empty() {
            return Share::open(&[PathBuf::from(".")]);
        }
        let names = entry_names(paths)?;
        let mut entries = Vec::with_capacity(paths.len());
        for (given, name) in paths.iter().zip(names) {
            let real = given.canonicalize().map_err(open_err(given))?;
            let md = std::fs::metadata(&real).map_err(open_err(given))?;
            let item = if md.is_dir() {
                Item::Folder(Root::open(&real).map_err(open_err(given))?)
            } else if md.is_file() {
                Item::File(SharedFile::open(real).map_err(open_err(given))?)
            } else {
                return Err(ShareError::NotAFileOrFolder {
                    path: given.display().to_string(),
                });
            };
            entries.push(Named { name, item });
        }
        entries.sort_unstable_by(|a, b| a.name.cmp(&b.name));
        let created = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        Ok(Share::Virtual(Arc::new(VirtualRoot { entries, created })))
    }

    /// The shared folder `p` lies in, if any: the one served as the root,
    /// or the virtual root's entry `p` starts with. Each is watched on its
    /// own for being deleted or becoming unreadable (see [`Root::state`]).
    pub fn folder_of<'a>(&'a self, p: &'a VPath) -> Option<&'a Root> {
        match self.place(p) {
            Ok(Place::In(root, _)) => Some(root),
            _ => None,
        }
    }

    /// Whether `p` is a shared folder itself (not something in it): the
    /// one path whose commands can succeed after the folder was deleted.
    pub fn is_folder_top(&self, p: &VPath) -> bool {
        matches!(self.place(p), Ok(Place::In(_, rel)) if rel.is_root())
    }

    /// The folder served as the root, if that is what is served.
    pub fn folder(&self) -> Option<&Path> {
        match self {
            Share::Folder(root) => Some(root.path()),
            Share::Virtual(_) => None,
        }
    }

    /// What is shared, by the names clients see.
    pub fn paths(&self) -> Vec<SharedPath> {
        match self {
            Share::Folder(root) => vec![SharedPath {
                name: "/".into(),
                path: root.path().to_path_buf(),
                is_dir: true,
            }],
            Share::Virtual(v) => v
                .entries
                .iter()
                .map(|e| SharedPath {
                    name: e.name.clone(),
                    path: match &e.item {
                        Item::Folder(root) => root.path().to_path_buf(),
                        Item::File(f) => f.path.clone(),
                    },
                    is_dir: matches!(e.item, Item::Folder(_)),
                })
                .collect(),
        }
    }

    /// The one shared file's name, when a single file is all there is:
    /// URLs then point at it.
    pub fn single_file(&self) -> Option<&str> {
        match self {
            Share::Virtual(v) => match v.entries.as_slice() {
                [Named {
                    name,
                    item: Item::File(_),
                }] => Some(name),
                _ => None,
            },
            Share::Folder(_) => None,
        }
    }

    fn place<'a>(&'a self, p: &'a VPath) -> io::Result<Place<'a>> {
        let v = match self {
            Share::Folder(root) => return Ok(Place::In(root, Cow::Borrowed(p))),
            Share::Virtual(v) => v,
        };
        let Some((first, rest)) = p.split_first() else {
            return Ok(Place::Top(v));
        };
        let named = v
            .entries
            .binary_search_by(|e| e.name.as_str().cmp(first))
            .map(|i| &v.entries[i])
            .map_err(|_| io::Error::from(io::ErrorKind::NotFound))?;
        match &named.item {
            Item::Folder(root) => Ok(Place::In(root, Cow::Owned(rest))),
            Item::File(f) if rest.is_root() => Ok(Place::File(f)),
            Item::File(_) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
        }
    }

    /// Where a change may happen: inside a shared folder, never the
    /// virtual root, a shared file or a shared folder itself (the one
    /// served as the root included: its mode, times and name belong to
    /// the operator). Every command that changes something asks here,
    /// through the methods below or [`check_change`](Self::check_change);
    /// it looks at nothing on disk.
    fn writable<'a>(&'a self, p: &'a VPath) -> io::Result<(&'a Root, Cow<'a, VPath>)> {
        match self.place(p) {
            Ok(Place::In(root, rel)) if !rel.is_root() => Ok((root, rel)),
            // A new name directly in the virtual root.
            Err(e) if e.kind() == io::ErrorKind::NotFound && p.parent().is_root() => Err(denied()),
            Err(e) => Err(e),
            Ok(_) => Err(denied()),
        }
    }

    /// Succeeds when something may be created, changed or removed at `p`
    /// (see [`writable`](Self::writable)); for a check before any work,
    /// such as an upload's before its data. Touches no disk.
    pub fn check_change(&self, p: &VPath) -> io::Result<()> {
        self.writable(p).map(drop)
    }

    /// What a session with `session` rights may do to the entries listed
    /// in folder `dir` (the MLSD `perm` fact): in the virtual root, use
    /// the shared folders (create and remove inside them), but not change
    /// the entries themselves.
    pub fn perms_in(&self, dir: &VPath, session: Perms) -> Perms {
        match self {
            Share::Virtual(_) if dir.is_root() => Perms {
                modify: false,
                ..session
            },
            _ => session,
        }
    }

    /// [`perms_in`](Self::perms_in) for the entry at `p` itself; nothing
    /// can be created in or removed from the virtual root, and the shared
    /// folder itself is never changed (what it holds may be).
    pub fn perms_of(&self, p: &VPath, session: Perms) -> Perms {
        match self {
            Share::Virtual(_) if p.is_root() => Perms {
                create: false,
                modify: false,
                purge: false,
                ..session
            },
            Share::Folder(_) if p.is_root() => Perms {
                modify: false,
                ..session
            },
            _ => self.perms_in(&p.parent(), session),
        }
    }

    /// Whether `p` still names `file`, which was opened by that path: not
    /// so once another session (or program) renamed the file, or a folder
    /// above it, meanwhile. A path too long to look at shows no such sign.
    pub fn still_names(&self, p: &VPath, file: &File) -> bool {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(opened) = file.metadata() else {
            return true;
        };
        match self.metadata(p) {
            Ok(now) => (now.dev(), now.ino()) == (opened.dev(), opened.ino()),
            Err(e) => e.raw_os_error() == Some(libc::ENAMETOOLONG),
        }
    }

    /// Metadata, following symlinks that stay inside their share. The
    /// virtual root has none on disk.
    pub fn metadata(&self, p: &VPath) -> io::Result<Metadata> {
        match self.place(p)? {
            Place::Top(_) => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Place::In(root, rel) => root.metadata(&rel),
            Place::File(f) => f.metadata(),
        }
    }

    pub fn symlink_metadata(&self, p: &VPath) -> io::Result<Metadata> {
        match self.place(p)? {
            Place::Top(_) => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Place::In(root, rel) => root.symlink_metadata(&rel),
            Place::File(f) => f.metadata(),
        }
    }

    /// Whether `p` is a folder, and if so this process's rights on it (the
    /// `perm` fact of what it holds): both from one `stat`.
    pub fn dir_rights(&self, p: &VPath) -> io::Result<Option<Rights>> {
        match self.place(p)? {
            // Made by the server: what may be done in it is the share's say.
            Place::Top(_) => Ok(Some(Rights::ALL)),
            Place::In(root, rel) => {
                let md = root.metadata(&rel)?;
                Ok(md
                    .is_dir()
                    .then(|| Rights::of(md.mode(), md.uid(), md.gid())))
            }
            Place::File(f) => f.metadata().map(|_| None),
        }
    }

    /// Succeeds when `p` is a folder a client can change into.
    pub fn check_enterable(&self, p: &VPath) -> io::Result<()> {
        match self.place(p)? {
            Place::Top(_) => Ok(()),
            Place::In(root, rel) => root.check_enterable(&rel),
            Place::File(_) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
        }
    }

    pub fn open_read(&self, p: &VPath) -> io::Result<(File, Metadata)> {
        match self.place(p)? {
            Place::Top(_) => Err(io::Error::from(io::ErrorKind::IsADirectory)),
            Place::In(root, rel) => root.open_read(&rel),
            Place::File(f) => f.open_read(),
        }
    }

    /// See [`Root::open_read_cached`]; only inside a shared folder.
    pub fn open_read_cached(&self, p: &VPath, offset: u64) -> Option<Download> {
        match self.place(p) {
            Ok(Place::In(root, rel)) => root.open_read_cached(&rel, offset),
            _ => None,
        }
    }

    pub fn open_resume(&self, p: &VPath) -> io::Result<(File, Metadata)> {
        let (root, rel) = self.writable(p)?;
        root.open_resume(&rel)
    }

    pub fn check_appendable(&self, p: &VPath) -> io::Result<AppendTarget> {
        let (root, rel) = self.writable(p)?;
        root.check_appendable(&rel)
    }

    pub fn set_times(
        &self,
        p: &VPath,
        modified: SystemTime,
        accessed: Option<SystemTime>,
    ) -> io::Result<TimeVal> {
        let (root, rel) = self.writable(p)?;
        root.set_times(&rel, modified, accessed)
    }

    pub fn set_mode(&self, p: &VPath, mode: u32) -> io::Result<()> {
        let (root, rel) = self.writable(p)?;
        root.set_mode(&rel, mode)
    }

    /// Free bytes for uploads into folder `p`; the virtual root takes none.
    pub fn free_space(&self, p: &VPath) -> io::Result<u64> {
        match self.place(p)? {
            Place::Top(_) => Err(denied()),
            Place::In(root, rel) => root.free_space(&rel),
            Place::File(_) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
        }
    }

    /// What a change to `p` locks: see [`lock_key`](super::lock_key).
    /// Where its folder cannot be opened, the path itself: the change
    /// fails the same way.
    pub fn lock_key(&self, p: &VPath) -> String {
        let folder = match (self.place(&p.parent()), p.file_name()) {
            (Ok(Place::In(root, rel)), Some(name)) => root
                .open_dir(&rel)
                .and_then(|d| d.dir_metadata())
                .map(|md| super::lock_key(super::folder_id(&md), name))
                .ok(),
            _ => None,
        };
        folder.unwrap_or_else(|| p.to_string())
    }

    /// The handle of a folder to upload into; the virtual root has none.
    pub fn open_dir(&self, p: &VPath) -> io::Result<Dir> {
        match self.place(p)? {
            Place::Top(_) => Err(denied()),
            Place::In(root, rel) => root.open_dir(&rel),
            Place::File(_) => Err(io::Error::from(io::ErrorKind::NotADirectory)),
        }
    }

    pub fn create_dir(&self, p: &VPath) -> io::Result<()> {
        let (root, rel) = self.writable(p)?;
        root.create_dir(&rel)
    }

    /// Makes `p` and any missing folders above it inside a shared folder;
    /// fine if it is a folder already (a shared folder itself included).
    pub fn create_dir_all(&self, p: &VPath) -> io::Result<Vec<usize>> {
        match self.place(p) {
            Ok(Place::In(root, rel)) => root.create_dir_all(&rel),
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Err(denied()),
        }
    }

    pub fn remove_file(&self, p: &VPath) -> io::Result<()> {
        let (root, rel) = self.writable(p)?;
        root.remove_file(&rel)
    }

    pub fn remove_dir(&self, p: &VPath) -> io::Result<()> {
        let (root, rel) = self.writable(p)?;
        root.remove_dir(&rel)
    }

    /// Succeeds when `p` exists and may be renamed (RNFR).
    pub fn check_movable(&self, p: &VPath) -> io::Result<()> {
        let (root, rel) = self.writable(p)?;
        root.symlink_metadata(&rel).map(drop)
    }

    /// Renames within a shared folder or from one shared folder to another.
    pub fn rename(&self, from: &VPath, to: &VPath) -> io::Result<()> {
        let (from_root, from_rel) = self.writable(from)?;
        let (to_root, to_rel) = self.writable(to)?;
        from_root.rename(&from_rel, to_root, &to_rel)
    }

    /// This process's rights on the folder `dir`, for the `perm` fact of
    /// what it holds; none if it cannot be looked at.
    pub fn folder_rights(&self, dir: &VPath) -> Rights {
        self.dir_rights(dir).ok().flatten().unwrap_or(Rights::NONE)
    }

    /// The entry for one path, as LIST/MLST show a single file.
    pub fn entry(&self, p: &VPath) -> io::Result<Entry> {
        let name = p.file_name().unwrap_or("/");
        match self.place(p)? {
            Place::Top(v) => Ok(v.entry()),
            Place::In(root, rel) => {
                let mut e = root.entry(&rel)?;
                name.clone_into(&mut e.name);
                Ok(e)
            }
            Place::File(f) => Ok(Entry::from_metadata(name.into(), &f.metadata()?)),
        }
    }

    /// A listing of `p` (a folder's entries, or one file), made a chunk at
    /// a time; entries of the virtual root are looked up now.
    pub fn listing(&self, p: &VPath, format: ListFormat, now: i64) -> io::Result<ListingJob> {
        match self.place(p)? {
            Place::Top(v) => Ok(ListingJob::of_entries(v.list(), format, now)),
            Place::In(root, rel) => ListingJob::new(root, &rel, format, now),
            Place::File(_) => Ok(ListingJob::of_entries(vec![self.entry(p)?], format, now)),
        }
    }
}

impl VirtualRoot {
    /// The virtual root as a read-only folder made at startup.
    fn entry(&self) -> Entry {
        let folders = self
            .entries
            .iter()
            .filter(|e| matches!(e.item, Item::Folder(_)))
            .count();
        Entry {
            name: "/".into(),
            kind: Kind::Dir,
            link_target: None,
            size: 0,
            mtime: self.created,
            mode: libc::S_IFDIR | 0o555,
            nlink: 2 + folders as u64,
            dev: 0,
            ino: 0,
            // Made by the server: what may be done to it is the share's say.
            rights: Rights::ALL,
        }
    }

    /// The shared paths with their real sizes and times; one that vanished
    /// since startup is left out, as a file deleted during a listing is.
    fn list(&self) -> Vec<Entry> {
        self.entries
            .iter()
            .filter_map(|e| {
                let md = match &e.item {
                    Item::Folder(root) => root.metadata(&VPath::root()),
                    Item::File(f) => f.metadata(),
                };
                md.ok().map(|md| Entry::from_metadata(e.name.clone(), &md))
            })
            .collect()
    }
}

impl SharedFile {
    fn open(real: PathBuf) -> io::Result<SharedFile> {
        let (Some(parent), Some(name)) = (real.parent(), real.file_name()) else {
            return Err(io::Error::from(io::ErrorKind::InvalidInput));
        };
        let parent = Dir::open_ambient_dir(parent, ambient_authority())?;
        let name = name.to_os_string();
        Ok(SharedFile {
            parent,
            name,
            path: real,
        })
    }

    /// The file's own metadata; a symlink put in its place is not followed.
    fn metadata(&self) -> io::Result<Metadata> {
        self.parent.symlink_metadata(&self.name)
    }

    /// Opens the file by its name. A symlink put in its place later would
    /// be followed by the open, so the file opened must be the very one
    /// the name holds (same device and inode as `lstat` of the name).
    fn open_read(&self) -> io::Result<(File, Metadata)> {
        let named = self.metadata()?;
        if !named.is_file() {
            return Err(io::Error::from(io::ErrorKind::Unsupported));
        }
        let mut opts = OpenOptions::new();
        // O_NONBLOCK: a FIFO swapped in after the check cannot block open(2).
        opts.read(true).custom_flags(libc::O_NONBLOCK);
        let file = self.parent.open_with(&self.name, &opts)?;
        let md = file.metadata()?;
        if !md.is_file() || (md.dev(), md.ino()) != (named.dev(), named.ino()) {
            return Err(io::Error::from(io::ErrorKind::PermissionDenied));
        }
        Ok((file.into_std(), md))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A shared file is reached by its name only: a symlink put in its
    /// place, pointing at a neighbour, does not serve the neighbour.
    #[test]
    fn a_shared_file_swapped_for_a_symlink_serves_nothing_else() {
        let dir = tempfile::tempdir().unwrap();
        let (file, secret) = (dir.path().join("file"), dir.path().join("secret"));
        std::fs::write(&file, b"shared").unwrap();
        std::fs::write(&secret, b"the neighbour's secret").unwrap();
        let share = Share::open(std::slice::from_ref(&file)).unwrap();
        let p = VPath::root().join("/file").unwrap();
        let mut bytes = Vec::new();
        share
            .open_read(&p)
            .unwrap()
            .0
            .read_to_end(&mut bytes)
            .unwrap();
        assert_eq!(bytes, b"shared");

        std::fs::remove_file(&file).unwrap();
        std::os::unix::fs::symlink("secret", &file).unwrap();
        assert!(share.open_read(&p).is_err());
        assert!(!share.metadata(&p).unwrap().is_file());
        let listed = share.entry(&p).unwrap();
        assert_ne!(listed.size, 22, "the neighbour's size is not shown");
    }

    #[test]
    fn names_are_base_names_and_must_differ() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/same")).unwrap();
        std::fs::create_dir_all(dir.path().join("b/same")).unwrap();
        let clash = Share::open(&[dir.path().join("a/same"), dir.path().join("b/same")]);
        assert!(matches!(clash, Err(ShareError::SameName { .. })));
        let share = Share::open(&[dir.path().join("a/"), dir.path().join("b/same/.")]).unwrap();
        let names: Vec<_> = share.paths().into_iter().map(|p| p.name).collect();
        assert_eq!(names, ["a", "same"]);
        assert!(matches!(
            Share::open(&[dir.path().join("a"), "/".into()]),
            Err(ShareError::NoName { .. })
        ));
    }
}
