//! The control protocol command by command, over a raw connection, with
//! exact reply codes and the effects checked on disk.

mod common;

use std::collections::BTreeSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::os::fd::AsRawFd;
use std::time::{Duration, UNIX_EPOCH};

use common::*;
use ftpshare::AccessMode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// PASV, and a connected data socket to the announced address.
async fn pasv(raw: &mut Raw) -> TcpStream {
    let r = raw.ok("PASV", 227).await;
    let inside = r
        .text
        .split('(')
        .nth(1)
        .and_then(|t| t.split(')').next())
        .unwrap_or_else(|| panic!("bad PASV reply {r:?}"));
    let n: Vec<u8> = inside
        .split(',')
        .map(|x| x.trim().parse().unwrap())
        .collect();
    assert_eq!(n.len(), 6, "{r:?}");
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    assert_eq!(ip, Ipv4Addr::LOCALHOST, "PASV announces our own address");
    let port = u16::from(n[4]) << 8 | u16::from(n[5]);
    TcpStream::connect((ip, port)).await.unwrap()
}

/// Runs a download-like command (RETR, LIST, NLST, MLSD) over EPSV and
/// returns the bytes, checking 150 and 226.
async fn fetch(raw: &mut Raw, cmd: &str) -> Vec<u8> {
    let data = raw.epsv().await;
    raw.ok(cmd, 150).await;
    let bytes = read_all(data).await;
    let r = raw.reply().await;
    assert_eq!(r.code, 226, "{cmd} -> {r:?}");
    bytes
}

async fn fetch_text(raw: &mut Raw, cmd: &str) -> String {
    String::from_utf8(fetch(raw, cmd).await).unwrap()
}

/// Runs an upload command (STOR, APPE, STOU) over EPSV; returns the 150
/// reply and the final one.
async fn put(raw: &mut Raw, cmd: &str, bytes: &[u8]) -> (Reply, Reply) {
    let mut data = raw.epsv().await;
    let opening = raw.ok(cmd, 150).await;
    data.write_all(bytes).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    let done = raw.reply().await;
    (opening, done)
}

/// A sparse file big enough that a transfer to a client that does not
/// read stays in progress.
fn big_sparse(t: &TestServer, name: &str, len: u64) {
    let f = std::fs::File::create(t.path(name)).unwrap();
    f.set_len(len).unwrap();
}

/// Lines of a multi-line reply between its first and last line.
fn body(r: &Reply) -> Vec<String> {
    let lines: Vec<&str> = r.text.lines().collect();
    lines[1..lines.len() - 1]
        .iter()
        .map(|l| l.trim().to_string())
        .collect()
}

#[tokio::test]
async fn user_pass_acct() {
    let t = start(AccessMode::Writable).await;
    let mut raw = Raw::connect(t.addr).await;
    assert_eq!(raw.greeting.code, 220);
    raw.ok("PASS s3cret-pass", 503).await;
    raw.ok("USER tester", 331).await;
    raw.ok("PASS wrong", 530).await;
    // A failed PASS ends the attempt: PASS alone is out of sequence again.
    raw.ok("PASS s3cret-pass", 503).await;
    // Unknown names get 331 too, and then 530.
    raw.ok("USER nobody", 331).await;
    raw.ok("PASS s3cret-pass", 530).await;
    raw.ok("USER tester", 331).await;
    raw.ok("PASS s3cret-pass", 230).await;
    raw.ok("ACCT anything", 202).await;
    raw.ok("PWD", 257).await;
}

#[tokio::test]
async fn commands_before_login_are_refused() {
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"data");
    let mut raw = Raw::connect(t.addr).await;
    for cmd in [
        "PWD",
        "CWD /",
        "CDUP",
        "LIST",
        "NLST",
        "MLSD",
        "MLST f.txt",
        "RETR f.txt",
        "STOR g.txt",
        "APPE f.txt",
        "DELE f.txt",
        "MKD d",
        "RMD d",
        "RNFR f.txt",
        "SIZE f.txt",
        "MDTM f.txt",
        "TYPE I",
        "PASV",
        "EPSV",
        "PORT 127,0,0,1,200,1",
        "REST 0",
        "STAT f.txt",
        "ALLO 10",
        "SITE HELP",
        "REIN",
    ] {
        raw.ok(cmd, 530).await;
    }
    raw.ok("FEAT", 211).await;
    raw.ok("SYST", 215).await;
    raw.ok("NOOP", 200).await;
    raw.ok("HELP", 214).await;
    // AUTH is allowed before login; without TLS configured it is 502.
    raw.ok("AUTH TLS", 502).await;
    assert!(!t.path("g.txt").exists());
    assert!(!t.path("d").exists());
    assert_eq!(std::fs::read(t.path("f.txt")).unwrap(), b"data");
    raw.ok("QUIT", 221).await;
    assert!(raw.closed().await);
}

#[tokio::test]
async fn three_failed_passwords_close_the_connection() {
    let t = start(AccessMode::Writable).await;
    let mut raw = Raw::connect(t.addr).await;
    for _ in 0..2 {
        raw.ok("USER tester", 331).await;
        raw.ok("PASS nope", 530).await;
    }
    raw.ok("USER tester", 331).await;
    raw.ok("PASS nope", 421).await;
    assert!(raw.closed().await);
    // Another connection can still log in (below the ban threshold).
    t.login().await.ok("NOOP", 200).await;
}

#[tokio::test]
async fn working_directory_commands() {
    let t = start(AccessMode::Writable).await;
    t.write("plain.txt", b"x");
    let mut raw = t.login().await;
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/\""), "{r:?}");
    let r = raw.ok("MKD we\"ird", 257).await;
    assert!(r.text.starts_with("257 \"/we\"\"ird\""), "{r:?}");
    assert!(t.path("we\"ird").is_dir());
    raw.ok("CWD we\"ird", 250).await;
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/we\"\"ird\""), "{r:?}");
    let r = raw.ok("XMKD sub", 257).await;
    assert!(r.text.starts_with("257 \"/we\"\"ird/sub\""), "{r:?}");
    raw.ok("XCWD sub", 250).await;
    let r = raw.ok("XPWD", 257).await;
    assert!(r.text.starts_with("257 \"/we\"\"ird/sub\""), "{r:?}");
    raw.ok("CDUP", 250).await;
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/we\"\"ird\""), "{r:?}");
    raw.ok("XCUP", 250).await;
    raw.ok("XCUP", 250).await; // at the root already: stays there
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/\""), "{r:?}");
    raw.ok("CWD /we\"ird/sub", 250).await;
    raw.ok("CWD ../..", 250).await;
    raw.ok("CWD missing", 550).await;
    raw.ok("CWD plain.txt", 550).await;
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/\""), "{r:?}");
    raw.ok("CWD", 501).await;
    raw.ok("PWD extra", 501).await;
}

#[tokio::test]
async fn mkd_rmd_dele() {
    let t = start(AccessMode::Writable).await;
    t.write("full/inner.txt", b"x");
    t.write("file.txt", b"x");
    let mut raw = t.login().await;
    raw.ok("MKD a", 257).await;
    raw.ok("MKD a", 550).await;
    raw.ok("MKD missing/parent/b", 550).await;
    raw.ok("MKD", 501).await;
    raw.ok("RMD a", 250).await;
    assert!(!t.path("a").exists());
    raw.ok("XMKD b", 257).await;
    raw.ok("XRMD b", 250).await;
    assert!(!t.path("b").exists());
    raw.ok("RMD a", 550).await;
    raw.ok("RMD full", 550).await;
    assert!(t.path("full/inner.txt").exists());
    raw.ok("RMD /", 550).await;
    raw.ok("RMD file.txt", 550).await;
    raw.ok("DELE full", 550).await;
    raw.ok("DELE full/inner.txt", 250).await;
    assert!(!t.path("full/inner.txt").exists());
    raw.ok("DELE file.txt", 250).await;
    assert!(!t.path("file.txt").exists());
    raw.ok("DELE file.txt", 550).await;
    raw.ok("DELE", 501).await;
    raw.ok("RMD full", 250).await;
}

