//! Virtual paths: what the client sees. Pure string work, no I/O.

use std::path::PathBuf;

use super::names::{creatable, os_name, NAME_MAX};

/// A client path that cannot name anything: it holds NUL, CR or LF.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("NUL, CR or LF in path")]
pub struct BadPath;

/// An absolute, normalised virtual path: `/` or `/a/b` (no `.`, `..`,
/// empty or trailing components).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VPath(String);

impl VPath {
    pub fn root() -> VPath {
        VPath("/".into())
    }

    /// Resolves a client argument against this directory. `..` at the root
    /// stays at the root, as in a chroot.
    pub fn join(&self, arg: &str) -> Result<VPath, BadPath> {
        // NUL cannot be in a name; CR and LF would be line breaks in
        // listings (names on disk that hold them are shown escaped).
        if arg.contains(['\0', '\r', '\n']) {
            return Err(BadPath);
        }
        let mut parts: Vec<&str> = if arg.starts_with('/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for part in arg.split('/') {
            match part {
                "" | "." => {}
                ".." => {
                    parts.pop();
                }
                p => parts.push(p),
            }
        }
        Ok(VPath(format!("/{}", parts.join("/"))))
    }

    pub fn components(&self) -> impl Iterator<Item = &str> {
        self.0.split('/').filter(|p| !p.is_empty())
    }

    pub fn is_root(&self) -> bool {
        self.0 == "/"
    }

    pub fn parent(&self) -> VPath {
        match self.0.rfind('/') {
            Some(0) | None => VPath::root(),
            Some(i) => VPath(self.0[..i].to_string()),
        }
    }

    /// The first component and the rest as a path of its own:
    /// `/a/b/c` gives `a` and `/b/c`, `/a` gives `a` and `/`; `None` for
    /// the root.
    pub fn split_first(&self) -> Option<(&str, VPath)> {
        let rest = self.0.strip_prefix('/').filter(|r| !r.is_empty())?;
        Some(match rest.find('/') {
            Some(i) => (&rest[..i], VPath(rest[i..].to_string())),
            None => (rest, VPath::root()),
        })
    }

    pub fn file_name(&self) -> Option<&str> {
        self.components().last()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Whether every component fits [`NAME_MAX`] bytes on disk, so that an
    /// upload can be refused before its data is sent rather than after.
    pub fn fits_name_max(&self) -> bool {
        self.components().all(|c| os_name(c).len() <= NAME_MAX)
    }

    /// Whether a client may create the names this path makes: its last,
    /// or with `every` all of them (a drop box makes the folders on the
    /// way). See [`creatable`].
    pub fn creatable(&self, every: bool) -> bool {
        let mut names = self.components();
        match every {
            true => names.all(creatable),
            false => names.last().is_none_or(creatable),
        }
    }

    /// The folders `levels` above this path (0 is this path itself), from
    /// the top down; never the root.
    pub fn above(&self, levels: &[usize]) -> Vec<VPath> {
        let up = std::iter::successors(Some(self.clone()), |p| Some(p.parent()));
        let up: Vec<VPath> = up.take_while(|p| !p.is_root()).collect();
        let mut levels = levels.to_vec();
        levels.sort_unstable_by(|a, b| b.cmp(a));
        levels.dedup();
        levels.iter().filter_map(|&l| up.get(l).cloned()).collect()
    }

    /// The path relative to the root handle, with escaped non-UTF-8 names
    /// turned back into their bytes; `.` for the root itself.
    pub fn to_relative(&self) -> PathBuf {
        if self.is_root() {
            return PathBuf::from(".");
        }
        self.components().map(os_name).collect()
    }
}

impl AsRef<str> for VPath {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for VPath {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_folders_above_come_from_the_top_down() {
        let p = VPath::root().join("a/b/c").unwrap();
        let shown =
            |l: &[usize]| -> Vec<String> { p.above(l).iter().map(|f| f.to_string()).collect() };
        assert_eq!(shown(&[]), Vec::<String>::new());
        assert_eq!(shown(&[0, 1]), ["/a/b", "/a/b/c"]);
        // Not only the deepest: another session may have made those between.
        assert_eq!(shown(&[0, 2]), ["/a", "/a/b/c"]);
        // Never the root, nor one twice.
        assert_eq!(shown(&[2, 9, 1, 0, 0]), ["/a", "/a/b", "/a/b/c"]);
    }

    fn join(cwd: &str, arg: &str) -> String {
        VPath::root().join(cwd).unwrap().join(arg).unwrap().0
    }

    #[test]
    fn dotdot_never_climbs_above_root() {
        assert_eq!(join("/", ".."), "/");
        assert_eq!(join("/a/b", "../../../../etc/passwd"), "/etc/passwd");
        assert_eq!(join("/a", "/../.."), "/");
        assert_eq!(join("/a", "b/./c//d/"), "/a/b/c/d");
        assert_eq!(join("/a", "\\..\\"), "/a/\\..\\");
    }

    #[test]
    fn relative_form_and_parents() {
        let p = VPath::root().join("/x/y").unwrap();
        assert_eq!(p.to_relative(), PathBuf::from("x/y"));
        assert_eq!(p.parent().as_str(), "/x");
        assert_eq!(p.parent().parent().as_str(), "/");
        assert_eq!(VPath::root().to_relative(), PathBuf::from("."));
        assert_eq!(p.file_name(), Some("y"));
    }

    #[test]
    fn split_first_names_the_entry_and_keeps_the_rest() {
        let p = |s: &str| VPath::root().join(s).unwrap();
        assert_eq!(VPath::root().split_first(), None);
        assert_eq!(p("/a").split_first(), Some(("a", VPath::root())));
        assert_eq!(p("/a/b/c").split_first(), Some(("a", p("/b/c"))));
        // `..` is folded away before an entry is picked: the rest of a
        // path never climbs out of the entry it names.
        assert_eq!(p("/a/../b/x").split_first(), Some(("b", p("/x"))));
        assert_eq!(
            p("/a/b/../../../c").split_first(),
            Some(("c", VPath::root()))
        );
    }

    #[test]
    fn nul_is_refused() {
        assert!(VPath::root().join("a\0b").is_err());
    }
}
