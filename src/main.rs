//! `ftpshare`: share a folder over FTP(S) in one command.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;
use std::time::Instant;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use ftpshare::{AccessMode, TlsMode};
use serde_json::json;

use cli::args::{Cli, Serve, Tool};
use cli::banner::{BannerInfo, Temp, TlsInfo};
use cli::run::Signals;
use cli::setup::{mode_name, Setup};
use cli::ui::Ui;

fn main() -> ExitCode {
    let matches = Cli::command().get_matches();
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(tool) = &cli.command {
        shadowed_folder(tool);
    }
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
    if args.password.as_deref() == Some("") {
        // Name where the empty value came from: an exported variable is
        // easy to forget.
        let from_env = matches.value_source("password") == Some(ValueSource::EnvVariable);
        let msg = match from_env {
            true => {
                "FTPSHARE_PASSWORD is set but empty: unset it for a generated password, or set one"
            }
            false => "--password must not be empty (leave it out for a generated one)",
        };
        Cli::command()
            .error(clap::error::ErrorKind::InvalidValue, msg)
            .exit();
    }
    if args.keep && !args.temp {
        // clap skips `requires` once DIR (which conflicts with --temp) is given.
        Cli::command()
            .error(
                clap::error::ErrorKind::MissingRequiredArgument,
                "--keep only makes sense with --temp",
            )
            .exit();
    }
    if let Err(msg) = cli::paths::check(&args) {
        cli::ui::stderr_line(&format!("ftpshare: error: {}", ftpshare::escape(&msg)));
        return ExitCode::from(2);
    }
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if no_color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    init_logging(args.verbose, no_color);
    let json = args.json;
    if args.fixture() {
        cli::json::to_stderr();
    }
    // At least two workers, also on one CPU: the loop that prints events
    // can block on a full pipe or a stopped terminal, and the server must
    // go on meanwhile (the events it misses are counted, not waited for).
    // TOKIO_WORKER_THREADS, when set, still decides.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if std::env::var_os("TOKIO_WORKER_THREADS").is_none() {
        builder.worker_threads(std::thread::available_parallelism().map_or(2, |n| n.get().max(2)));
    }
    let runtime = match builder.enable_all().build() {
        Ok(rt) => rt,
        Err(e) => return fail(json, &format!("cannot start the runtime: {e}")),
    };
    // On a worker rather than the main thread: every server event wakes
    // this loop, and a wake-up on the same thread needs no futex round trip.
    match runtime.block_on(runtime.spawn(serve(args))) {
        Ok(Ok(status)) => ExitCode::from(status),
        Ok(Err(msg)) => fail(json, &msg),
        Err(e) => fail(json, &format!("internal error: {e}")),
    }
}

/// `ftpshare man` (or `completions`) runs the tool even when a folder of
/// that name is here; say how to share the folder instead.
fn shadowed_folder(tool: &Tool) {
    let name = match tool {
        Tool::Man => "man",
        Tool::Completions { .. } => "completions",
    };
    if std::path::Path::new(name).is_dir() {
        eprintln!(
            "ftpshare: note: `{name}` is a command; to share the folder, run `ftpshare ./{name}`"
        );
    }
}