#[tokio::test]
async fn rnfr_rnto() {
    let t = start(AccessMode::Writable).await;
    t.write("old.txt", b"content");
    t.write("dir/x", b"x");
    let mut raw = t.login().await;
    raw.ok("RNTO new.txt", 503).await;
    raw.ok("RNFR missing.txt", 550).await;
    raw.ok("RNTO new.txt", 503).await;
    raw.ok("RNFR old.txt", 350).await;
    raw.ok("RNTO new.txt", 250).await;
    assert!(!t.path("old.txt").exists());
    assert_eq!(std::fs::read(t.path("new.txt")).unwrap(), b"content");
    // RNTO must come right after RNFR.
    raw.ok("RNFR new.txt", 350).await;
    raw.ok("NOOP", 200).await;
    raw.ok("RNTO other.txt", 503).await;
    assert!(t.path("new.txt").exists());
    // Into a subfolder, and a folder itself.
    raw.ok("RNFR new.txt", 350).await;
    raw.ok("RNTO dir/moved.txt", 250).await;
    assert_eq!(std::fs::read(t.path("dir/moved.txt")).unwrap(), b"content");
    raw.ok("RNFR dir", 350).await;
    raw.ok("RNTO dir2", 250).await;
    assert!(t.path("dir2/x").exists());
    // `name/` is a folder's name: a file cannot take it, a folder can.
    raw.ok("RNFR dir2/moved.txt", 350).await;
    let r = raw.ok("RNTO renamed/", 553).await;
    assert!(r.text.contains("is not a folder"), "{r:?}");
    assert!(t.path("dir2/moved.txt").exists() && !t.path("renamed").exists());
    raw.ok("RNFR dir2", 350).await;
    raw.ok("RNTO dir3/", 250).await;
    assert!(t.path("dir3/moved.txt").exists());
    // A folder cannot go into itself, and the reply says so.
    std::fs::create_dir(t.path("dir3/inner")).unwrap();
    raw.ok("RNFR dir3", 350).await;
    let r = raw.ok("RNTO dir3/inner/dir3", 553).await;
    assert!(r.text.contains("into itself"), "{r:?}");
    assert!(t.path("dir3/moved.txt").exists());
    raw.ok("RNFR /", 550).await;
    raw.ok("RNFR", 501).await;
}

/// A TYPE A upload of many batches (suppaftp sends the bytes as they
/// are): every CRLF becomes LF wherever reads and batches split it, and a
/// CR that no LF follows stays, the last byte's too.
#[tokio::test]
async fn a_large_type_a_upload_is_converted_across_batches() {
    let t = start(AccessMode::Writable).await;
    let (mut wire, mut want) = (Vec::new(), Vec::new());
    for b in pseudo_random(3_000_000, 164) {
        match b % 23 {
            0 => {
                wire.extend_from_slice(b"\r\n");
                want.push(b'\n');
            }
            1 => {
                wire.push(b'\r');
                want.push(b'\r');
            }
            _ => {
                wire.push(b'a' + b % 26);
                want.push(b'a' + b % 26);
            }
        }
    }
    wire.push(b'\r');
    want.push(b'\r');
    let mut ftp = suppaftp::tokio::AsyncFtpStream::connect(t.addr)
        .await
        .unwrap();
    ftp.login(USER, PASS).await.unwrap();
    ftp.transfer_type(suppaftp::types::FileType::Ascii(
        suppaftp::types::FormatControl::Default,
    ))
    .await
    .unwrap();
    ftp.put_file("text.txt", &mut std::io::Cursor::new(wire))
        .await
        .unwrap();
    let got = std::fs::read(t.path("text.txt")).unwrap();
    assert_eq!(got.len(), want.len());
    assert_eq!(sha256(&got), sha256(&want));
    ftp.quit().await.unwrap();
}

#[tokio::test]
async fn size_counts_crlf_in_ascii_mode() {
    let t = start(AccessMode::Writable).await;
    // Two bare LFs and one CRLF: TYPE A adds two bytes.
    t.write("text.txt", b"one\ntwo\r\nthree\n");
    t.write("d/x", b"");
    let mut raw = t.login().await;
    raw.ok("TYPE I", 200).await;
    let r = raw.ok("SIZE text.txt", 213).await;
    assert_eq!(r.text, "213 15");
    raw.ok("TYPE A", 200).await;
    let r = raw.ok("SIZE text.txt", 213).await;
    assert_eq!(r.text, "213 17");
    // And RETR in TYPE A sends exactly that many bytes, without a 150
    // that names the count on disk.
    let wire = b"one\r\ntwo\r\nthree\r\n";
    let data = raw.epsv().await;
    let opening = raw.ok("RETR text.txt", 150).await;
    assert!(!opening.text.contains("15 bytes"), "{opening:?}");
    assert_eq!(read_all(data).await, wire);
    assert_eq!(raw.reply().await.code, 226);
    // REST counts those same octets (RFC 3659 §5): a restart anywhere,
    // even between a CR and its LF, sends the rest of that stream.
    for at in 1..=wire.len() {
        raw.ok(&format!("REST {at}"), 350).await;
        let got = fetch(&mut raw, "RETR text.txt").await;
        assert_eq!(got, wire[at..], "REST {at}");
    }
    raw.ok("REST 18", 350).await;
    raw.ok("RETR text.txt", 554).await;
    raw.ok("SIZE missing", 550).await;
    raw.ok("SIZE d", 550).await;
    raw.ok("SIZE", 501).await;
}

#[tokio::test]
async fn mdtm_is_utc() {
    let t = start(AccessMode::Writable).await;
    t.write("old.txt", b"x");
    let when = UNIX_EPOCH + Duration::from_secs(981_173_106); // 2001-02-03 04:05:06 UTC
    std::fs::File::options()
        .write(true)
        .open(t.path("old.txt"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    t.write("d/x", b"");
    let mut raw = t.login().await;
    let r = raw.ok("MDTM old.txt", 213).await;
    assert_eq!(r.text, "213 20010203040506");
    // A fresh file: within a few seconds of its real mtime.
    t.write("new.txt", b"y");
    let mtime = std::fs::metadata(t.path("new.txt"))
        .unwrap()
        .modified()
        .unwrap();
    let r = raw.ok("MDTM new.txt", 213).await;
    let stamp = &r.text[4..];
    assert_eq!(stamp.len(), 14, "{r:?}");
    let secs = mtime.duration_since(UNIX_EPOCH).unwrap().as_secs();
    assert_eq!(stamp, civil(secs), "{r:?}");
    raw.ok("MDTM missing", 550).await;
    raw.ok("MDTM d", 550).await;
}

/// YYYYMMDDHHMMSS for a Unix time, computed independently of the server
/// (via Python, so the test does not share the server's arithmetic).
fn civil(secs: u64) -> String {
    let out = run(
        "python3",
        &[
            "-c",
            &format!("import time;print(time.strftime('%Y%m%d%H%M%S', time.gmtime({secs})))"),
        ],
    );
    assert!(out.status.success());
    String::from_utf8(out.stdout).unwrap().trim().to_string()
}

fn facts_of(line: &str) -> (Vec<(String, String)>, String) {
    let (facts, name) = line.split_once(' ').unwrap();
    let facts = facts
        .split(';')
        .filter(|f| !f.is_empty())
        .map(|f| {
            let (k, v) = f.split_once('=').unwrap();
            (k.to_ascii_lowercase(), v.to_string())
        })
        .collect();
    (facts, name.to_string())
}

#[tokio::test]
async fn mlst_and_mlsd() {
    let t = start(AccessMode::Writable).await;
    t.write("a.bin", &[7u8; 1234]);
    t.write("sub/inner.txt", b"inner");
    let when = UNIX_EPOCH + Duration::from_secs(981_173_106);
    std::fs::File::options()
        .write(true)
        .open(t.path("a.bin"))
        .unwrap()
        .set_modified(when)
        .unwrap();
    let mut raw = t.login().await;

    let r = raw.ok("MLST a.bin", 250).await;
    let lines = body(&r);
    assert_eq!(lines.len(), 1, "{r:?}");
    let (facts, name) = facts_of(&lines[0]);
    assert_eq!(name, "/a.bin");
    let keys: Vec<&str> = facts.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        keys,
        ["type", "size", "modify", "perm", "unique", "unix.mode"]
    );
    let get = |k: &str| facts.iter().find(|(n, _)| n == k).unwrap().1.clone();
    assert_eq!(get("type"), "file");
    assert_eq!(get("size"), "1234");
    assert_eq!(get("modify"), "20010203040506");
    assert!(get("perm").contains('r') && get("perm").contains('w'));
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.path("a.bin"))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(get("unix.mode"), format!("0{:o}", mode & 0o7777));

    // MLSD: one line per entry, the same facts, names only.
    let text = fetch_text(&mut raw, "MLSD").await;
    let mut seen = BTreeSet::new();
    for line in text.split_terminator("\r\n") {
        let (facts, name) = facts_of(line);
        let ty = facts.iter().find(|(k, _)| k == "type").unwrap().1.clone();
        seen.insert((name, ty));
    }
    let want: BTreeSet<(String, String)> = [("a.bin", "file"), ("sub", "dir")]
        .iter()
        .map(|(a, b)| (a.to_string(), b.to_string()))
        .collect();
    assert_eq!(seen, want, "{text}");
    let text = fetch_text(&mut raw, "MLSD sub").await;
    assert!(text.contains("size=5;"), "{text}");
    assert!(text.ends_with(" inner.txt\r\n"), "{text}");

    // MLSD on a file is a 501; on nothing a 550.
    raw.ok("EPSV", 229).await;
    raw.ok("MLSD a.bin", 501).await;
    raw.ok("MLSD missing", 550).await;

    // OPTS MLST selects the facts shown.
    let r = raw.ok("OPTS MLST type;size;", 200).await;
    assert_eq!(r.text, "200 MLST OPTS type;size;");
    // None selected: no list, and no space before it (RFC 3659 §7.9).
    let r = raw.ok("OPTS MLST bogus;", 200).await;
    assert_eq!(r.text, "200 MLST OPTS");
    raw.ok("OPTS MLST type;size;", 200).await;
    let r = raw.ok("MLST a.bin", 250).await;
    let (facts, _) = facts_of(&body(&r)[0]);
    assert_eq!(
        facts,
        vec![
            ("type".to_string(), "file".to_string()),
            ("size".to_string(), "1234".to_string())
        ]
    );
    let r = raw.ok("FEAT", 211).await;
    assert!(
        r.text
            .contains("MLST type*;size*;modify;perm;unique;unix.mode;"),
        "{r:?}"
    );
    let text = fetch_text(&mut raw, "MLSD").await;
    assert!(text.contains("type=dir; sub\r\n"), "{text}");
    raw.ok("MLST missing", 550).await;
}

