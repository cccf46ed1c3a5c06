//! From the command line to a configured server: the folder, the access
//! mode, the address people should use, TLS and the limits.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use ftpshare::{
    url_host, AccessMode, Limits, MinFree, Server, ServerBuilder, TlsIdentity, TlsMode,
    UploadLimits,
};

use super::address::Addresses;
use super::args::Serve;

/// Everything `serve` needs before it starts the server.
pub struct Setup {
    pub builder: ServerBuilder,
    /// The host for the URL (an address in brackets for IPv6).
    pub host: String,
    /// Other usable addresses, as `ip (interface)`.
    pub others: Vec<String>,
    /// The folder for `--temp`, removed when dropped.
    pub temp: Option<tempfile::TempDir>,
    pub generated_password: bool,
}

pub fn setup(args: &Serve) -> Result<Setup, String> {
    let temp = temp_folder(args)?;
    // --temp, the paths given, or the current directory.
    let paths: Vec<PathBuf> = match (&temp, args.paths.is_empty()) {
        (Some(t), _) => vec![t.path().to_path_buf()],
        (None, true) => vec![PathBuf::from(".")],
        (None, false) => args.paths.clone(),
    };
    let bind_ip = bind_ip(args);
    let (host, detected) = host(args, bind_ip);
    let others: Vec<String> = detected
        .iter()
        .flat_map(|d| d.others.iter().map(|(ip, name)| format!("{ip} ({name})")))
        .collect();
    let mut builder = Server::builder()
        .paths(paths)
        .bind(SocketAddr::new(bind_ip, args.port))
        .credentials(args.user.clone(), args.password.clone().unwrap_or_default())
        .access(access(args))
        .anonymous(args.anonymous)
        .require_tls_reuse(args.require_tls_reuse)
        .limits(limits(args))
        .session_threads(std::thread::available_parallelism().map_or(1, |n| n.get()))
        .upload_limits(UploadLimits {
            max_upload_size: args.max_upload_size,
            quota: args.quota,
            min_free: args.min_free.map_or(MinFree::Auto, MinFree::Bytes),
        });
    if let Some(range) = &args.passive_ports {
        builder = builder.passive_ports(range.clone());
    }
    if let Some(h) = &args.public_host {
        builder = builder.public_host(h.clone());
    }
    let tls_mode = tls_mode(args);
    if let Some(id) = identity(args, tls_mode, &host, bind_ip, detected.as_ref())? {
        builder = builder.tls(id, tls_mode);
    }
    Ok(Setup {
        builder,
        host,
        others,
        temp,
        generated_password: args.password.is_none(),
    })
}

/// The folder `--temp` shares, if asked for.
fn temp_folder(args: &Serve) -> Result<Option<tempfile::TempDir>, String> {
    if !args.temp {
        return Ok(None);
    }
    tempfile::Builder::new()
        .prefix("ftpshare-")
        .tempdir()
        .map(Some)
        .map_err(|e| format!("cannot create a temporary folder: {e}"))
}

fn access(args: &Serve) -> AccessMode {
    if args.upload_only {
        AccessMode::UploadOnly
    } else if args.write || args.temp {
        AccessMode::Writable
    } else {
        AccessMode::ReadOnly
    }
}

fn bind_ip(args: &Serve) -> IpAddr {
    // A fixture serves the command on this machine: nothing to expose.
    match (args.bind, args.fixture()) {
        (Some(ip), _) => ip,
        (None, true) => IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
        (None, false) => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
    }
}

/// The host people should use: what they asked for, the address bound,
/// or the LAN address of this machine (with the machine's other
/// addresses, when it had to be detected).
fn host(args: &Serve, bind_ip: IpAddr) -> (String, Option<Addresses>) {
    let detected = match (&args.public_host, bind_ip.is_unspecified()) {
        (None, true) => Some(super::address::detect(bind_ip.is_ipv6())),
        _ => None,
    };
    let host = match (&args.public_host, &detected) {
        // An IPv6 literal needs brackets in a URL.
        (Some(h), _) => h.parse().map(url_host).unwrap_or_else(|_| h.clone()),
        (None, Some(d)) => url_host(d.primary),
        (None, None) => url_host(bind_ip),
    };
    (host, detected)
}

/// Every flag that only means something with TLS turns it on (explicit
/// FTPS unless --implicit-tls says otherwise): a certificate, or strict
/// session reuse. None of them ever leaves the server on plain FTP.
pub fn tls_mode(args: &Serve) -> TlsMode {
    if args.implicit_tls {
        TlsMode::Implicit
    } else if args.tls || args.tls_cert.is_some() || args.require_tls_reuse {
        TlsMode::Explicit
    } else {
        TlsMode::Off
    }
}

/// The certificate given, or with TLS on and none given a self-signed one
/// for every address the banner shows, so that a client checking the
/// name it connected to finds it in the certificate.
fn identity(
    args: &Serve,
    tls_mode: TlsMode,
    host: &str,
    bind_ip: IpAddr,
    detected: Option<&Addresses>,
) -> Result<Option<TlsIdentity>, String> {
    match (&args.tls_cert, &args.tls_key, tls_mode) {
        (Some(cert), Some(key), _) => {
            let id = TlsIdentity::from_pem_files(cert, key).map_err(|e| e.to_string())?;
            return Ok(Some(id));
        }
        (_, _, TlsMode::Off) => return Ok(None),
        _ => {}
    }
    let mut names = vec![host.to_string()];
    names.extend(args.public_host.clone());
    if !bind_ip.is_unspecified() {
        names.push(bind_ip.to_string());
    }
    if let Some(d) = detected {
        names.extend(d.others.iter().map(|(ip, _)| ip.to_string()));
    }
    let valid_for = match args.timeout() {
        Some(run) => run.saturating_add(Duration::from_secs(86_400)),
        None => ftpshare::DEFAULT_CERT_VALIDITY,
    };
    let id = TlsIdentity::self_signed_for(&names, valid_for).map_err(|e| e.to_string())?;
    Ok(Some(id))
}

fn limits(args: &Serve) -> Limits {
    Limits {
        idle_timeout: args.idle_timeout.0.unwrap_or(Limits::MAX_DURATION),
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
        max_transfers: if args.once {
            Some(1)
        } else {
            args.max_transfers
        },
        ..Limits::default()
    }
}

/// How the access mode is named in the banner and the ready line.
pub fn mode_name(mode: AccessMode) -> &'static str {
    match mode {
        AccessMode::ReadOnly => "read-only",
        AccessMode::Writable => "writable",
        AccessMode::UploadOnly => "upload-only",
    }
}
