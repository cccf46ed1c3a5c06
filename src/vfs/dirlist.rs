//! Listings sent a chunk at a time, so a directory of any size costs the
//! server about its names, never its whole listing text.
//!
//! Listings are sorted by name, and sorting needs every name: they are read
//! once into 64 KiB pages (name bytes plus 16 bytes an entry, about 10 MB for
//! 200,000 names of 36 bytes; pages, unlike one growing buffer, are never
//! copied to grow). Each entry is looked up (stat) and
//! formatted only when its chunk is made, so the facts and the text are
//! never held for more than a chunk.

use std::borrow::Cow;
use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::io;
use std::os::unix::ffi::OsStrExt;

use cap_std::fs::Dir;
use rustix::fs::{openat, statat, AtFlags, Mode, OFlags, RawDir};

use super::listing::{Entry, ListFormat, Listing};
use super::names::display_name;
use super::pattern::{Pattern, Utf8Locale};
use super::rights::Rights;
use super::root::Root;
use super::upload::is_temp_name;
use super::VPath;

/// About this many bytes of listing text make one chunk.
pub const CHUNK: usize = 64 * 1024;

/// What is left to list.
enum Source {
    /// A directory's entries, by name, with the handle of the folder they
    /// are in (for symlinks, which are followed through it).
    Dir(DirNames, Root),
    /// Entries looked up already: one file (LIST of a file), or the
    /// shared paths of a virtual root.
    Entries(std::vec::IntoIter<Entry>),
}

/// A listing being made: what is left to list, and the format.
pub struct ListingJob {
    source: Source,
    format: ListFormat,
    now: i64,
    /// Written before each name of a names-only listing.
    prefix: String,
}

/// Bytes of names in one page; a name never straddles two.
const PAGE: usize = 1 << 16;

/// One name in [`DirNames::pages`]: where it starts (page number times
/// [`PAGE`] plus the offset in the page), and its length.
#[derive(Clone, Copy)]
struct Span {
    /// The name's first 8 bytes, big-endian, zero-padded: most names differ
    /// there, so sorting compares integers and seldom reads the names.
    /// Padding sorts like the end of a name, as names hold no NUL.
    prefix: u64,
    start: u32,
    /// A shown name is at most three times NAME_MAX (255) bytes.
    len: u16,
}

/// A directory's names as they are shown, sorted, in one buffer.
struct DirNames {
    dir: Dir,
    path: VPath,
    pages: Vec<String>,
    /// Where each name is in `pages`, in listing order.
    spans: Vec<Span>,
    /// The names not on disk as they are shown (not UTF-8, or with a line
    /// break), by their span's start.
    raw: HashMap<u32, OsString>,
    next: usize,
    /// The last entry's name, given back once its line is written: the
    /// next entry's name is copied into it instead of a new allocation.
    spare: String,
}

impl ListingJob {
    /// Starts listing `path`: a directory's names are read and sorted now
    /// (so a missing or unreadable directory is an error before any data
    /// connection opens); a file is looked up now.
    pub fn new(root: &Root, path: &VPath, format: ListFormat, now: i64) -> io::Result<ListingJob> {
        let source = if root.metadata(path)?.is_dir() {
            Source::Dir(
                DirNames::read(root.open_dir(path)?, path.clone())?,
                root.clone(),
            )
        } else {
            Source::Entries(vec![root.entry(path)?].into_iter())
        };
        Ok(ListingJob {
            source,
            format,
            now,
            prefix: String::new(),
        })
    }

    /// A listing of entries looked up already, in the order given.
    pub fn of_entries(entries: Vec<Entry>, format: ListFormat, now: i64) -> ListingJob {
        ListingJob {
            source: Source::Entries(entries.into_iter()),
            format,
            now,
            prefix: String::new(),
        }
    }

    /// Keeps only the entries whose name (as shown) matches `pattern`.
    pub fn keep_matching(&mut self, pattern: &Pattern) {
        let mut name_buf = Vec::new();
        let mut keep = |name: &str| pattern.matches(name, &mut name_buf);
        let _utf8 = Utf8Locale::enter();
        match &mut self.source {
            Source::Dir(names, _) => {
                let pages = &names.pages;
                names.spans.retain(|span| keep(name_of(pages, *span)));
            }
            Source::Entries(entries) => {
                let kept: Vec<Entry> = entries.filter(|e| keep(&e.name)).collect();
                *entries = kept.into_iter();
            }
        }
    }

    /// Puts `prefix` before each name, if the listing is of names only
    /// (NLST).
    pub fn prefix_names(&mut self, prefix: String) {
        self.prefix = prefix;
    }

    /// The next chunk of listing text (about [`CHUNK`] bytes, whole lines);
    /// `None` once everything was listed.
    pub fn next_chunk(&mut self) -> Option<Vec<u8>> {
        let mut out = Listing::new(self.now);
        out.out.reserve(CHUNK + 1024);
        while out.out.len() < CHUNK {
            let entry = match &mut self.source {
                Source::Entries(entries) => entries.next(),
                Source::Dir(names, root) => names.next_entry(root),
            };
            let Some(entry) = entry else { break };
            if let ListFormat::Names = self.format {
                out.out.extend_from_slice(self.prefix.as_bytes());
            }
            out.line(&entry, self.format);
            if let Source::Dir(names, _) = &mut self.source {
                names.spare = entry.name;
            }
        }
        (!out.out.is_empty()).then_some(out.out)
    }
}