#[tokio::test]
async fn list_and_nlst() {
    let t = start(AccessMode::Writable).await;
    t.write("b.txt", b"12345");
    t.write("dir/inner.txt", b"x");
    t.write(".hidden", b"h");
    let mut raw = t.login().await;
    for cmd in ["LIST", "LIST -la", "LIST -l .", "LIST /"] {
        let text = fetch_text(&mut raw, cmd).await;
        let lines: Vec<&str> = text.split_terminator("\r\n").collect();
        assert_eq!(lines.len(), 3, "{cmd}: {text}");
        let file = lines.iter().find(|l| l.ends_with(" b.txt")).unwrap();
        assert!(file.starts_with("-rw"), "{file}");
        let cols: Vec<&str> = file.split_whitespace().collect();
        assert_eq!(cols[4], "5", "{file}");
        let dir = lines.iter().find(|l| l.ends_with(" dir")).unwrap();
        assert!(dir.starts_with('d'), "{dir}");
        assert!(lines.iter().any(|l| l.ends_with(" .hidden")));
    }
    let text = fetch_text(&mut raw, "LIST -a dir").await;
    let lines: Vec<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(lines.len(), 1, "{text}");
    assert!(lines[0].ends_with(" inner.txt"), "{text}");
    // LIST of a single file lists that file.
    let text = fetch_text(&mut raw, "LIST b.txt").await;
    assert!(text.trim_end().ends_with(" b.txt"), "{text}");

    let text = fetch_text(&mut raw, "NLST").await;
    let names: BTreeSet<&str> = text.split_terminator("\r\n").collect();
    assert_eq!(names, BTreeSet::from([".hidden", "b.txt", "dir"]));
    let text = fetch_text(&mut raw, "NLST dir").await;
    assert_eq!(text, "inner.txt\r\n");
    raw.ok("EPSV", 229).await;
    raw.ok("LIST missing", 550).await;
    // The failed LIST used up nothing it could not: a new EPSV works.
    let text = fetch_text(&mut raw, "NLST").await;
    assert!(text.contains("b.txt"));
}

/// A last component that names nothing but is a shell pattern lists the
/// entries it matches, as a shell would: a leading dot must be written,
/// `*` stays in its folder, an existing name is taken as it is, and NLST's
/// names keep the folder part as given, so that they can be fetched.
#[tokio::test]
async fn list_and_nlst_expand_shell_patterns() {
    let t = start(AccessMode::Writable).await;
    for name in [
        "a.jpg",
        "b.jpg",
        "notes.txt",
        ".hidden.jpg",
        "[1].jpg",
        "2024/c.jpg",
        "café.png",
    ] {
        t.write(&format!("photos/{name}"), name.as_bytes());
    }
    let mut raw = t.login().await;
    let names =
        |text: String| -> Vec<String> { text.split_terminator("\r\n").map(String::from).collect() };
    let cases = [
        (
            "NLST photos/*.jpg",
            vec!["photos/[1].jpg", "photos/a.jpg", "photos/b.jpg"],
        ),
        ("NLST /photos/?.jpg", vec!["/photos/a.jpg", "/photos/b.jpg"]),
        ("NLST photos/[ab].*", vec!["photos/a.jpg", "photos/b.jpg"]),
        ("NLST photos/.*.jpg", vec!["photos/.hidden.jpg"]),
        // `?` and classes take a character of a UTF-8 name, not a byte.
        ("NLST photos/caf?.png", vec!["photos/café.png"]),
        ("NLST photos/caf[éè].png", vec!["photos/café.png"]),
        (
            "NLST photos/*.*",
            vec![
                "photos/[1].jpg",
                "photos/a.jpg",
                "photos/b.jpg",
                "photos/café.png",
                "photos/notes.txt",
            ],
        ),
        ("NLST photos/*.none", vec![]),
        // As fnmatch(3) and a shell have them: both negations, classes,
        // escapes, and an unclosed bracket as an ordinary character.
        ("NLST photos/[^a-z]*", vec!["photos/2024", "photos/[1].jpg"]),
        ("NLST photos/[!a-z]*", vec!["photos/2024", "photos/[1].jpg"]),
        ("NLST photos/[[:digit:]]*", vec!["photos/2024"]),
        ("NLST photos/\\[1\\].*", vec!["photos/[1].jpg"]),
        ("NLST photos/[1*", vec!["photos/[1].jpg"]),
        // The name exists: it is listed, not taken as a pattern; a file
        // is named as given, as a pattern's matches are.
        ("NLST photos/[1].jpg", vec!["photos/[1].jpg"]),
        ("NLST /photos/a.jpg", vec!["/photos/a.jpg"]),
    ];
    for (cmd, want) in cases {
        assert_eq!(names(fetch_text(&mut raw, cmd).await), want, "{cmd}");
    }
    raw.ok("CWD photos", 250).await;
    assert_eq!(
        names(fetch_text(&mut raw, "NLST *").await),
        ["2024", "[1].jpg", "a.jpg", "b.jpg", "café.png", "notes.txt"]
    );
    let long = names(fetch_text(&mut raw, "LIST -l *.jpg").await);
    assert_eq!(long.len(), 3, "{long:?}");
    for (line, name) in long.iter().zip([" [1].jpg", " a.jpg", " b.jpg"]) {
        assert!(line.starts_with("-rw") && line.ends_with(name), "{long:?}");
    }
    let r = raw.ok("STAT *.txt", 212).await;
    let lines = body(&r);
    assert!(
        lines.len() == 1 && lines[0].ends_with(" notes.txt"),
        "{r:?}"
    );
    // Patterns stand for a last component only, as given (not one that
    // `/.` or `/` follows), and MLSD takes a folder.
    for cmd in ["NLST */c.jpg", "NLST */.", "NLST 20*/"] {
        raw.ok("EPSV", 229).await;
        raw.ok(cmd, 550).await;
    }
    raw.ok("EPSV", 229).await;
    raw.ok("MLSD *", 550).await;
    raw.ok("EPSV", 229).await;
    raw.ok("LIST missing/*.jpg", 550).await;
}

