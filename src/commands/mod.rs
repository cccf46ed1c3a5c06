//! Where each command is handled. The session has already applied the
//! policy table (login, access mode); handlers do the work and return
//! their reply, or `None` when a transfer will send it later.

mod auth;
mod facts;
mod fileops;
mod hash;
mod hello;
mod info;
mod listing;
mod nav;
mod security;
mod site;
mod transfer;

use std::io;
use std::sync::Arc;

use crate::error::{FtpError, FtpResult, IoContext};
use crate::events::Event;
use crate::protocol::{Command, Reply};
use crate::session::Session;
use crate::shared::Shared;
use crate::vfs::{RootState, Share, VPath};

/// A command's file-system work on `path`, run off the runtime (see
/// [`crate::blocking`]). An error names the path; a served folder that is
/// gone or unreadable is said to be so.
async fn fs<T: Send + 'static>(
    s: &Session,
    path: &VPath,
    work: impl FnOnce(&Share, &VPath) -> io::Result<T> + Send + 'static,
) -> FtpResult<T> {
    let (shared, p) = (Arc::clone(&s.shared), path.clone());
    let run = move || {
        // Inside a folder that is gone nothing works, so its state is asked
        // only when the work failed (a working share pays no extra call);
        // the folder itself still has facts, so for it, first.
        if shared.root.is_folder_top(&p) {
            check_root(&shared, &p, false)?;
        }
        let result = work(&shared.root, &p);
        if let Err(e) = &result {
            check_root(&shared, &p, e.kind() == io::ErrorKind::PermissionDenied)?;
        }
        result.at(&p)
    };
    crate::blocking::run(run)
        .await
        .unwrap_or_else(|_| Err(FtpError::Local("file-system task failed".into())))
}

/// `550 shared folder is gone` (or unreadable) when the shared folder
/// `path` lies in cannot be used; the first time, one log line and a
/// warning event tell the operator, who otherwise would see nothing but
/// failing clients.
pub(crate) fn check_root(shared: &Shared, path: &VPath, deep: bool) -> FtpResult<()> {
    let Some(folder) = shared.root.folder_of(path) else {
        return Ok(());
    };
    // The server keeps the folder it opened: one made anew under the same
    // name is another folder, served only by a new run.
    let (what, hint) = match folder.state(deep) {
        RootState::Usable => return Ok(()),
        RootState::Gone => (
            "shared folder is gone",
            " (a folder made again under that name is served after a restart of ftpshare)",
        ),
        RootState::Unreadable => ("shared folder is unreadable", ""),
    };
    if folder.first_report() {
        let message = format!("{what}: {}{hint}", folder.path().display());
        tracing::warn!("{message}");
        shared.emit(Event::Warning { message });
    }
    Err(FtpError::FileUnavailable(what.into()))
}

pub(crate) async fn dispatch(s: &mut Session, cmd: Command) -> FtpResult<Option<Reply>> {
    use Command::*;
    let reply = match cmd {
        // auth.rs: logging in and out
        User(name) => auth::user(s, name),
        Pass(pass) => return auth::pass(s, pass).await,
        Acct => auth::acct(),
        Rein => auth::rein(s),
        Quit => auth::quit(),

        // security.rs: RFC 2228 / 4217
        Auth(mech) => return security::auth(s, &mech).await,
        Pbsz(_) => security::pbsz(s),
        Prot(level) => security::prot(s, level),
        Ccc => security::ccc(s),
        SecurityMechanism => security::other_mechanism(),

        // nav.rs: the working directory
        Cwd(path) => nav::cwd(s, &path).await,
        Cdup => nav::cwd(s, "..").await,
        Pwd => nav::pwd(s),
        Smnt => nav::smnt(),

        // transfer.rs: data connections and file transfers
        Type(t) => transfer::type_(s, t),
        Stru => transfer::stru(),
        Mode(mode) => transfer::mode(s, mode),
        Pasv => transfer::pasv(s),
        Epsv(arg) => transfer::epsv(s, arg),
        Port(addr) => transfer::port(s, addr),
        Eprt(addr) => transfer::eprt(s, addr),
        Rest(offset) => transfer::rest(s, offset),
        Allo(size) => return transfer::allo(s, size).await.map(Some),
        Retr(path) => return transfer::retr(s, &path).await,
        Stor(path) => return transfer::stor(s, &path).await,
        Stou(name) => return transfer::stou(s, name.as_deref()).await,
        Appe(path) => return transfer::appe(s, &path).await,
        Abor => return transfer::abor(s).await,

        // listing.rs: directory listings
        List(path) => return listing::list(s, path.as_deref()).await,
        Nlst(path) => return listing::nlst(s, path.as_deref()).await,
        Mlsd(path) => return listing::mlsd(s, path.as_deref()).await,
        Mlst(path) => listing::mlst(s, path.as_deref()).await,
        Stat(Some(path)) => return listing::stat_path(s, &path).await,

        // fileops.rs: changing and inspecting files
        Mkd(path) => fileops::mkd(s, &path).await,
        Rmd(path) => fileops::rmd(s, &path).await,
        Dele(path) => fileops::dele(s, &path).await,
        Rnfr(path) => fileops::rnfr(s, &path).await,
        Rnto(path) => fileops::rnto(s, &path).await,
        Size(path) => fileops::size(s, &path).await,
        Mdtm(path) => fileops::mdtm(s, &path).await,

        // facts.rs: changing times and permission bits
        MdtmSet { time, path, whole } => facts::mdtm_set(s, time, &path, &whole).await,
        Mfmt(time, path) => facts::mfmt(s, time, &path).await,
        Mff(changes, path) => facts::mff(s, &changes, &path).await,
        Site(cmd) => site::site(s, cmd).await,

        // hash.rs: checksums computed by the server
        Hash(path) => return hash::hash(s, &path).await,
        Rang(range) => hash::rang(s, range),
        XHash {
            algo,
            path,
            start,
            end,
        } => return hash::xhash(s, algo, &path, start, end).await,

        // hello.rs: what the client says about itself
        Host(name) => hello::host(s, name),
        Clnt(name) => hello::clnt(s, name),

        // info.rs: about the server and the session
        Syst => info::syst(),
        Feat => info::feat(s),
        Opts(opt) => info::opts(s, &opt),
        Help(topic) => info::help(topic.as_deref()),
        Noop => Ok(Reply::new(200, "NOOP ok")),
        Stat(None) => info::stat(s),
        Avbl(path) => info::avbl(s, path.as_deref()).await,
        Lang(lang) => info::lang(lang.as_deref()),
    };
    reply.map(Some)
}
