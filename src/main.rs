//! `ftpshare`: share a folder over FTP(S) in one command.

mod cli;

use std::io::IsTerminal;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::{CommandFactory, Parser};
use ftpshare::{AccessMode, Event, Limits, Server, TlsIdentity, TlsMode};
use serde_json::json;
use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::broadcast::error::RecvError;

use cli::args::{Cli, Serve, Tool};
use cli::banner::{BannerInfo, TlsInfo};
use cli::ui::Ui;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Some(Tool::Completions { shell }) => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "ftpshare",
                &mut std::io::stdout(),
            );
            return ExitCode::SUCCESS;
        }
        Some(Tool::Man) => {
            let _ = clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout());
            return ExitCode::SUCCESS;
        }
        None => {}
    }
    let args = cli.serve;
    if args.keep && !args.temp {
        // clap skips `requires` once DIR (which conflicts with --temp) is given.
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--keep only makes sense with --temp",
            )
            .exit();
    }
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if no_color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    init_logging(args.verbose, no_color);
    let json = args.json;
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => return fail(json, &format!("cannot start the runtime: {e}")),
    };
    match runtime.block_on(serve(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(msg) => fail(json, &msg),
    }
}

/// Exit 1 with one line on stderr (and an exit event for scripts).
fn fail(json: bool, msg: &str) -> ExitCode {
    if json {
        cli::json::emit(&json!({"event": "exit", "reason": "error", "error": msg}));
    }
    eprintln!("ftpshare: error: {msg}");
    ExitCode::from(1)
}

/// A line for people, on stderr with --json; a closed pipe (`| head`)
/// must not end the server.
fn say(to_stderr: bool, text: &str) {
    use std::io::Write;
    let _ = if to_stderr {
        writeln!(std::io::stderr().lock(), "{text}")
    } else {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{text}").and_then(|()| out.flush())
    };
}

fn init_logging(verbose: u8, no_color: bool) {
    let level = match verbose {
        0 => return,
        1 => "ftpshare=debug",
        _ => "ftpshare=trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(cli::ui::LogWriter::default)
        .with_ansi(!no_color && std::io::stderr().is_terminal())
        .with_timer(cli::ui::Clock)
        .with_target(false)
        .try_init();
}

/// How often the status line and the bars refresh.
const TICK: Duration = Duration::from_millis(200);

/// Why the server stopped, as the `exit` event says it.
#[derive(Clone, Copy)]
enum Reason {
    Timeout,
    Signal,
    MaxTransfers,
}

impl Reason {
    fn as_str(self) -> &'static str {
        match self {
            Reason::Timeout => "timeout",
            Reason::Signal => "signal",
            Reason::MaxTransfers => "max-transfers",
        }
    }
}

