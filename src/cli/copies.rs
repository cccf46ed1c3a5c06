//! Keeps glibc's `memcpy` off `rep movsb` on AMD processors.
//!
//! glibc copies blocks above about 2 KiB with `rep movsb` on processors
//! that announce fast `rep movsb` (FSRM). On AMD Zen 3 and Zen 4 that
//! instruction runs some thirty times slower when the destination lies 1 to
//! 31 bytes past the source, modulo 4096 (glibc bug 30994, fixed in glibc
//! 2.40, which avoids it on AMD itself). rustls copies each TLS record it
//! decrypts into a fresh buffer that often lands just there: on a Zen 4
//! server with Debian 12's glibc, that one copy took 28 % of a TLS upload's
//! CPU, and setting glibc's threshold took a fifth off the upload's CPU.
//!
//! glibc reads its tunables only as a program starts, so a server with TLS
//! on sets the one that keeps `rep movsb` out of copies and starts itself
//! again, once, before any thread exists (about a millisecond; plain FTP
//! copies too little to be worth it). A `GLIBC_TUNABLES` that already names
//! the threshold is left alone: that is the way to choose otherwise.

use std::ffi::OsString;
use std::path::Path;

const THRESHOLD: &str = "glibc.cpu.x86_rep_movsb_threshold";

/// Far above any copy the server makes; glibc's large-copy path (its
/// non-temporal threshold) takes over first, as in its own fix.
const NEVER: &str = "0x1000000000";

/// Set for the second start: it holds the `GLIBC_TUNABLES` the user gave
/// (empty when none), and says that this start is the last.
const GIVEN: &str = "FTPSHARE_GIVEN_GLIBC_TUNABLES";

/// Starts the program again with the tunable set, when this processor and
/// environment call for it. Returns only when they do not, or when the
/// program cannot be started again (it then runs as it is).
pub fn avoid_slow_rep_movsb() {
    if std::env::var_os(GIVEN).is_some() || secure_mode() || !old_glibc() || !amd_with_fsrm() {
        return;
    }
    let given = std::env::var_os("GLIBC_TUNABLES");
    let Some(tunables) = with_threshold(given.clone()) else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    // Started again by its own path, not /proc/self/exe, so that the
    // process keeps its name (`pkill ftpshare`). Only when that path is
    // what was started: not through a symlink of another name (whose name
    // the process would lose) nor through the dynamic loader (which would
    // be started instead).
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    if program.file_name() != Path::new(&arg0).file_name() {
        return;
    }
    use std::os::unix::process::CommandExt;
    // Failing, it returns, and the server runs as it is.
    let _ = std::process::Command::new(program)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .env(GIVEN, given.unwrap_or_default())
        .exec();
    // Getting ready for the exec set SIGPIPE back to its default, which
    // would let a client that resets a download kill the server.
    // SAFETY: no handler is installed; this restores what the Rust runtime
    // set at start, before any thread exists.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
}

/// Gives a program we start (fixture mode's command) the environment the
/// user gave us: the tunable was ours, not theirs.
pub fn restore_for(child: &mut std::process::Command) {
    let Some(given) = std::env::var_os(GIVEN) else {
        return;
    };
    child.env_remove(GIVEN);
    if given.is_empty() {
        child.env_remove("GLIBC_TUNABLES");
    } else {
        child.env("GLIBC_TUNABLES", given);
    }
}

/// The `GLIBC_TUNABLES` to start again with, or `None` when the user chose
/// a threshold.
fn with_threshold(given: Option<OsString>) -> Option<OsString> {
    let mut tunables = given.unwrap_or_default();
    if tunables.to_string_lossy().contains(THRESHOLD) {
        return None;
    }
    if !tunables.is_empty() {
        tunables.push(":");
    }
    tunables.push(format!("{THRESHOLD}={NEVER}"));
    Some(tunables)
}

/// A set-user-ID or file-capability program: glibc takes tunables out of
/// its environment, so starting again could never help (and would never
/// end, the tunable missing every time).
fn secure_mode() -> bool {
    // SAFETY: getauxval only reads the process's auxiliary vector.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// glibc before 2.40, which has not the fix for bug 30994.
#[cfg(target_env = "gnu")]
fn old_glibc() -> bool {
    // SAFETY: gnu_get_libc_version returns a static NUL-terminated string.
    let version = unsafe { std::ffi::CStr::from_ptr(libc::gnu_get_libc_version()) };
    before_2_40(&version.to_string_lossy())
}

#[cfg(not(target_env = "gnu"))]
fn old_glibc() -> bool {
    false
}

fn before_2_40(version: &str) -> bool {
    let mut parts = version.split('.').map(|p| p.parse::<u32>().ok());
    match (parts.next().flatten(), parts.next().flatten()) {
        (Some(major), Some(minor)) => (major, minor) < (2, 40),
        _ => false,
    }
}

#[cfg(target_arch = "x86_64")]
#[allow(unused_unsafe)] // the intrinsics are unsafe before Rust 1.94
fn amd_with_fsrm() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    // SAFETY: cpuid exists on every x86_64 processor.
    let vendor = unsafe { __cpuid(0) };
    let amd = [vendor.ebx, vendor.edx, vendor.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .eq(*b"AuthenticAMD");
    // Leaf 7 exists when leaf 0 says so; FSRM is bit 4 of its EDX.
    // SAFETY: as above.
    amd && vendor.eax >= 7 && unsafe { __cpuid_count(7, 0) }.edx & (1 << 4) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn amd_with_fsrm() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_added_to_what_the_user_gave() {
        let set = with_threshold(None).unwrap();
        assert_eq!(set, OsString::from(format!("{THRESHOLD}={NEVER}")));
        let other = OsString::from("glibc.malloc.arena_max=2");
        let set = with_threshold(Some(other)).unwrap();
        assert_eq!(
            set,
            OsString::from(format!("glibc.malloc.arena_max=2:{THRESHOLD}={NEVER}"))
        );
        // The restarted program, and anyone who chose a threshold, runs as is.
        assert_eq!(with_threshold(Some(set)), None);
        let chosen = OsString::from(format!("{THRESHOLD}=4096"));
        assert_eq!(with_threshold(Some(chosen)), None);
    }

    #[test]
    fn glibc_versions_before_the_fix() {
        assert!(before_2_40("2.36"));
        assert!(before_2_40("2.39"));
        assert!(!before_2_40("2.40"));
        assert!(!before_2_40("2.41.9000"));
        assert!(!before_2_40("3.0"));
        assert!(!before_2_40("unknown"));
    }
}
