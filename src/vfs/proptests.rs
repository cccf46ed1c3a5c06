//! Property tests of the sandbox: virtual paths never leave `/`, and no
//! operation through [`Share`] reaches anything outside the shared paths,
//! whatever symlinks the tree holds, for one folder served as the root and
//! for a virtual root over a folder and a single file. A quick run is part of `cargo test`;
//! `PROPTEST_CASES=N` sets the number of cases for a long run.

use std::fs;
use std::io::{Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use cap_std::fs::MetadataExt;
use proptest::prelude::*;

use super::{Facts, ListFormat, Perms, Share, Upload, VPath};

const SECRET: &[u8] = b"SECRET-OUTSIDE-THE-ROOT";
const NAMES: &[&str] = &["a", "b", "l1", "l2", "l3"];

fn component() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(NAMES.to_vec()).prop_map(String::from),
        2 => Just("..".to_string()),
        1 => prop::sample::select(vec![".", "", "outside", "secret", "...", "\\..", "a\\..\\.."])
            .prop_map(String::from),
        1 => "[^/\u{0}\r\n]{1,6}",
    ]
}

/// A client path argument: components joined by `/`, maybe absolute.
fn client_path() -> impl Strategy<Value = String> {
    (any::<bool>(), proptest::collection::vec(component(), 0..6))
        .prop_map(|(abs, parts)| format!("{}{}", if abs { "/" } else { "" }, parts.join("/")))
}

proptest! {
    /// Joined paths are absolute, normalised, and map to a relative path
    /// made of plain names only (or `.` for the root).
    #[test]
    fn resolved_paths_never_leave_the_root(
        cwd in client_path(),
        args in proptest::collection::vec(client_path(), 1..4),
    ) {
        let mut p = VPath::root().join(&cwd).unwrap();
        for arg in &args {
            p = p.join(arg).unwrap();
            let s = p.as_str();
            prop_assert!(s.starts_with('/'));
            prop_assert!(s == "/" || !s.ends_with('/'));
            prop_assert!(p.components().all(|c| !c.is_empty() && c != "." && c != ".."));
            let rel = p.to_relative();
            if p.is_root() {
                prop_assert_eq!(rel, PathBuf::from("."));
            } else {
                prop_assert!(rel.components().all(|c| matches!(c, Component::Normal(_))));
            }
            // Normalised: resolving the result again changes nothing.
            prop_assert_eq!(&VPath::root().join(s).unwrap(), &p);
            prop_assert_eq!(&p.parent().join(p.file_name().unwrap_or(".")).unwrap(), &p);
        }
    }

    /// Builds a tree with symlinks pointing inside, outside and across the
    /// root, runs random operations through `Root`, and checks that nothing
    /// outside changed and that every file opened is inside the root.
    #[test]
    fn no_operation_through_root_reaches_outside(
        tree in proptest::collection::vec(entry(), 0..10),
        ops in proptest::collection::vec(op(), 1..12),
    ) {
        let base = tempfile::tempdir().unwrap();
        let root_dir = base.path().join("root");
        let outside = base.path().join("outside");
        fs::create_dir_all(outside.join("dir")).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        fs::write(outside.join("dir/secret"), SECRET).unwrap();
        fs::create_dir(&root_dir).unwrap();
        let root_dir = root_dir.canonicalize().unwrap();
        build(&root_dir, base.path(), &tree);
        let before = snapshot(&outside);
        // Everything that must stay unreachable, by (device, inode).
        let mut forbidden = walk(&outside);
        forbidden.extend([base.path().to_path_buf(), "/".into(), "/etc".into(), "/etc/passwd".into()]);
        let outside_inos: Vec<(u64, u64)> = forbidden.iter().filter_map(|p| {
            use std::os::unix::fs::MetadataExt;
            fs::symlink_metadata(p).ok().map(|m| (m.dev(), m.ino()))
        }).collect();

        let root = Share::open(std::slice::from_ref(&root_dir)).unwrap();
        let inside = |p: &Path| p.starts_with(&root_dir);
        for op in &ops {
            run(&root, &inside, &outside_inos, op)?;
        }
        drop(root);
        prop_assert_eq!(snapshot(&outside), before, "outside the root changed");
        let mut top: Vec<_> = fs::read_dir(base.path()).unwrap()
            .map(|e| e.unwrap().file_name()).collect();
        top.sort();
        prop_assert_eq!(top, vec!["outside", "root"], "something appeared next to the root");
    }
}

