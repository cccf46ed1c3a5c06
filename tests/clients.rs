//! Real FTP clients against the library server: curl, lftp and Python's
//! ftplib. Every transferred file is checked by sha256, on both sides.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::*;
use ftpshare::AccessMode;

fn file_sha(p: impl AsRef<Path>) -> String {
    let p = p.as_ref();
    sha256(&std::fs::read(p).unwrap_or_else(|e| panic!("{}: {e}", p.display())))
}

/// Percent-encodes a path for a URL (keeping `/`).
fn url_path(p: &[u8]) -> String {
    p.iter()
        .map(|&b| {
            if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

fn strs(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

macro_rules! need {
    ($prog:expr) => {
        if !need($prog) {
            return;
        }
    };
}

async fn curl(args: &[&str]) -> String {
    let mut v = strs(&["-sS", "--max-time", "50"]);
    v.extend(strs(args));
    let out = client("curl", v.clone()).await;
    success(&format!("curl {v:?}"), &out)
}

#[tokio::test]
async fn curl_list_download_upload() {
    need!("curl");
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(3 << 20, 101);
    t.write("data.bin", &data);
    t.write("sub/inner.txt", b"inner\n");
    let local = tempfile::tempdir().unwrap();

    let names = curl(&["--list-only", &t.url("")]).await;
    let names: BTreeSet<&str> = names.lines().collect();
    assert_eq!(names, BTreeSet::from(["data.bin", "sub"]));
    let long = curl(&[&t.url("")]).await;
    let line = long.lines().find(|l| l.ends_with(" data.bin")).unwrap();
    assert!(line.starts_with("-rw") && line.contains(&data.len().to_string()));
    let long = curl(&[&t.url("sub/")]).await;
    assert!(long.trim_end().ends_with(" inner.txt"), "{long}");

    for extra in [&[][..], &["--disable-epsv"][..]] {
        let dest = local.path().join("down.bin");
        let mut args = vec!["-o", dest.to_str().unwrap()];
        args.extend_from_slice(extra);
        let url = t.url("data.bin");
        args.push(&url);
        curl(&args).await;
        assert_eq!(file_sha(&dest), sha256(&data), "{extra:?}");
        std::fs::remove_file(&dest).unwrap();
    }

    // Each of curl's ways of walking to a nested file.
    t.write("a/b c/deep.bin", &data[..100_000]);
    for method in ["multicwd", "singlecwd", "nocwd"] {
        let dest = local.path().join(method);
        let url = t.url(&url_path(b"a/b c/deep.bin"));
        curl(&["--ftp-method", method, "-o", dest.to_str().unwrap(), &url]).await;
        assert_eq!(file_sha(&dest), sha256(&data[..100_000]), "{method}");
    }

    let up = pseudo_random(2 << 20, 102);
    let src = local.path().join("up.bin");
    std::fs::write(&src, &up).unwrap();
    curl(&["-T", src.to_str().unwrap(), &t.url("sub/up.bin")]).await;
    assert_eq!(file_sha(t.path("sub/up.bin")), sha256(&up));
    // Replacing an existing file.
    curl(&["-T", src.to_str().unwrap(), &t.url("data.bin")]).await;
    assert_eq!(file_sha(t.path("data.bin")), sha256(&up));
    // --ftp-create-dirs makes the folders on the way.
    curl(&[
        "--ftp-create-dirs",
        "-T",
        src.to_str().unwrap(),
        &t.url("new/deeper/up.bin"),
    ])
    .await;
    assert_eq!(file_sha(t.path("new/deeper/up.bin")), sha256(&up));
}

#[tokio::test]
async fn curl_resume_both_ways() {
    need!("curl");
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(2_500_000, 111);
    t.write("data.bin", &data);
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("data.bin");
    std::fs::write(&dest, &data[..1_000_000]).unwrap();
    curl(&["-C", "-", "-o", dest.to_str().unwrap(), &t.url("data.bin")]).await;
    assert_eq!(file_sha(&dest), sha256(&data));

    // Upload resume: the server has the first part; curl sends the rest.
    t.write("up.bin", &data[..700_000]);
    curl(&["-C", "-", "-T", dest.to_str().unwrap(), &t.url("up.bin")]).await;
    assert_eq!(file_sha(t.path("up.bin")), sha256(&data));
}

#[tokio::test]
async fn curl_active_mode() {
    need!("curl");
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(1_500_000, 121);
    t.write("data.bin", &data);
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("d.bin");
    for extra in [
        &["-P", "127.0.0.1"][..],
        &["--ftp-port", "127.0.0.1", "--disable-eprt"][..],
        &["-P", "-"][..],
    ] {
        let mut args: Vec<&str> = extra.to_vec();
        let d = dest.to_str().unwrap();
        args.extend(["-o", d]);
        let url = t.url("data.bin");
        args.push(&url);
        curl(&args).await;
        assert_eq!(file_sha(&dest), sha256(&data), "{extra:?}");
        std::fs::remove_file(&dest).unwrap();
        // Upload and listing in active mode too.
        let mut args: Vec<&str> = extra.to_vec();
        let src = local.path().join("src.bin");
        std::fs::write(&src, &data[..999_999]).unwrap();
        args.extend(["-T", src.to_str().unwrap()]);
        let url = t.url("active-up.bin");
        args.push(&url);
        curl(&args).await;
        assert_eq!(file_sha(t.path("active-up.bin")), sha256(&data[..999_999]));
        let mut args: Vec<&str> = extra.to_vec();
        let url = t.url("");
        args.extend(["--list-only", &url]);
        let names = curl(&args).await;
        assert!(names.lines().any(|l| l == "active-up.bin"), "{names}");
    }
}

#[tokio::test]
async fn curl_quote_commands() {
    need!("curl");
    let t = start(AccessMode::Writable).await;
    t.write("a.txt", b"aaa");
    t.write("gone.txt", b"bye");
    curl(&[
        "-Q",
        "RNFR a.txt",
        "-Q",
        "RNTO b.txt",
        "-Q",
        "DELE gone.txt",
        "-Q",
        "MKD made",
        "--list-only",
        &t.url(""),
    ])
    .await;
    assert!(!t.path("a.txt").exists());
    assert_eq!(std::fs::read(t.path("b.txt")).unwrap(), b"aaa");
    assert!(!t.path("gone.txt").exists());
    assert!(t.path("made").is_dir());
    // A failing quote command makes curl fail.
    let out = client("curl", strs(&["-sS", "-Q", "DELE missing.txt", &t.url("")])).await;
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("550"));
}

#[tokio::test]
async fn curl_utf8_and_non_utf8_names() {
    need!("curl");
    use std::os::unix::ffi::OsStrExt;
    let t = start(AccessMode::Writable).await;
    let uni = pseudo_random(40_000, 131);
    let raw = pseudo_random(30_000, 132);
    t.write("résumé 日本.txt", &uni);
    let raw_name = std::ffi::OsStr::from_bytes(b"caf\xe9-\xff.bin");
    std::fs::write(t.root().join(raw_name), &raw).unwrap();
    let names = curl(&["--list-only", &t.url("")]).await;
    let names: BTreeSet<&str> = names.lines().collect();
    assert_eq!(names, BTreeSet::from(["caf%E9-%FF.bin", "résumé 日本.txt"]));
    let long = curl(&[&t.url("")]).await;
    assert!(long.contains(" résumé 日本.txt\r\n") || long.contains(" résumé 日本.txt\n"));
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("x");
    let url = t.url(&url_path("résumé 日本.txt".as_bytes()));
    curl(&["-o", dest.to_str().unwrap(), &url]).await;
    assert_eq!(file_sha(&dest), sha256(&uni));
    // The escaped name, sent back as it was listed, fetches the file.
    let url = t.url(&url_path(b"caf%E9-%FF.bin"));
    curl(&["-o", dest.to_str().unwrap(), &url]).await;
    assert_eq!(file_sha(&dest), sha256(&raw));
    // And an upload under a UTF-8 name lands under that name.
    let url = t.url(&url_path("新しい ファイル.bin".as_bytes()));
    curl(&["-T", dest.to_str().unwrap(), &url]).await;
    assert_eq!(file_sha(t.path("新しい ファイル.bin")), sha256(&raw));
}

/// lftp with the settings every test wants: no TLS probing, fail fast.
async fn lftp(t: &TestServer, local: &Path, script: &str) -> String {
    let full = format!(
        "set cmd:fail-exit yes; set ftp:ssl-allow no; set net:max-retries 1; \
         set net:timeout 20; set net:reconnect-interval-base 1; lcd {}; {script}; bye",
        local.display()
    );
    let out = common::lftp(t, false, full.clone()).await;
    success(&format!("lftp {full}"), &out)
}

#[tokio::test]
async fn lftp_passive_and_active() {
    need!("lftp");
    for active in [false, true] {
        let t = start(AccessMode::Writable).await;
        let mode = if active {
            "set ftp:passive-mode off"
        } else {
            "set ftp:passive-mode on"
        };
        let data = pseudo_random(2_000_000, 141);
        t.write("data.bin", &data);
        t.write("tree/a.txt", b"alpha\n");
        t.write("tree/sub/b.bin", &pseudo_random(300_000, 142));
        t.write("tree/sub/deep/c.bin", &pseudo_random(5_000, 143));
        t.write("old.txt", b"old");
        t.write("victim.txt", b"delete me");
        let local = tempfile::tempdir().unwrap();
        let up = pseudo_random(1_234_567, 144);
        std::fs::write(local.path().join("up.bin"), &up).unwrap();
        std::fs::create_dir_all(local.path().join("srctree/x")).unwrap();
        std::fs::write(local.path().join("srctree/one.txt"), b"one").unwrap();
        std::fs::write(
            local.path().join("srctree/x/two.bin"),
            pseudo_random(77_777, 145),
        )
        .unwrap();

        let listing = lftp(&t, local.path(), &format!("{mode}; cls -1")).await;
        let names: BTreeSet<&str> = listing.lines().map(|l| l.trim_end_matches('/')).collect();
        assert_eq!(
            names,
            BTreeSet::from(["data.bin", "old.txt", "tree", "victim.txt"]),
            "{listing}"
        );
        let long = lftp(&t, local.path(), &format!("{mode}; ls")).await;
        assert!(long.lines().any(|l| l.ends_with(" data.bin")), "{long}");

        lftp(
            &t,
            local.path(),
            &format!(
                "{mode}; get data.bin -o got.bin; put up.bin -o sent.bin; \
                 mirror tree mirrored; mirror -R srctree uptree; rm victim.txt; \
                 mv old.txt new.txt; mkdir made; mkdir -p made/a/b"
            ),
        )
        .await;
        assert_eq!(file_sha(local.path().join("got.bin")), sha256(&data));
        assert_eq!(file_sha(t.path("sent.bin")), sha256(&up));
        for rel in ["a.txt", "sub/b.bin", "sub/deep/c.bin"] {
            assert_eq!(
                file_sha(local.path().join("mirrored").join(rel)),
                file_sha(t.path("tree").join(rel)),
                "{rel}"
            );
        }
        for rel in ["one.txt", "x/two.bin"] {
            assert_eq!(
                file_sha(t.path("uptree").join(rel)),
                file_sha(local.path().join("srctree").join(rel)),
                "{rel}"
            );
        }
        assert!(!t.path("victim.txt").exists());
        assert!(!t.path("old.txt").exists());
        assert_eq!(std::fs::read(t.path("new.txt")).unwrap(), b"old");
        assert!(t.path("made/a/b").is_dir());
        // lftp's own resume: `get -c` of a partial file.
        std::fs::write(local.path().join("part.bin"), &data[..600_000]).unwrap();
        lftp(
            &t,
            local.path(),
            &format!("{mode}; get -c data.bin -o part.bin"),
        )
        .await;
        assert_eq!(file_sha(local.path().join("part.bin")), sha256(&data));
    }
}

/// lftp's `rm -r` and `find` descend into what MLSD calls a folder: a
/// link to a folder must be typed as a link, or `rm -r` empties the folder
/// it points to and a link to a parent makes `find` run forever.
#[tokio::test]
async fn lftp_rm_r_removes_links_not_what_they_point_to() {
    need!("lftp");
    let t = start(AccessMode::Writable).await;
    t.write("keep/a.txt", b"kept");
    t.write("keep/deep/b.txt", b"kept too");
    t.write("trash/old.txt", b"trash");
    std::os::unix::fs::symlink("../keep", t.path("trash/shortcut")).unwrap();
    std::os::unix::fs::symlink("..", t.path("trash/up")).unwrap();
    let local = tempfile::tempdir().unwrap();
    let found = lftp(&t, local.path(), "find trash").await;
    let mut found: Vec<&str> = found.lines().collect();
    found.sort_unstable();
    assert_eq!(
        found,
        ["trash/", "trash/old.txt", "trash/shortcut", "trash/up"],
        "{found:?}"
    );
    // A mirror keeps each link as it reads, so it works in the copy too.
    lftp(&t, local.path(), "mirror trash mirrored").await;
    let copied = std::fs::read_link(local.path().join("mirrored/shortcut")).unwrap();
    assert_eq!(copied, Path::new("../keep"));
    lftp(&t, local.path(), "rm -r trash").await;
    assert!(!t.path("trash").exists());
    assert_eq!(std::fs::read(t.path("keep/a.txt")).unwrap(), b"kept");
    assert_eq!(
        std::fs::read(t.path("keep/deep/b.txt")).unwrap(),
        b"kept too"
    );
}

#[tokio::test]
async fn lftp_utf8_names() {
    need!("lftp");
    let t = start(AccessMode::Writable).await;
    let body = pseudo_random(12_345, 151);
    t.write("résumé 日本.txt", &body);
    let local = tempfile::tempdir().unwrap();
    let listing = lftp(&t, local.path(), "cls -1").await;
    assert_eq!(listing.trim(), "résumé 日本.txt");
    lftp(&t, local.path(), "get 'résumé 日本.txt' -o got.txt").await;
    assert_eq!(file_sha(local.path().join("got.txt")), sha256(&body));
}

const FTPLIB: &str = r#"
import ftplib, io, sys
port, out, size = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
ftp = ftplib.FTP()
ftp.connect('127.0.0.1', port, timeout=30)
ftp.login('tester', 's3cret-pass')
names = sorted(ftp.nlst())
want = ['big.bin', 'caf%E9.bin', 'data.bin', 'gone.txt', 'notes.txt', 'résumé 日本.txt', 'sub']
assert names == want, names
facts = dict(ftp.mlsd())
assert facts['sub']['type'] == 'dir', facts
assert facts['data.bin']['type'] == 'file', facts
assert int(facts['data.bin']['size']) == size, facts
assert 'r' in facts['data.bin']['perm'], facts
# mlsd() switched to TYPE A, where SIZE counts the CRLFs a RETR would send.
ascii_size = ftp.size('data.bin')
ftp.voidcmd('TYPE I')
assert ftp.size('data.bin') == size
assert ascii_size > size

def fetch(name, local, **kw):
    with open(out + '/' + local, 'wb') as f:
        ftp.retrbinary('RETR ' + name, f.write, **kw)

fetch('data.bin', 'data.bin')
fetch('data.bin', 'tail.bin', rest=1000)
fetch('résumé 日本.txt', 'utf8.txt')
fetch('caf%E9.bin', 'raw.bin')
with open(out + '/data.bin', 'rb') as f:
    ftp.storbinary('STOR up.bin', f)
ftp.rename('up.bin', 'sub/renamed.bin')
ftp.delete('gone.txt')
ftp.mkd('made')
ftp.cwd('made')
assert ftp.pwd() == '/made'
ftp.cwd('..')
ftp.rmd('made')

lines = []
ftp.retrlines('RETR notes.txt', lines.append)
assert lines == ['alpha', 'beta', 'gamma'], lines
ftp.storlines('STOR lines.txt', io.BytesIO(b'one\r\ntwo\nthree\r\n'))

# abort() sends ABOR as urgent data, as ftplib always does.
conn = ftp.transfercmd('RETR big.bin')
got = 0
while got < 1 << 20:
    chunk = conn.recv(1 << 16)
    assert chunk
    got += len(chunk)
resp = ftp.abort()
conn.close()
assert resp[:3] in ('426', '226'), resp
if resp.startswith('426'):
    resp = ftp.getresp()
    assert resp.startswith('226'), resp
ftp.voidcmd('NOOP')
fetch('notes.txt', 'after-abort.txt')

# Active mode: ftplib sends PORT and waits for our connection.
ftp.set_pasv(False)
fetch('data.bin', 'active.bin')
with open(out + '/active.bin', 'rb') as f:
    ftp.storbinary('STOR active-up.bin', f)
assert 'active-up.bin' in ftp.nlst()
ftp.quit()
print('ftplib ok')
"#;

#[tokio::test]
async fn python_ftplib() {
    need!("python3");
    use std::os::unix::ffi::OsStrExt;
    let t = start(AccessMode::Writable).await;
    let data = pseudo_random(1_700_000, 161);
    t.write("data.bin", &data);
    t.write("gone.txt", b"bye");
    t.write("notes.txt", b"alpha\nbeta\ngamma\n");
    t.write("sub/x", b"x");
    let uni = pseudo_random(9_999, 162);
    t.write("résumé 日本.txt", &uni);
    let raw = pseudo_random(8_888, 163);
    std::fs::write(
        t.root().join(std::ffi::OsStr::from_bytes(b"caf\xe9.bin")),
        &raw,
    )
    .unwrap();
    let big = std::fs::File::create(t.path("big.bin")).unwrap();
    big.set_len(200 << 20).unwrap();
    drop(big);
    let local = tempfile::tempdir().unwrap();
    let out = client(
        "python3",
        vec![
            "-c".into(),
            FTPLIB.into(),
            t.addr.port().to_string(),
            local.path().display().to_string(),
            data.len().to_string(),
        ],
    )
    .await;
    let stdout = success("python3 ftplib", &out);
    assert!(stdout.contains("ftplib ok"));
    let l = |n: &str| local.path().join(n);
    assert_eq!(file_sha(l("data.bin")), sha256(&data));
    assert_eq!(file_sha(l("tail.bin")), sha256(&data[1000..]));
    assert_eq!(file_sha(l("utf8.txt")), sha256(&uni));
    assert_eq!(file_sha(l("raw.bin")), sha256(&raw));
    assert_eq!(file_sha(t.path("sub/renamed.bin")), sha256(&data));
    assert!(!t.path("up.bin").exists());
    assert!(!t.path("gone.txt").exists());
    assert!(!t.path("made").exists());
    assert_eq!(
        std::fs::read(t.path("lines.txt")).unwrap(),
        b"one\ntwo\nthree\n"
    );
    assert_eq!(
        std::fs::read(l("after-abort.txt")).unwrap(),
        b"alpha\nbeta\ngamma\n"
    );
    assert_eq!(file_sha(l("active.bin")), sha256(&data));
    assert_eq!(file_sha(t.path("active-up.bin")), sha256(&data));
}

/// The classic `ftp` client (tnftp here; BSD's and Windows' behave
/// alike) has the server expand `mget` patterns (`NLST *.jpg`) and fetches
/// each name that comes back: exactly the matching files arrive, from a
/// subfolder too, and nothing else; an exact name comes from where it
/// was named.
#[tokio::test]
async fn classic_ftp_mget_expands_patterns_on_the_server() {
    need!("ftp");
    let t = start(AccessMode::ReadOnly).await;
    let a = pseudo_random(30_000, 171);
    let b = pseudo_random(70_000, 172);
    let x = pseudo_random(5_000, 173);
    t.write("photos/a.jpg", &a);
    t.write("photos/b.jpg", &b);
    t.write("photos/notes.txt", b"not a photo");
    t.write("photos/.hidden.jpg", b"hidden");
    t.write("photos/2024/c.jpg", b"in a subfolder");
    t.write("docs/x.txt", &x);
    t.write("docs/y.md", b"not text");
    // The same name at the top: an exact name must not be fetched from
    // where the client is instead of from the folder it named.
    t.write("y.md", b"the wrong one");
    let local = tempfile::tempdir().unwrap();
    std::fs::create_dir(local.path().join("docs")).unwrap();
    let script = local.path().join("script");
    std::fs::write(
        &script,
        "user tester s3cret-pass\nprompt off\nbinary\nmget docs/*.txt\nmget docs/y.md\ncd photos\nmget *.jpg\nbye\n",
    )
    .unwrap();
    let command = format!(
        "cd '{}' && ftp -n -p 127.0.0.1 {} < script",
        local.path().display(),
        t.addr.port()
    );
    let out = client("sh", vec!["-c".into(), command]).await;
    success("ftp mget", &out);
    let l = |n: &str| local.path().join(n);
    assert_eq!(file_sha(l("a.jpg")), sha256(&a));
    assert_eq!(file_sha(l("b.jpg")), sha256(&b));
    assert_eq!(file_sha(l("docs/x.txt")), sha256(&x));
    assert_eq!(std::fs::read(l("docs/y.md")).unwrap(), b"not text");
    let mut got: Vec<String> = walk(local.path());
    got.sort();
    let want = [
        "a.jpg",
        "b.jpg",
        "docs",
        "docs/x.txt",
        "docs/y.md",
        "script",
    ];
    assert_eq!(got, want);
}

/// Every path under `dir`, relative to it.
fn walk(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        let rel = p.strip_prefix(dir).unwrap().display().to_string();
        if p.is_dir() {
            out.extend(walk(&p).into_iter().map(|n| format!("{rel}/{n}")));
        }
        out.push(rel);
    }
    out
}

#[tokio::test]
async fn wget_single_file_and_recursive() {
    need!("wget");
    let t = start(AccessMode::ReadOnly).await;
    let data = pseudo_random(700_000, 171);
    t.write("data.bin", &data);
    t.write("tree/a.txt", b"alpha\n");
    t.write("tree/sub/b.bin", &pseudo_random(123_456, 172));
    let local = tempfile::tempdir().unwrap();
    let dest = local.path().join("got.bin");
    let out = client(
        "wget",
        vec![
            "-q".into(),
            "-O".into(),
            dest.display().to_string(),
            t.url("data.bin"),
        ],
    )
    .await;
    success("wget", &out);
    assert_eq!(file_sha(&dest), sha256(&data));
    let out = client(
        "wget",
        vec![
            "-q".into(),
            "-r".into(),
            "-nH".into(),
            "-P".into(),
            local.path().join("mirror").display().to_string(),
            t.url("tree/"),
        ],
    )
    .await;
    success("wget -r", &out);
    for rel in ["a.txt", "sub/b.bin"] {
        assert_eq!(
            file_sha(local.path().join("mirror/tree").join(rel)),
            file_sha(t.path("tree").join(rel)),
            "{rel}"
        );
    }
}

/// curl into a drop box, with its default way of walking folders (CWD,
/// and MKD when CWD fails): uploads into a folder that exists and one that
/// does not both land, though CWD tells nothing about which exists.
#[tokio::test]
async fn curl_uploads_into_drop_box_folders() {
    need!("curl");
    let t = start(AccessMode::UploadOnly).await;
    t.write("old/keep.txt", b"kept");
    let local = tempfile::tempdir().unwrap();
    let up = pseudo_random(300_000, 131);
    let src = local.path().join("up.bin");
    std::fs::write(&src, &up).unwrap();
    for dest in ["old/up.bin", "new/deeper/up.bin"] {
        curl(&[
            "--ftp-create-dirs",
            "-T",
            src.to_str().unwrap(),
            &t.url(dest),
        ])
        .await;
        assert_eq!(file_sha(t.path(dest)), sha256(&up), "{dest}");
    }
    assert_eq!(std::fs::read(t.path("old/keep.txt")).unwrap(), b"kept");
}

/// Downloads are read without the file-system pool when the file is in
/// the page cache, and through it when not: both give the same bytes,
/// whole and from an offset, in TYPE I (sendfile, or the bytes read with
/// the open) and in TYPE A (read into user space, a cold file partly on
/// the pool and partly not).
#[tokio::test]
async fn curl_downloads_the_same_bytes_from_a_cold_and_a_warm_cache() {
    need!("curl");
    let t = start(AccessMode::ReadOnly).await;
    let sizes = [
        0usize,
        1,
        16 << 10,
        64 << 10,
        (64 << 10) + 1,
        1 << 20,
        5 << 20,
    ];
    let files: Vec<Vec<u8>> = (sizes.iter().enumerate())
        .map(|(i, &n)| pseudo_random(n, 300 + i as u64))
        .collect();
    for (i, bytes) in files.iter().enumerate() {
        t.write(&format!("f{i}.bin"), bytes);
    }
    let local = tempfile::tempdir().unwrap();
    for round in ["cold", "warm"] {
        for (i, want) in files.iter().enumerate() {
            let (name, n) = (format!("f{i}.bin"), want.len());
            if round == "cold" {
                let served = std::fs::File::open(t.path(&name)).unwrap();
                served.sync_all().unwrap();
                rustix::fs::fadvise(&served, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            }
            let dest = local.path().join(format!("{round}-{name}"));
            curl(&["-o", dest.to_str().unwrap(), &t.url(&name)]).await;
            assert_eq!(file_sha(&dest), sha256(want), "{round} {name}");
            if round == "cold" {
                let served = std::fs::File::open(t.path(&name)).unwrap();
                rustix::fs::fadvise(&served, 0, None, rustix::fs::Advice::DontNeed).unwrap();
            }
            let text = local.path().join(format!("{round}-text-{name}"));
            curl(&["--use-ascii", "-o", text.to_str().unwrap(), &t.url(&name)]).await;
            // The server sends each bare LF as CRLF; curl then turns each
            // CRLF, and each CR alone, into LF.
            let mut crlf = Vec::with_capacity(n + n / 64);
            for (j, &b) in want.iter().enumerate() {
                if b == b'\n' && (j == 0 || want[j - 1] != b'\r') {
                    crlf.push(b'\r');
                }
                crlf.push(b);
            }
            let mut lf = Vec::with_capacity(crlf.len());
            for (j, &b) in crlf.iter().enumerate() {
                match (b, crlf.get(j + 1)) {
                    (b'\r', Some(b'\n')) => {}
                    (b'\r', _) => lf.push(b'\n'),
                    _ => lf.push(b),
                }
            }
            assert_eq!(file_sha(&text), sha256(&lf), "{round} TYPE A {name}");
            if n > 1 {
                let from = n / 2;
                let part = local.path().join(format!("{round}-part-{name}"));
                let range = format!("{from}-");
                curl(&["-r", &range, "-o", part.to_str().unwrap(), &t.url(&name)]).await;
                assert_eq!(
                    file_sha(&part),
                    sha256(&want[from..]),
                    "{round} {name} from {from}"
                );
            }
        }
    }
}
