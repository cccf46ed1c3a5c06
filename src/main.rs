//! `ftpshare`: share a folder or files over FTP(S) in one command.
//!
//! The process around one run: the usage errors clap cannot catch, the
//! tools (`man`, `completions`), output settings, the runtime, and the
//! exit status. The run itself is `cli::serve`.

mod cli;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{ArgMatches, CommandFactory, FromArgMatches};
use serde_json::json;

use cli::args::{Cli, Serve, Tool};

fn main() -> ExitCode {
    let matches = Cli::command().try_get_matches().unwrap_or_else(|mut e| {
        if e.kind() == clap::error::ErrorKind::DisplayHelp {
            shadowed_help();
        }
        path_tip(&mut e);
        e.exit()
    });
    let cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
    if let Some(tool) = cli.command {
        shadowed_folder(&tool);
        return run_tool(tool);
    }
    let args = cli.serve;
    // First, so that a second start does nothing twice.
    if cli::setup::tls_mode(&args) != ftpshare::TlsMode::Off {
        cli::copies::avoid_slow_rep_movsb();
    }
    if let Err(status) = check_usage(&matches, &args) {
        return status;
    }
    init_output(&args);
    // Not in fixture mode: the command would inherit the raised limit.
    if args.command.is_empty() {
        raise_open_file_limit();
    }
    let json = args.json;
    let runtime = match runtime() {
        Ok(rt) => rt,
        Err(e) => return fail(json, &format!("cannot start the runtime: {e}")),
    };
    // Spawned, so that a panic in it is an error to report, not an abort.
    match runtime.block_on(runtime.spawn(cli::serve::serve(args))) {
        Ok(Ok(status)) => ExitCode::from(status),
        Ok(Err(msg)) => fail(json, &msg),
        Err(e) => fail(json, &format!("internal error: {e}")),
    }
}

/// clap's tip for an unknown `-x` is to write `-- -x`, but here `--` starts
/// fixture mode's command: a path that starts with `-` is written `./-x`.
fn path_tip(e: &mut clap::Error) {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if e.kind() != ErrorKind::UnknownArgument {
        return;
    }
    let Some(ContextValue::String(arg)) = e.get(ContextKind::InvalidArg) else {
        return;
    };
    // clap names the first unknown flag of a group: `-r` of `-rf`, `-z`
    // of `-wz`.
    let words: Vec<String> = std::env::args_os()
        .skip(1)
        .map(|w| w.to_string_lossy().into_owned())
        .collect();
    let letter = arg.strip_prefix('-').filter(|l| l.chars().count() == 1);
    let word = words
        .iter()
        .find(|w| w.starts_with(arg.as_str()))
        .or_else(|| {
            let letter = letter?;
            words
                .iter()
                .find(|w| w.starts_with('-') && !w.starts_with("--") && w.contains(letter))
        })
        .cloned()
        .unwrap_or_else(|| arg.clone());
    // A misspelt flag has clap's "a similar argument exists" already.
    let tips = match e.get(ContextKind::SuggestedArg) {
        Some(_) => vec![],
        None => vec![format!("to share a path that starts with '-', write './{word}'").into()],
    };
    e.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
}

/// Each session holds a descriptor, and two or three more while it
/// transfers: under the usual soft limit of 1024 the server ran out of
/// them before its own limit of 1024 connections could answer `421`, and
/// sessions already in got `425` for their data connections. The soft limit is raised to the hard one, as
/// servers do; where that is not allowed, the limit stays as it was.
fn raise_open_file_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource};
    let limit = getrlimit(Resource::Nofile);
    if limit.current != limit.maximum {
        let raised = rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        };
        let _ = setrlimit(Resource::Nofile, raised);
    }
}

/// `ftpshare completions SHELL` and `ftpshare man`: print and exit.
fn run_tool(tool: Tool) -> ExitCode {
    match tool {
        Tool::Completions { shell } => {
            clap_complete::generate(
                shell,
                &mut Cli::command(),
                "ftpshare",
                &mut std::io::stdout(),
            );
        }
        Tool::Man => {
            let _ = clap_mangen::Man::new(Cli::command()).render(&mut std::io::stdout());
        }
    }
    ExitCode::SUCCESS
}

/// What clap cannot check: an empty password, --keep without --temp, and
/// paths that cannot be shared together. Each is a usage error (exit 2).
fn check_usage(matches: &ArgMatches, args: &Serve) -> Result<(), ExitCode> {
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
    if let Err(msg) = cli::paths::check(args) {
        cli::ui::stderr_line(&format!("ftpshare: error: {}", ftpshare::escape(&msg)));
        return Err(ExitCode::from(2));
    }
    Ok(())
}

/// Colours, -v logging, and where --json lines go.
fn init_output(args: &Serve) {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    if no_color {
        console::set_colors_enabled(false);
        console::set_colors_enabled_stderr(false);
    }
    init_logging(args.verbose, no_color);
    if args.fixture() {
        cli::json::to_stderr();
    }
}

/// The runtime of the display, the signals and the `--json` lines; the
/// sessions run on threads of their own (`session_threads`), so a write
/// to a full pipe or a stopped terminal here never holds them up.
fn runtime() -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
}

/// `ftpshare man` (or `completions`) runs the tool even when a folder of
/// that name is here; say how to share the folder instead.
fn shadowed_folder(tool: &Tool) {
    let name = match tool {
        Tool::Man => "man",
        Tool::Completions { .. } => "completions",
    };
    shadowed_folder_note(name);
}

fn shadowed_folder_note(name: &str) {
    if std::path::Path::new(name).is_dir() {
        cli::ui::stderr_line(&format!(
            "ftpshare: note: `{name}` is a command; to share the folder, run `ftpshare ./{name}`"
        ));
    }
}

/// `ftpshare help` prints the help, as `man` and `completions` run their
/// tool: with a folder named `help` here, say how to share it instead.
fn shadowed_help() {
    let first = std::env::args_os().nth(1);
    if first.as_deref() == Some(std::ffi::OsStr::new("help")) {
        shadowed_folder_note("help");
    }
}

/// Exit 1 with one line on stderr (and an exit event for scripts).
fn fail(json: bool, msg: &str) -> ExitCode {
    if json {
        let mut exit = cli::json::exit("error", 0, None, None);
        exit["error"] = json!(msg);
        cli::json::emit(&exit);
    }
    // Messages can quote a path or a name.
    cli::ui::stderr_line(&format!("ftpshare: error: {}", ftpshare::escape(msg)));
    ExitCode::from(1)
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
