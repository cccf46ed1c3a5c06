//! Hardening (RFC 2577 and resource limits): every protection is shown
//! working against a real server on 127.0.0.1, mostly with a raw control
//! connection so reply codes and timings are exact, plus Python's ftplib
//! and a killed process where a real client matters.

mod common;

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::time::{Duration, Instant};

use common::*;
use ftpshare::{AccessMode, Limits, TlsIdentity, TlsMode};
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpSocket, TcpStream};

/// The descriptor-counting tests take this for writing so no other test
/// in this file opens or closes descriptors while they count.
static FD_LOCK: tokio::sync::RwLock<()> = tokio::sync::RwLock::const_new(());

async fn shared_lock() -> tokio::sync::RwLockReadGuard<'static, ()> {
    FD_LOCK.read().await
}

async fn start_limited(access: AccessMode, f: impl FnOnce(&mut Limits)) -> TestServer {
    let mut limits = test_limits();
    f(&mut limits);
    start_with(|b| b.access(access).limits(limits)).await
}

/// A raw control connection from a chosen loopback address (127.0.0.2 is
/// a different client address as far as the server is concerned).
async fn raw_from(local: IpAddr, addr: SocketAddr) -> Raw {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(local, 0)).unwrap();
    Raw::over(socket.connect(addr).await.unwrap()).await
}

/// Closes a socket with RST, as the kernel does for a killed client with
/// unread data: the server sees an error, not a clean end of file.
fn abort_socket(s: TcpStream) {
    s.set_zero_linger().unwrap();
    drop(s);
}

// ---------------------------------------------------------------------
// Brute force (RFC 2577 §5)
// ---------------------------------------------------------------------

#[tokio::test]
async fn user_always_answers_331() {
    let _g = shared_lock().await;
    for anonymous in [false, true] {
        let t = start_with(|b| b.anonymous(anonymous)).await;
        let mut c = Raw::connect(t.addr).await;
        for name in [USER, "root", "nobody", "anonymous", "ftp", "x y z"] {
            c.ok(&format!("USER {name}"), 331).await;
        }
        c.ok("PASS wrong", 530).await;
    }
}

#[tokio::test]
async fn failed_password_is_delayed_without_blocking_other_sessions() {
    let _g = shared_lock().await;
    let delay = Duration::from_millis(1500);
    let t = start_limited(AccessMode::ReadOnly, |l| l.failed_login_delay = delay).await;
    let mut other = t.login().await;
    let mut events = t.server.subscribe();
    let mut guesser = Raw::connect(t.addr).await;
    guesser.ok("USER tester", 331).await;
    let started = Instant::now();
    guesser.send_raw(b"PASS wrong\r\n").await;
    // The other session is answered while the guesser still waits: the
    // failure is reported before the delay starts.
    loop {
        if let ftpshare::Event::LoginFailed { .. } = events.recv().await.unwrap() {
            break;
        }
    }
    other.ok("NOOP", 200).await;
    let other_done = started.elapsed();
    let r = guesser.reply().await;
    let guess_done = started.elapsed();
    assert_eq!(r.code, 530);
    assert!(
        guess_done >= delay,
        "failed PASS answered after {guess_done:?}"
    );
    assert!(other_done < guess_done, "{other_done:?} vs {guess_done:?}");
    // The right password is answered without the delay.
    guesser.ok("USER tester", 331).await;
    let started = Instant::now();
    guesser.ok(&format!("PASS {PASS}"), 230).await;
    assert!(started.elapsed() < delay);
}

#[tokio::test]
async fn three_failed_passwords_close_the_connection() {
    let _g = shared_lock().await;
    let t = start(AccessMode::ReadOnly).await;
    let mut c = Raw::connect(t.addr).await;
    for _ in 0..2 {
        c.ok("USER tester", 331).await;
        c.ok("PASS wrong", 530).await;
    }
    c.ok("USER tester", 331).await;
    c.ok("PASS wrong", 421).await;
    assert!(c.closed().await);
}

#[tokio::test]
async fn repeated_failures_across_connections_ban_the_address_for_a_while() {
    let _g = shared_lock().await;
    let ban = Duration::from_secs(3);
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.ban_after = 4;
        l.ban_duration = ban;
    })
    .await;
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut first = raw_from(lo, t.addr).await;
    for code in [530, 530, 421] {
        first.ok("USER tester", 331).await;
        first.ok("PASS wrong", code).await;
    }
    let mut second = raw_from(lo, t.addr).await;
    assert_eq!(second.greeting.code, 220);
    second.ok("USER tester", 331).await;
    second.ok("PASS wrong", 530).await;
    let banned_at = Instant::now();
    // Banned now: even the right password is refused on this connection...
    second.ok("USER tester", 331).await;
    second.ok(&format!("PASS {PASS}"), 530).await;
    // ...and new connections from the address are refused outright.
    let mut third = raw_from(lo, t.addr).await;
    assert_eq!(third.greeting.code, 421, "{:?}", third.greeting);
    assert!(third.closed().await);
    // Another address is not affected.
    let mut elsewhere = raw_from("127.0.0.2".parse().unwrap(), t.addr).await;
    assert_eq!(elsewhere.greeting.code, 220);
    elsewhere.ok("USER tester", 331).await;
    elsewhere.ok(&format!("PASS {PASS}"), 230).await;
    // After the ban, the address may log in again.
    tokio::time::sleep((ban + Duration::from_millis(300)).saturating_sub(banned_at.elapsed()))
        .await;
    let mut later = raw_from(lo, t.addr).await;
    assert_eq!(later.greeting.code, 220);
    later.ok("USER tester", 331).await;
    later.ok(&format!("PASS {PASS}"), 230).await;
}

/// A PASS and how long its answer took.
async fn timed_pass(c: &mut Raw, pass: &str) -> (Reply, Duration) {
    let started = Instant::now();
    let r = c.cmd(&format!("PASS {pass}")).await;
    (r, started.elapsed())
}

