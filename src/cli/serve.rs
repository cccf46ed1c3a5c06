//! One run, from the command line to the exit line: set the server up and
//! start it, announce it (the banner, the URL or the `ready` line), serve
//! until it is time to stop (or until COMMAND exits in fixture mode), and
//! report how the run ended.

use std::time::{Duration, Instant, SystemTime};

use ftpshare::{escape, AccessMode, Event, RunningServer, TlsMode};

use super::args::Serve;
use super::banner::{BannerInfo, Temp, TlsInfo};
use super::run::{Feed, Reason, Signals};
use super::setup::{mode_name, Setup};
use super::ui::Ui;

/// Serves until it is time to stop; returns the exit status.
pub async fn serve(args: Serve) -> Result<u8, String> {
    let Setup {
        builder,
        host,
        others,
        mut temp,
        generated_password,
    } = super::setup::setup(&args)?;
    let mut signals = Signals::new()?;
    let server = builder.start().await.map_err(start_error)?;
    let feed = Feed::new(&server);
    let timeout = args.timeout();
    let deadline = timeout.map(|d| Instant::now() + d);
    let started = Started::new(server, host, others, generated_password);
    if args.json {
        let ready = super::json::ready(&started.server, &started.url, &started.host, timeout);
        super::json::emit(&ready);
    }
    // In fixture mode there is no banner: the command gets all it needs
    // from its environment.
    let info = (!args.fixture() && !args.quiet)
        .then(|| started.banner_info(timeout, temp_kind(temp.as_ref(), args.keep)));
    announce(&args, info.as_ref(), &started, temp.is_some());
    let mut ui = ui(&args, deadline, info.as_ref());
    for message in unlistable(started.server.config()) {
        warn(&mut ui, args.json, message);
    }
    let end = match args.fixture() {
        true => run_command(&started, &args, feed, &mut signals, &mut ui, deadline).await,
        false => run_server(&started, &args, feed, &mut signals, &mut ui, deadline).await,
    };
    finish(&mut ui, &args, &started, &mut temp, end);
    Ok(end.status.unwrap_or(0))
}

/// How a run ended.
#[derive(Clone, Copy)]
struct End {
    reason: Reason,
    /// Completed transfers, as the server counts them.
    done: u64,
    /// COMMAND's status, in fixture mode.
    status: Option<u8>,
}

fn temp_kind(temp: Option<&tempfile::TempDir>, keep: bool) -> Temp {
    match (temp, keep) {
        (None, _) => Temp::No,
        (Some(_), false) => Temp::Removed,
        (Some(_), true) => Temp::Kept,
    }
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

/// The running server and what the banner and the exit line say about it.
struct Started {
    server: RunningServer,
    url: String,
    host: String,
    /// What is shared, for the banner's first line.
    root: String,
    upload_url: Option<String>,
    others: Vec<String>,
    generated_password: bool,
    /// The upload limits in words, when uploads are allowed and limited.
    limits: Option<String>,
}

impl Started {
    fn new(
        server: RunningServer,
        host: String,
        others: Vec<String>,
        generated_password: bool,
    ) -> Started {
        let url = server.url_for(&host);
        let root = super::banner::shared(&server);
        let upload_url = super::banner::upload_url(&server, &url);
        let cfg = server.config();
        let limits = (cfg.access != AccessMode::ReadOnly && cfg.uploads.any())
            .then(|| cfg.uploads.to_string());
        Started {
            server,
            url,
            host,
            root,
            upload_url,
            others,
            generated_password,
            limits,
        }
    }

    fn banner_info(&self, timeout: Option<Duration>, temp: Temp) -> BannerInfo<'_> {
        let cfg = self.server.config();
        BannerInfo {
            root: &self.root,
            mode: mode_name(cfg.access),
            url: &self.url,
            upload_url: self.upload_url.as_deref(),
            host: &self.host,
            port: self.server.local_addr().port(),
            user: &cfg.user,
            password: &cfg.password,
            generated_password: self.generated_password,
            anonymous: cfg.anonymous,
            others: &self.others,
            expires: timeout.and_then(|d| SystemTime::now().checked_add(d)),
            tls: cfg.tls.as_ref().map(|t| TlsInfo {
                fingerprint: t.fingerprint(),
                spki_sha256: t.spki_sha256(),
                fingerprint_sha1: t.fingerprint_sha1(),
                strict: cfg.require_tls_reuse,
                implicit: cfg.tls_mode == TlsMode::Implicit,
            }),
            temp,
            limits: self.limits.as_deref(),
        }
    }
}

/// Tells a person how to connect: the banner, or with -q just the URL
/// (then, with TLS, the certificate's fingerprint, and where a temporary
/// folder is). Nothing in fixture mode, where
/// stdout and the terminal belong to the command, nor with --json and -q.
fn announce(args: &Serve, info: Option<&BannerInfo<'_>>, started: &Started, temp: bool) {
    if let Some(info) = info {
        let width = super::fit::terminal_width(args.json).unwrap_or(usize::MAX);
        let banner = super::banner::render(info, !args.no_qr, args.qr_invert, width);
        super::ui::out_line(args.json, &banner);
    } else if !args.fixture() && !args.json {
        super::ui::out_line(false, &escape(&started.url));
        // What makes the URL safe to use over TLS: the certificate to expect.
        if let Some(tls) = &started.server.config().tls {
            super::ui::out_line(false, &format!("SHA-256 fingerprint {}", tls.fingerprint()));
        }
        if temp {
            super::ui::out_line(false, &escape(&started.root));
        }
    }
}

/// A warning of the command-line program's own, shown as the server's
/// are: a log line, and with --json a `warning` event.
fn warn(ui: &mut Ui<'_>, json: bool, message: String) {
    ui.warn(&message);
    if let (true, Some(line)) = (json, super::json::event(&Event::Warning { message })) {
        super::json::emit(&line);
    }
}