#[tokio::test]
async fn stat_server_and_paths() {
    let t = start(AccessMode::Writable).await;
    t.write("file.txt", b"abc");
    t.write("dir/one", b"1");
    t.write("dir/two", b"22");
    let mut raw = t.login().await;
    let r = raw.ok("STAT", 211).await;
    assert!(r.text.contains("Logged in as tester"), "{r:?}");
    assert!(r.text.contains("No data transfer in progress"), "{r:?}");
    assert!(r.text.lines().last().unwrap().starts_with("211 "));
    let r = raw.ok("STAT dir", 212).await;
    let lines = body(&r);
    assert_eq!(lines.len(), 2, "{r:?}");
    assert!(
        lines[0].ends_with(" one") && lines[1].ends_with(" two"),
        "{r:?}"
    );
    let r = raw.ok("STAT -la dir", 212).await;
    assert_eq!(body(&r).len(), 2, "{r:?}");
    // Flags alone: the current folder, as `ls -la` would list.
    raw.ok("CWD dir", 250).await;
    let r = raw.ok("STAT -la", 212).await;
    assert_eq!(body(&r).len(), 2, "{r:?}");
    raw.ok("CWD /", 250).await;
    let r = raw.ok("STAT file.txt", 213).await;
    let lines = body(&r);
    assert_eq!(lines.len(), 1, "{r:?}");
    assert!(lines[0].starts_with("-rw") && lines[0].ends_with(" file.txt"));
    raw.ok("STAT missing", 550).await;
}

#[tokio::test]
async fn stat_and_abor_during_a_transfer() {
    let t = start(AccessMode::Writable).await;
    big_sparse(&t, "big.bin", 200 << 20);
    let mut raw = t.login().await;
    let data = raw.epsv().await;
    raw.ok("RETR big.bin", 150).await;
    // The client does not read: the transfer stays in progress.
    let r = raw.ok("STAT", 211).await;
    assert!(r.text.contains("Transfer in progress: /big.bin"), "{r:?}");
    raw.ok("ABOR", 426).await;
    let r = raw.reply().await;
    assert_eq!(r.code, 226, "{r:?}");
    drop(data);
    raw.ok("ABOR", 226).await;
    let r = raw.ok("STAT", 211).await;
    assert!(r.text.contains("No data transfer in progress"), "{r:?}");
    let listing = fetch_text(&mut raw, "NLST").await;
    assert_eq!(listing, "big.bin\r\n");
}

/// RFC 1123 §4.1.2.12: Telnet option negotiation is refused (DO gets
/// WONT, WILL gets DONT) and a subnegotiation is dropped whole; the
/// command after them is answered as usual.
#[tokio::test]
async fn telnet_negotiation_is_refused() {
    let t = start(AccessMode::ReadOnly).await;
    let mut raw = t.login().await;
    raw.send_raw(b"\xff\xfd\x01\xff\xfb\x03\xff\xfa\x18\x01\xff\xf0NOOP\r\n")
        .await;
    let mut refusals = [0u8; 6];
    raw.reader.read_exact(&mut refusals).await.unwrap();
    assert_eq!(&refusals, b"\xff\xfc\x01\xff\xfe\x03");
    assert_eq!(raw.reply().await.code, 200);
}

#[tokio::test]
async fn abor_with_telnet_interrupt_and_urgent_data() {
    let t = start(AccessMode::Writable).await;
    big_sparse(&t, "big.bin", 200 << 20);
    let mut raw = t.login().await;
    raw.ok("ABOR", 226).await;
    let data = raw.epsv().await;
    raw.ok("RETR big.bin", 150).await;
    // Telnet "interrupt process", then the Synch: DM sent as urgent data.
    raw.send_raw(&[0xff, 0xf4, 0xff]).await;
    let fd = raw.writer.as_ref().as_raw_fd();
    let dm = [0xf2u8];
    // SAFETY: a valid socket descriptor and a one-byte buffer.
    let n = unsafe { libc::send(fd, dm.as_ptr().cast(), 1, libc::MSG_OOB) };
    assert_eq!(n, 1, "send MSG_OOB: {}", std::io::Error::last_os_error());
    raw.send_raw(b"ABOR\r\n").await;
    let r = raw.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    let r = raw.reply().await;
    assert_eq!(r.code, 226, "{r:?}");
    drop(data);
    raw.ok("NOOP", 200).await;
    // ftplib's style: the whole ABOR line as urgent data.
    let data = raw.epsv().await;
    raw.ok("RETR big.bin", 150).await;
    let line = b"ABOR\r\n";
    let n = unsafe { libc::send(fd, line.as_ptr().cast(), line.len(), libc::MSG_OOB) };
    assert_eq!(n, line.len() as isize);
    let r = raw.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    let r = raw.reply().await;
    assert_eq!(r.code, 226, "{r:?}");
    drop(data);
    raw.ok("PWD", 257).await;
}

/// An ABOR behind a command that waits for the transfer (ftplib's
/// `abort()` after a NOOP, say) stops the transfer at once; the waiting
/// command is then answered, then the ABOR, in the order sent.
#[tokio::test]
async fn abor_behind_a_queued_command_stops_the_transfer() {
    let t = start(AccessMode::Writable).await;
    big_sparse(&t, "big.bin", 200 << 20);
    let mut raw = t.login().await;
    for queued in ["NOOP", "PWD\r\nTYPE I"] {
        let data = raw.epsv().await;
        raw.ok("RETR big.bin", 150).await;
        // The data connection is never read: the transfer cannot end
        // alone within the reply's 20 s (the stall timeout is 2 minutes).
        raw.send_raw(format!("{queued}\r\nABOR\r\n").as_bytes())
            .await;
        let r = raw.reply().await;
        assert_eq!(r.code, 426, "{r:?}");
        for line in queued.split("\r\n") {
            let r = raw.reply().await;
            assert!(r.code < 300, "{line}: {r:?}");
        }
        let r = raw.reply().await;
        assert_eq!(r.code, 226, "{r:?}");
        drop(data);
    }
    raw.ok("NOOP", 200).await;
}

/// RFC 959: QUIT waits for the transfer. A client that sends it and then
/// closes its side of the control connection (`nc -N`) still gets the
/// whole download, its 226 and its 221; one that only closes its side,
/// after the 150 or before its data connection came, gets the download
/// and the 226.
#[tokio::test]
async fn quit_then_half_close_during_a_download_gets_it_all() {
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(4 << 20, 77);
    t.write("big.bin", &data);
    for (before_150, quit) in [(false, true), (false, false), (true, false)] {
        let mut raw = t.login().await;
        let address = raw.epsv_address().await;
        let mut d = match before_150 {
            true => {
                raw.send_raw(b"RETR big.bin\r\n").await;
                raw.writer.shutdown().await.unwrap();
                tokio::net::TcpStream::connect(address).await.unwrap()
            }
            false => {
                let d = tokio::net::TcpStream::connect(address).await.unwrap();
                raw.ok("RETR big.bin", 150).await;
                if quit {
                    raw.send_raw(b"QUIT\r\n").await;
                }
                raw.writer.shutdown().await.unwrap();
                d
            }
        };
        let mut got = Vec::new();
        d.read_to_end(&mut got).await.unwrap();
        let case = format!("QUIT {quit}, closed before the 150 {before_150}");
        assert!(
            got == data,
            "{case}: got {} of {} bytes",
            got.len(),
            data.len()
        );
        if before_150 {
            assert_eq!(raw.reply().await.code, 150, "{case}");
        }
        assert_eq!(raw.reply().await.code, 226, "{case}");
        if quit {
            assert_eq!(raw.reply().await.code, 221, "{case}");
        }
        assert!(raw.closed().await, "{case}");
    }
}