async fn serve(args: Serve) -> Result<(), String> {
    let temp = match args.temp {
        true => Some(
            tempfile::Builder::new()
                .prefix("ftpshare-")
                .tempdir()
                .map_err(|e| format!("cannot create a temporary folder: {e}"))?,
        ),
        false => None,
    };
    let root: PathBuf = match (&temp, &args.dir) {
        (Some(t), _) => t.path().to_path_buf(),
        (None, Some(d)) => d.clone(),
        (None, None) => PathBuf::from("."),
    };
    let access = if args.upload_only {
        AccessMode::UploadOnly
    } else if args.write || args.temp {
        AccessMode::Writable
    } else {
        AccessMode::ReadOnly
    };
    let bind_ip = args.bind.unwrap_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED));

    // The host people should use: what they asked for, the address bound,
    // or the LAN address of this machine.
    let detected = match (&args.public_host, bind_ip.is_unspecified()) {
        (None, true) => Some(cli::address::detect(bind_ip.is_ipv6())),
        _ => None,
    };
    let host = match (&args.public_host, &detected) {
        (Some(h), _) => h.clone(),
        (None, Some(d)) => url_host(d.primary),
        (None, None) => url_host(bind_ip),
    };
    let others: Vec<String> = detected
        .iter()
        .flat_map(|d| d.others.iter().map(|(ip, name)| format!("{ip} ({name})")))
        .collect();

    let tls_mode = if args.implicit_tls {
        TlsMode::Implicit
    } else if args.tls || args.tls_cert.is_some() {
        TlsMode::Explicit
    } else {
        TlsMode::Off
    };
    let identity = match (&args.tls_cert, &args.tls_key, tls_mode) {
        (Some(cert), Some(key), _) => {
            Some(TlsIdentity::from_pem_files(cert, key).map_err(|e| e.to_string())?)
        }
        (_, _, TlsMode::Off) => None,
        _ => {
            let mut names = vec!["localhost".to_string(), "127.0.0.1".into(), "::1".into()];
            names.push(host.trim_matches(['[', ']']).to_string());
            if let Some(d) = &detected {
                names.extend(d.others.iter().map(|(ip, _)| ip.to_string()));
            }
            let mut seen = std::collections::HashSet::new();
            names.retain(|n| seen.insert(n.clone()));
            Some(TlsIdentity::self_signed(&names).map_err(|e| e.to_string())?)
        }
    };

    let limits = Limits {
        idle_timeout: args
            .idle_timeout
            .0
            .unwrap_or(std::time::Duration::from_secs(u32::MAX as u64)),
        max_connections: args.max_connections,
        max_connections_per_ip: args.max_connections_per_ip,
        max_rate: args.max_rate,
        // A zero ban duration bans no one.
        ban_after: if args.ban_duration.0.is_some() {
            args.ban_after
        } else {
            0
        },
        ban_duration: args.ban_duration.0.unwrap_or_default(),
        ..Limits::default()
    };
    let generated_password = args.password.is_none();
    let mut builder = Server::builder()
        .root(&root)
        .bind(SocketAddr::new(bind_ip, args.port))
        .credentials(args.user.clone(), args.password.clone().unwrap_or_default())
        .access(access)
        .anonymous(args.anonymous)
        .require_tls_reuse(!args.no_tls_reuse)
        .limits(limits);
    if let Some(range) = &args.passive_ports {
        builder = builder.passive_ports(range.clone());
    }
    if let Some(h) = &args.public_host {
        builder = builder.public_host(h.clone());
    }
    if let Some(id) = identity {
        builder = builder.tls(id, tls_mode);
    }
    let mut signals = Signals::new()?;
    let server = builder.start().await.map_err(|e| e.to_string())?;
    let mut events = server.subscribe();
    let started = Instant::now();
    let deadline = args.timeout.0.map(|d| started + d);

    let cfg = server.config();
    let url = server.url_for(&host);
    let fingerprint = cfg.tls.as_ref().map(|t| t.fingerprint().to_string());
    let port = server.local_addr().port();
    let root_text = server.root().display().to_string();
    if args.json {
        // The contract's fields first, in its order; extras after.
        cli::json::emit(&json!({
            "event": "ready",
            "url": url,
            "host": host.trim_matches(['[', ']']),
            "port": port,
            "user": cfg.user,
            "password": cfg.password,
            "root": root_text,
            "writable": access != AccessMode::ReadOnly,
            "tls": tls_mode != TlsMode::Off,
            "tls_fingerprint": fingerprint,
            "expires_in_s": args.timeout.0.map(|d| d.as_secs()),
            "pid": std::process::id(),
            "mode": mode_name(access),
            "anonymous": args.anonymous,
            "tls_mode": match tls_mode { TlsMode::Off => "off", TlsMode::Explicit => "explicit", TlsMode::Implicit => "implicit" },
        }));
    }
    if !args.quiet {
        let info = BannerInfo {
            root: &root_text,
            mode: mode_name(access),
            url: &url,
            host: &host,
            port,
            user: &cfg.user,
            password: &cfg.password,
            generated_password,
            anonymous: args.anonymous,
            others: &others,
            expires: args.timeout.0,
            tls: fingerprint.as_deref().map(|f| TlsInfo {
                fingerprint: f,
                implicit: tls_mode == TlsMode::Implicit,
            }),
            temp: temp.is_some(),
        };
        let text = cli::banner::render(&info, !args.no_qr, args.qr_invert);
        say(args.json, &text);
    } else if !args.json {
        // The essentials: how to connect, and where a temporary folder is.
        say(false, &url);
        if temp.is_some() {
            say(false, &root_text);
        }
    }

    let mut ui = Ui::new(args.json, args.quiet, deadline);
    let max_transfers = if args.once {
        Some(1)
    } else {
        args.max_transfers
    };
    let mut done = 0;
    let reason = run_until_stop(
        &mut events,
        &mut signals,
        &mut ui,
        args.json,
        deadline,
        max_transfers,
        &mut done,
    )
    .await;

    let running = ui.running_transfers();
    if running > 0 {
        let s = if running == 1 { "" } else { "s" };
        ui.log(&format!(
            "stopping ({}): letting {running} transfer{s} finish, Ctrl-C again to stop now",
            reason.as_str()
        ));
    } else {
        ui.log(&format!("stopping ({})", reason.as_str()));
    }
    ui.stopping();
    // Keep reporting while running transfers finish.
    let shutdown = server.shutdown();
    tokio::pin!(shutdown);
    let mut aborted = false;
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            _ = signals.recv(), if !aborted => {
                // A second Ctrl-C: stop running transfers now.
                aborted = true;
                ui.log("stopping now");
                server.abort_transfers();
            }
            _ = tick.tick() => ui.tick(),
            ev = events.recv() => {
                if let Ok(ev) = ev {
                    report(&ev, &mut ui, args.json);
                    done += u64::from(completed(&ev));
                }
            }
        }
    }
    // Sessions are gone; report what they said last.
    while let Ok(ev) = events.try_recv() {
        report(&ev, &mut ui, args.json);
        done += u64::from(completed(&ev));
    }
    ui.finish();
    let kept = match temp {
        Some(t) if args.keep => Some(t.keep()),
        _ => None,
    };
    if let Some(k) = &kept {
        ui.log(&format!("kept {}", k.display()));
    }
    if args.json {
        let mut exit = json!({"event": "exit", "reason": reason.as_str(), "transfers": done});
        if let Some(k) = &kept {
            exit["kept"] = json!(k.display().to_string());
        }
        cli::json::emit(&exit);
    }
    Ok(())
}

