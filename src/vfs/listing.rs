//! Directory listings in the three formats clients ask for: LIST (`ls -l`
//! style, which clients parse), NLST (names only) and MLSD/MLST facts
//! (RFC 3659 §7).

use cap_std::fs::{Metadata, MetadataExt};

use super::rights::Rights;
use super::time::CivilTime;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    File,
    Dir,
    /// A FIFO, socket or device: listed (with its `ls` type letter) but
    /// never opened.
    Special(char),
    /// A symlink whose target lies outside the root (or is broken): shown
    /// for what it is, never followed, and without its target, which would
    /// tell a client about the host's layout.
    Symlink,
}

/// One listed name with the facts we show about it.
#[derive(Debug, Clone)]
pub struct Entry {
    pub name: String,
    pub kind: Kind,
    /// A symlink inside the root is followed for its facts, and its target
    /// shown as it reads, `name -> sub/file`.
    pub link_target: Option<String>,
    pub size: u64,
    pub mtime: i64,
    pub mode: u32,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
    /// This process's rights on it, for the `perm` fact.
    pub rights: Rights,
}

impl Entry {
    /// A symlink, followed (inside the share) or not: listed as a link.
    pub fn is_link(&self) -> bool {
        self.kind == Kind::Symlink || self.link_target.is_some()
    }

    pub fn from_metadata(name: String, md: &Metadata) -> Entry {
        Entry::from_stat(
            name,
            md.mode(),
            md.len(),
            md.mtime(),
            md.nlink(),
            (md.dev(), md.ino()),
            Rights::of(md.mode(), md.uid(), md.gid()),
        )
    }

    /// From the fields of a stat(2) result.
    pub fn from_stat(
        name: String,
        mode: u32,
        size: u64,
        mtime: i64,
        nlink: u64,
        (dev, ino): (u64, u64),
        rights: Rights,
    ) -> Entry {
        let kind = match mode & libc::S_IFMT {
            libc::S_IFDIR => Kind::Dir,
            libc::S_IFREG => Kind::File,
            libc::S_IFIFO => Kind::Special('p'),
            libc::S_IFSOCK => Kind::Special('s'),
            libc::S_IFCHR => Kind::Special('c'),
            libc::S_IFBLK => Kind::Special('b'),
            _ => Kind::Special('?'),
        };
        Entry {
            name,
            kind,
            link_target: None,
            size,
            mtime,
            mode,
            nlink,
            dev,
            ino,
            rights,
        }
    }
}

/// The three listing formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ListFormat {
    /// LIST: `ls -l` lines.
    Long,
    /// NLST: names only.
    Names,
    /// MLSD: facts, then the name.
    Facts(Facts, Perms),
}

/// What the session may do, for the MLSD `perm` fact; each entry's own
/// [`Rights`] narrow it further.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub create: bool,
    /// The entry itself may be changed, renamed or removed.
    pub modify: bool,
    /// What a folder holds may be removed (`p`), even where the folder
    /// itself may not be (a shared folder).
    pub purge: bool,
    /// This process's rights on the folder the entries are in: removing,
    /// renaming and replacing (`STOR` writes a new file and renames it)
    /// take its write and search rights.
    pub folder: Rights,
}

impl Perms {
    /// These perms for entries in a folder with `rights`.
    pub fn in_folder(self, rights: Rights) -> Perms {
        Perms {
            folder: rights,
            ..self
        }
    }
}

/// The MLST facts a client selected with `OPTS MLST` (all by default).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Facts(u8);

impl Facts {
    const NAMES: [&'static str; 6] = ["type", "size", "modify", "perm", "unique", "unix.mode"];

    pub fn all() -> Facts {
        Facts(0b11_1111)
    }

    /// Parses `type;size;` and ignores unknown facts (RFC 3659 §7.9).
    pub fn select(spec: &str) -> Facts {
        let mut bits = 0;
        for want in spec.split(';') {
            if let Some(i) = Facts::NAMES
                .iter()
                .position(|n| n.eq_ignore_ascii_case(want.trim()))
            {
                bits |= 1 << i;
            }
        }
        Facts(bits)
    }

    fn has(self, i: usize) -> bool {
        self.0 & (1 << i) != 0
    }

    /// `type;size;` as OPTS MLST echoes it.
    pub fn selected(self) -> String {
        Facts::NAMES
            .iter()
            .enumerate()
            .filter(|(i, _)| self.has(*i))
            .map(|(_, n)| format!("{n};"))
            .collect()
    }

    /// `type*;size*;...` for the FEAT line, with `*` on selected facts.
    pub fn feat(self) -> String {
        Facts::NAMES
            .iter()
            .enumerate()
            .map(|(i, n)| format!("{n}{};", if self.has(i) { "*" } else { "" }))
            .collect()
    }
}

/// Writes listings into a reusable byte buffer, one line per entry.
pub struct Listing {
    pub out: Vec<u8>,
    now: i64,
}

impl Listing {
    pub fn new(now: i64) -> Listing {
        Listing {
            out: Vec::new(),
            now,
        }
    }