/// An ABOR behind a command that starts a transfer of its own (a hash)
/// is that transfer's: the running download goes on to its end.
#[tokio::test]
async fn abor_behind_a_hash_is_the_hash_s() {
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(4 << 20, 78);
    t.write("big.bin", &data);
    t.write("small.txt", b"small");
    let mut raw = t.login().await;
    let mut d = raw.epsv().await;
    raw.ok("RETR big.bin", 150).await;
    raw.send_raw(b"XCRC small.txt\r\nABOR\r\n").await;
    let mut got = Vec::new();
    d.read_to_end(&mut got).await.unwrap();
    assert!(got == data, "got {} of {} bytes", got.len(), data.len());
    assert_eq!(raw.reply().await.code, 226);
    // The hash ended before the ABOR came (250, then 226), or was stopped
    // by it (426, then 226).
    let hash = raw.reply().await;
    assert!(matches!(hash.code, 250 | 426), "{hash:?}");
    assert_eq!(raw.reply().await.code, 226);
    raw.ok("NOOP", 200).await;
}

#[tokio::test]
async fn help_feat_syst_noop_opts() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    let r = raw.ok("HELP", 214).await;
    assert!(r.text.contains("RETR") && r.text.contains("MLSD"), "{r:?}");
    let r = raw.ok("HELP retr", 214).await;
    assert!(r.text.contains("RETR"), "{r:?}");
    raw.ok("HELP MKD", 214).await;
    let r = raw.ok("FEAT", 211).await;
    let feats: BTreeSet<String> = body(&r)
        .iter()
        .map(|l| l.split_whitespace().next().unwrap().to_string())
        .collect();
    let want: BTreeSet<String> = [
        "AVBL", "CLNT", "EPRT", "EPSV", "HASH", "HOST", "LANG", "MDTM", "MFF", "MFMT", "MLST",
        "MODE", "REST", "SIZE", "TVFS", "UTF8", "XCRC", "XMD5", "XSHA1", "XSHA256", "XSHA512",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    assert_eq!(feats, want, "{r:?}");
    assert!(body(&r).contains(&"REST STREAM".to_string()), "{r:?}");
    raw.ok("OPTS UTF8 ON", 200).await;
    raw.ok("OPTS BOGUS", 501).await;
    let r = raw.ok("SYST", 215).await;
    assert_eq!(r.text, "215 UNIX Type: L8");
    raw.ok("NOOP", 200).await;
}

#[tokio::test]
async fn type_mode_stru_allo_site_smnt() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    for cmd in ["TYPE A", "TYPE A N", "TYPE I", "TYPE L 8", "type i"] {
        raw.ok(cmd, 200).await;
    }
    raw.ok("TYPE E", 504).await;
    raw.ok("TYPE", 501).await;
    raw.ok("MODE S", 200).await;
    raw.ok("MODE B", 504).await;
    raw.ok("STRU F", 200).await;
    raw.ok("STRU R", 504).await;
    raw.ok("ALLO 1000", 202).await;
    raw.ok("SITE HELP", 214).await;
    raw.ok("SITE X", 500).await;
    raw.ok("SMNT /mnt", 502).await;
    raw.ok("BOGUS", 500).await;
    raw.ok("XYZZY arg", 500).await;
    for cmd in [
        "RETR", "STOR", "APPE", "DELE", "MKD", "RMD", "RNFR", "RNTO", "SIZE", "MDTM", "CWD",
        "USER", "REST", "PORT", "EPRT",
    ] {
        raw.ok(cmd, 501).await;
    }
    raw.ok("NOOP", 200).await;
}

#[tokio::test]
async fn rein_logs_out() {
    let t = start(AccessMode::Writable).await;
    t.write("sub/x", b"x");
    let mut raw = t.login().await;
    raw.ok("CWD sub", 250).await;
    raw.ok("REIN", 220).await;
    raw.ok("PWD", 530).await;
    raw.ok("LIST", 530).await;
    raw.ok("USER tester", 331).await;
    raw.ok("PASS s3cret-pass", 230).await;
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/\""), "{r:?}");
}

#[tokio::test]
async fn quit_closes() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    raw.ok("QUIT", 221).await;
    assert!(raw.closed().await);
}

#[tokio::test]
async fn quit_during_a_transfer_waits_for_it() {
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(8 << 20, 11);
    t.write("f.bin", &data);
    let mut raw = t.login().await;
    let sock = raw.epsv().await;
    raw.ok("RETR f.bin", 150).await;
    raw.send_raw(b"QUIT\r\n").await;
    let got = read_all(sock).await;
    assert_eq!(sha256(&got), sha256(&data));
    let r = raw.reply().await;
    assert_eq!(r.code, 226, "{r:?}");
    let r = raw.reply().await;
    assert_eq!(r.code, 221, "{r:?}");
    assert!(raw.closed().await);
}

/// A small file goes whole into the data connection before its 150, so
/// the 150 and the 226 leave in one write (the client is woken once); the
/// bytes, the events and the file are as for any download. What a small
/// window does not take at once, and a larger file, go after the 150.
#[tokio::test]
async fn a_small_download_is_answered_150_and_226_at_once() {
    let t = start(AccessMode::Writable).await;
    let mut events = t.server.subscribe();
    let mut raw = t.login().await;
    // (file, its bytes, a narrow data connection, control writes)
    let cases = [
        ("small.bin", pseudo_random(16 << 10, 5), false, 1),
        ("empty.bin", Vec::new(), false, 1),
        ("narrow.bin", pseudo_random(64 << 10, 7), true, 2),
        ("big.bin", pseudo_random(1 << 20, 6), false, 2),
    ];
    for (name, payload, narrow, writes) in cases {
        t.write(name, &payload);
        let data = match narrow {
            true => raw.epsv_narrow().await,
            false => raw.epsv().await,
        };
        let before = data_segments_in(raw.writer.as_ref());
        raw.ok(&format!("RETR {name}"), 150).await;
        assert_eq!(sha256(&read_all(data).await), sha256(&payload), "{name}");
        assert_eq!(raw.reply().await.code, 226);
        let segments = data_segments_in(raw.writer.as_ref()) - before;
        assert_eq!(segments, writes, "{name}: control writes");
        let (mut started, mut finished) = (false, None);
        while finished.is_none() {
            match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
                Ok(Ok(ftpshare::Event::TransferStarted { path, size, .. })) => {
                    assert_eq!(
                        (path.as_str(), size),
                        (&*format!("/{name}"), Some(payload.len() as u64))
                    );
                    started = true;
                }
                Ok(Ok(ftpshare::Event::TransferFinished {
                    path, bytes, error, ..
                })) => {
                    finished = Some((path, bytes, error));
                }
                Ok(Ok(_)) => {}
                other => panic!("no transfer events: {other:?}"),
            }
        }
        assert!(started, "no TransferStarted before TransferFinished");
        assert_eq!(
            finished,
            Some((format!("/{name}"), payload.len() as u64, None))
        );
    }
}

/// A small download whose 150 and 226 could not be sent is not complete,
/// though its bytes left: here the client resets its control connection
/// while the server waits for the data connection, then connects it.
#[tokio::test]
async fn a_small_download_without_its_replies_is_not_complete() {
    let t = start(AccessMode::Writable).await;
    let mut events = t.server.subscribe();
    let payload = pseudo_random(16 << 10, 8);
    t.write("small.bin", &payload);
    let mut raw = t.login().await;
    let addr = raw.epsv_address().await;
    raw.writer.write_all(b"RETR small.bin\r\n").await.unwrap();
    // A zero linger makes the close a reset.
    socket2::SockRef::from(raw.writer.as_ref())
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(raw);
    let data = TcpStream::connect(addr).await.unwrap();
    assert_eq!(sha256(&read_all(data).await), sha256(&payload));
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(ftpshare::Event::TransferFinished { bytes, error, .. })) => {
                assert_eq!(bytes, payload.len() as u64);
                assert!(error.is_some(), "reported as a complete download");
                break;
            }
            Ok(Ok(_)) => {}
            other => panic!("no transfer event: {other:?}"),
        }
    }
}