/// A warning for each shared folder this process may enter but not list
/// (`chmod 311`, another user's 711 home): it serves known names only, and
/// every client's listing gets `550`. Not for a drop box, which lists
/// nothing anyway.
fn unlistable(config: &ftpshare::Config) -> Vec<String> {
    use rustix::fs::{accessat, Access, AtFlags, CWD};
    if config.access == AccessMode::UploadOnly {
        return Vec::new();
    }
    let folders = match config.paths.is_empty() {
        true => vec![config.root.as_path()],
        false => config
            .paths
            .iter()
            .map(|p| p.as_path())
            .filter(|p| p.is_dir())
            .collect(),
    };
    folders
        .into_iter()
        .filter_map(|folder| {
            let e = accessat(CWD, folder, Access::READ_OK, AtFlags::EACCESS).err()?;
            let e = std::io::Error::from(e);
            Some(format!(
                "cannot list the shared folder {}: {e}; files in it can still be fetched by name",
                folder.display()
            ))
        })
        .collect()
}

/// The live output, with the banner to draw again on a resize: not with
/// --json (its lines may reach the same terminal through a pipe, `| tee`)
/// or -v (trace lines are not kept to redraw).
fn ui<'a>(args: &Serve, deadline: Option<Instant>, info: Option<&'a BannerInfo<'a>>) -> Ui<'a> {
    let (qr, qr_invert) = (!args.no_qr, args.qr_invert);
    let banner = info
        .filter(|_| !args.json && args.verbose == 0)
        .map(|info| {
            Box::new(move |width| super::banner::render(info, qr, qr_invert, width))
                as super::ui::Banner
        });
    let fixture = args.fixture();
    // With a command, log lines only with -v, and never bars.
    let quiet = args.quiet || (fixture && args.verbose == 0);
    Ui::new(args.json || fixture, quiet, !fixture, deadline, banner)
}

/// Serves until the timeout, a signal or the last allowed transfer, then
/// stops the server.
async fn run_server(
    started: &Started,
    args: &Serve,
    feed: Feed,
    signals: &mut Signals,
    ui: &mut Ui<'_>,
    deadline: Option<Instant>,
) -> End {
    let max_transfers = started.server.config().limits.max_transfers;
    let (reason, done) = super::run::run(
        &started.server,
        feed,
        signals,
        ui,
        args.json,
        deadline,
        max_transfers,
    )
    .await;
    End {
        reason,
        done,
        status: None,
    }
}

/// Fixture mode: runs COMMAND until it exits (or cannot start), then
/// stops the server; COMMAND's status is the one to exit with.
async fn run_command(
    started: &Started,
    args: &Serve,
    mut feed: Feed,
    signals: &mut Signals,
    ui: &mut Ui<'_>,
    deadline: Option<Instant>,
) -> End {
    let server = &started.server;
    let env = super::fixture::environment(server, &started.url, &started.host);
    let (reason, status) = match super::fixture::spawn(&args.command, &env) {
        Ok(child) => {
            let grace = server.config().limits.shutdown_grace;
            let o = super::fixture::run(child, &mut feed, signals, ui, args.json, deadline, grace)
                .await;
            (o.reason, o.status)
        }
        Err((status, msg)) => {
            super::ui::stderr_line(&format!("ftpshare: {}", escape(&msg)));
            (Reason::Command, status)
        }
    };
    let done = super::run::stop(server, feed, signals, ui, args.json, reason).await;
    End {
        reason,
        done,
        status: Some(status),
    }
}

/// The closing line, the temporary folder removed (or kept with --keep;
/// one that could not be removed is reported as kept), and with --json
/// the exit line.
fn finish(
    ui: &mut Ui<'_>,
    args: &Serve,
    started: &Started,
    temp: &mut Option<tempfile::TempDir>,
    end: End,
) {
    ui.finish(end.done);
    let kept = match (temp.take(), args.keep) {
        (Some(t), true) => {
            let kept = t.keep();
            ui.log(&format!("kept {}", kept.display()));
            Some(kept)
        }
        (Some(t), false) => remove_temp(t).err().map(|(left, e)| {
            let message = format!(
                "could not remove the temporary folder {}: {e}",
                left.display()
            );
            warn(ui, args.json, message);
            left
        }),
        (None, _) => None,
    };
    if args.json {
        let mut exit =
            super::json::exit(end.reason.as_str(), end.done, end.status, kept.as_deref());
        // Whenever uploads are allowed, limited or not (README, `exit`).
        if started.server.config().access != AccessMode::ReadOnly {
            super::json::upload_usage(&mut exit, &started.server);
        }
        super::json::emit(&exit);
    }
}

/// Removes the temporary folder, even where a client took the rights
/// away from folders in it (`SITE CHMOD 000`), which stops a plain
/// recursive removal; gives the folder back if it is still there.
fn remove_temp(temp: tempfile::TempDir) -> Result<(), (std::path::PathBuf, std::io::Error)> {
    let path = temp.keep();
    if std::fs::remove_dir_all(&path).is_ok() {
        return Ok(());
    }
    open_up(&path);
    std::fs::remove_dir_all(&path).map_err(|e| (path, e))
}

/// Gives the owner every right on `top` and each folder under it, without
/// recursion: clients choose how deep the folders go. Only entries listed
/// as folders are entered, never a symlink; `chmod` by path would follow
/// one put there since, but the sessions are over, and the temporary
/// folder (0700, its top never changed by a client) lets no one else in.
fn open_up(top: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    let mut folders = vec![top.to_path_buf()];
    while let Some(dir) = folders.pop() {
        let _ = std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700));
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                folders.push(entry.path());
            }
        }
    }
}