/// A ban is no password oracle (issue 24, item 5): sessions opened before
/// the ban get the same answer for the right password as for a wrong one
/// (code, text, delay), and both count towards closing the connection.
#[tokio::test]
async fn while_banned_the_right_password_is_answered_like_a_wrong_one() {
    let _g = shared_lock().await;
    let delay = Duration::from_millis(400);
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.ban_after = 2;
        l.ban_duration = Duration::from_secs(60);
        l.failed_login_delay = delay;
    })
    .await;
    let lo: IpAddr = "127.0.0.1".parse().unwrap();
    let mut right = raw_from(lo, t.addr).await;
    let mut wrong = raw_from(lo, t.addr).await;
    // The ban starts while both are connected.
    let mut guesser = raw_from(lo, t.addr).await;
    for _ in 0..2 {
        guesser.ok("USER tester", 331).await;
        guesser.ok("PASS nope", 530).await;
    }
    assert_eq!(raw_from(lo, t.addr).await.greeting.code, 421, "not banned");
    for code in [530, 530, 421] {
        right.ok("USER tester", 331).await;
        wrong.ok("USER tester", 331).await;
        let ((r, r_took), (w, w_took)) = tokio::join!(
            timed_pass(&mut right, PASS),
            timed_pass(&mut wrong, "wrong")
        );
        assert_eq!(r.code, code, "right password: {r:?}");
        assert_eq!(
            r.text, w.text,
            "right and wrong passwords answered differently"
        );
        // Both delayed alike: at least the delay, at most its jitter more.
        for took in [r_took, w_took] {
            assert!(took >= delay, "answered in {took:?}, before the delay");
            assert!(took < delay * 2, "answered in {took:?}");
        }
    }
    assert!(right.closed().await && wrong.closed().await);
}

/// One failed login from each of `hosts` (127.0.1.N), all at once.
async fn fail_once_from(addr: SocketAddr, hosts: std::ops::RangeInclusive<u8>) {
    let tasks: Vec<_> = hosts
        .map(|n| {
            tokio::spawn(async move {
                let mut c = raw_from(IpAddr::from([127, 0, 1, n]), addr).await;
                assert_eq!(c.greeting.code, 220, "127.0.1.{n}: {:?}", c.greeting);
                c.ok("USER tester", 331).await;
                c.ok("PASS wrong", 530).await;
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
}

/// The failed-login table is bounded: with room for 64 clients, a wave of
/// 150 guessing addresses followed by 64 more leaves exactly the newest 64
/// remembered (and banned); the others were forgotten, oldest first.
#[tokio::test]
async fn the_ban_table_is_bounded_and_forgets_the_oldest_first() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.ban_after = 1;
        l.ban_table_size = 64;
        l.failed_login_delay = Duration::from_millis(1);
    })
    .await;
    fail_once_from(t.addr, 1..=150).await;
    fail_once_from(t.addr, 151..=214).await;
    for n in 1..=214u8 {
        let c = raw_from(IpAddr::from([127, 0, 1, n]), t.addr).await;
        let want = if n > 150 { 421 } else { 220 };
        assert_eq!(c.greeting.code, want, "127.0.1.{n}: {:?}", c.greeting);
    }
}

/// IPv6 clients are banned too (per /64 network: the unit tests in
/// src/bans.rs show rotated addresses of one /64 share a count).
#[tokio::test]
async fn an_ipv6_client_is_banned_like_an_ipv4_one() {
    let _g = shared_lock().await;
    if !need_that(
        "IPv6 loopback",
        std::net::TcpListener::bind("[::1]:0").is_ok(),
    ) {
        return;
    }
    let t = start_with(|b| {
        let mut l = test_limits();
        l.ban_after = 2;
        b.bind("[::1]:0".parse().unwrap()).limits(l)
    })
    .await;
    let mut c = Raw::connect(t.addr).await;
    for _ in 0..2 {
        c.ok("USER tester", 331).await;
        c.ok("PASS wrong", 530).await;
    }
    let again = Raw::connect(t.addr).await;
    assert_eq!(again.greeting.code, 421, "{:?}", again.greeting);
}

#[tokio::test]
async fn ban_after_zero_never_bans() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| l.ban_after = 0).await;
    for _ in 0..3 {
        let mut c = Raw::connect(t.addr).await;
        assert_eq!(c.greeting.code, 220);
        for code in [530, 530, 421] {
            c.ok("USER tester", 331).await;
            c.ok("PASS wrong", code).await;
        }
    }
    t.login().await.ok("NOOP", 200).await;
}

#[tokio::test]
async fn login_must_complete_within_the_time_limit() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.login_timeout = Duration::from_secs(1)
    })
    .await;
    let mut logged_in = t.login().await;
    let mut lingering = Raw::connect(t.addr).await;
    lingering.ok("USER tester", 331).await;
    let r = lingering.reply().await;
    assert_eq!(r.code, 421, "{r:?}");
    assert!(lingering.closed().await);
    // The limit is on logging in, not on a session that did.
    logged_in.ok("NOOP", 200).await;
}

// ---------------------------------------------------------------------
// Connection limits
// ---------------------------------------------------------------------

#[tokio::test]
async fn max_connections_is_answered_with_421() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| l.max_connections = 2).await;
    let a = Raw::connect(t.addr).await;
    let _b = raw_from("127.0.0.2".parse().unwrap(), t.addr).await;
    let mut c = raw_from("127.0.0.3".parse().unwrap(), t.addr).await;
    assert_eq!(c.greeting.code, 421, "{:?}", c.greeting);
    assert!(c.closed().await);
    drop(a);
    wait_for("a free slot", || t.server.connections() == 1).await;
    let d = Raw::connect(t.addr).await;
    assert_eq!(d.greeting.code, 220);
}

#[tokio::test]
async fn max_connections_per_ip_is_answered_with_421() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| l.max_connections_per_ip = 2).await;
    let _a = Raw::connect(t.addr).await;
    let _b = Raw::connect(t.addr).await;
    let mut c = Raw::connect(t.addr).await;
    assert_eq!(c.greeting.code, 421, "{:?}", c.greeting);
    assert!(c.closed().await);
    let mut other_ip = raw_from("127.0.0.2".parse().unwrap(), t.addr).await;
    assert_eq!(other_ip.greeting.code, 220);
    other_ip.ok("NOOP", 200).await;
}

// ---------------------------------------------------------------------
// Passive ports
// ---------------------------------------------------------------------

/// A range of `n` free ports below the kernel's ephemeral range, so other
/// tests' outgoing connections do not land in it.
fn free_port_range(n: u16, seed: u64) -> std::ops::RangeInclusive<u16> {
    let mut x = seed ^ u64::from(std::process::id()) << 16;
    for _ in 0..1000 {
        x = x
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        let lo = 20000 + (x >> 33) as u16 % 12000;
        let all_free = (lo..lo + n).all(|p| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok());
        if all_free {
            return lo..=lo + n - 1;
        }
    }
    panic!("no free port range");
}

fn pasv_port(r: &Reply) -> u16 {
    let inner = r.text.split(['(', ')']).nth(1).unwrap();
    let n: Vec<u16> = inner.split(',').map(|x| x.parse().unwrap()).collect();
    n[4] * 256 + n[5]
}