proptest! {
    /// A virtual root over the folder `a` and the single file `b`, whose
    /// parent folder holds a secret next to it: random operations reach
    /// neither the secret, nor anything else outside, nor change `b`.
    #[test]
    fn no_operation_through_a_virtual_root_reaches_outside(
        tree in proptest::collection::vec(entry(), 0..10),
        ops in proptest::collection::vec(op(), 1..12),
    ) {
        let base = tempfile::tempdir().unwrap();
        let base_dir = base.path().canonicalize().unwrap();
        let folder = base_dir.join("a");
        let files = base_dir.join("files");
        let outside = base_dir.join("outside");
        fs::create_dir_all(outside.join("dir")).unwrap();
        fs::write(outside.join("secret"), SECRET).unwrap();
        fs::create_dir_all(&files).unwrap();
        fs::write(files.join("b"), b"shared file").unwrap();
        fs::write(files.join("secret"), SECRET).unwrap();
        fs::create_dir(&folder).unwrap();
        build(&folder, &base_dir, &tree);
        let before = (snapshot(&outside), snapshot(&files));
        let mut forbidden = walk(&outside);
        forbidden.extend([base_dir.clone(), files.clone(), files.join("secret"), "/".into()]);
        let outside_inos: Vec<(u64, u64)> = forbidden.iter().filter_map(|p| {
            use std::os::unix::fs::MetadataExt;
            fs::symlink_metadata(p).ok().map(|m| (m.dev(), m.ino()))
        }).collect();

        let root = Share::open(&[folder.clone(), files.join("b")]).unwrap();
        let shared_file = files.join("b");
        let inside = |p: &Path| p.starts_with(&folder) || p == shared_file;
        for op in &ops {
            run(&root, &inside, &outside_inos, op)?;
        }
        drop(root);
        prop_assert_eq!((snapshot(&outside), snapshot(&files)), before, "outside the shares changed");
    }
}

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File,
    /// A symlink; `{base}` and `{root}` are replaced by absolute paths.
    Link(&'static str),
}

#[derive(Debug, Clone)]
struct Entry {
    parent: Vec<&'static str>,
    name: &'static str,
    kind: Kind,
}

fn entry() -> impl Strategy<Value = Entry> {
    let targets = vec![
        "../outside/secret",
        "../outside",
        "../../outside/secret",
        "../../../outside/dir",
        "{base}/outside/secret",
        "{base}/outside",
        "{root}/a",
        "{root}",
        "a",
        "../a",
        "..",
        ".",
        "l1",
        "l2/secret",
        "a/../../outside/secret",
        "../files/secret",
        "../files/b",
        "/etc/passwd",
        "/",
    ];
    (
        proptest::collection::vec(prop::sample::select(NAMES.to_vec()), 0..3),
        prop::sample::select(NAMES.to_vec()),
        prop_oneof![
            Just(Kind::Dir),
            Just(Kind::File),
            prop::sample::select(targets).prop_map(Kind::Link),
        ],
    )
        .prop_map(|(parent, name, kind)| Entry { parent, name, kind })
}

#[derive(Debug, Clone)]
enum Op {
    Read(String),
    Metadata(String),
    List(String),
    Entry(String),
    WriteInPlace(String, bool),
    Upload(String),
    Mkdir(String),
    Remove(String),
    Rmdir(String),
    Rename(String, String),
}

fn op() -> impl Strategy<Value = Op> {
    let p = client_path;
    prop_oneof![
        p().prop_map(Op::Read),
        p().prop_map(Op::Metadata),
        p().prop_map(Op::List),
        p().prop_map(Op::Entry),
        (p(), any::<bool>()).prop_map(|(a, b)| Op::WriteInPlace(a, b)),
        p().prop_map(Op::Upload),
        p().prop_map(Op::Mkdir),
        p().prop_map(Op::Remove),
        p().prop_map(Op::Rmdir),
        (p(), p()).prop_map(|(a, b)| Op::Rename(a, b)),
    ]
}

fn build(root: &Path, base: &Path, tree: &[Entry]) {
    for e in tree {
        // Entries whose parent is missing or not a real folder (a symlink
        // would take the builder itself outside) are skipped.
        let mut dir = root.to_path_buf();
        let real_dirs = e.parent.iter().all(|c| {
            dir.push(c);
            fs::symlink_metadata(&dir).is_ok_and(|m| m.is_dir())
        });
        if !real_dirs {
            continue;
        }
        let path = dir.join(e.name);
        let _ = match &e.kind {
            Kind::Dir => fs::create_dir(&path),
            Kind::File => fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .and_then(|mut f| f.write_all(b"inside")),
            Kind::Link(t) => {
                let t = t
                    .replace("{base}", &base.display().to_string())
                    .replace("{root}", &root.display().to_string());
                std::os::unix::fs::symlink(t, &path)
            }
        };
    }
}

