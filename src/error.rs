//! One error type for everything a command can fail with, and the single
//! place where failures become FTP reply codes.

use std::io;

use crate::config::AccessMode;
use crate::protocol::{ParseError, Refusal, Reply};
use crate::upload_limits::UploadLimit;

#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    #[error("{0}")]
    Unknown(String),
    #[error("{0}")]
    Syntax(String),
    #[error("{0}")]
    NotImplemented(String),
    #[error("{0}")]
    ParamNotImplemented(String),
    #[error("{0}")]
    BadSequence(String),
    #[error("{0}")]
    NotLoggedIn(String),
    /// 421: the reply is sent, then the connection is closed.
    #[error("{0}")]
    Closing(String),
    /// A reply could not be sent (the client went away or stopped
    /// reading): the session ends without trying another.
    #[error("Control connection lost")]
    ControlLost,
    #[error("{0}")]
    PolicyDenied(String),
    #[error("{0}")]
    CommandNotProtected(String),
    #[error("Permission denied: {0}")]
    PermissionDenied(String),
    #[error("{0}")]
    FileUnavailable(String),
    /// 450: the file is in use; the same command may work later.
    #[error("{0}")]
    FileBusy(String),
    #[error("{0}")]
    InvalidName(String),
    #[error("{0}")]
    CannotOpenData(String),
    #[error("{0}")]
    TransferAborted(String),
    #[error("Local error: {0}")]
    Local(String),
    #[error("Insufficient storage space: {0}")]
    NoSpace(String),
    #[error("Exceeded storage allocation: {0}")]
    Quota(String),
    /// An upload limit (`--max-upload-size`, `--quota`, `--min-free`).
    #[error("{1}")]
    Limit(UploadLimit, String),
    #[error("{0}")]
    BadRestart(String),
    #[error("{0}")]
    ProtocolNotSupported(String),
    #[error("{0}")]
    ProtectionRequired(String),
    #[error("{0}")]
    ProtNotSupported(String),
    /// `--require-tls-reuse` refused a data connection's TLS session.
    #[error("{0}")]
    ResumptionRequired(String),
}

impl From<crate::vfs::BadPath> for FtpError {
    fn from(e: crate::vfs::BadPath) -> Self {
        FtpError::Syntax(e.to_string())
    }
}

impl FtpError {
    /// 426 for a transfer stopped by ABOR, a lost client or shutdown.
    pub fn aborted() -> FtpError {
        FtpError::TransferAborted("Transfer aborted".into())
    }

    pub fn code(&self) -> u16 {
        use FtpError::*;
        match self {
            Unknown(_) => 500,
            Syntax(_) => 501,
            NotImplemented(_) => 502,
            BadSequence(_) => 503,
            ParamNotImplemented(_) => 504,
            ProtectionRequired(_) => 521,
            // 522, as vsftpd answers require_ssl_reuse refusals.
            ProtocolNotSupported(_) | ResumptionRequired(_) => 522,
            NotLoggedIn(_) => 530,
            Closing(_) | ControlLost => 421,
            PolicyDenied(_) => 534,
            CommandNotProtected(_) => 533,
            ProtNotSupported(_) => 536,
            CannotOpenData(_) => 425,
            TransferAborted(_) => 426,
            Local(_) => 451,
            NoSpace(_) => 452,
            FileBusy(_) => 450,
            PermissionDenied(_) | FileUnavailable(_) => 550,
            Quota(_) => 552,
            Limit(limit, _) => limit.code(),
            InvalidName(_) => 553,
            BadRestart(_) => 554,
        }
    }

    /// The upload limit behind this error, if one is.
    pub fn limit(&self) -> Option<UploadLimit> {
        match self {
            FtpError::Limit(limit, _) => Some(*limit),
            _ => None,
        }
    }

    pub fn reply(&self) -> Reply {
        Reply::new(self.code(), self.to_string())
    }

