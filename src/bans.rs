//! The failed-login table behind the cross-connection ban (RFC 2577 §5).
//!
//! It holds at most a fixed number of clients; when full, the one whose
//! last failure is oldest is forgotten. Entries also expire once their
//! last failure is older than the ban itself. Both are found through an
//! index ordered by last failure, so every operation costs O(log n) under
//! the lock, never a scan of the table.
//!
//! IPv6 clients are counted per /64 network: one host usually gets a whole
//! /64, and could otherwise rotate through its addresses to escape a ban.

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::time::{Duration, Instant};

/// One client as the limits count it: an IPv4 address, or an IPv6 /64
/// (bans and the per-address connection limit alike).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ClientKey {
    V4(u32),
    /// The upper 64 bits of the address.
    V6Net(u64),
}

impl ClientKey {
    pub fn of(ip: IpAddr) -> ClientKey {
        match ip.to_canonical() {
            IpAddr::V4(v4) => ClientKey::V4(u32::from(v4)),
            IpAddr::V6(v6) => ClientKey::V6Net((u128::from(v6) >> 64) as u64),
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    /// Position in `by_age`: the last failure and a tie-breaker.
    age: (Instant, u64),
}

/// Failed logins per client, bounded in size.
#[derive(Debug)]
pub(crate) struct BanTable {
    capacity: usize,
    ban_after: u32,
    ban_duration: Duration,
    records: HashMap<ClientKey, Record>,
    by_age: BTreeMap<(Instant, u64), ClientKey>,
    next_seq: u64,
}

impl BanTable {
    /// `ban_after` failures ban a client for `ban_duration`; 0 never bans.
    pub fn new(capacity: usize, ban_after: u32, ban_duration: Duration) -> BanTable {
        BanTable {
            capacity,
            ban_after,
            ban_duration,
            records: HashMap::new(),
            by_age: BTreeMap::new(),
            next_seq: 0,
        }
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.records.len()
    }

    /// Counts a failed login from `ip` at `now`.
    pub fn failed(&mut self, ip: IpAddr, now: Instant) {
        if self.capacity == 0 || self.ban_after == 0 {
            return;
        }
        self.expire(now);
        let key = ClientKey::of(ip);
        let age = (now, self.next_seq);
        self.next_seq += 1;
        let failures = match self.records.get(&key) {
            Some(r) => {
                self.by_age.remove(&r.age);
                r.failures.saturating_add(1)
            }
            None => {
                if self.records.len() >= self.capacity {
                    if let Some((_, oldest)) = self.by_age.pop_first() {
                        self.records.remove(&oldest);
                    }
                }
                1
            }
        };
        self.records.insert(key, Record { failures, age });
        self.by_age.insert(age, key);
    }

    /// Whether `ip` is banned at `now`.
    pub fn banned(&mut self, ip: IpAddr, now: Instant) -> bool {
        self.expire(now);
        self.records
            .get(&ClientKey::of(ip))
            .is_some_and(|r| self.ban_after > 0 && r.failures >= self.ban_after)
    }

    /// Forgets clients whose last failure is older than a ban: whether
    /// banned or not, they start again with a clean count.
    fn expire(&mut self, now: Instant) {
        while let Some((&age, &key)) = self.by_age.first_key_value() {
            if now.saturating_duration_since(age.0) < self.ban_duration {
                break;
            }
            self.by_age.remove(&age);
            self.records.remove(&key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    fn v4(n: u32) -> IpAddr {
        IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + n))
    }

    #[test]
    fn bans_after_the_count_and_forgets_after_the_duration() {
        let t0 = Instant::now();
        let mut t = BanTable::new(10, 3, Duration::from_secs(60));
        for _ in 0..2 {
            t.failed(v4(1), t0);
        }
        assert!(!t.banned(v4(1), t0));
        t.failed(v4(1), t0);
        assert!(t.banned(v4(1), t0));
        assert!(!t.banned(v4(2), t0));
        assert!(t.banned(v4(1), t0 + Duration::from_secs(59)));
        assert!(!t.banned(v4(1), t0 + Duration::from_secs(60)));
        assert_eq!(t.len(), 0);
    }

    #[test]
    fn never_holds_more_than_its_capacity_and_drops_the_oldest() {
        let t0 = Instant::now();
        let mut t = BanTable::new(100, 2, Duration::from_secs(600));
        for n in 0..100_000 {
            let now = t0 + Duration::from_millis(n as u64);
            t.failed(v4(n), now);
            t.failed(v4(n), now);
            assert!(t.len() <= 100);
        }
        let now = t0 + Duration::from_millis(100_000);
        assert!(t.banned(v4(99_999), now));
        assert!(t.banned(v4(99_900), now));
        assert!(!t.banned(v4(99_899), now));
        assert_eq!(t.records.len(), t.by_age.len());
    }

    #[test]
    fn ipv6_counts_per_64_network_and_mapped_ipv4_as_ipv4() {
        let t0 = Instant::now();
        let mut t = BanTable::new(10, 3, Duration::from_secs(60));
        for host in 1..=3u16 {
            t.failed(
                IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0, 0, 0, host)),
                t0,
            );
        }
        let rotated = Ipv6Addr::new(0x2001, 0xdb8, 0, 7, 0xdead, 0xbeef, 1, 2);
        assert!(t.banned(IpAddr::V6(rotated), t0));
        let next_net = Ipv6Addr::new(0x2001, 0xdb8, 0, 8, 0, 0, 0, 1);
        assert!(!t.banned(IpAddr::V6(next_net), t0));
        let mapped = Ipv4Addr::new(10, 0, 0, 5).to_ipv6_mapped();
        for _ in 0..3 {
            t.failed(IpAddr::V6(mapped), t0);
        }
        assert!(t.banned(v4(5), t0));
        assert!(!t.banned(v4(6), t0));
    }
}