/// Every path below `dir`, not following symlinks.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = vec![dir.to_path_buf()];
    let mut i = 0;
    while i < out.len() {
        let p = out[i].clone();
        if fs::symlink_metadata(&p).is_ok_and(|m| m.is_dir()) {
            let mut children: Vec<_> = fs::read_dir(&p)
                .unwrap()
                .map(|e| e.unwrap().path())
                .collect();
            children.sort();
            out.extend(children);
        }
        i += 1;
    }
    out
}

fn snapshot(dir: &Path) -> Vec<(PathBuf, Option<Vec<u8>>, u32)> {
    walk(dir)
        .into_iter()
        .map(|p| {
            let md = fs::symlink_metadata(&p).unwrap();
            let bytes = md.is_file().then(|| fs::read(&p).unwrap());
            (
                p,
                bytes,
                std::os::unix::fs::PermissionsExt::mode(&md.permissions()),
            )
        })
        .collect()
}

/// The file an open descriptor refers to must be one that is shared.
fn assert_inside(file: &fs::File, inside: &dyn Fn(&Path) -> bool) -> Result<(), TestCaseError> {
    let target = fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())).unwrap();
    prop_assert!(inside(&target), "opened {} outside", target.display());
    Ok(())
}

fn run(
    root: &Share,
    inside: &dyn Fn(&Path) -> bool,
    outside: &[(u64, u64)],
    op: &Op,
) -> Result<(), TestCaseError> {
    let vp = |s: &str| VPath::root().join(s).unwrap();
    let not_outside = |dev: u64, ino: u64| -> Result<(), TestCaseError> {
        prop_assert!(
            !outside.contains(&(dev, ino)),
            "metadata of an outside file was read"
        );
        Ok(())
    };
    match op {
        Op::Read(p) => {
            if let Ok((mut f, _)) = root.open_read(&vp(p)) {
                assert_inside(&f, inside)?;
                let mut bytes = Vec::new();
                f.read_to_end(&mut bytes).unwrap();
                prop_assert!(bytes != SECRET);
            }
        }
        Op::Metadata(p) => {
            if let Ok(md) = root.metadata(&vp(p)) {
                not_outside(md.dev(), md.ino())?;
            }
            if let Ok(md) = root.symlink_metadata(&vp(p)) {
                not_outside(md.dev(), md.ino())?;
            }
        }
        Op::List(p) => {
            // Every listed entry's `unique` fact (device and inode).
            let facts = ListFormat::Facts(
                Facts::all(),
                Perms {
                    read: true,
                    create: false,
                    modify: false,
                    purge: false,
                    folder: crate::vfs::Rights::ALL,
                },
            );
            if let Ok(mut job) = root.listing(&vp(p), facts, 0) {
                while let Some(chunk) = job.next_chunk() {
                    for line in String::from_utf8_lossy(&chunk).lines() {
                        let unique = line.split(';').find_map(|f| f.strip_prefix("unique="));
                        let (dev, ino) = unique.and_then(|u| u.split_once('g')).unwrap();
                        let hex = |x| u64::from_str_radix(x, 16).unwrap();
                        not_outside(hex(dev), hex(ino))?;
                    }
                }
            }
            if let Ok(d) = root.open_dir(&vp(p)) {
                if let Ok(md) = d.dir_metadata() {
                    not_outside(md.dev(), md.ino())?;
                }
            }
        }
        Op::Entry(p) => {
            if let Ok(e) = root.entry(&vp(p)) {
                not_outside(e.dev, e.ino)?;
            }
        }
        Op::WriteInPlace(p, append) => {
            if *append {
                if let Ok((upload, mut f)) = Upload::begin(root, &vp(p)) {
                    assert_inside(&f, inside)?;
                    f.write_all(b"appended").unwrap();
                    drop(f);
                    let _ = upload.append(&vp(p), None, None, std::time::Duration::from_secs(1));
                }
            } else if let Ok((mut f, _)) = root.open_resume(&vp(p)) {
                assert_inside(&f, inside)?;
                f.write_all(b"written").unwrap();
            }
        }
        Op::Upload(p) => {
            let target = vp(p);
            if let Ok((upload, mut f)) = Upload::begin(root, &target) {
                assert_inside(&f, inside)?;
                f.write_all(b"uploaded").unwrap();
                drop(f);
                let _ = upload.commit(&target);
            }
        }
        Op::Mkdir(p) => {
            let _ = root.create_dir(&vp(p));
        }
        Op::Remove(p) => {
            let _ = root.remove_file(&vp(p));
        }
        Op::Rmdir(p) => {
            let _ = root.remove_dir(&vp(p));
        }
        Op::Rename(a, b) => {
            let _ = root.rename(&vp(a), &vp(b));
        }
    }
    Ok(())
}
