//! MKD, RMD, DELE, RNFR, RNTO, SIZE, MDTM.

use std::io;

use cap_std::fs::MetadataExt;

use super::nav::quote;
use crate::data::ascii_len;
use crate::error::{FtpError, FtpResult, IoContext};
use crate::events::Event;
use crate::protocol::{Access, Reply};
use crate::session::Session;
use crate::vfs::mdtm as mdtm_text;

pub fn mkd(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    let created = if s.may(Access::Read) {
        s.shared.root.create_dir(&path).at(&path)?;
        true
    } else {
        // Without read access (a drop box) the answer must not tell what
        // exists: the folders on the way are made, and a name already
        // taken answers as if made now.
        let existed = s.shared.root.symlink_metadata(&path).is_ok();
        match s.shared.root.create_dir_all(&path) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
            r => r.at(&path)?,
        }
        !existed
    };
    if created {
        s.shared.emit(Event::Mkdir {
            peer: s.peer,
            path: path.to_string(),
        });
    }
    Ok(Reply::new(257, format!("{} created", quote(path.as_str()))))
}

pub fn rmd(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    if path.is_root() {
        return Err(FtpError::PermissionDenied(
            "the shared folder itself cannot be removed".into(),
        ));
    }
    s.shared.root.remove_dir(&path).at(&path)?;
    s.shared.emit(Event::Delete {
        peer: s.peer,
        path: path.to_string(),
        dir: true,
    });
    Ok(Reply::new(250, format!("Directory {path} removed")))
}

pub fn dele(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    s.shared.root.remove_file(&path).at(&path)?;
    s.shared.emit(Event::Delete {
        peer: s.peer,
        path: path.to_string(),
        dir: false,
    });
    Ok(Reply::new(250, format!("{path} deleted")))
}

pub fn rnfr(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    if path.is_root() {
        return Err(FtpError::PermissionDenied(
            "the shared folder itself cannot be renamed".into(),
        ));
    }
    s.shared.root.check_movable(&path).at(&path)?;
    s.rename_from = Some(path);
    Ok(Reply::new(350, "Ready for RNTO"))
}

pub fn rnto(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let Some(from) = s.rename_from.take() else {
        return Err(FtpError::BadSequence("Send RNFR first".into()));
    };
    let to = s.path(arg)?;
    if to.is_root() {
        return Err(FtpError::InvalidName("Not a valid target name".into()));
    }
    s.shared.root.rename(&from, &to).at(&to)?;
    s.shared.emit(Event::Rename {
        peer: s.peer,
        from: from.to_string(),
        to: to.to_string(),
    });
    Ok(Reply::new(250, format!("Renamed {from} to {to}")))
}

/// Largest file whose TYPE A size we compute by reading it.
const ASCII_SIZE_LIMIT: u64 = 64 << 20;

/// SIZE: the bytes a RETR would send in the current TYPE (RFC 3659 §4).
pub fn size(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    let (mut file, md) = s.shared.root.open_read(&path).at(&path)?;
    if !s.ascii {
        return Ok(Reply::new(213, md.len().to_string()));
    }
    if md.len() > ASCII_SIZE_LIMIT {
        return Err(FtpError::FileUnavailable(format!(
            "{path}: SIZE in ASCII mode is only computed for files up to 64 MiB; use TYPE I"
        )));
    }
    let len = ascii_len(&mut file).at(&path)?;
    Ok(Reply::new(213, len.to_string()))
}

pub fn mdtm(s: &mut Session, arg: &str) -> FtpResult<Reply> {
    let path = s.path(arg)?;
    let md = s.shared.root.metadata(&path).at(&path)?;
    if md.is_dir() {
        return Err(FtpError::FileUnavailable(format!("{path}: Is a directory")));
    }
    Ok(Reply::new(213, mdtm_text(md.mtime())))
}
