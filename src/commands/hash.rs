//! HASH, RANG and OPTS HASH (draft-bryan-ftpext-hash), and the older
//! XCRC, XMD5, XSHA1, XSHA256 and XSHA512. A hash runs in the transfer
//! slot: ABOR and QUIT cut it, shutdown and the idle timer treat it as a
//! transfer, and the control connection stays responsive meanwhile.

use crate::error::{FtpError, FtpResult};
use crate::protocol::{HashAlgo, Reply};
use crate::session::Session;

use super::fs;

/// OPTS HASH: with no name, the current algorithm; with one, a new choice.
pub fn opts(s: &mut Session, name: &str) -> FtpResult<Reply> {
    if !name.is_empty() {
        s.hash_algo = HashAlgo::from_name(name).ok_or_else(|| {
            FtpError::Syntax("Unknown algorithm, current selection not changed".into())
        })?;
    }
    Ok(Reply::new(200, s.hash_algo.name()))
}

/// The FEAT line: every algorithm, the current one marked.
pub fn feat(s: &Session) -> String {
    let names: Vec<String> = HashAlgo::ALL
        .iter()
        .map(|&a| {
            let star = if a == s.hash_algo { "*" } else { "" };
            format!("{}{star}", a.name())
        })
        .collect();
    format!("HASH {};", names.join(";"))
}

/// RANG: remembered for the next command, which only HASH uses.
pub fn rang(s: &mut Session, range: Option<(u64, u64)>) -> FtpResult<Reply> {
    s.range = range;
    Ok(match range {
        Some((start, end)) => Reply::new(350, format!("Hashing bytes {start} to {end} next")),
        None => Reply::new(350, "Byte range reset"),
    })
}

/// HASH: `213 ALGO START-END HEX path`, END being the last byte hashed.
pub async fn hash(s: &mut Session, arg: &str) -> FtpResult<Option<Reply>> {
    let algo = s.hash_algo;
    let (first, end) = match s.range.take() {
        // RANG's last byte is inclusive; `start` takes an exclusive end.
        Some((a, b)) => (a, Some(b.saturating_add(1))),
        None => (0, None),
    };
    let shown = arg.to_string();
    start(s, arg, algo, first, end, 213, move |hex, start, len| {
        let last = start.saturating_add(len).saturating_sub(1).max(start);
        format!("{} {start}-{last} {hex} {shown}", algo.name())
    })
    .await
}

/// XCRC, XMD5…: `250 HEX` of `[start, end)`, as their clients expect.
pub async fn xhash(
    s: &mut Session,
    algo: HashAlgo,
    arg: &str,
    start_at: u64,
    end: Option<u64>,
) -> FtpResult<Option<Reply>> {
    start(s, arg, algo, start_at, end, 250, |hex, _, _| {
        hex.to_ascii_uppercase()
    })
    .await
}

/// Opens the file, clamps the range to its size and starts the hash.
async fn start(
    s: &mut Session,
    arg: &str,
    algo: HashAlgo,
    first: u64,
    end: Option<u64>,
    code: u16,
    text: impl FnOnce(String, u64, u64) -> String + Send + 'static,
) -> FtpResult<Option<Reply>> {
    let path = s.path(arg)?;
    let (file, md) = fs(s, &path, |root, p| root.open_read(p)).await?;
    let size = md.len();
    if first > size || (first == size && size > 0) {
        return Err(FtpError::FileUnavailable(format!(
            "{path}: range starts beyond the end of the file ({size} bytes)"
        )));
    }
    // The parsers keep `first <= end`, and `first <= size` was checked;
    // an empty range is still no reason to underflow.
    let len = end.unwrap_or(size).min(size).saturating_sub(first);
    let progress = crate::data::Progress::default();
    let rate = s.shared.config.limits.max_rate;
    let task = crate::data::digest(file, algo, first, len, rate, progress.clone());
    s.start_hash(&path, code, progress, async move {
        task.await.map(|hex| text(hex, first, len))
    });
    Ok(None)
}
