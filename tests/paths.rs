//! Sharing files and several paths through the library: a virtual root
//! lists each shared path with its real facts, every path resolves to one
//! entry (no `..` or symlink crosses from one to another or above), the
//! virtual root and shared files are read-only, shared folders writable.

mod common;

use std::path::PathBuf;

use common::*;
use ftpshare::{AccessMode, RunningServer, Server, StartError};

/// `outer/` holds `photos/` (shared), `docs/` (shared), `report.pdf`
/// (shared), and `secret.txt` next to them (never reachable).
struct Shares {
    server: RunningServer,
    outer: tempfile::TempDir,
}

const SECRET: &[u8] = b"next to the shared paths, never served";

impl Shares {
    fn path(&self, rel: &str) -> PathBuf {
        self.outer.path().join(rel)
    }

    async fn login(&self) -> Raw {
        let mut raw = Raw::connect(self.server.local_addr()).await;
        raw.ok(&format!("USER {USER}"), 331).await;
        raw.ok(&format!("PASS {PASS}"), 230).await;
        raw.ok("TYPE I", 200).await;
        raw
    }
}

async fn shares(mode: AccessMode, names: &[&str]) -> Shares {
    let outer = tempfile::tempdir().unwrap();
    let o = outer.path();
    std::fs::create_dir_all(o.join("photos/2024")).unwrap();
    std::fs::write(o.join("photos/2024/cat.jpg"), pseudo_random(70_001, 1)).unwrap();
    std::fs::create_dir(o.join("docs")).unwrap();
    std::fs::write(o.join("docs/notes.txt"), b"notes").unwrap();
    std::fs::write(o.join("report.pdf"), pseudo_random(123_457, 2)).unwrap();
    std::fs::write(o.join("secret.txt"), SECRET).unwrap();
    // Links that try to leave their entry: into a sibling entry, to the
    // secret next to the shared file, and above everything.
    std::os::unix::fs::symlink("../docs/notes.txt", o.join("photos/to_docs")).unwrap();
    std::os::unix::fs::symlink("../secret.txt", o.join("photos/to_secret")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", o.join("photos/to_passwd")).unwrap();
    let server = Server::builder()
        .paths(names.iter().map(|n| o.join(n)))
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials(USER, PASS)
        .access(mode)
        .limits(test_limits())
        .start()
        .await
        .unwrap();
    Shares { server, outer }
}

const ALL: &[&str] = &["photos", "report.pdf", "docs"];

#[tokio::test]
async fn the_virtual_root_lists_each_path_with_its_real_facts() {
    let s = shares(AccessMode::ReadOnly, ALL).await;
    let mut raw = s.login().await;
    let report = std::fs::metadata(s.path("report.pdf")).unwrap();

    let (code, names) = try_list(&mut raw, "NLST").await;
    assert_eq!(code, 150);
    assert_eq!(names, "docs\r\nphotos\r\nreport.pdf\r\n");

    let (_, mlsd) = try_list(&mut raw, "MLSD").await;
    let line = |name: &str| {
        mlsd.lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .unwrap_or_else(|| panic!("{name} not in {mlsd}"))
            .to_string()
    };
    let pdf = line("report.pdf");
    assert!(pdf.starts_with("type=file;size=123457;"), "{pdf}");
    // Read-only: the file can be read and nothing else.
    assert!(pdf.contains(";perm=r;"), "{pdf}");
    use std::os::unix::fs::MetadataExt;
    let modify = mdtm_of(report.mtime());
    assert!(pdf.contains(&format!("modify={modify};")), "{pdf}");
    assert!(line("photos").starts_with("type=dir;"));

    let (_, list) = try_list(&mut raw, "LIST").await;
    let pdf = list.lines().find(|l| l.ends_with(" report.pdf")).unwrap();
    assert!(pdf.starts_with("-r"), "{pdf}");
    assert_eq!(pdf.split_whitespace().nth(4), Some("123457"), "{pdf}");
    assert!(list
        .lines()
        .any(|l| l.starts_with('d') && l.ends_with(" photos")));

    assert_eq!(raw.ok("SIZE /report.pdf", 213).await.text, "213 123457");
    assert_eq!(
        raw.ok("MDTM report.pdf", 213).await.text,
        format!("213 {modify}")
    );
    let mlst = raw.ok("MLST /report.pdf", 250).await.text;
    assert!(mlst.contains("type=file;size=123457;"), "{mlst}");
    let mlst = raw.ok("MLST /", 250).await.text;
    assert!(mlst.contains("type=dir;"), "{mlst}");
    let stat = raw.ok("STAT /", 212).await.text;
    assert!(
        stat.contains(" report.pdf") && stat.contains(" docs"),
        "{stat}"
    );
    let stat = raw.ok("STAT /report.pdf", 213).await.text;
    assert!(stat.contains("123457"), "{stat}");

    // A link inside an entry shows its target as it reads.
    std::os::unix::fs::symlink("2024/cat.jpg", s.path("photos/cat_link")).unwrap();
    let (_, list) = try_list(&mut raw, "LIST /photos").await;
    assert!(list.contains(" cat_link -> 2024/cat.jpg\r\n"), "{list}");

    // Into an entry and back out.
    raw.ok("CWD photos", 250).await;
    let (_, names) = try_list(&mut raw, "NLST").await;
    assert!(names.contains("2024\r\n"), "{names}");
    raw.ok("CDUP", 250).await;
    assert!(raw.ok("PWD", 257).await.text.contains("\"/\""));
    raw.ok("CWD /report.pdf", 550).await;
    raw.ok("CWD /nothing", 550).await;
}

#[tokio::test]
async fn files_are_read_from_their_entries_and_nothing_else() {
    let s = shares(AccessMode::ReadOnly, ALL).await;
    let mut raw = s.login().await;
    let (code, bytes) = try_retr(&mut raw, "/photos/2024/cat.jpg").await;
    assert_eq!(code, 150);
    assert_eq!(sha256(&bytes), sha256(&pseudo_random(70_001, 1)));
    let (code, bytes) = try_retr(&mut raw, "report.pdf").await;
    assert_eq!(code, 150);
    assert_eq!(sha256(&bytes), sha256(&pseudo_random(123_457, 2)));

    // `..` is folded as text first: this names docs/notes.txt, a shared file.
    let (code, bytes) = try_retr(&mut raw, "/photos/../docs/notes.txt").await;
    assert_eq!((code, bytes.as_slice()), (150, &b"notes"[..]));
    raw.ok("CWD /photos/2024", 250).await;
    let (code, bytes) = try_retr(&mut raw, "../../../../docs/notes.txt").await;
    assert_eq!((code, bytes.as_slice()), (150, &b"notes"[..]));

    // Nothing beside or above the shared paths, whatever the spelling,
    // and no symlink leads from one entry into another or out.
    for path in [
        "/secret.txt",
        "/../secret.txt",
        "../../../secret.txt",
        "/photos/../secret.txt",
        "/photos/to_docs",
        "/photos/to_secret",
        "/photos/to_passwd",
        "/report.pdf/../secret.txt",
        "/report.pdf/x",
        "/docs/../../secret.txt",
        "/",
        "/photos",
    ] {
        let (code, bytes) = try_retr(&mut raw, path).await;
        assert_eq!(code, 550, "RETR {path}");
        assert!(bytes.is_empty());
    }
    for path in ["/photos/to_docs", "/photos/to_secret", "/secret.txt"] {
        assert_eq!(raw.cmd(&format!("SIZE {path}")).await.code, 550, "{path}");
        assert_eq!(raw.cmd(&format!("CWD {path}")).await.code, 550, "{path}");
    }
}

/// Every write at the virtual root or on a shared file is refused with
/// 550 and changes nothing; inside shared folders writes work, including
/// moving a file from one shared folder to another.
#[tokio::test]
async fn writes_only_inside_shared_folders() {
    let s = shares(AccessMode::Writable, ALL).await;
    let mut raw = s.login().await;
    let before = std::fs::read(s.path("report.pdf")).unwrap();
    for cmd in [
        "STOR /new.txt",
        "STOR report.pdf",
        "STOR photos",
        "APPE report.pdf",
        "APPE /new.txt",
        "STOU",
    ] {
        assert_eq!(try_stor(&mut raw, cmd, b"data").await, 550, "{cmd}");
    }
    for cmd in [
        "DELE report.pdf",
        "DELE /photos",
        "MKD /newdir",
        "MKD /report.pdf",
        "RMD /photos",
        "RMD /docs",
        "RNFR report.pdf",
        "RNFR /photos",
        "REST 5",
    ] {
        let r = raw.cmd(cmd).await;
        let want = if cmd.starts_with("REST") { 350 } else { 550 };
        assert_eq!(r.code, want, "{cmd} -> {r:?}");
    }
    // REST then STOR on the shared file: refused before any byte.
    assert_eq!(try_stor(&mut raw, "STOR report.pdf", b"x").await, 550);
    // MLSD and MLST tell the same: shared paths themselves cannot change,
    // though what a shared folder holds may be removed (`p`).
    let perm = |listing: &str, name: &str| {
        let line =
            (listing.lines()).find(|l| l.contains("perm=") && l.ends_with(&format!(" {name}")));
        let fact = line.and_then(|l| l.split(';').find(|f| f.starts_with("perm=")));
        fact.unwrap_or_else(|| panic!("no perm for {name} in {listing}"))
            .to_string()
    };
    let (_, mlsd) = try_list(&mut raw, "MLSD /").await;
    assert_eq!(perm(&mlsd, "report.pdf"), "perm=r");
    assert_eq!(perm(&mlsd, "docs"), "perm=cmpel");
    assert_eq!(perm(&raw.ok("MLST /", 250).await.text, "/"), "perm=el");
    let (_, mlsd) = try_list(&mut raw, "MLSD /docs").await;
    assert_eq!(perm(&mlsd, "notes.txt"), "perm=adfwr");
    raw.ok("RNFR /docs/notes.txt", 350).await;
    raw.ok("RNTO /notes.txt", 550).await;
    raw.ok("RNFR /docs/notes.txt", 350).await;
    raw.ok("RNTO /report.pdf", 550).await;
    assert_eq!(std::fs::read(s.path("report.pdf")).unwrap(), before);
    assert!(!s.path("new.txt").exists() && !s.path("newdir").exists());
    assert!(!s.path("notes.txt").exists());

    // Inside the shared folders: upload, mkdir, rename across, delete.
    assert_eq!(try_stor(&mut raw, "STOR /photos/up.bin", b"up").await, 226);
    assert_eq!(std::fs::read(s.path("photos/up.bin")).unwrap(), b"up");
    raw.ok("MKD /docs/sub", 257).await;
    raw.ok("RNFR /photos/up.bin", 350).await;
    raw.ok("RNTO /docs/sub/moved.bin", 250).await;
    assert_eq!(std::fs::read(s.path("docs/sub/moved.bin")).unwrap(), b"up");
    raw.ok("CWD /docs/sub", 250).await;
    raw.ok("DELE moved.bin", 250).await;
    raw.ok("RMD /docs/sub", 250).await;
    assert_eq!(std::fs::read(s.path("secret.txt")).unwrap(), SECRET);
}

#[tokio::test]
async fn one_file_gets_a_url_that_opens_it() {
    let s = shares(AccessMode::ReadOnly, &["report.pdf"]).await;
    assert_eq!(s.server.root(), None);
    let url = s.server.url();
    let port = s.server.local_addr().port();
    assert_eq!(
        url,
        format!("ftp://{USER}:{PASS}@127.0.0.1:{port}/report.pdf")
    );
    let mut raw = s.login().await;
    let (_, names) = try_list(&mut raw, "NLST").await;
    assert_eq!(names, "report.pdf\r\n");
    if !need("curl") {
        return;
    }
    // Off the runtime's thread: the server runs on it.
    let out = tokio::task::spawn_blocking(move || run("curl", &["-sS", "--fail", &url]))
        .await
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    assert_eq!(sha256(&out.stdout), sha256(&pseudo_random(123_457, 2)));
}

#[tokio::test]
async fn one_folder_is_still_the_root() {
    let s = shares(AccessMode::ReadOnly, &["photos"]).await;
    let folder = s.path("photos").canonicalize().unwrap();
    assert_eq!(s.server.root(), Some(folder.as_path()));
    assert!(s.server.url().ends_with('/'));
    let mut raw = s.login().await;
    let (_, names) = try_list(&mut raw, "NLST").await;
    assert!(names.contains("2024\r\n") && names.contains("to_docs\r\n"));
}

#[tokio::test]
async fn two_paths_with_one_name_do_not_start() {
    let outer = tempfile::tempdir().unwrap();
    let (a, b) = (outer.path().join("a/x"), outer.path().join("b/x"));
    std::fs::create_dir_all(&a).unwrap();
    std::fs::create_dir_all(b.parent().unwrap()).unwrap();
    std::fs::write(&b, b"file").unwrap();
    let err = Server::builder()
        .share(&a)
        .share(&b)
        .bind("127.0.0.1:0".parse().unwrap())
        .start()
        .await
        .err()
        .expect("a clash must not start");
    assert!(matches!(err, StartError::Share(_)), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains(&a.display().to_string()) && text.contains(&b.display().to_string()),
        "{text}"
    );
}

/// MDTM's format for a time, from date(1), independently of the server.
fn mdtm_of(secs: i64) -> String {
    let out = run("date", &["-u", "-d", &format!("@{secs}"), "+%Y%m%d%H%M%S"]);
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

/// One shared folder deleted while the others stay: commands into it say
/// it is gone (once to the operator), the rest is served as before.
#[tokio::test]
async fn a_deleted_shared_folder_is_gone_and_the_others_stay() {
    let s = shares(AccessMode::Writable, ALL).await;
    let mut events = s.server.subscribe();
    let mut raw = s.login().await;
    std::fs::remove_dir_all(s.path("photos")).unwrap();
    each_says_gone(
        &mut raw,
        &[
            "CWD /photos",
            "MLST /photos",
            "SIZE /photos/2024/cat.jpg",
            "RETR /photos/2024/cat.jpg",
            "NLST /photos",
            "LIST /photos/2024",
            "STOR /photos/new.bin",
            "MKD /photos/new",
        ],
    )
    .await;
    raw.ok("CWD /docs", 250).await;
    raw.ok("SIZE notes.txt", 213).await;
    raw.ok("MLST /report.pdf", 250).await;
    let gone = format!(
        "shared folder is gone: {} (a folder made again under that name is served after a restart of ftpshare)",
        s.path("photos").display()
    );
    assert_eq!(warnings(&mut events), [gone]);
}