#[tokio::test]
async fn passive_ports_are_random_within_the_range() {
    let _g = shared_lock().await;
    let range = free_port_range(10, 1);
    let t = start_with(|b| b.passive_ports(range.clone())).await;
    let mut c = t.login().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..40 {
        let r = c.ok("PASV", 227).await;
        let port = pasv_port(&r);
        assert!(range.contains(&port), "{port} outside {range:?}");
        seen.insert(port);
        let r = c.ok("EPSV", 229).await;
        let port: u16 = r.text.split('|').nth(3).unwrap().parse().unwrap();
        assert!(range.contains(&port), "{port} outside {range:?}");
        seen.insert(port);
    }
    assert!(seen.len() >= 3, "not random: only {seen:?}");
}

#[tokio::test]
async fn exhausted_passive_ports_give_425_and_ports_are_reused_after_transfers() {
    let _g = shared_lock().await;
    let range = free_port_range(1, 2);
    let t = start_with(|b| b.passive_ports(range.clone())).await;
    let data = pseudo_random(200_000, 3);
    t.write("f.bin", &data);
    let mut a = t.login().await;
    let mut b = t.login().await;
    a.ok("PASV", 227).await;
    // A second PASV from the same session replaces its own listener.
    a.ok("PASV", 227).await;
    b.ok("PASV", 425).await;
    b.ok("NOOP", 200).await;
    // Several downloads in a row through the single port: each leaves a
    // connection in TIME_WAIT on it, which must not block the next one.
    for which in [0, 1, 0] {
        let c = if which == 0 { &mut a } else { &mut b };
        let d = c.epsv().await;
        c.ok("RETR f.bin", 150).await;
        assert_eq!(sha256(&read_all(d).await), sha256(&data));
        assert_eq!(c.reply().await.code, 226);
    }
}

// ---------------------------------------------------------------------
// Command lines
// ---------------------------------------------------------------------

#[tokio::test]
async fn over_long_command_lines_get_500_and_the_session_goes_on() {
    let _g = shared_lock().await;
    let t = start(AccessMode::ReadOnly).await;
    let mut c = t.login().await;
    // A line right at the 8 KiB limit is still a command.
    let at_limit = format!("NOOP {}", "x".repeat(8192 - 5));
    c.ok(&at_limit, 200).await;
    let over = format!("NOOP {}", "x".repeat(8192 - 4));
    c.ok(&over, 500).await;
    c.ok("PWD", 257).await;
    // A megabyte without a line end is discarded up to its end.
    c.send_raw(&vec![b'A'; 1 << 20]).await;
    c.ok("B", 500).await;
    c.ok("NOOP", 200).await;
}

/// Lines sent while a command waits for its data connection are held
/// to be answered after it, 4 KiB of them at most, empty lines too: a
/// flood costs the server no more than reading that much, and no other
/// client waits for it. (Empty lines counted nothing, and each pass over
/// the held lines parsed them all: a few hundred kilobytes of line ends
/// kept a session's thread, and the clients on it, busy for minutes.)
#[tokio::test]
async fn a_flood_of_lines_while_a_command_waits_stalls_no_one() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::Writable, |l| {
        l.data_timeout = Duration::from_secs(120);
    })
    .await;
    let mut c = t.login().await;
    c.epsv_address().await;
    let mut flood = b"LIST\r\n".to_vec();
    flood.extend(b"\r\n".repeat(200_000));
    // From a task: the server stops reading once it holds its limit.
    let writer = tokio::spawn(async move {
        c.send_raw(&flood).await;
        c
    });
    tokio::time::sleep(Duration::from_millis(200)).await;
    let since = Instant::now();
    let mut other = t.login().await;
    other.ok("NOOP", 200).await;
    let waited = since.elapsed();
    assert!(waited < Duration::from_secs(2), "{waited:?}");
    writer.abort();
}

#[tokio::test]
async fn bad_input_gets_the_right_reply_codes() {
    let _g = shared_lock().await;
    let t = start(AccessMode::ReadOnly).await;
    t.write("a", b"x");
    let mut c = t.login().await;
    let cases: &[(&[u8], u16)] = &[
        // Telnet: interrupt + data mark before ABOR, negotiation that
        // needs no answer (WONT, DONT; DO and WILL get refusals, see
        // tests/protocol.rs), and an escaped 255 inside an argument.
        (b"\xff\xf4\xff\xf2ABOR\r\n", 226),
        (b"\xff\xfc\x01NO\xff\xfe\x03OP\r\n", 200),
        (b"SIZE \xff\xff\r\n", 501),
        // Not text.
        (b"\xc3\x28 x\r\n", 500),
        (b"SIZE \xc3\x28\r\n", 501),
        (b"\x80\x81\x82\r\n", 500),
        // NUL bytes, in the verb and in a path.
        (b"NO\x00OP\r\n", 500),
        (b"SIZE a\x00b\r\n", 501),
        (b"CWD \x00\r\n", 501),
        (b"RETR \x00\r\n", 501),
        // Line ends: bare LF ends a line; a bare CR does not.
        (b"NOOP\n", 200),
        (b"NOOP\rPWD\r\n", 500),
        (b"\r\n", 500),
        (b"\n", 500),
        (b"   \r\n", 500),
        (b"\r\r\n", 500),
        // Unknown and lower-case commands.
        (b"FOO\r\n", 500),
        (b"SITE\r\n", 214),
        (b"noop\r\n", 200),
        (b"pWd\r\n", 257),
        (b"size a\r\n", 213),
        // Missing and extra arguments.
        (b"RETR\r\n", 501),
        (b"SIZE\r\n", 501),
        (b"USER\r\n", 501),
        (b"PWD extra\r\n", 501),
        (b"CDUP x\r\n", 501),
        (b"PASV now\r\n", 501),
        (b"REST x\r\n", 501),
        (b"PORT 1,2,3\r\n", 501),
        (b"TYPE X\r\n", 501),
        // Not implemented, or not for this parameter.
        (b"SMNT /x\r\n", 502),
        (b"ADAT x\r\n", 502),
        (b"TYPE E\r\n", 504),
        (b"MODE B\r\n", 504),
        (b"STRU R\r\n", 504),
    ];
    for (line, code) in cases {
        c.send_raw(line).await;
        let r = c.reply().await;
        assert_eq!(
            r.code,
            *code,
            "{:?} -> {r:?}",
            String::from_utf8_lossy(line)
        );
    }
    c.ok("NOOP", 200).await;
}

/// ABOR the way RFC 959 clients send it, Telnet IP and DM first, while a
/// transfer runs: 426 for the transfer, then 226 for ABOR.
#[tokio::test]
async fn telnet_interrupt_then_abor_stops_a_running_download() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| l.max_rate = Some(200_000)).await;
    t.write("big.bin", &pseudo_random(10 << 20, 17));
    let mut c = t.login().await;
    let mut d = c.epsv().await;
    c.ok("RETR big.bin", 150).await;
    let mut buf = vec![0u8; 50_000];
    d.read_exact(&mut buf).await.unwrap();
    c.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n").await;
    assert_eq!(c.reply().await.code, 426);
    assert_eq!(c.reply().await.code, 226);
    c.ok("NOOP", 200).await;
}

