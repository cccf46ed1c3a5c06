//! Data connections: how they are opened (passive listener or active
//! connect, both checked against the client's address), the stream type
//! that may carry TLS, and the loops that move bytes.

mod connect;
mod stream;
mod transfer;

pub use connect::{bind_passive, DataPlan};
pub use stream::DataStream;
pub use transfer::{ascii_len, receive_to_file, send_chunks, send_file, Progress, TransferLimits};