    /// Maps a file-system error on `path` (a virtual path, safe to show).
    pub fn from_io(err: &io::Error, path: &str) -> FtpError {
        use io::ErrorKind::*;
        match err.kind() {
            NotFound => FtpError::FileUnavailable(format!("{path}: No such file or directory")),
            PermissionDenied => {
                // cap-std reports an escape from the root as PermissionDenied
                // too; both deserve the same answer and neither reveals more.
                FtpError::PermissionDenied(path.to_string())
            }
            AlreadyExists => FtpError::FileUnavailable(format!("{path}: Already exists")),
            NotADirectory => FtpError::FileUnavailable(format!("{path}: Not a directory")),
            IsADirectory => FtpError::FileUnavailable(format!("{path}: Is a directory")),
            Unsupported => FtpError::FileUnavailable(format!("{path}: Not a regular file")),
            DirectoryNotEmpty => FtpError::FileUnavailable(format!("{path}: Directory not empty")),
            // ENAMETOOLONG, for a name or the whole path.
            InvalidFilename => FtpError::InvalidName(format!(
                "{path}: name too long (max {} bytes), or path too long (max {} bytes)",
                crate::vfs::NAME_MAX,
                libc::PATH_MAX
            )),
            InvalidInput => FtpError::InvalidName(format!("{path}: Invalid file name")),
            StorageFull => FtpError::NoSpace(path.to_string()),
            QuotaExceeded | FileTooLarge => FtpError::Quota(path.to_string()),
            _ => match err.raw_os_error() {
                Some(libc::ELOOP) => FtpError::PermissionDenied(path.to_string()),
                // A FIFO opened for writing with no reader (O_NONBLOCK).
                Some(libc::ENXIO) => {
                    FtpError::FileUnavailable(format!("{path}: Not a regular file"))
                }
                Some(libc::ENOSPC) => FtpError::NoSpace(path.to_string()),
                Some(libc::EDQUOT) => FtpError::Quota(path.to_string()),
                _ => FtpError::Local(format!("{path}: {}", err.kind())),
            },
        }
    }
}

impl From<Refusal> for FtpError {
    fn from(r: Refusal) -> Self {
        match r {
            Refusal::NotLoggedIn => {
                FtpError::NotLoggedIn("Please log in with USER and PASS first".into())
            }
            Refusal::Mode(AccessMode::ReadOnly) => {
                FtpError::PermissionDenied("this share is read-only".into())
            }
            Refusal::Mode(AccessMode::UploadOnly) => {
                FtpError::PermissionDenied("this share is upload-only".into())
            }
            // Writable grants everything; kept total for the compiler.
            Refusal::Mode(AccessMode::Writable) => {
                FtpError::PermissionDenied("not allowed on this share".into())
            }
        }
    }
}

impl From<ParseError> for FtpError {
    fn from(e: ParseError) -> FtpError {
        match e {
            ParseError::Unknown(verb) => FtpError::Unknown(format!("Unknown command {verb:?}")),
            ParseError::Garbled => FtpError::Unknown("Empty or garbled command".into()),
            ParseError::Syntax(m) => FtpError::Syntax(m.into()),
            ParseError::Unsupported(m) => FtpError::ParamNotImplemented(m.into()),
        }
    }
}

pub type FtpResult<T> = Result<T, FtpError>;

/// `.at(path)`: a file-system result as a command result, the error
/// naming the (virtual) path it concerns.
pub trait IoContext<T> {
    fn at(self, path: impl AsRef<str>) -> FtpResult<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, path: impl AsRef<str>) -> FtpResult<T> {
        self.map_err(|e| FtpError::from_io(&e, path.as_ref()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn io_errors_map_to_ftp_codes() {
        let e = io::Error::from(io::ErrorKind::NotFound);
        assert_eq!(FtpError::from_io(&e, "/x").code(), 550);
        let e = io::Error::from_raw_os_error(libc::ENOSPC);
        assert_eq!(FtpError::from_io(&e, "/x").code(), 452);
        let e = io::Error::from_raw_os_error(libc::EDQUOT);
        assert_eq!(FtpError::from_io(&e, "/x").code(), 552);
    }
}
