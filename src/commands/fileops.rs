//! MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM.

use std::io;

use cap_std::fs::MetadataExt;

use super::fs;
use super::nav::quote;
use crate::data::{self, ascii_len};
use crate::error::{FtpError, FtpResult, IoContext};
use crate::events::Event;
use crate::protocol::Reply;
use crate::session::Session;
use crate::vfs::{mdtm as mdtm_text, Share};

pub async fn mkd(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.new_path(arg)?;
    let sees_names = s.rules().sees_names;
    let made = fs(s, &path, move |r, p| {
        if sees_names {
            return r.create_dir(p).map(|_| vec![0]);
        }
        // Without read access (a drop box) the answer must not tell what
        // exists: the folders on the way are made, and a name already
        // taken answers as if made now.
        match r.create_dir_all(p) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Ok(Vec::new()),
            r => r,
        }
    })
    .await?;
    for folder in path.above(&made) {
        s.shared.emit(Event::Mkdir {
            peer: s.peer,
            path: folder.to_string(),
        });
    }
    Ok(Reply::new(257, format!("{} created", quote(path.as_str()))))
}

pub async fn rmd(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    fs(s, &path, Share::remove_dir).await?;
    s.shared.emit(Event::Delete {
        peer: s.peer,
        path: path.to_string(),
        dir: true,
    });
    Ok(Reply::new(250, format!("Directory {path} removed")))
}

pub async fn dele(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    // After any upload to it has committed: its 226 was true.
    let _lock = s.lock_path(&path).await?;
    fs(s, &path, Share::remove_file).await?;
    s.shared.emit(Event::Delete {
        peer: s.peer,
        path: path.to_string(),
        dir: false,
    });
    Ok(Reply::new(250, format!("{path} deleted")))
}

pub async fn rnfr(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    fs(s, &path, Share::check_movable).await?;
    s.rename_from = Some(path);
    Ok(Reply::new(350, "Ready for RNTO"))
}

pub async fn rnto(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let Some(from) = s.rename_from.take() else {
        return Err(FtpError::BadSequence("Send RNFR first".into()));
    };
    let to = s.new_path(arg)?;
    // Where nothing may be renamed to, the share's refusal comes first.
    s.shared.root.check_change(&to).at(&to)?;
    // rename(2) refuses this too, but only as "invalid argument".
    if to
        .as_str()
        .strip_prefix(from.as_str())
        .is_some_and(|rest| rest.starts_with('/'))
    {
        return Err(FtpError::InvalidName(format!(
            "{from} cannot move into itself ({to})"
        )));
    }
    let _locks = s.lock_paths(&[&from, &to]).await?;
    // `to/` names a folder, though the path drops what says so: only a
    // folder may take it, as rename(2) has it.
    let folder_only = matches!(arg.rsplit('/').next(), Some("" | "." | ".."));
    let (source, shown) = (from.clone(), arg.to_string());
    fs(s, &to, move |r, to| {
        if folder_only && r.symlink_metadata(&source).is_ok_and(|m| !m.is_dir()) {
            return Ok(Err(FtpError::InvalidName(format!(
                "{source} is not a folder, and {shown} names one"
            ))));
        }
        r.rename(&source, to).map(Ok)
    })
    .await??;
    s.shared.emit(Event::Rename {
        peer: s.peer,
        from: from.to_string(),
        to: to.to_string(),
    });
    Ok(Reply::new(250, format!("Renamed {from} to {to}")))
}

/// SIZE: the bytes a RETR would send in the current TYPE (RFC 3659 §4).
pub async fn size(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    let ascii = s.ascii;
    let size = fs(s, &path, move |r, p| {
        let (file, md) = r.open_read(p)?;
        if !ascii {
            return Ok(Some(md.len()));
        }
        if md.len() > data::ASCII_SCAN_LIMIT {
            return Ok(None);
        }
        ascii_len(file).map(Some)
    })
    .await?;
    match size {
        Some(n) => Ok(Reply::new(213, n.to_string())),
        None => Err(FtpError::FileUnavailable(format!(
            "{path}: SIZE in ASCII mode is only computed for files up to 64 MiB; use TYPE I"
        ))),
    }
}

pub async fn mdtm(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    let md = fs(s, &path, Share::metadata).await?;
    if md.is_dir() {
        return Err(FtpError::FileUnavailable(format!("{path}: Is a directory")));
    }
    Ok(Reply::new(213, mdtm_text(md.mtime())))
}
