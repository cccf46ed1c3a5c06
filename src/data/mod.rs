//! Data connections: how they are opened (passive listener or active
//! connect, both checked against the client's address), the stream type
//! that may carry TLS, and the loops that move bytes.

mod connect;
mod deflate;
mod digest;
mod file_sink;
mod stream;
mod transfer;

pub use connect::{bind_passive, secure, vet, Activity, DataPlan, EarlyTls, Opened, TlsPolicy};
pub use deflate::{Deflate, DEFAULT_DEFLATE_LEVEL};
pub use digest::digest;
pub use file_sink::Last;
pub use stream::{DataStream, PlainTcp};

/// A pipe's two ends as files: a write into it blocks until its reader
/// reads, which lets a test hold a write in flight.
#[cfg(test)]
pub(crate) fn test_pipe() -> (std::fs::File, std::fs::File) {
    use std::os::fd::FromRawFd;
    let mut fds = [0; 2];
    // SAFETY: `fds` is a valid out-pointer for two descriptors.
    assert_eq!(unsafe { libc::pipe(fds.as_mut_ptr()) }, 0);
    // SAFETY: both descriptors were just opened and are owned here.
    unsafe {
        (
            std::fs::File::from_raw_fd(fds[0]),
            std::fs::File::from_raw_fd(fds[1]),
        )
    }
}
pub use transfer::{
    ascii_len, ascii_restart, end_upload, receive_to_file, send_bytes, send_chunks, send_file,
    Ascii, Progress, TransferLimits, ASCII_SCAN_LIMIT,
};
