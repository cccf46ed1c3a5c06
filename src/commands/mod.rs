//! Where each command is handled. The session has already applied the
//! policy table (login, access mode); handlers do the work and return
//! their reply, or `None` when a transfer will send it later.

mod auth;
mod fileops;
mod info;
mod listing;
mod nav;
mod security;
mod transfer;

use std::io;

use crate::error::{FtpResult, IoContext};
use crate::protocol::{Command, Reply};
use crate::session::Session;
use crate::vfs::{Share, VPath};

/// A command's file-system work on `path`, run on the blocking pool (see
/// [`Share::blocking`]); an error names the path.
async fn fs<T: Send + 'static>(
    s: &Session,
    path: &VPath,
    work: impl FnOnce(&Share, &VPath) -> io::Result<T> + Send + 'static,
) -> FtpResult<T> {
    let p = path.clone();
    s.shared.root.blocking(move |r| work(r, &p)).await.at(path)
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
        Pbsz(size) => security::pbsz(s, &size),
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
        Mode => transfer::mode(),
        Pasv => transfer::pasv(s),
        Epsv(arg) => transfer::epsv(s, arg),
        Port(addr) => transfer::port(s, addr),
        Eprt(addr) => transfer::eprt(s, addr),
        Rest(offset) => transfer::rest(s, offset),
        Allo => transfer::allo(),
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

        // info.rs: about the server and the session
        Syst => info::syst(),
        Feat => info::feat(s),
        Opts(opt) => info::opts(s, &opt),
        Help(topic) => info::help(topic.as_deref()),
        Noop => Ok(Reply::new(200, "NOOP ok")),
        Stat(None) => info::stat(s),
        Site(arg) => info::site(&arg),
        Lang(lang) => info::lang(lang.as_deref()),
    };
    reply.map(Some)
}
