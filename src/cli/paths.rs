//! What may be shared together, checked before anything starts so that a
//! mistake is a usage error (exit 2) in one line: `--upload-only` takes one
//! folder, `--write` at least one, and several paths need a name each (not
//! `/`), all different.

use ftpshare::ShareError;

use super::args::Serve;

pub fn check(args: &Serve) -> Result<(), String> {
    if args.upload_only {
        let one_folder = match args.paths.as_slice() {
            [] => true,
            // A missing folder is reported when the server starts (exit 1).
            [only] => only.metadata().map_or(true, |m| m.is_dir()),
            _ => false,
        };
        if !one_folder {
            return Err("--upload-only needs exactly one folder".into());
        }
    }
    // Writes go into shared folders only: with files alone, `-w` would
    // promise what every client would be refused.
    let only_files = !args.paths.is_empty()
        && (args.paths.iter()).all(|p| p.metadata().is_ok_and(|m| !m.is_dir()));
    if args.write && only_files {
        return Err("--write needs a folder to write into; only files are shared".into());
    }
    if args.paths.len() < 2 {
        return Ok(());
    }
    match ftpshare::entry_names(&args.paths) {
        Err(e @ (ShareError::SameName { .. } | ShareError::NoName { .. })) => Err(e.to_string()),
        // A path that cannot be opened is reported when the server starts.
        _ => Ok(()),
    }
}