    /// One `ls -l` line. Dates within six months show the time, older ones
    /// the year, as `ls` does and as clients' parsers expect.
    pub fn list_line(&mut self, e: &Entry) {
        let t = CivilTime::from_unix(e.mtime);
        let (type_char, perms) = match &e.kind {
            _ if e.is_link() => (b'l', 0o777),
            Kind::Dir => (b'd', e.mode),
            Kind::File | Kind::Symlink => (b'-', e.mode),
            Kind::Special(c) => (if c.is_ascii() { *c as u8 } else { b'?' }, e.mode),
        };
        let out = &mut self.out;
        out.push(type_char);
        for shift in [6, 3, 0] {
            let bits = (perms >> shift) & 7;
            out.push(if bits & 4 != 0 { b'r' } else { b'-' });
            out.push(if bits & 2 != 0 { b'w' } else { b'-' });
            out.push(if bits & 1 != 0 { b'x' } else { b'-' });
        }
        out.push(b' ');
        push_number(out, e.nlink, 10, 3, b' ');
        out.extend_from_slice(b" ftp      ftp      ");
        push_number(out, e.size, 10, 12, b' ');
        out.push(b' ');
        out.extend_from_slice(t.month_abbrev().as_bytes());
        out.push(b' ');
        push_number(out, t.day.into(), 10, 2, b' ');
        out.push(b' ');
        if self.now.abs_diff(e.mtime) < 180 * 86_400 {
            push_number(out, t.hour.into(), 10, 2, b'0');
            out.push(b':');
            push_number(out, t.minute.into(), 10, 2, b'0');
        } else {
            push_year(out, t.year, 5, b' ');
        }
        out.push(b' ');
        out.extend_from_slice(e.name.as_bytes());
        if let Some(target) = &e.link_target {
            out.extend_from_slice(b" -> ");
            out.extend_from_slice(target.as_bytes());
        }
        out.extend_from_slice(b"\r\n");
    }

    /// One line of `e` in `format`.
    pub fn line(&mut self, e: &Entry, format: ListFormat) {
        match format {
            ListFormat::Long => self.list_line(e),
            ListFormat::Names => self.name_line(e),
            ListFormat::Facts(facts, perms) => self.facts_line(e, facts, perms),
        }
    }