/// Random bytes as command lines, pipelined: every line gets exactly one
/// reply, and the session and server survive all of it.
#[tokio::test]
async fn random_garbage_never_breaks_a_session() {
    let _g = shared_lock().await;
    let t = start(AccessMode::Writable).await;
    t.write("a", b"x");
    let c = t.login().await;
    let Raw {
        mut reader,
        mut writer,
        greeting,
    } = c;
    let verbs: &[&[u8]] = &[
        b"", b"", b"", b"RETR ", b"CWD ", b"SIZE ", b"MDTM ", b"TYPE ", b"MODE ", b"STRU ",
        b"PORT ", b"EPRT ", b"EPSV ", b"REST ", b"MLST ", b"OPTS ", b"HELP ", b"STAT ", b"PBSZ ",
        b"PROT ", b"LANG ", b"SITE ", b"MKD ", b"RNFR ", b"DELE ",
    ];
    const LINES: usize = 3000;
    let mut payload = Vec::new();
    let noise = pseudo_random(LINES * 40, 99);
    for i in 0..LINES {
        payload.extend_from_slice(verbs[noise[i] as usize % verbs.len()]);
        let len = noise[i + 1] as usize % 40;
        for &b in &noise[i * 40..i * 40 + len] {
            // Line ends would split lines; IAC before them would eat one.
            payload.push(match b {
                b'\n' | b'\r' | 0xff => b'.',
                b => b,
            });
        }
        payload.extend_from_slice(b"\r\n");
    }
    let writer_task = tokio::spawn(async move {
        writer.write_all(&payload).await.unwrap();
        writer
    });
    for i in 0..LINES {
        let code = tokio::time::timeout(Duration::from_secs(20), reply_code(&mut reader))
            .await
            .expect("no reply");
        assert!(
            (200..600).contains(&code) && code != 421,
            "line {i}: {code}"
        );
    }
    let writer = writer_task.await.unwrap();
    let mut raw = Raw {
        reader,
        writer,
        greeting,
    };
    raw.ok("NOOP", 200).await;
    t.login().await.ok("NOOP", 200).await;
}

/// The code of the next reply read from a bare reader (multi-line aware).
async fn reply_code(reader: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> u16 {
    use tokio::io::AsyncBufReadExt;
    let mut line = String::new();
    assert!(
        reader.read_line(&mut line).await.unwrap() > 0,
        "connection closed"
    );
    let code: u16 = line[..3].parse().unwrap();
    if line.as_bytes()[3] == b'-' {
        loop {
            let mut more = String::new();
            assert!(reader.read_line(&mut more).await.unwrap() > 0);
            if more.starts_with(&format!("{code} ")) {
                break;
            }
        }
    }
    code
}

// ---------------------------------------------------------------------
// Timeouts
// ---------------------------------------------------------------------

#[tokio::test]
async fn idle_and_half_open_control_connections_time_out() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.idle_timeout = Duration::from_secs(1)
    })
    .await;
    let mut c = t.login().await;
    // The client goes silent without closing (as a vanished peer would):
    // the server frees the connection on its own.
    wait_for("the idle session to be closed", || {
        t.server.connections() == 0
    })
    .await;
    let r = c.reply().await;
    assert_eq!(r.code, 421, "{r:?}");
    assert!(c.closed().await);
}

#[tokio::test]
async fn a_data_connection_must_open_in_time() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.data_timeout = Duration::from_secs(1)
    })
    .await;
    t.write("f", b"data");
    let mut c = t.login().await;
    c.ok("PASV", 227).await;
    let started = Instant::now();
    c.ok("RETR f", 425).await;
    assert!(started.elapsed() >= Duration::from_secs(1));
    c.ok("NOOP", 200).await;
}

#[tokio::test]
async fn a_client_that_stops_reading_a_download_is_cut_off_by_the_stall_timeout() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.stall_timeout = Duration::from_secs(1)
    })
    .await;
    t.write("big.bin", &pseudo_random(64 << 20, 5));
    let mut c = t.login().await;
    let data = c.epsv().await;
    c.ok("RETR big.bin", 150).await;
    // Never read: the server must not buffer the file, and gives up.
    let r = c.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    c.ok("NOOP", 200).await;
    drop(data);
}

#[tokio::test]
async fn a_stalled_upload_ends_and_leaves_the_old_file_and_no_temp_file() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::Writable, |l| {
        l.stall_timeout = Duration::from_secs(1)
    })
    .await;
    t.write("keep.bin", b"old contents");
    let mut c = t.login().await;
    let mut data = c.epsv().await;
    c.ok("STOR keep.bin", 150).await;
    data.write_all(&pseudo_random(100_000, 6)).await.unwrap();
    // The client stays connected and silent (half-open upload).
    let r = c.reply().await;
    assert_eq!(r.code, 426, "{r:?}");
    assert_eq!(std::fs::read(t.path("keep.bin")).unwrap(), b"old contents");
    assert_eq!(temp_files(t.root()), Vec::<String>::new());
    c.ok("NOOP", 200).await;
}

#[tokio::test]
async fn a_client_that_does_not_read_its_replies_is_disconnected() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| {
        l.stall_timeout = Duration::from_secs(1)
    })
    .await;
    let c = t.login().await;
    let Raw {
        reader, mut writer, ..
    } = c;
    // Ask for long replies forever and never read one.
    let flood = tokio::spawn(async move {
        let chunk = b"HELP\r\nFEAT\r\n".repeat(500);
        while writer.write_all(&chunk).await.is_ok() {}
    });
    wait_for("the non-reading session to be closed", || {
        t.server.connections() == 0
    })
    .await;
    tokio::time::timeout(Duration::from_secs(30), flood)
        .await
        .unwrap()
        .unwrap();
    drop(reader);
}

