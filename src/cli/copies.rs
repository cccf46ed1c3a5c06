//! Keeps glibc's `memcpy` off `rep movsb` on AMD processors.
//!
//! glibc copies blocks above about 2 KiB with `rep movsb` on processors
//! that announce fast `rep movsb` (FSRM). On AMD Zen 3 and Zen 4 that
//! instruction runs some thirty times slower when the destination lies 1 to
//! 31 bytes past the source, modulo 4096 (glibc bug 30994; newer releases
//! avoid it on AMD themselves). rustls copies each TLS record it decrypts
//! into a fresh buffer that often lands just there: on a Zen 4 server with
//! Debian 12's glibc, that one copy took 28 % of a TLS upload's CPU, and
//! setting glibc's threshold took a fifth off the upload's CPU.
//!
//! glibc reads its tunables only as a program starts, so a server with TLS
//! on sets the one that keeps `rep movsb` out of copies and starts itself
//! again, once, before any thread exists (about a millisecond; plain FTP
//! copies too little to be worth it). A `GLIBC_TUNABLES` that already names
//! the threshold is left alone: that is the way to choose otherwise.

use std::ffi::OsString;

const THRESHOLD: &str = "glibc.cpu.x86_rep_movsb_threshold";

/// Far above any copy the server makes; glibc's large-copy path (its
/// non-temporal threshold) takes over first, as in its own fix.
const NEVER: &str = "0x1000000000";

/// Starts the program again with the tunable set, when this processor and
/// environment call for it. Returns only when they do not, or when the
/// program cannot be started again (it then runs as it is).
pub fn avoid_slow_rep_movsb() {
    let current = std::env::var_os("GLIBC_TUNABLES");
    let Some(tunables) = with_threshold(current, amd_with_fsrm()) else {
        return;
    };
    use std::os::unix::process::CommandExt;
    // The program's own path, not /proc/self/exe: the process is named
    // after the file it runs, and `pkill ftpshare` must still find it.
    let Ok(program) = std::env::current_exe() else {
        return;
    };
    let mut args = std::env::args_os();
    let arg0 = args.next().unwrap_or_default();
    let error = std::process::Command::new(program)
        .arg0(arg0)
        .args(args)
        .env("GLIBC_TUNABLES", tunables)
        .exec();
    tracing::debug!("could not restart with {THRESHOLD} set: {error}");
}

/// Gives a program we start (fixture mode's command) the `GLIBC_TUNABLES`
/// the user gave us: the threshold we added is ours, not theirs.
pub fn restore_for(child: &mut std::process::Command) {
    let Some(current) = std::env::var_os("GLIBC_TUNABLES") else {
        return;
    };
    match without_ours(&current.to_string_lossy()) {
        Some(theirs) if theirs.is_empty() => child.env_remove("GLIBC_TUNABLES"),
        Some(theirs) => child.env("GLIBC_TUNABLES", theirs),
        None => child,
    };
}

/// `tunables` without the setting [`with_threshold`] adds, or `None` when
/// it has none.
fn without_ours(tunables: &str) -> Option<String> {
    let ours = format!("{THRESHOLD}={NEVER}");
    let rest: Vec<&str> = tunables.split(':').filter(|t| *t != ours).collect();
    (rest.len() != tunables.split(':').count()).then(|| rest.join(":"))
}

/// The `GLIBC_TUNABLES` to start again with, or `None` to run as we are.
fn with_threshold(current: Option<OsString>, amd_with_fsrm: bool) -> Option<OsString> {
    if !amd_with_fsrm || cfg!(not(target_env = "gnu")) {
        return None;
    }
    let mut tunables = current.unwrap_or_default();
    if tunables.to_string_lossy().contains(THRESHOLD) {
        return None;
    }
    if !tunables.is_empty() {
        tunables.push(":");
    }
    tunables.push(format!("{THRESHOLD}={NEVER}"));
    Some(tunables)
}

#[cfg(target_arch = "x86_64")]
fn amd_with_fsrm() -> bool {
    use std::arch::x86_64::{__cpuid, __cpuid_count};
    let vendor = __cpuid(0);
    let amd = [vendor.ebx, vendor.edx, vendor.ecx]
        .iter()
        .flat_map(|r| r.to_le_bytes())
        .eq(*b"AuthenticAMD");
    // Leaf 7 exists when leaf 0 says so; FSRM is bit 4 of its EDX.
    amd && vendor.eax >= 7 && __cpuid_count(7, 0).edx & (1 << 4) != 0
}

#[cfg(not(target_arch = "x86_64"))]
fn amd_with_fsrm() -> bool {
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_amd_with_fsrm_starts_again() {
        assert_eq!(with_threshold(None, false), None);
        let set = with_threshold(None, true).unwrap();
        assert_eq!(set, OsString::from(format!("{THRESHOLD}={NEVER}")));
    }

    #[test]
    fn other_tunables_are_kept_and_a_chosen_threshold_wins() {
        let other = OsString::from("glibc.malloc.arena_max=2");
        let set = with_threshold(Some(other), true).unwrap();
        assert_eq!(
            set,
            OsString::from(format!("glibc.malloc.arena_max=2:{THRESHOLD}={NEVER}"))
        );
        // The restarted program, and anyone who chose a threshold, runs as is.
        assert_eq!(with_threshold(Some(set), true), None);
        let chosen = OsString::from(format!("{THRESHOLD}=4096"));
        assert_eq!(with_threshold(Some(chosen), true), None);
    }

    #[test]
    fn a_child_gets_the_tunables_the_user_gave() {
        let added = |before: Option<&str>| {
            let set = with_threshold(before.map(OsString::from), true).unwrap();
            without_ours(&set.to_string_lossy())
        };
        assert_eq!(added(None).as_deref(), Some(""));
        let theirs = "glibc.malloc.arena_max=2:glibc.malloc.tcache_count=0";
        assert_eq!(added(Some(theirs)).as_deref(), Some(theirs));
        assert_eq!(without_ours(theirs), None);
    }
}
