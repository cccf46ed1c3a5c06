//! What upload limits are: plain values the configuration, the errors and
//! the events name. The accounting that enforces them is in `budget.rs`.

use std::fmt;
use std::io;

/// Limits on what uploads may store. The default is the CLI's: no size
/// limit, no quota, and [`MinFree::Auto`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadLimits {
    /// The largest file one upload may leave (for APPE and a resumed
    /// STOR, counting what the file held before); `552` beyond it.
    pub max_upload_size: Option<u64>,
    /// Bytes all uploads of this run may store together; `552` once used up.
    pub quota: Option<u64>,
    /// Free space every upload must leave on the disk it is written to;
    /// `552` otherwise.
    pub min_free: MinFree,
}

/// How much free space uploads must leave on the served folder's disk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MinFree {
    /// 256 MiB or 1 % of the file system, whichever is smaller; resolved to
    /// [`MinFree::Bytes`] when the server starts.
    #[default]
    Auto,
    /// This many bytes; `Bytes(0)` turns the check off.
    Bytes(u64),
}

/// The limit that stopped an upload.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum UploadLimit {
    MaxUploadSize,
    Quota,
    MinFree,
}

impl UploadLimit {
    pub const ALL: [UploadLimit; 3] = [
        UploadLimit::MaxUploadSize,
        UploadLimit::Quota,
        UploadLimit::MinFree,
    ];

    /// The name scripts see (`--json`), after the command-line flag.
    pub fn as_str(self) -> &'static str {
        match self {
            UploadLimit::MaxUploadSize => "max_upload_size",
            UploadLimit::Quota => "quota",
            UploadLimit::MinFree => "min_free",
        }
    }

    /// `552` (RFC 959: exceeded storage allocation) for every limit: each
    /// is an allocation this server will not exceed, and the reserve
    /// `--min-free` keeps is one too. A drop box's disk does not get
    /// emptier (nothing there is deleted), so a refusal must read as final:
    /// `452` (insufficient storage, transient) makes lftp retry the upload
    /// for half an hour, "Delaying before retry", where `552` makes it give
    /// up at once and show the reason. A disk that is really full (the
    /// file system's own ENOSPC, not a limit) still answers `452`.
    pub fn code(self) -> u16 {
        552
    }
}

/// What the limits did so far in this run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct UploadUsage {
    /// Bytes charged to the quota by uploads that were kept (or are running).
    pub accepted: u64,
    /// Uploads refused or stopped, per limit, in [`UploadLimit::ALL`] order.
    pub stopped: [u64; 3],
}

impl UploadUsage {
    pub fn stopped_by(&self, limit: UploadLimit) -> u64 {
        self.stopped[limit as usize]
    }
}

/// 256 MiB: the most [`MinFree::Auto`] keeps free.
const AUTO_MIN_FREE_CAP: u64 = 256 << 20;

impl UploadLimits {
    /// Why these limits cannot run a server, if they cannot: a size limit
    /// or quota of 0 refuses every byte (leave it `None` for no limit).
    pub fn check(&self) -> Result<(), String> {
        if self.max_upload_size == Some(0) {
            return Err("max_upload_size must be at least 1 byte".into());
        }
        if self.quota == Some(0) {
            return Err("quota must be at least 1 byte".into());
        }
        Ok(())
    }

    /// Resolves [`MinFree::Auto`] for a file system of `total` bytes.
    pub(crate) fn resolve(mut self, total: io::Result<u64>) -> UploadLimits {
        if self.min_free == MinFree::Auto {
            // Without the disk's size, keep the cap: refusing a little early
            // beats filling the disk.
            let one_percent = total.map_or(AUTO_MIN_FREE_CAP, |t| t / 100);
            self.min_free = MinFree::Bytes(one_percent.min(AUTO_MIN_FREE_CAP));
        }
        self
    }

    pub(crate) fn min_free_bytes(&self) -> u64 {
        match self.min_free {
            MinFree::Auto => AUTO_MIN_FREE_CAP,
            MinFree::Bytes(n) => n,
        }
    }

    /// Whether any limit is on.
    pub fn any(&self) -> bool {
        self.max_upload_size.is_some() || self.quota.is_some() || self.min_free_bytes() > 0
    }
}

/// `uploads: at most 2 MiB per file, 1 GB in all, 256 MiB kept free on disk`.
impl fmt::Display for UploadLimits {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(n) = self.max_upload_size {
            parts.push(format!("at most {} per file", size_text(n)));
        }
        if let Some(n) = self.quota {
            parts.push(format!("{} in all", size_text(n)));
        }
        match self.min_free {
            MinFree::Auto => parts.push("min(256 MiB, 1 %) kept free on disk".into()),
            MinFree::Bytes(0) => {}
            MinFree::Bytes(n) => parts.push(format!("{} kept free on disk", size_text(n))),
        }
        if parts.is_empty() {
            return f.write_str("uploads: no limits");
        }
        write!(f, "uploads: {}", parts.join(", "))
    }
}

/// A size as people write it: exact in binary (`2 MiB`) or decimal
/// (`500 kB`) units when it is a whole number of them, else rounded to
/// one decimal in binary units.
pub(crate) fn size_text(n: u64) -> String {
    const BIN: [&str; 5] = ["bytes", "KiB", "MiB", "GiB", "TiB"];
    const DEC: [&str; 5] = ["bytes", "kB", "MB", "GB", "TB"];
    for k in (1..BIN.len()).rev() {
        let unit = 1u64 << (10 * k);
        if n >= unit && n % unit == 0 {
            return format!("{} {}", n / unit, BIN[k]);
        }
        let unit = 1000u64.pow(k as u32);
        if n >= unit && n % unit == 0 {
            return format!("{} {}", n / unit, DEC[k]);
        }
    }
    let k = (1..BIN.len()).rev().find(|k| n >= 1u64 << (10 * k));
    match k {
        Some(k) => format!("{:.1} {}", n as f64 / (1u64 << (10 * k)) as f64, BIN[k]),
        None if n == 1 => "1 byte".into(),
        None => format!("{n} bytes"),
    }
}