/// A drop box makes the folders on an upload's way, and MKD's: each one
/// made is announced, from the top down, and none that was there already.
#[tokio::test]
async fn every_folder_a_drop_box_makes_is_announced() {
    let t = start(AccessMode::UploadOnly).await;
    std::fs::create_dir(t.path("there")).unwrap();
    std::os::unix::fs::symlink("nowhere", t.path("there/dangling")).unwrap();
    let mut events = t.server.subscribe();
    let mut raw = t.login().await;
    assert_eq!(try_stor(&mut raw, "STOR there/a/b/c.txt", b"c").await, 226);
    raw.ok("MKD there/a/p/q", 257).await;
    raw.ok("MKD there/a/p/q", 257).await;
    // A name taken by anything answers as a free one would: a drop box
    // learns nothing of it.
    raw.ok("MKD there/dangling", 257).await;
    assert_eq!(std::fs::read(t.path("there/a/b/c.txt")).unwrap(), b"c");
    raw.ok("QUIT", 221).await;
    let mut made = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(10), events.recv()).await {
            Ok(Ok(ftpshare::Event::Mkdir { path, .. })) => made.push(path),
            Ok(Ok(ftpshare::Event::Disconnected { .. })) => break,
            Ok(Ok(_)) => {}
            other => panic!("no disconnect event: {other:?}"),
        }
    }
    assert_eq!(
        made,
        ["/there/a", "/there/a/b", "/there/a/p", "/there/a/p/q"]
    );
}

/// Segments with data a socket has received (Linux's `tcpi_data_segs_in`,
/// past the part of `struct tcp_info` the libc crate declares): on
/// loopback, with TCP_NODELAY, one per write of the server's.
fn data_segments_in(socket: &TcpStream) -> u32 {
    const DATA_SEGS_IN: usize = 152;
    let mut info = [0u8; 256];
    let mut len = info.len() as libc::socklen_t;
    // SAFETY: the buffer and its length are valid for the call.
    let rc = unsafe {
        libc::getsockopt(
            socket.as_raw_fd(),
            libc::IPPROTO_TCP,
            libc::TCP_INFO,
            info.as_mut_ptr().cast(),
            &mut len,
        )
    };
    assert!(
        rc == 0 && len as usize >= DATA_SEGS_IN + 4,
        "TCP_INFO: {rc} {len}"
    );
    u32::from_ne_bytes(info[DATA_SEGS_IN..DATA_SEGS_IN + 4].try_into().unwrap())
}

#[tokio::test]
async fn pasv_is_per_transfer() {
    let t = start(AccessMode::Writable).await;
    let payload = pseudo_random(100_000, 3);
    t.write("f.bin", &payload);
    let mut raw = t.login().await;
    let data = pasv(&mut raw).await;
    raw.ok("RETR f.bin", 150).await;
    assert_eq!(sha256(&read_all(data).await), sha256(&payload));
    assert_eq!(raw.reply().await.code, 226);
    // The listener is used up: a second transfer needs a new PASV.
    raw.ok("RETR f.bin", 425).await;
    let data = pasv(&mut raw).await;
    raw.ok("RETR f.bin", 150).await;
    assert_eq!(sha256(&read_all(data).await), sha256(&payload));
    assert_eq!(raw.reply().await.code, 226);
}

#[tokio::test]
async fn epsv_variants() {
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"hello");
    let mut raw = t.login().await;
    let r = raw.ok("EPSV 1", 229).await;
    assert!(r.text.contains("(|||"), "{r:?}");
    raw.ok("EPSV 2", 522).await;
    raw.ok("EPSV 7", 522).await;
    assert_eq!(fetch(&mut raw, "RETR f.txt").await, b"hello");
    raw.ok("EPSV ALL", 200).await;
    raw.ok("PASV", 503).await;
    raw.ok("PORT 127,0,0,1,200,10", 503).await;
    raw.ok("EPRT |1|127.0.0.1|51210|", 503).await;
    assert_eq!(fetch(&mut raw, "RETR f.txt").await, b"hello");
}

#[tokio::test]
async fn port_and_eprt() {
    let t = start(AccessMode::Writable).await;
    let payload = pseudo_random(500_000, 5);
    t.write("f.bin", &payload);
    let mut raw = t.login().await;
    for use_eprt in [false, true] {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        if use_eprt {
            raw.ok(&format!("EPRT |1|127.0.0.1|{port}|"), 200).await;
        } else {
            raw.ok(
                &format!("PORT 127,0,0,1,{},{}", port >> 8, port & 0xff),
                200,
            )
            .await;
        }
        raw.send_raw(b"RETR f.bin\r\n").await;
        let (sock, from) = listener.accept().await.unwrap();
        assert_eq!(from.ip(), std::net::IpAddr::from([127, 0, 0, 1]));
        assert_eq!(raw.reply().await.code, 150);
        assert_eq!(sha256(&read_all(sock).await), sha256(&payload));
        assert_eq!(raw.reply().await.code, 226);
    }
    // Active upload too.
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    raw.ok(&format!("EPRT |1|127.0.0.1|{port}|"), 200).await;
    raw.send_raw(b"STOR up.bin\r\n").await;
    let (mut sock, _) = listener.accept().await.unwrap();
    assert_eq!(raw.reply().await.code, 150);
    sock.write_all(&payload).await.unwrap();
    sock.shutdown().await.unwrap();
    drop(sock);
    assert_eq!(raw.reply().await.code, 226);
    assert_eq!(
        sha256(&std::fs::read(t.path("up.bin")).unwrap()),
        sha256(&payload)
    );

    // Never to a third party, never to a privileged port (RFC 2577 §3
    // suggests 504 for that one).
    raw.ok("PORT 10,1,2,3,200,10", 501).await;
    raw.ok("PORT 127,0,0,2,200,10", 501).await;
    raw.ok("PORT 127,0,0,1,0,21", 504).await;
    raw.ok("PORT 127,0,0,1,3,255", 504).await;
    raw.ok("EPRT |1|10.1.2.3|5000|", 501).await;
    raw.ok("EPRT |1|127.0.0.1|22|", 504).await;
    raw.ok("EPRT |2|::1|5000|", 501).await;
    raw.ok("EPRT |3|1.2.3.4|5000|", 522).await;
    raw.ok("PORT 127,0,0,1", 501).await;
    raw.ok("EPRT garbage", 501).await;
    // A refused PORT leaves no plan behind.
    raw.ok("RETR f.bin", 425).await;
}

#[tokio::test]
async fn rest_resumes_retr_and_stor() {
    let t = start(AccessMode::Writable).await;
    let payload = pseudo_random(300_000, 9);
    t.write("f.bin", &payload);
    let mut raw = t.login().await;
    raw.ok("TYPE I", 200).await;
    raw.ok("REST 123456", 350).await;
    let got = fetch(&mut raw, "RETR f.bin").await;
    assert_eq!(sha256(&got), sha256(&payload[123_456..]));
    // REST applies to one transfer only, and any other command (even a
    // refused or garbled one) ends it.
    let got = fetch(&mut raw, "RETR f.bin").await;
    assert_eq!(sha256(&got), sha256(&payload));
    for other in ["NOOP", "RETR", "BOGUS", "SIZE missing"] {
        raw.ok("REST 10", 350).await;
        let _ = raw.cmd(other).await;
        let got = fetch(&mut raw, "RETR f.bin").await;
        assert_eq!(sha256(&got), sha256(&payload), "after {other}");
    }
    // At the very end: nothing to send, still a success.
    raw.ok(&format!("REST {}", payload.len()), 350).await;
    assert!(fetch(&mut raw, "RETR f.bin").await.is_empty());
    raw.ok(&format!("REST {}", payload.len() + 1), 350).await;
    raw.ok("EPSV", 229).await;
    raw.ok("RETR f.bin", 554).await;
    raw.ok("REST abc", 501).await;

    // Resuming an upload past the end of what is there: 554, file intact.
    t.write("short.bin", b"12345");
    raw.ok("REST 6", 350).await;
    raw.ok("EPSV", 229).await;
    raw.ok("STOR short.bin", 554).await;
    assert_eq!(std::fs::read(t.path("short.bin")).unwrap(), b"12345");

    // Resumed upload: the first 100000 bytes are there, the rest comes.
    t.write("part.bin", &payload[..100_000]);
    raw.ok("REST 100000", 350).await;
    let (_, done) = put(&mut raw, "STOR part.bin", &payload[100_000..]).await;
    assert_eq!(done.code, 226, "{done:?}");
    assert_eq!(
        sha256(&std::fs::read(t.path("part.bin")).unwrap()),
        sha256(&payload)
    );
}