    pub fn name_line(&mut self, e: &Entry) {
        self.out.extend_from_slice(e.name.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }

    /// One MLSD line: `fact=value;... name`.
    pub fn facts_line(&mut self, e: &Entry, facts: Facts, perms: Perms) {
        push_facts(&mut self.out, e, facts, perms);
        self.out.push(b' ');
        self.out.extend_from_slice(e.name.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }
}

/// The facts of one entry, `type=file;size=3;...;` without the name.
pub fn facts_text(e: &Entry, facts: Facts, perms: Perms) -> String {
    let mut out = Vec::with_capacity(96);
    push_facts(&mut out, e, facts, perms);
    String::from_utf8_lossy(&out).into_owned()
}

fn push_facts(out: &mut Vec<u8>, e: &Entry, facts: Facts, perms: Perms) {
    if facts.has(0) {
        // A link is typed as one even where it is followed, or a client
        // that removes a folder's contents (lftp `rm -r`) would empty the
        // folder it points to. Its target follows as in RFC 3659 §7.7.4's
        // example, unless it holds a character a fact value cannot (a fact
        // value is printable ASCII without spaces or `;`).
        let t: &[u8] = match e.kind {
            _ if e.is_link() => b"OS.unix=slink",
            Kind::Dir => b"dir",
            Kind::File | Kind::Symlink => b"file",
            Kind::Special(_) => b"OS.unix=special",
        };
        out.extend_from_slice(b"type=");
        out.extend_from_slice(t);
        if let Some(target) = e
            .link_target
            .as_ref()
            .filter(|t| t.bytes().all(|b| b.is_ascii_graphic() && b != b';'))
        {
            out.push(b':');
            out.extend_from_slice(target.as_bytes());
        }
        out.push(b';');
    }
    if facts.has(1) && e.kind == Kind::File {
        out.extend_from_slice(b"size=");
        push_number(out, e.size, 10, 0, b' ');
        out.push(b';');
    }
    if facts.has(2) {
        let t = CivilTime::from_unix(e.mtime);
        out.extend_from_slice(b"modify=");
        push_year(out, t.year, 4, b'0');
        for part in [t.month, t.day, t.hour, t.minute, t.second] {
            push_number(out, part.into(), 10, 2, b'0');
        }
        out.push(b';');
    }
    if facts.has(3) {
        out.extend_from_slice(b"perm=");
        push_perm(out, e, perms);
        out.push(b';');
    }
    if facts.has(4) {
        out.extend_from_slice(b"unique=");
        push_number(out, e.dev, 16, 0, b' ');
        out.push(b'g');
        push_number(out, e.ino, 16, 0, b' ');
        out.push(b';');
    }
    if facts.has(5) {
        out.extend_from_slice(b"unix.mode=0");
        push_number(out, (e.mode & 0o7777).into(), 8, 0, b' ');
        out.push(b';');
    }
}

/// `n` in `radix` (lowercase), right-aligned in `width` columns filled
/// with `pad`, as `format!` would. Written by hand because a listing writes
/// several numbers an entry, and `core::fmt` was a tenth of a LIST's time.
/// Inlined, so that each call's constant radix divides by multiplying.
#[inline(always)]
fn push_number(out: &mut Vec<u8>, mut n: u64, radix: u64, width: usize, pad: u8) {
    let mut digits = [0u8; 64];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b"0123456789abcdef"[(n % radix) as usize];
        n /= radix;
        if n == 0 {
            break;
        }
    }
    let len = digits.len() - at;
    out.resize(out.len() + width.saturating_sub(len), pad);
    out.extend_from_slice(&digits[at..]);
}

/// A year as [`push_number`] writes numbers; one before year 0 (only
/// from a forged timestamp) through `format!`.
fn push_year(out: &mut Vec<u8>, year: i64, width: usize, pad: u8) {
    match u64::try_from(year) {
        Ok(year) => push_number(out, year, 10, width, pad),
        Err(_) if pad == b'0' => out.extend_from_slice(format!("{year:0width$}").as_bytes()),
        Err(_) => out.extend_from_slice(format!("{year:>width$}").as_bytes()),
    }
}

/// RFC 3659 §7.5.5: what this session could do with the entry. A link
/// may be removed (DELE) or renamed itself; one that is followed is read
/// or entered as its target, and what is written through it stays the
/// target's business, so no more is offered.
fn push_perm(out: &mut Vec<u8>, e: &Entry, p: Perms) {
    let mut push = |given: bool, letters: &[u8]| {
        if given {
            out.extend_from_slice(letters);
        }
    };
    let (own, renames) = (e.rights, p.modify && p.folder.may_replace(e.rights));
    match (&e.kind, e.is_link()) {
        (Kind::File, false) => {
            // Both STOR and APPE write a new file in the folder first (and
            // APPE then adds it to the end of this one).
            push(renames && own.write(), b"a");
            push(renames, b"dfw");
        }
        (Kind::Dir, false) => {
            push(p.create && own.change_names(), b"cm");
            push(renames, b"df");
            push(p.purge && own.change_names(), b"p");
        }
        (_, true) => push(renames, b"df"),
        (Kind::Symlink | Kind::Special(_), false) => {}
    }
    match e.kind {
        Kind::File => push(p.read && own.read(), b"r"),
        Kind::Dir => {
            push(own.search(), b"e");
            // Listing looks up each name in the folder too.
            push(p.read && own.read() && own.search(), b"l");
        }
        Kind::Symlink | Kind::Special(_) => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(kind: Kind) -> Entry {
        Entry {
            name: "a b.txt".into(),
            kind,
            link_target: None,
            size: 42,
            mtime: 1_795_640_584,
            mode: 0o100644,
            nlink: 1,
            dev: 0x803,
            ino: 0x1f,
            rights: Rights::ALL,
        }
    }

    #[test]
    fn list_line_looks_like_ls() {
        let mut l = Listing::new(1_795_640_584);
        l.list_line(&entry(Kind::File));
        let s = String::from_utf8(l.out).unwrap();
        assert!(
            s.starts_with("-rw-r--r--   1 ftp      ftp                42 Nov 25 21:03 a b.txt\r\n"),
            "{s}"
        );
        let mut l = Listing::new(1_795_640_584 + 400 * 86_400);
        l.list_line(&entry(Kind::Dir));
        let s = String::from_utf8(l.out).unwrap();
        assert!(s.starts_with("drw-r--r--"), "{s}");
        assert!(s.contains("Nov 25  2026 a b.txt"), "{s}");
        // A one-digit day is padded with a space, the time with zeros.
        let mut l = Listing::new(0);
        let early = Entry {
            mtime: 5 * 86_400 + 3 * 3600 + 7 * 60,
            nlink: 1234,
            ..entry(Kind::File)
        };
        l.list_line(&early);
        let s = String::from_utf8(l.out).unwrap();
        assert!(s.starts_with("-rw-r--r-- 1234 ftp"), "{s}");
        assert!(s.contains(" 42 Jan  6 03:07 a b.txt\r\n"), "{s}");
        let mut l = Listing::new(0);
        l.list_line(&Entry {
            mtime: -200 * 86_400,
            ..entry(Kind::File)
        });
        assert!(String::from_utf8(l.out)
            .unwrap()
            .contains("Jun 15  1969 a b.txt"));
    }

    #[test]
    fn numbers_are_written_as_format_writes_them() {
        let mut n = 1u64;
        for _ in 0..200 {
            for (radix, width, pad) in [(10, 12, b' '), (10, 2, b'0'), (16, 0, b' '), (8, 0, b' ')]
            {
                let mut out = Vec::new();
                push_number(&mut out, n, radix, width, pad);
                let want = match (radix, pad) {
                    (10, b'0') => format!("{n:0width$}"),
                    (10, _) => format!("{n:>width$}"),
                    (16, _) => format!("{n:x}"),
                    _ => format!("{n:o}"),
                };
                assert_eq!(String::from_utf8(out).unwrap(), want);
            }
            n = n.wrapping_mul(7).wrapping_add(n / 3);
        }
    }

    #[test]
    fn mlsd_facts() {
        let mut l = Listing::new(0);
        let perms = Perms {
            read: true,
            create: false,
            modify: false,
            purge: false,
            folder: Rights::ALL,
        };
        l.facts_line(&entry(Kind::File), Facts::all(), perms);
        assert_eq!(
            String::from_utf8(l.out).unwrap(),
            "type=file;size=42;modify=20261125210304;perm=r;unique=803g1f;unix.mode=0644; a b.txt\r\n"
        );
    }

    /// `perm` offers only what this process's rights allow: reading the
    /// file, entering and listing the folder, changing names in the
    /// folder an entry is in.
    #[test]
    fn perm_narrows_to_the_rights_on_disk() {
        let writable = Perms {
            read: true,
            create: true,
            modify: true,
            purge: true,
            folder: Rights::ALL,
        };
        let perm = |e: &Entry, p: Perms| {
            let mut out = Vec::new();
            push_perm(&mut out, e, p);
            String::from_utf8(out).unwrap()
        };
        let (file, dir) = (entry(Kind::File), entry(Kind::Dir));
        assert_eq!(perm(&file, writable), "adfwr");
        assert_eq!(perm(&dir, writable), "cmdfpel");
        let none = |mut e: Entry| {
            e.rights = Rights::NONE;
            e
        };
        assert_eq!(perm(&none(file.clone()), writable), "dfw");
        assert_eq!(perm(&none(dir.clone()), writable), "df");
        let fixed_folder = writable.in_folder(Rights::NONE);
        assert_eq!(perm(&file, fixed_folder), "r");
        assert_eq!(perm(&dir, fixed_folder), "cmpel");
        let f = Facts::select("type;SIZE;bogus;");
        assert_eq!(f.selected(), "type;size;");
        assert_eq!(f.feat(), "type*;size*;modify;perm;unique;unix.mode;");
    }
}