/// Ctrl-C, SIGTERM and SIGHUP (the terminal closed), caught from the
/// start so that none kills the process before it can stop cleanly.
struct Signals {
    int: Signal,
    term: Signal,
    hup: Signal,
}

impl Signals {
    fn new() -> Result<Signals, String> {
        let sig = |kind| signal(kind).map_err(|e| format!("cannot handle signals: {e}"));
        Ok(Signals {
            int: sig(SignalKind::interrupt())?,
            term: sig(SignalKind::terminate())?,
            hup: sig(SignalKind::hangup())?,
        })
    }

    async fn recv(&mut self) {
        tokio::select! {
            _ = self.int.recv() => {}
            _ = self.term.recv() => {}
            _ = self.hup.recv() => {}
        }
    }
}

/// Runs until the timeout, a signal, or the last allowed transfer;
/// `done` counts completed transfers.
async fn run_until_stop(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    signals: &mut Signals,
    ui: &mut Ui,
    json: bool,
    deadline: Option<Instant>,
    max_transfers: Option<u64>,
    done: &mut u64,
) -> Reason {
    let far = Instant::now() + Duration::from_secs(100 * 365 * 86_400);
    let until = tokio::time::Instant::from_std(deadline.unwrap_or(far));
    let mut tick = tokio::time::interval(TICK);
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return Reason::Timeout,
            _ = signals.recv() => return Reason::Signal,
            _ = tick.tick() => ui.tick(),
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(RecvError::Lagged(_)) => continue,
                    Err(RecvError::Closed) => return Reason::Signal,
                };
                report(&ev, ui, json);
                if completed(&ev) {
                    *done += 1;
                    if max_transfers.is_some_and(|max| *done >= max) {
                        return Reason::MaxTransfers;
                    }
                }
            }
        }
    }
}

/// A download or upload that finished without error.
fn completed(ev: &Event) -> bool {
    matches!(ev, Event::TransferFinished { error: None, .. })
}

fn report(ev: &Event, ui: &mut Ui, json: bool) {
    ui.on_event(ev);
    if json {
        if let Some(v) = cli::json::event(ev) {
            cli::json::emit(&v);
        }
    }
}

fn mode_name(mode: AccessMode) -> &'static str {
    match mode {
        AccessMode::ReadOnly => "read-only",
        AccessMode::Writable => "writable",
        AccessMode::UploadOnly => "upload-only",
    }
}

fn url_host(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) if v6.is_unspecified() => "127.0.0.1".into(),
        IpAddr::V6(v6) => format!("[{v6}]"),
    }
}