#[tokio::test]
async fn tls_handshakes_must_complete_in_time() {
    let _g = shared_lock().await;
    let names = vec!["127.0.0.1".to_string()];
    for mode in [TlsMode::Implicit, TlsMode::Explicit] {
        let id = TlsIdentity::self_signed(&names).unwrap();
        let mut limits = test_limits();
        limits.tls_handshake_timeout = Duration::from_secs(1);
        let t = start_with(|b| b.tls(id, mode).limits(limits)).await;
        let mut s = TcpStream::connect(t.addr).await.unwrap();
        if mode == TlsMode::Explicit {
            let mut buf = [0u8; 256];
            let n = s.read(&mut buf).await.unwrap();
            assert!(buf[..n].starts_with(b"220"));
            s.write_all(b"AUTH TLS\r\n").await.unwrap();
            let n = s.read(&mut buf).await.unwrap();
            assert!(
                buf[..n].starts_with(b"234"),
                "{:?}",
                String::from_utf8_lossy(&buf[..n])
            );
        }
        // Send no ClientHello: the server hangs up after the limit.
        let started = Instant::now();
        let mut rest = Vec::new();
        let n = tokio::time::timeout(Duration::from_secs(20), s.read_to_end(&mut rest))
            .await
            .expect("server kept a silent TLS connection open");
        assert!(n.is_ok());
        assert!(rest.is_empty());
        assert!(started.elapsed() >= Duration::from_millis(900));
        wait_for("the connection slot to be freed", || {
            t.server.connections() == 0
        })
        .await;
    }
}

// ---------------------------------------------------------------------
// Bandwidth
// ---------------------------------------------------------------------

const RATE: u64 = 1_000_000;
const RATED_SIZE: usize = 4_000_000;

fn assert_rate(bytes: usize, elapsed: Duration) {
    let rate = bytes as f64 / elapsed.as_secs_f64();
    let ratio = rate / RATE as f64;
    assert!(
        (0.9..=1.1).contains(&ratio),
        "{bytes} bytes in {elapsed:?}: {rate:.0} B/s, {ratio:.3} of the limit"
    );
}

#[tokio::test]
async fn max_rate_paces_downloads_within_10_percent() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::ReadOnly, |l| l.max_rate = Some(RATE)).await;
    let data = pseudo_random(RATED_SIZE, 7);
    t.write("f.bin", &data);
    let mut c = t.login().await;
    c.ok("TYPE I", 200).await;
    let d = c.epsv().await;
    let started = Instant::now();
    c.ok("RETR f.bin", 150).await;
    let got = read_all(d).await;
    let elapsed = started.elapsed();
    assert_eq!(c.reply().await.code, 226);
    assert_eq!(sha256(&got), sha256(&data));
    assert_rate(got.len(), elapsed);
}

#[tokio::test]
async fn max_rate_paces_uploads_within_10_percent() {
    let _g = shared_lock().await;
    let t = start_limited(AccessMode::Writable, |l| l.max_rate = Some(RATE)).await;
    let data = pseudo_random(RATED_SIZE, 8);
    let mut c = t.login().await;
    c.ok("TYPE I", 200).await;
    let mut d = c.epsv().await;
    let started = Instant::now();
    c.ok("STOR up.bin", 150).await;
    d.write_all(&data).await.unwrap();
    d.shutdown().await.unwrap();
    let r = c.reply().await;
    let elapsed = started.elapsed();
    assert_eq!(r.code, 226, "{r:?}");
    assert_eq!(
        sha256(&std::fs::read(t.path("up.bin")).unwrap()),
        sha256(&data)
    );
    assert_rate(data.len(), elapsed);
}

// ---------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------

/// Open network sockets and files below `root` in this process. Unix
/// sockets, epoll and eventfd descriptors are left out: tests waiting for
/// [`FD_LOCK`] already have a runtime, whose descriptors (including dups of
/// tokio's signal socket pair) would make the count noisy.
fn open_fds(root: &Path) -> usize {
    let root = root.canonicalize().unwrap();
    let unix = std::fs::read_to_string("/proc/self/net/unix").unwrap_or_default();
    let unix_inodes: std::collections::HashSet<String> = unix
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().nth(6))
        .map(|inode| format!("socket:[{inode}]"))
        .collect();
    std::fs::read_dir("/proc/self/fd")
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|t| {
            let text = t.to_string_lossy();
            t.starts_with(&root) || (text.starts_with("socket:") && !unix_inodes.contains(&*text))
        })
        .count()
}

/// Resets both connections of a raw client, as a killed process would.
fn kill_client(c: Raw, data: TcpStream) {
    abort_socket(data);
    let Raw { reader, writer, .. } = c;
    abort_socket(reader.into_inner().reunite(writer).unwrap());
}

#[tokio::test]
async fn a_client_killed_mid_download_leaks_no_descriptors() {
    let _g = FD_LOCK.write().await;
    let t = start(AccessMode::ReadOnly).await;
    let data = pseudo_random(32 << 20, 10);
    t.write("big.bin", &data);
    // One complete transfer first, so lazily created descriptors exist.
    let mut c = t.login().await;
    let d = c.epsv().await;
    c.ok("RETR big.bin", 150).await;
    assert_eq!(read_all(d).await.len(), data.len());
    assert_eq!(c.reply().await.code, 226);
    c.ok("QUIT", 221).await;
    drop(c);
    wait_for("the warm-up session to end", || t.server.connections() == 0).await;
    let baseline = open_fds(t.root());
    for _ in 0..5 {
        let mut c = t.login().await;
        let mut d = c.epsv().await;
        c.ok("RETR big.bin", 150).await;
        let mut buf = vec![0u8; 100_000];
        d.read_exact(&mut buf).await.unwrap();
        kill_client(c, d);
    }
    wait_for("the killed sessions to end", || t.server.connections() == 0).await;
    wait_for(
        &format!("descriptors to be released (baseline {baseline})"),
        || open_fds(t.root()) <= baseline,
    )
    .await;
    t.login().await.ok("NOOP", 200).await;
}

#[tokio::test]
async fn a_client_killed_mid_upload_keeps_the_old_file_and_leaks_nothing() {
    let _g = FD_LOCK.write().await;
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(50_000, 11);
    t.write("keep.bin", &old);
    let mut c = t.login().await;
    c.ok("NOOP", 200).await;
    c.ok("QUIT", 221).await;
    drop(c);
    wait_for("the warm-up session to end", || t.server.connections() == 0).await;
    let baseline = open_fds(t.root());
    for i in 0..5 {
        let mut c = t.login().await;
        let mut d = c.epsv().await;
        c.ok("STOR keep.bin", 150).await;
        d.write_all(&pseudo_random(1 << 20, 12 + i)).await.unwrap();
        kill_client(c, d);
    }
    wait_for("the killed sessions to end", || t.server.connections() == 0).await;
    wait_for("temporary files to be removed", || {
        temp_files(t.root()).is_empty()
    })
    .await;
    wait_for(
        &format!("descriptors to be released (baseline {baseline})"),
        || open_fds(t.root()) <= baseline,
    )
    .await;
    assert_eq!(
        sha256(&std::fs::read(t.path("keep.bin")).unwrap()),
        sha256(&old)
    );
}

