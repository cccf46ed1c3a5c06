//! What this process may do to a file or folder, from its owner, group
//! and permission bits: the MLSD/MLST `perm` fact must not offer `RETR` of
//! a file the server cannot read (RFC 3659 §7.5.5). Worked out from the
//! `stat` a listing makes anyway, so a listing costs no extra call per
//! entry; ACLs and the like are not seen, and only make a command fail
//! that the fact offered.

use std::sync::OnceLock;

/// Read, write and search (execute) rights, as the kernel would grant them
/// to this process's effective user and groups by permission bits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rights(u8);

const READ: u8 = 4;
const WRITE: u8 = 2;
const SEARCH: u8 = 1;
/// Ours: owned by this process's user (or we are root).
const OWN: u8 = 8;
/// A sticky folder (`/tmp`'s `t`) not ours: only the owner of a name in
/// it may remove or rename that name.
const STICKY: u8 = 16;

impl Rights {
    pub const ALL: Rights = Rights(READ | WRITE | SEARCH | OWN);
    pub const NONE: Rights = Rights(0);

    /// The rights the bits of `mode` give this process on a file owned by
    /// `uid` and `gid`. Root may do all (search included: what matters
    /// here is entering folders).
    pub fn of(mode: u32, uid: u32, gid: u32) -> Rights {
        let me = credentials();
        if me.uid == 0 {
            return Rights::ALL;
        }
        let (shift, own) = if uid == me.uid {
            (6, OWN)
        } else if gid == me.gid || me.groups.contains(&gid) {
            (3, 0)
        } else {
            (0, 0)
        };
        let sticky = match mode & libc::S_ISVTX != 0 && own == 0 {
            true => STICKY,
            false => 0,
        };
        Rights(((mode >> shift) & 7) as u8 | own | sticky)
    }

    pub fn read(self) -> bool {
        self.0 & READ != 0
    }

    pub fn write(self) -> bool {
        self.0 & WRITE != 0
    }

    pub fn search(self) -> bool {
        self.0 & SEARCH != 0
    }

    /// What a folder must give to make names in it.
    pub fn change_names(self) -> bool {
        self.write() && self.search()
    }

    /// Whether, in a folder with these rights, this process may remove,
    /// rename or replace an entry with `entry`'s.
    pub fn may_replace(self, entry: Rights) -> bool {
        self.change_names() && (self.0 & STICKY == 0 || entry.0 & OWN != 0)
    }
}

struct Credentials {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

/// Asked once: a server does not change its user while it runs.
fn credentials() -> &'static Credentials {
    static CREDENTIALS: OnceLock<Credentials> = OnceLock::new();
    CREDENTIALS.get_or_init(|| Credentials {
        uid: rustix::process::geteuid().as_raw(),
        gid: rustix::process::getegid().as_raw(),
        groups: rustix::process::getgroups()
            .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
            .unwrap_or_default(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_bits_that_apply_are_the_owner_s_group_s_or_others() {
        let me = credentials();
        if me.uid == 0 {
            assert_eq!(Rights::of(0o000, 1, 1), Rights::ALL);
            return;
        }
        let owner = Rights::of(0o640, me.uid, u32::MAX - 1);
        assert!(owner.read() && owner.write() && !owner.search());
        let other = Rights::of(0o751, u32::MAX - 1, u32::MAX - 1);
        assert!(!other.read() && !other.write() && other.search());
        assert!(!Rights::of(0o000, me.uid, me.gid).read());
        // In a sticky folder of another user, only our own names change.
        let tmp = Rights::of(0o1777, u32::MAX - 1, u32::MAX - 1);
        assert!(tmp.change_names());
        assert!(tmp.may_replace(Rights::of(0o600, me.uid, me.gid)));
        assert!(!tmp.may_replace(Rights::of(0o666, u32::MAX - 1, me.gid)));
    }
}
