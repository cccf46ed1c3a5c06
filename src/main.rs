//! `ftpshare`: share a folder over FTP(S) in one command.

mod cli;

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use clap::{CommandFactory, Parser};
use ftpshare::{AccessMode, Direction, Event, Limits, Server, TlsIdentity, TlsMode};
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

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
    init_logging(args.verbose);
    if std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()) {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
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

fn init_logging(verbose: u8) {
    let level = match verbose {
        0 => return,
        1 => "ftpshare=debug",
        _ => "ftpshare=trace",
    };
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(level))
        .with_writer(std::io::stderr)
        .with_target(false)
        .try_init();
}

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
            names.dedup();
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
    let server = builder.start().await.map_err(|e| e.to_string())?;
    let started = Instant::now();
    let deadline = args.timeout.0.map(|d| started + d);

    let cfg = server.config();
    let url = server.url_for(&host);
    let fingerprint = cfg.tls.as_ref().map(|t| t.fingerprint().to_string());
    let port = server.local_addr().port();
    let root_text = server.root().display().to_string();
    if args.json {
        cli::json::emit(&json!({
            "event": "ready",
            "url": url,
            "host": host.trim_matches(['[', ']']),
            "port": port,
            "user": cfg.user,
            "password": cfg.password,
            "root": root_text,
            "writable": access != AccessMode::ReadOnly,
            "mode": mode_name(access),
            "anonymous": args.anonymous,
            "tls": tls_mode != TlsMode::Off,
            "tls_mode": match tls_mode { TlsMode::Off => "off", TlsMode::Explicit => "explicit", TlsMode::Implicit => "implicit" },
            "tls_fingerprint": fingerprint,
            "expires_in_s": args.timeout.0.map(|d| d.as_secs()),
            "pid": std::process::id(),
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
        if args.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    } else if !args.json {
        println!("{url}");
    }

    let mut ui = Ui::new(args.json, args.quiet, deadline);
    let max_transfers = if args.once {
        Some(1)
    } else {
        args.max_transfers
    };
    let reason = watch(&server, &mut ui, args.json, deadline, max_transfers).await?;
    ui.log(&format!("stopping ({})", reason.as_str()));

    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let shutdown = server.shutdown();
    tokio::pin!(shutdown);
    tokio::select! {
        _ = &mut shutdown => {}
        _ = sigint.recv() => {
            // A second Ctrl-C: stop running transfers now.
            server.abort_transfers();
            shutdown.await;
        }
    }
    ui.finish();
    if args.json {
        cli::json::emit(&json!({"event": "exit", "reason": reason.as_str()}));
    }
    if let Some(t) = temp {
        if args.keep {
            let kept = t.keep();
            ui.log(&format!("kept {}", kept.display()));
        }
    }
    Ok(())
}

/// Runs until the timeout, a signal, or the last allowed transfer.
async fn watch(
    server: &ftpshare::RunningServer,
    ui: &mut Ui,
    json: bool,
    deadline: Option<Instant>,
    max_transfers: Option<u64>,
) -> Result<Reason, String> {
    let mut events = server.subscribe();
    let mut sigint = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let mut sigterm = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut tick = tokio::time::interval(std::time::Duration::from_millis(200));
    let far = Instant::now() + std::time::Duration::from_secs(100 * 365 * 86_400);
    let until = tokio::time::Instant::from_std(deadline.unwrap_or(far));
    let mut done = 0u64;
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(until) => return Ok(Reason::Timeout),
            _ = sigint.recv() => return Ok(Reason::Signal),
            _ = sigterm.recv() => return Ok(Reason::Signal),
            _ = tick.tick() => ui.tick(),
            ev = events.recv() => {
                let ev = match ev {
                    Ok(ev) => ev,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                    Err(_) => return Ok(Reason::Signal),
                };
                ui.on_event(&ev);
                if json {
                    if let Some(v) = cli::json::event(&ev) {
                        cli::json::emit(&v);
                    }
                }
                if let Event::TransferFinished { error: None, direction: Direction::Download | Direction::Upload, .. } = ev {
                    done += 1;
                    if max_transfers.is_some_and(|max| done >= max) {
                        return Ok(Reason::MaxTransfers);
                    }
                }
            }
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
