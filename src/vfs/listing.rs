//! Directory listings in the three formats clients ask for: LIST (`ls -l`
//! style, which clients parse), NLST (names only) and MLSD/MLST facts
//! (RFC 3659 §7).

use std::fmt::Write as _;

use cap_std::fs::{Metadata, MetadataExt};

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
    /// For LIST only: a symlink inside the root is followed for its facts
    /// and its target shown as a virtual path, `name -> /sub/file`.
    pub link_target: Option<String>,
    pub size: u64,
    pub mtime: i64,
    pub mode: u32,
    pub nlink: u64,
    pub dev: u64,
    pub ino: u64,
}

impl Entry {
    /// A symlink's target, a path from its shared folder's top, shown
    /// under `/top` (the folder's name in a virtual root).
    pub fn show_link_under(&mut self, top: &str) {
        if let Some(target) = &mut self.link_target {
            let rest = if target == "/" { "" } else { target.as_str() };
            *target = format!("/{top}{rest}");
        }
    }

    pub fn from_metadata(name: String, md: &Metadata) -> Entry {
        Entry::from_stat(
            name,
            md.mode(),
            md.len(),
            md.mtime(),
            md.nlink(),
            md.dev(),
            md.ino(),
        )
    }

    /// From the fields of a stat(2) result.
    pub fn from_stat(
        name: String,
        mode: u32,
        size: u64,
        mtime: i64,
        nlink: u64,
        dev: u64,
        ino: u64,
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

/// What the session may do, for the MLSD `perm` fact.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Perms {
    pub read: bool,
    pub create: bool,
    pub modify: bool,
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
        let (type_char, perms) = match (&e.kind, &e.link_target) {
            (Kind::Symlink, _) | (_, Some(_)) => ('l', 0o777),
            (Kind::Dir, _) => ('d', e.mode),
            (Kind::File, _) => ('-', e.mode),
            (Kind::Special(c), _) => (*c, e.mode),
        };
        let mut mode = String::with_capacity(10);
        mode.push(type_char);
        for shift in [6, 3, 0] {
            let bits = (perms >> shift) & 7;
            mode.push(if bits & 4 != 0 { 'r' } else { '-' });
            mode.push(if bits & 2 != 0 { 'w' } else { '-' });
            mode.push(if bits & 1 != 0 { 'x' } else { '-' });
        }
        let recent = self.now.abs_diff(e.mtime) < 180 * 86_400;
        let mut s = String::with_capacity(80 + e.name.len());
        let _ = write!(
            s,
            "{mode} {:>3} ftp      ftp      {:>12} {} {:>2} ",
            e.nlink,
            e.size,
            t.month_abbrev(),
            t.day
        );
        if recent {
            let _ = write!(s, "{:02}:{:02} ", t.hour, t.minute);
        } else {
            let _ = write!(s, "{:>5} ", t.year);
        }
        s.push_str(&e.name);
        if let Some(target) = &e.link_target {
            s.push_str(" -> ");
            s.push_str(target);
        }
        s.push_str("\r\n");
        self.out.extend_from_slice(s.as_bytes());
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
        self.out
            .extend_from_slice(facts_text(e, facts, perms).as_bytes());
        self.out.extend_from_slice(b" ");
        self.out.extend_from_slice(e.name.as_bytes());
        self.out.extend_from_slice(b"\r\n");
    }
}

/// The facts of one entry, `type=file;size=3;...;` without the name.
pub fn facts_text(e: &Entry, facts: Facts, perms: Perms) -> String {
    let mut s = String::with_capacity(96);
    if facts.has(0) {
        let t = match &e.kind {
            Kind::Dir => "dir",
            Kind::File => "file",
            Kind::Symlink => "OS.unix=slink",
            Kind::Special(_) => "OS.unix=special",
        };
        let _ = write!(s, "type={t};");
    }
    if facts.has(1) && e.kind == Kind::File {
        let _ = write!(s, "size={};", e.size);
    }
    if facts.has(2) {
        let t = CivilTime::from_unix(e.mtime);
        let _ = write!(
            s,
            "modify={:04}{:02}{:02}{:02}{:02}{:02};",
            t.year, t.month, t.day, t.hour, t.minute, t.second
        );
    }
    if facts.has(3) {
        let _ = write!(s, "perm={};", perm_fact(&e.kind, perms));
    }
    if facts.has(4) {
        let _ = write!(s, "unique={:x}g{:x};", e.dev, e.ino);
    }
    if facts.has(5) {
        let _ = write!(s, "unix.mode=0{:o};", e.mode & 0o7777);
    }
    s
}

/// RFC 3659 §7.5.5: what this session could do with the entry.
fn perm_fact(kind: &Kind, p: Perms) -> String {
    let mut s = String::new();
    match kind {
        Kind::File => {
            if p.modify {
                s.push_str("adfw");
            }
            if p.read {
                s.push('r');
            }
        }
        Kind::Dir => {
            if p.create {
                s.push_str("cm");
            }
            if p.modify {
                s.push_str("dfp");
            }
            if p.read {
                s.push_str("el");
            } else {
                s.push('e');
            }
        }
        Kind::Symlink | Kind::Special(_) => {}
    }
    s
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
    }

    #[test]
    fn mlsd_facts() {
        let mut l = Listing::new(0);
        let perms = Perms {
            read: true,
            create: false,
            modify: false,
        };
        l.facts_line(&entry(Kind::File), Facts::all(), perms);
        assert_eq!(
            String::from_utf8(l.out).unwrap(),
            "type=file;size=42;modify=20261125210304;perm=r;unique=803g1f;unix.mode=0644; a b.txt\r\n"
        );
        let f = Facts::select("type;SIZE;bogus;");
        assert_eq!(f.selected(), "type;size;");
        assert_eq!(f.feat(), "type*;size*;modify;perm;unique;unix.mode;");
    }
}
