//! The FTP protocol as data: commands parsed from bytes, replies, and the
//! policy table. Nothing here does I/O, so all of it is unit-tested alone.

mod command;
pub(crate) mod reply;
pub(crate) mod table;
pub(crate) mod telnet;

#[cfg(test)]
mod proptests;

pub use command::{
    parse, Command, DataPort, EpsvArg, FactChange, HashAlgo, ParseError, ProtLevel, SiteCommand,
    TransferMode, TransferType,
};
pub use reply::Reply;
pub use table::{anonymous_mode, check, features, grants, policy, rules, Access, Refusal, Rules};