#[tokio::test]
async fn stor_replaces_atomically_and_types() {
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"old");
    let mut raw = t.login().await;
    let payload = pseudo_random(1 << 20, 21);
    let (_, done) = put(&mut raw, "STOR f.txt", &payload).await;
    assert_eq!(done.code, 226);
    assert_eq!(
        sha256(&std::fs::read(t.path("f.txt")).unwrap()),
        sha256(&payload)
    );
    raw.ok("TYPE A", 200).await;
    let (_, done) = put(&mut raw, "STOR text.txt", b"a\r\nb\r\nc\rd\r\n").await;
    assert_eq!(done.code, 226);
    assert_eq!(std::fs::read(t.path("text.txt")).unwrap(), b"a\nb\nc\rd\n");
    raw.ok("TYPE I", 200).await;
    raw.ok("MKD d", 257).await;
    raw.ok("EPSV", 229).await;
    raw.ok("STOR d", 550).await;
    raw.ok("STOR missing/x", 550).await;
    assert!(t.path("d").is_dir());
    // No temporary files left behind.
    let names: Vec<String> = std::fs::read_dir(t.root())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    let set: BTreeSet<&str> = names.iter().map(String::as_str).collect();
    assert_eq!(set, BTreeSet::from(["d", "f.txt", "text.txt"]));
}

#[tokio::test]
async fn stou_never_overwrites() {
    let t = start(AccessMode::Writable).await;
    t.write("taken.txt", b"keep me");
    let mut raw = t.login().await;
    let (opening, done) = put(&mut raw, "STOU", b"first").await;
    assert_eq!(done.code, 226, "{done:?}");
    let name = opening
        .text
        .strip_prefix("150 FILE: ")
        .unwrap_or_else(|| panic!("{opening:?}"))
        .to_string();
    assert_eq!(std::fs::read(t.path(&name)).unwrap(), b"first");
    let (opening, done) = put(&mut raw, "STOU taken.txt", b"second").await;
    assert_eq!(done.code, 226, "{done:?}");
    let name2 = opening.text.strip_prefix("150 FILE: ").unwrap().to_string();
    assert_ne!(name2, "taken.txt");
    assert_eq!(std::fs::read(t.path("taken.txt")).unwrap(), b"keep me");
    assert_eq!(std::fs::read(t.path(&name2)).unwrap(), b"second");
    let (opening, _) = put(&mut raw, "STOU taken.txt", b"third").await;
    let name3 = opening.text.strip_prefix("150 FILE: ").unwrap().to_string();
    assert!(name3 != name2 && name3 != "taken.txt");
    assert_eq!(std::fs::read(t.path(&name3)).unwrap(), b"third");
    assert_eq!(std::fs::read(t.path(&name2)).unwrap(), b"second");

    // In another folder, the name comes with the folder part as given,
    // so that it names the file from where the client is (RFC 1123).
    t.write("d1/n.txt", b"taken");
    let (opening, done) = put(&mut raw, "STOU d1/n.txt", b"fourth").await;
    assert_eq!(opening.text, "150 FILE: d1/n.1.txt", "{opening:?}");
    assert_eq!(done.text, "226 Transfer complete; stored as d1/n.1.txt");
    assert_eq!(std::fs::read(t.path("d1/n.1.txt")).unwrap(), b"fourth");
    assert_eq!(std::fs::read(t.path("d1/n.txt")).unwrap(), b"taken");
}

#[tokio::test]
async fn appe_appends_or_creates() {
    let t = start(AccessMode::Writable).await;
    t.write("log.txt", b"one\n");
    let mut raw = t.login().await;
    let (_, done) = put(&mut raw, "APPE log.txt", b"two\n").await;
    assert_eq!(done.code, 226);
    assert_eq!(std::fs::read(t.path("log.txt")).unwrap(), b"one\ntwo\n");
    let (_, done) = put(&mut raw, "APPE new.txt", b"fresh").await;
    assert_eq!(done.code, 226);
    assert_eq!(std::fs::read(t.path("new.txt")).unwrap(), b"fresh");
}

#[tokio::test]
async fn a_foreign_data_connection_is_ignored() {
    // A passive port only serves the client's own address; here the
    // client is 127.0.0.1 and an intruder from 127.0.0.2 is dropped.
    let t = start(AccessMode::Writable).await;
    t.write("f.txt", b"secret");
    let mut raw = t.login().await;
    let r = raw.ok("EPSV", 229).await;
    let port: u16 = r.text.split('|').nth(3).unwrap().parse().unwrap();
    let intruder = tokio::net::TcpSocket::new_v4().unwrap();
    intruder
        .bind(SocketAddr::from(([127, 0, 0, 2], 0)))
        .unwrap();
    let mut intruder = intruder
        .connect(SocketAddr::from(([127, 0, 0, 1], port)))
        .await
        .unwrap();
    raw.send_raw(b"RETR f.txt\r\n").await;
    let mine = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(raw.reply().await.code, 150);
    assert_eq!(read_all(mine).await, b"secret");
    assert_eq!(raw.reply().await.code, 226);
    let mut got = Vec::new();
    use tokio::io::AsyncReadExt;
    let _ = tokio::time::timeout(Duration::from_secs(5), intruder.read_to_end(&mut got)).await;
    assert!(got.is_empty());
}

#[tokio::test]
async fn lang_and_empty_lines() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    raw.ok("LANG", 200).await;
    raw.ok("LANG EN", 200).await;
    raw.ok("LANG FR", 504).await;
    // Not a language tag at all (RFC 2640 §4.1: a syntax error).
    raw.ok("LANG 123!!", 501).await;
    raw.ok("LANG EN FR", 501).await;
    raw.ok("LANG en-US", 200).await;
    let r = raw.cmd("").await;
    assert_eq!(r.code, 500);
    raw.ok("NOOP", 200).await;
}

/// A name that reads like another's escaped form (`100%FF.txt` beside the
/// name with the byte 0xFF) is listed escaped itself: every listed name is
/// different, and each fetches its own file.
#[tokio::test]
async fn names_that_look_escaped_stay_apart() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = start(AccessMode::ReadOnly).await;
    let files: [(&[u8], &[u8]); 3] = [
        (b"100%FF.txt", b"literal"),
        (b"100\xff.txt", b"byte"),
        (b"my%20file.txt", b"spaced"),
    ];
    for (name, body) in files {
        std::fs::write(t.root().join(OsStr::from_bytes(name)), body).unwrap();
    }
    let mut raw = t.login().await;
    let listed = fetch_text(&mut raw, "NLST").await;
    assert_eq!(listed, "100%25FF.txt\r\n100%FF.txt\r\nmy%20file.txt\r\n");
    for (shown, body) in [
        ("100%25FF.txt", &b"literal"[..]),
        ("100%FF.txt", b"byte"),
        ("my%20file.txt", b"spaced"),
    ] {
        assert_eq!(fetch(&mut raw, &format!("RETR {shown}")).await, body);
    }
}

#[tokio::test]
async fn non_utf8_names_round_trip_through_every_command() {
    use std::ffi::OsStr;
    use std::os::unix::ffi::OsStrExt;
    let t = start(AccessMode::Writable).await;
    let dir = t.root().join(OsStr::from_bytes(b"d\xe9"));
    std::fs::create_dir(&dir).unwrap();
    let body = pseudo_random(5_000, 71);
    std::fs::write(dir.join(OsStr::from_bytes(b"f\xff")), &body).unwrap();
    let mut raw = t.login().await;
    assert_eq!(fetch_text(&mut raw, "NLST").await, "d%E9\r\n");
    raw.ok("CWD d%E9", 250).await;
    let r = raw.ok("PWD", 257).await;
    assert!(r.text.starts_with("257 \"/d%E9\""), "{r:?}");
    assert_eq!(fetch_text(&mut raw, "NLST").await, "f%FF\r\n");
    let text = fetch_text(&mut raw, "MLSD").await;
    assert!(text.ends_with("; f%FF\r\n"), "{text}");
    let r = raw.ok("SIZE f%FF", 213).await;
    assert_eq!(r.text, "213 5000");
    raw.ok("MDTM f%FF", 213).await;
    assert_eq!(sha256(&fetch(&mut raw, "RETR f%FF").await), sha256(&body));
    let (_, done) = put(&mut raw, "STOR new%FE", b"new").await;
    assert_eq!(done.code, 226);
    assert_eq!(
        std::fs::read(dir.join(OsStr::from_bytes(b"new\xfe"))).unwrap(),
        b"new"
    );
    raw.ok("RNFR f%FF", 350).await;
    raw.ok("RNTO g%FD", 250).await;
    assert!(dir.join(OsStr::from_bytes(b"g\xfd")).exists());
    raw.ok("DELE g%FD", 250).await;
    raw.ok("DELE new%FE", 250).await;
    raw.ok("CDUP", 250).await;
    raw.ok("RMD d%E9", 250).await;
    assert!(!dir.exists());
}

