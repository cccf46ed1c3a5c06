//! The served tree: the only way any command reaches the file system.
//!
//! Client paths become [`VPath`]s (normalised, absolute, never above `/`),
//! and every operation resolves them relative to a directory handle
//! opened at startup with cap-std, which uses `openat2(RESOLVE_BENEATH)`
//! where the kernel has it. So neither `..`, an absolute path, nor a
//! symlink can reach outside the root, even if the tree changes under us.
//! When several paths (or one file) are shared, [`Share`] puts a read-only
//! virtual root above them, and each path resolves to one entry's handle.

mod cached;
mod dirlist;
mod listing;
mod names;
mod path;
mod pattern;
#[cfg(test)]
mod proptests;
mod rights;
mod root;
mod share;
mod time;
mod upload;

pub use cached::{read_small, Download};
pub use dirlist::ListingJob;
pub use listing::{facts_text, Facts, ListFormat, Perms};
pub use names::{display_name, NAME_MAX};
pub use path::{BadPath, VPath};
pub use pattern::Pattern;
pub use rights::Rights;
pub use root::{disk_space, AppendTarget, Root, RootState};
pub use share::{entry_names, Share, ShareError, SharedPath};
pub use time::{mdtm, TimeVal};
pub use upload::{clear_special_bits, is_temp_name, unique_names, AppendError, Upload};

/// What a change to the name `name` in a folder locks (see `path_locks`):
/// the folder's device and inode, not the path that reached it, so that a
/// folder seen through a link inside the share has one lock per name.
/// (A path, the fallback where the folder cannot be looked at, starts
/// with `/`; these never do.)
fn lock_key((dev, ino): FolderId, name: &str) -> String {
    format!("{dev:x}:{ino:x}/{name}")
}

/// A folder's device and inode.
type FolderId = (u64, u64);

fn folder_id(md: &cap_std::fs::Metadata) -> FolderId {
    use cap_std::fs::MetadataExt;
    (md.dev(), md.ino())
}