impl DirNames {
    fn read(dir: Dir, path: VPath) -> io::Result<DirNames> {
        let mut pages: Vec<String> = Vec::new();
        let mut spans = Vec::new();
        let mut raw = HashMap::new();
        // The folder's handle only names it (O_PATH): one to read it by.
        // Read straight with getdents64, without an allocation per name.
        let readable = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let listed = openat(&dir, c".", readable, Mode::empty())?;
        let mut buf = Vec::with_capacity(64 * 1024);
        let mut entries = RawDir::new(listed, buf.spare_capacity_mut());
        while let Some(item) = entries.next() {
            let item = item?;
            let bytes = item.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            let shown = display_name(OsStr::from_bytes(bytes));
            let as_is = matches!(shown, Cow::Borrowed(_));
            // Our own temporary upload files are never shown.
            if as_is && is_temp_name(&shown) {
                continue;
            }
            let too_many = || io::Error::other("directory too large to list");
            let len = u16::try_from(shown.len()).map_err(|_| too_many())?;
            if pages.last().is_none_or(|p| p.len() + shown.len() > PAGE) {
                pages.push(String::with_capacity(PAGE));
            }
            let number = pages.len() - 1;
            let page = &mut pages[number];
            let start = u32::try_from(number * PAGE + page.len()).map_err(|_| too_many())?;
            page.push_str(&shown);
            if !as_is {
                raw.insert(start, OsStr::from_bytes(bytes).to_os_string());
            }
            let mut head = [0u8; 8];
            let n = shown.len().min(8);
            head[..n].copy_from_slice(&shown.as_bytes()[..n]);
            let prefix = u64::from_be_bytes(head);
            spans.push(Span { prefix, start, len });
        }
        // By the prefixes, then each run that shares one by whole names.
        spans.sort_unstable_by_key(|s| s.prefix);
        for run in spans.chunk_by_mut(|a, b| a.prefix == b.prefix) {
            run.sort_unstable_by(|a, b| name_of(&pages, *a).cmp(name_of(&pages, *b)));
        }
        Ok(DirNames {
            dir,
            path,
            pages,
            spans,
            raw,
            next: 0,
            spare: String::new(),
        })
    }

    /// The next entry that still exists (a file may vanish between
    /// readdir and stat; it is skipped then).
    fn next_entry(&mut self, root: &Root) -> Option<Entry> {
        while let Some(&span) = self.spans.get(self.next) {
            self.next += 1;
            if let Some(e) = self.lookup(root, span) {
                return Some(e);
            }
        }
        None
    }

    fn lookup(&mut self, root: &Root, span: Span) -> Option<Entry> {
        let name = name_of(&self.pages, span);
        let on_disk = self
            .raw
            .get(&span.start)
            .map_or(OsStr::new(name), OsString::as_os_str);
        // One readdir name, not followed: it cannot leave the directory.
        let st = statat(&self.dir, on_disk, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let mode = st.st_mode as u32;
        if mode & libc::S_IFMT != libc::S_IFLNK {
            let mut owned = std::mem::take(&mut self.spare);
            owned.clear();
            owned.push_str(name);
            return Some(Entry::from_stat(
                owned,
                mode,
                u64::try_from(st.st_size).unwrap_or(0),
                st.st_mtime as i64,
                st.st_nlink as u64,
                (st.st_dev as u64, st.st_ino as u64),
                Rights::of(mode, st.st_uid, st.st_gid),
            ));
        }
        let lmd = self.dir.symlink_metadata(on_disk).ok()?;
        let link = self.path.join(name).ok()?;
        Some(root.symlink_entry(&link, name.to_owned(), &lmd))
    }
}

fn name_of(pages: &[String], span: Span) -> &str {
    let (page, start) = (span.start as usize / PAGE, span.start as usize % PAGE);
    &pages[page][start..start + span.len as usize]
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::ffi::OsStrExt;

    /// The order is the names' byte order, whether they differ in their
    /// first 8 bytes (the sort key), after them, or only in length.
    #[test]
    fn names_are_listed_in_byte_order() {
        let tmp = tempfile::tempdir().unwrap();
        let names: Vec<&[u8]> = vec![
            b"b",
            b"abcdefgh",
            b"abcdefghi",
            b"abcdefg",
            b"abcdefgh~",
            b"abcdefgh!",
            b"abcdefg\x01",
            b"A",
            b"\xc3\xa9t\xc3\xa9",
            b"zz",
            b"z\xffbad",
            b"1234567890",
            b"12345678",
        ];
        for n in &names {
            std::fs::write(tmp.path().join(OsStr::from_bytes(n)), b"").unwrap();
        }
        let root = Root::open(tmp.path()).unwrap();
        let mut job = ListingJob::new(&root, &VPath::root(), ListFormat::Names, 0).unwrap();
        let mut listed = Vec::new();
        while let Some(chunk) = job.next_chunk() {
            listed.extend(String::from_utf8(chunk).unwrap().lines().map(String::from));
        }
        let mut shown: Vec<String> = names
            .iter()
            .map(|n| display_name(OsStr::from_bytes(n)).into_owned())
            .collect();
        shown.sort();
        assert_eq!(listed, shown);
    }
}