#[tokio::test]
async fn stat_and_quit_during_an_upload() {
    let t = start(AccessMode::Writable).await;
    let mut raw = t.login().await;
    let mut data = raw.epsv().await;
    raw.ok("STOR up.bin", 150).await;
    let payload = pseudo_random(3 << 20, 81);
    data.write_all(&payload[..1 << 20]).await.unwrap();
    let r = raw.ok("STAT", 211).await;
    assert!(r.text.contains("Transfer in progress: /up.bin"), "{r:?}");
    // QUIT waits for the upload to finish, which then completes normally.
    raw.send_raw(b"QUIT\r\n").await;
    data.write_all(&payload[1 << 20..]).await.unwrap();
    data.shutdown().await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.code, 226);
    assert_eq!(raw.reply().await.code, 221);
    assert!(raw.closed().await);
    assert_eq!(
        sha256(&std::fs::read(t.path("up.bin")).unwrap()),
        sha256(&payload)
    );
}

#[tokio::test]
async fn pipelined_and_fragmented_commands() {
    let t = start(AccessMode::Writable).await;
    let mut raw = Raw::connect(t.addr).await;
    raw.send_raw(b"USER tester\r\nPASS s3cret-pass\r\nPWD\r\nNOOP\nSYST\r\n")
        .await;
    for code in [331, 230, 257, 200, 215] {
        let r = raw.reply().await;
        assert_eq!(r.code, code, "{r:?}");
    }
    for b in b"MKD by-bytes\r\n" {
        raw.send_raw(&[*b]).await;
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    assert_eq!(raw.reply().await.code, 257);
    assert!(t.path("by-bytes").is_dir());
}

/// RFC 959 §3.1.1.1: until the client sends TYPE, transfers are ASCII, so
/// a bare LF goes out as CRLF; TYPE I then sends the bytes unchanged.
#[tokio::test]
async fn the_default_type_is_ascii() {
    let t = start(AccessMode::ReadOnly).await;
    t.write("lines.txt", b"one\ntwo\r\nthree\n");
    let mut raw = Raw::connect(t.addr).await;
    raw.ok("USER tester", 331).await;
    raw.ok("PASS s3cret-pass", 230).await;
    let stat = raw.ok("STAT", 211).await;
    assert!(stat.text.contains("TYPE: ASCII"), "{stat:?}");
    let data = raw.epsv().await;
    raw.ok("RETR lines.txt", 150).await;
    assert_eq!(read_all(data).await, b"one\r\ntwo\r\nthree\r\n");
    assert_eq!(raw.reply().await.code, 226);
    raw.ok("TYPE I", 200).await;
    let data = raw.epsv().await;
    raw.ok("RETR lines.txt", 150).await;
    assert_eq!(read_all(data).await, b"one\ntwo\r\nthree\n");
    assert_eq!(raw.reply().await.code, 226);
}

/// Anonymous users may only read, and a drop box has nothing to read: in
/// upload-only mode the anonymous login is refused outright.
#[tokio::test]
async fn anonymous_users_get_nothing_from_a_drop_box() {
    let t = start_with(|b| b.access(AccessMode::UploadOnly).anonymous(true)).await;
    t.write("secret.txt", b"someone's upload");
    for user in ["anonymous", "ftp"] {
        let mut raw = Raw::connect(t.addr).await;
        raw.ok(&format!("USER {user}"), 331).await;
        raw.ok("PASS guest@example.org", 530).await;
        raw.ok("LIST", 530).await;
    }
}

/// An IPv6 public host is bracketed in URLs and does not stop PASV from
/// answering over IPv4 (PASV can only carry IPv4 addresses).
#[tokio::test]
async fn an_ipv6_public_host_works() {
    let t = start_with(|b| b.public_host("2001:db8::7")).await;
    assert!(
        t.server.url().contains("@[2001:db8::7]:"),
        "{}",
        t.server.url()
    );
    let mut raw = t.login().await;
    let r = raw.ok("PASV", 227).await;
    assert!(r.text.contains("(127,0,0,1,"), "{r:?}");
}

/// A drop box gives no existence oracle: MKD and CWD answer alike whether
/// a name exists or not (folders on the way are made, uploads into a
/// folder entered by CWD make it), and FEAT lists only what upload-only
/// sessions may use.
#[tokio::test]
async fn a_drop_box_answers_alike_whether_a_name_exists() {
    let t = start(AccessMode::UploadOnly).await;
    t.write("taken/inner.txt", b"someone's upload");
    t.write("plain.txt", b"another");
    let mut raw = Raw::connect(t.addr).await;
    let feat_before_login = raw.ok("FEAT", 211).await.text;
    raw.ok(&format!("USER {USER}"), 331).await;
    raw.ok(&format!("PASS {PASS}"), 230).await;
    let feat = raw.ok("FEAT", 211).await.text;
    assert_eq!(feat, feat_before_login);
    let lines: Vec<&str> = feat.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        ["AVBL", "CLNT", "EPRT", "EPSV", "HOST", "LANG EN*", "MODE Z", "TVFS", "UTF8", "211 End"],
        "{feat}"
    );
    // Each refused feature really is refused.
    raw.ok("SIZE plain.txt", 550).await;
    raw.ok("MDTM plain.txt", 550).await;
    raw.ok("MLST plain.txt", 550).await;

    let shape = |r: Reply, name: &str| (r.code, r.text.replace(name, "NAME"));
    for verb in ["MKD", "CWD"] {
        let mut answers = Vec::new();
        for name in ["/taken", "/plain.txt", "/fresh", "/gone/deeper"] {
            let r = raw.cmd(&format!("{verb} {name}")).await;
            answers.push(shape(r, name));
            raw.ok("CWD /", 250).await;
        }
        assert!(
            answers.iter().all(|a| *a == answers[0]),
            "{verb}: {answers:?}"
        );
    }
    assert!(t.path("fresh").is_dir() && t.path("gone/deeper").is_dir());
    assert!(t.path("plain.txt").is_file());
    // The existing folder's content is untouched.
    assert_eq!(
        std::fs::read(t.path("taken/inner.txt")).unwrap(),
        b"someone's upload"
    );

    // Entering a folder that does not exist, then uploading there.
    raw.ok("CWD /new/deeper", 250).await;
    raw.ok("TYPE I", 200).await;
    let mut data = raw.epsv().await;
    raw.ok("STOR up.bin", 150).await;
    data.write_all(b"dropped").await.unwrap();
    drop(data);
    assert_eq!(raw.reply().await.code, 226);
    assert_eq!(
        std::fs::read(t.path("new/deeper/up.bin")).unwrap(),
        b"dropped"
    );
}

/// Read-only and writable sessions still learn that a folder is missing
/// or taken: the oracle-free answers are for drop boxes only.
#[tokio::test]
async fn outside_a_drop_box_missing_and_taken_names_are_reported() {
    let t = start(AccessMode::Writable).await;
    t.write("taken/inner.txt", b"x");
    let mut raw = t.login().await;
    raw.ok("MKD taken", 550).await;
    raw.ok("CWD missing", 550).await;
    raw.ok("MKD gone/deeper", 550).await;
    let feat = raw.ok("FEAT", 211).await.text;
    for line in ["MDTM", "MLST ", "REST STREAM", "SIZE"] {
        assert!(feat.contains(line), "{line}: {feat}");
    }
}