/// A client killed mid-upload right after a command that waits for the
/// upload (a keep-alive NOOP, a TYPE, its QUIT): the session is not
/// reading the control connection then, yet it must learn the client is
/// gone. Its kernel closes both connections with a FIN, control or data
/// first, so the data looks complete. STOR, APPE and a resume alike.
#[tokio::test]
async fn a_client_killed_with_a_command_queued_keeps_the_old_file() {
    let t = start(AccessMode::Writable).await;
    let old = pseudo_random(50_000, 21);
    t.write("keep.bin", &old);
    let cases = [
        ("STOR", "NOOP", true),
        ("STOR", "TYPE I", false),
        ("STOR", "QUIT", true),
        ("APPE", "NOOP", false),
        ("REST 50000\r\nSTOR", "NOOP", true),
    ];
    for (i, (cmd, queued, control_first)) in cases.into_iter().enumerate() {
        let mut c = t.login().await;
        let mut d = c.epsv().await;
        if let Some((rest, cmd)) = cmd.split_once("\r\n") {
            c.ok(rest, 350).await;
            c.ok(&format!("{cmd} keep.bin"), 150).await;
        } else {
            c.ok(&format!("{cmd} keep.bin"), 150).await;
        }
        d.write_all(&pseudo_random(100_000, 30 + i as u64))
            .await
            .unwrap();
        c.send_raw(format!("{queued}\r\n").as_bytes()).await;
        // The session reads the command and waits for the upload.
        tokio::time::sleep(Duration::from_millis(100)).await;
        if control_first {
            drop(c);
            drop(d);
        } else {
            drop(d);
            drop(c);
        }
        wait_for("the session to end", || t.server.connections() == 0).await;
        wait_for("temporary files to be removed", || {
            temp_files(t.root()).is_empty()
        })
        .await;
        assert_eq!(
            sha256(&std::fs::read(t.path("keep.bin")).unwrap()),
            sha256(&old),
            "{cmd} with {queued} queued"
        );
    }
}

/// A real client process (Python's ftplib) killed with SIGKILL in the
/// middle of an upload must not replace the file with a truncated one.
/// Over FTPS the missing close_notify shows the data is incomplete; in
/// plain FTP the data connection just closes, but so did the control
/// connection before any 226.
async fn killed_client_process_keeps_the_old_file(tls: bool) {
    let _g = shared_lock().await;
    if !need("python3") {
        return;
    }
    let t = start_with(|b| {
        let b = b.access(AccessMode::Writable);
        if tls {
            let id = TlsIdentity::self_signed(&["127.0.0.1".to_string()]).unwrap();
            b.tls(id, TlsMode::Explicit).require_tls_reuse(false)
        } else {
            b
        }
    })
    .await;
    let old = pseudo_random(50_000, 13);
    t.write("keep.bin", &old);
    let (class, prot) = if tls {
        ("FTP_TLS", "f.prot_p()")
    } else {
        ("FTP", "")
    };
    let script = format!(
        r#"
import ftplib, sys, time
class Slow:
    n = 0
    def read(self, size):
        Slow.n += 1
        if Slow.n == 20:
            print("sent", flush=True)
        if Slow.n > 20:
            time.sleep(3600)
        return b"x" * 65536
f = ftplib.{class}()
f.connect("127.0.0.1", {port})
f.login("{USER}", "{PASS}")
{prot}
f.storbinary("STOR keep.bin", Slow())
"#,
        port = t.addr.port()
    );
    let mut child = tokio::process::Command::new("python3")
        .args(["-c", &script])
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut out = child.stdout.take().unwrap();
    let mut buf = [0u8; 5];
    tokio::time::timeout(Duration::from_secs(30), out.read_exact(&mut buf))
        .await
        .expect("the client did not start uploading")
        .unwrap();
    assert_eq!(&buf[..4], b"sent");
    child.start_kill().unwrap();
    child.wait().await.unwrap();
    wait_for("the killed session to end", || t.server.connections() == 0).await;
    wait_for("temporary files to be removed", || {
        temp_files(t.root()).is_empty()
    })
    .await;
    assert_eq!(
        sha256(&std::fs::read(t.path("keep.bin")).unwrap()),
        sha256(&old)
    );
}

#[tokio::test]
async fn a_killed_ftp_client_process_does_not_replace_the_file() {
    killed_client_process_keeps_the_old_file(false).await;
}

#[tokio::test]
async fn a_killed_ftps_client_process_does_not_replace_the_file() {
    killed_client_process_keeps_the_old_file(true).await;
}

#[tokio::test]
async fn a_full_disk_during_upload_gives_452_and_leaves_no_trace() {
    let _g = shared_lock().await;
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: mounting a small tmpfs needs root");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let mounted = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(dir.path())
        .output()
        .unwrap();
    if !mounted.status.success() {
        eprintln!(
            "skipped: cannot mount a tmpfs: {}",
            String::from_utf8_lossy(&mounted.stderr)
        );
        return;
    }
    let _unmount = Unmount(dir.path().to_path_buf());
    let old = pseudo_random(100_000, 14);
    std::fs::write(dir.path().join("keep.bin"), &old).unwrap();
    let server = ftpshare::Server::builder()
        .root(dir.path())
        .bind("127.0.0.1:0".parse().unwrap())
        .credentials(USER, PASS)
        .access(AccessMode::Writable)
        .limits(test_limits())
        .start()
        .await
        .unwrap();
    let addr = server.local_addr();
    let mut c = Raw::connect(addr).await;
    c.ok("USER tester", 331).await;
    c.ok(&format!("PASS {PASS}"), 230).await;
    for target in ["keep.bin", "new.bin"] {
        let mut d = c.epsv().await;
        c.ok(&format!("STOR {target}"), 150).await;
        // The server stops reading once the disk is full; our writes may
        // then fail, which is expected.
        let _ = d.write_all(&pseudo_random(4 << 20, 15)).await;
        let _ = d.shutdown().await;
        let r = c.reply().await;
        assert!(r.code == 452 || r.code == 552, "{target}: {r:?}");
        drop(d);
        assert_eq!(temp_files(dir.path()), Vec::<String>::new());
    }
    assert_eq!(
        sha256(&std::fs::read(dir.path().join("keep.bin")).unwrap()),
        sha256(&old)
    );
    assert!(!dir.path().join("new.bin").exists());
    // Space was given back, and the server goes on serving.
    let small = pseudo_random(10_000, 16);
    let mut d = c.epsv().await;
    c.ok("STOR small.bin", 150).await;
    d.write_all(&small).await.unwrap();
    d.shutdown().await.unwrap();
    assert_eq!(c.reply().await.code, 226);
    assert_eq!(std::fs::read(dir.path().join("small.bin")).unwrap(), small);
    c.ok("NOOP", 200).await;
    server.shutdown().await;
}