/// Exit 1 with one line on stderr (and an exit event for scripts).
fn fail(json: bool, msg: &str) -> ExitCode {
    if json {
        cli::json::emit(&json!({"event": "exit", "reason": "error", "error": msg}));
    }
    // Messages can quote a path or a name.
    cli::ui::stderr_line(&format!("ftpshare: error: {}", ftpshare::escape(msg)));
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

/// A start error, with the way out when there is an obvious one.
fn start_error(e: ftpshare::StartError) -> String {
    match &e {
        ftpshare::StartError::Bind { addr, source }
            if source.kind() == std::io::ErrorKind::PermissionDenied && addr.port() < 1024 =>
        {
            format!("{e} (ports below 1024 need root or CAP_NET_BIND_SERVICE; use -p 0 for a free port)")
        }
        _ => e.to_string(),
    }
}

/// Serves until it is time to stop; returns the exit status.
async fn serve(args: Serve) -> Result<u8, String> {
    let Setup {
        builder,
        host,
        others,
        temp,
        generated_password,
    } = cli::setup::setup(&args)?;
    let mut signals = Signals::new()?;
    let server = builder.start().await.map_err(start_error)?;
    let mut feed = cli::run::Feed::new(&server);
    let timeout = args.timeout();
    let deadline = timeout.map(|d| Instant::now() + d);
    let url = server.url_for(&host);
    let root = cli::banner::shared(&server);
    let upload_url = cli::banner::upload_url(&server, &url);
    // In fixture mode stdout and the terminal belong to the command.
    let fixture = args.fixture();
    let to_stderr = args.json || fixture;
    if args.json {
        cli::json::emit(&cli::json::ready(&server, &url, &host, timeout));
    }
    let cfg = server.config();
    let limits =
        (cfg.access != AccessMode::ReadOnly && cfg.uploads.any()).then(|| cfg.uploads.to_string());
    // In fixture mode there is no banner: the command gets all it needs
    // from its environment.
    let info = (!fixture && !args.quiet).then(|| BannerInfo {
        root: &root,
        mode: mode_name(cfg.access),
        url: &url,
        upload_url: upload_url.as_deref(),
        host: &host,
        port: server.local_addr().port(),
        user: &cfg.user,
        password: &cfg.password,
        generated_password,
        anonymous: cfg.anonymous,
        others: &others,
        expires: timeout.and_then(|d| std::time::SystemTime::now().checked_add(d)),
        tls: cfg.tls.as_ref().map(|t| TlsInfo {
            fingerprint: t.fingerprint(),
            spki_sha256: t.spki_sha256(),
            fingerprint_sha1: t.fingerprint_sha1(),
            strict: cfg.require_tls_reuse,
            implicit: cfg.tls_mode == TlsMode::Implicit,
        }),
        temp: match (&temp, args.keep) {
            (None, _) => Temp::No,
            (Some(_), false) => Temp::Removed,
            (Some(_), true) => Temp::Kept,
        },
        limits: limits.as_deref(),
    });
    let (qr, qr_invert) = (!args.no_qr, args.qr_invert);
    if let Some(info) = &info {
        let width = cli::fit::terminal_width(args.json).unwrap_or(usize::MAX);
        say(args.json, &cli::banner::render(info, qr, qr_invert, width));
    } else if !fixture && !args.json {
        // The essentials: how to connect, and where a temporary folder is.
        say(false, &ftpshare::escape(&url));
        if temp.is_some() {
            say(false, &ftpshare::escape(&root));
        }
    }
    // A resize clears the screen and redraws the banner with the bars:
    // not with --json (its lines may reach the same terminal through a
    // pipe, `| tee`) or -v (trace lines are not kept to redraw).
    let banner = info
        .as_ref()
        .filter(|_| !args.json && args.verbose == 0)
        .map(|info| {
            Box::new(move |width| cli::banner::render(info, qr, qr_invert, width))
                as cli::ui::Banner
        });

    // With a command, log lines only with -v, and never bars.
    let quiet = args.quiet || (fixture && args.verbose == 0);
    let mut ui = Ui::new(to_stderr, quiet, !fixture, deadline, banner);
    let (reason, done, status) = if fixture {
        let env = cli::fixture::environment(&server, &url, &host);
        let (reason, status) = match cli::fixture::spawn(&args.command, &env) {
            Ok(child) => {
                let grace = server.config().limits.shutdown_grace;
                let o = cli::fixture::run(
                    child,
                    &mut feed,
                    &mut signals,
                    &mut ui,
                    args.json,
                    deadline,
                    grace,
                )
                .await;
                (o.reason, o.status)
            }
            Err((status, msg)) => {
                cli::ui::stderr_line(&format!("ftpshare: {}", ftpshare::escape(&msg)));
                (cli::run::Reason::Command, status)
            }
        };
        let done = cli::run::stop(&server, feed, &mut signals, &mut ui, args.json, reason).await;
        (reason, done, Some(status))
    } else {
        let max_transfers = if args.once {
            Some(1)
        } else {
            args.max_transfers
        };
        let (reason, done) = cli::run::run(
            &server,
            feed,
            &mut signals,
            &mut ui,
            args.json,
            deadline,
            max_transfers,
        )
        .await;
        (reason, done, None)
    };
    ui.finish(done);
    let kept = match temp {
        Some(t) if args.keep => Some(t.keep()),
        _ => None,
    };
    if let Some(k) = &kept {
        ui.log(&format!("kept {}", k.display()));
    }
    if args.json {
        let mut exit = json!({"event": "exit", "reason": reason.as_str(), "transfers": done});
        if let Some(status) = status {
            exit["status"] = json!(status);
        }
        if let Some(k) = &kept {
            exit["kept"] = json!(k.display().to_string());
        }
        if limits.is_some() {
            cli::json::upload_usage(&mut exit, &server);
        }
        cli::json::emit(&exit);
    }
    Ok(status.unwrap_or(0))
}
