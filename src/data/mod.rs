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
pub use stream::DataStream;
pub use transfer::{
    ascii_len, read_small, receive_to_file, send_bytes, send_chunks, send_file, Progress,
    TransferLimits,
};