#[tokio::test]
async fn the_served_folder_removed_while_running_gives_clear_errors() {
    let _g = shared_lock().await;
    let t = start(AccessMode::Writable).await;
    t.write("sub/f.txt", b"x");
    let mut events = t.server.subscribe();
    let mut c = t.login().await;
    c.ok("CWD sub", 250).await;
    std::fs::remove_dir_all(t.root()).unwrap();
    c.ok("PWD", 257).await;
    // Every command that needs the folder says it is gone; listings do
    // not come back empty as if it were.
    each_says_gone(
        &mut c,
        &[
            "CWD /sub",
            "SIZE /sub/f.txt",
            "RETR /sub/f.txt",
            "MKD /new",
            "STOR /x",
            "APPE /x",
            "DELE /sub/f.txt",
            "MLST /",
            "STAT /",
            "LIST /",
            "MLSD /",
            "NLST",
        ],
    )
    .await;
    c.ok("NOOP", 200).await;
    t.login().await.ok("NOOP", 200).await;
    // The operator hears of it once.
    let warnings = warnings(&mut events);
    assert_eq!(warnings.len(), 1, "{warnings:?}");
    assert!(
        warnings[0].starts_with("shared folder is gone: "),
        "{warnings:?}"
    );
}

fn chmod(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

/// A folder for a share that file permissions apply to, and whether the
/// binary must run as `nobody` for them to (as root); `None` when it must
/// and setpriv is missing.
fn unprivileged_base() -> Option<(tempfile::TempDir, bool)> {
    // SAFETY: geteuid has no preconditions.
    let root_user = unsafe { libc::geteuid() } == 0;
    if root_user && !need("setpriv") {
        eprintln!("skipped: running as root and setpriv is missing to drop privileges");
        return None;
    }
    let base = tempfile::tempdir().unwrap();
    chmod(base.path(), 0o755);
    Some((base, root_user))
}

/// Folders and files made unreadable while the server runs. Root ignores
/// permissions, so as root the binary is run as `nobody` via setpriv.
#[tokio::test]
async fn unreadable_files_and_folders_give_550_and_the_server_goes_on() {
    let _g = shared_lock().await;
    let Some((base, root_user)) = unprivileged_base() else {
        return;
    };
    let share = base.path().join("share");
    std::fs::create_dir_all(share.join("locked")).unwrap();
    std::fs::write(share.join("locked/f.txt"), b"locked").unwrap();
    std::fs::write(share.join("open.txt"), b"open").unwrap();
    std::fs::write(share.join("secret.txt"), b"secret").unwrap();
    chmod(&share, 0o755);
    chmod(&share.join("locked"), 0o755);
    let (mut child, addr) = spawn_binary(&share, root_user, &[]).await;

    let mut c = Raw::connect(addr).await;
    c.ok("USER tester", 331).await;
    c.ok(&format!("PASS {PASS}"), 230).await;
    chmod(&share.join("locked"), 0o000);
    chmod(&share.join("secret.txt"), 0o000);
    c.ok("RETR secret.txt", 550).await;
    c.ok("RETR locked/f.txt", 550).await;
    // MLST's perm offers only what works (RFC 3659 §7.5.5): no `r` for a
    // file the server cannot read, no `e`/`l` for a folder it cannot enter.
    for (path, perm) in [
        ("open.txt", "perm=r;"),
        ("secret.txt", "perm=;"),
        ("locked", "perm=;"),
    ] {
        let r = c.ok(&format!("MLST {path}"), 250).await;
        assert!(r.text.contains(perm), "{path}: {r:?}");
    }
    c.ok("MLSD locked", 550).await;
    c.ok("LIST locked", 550).await;
    // CWD says yes only where `cd` would: search (x) is what enters.
    c.ok("CWD locked", 550).await;
    chmod(&share.join("locked"), 0o644);
    c.ok("CWD locked", 550).await;
    chmod(&share.join("locked"), 0o711);
    c.ok("CWD locked", 250).await;
    c.ok("PWD", 257).await;
    c.ok("CWD /", 250).await;
    chmod(&share.join("locked"), 0o000);
    // The served folder itself becomes unreadable.
    chmod(&share, 0o000);
    for cmd in ["MLSD /", "RETR open.txt", "CWD locked"] {
        let r = c.ok(cmd, 550).await;
        assert!(r.text.contains("shared folder is unreadable"), "{r:?}");
    }
    c.ok("NOOP", 200).await;
    chmod(&share, 0o755);
    let d = c.epsv().await;
    c.ok("RETR open.txt", 150).await;
    assert_eq!(read_all(d).await, b"open");
    assert_eq!(c.reply().await.code, 226);
    chmod(&share.join("locked"), 0o755);
    c.ok("QUIT", 221).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// On a writable share, MLST's perm offers only what the server's user
/// may do: nothing that changes names in a folder it may not write, no
/// APPE to a file it may not write, and in a sticky folder (as `/tmp`)
/// nothing to another user's file. As root the binary runs as `nobody`.
#[tokio::test]
async fn perm_follows_the_rights_on_disk() {
    let _g = shared_lock().await;
    let Some((base, root_user)) = unprivileged_base() else {
        return;
    };
    let share = base.path().join("share");
    std::fs::create_dir_all(share.join("fixed")).unwrap();
    std::fs::write(share.join("fixed/f.txt"), b"f").unwrap();
    std::fs::write(share.join("ro.txt"), b"ro").unwrap();
    chmod(&share.join("fixed/f.txt"), 0o666);
    chmod(&share.join("fixed"), 0o555);
    chmod(&share.join("ro.txt"), 0o444);
    chmod(&share, 0o777);
    let (mut child, addr) = spawn_binary(&share, root_user, &["-w"]).await;
    let mut c = Raw::connect(addr).await;
    c.ok("USER tester", 331).await;
    c.ok(&format!("PASS {PASS}"), 230).await;
    let cases = [
        ("fixed/f.txt", "perm=r;"),
        ("fixed", "perm=dfel;"),
        ("ro.txt", "perm=dfwr;"),
    ];
    for (path, perm) in cases {
        let r = c.ok(&format!("MLST {path}"), 250).await;
        assert!(r.text.contains(perm), "{path}: {perm} in {r:?}");
    }
    // Made sticky, the folder keeps root's file from nobody.
    if root_user {
        chmod(&share, 0o1777);
        let r = c.ok("MLST ro.txt", 250).await;
        assert!(r.text.contains("perm=r;"), "{r:?}");
    }
    chmod(&share.join("fixed"), 0o755);
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// Runs the ftpshare binary on `dir` (as `nobody` when `drop_root`) and
/// returns it with its control address, read from the --json ready event.
async fn spawn_binary(
    dir: &Path,
    drop_root: bool,
    extra: &[&str],
) -> (tokio::process::Child, SocketAddr) {
    use tokio::io::AsyncBufReadExt;
    let bin = env!("CARGO_BIN_EXE_ftpshare");
    let mut cmd = if drop_root {
        let mut c = tokio::process::Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", bin]);
        c
    } else {
        tokio::process::Command::new(bin)
    };
    cmd.arg(dir)
        .args([
            "--bind",
            "127.0.0.1",
            "--port",
            "0",
            "--user",
            USER,
            "--password",
            PASS,
        ])
        .args(["--json", "--no-qr", "--timeout", "120"])
        .args(extra)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true);
    let mut child = cmd.spawn().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
    let ready = tokio::time::timeout(Duration::from_secs(30), out.next_line())
        .await
        .expect("no ready event")
        .unwrap()
        .expect("the server exited");
    // Keep draining events so the server never blocks on a full pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = out.next_line().await {} });
    let ready: serde_json::Value = serde_json::from_str(&ready).unwrap();
    let port = ready["port"].as_u64().unwrap() as u16;
    (child, ([127, 0, 0, 1], port).into())
}

/// The ban is configurable from the command line.
#[tokio::test]
async fn ban_flags_configure_the_ban() {
    let _g = shared_lock().await;
    let dir = tempfile::tempdir().unwrap();
    let (mut child, addr) = spawn_binary(
        dir.path(),
        false,
        &["--ban-after", "2", "--ban-duration", "1h"],
    )
    .await;
    let mut c = Raw::connect(addr).await;
    for code in [530, 530] {
        c.ok("USER share", 331).await;
        c.ok("PASS wrong", code).await;
    }
    let mut refused = Raw::connect(addr).await;
    assert_eq!(refused.greeting.code, 421, "{:?}", refused.greeting);
    assert!(refused.closed().await);
    child.start_kill().unwrap();
    child.wait().await.unwrap();

    // --ban-duration 0 turns the ban off.
    let (mut child, addr) = spawn_binary(
        dir.path(),
        false,
        &["--ban-after", "1", "--ban-duration", "0"],
    )
    .await;
    let mut c = Raw::connect(addr).await;
    c.ok("USER share", 331).await;
    c.ok("PASS wrong", 530).await;
    let mut admitted = Raw::connect(addr).await;
    assert_eq!(admitted.greeting.code, 220);
    admitted.ok(&format!("USER {USER}"), 331).await;
    admitted.ok(&format!("PASS {PASS}"), 230).await;
    child.start_kill().unwrap();
    child.wait().await.unwrap();
}

/// A blocking control connection for load from plain threads, so the
/// clients take no turn on the server's runtime.
struct BlockingClient {
    reader: std::io::BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl BlockingClient {
    fn login(addr: SocketAddr) -> BlockingClient {
        let stream = std::net::TcpStream::connect(addr).unwrap();
        stream.set_nodelay(true).unwrap();
        let mut c = BlockingClient {
            reader: std::io::BufReader::new(stream.try_clone().unwrap()),
            writer: stream,
        };
        assert!(c.line().starts_with("220"));
        assert!(c.cmd("USER tester").starts_with("331"));
        assert!(c.cmd(&format!("PASS {PASS}")).starts_with("230"));
        c
    }

    fn line(&mut self) -> String {
        use std::io::BufRead;
        let mut line = String::new();
        self.reader.read_line(&mut line).unwrap();
        line
    }

    fn cmd(&mut self, cmd: &str) -> String {
        use std::io::Write;
        self.writer
            .write_all(format!("{cmd}\r\n").as_bytes())
            .unwrap();
        self.line()
    }
}

/// Slow file-system work in four sessions (TYPE A + SIZE reads a whole
/// large file to count its line ends) must not hold up a fifth: its NOOP
/// round trips stay close to what they are without that load. Run inline
/// on the runtime, that work made them take seconds (7.99 s measured).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_file_system_work_does_not_stall_other_sessions() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Barrier};
    const LOADERS: usize = 4;
    let _g = shared_lock().await;
    let t = start(AccessMode::ReadOnly).await;
    let text = b"a line of text\n".repeat(32 << 20 >> 4);
    t.write("big.txt", &text);
    let expected = format!("213 {}", text.len() + text.len() / 15);
    let addr = t.addr;
    let probe = tokio::task::spawn_blocking(move || {
        let mut c = BlockingClient::login(addr);
        // The same round trips without load, so the bound below scales
        // with how busy this machine is anyway.
        let baseline = noop_rtts(&mut c);
        let stop = Arc::new(AtomicBool::new(false));
        // Each loader arrives once its own first SIZE is answered and its
        // second is about to be sent: then all of them are busy.
        let busy = Arc::new(Barrier::new(LOADERS + 1));
        let loaders: Vec<_> = (0..LOADERS)
            .map(|_| {
                let (stop, busy, expected) = (stop.clone(), busy.clone(), expected.clone());
                std::thread::spawn(move || {
                    let mut c = BlockingClient::login(addr);
                    assert!(c.cmd("TYPE A").starts_with("200"));
                    let first = c.cmd("SIZE big.txt");
                    // Arrive even on a wrong reply, so the probe cannot hang.
                    busy.wait();
                    assert_eq!(first.trim_end(), expected);
                    while !stop.load(Ordering::Relaxed) {
                        assert_eq!(c.cmd("SIZE big.txt").trim_end(), expected);
                    }
                })
            })
            .collect();
        busy.wait();
        let loaded = noop_rtts(&mut c);
        stop.store(true, Ordering::Relaxed);
        for l in loaders {
            l.join().unwrap();
        }
        (baseline, loaded)
    });
    let (baseline, loaded) = probe.await.unwrap();
    let p99 = |rtts: &[Duration]| rtts[rtts.len() * 99 / 100];
    let bound = (p99(&baseline) * 20).max(Duration::from_millis(500));
    assert!(
        p99(&loaded) < bound,
        "NOOP p99 {:?} under file-system load, {:?} without (bound {bound:?}; p50 {:?})",
        p99(&loaded),
        p99(&baseline),
        loaded[loaded.len() / 2]
    );
}

/// Sixty NOOP round trips, paced 10 ms apart, sorted.
fn noop_rtts(c: &mut BlockingClient) -> Vec<Duration> {
    let mut rtts: Vec<Duration> = (0..60)
        .map(|_| {
            std::thread::sleep(Duration::from_millis(10));
            let start = Instant::now();
            assert!(c.cmd("NOOP").starts_with("200"));
            start.elapsed()
        })
        .collect();
    rtts.sort();
    rtts
}
