//! Server-wide state every session reads: the configuration, the served
//! root, the event sender, shutdown tokens, and the connection and ban table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use tokio::sync::{broadcast, watch};
use tokio_util::sync::CancellationToken;

use crate::bans::{BanTable, ClientKey};
use crate::budget::Budget;
use crate::config::Config;
use crate::events::{Event, Refused};
use crate::path_locks::PathLocks;
use crate::vfs::Share;

/// State every session shares.
pub(crate) struct Shared {
    pub config: Config,
    /// What is served: a folder, or a virtual root over several paths.
    pub root: Share,
    pub events: broadcast::Sender<Event>,
    /// Transfers completed without error, counted here rather than by
    /// event subscribers, who may lag behind and miss some.
    pub completed: watch::Sender<u64>,
    /// Graceful shutdown: stop accepting, let transfers finish briefly.
    pub shutdown: CancellationToken,
    /// Immediate shutdown: abort transfers now.
    pub kill: CancellationToken,
    /// IPv4 address announced in PASV replies instead of our own.
    pub pasv_ip: Option<Ipv4Addr>,
    /// What uploads may still store.
    pub budget: Arc<Budget>,
    /// One writer at a time per path.
    pub locks: Arc<PathLocks>,
    next_transfer: AtomicU64,
    conns: Mutex<ConnTable>,
    bans: Mutex<BanTable>,
}

#[derive(Default)]
struct ConnTable {
    total: usize,
    per_ip: HashMap<ClientKey, usize>,
}

impl Shared {
    pub fn new(
        config: Config,
        root: Share,
        events: broadcast::Sender<Event>,
        pasv_ip: Option<Ipv4Addr>,
    ) -> Shared {
        Shared {
            budget: Arc::new(Budget::new(config.uploads)),
            locks: Arc::default(),
            root,
            events,
            completed: watch::Sender::new(0),
            shutdown: CancellationToken::new(),
            kill: CancellationToken::new(),
            pasv_ip,
            next_transfer: AtomicU64::new(1),
            conns: Mutex::new(ConnTable::default()),
            bans: Mutex::new(BanTable::new(
                config.limits.ban_table_size,
                config.limits.ban_after,
                config.limits.ban_duration,
            )),
            config,
        }
    }

    /// Shared state for unit tests: `root` served in `access` mode, user
    /// `share` with password `secret`, no TLS.
    #[cfg(test)]
    pub fn for_tests(root: &std::path::Path, access: crate::AccessMode) -> Arc<Shared> {
        let config = crate::Server::builder()
            .root(root)
            .credentials("share", "secret")
            .access(access)
            .config()
            .clone();
        let root = Share::open(&[root.to_path_buf()]).expect("test root opens");
        Arc::new(Shared::new(config, root, broadcast::channel(16).0, None))
    }

    /// Open control connections right now.
    pub fn connections(&self) -> usize {
        self.conns.lock().map(|t| t.total).unwrap_or(0)
    }

    pub fn emit(&self, event: Event) {
        let completed = matches!(event, Event::TransferFinished { error: None, .. });
        // No receiver is fine: nobody is watching.
        let _ = self.events.send(event);
        // After the event, so whoever sees the count can find the event.
        if completed {
            self.completed.send_modify(|n| *n += 1);
        }
    }

    /// Whether `Limits::max_transfers` transfers have completed. Counted
    /// before the session that made the last one reads its client's next
    /// command, so the limit holds however fast a client asks for more.
    pub fn transfers_done(&self) -> bool {
        let max = self.config.limits.max_transfers;
        max.is_some_and(|max| *self.completed.borrow() >= max)
    }

    pub fn next_transfer_id(&self) -> u64 {
        self.next_transfer.fetch_add(1, Ordering::Relaxed)
    }

    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Result<ConnGuard, Refused> {
        let limits = &self.config.limits;
        if self.is_banned(ip) {
            return Err(Refused::Banned);
        }
        let mut t = self.conns.lock().unwrap_or_else(|e| e.into_inner());
        if t.total >= limits.max_connections {
            return Err(Refused::MaxConnections);
        }
        let n = t.per_ip.entry(ClientKey::of(ip)).or_insert(0);
        if *n >= limits.max_connections_per_ip {
            return Err(Refused::MaxConnectionsPerIp);
        }
        *n += 1;
        t.total += 1;
        Ok(ConnGuard {
            shared: Arc::clone(self),
            ip,
        })
    }

    /// Records a failed login from `ip` (for the cross-connection ban).
    pub fn login_failed(&self, ip: IpAddr) {
        let mut t = self.bans.lock().unwrap_or_else(|e| e.into_inner());
        t.failed(ip, Instant::now());
    }

    pub fn is_banned(&self, ip: IpAddr) -> bool {
        let mut t = self.bans.lock().unwrap_or_else(|e| e.into_inner());
        t.banned(ip, Instant::now())
    }
}

/// Holds a connection's place in the limits until the session ends.
pub(crate) struct ConnGuard {
    shared: Arc<Shared>,
    ip: IpAddr,
}

impl Drop for ConnGuard {
    fn drop(&mut self) {
        let mut t = self.shared.conns.lock().unwrap_or_else(|e| e.into_inner());
        t.total -= 1;
        let key = ClientKey::of(self.ip);
        if let Some(n) = t.per_ip.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                t.per_ip.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv6Addr;

    /// A host rotating through the addresses of its /64 is one client for
    /// the per-address connection limit, as it is for bans.
    #[test]
    fn the_per_address_limit_counts_an_ipv6_64_as_one_client() {
        let dir = tempfile::tempdir().expect("temp dir");
        let shared = Shared::for_tests(dir.path(), crate::AccessMode::ReadOnly);
        let per_ip = shared.config.limits.max_connections_per_ip;
        let in_net = |i: u16| IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, i));
        let held: Vec<_> = (0..per_ip)
            .map(|i| {
                shared
                    .admit(in_net(i as u16 + 1))
                    .expect("within the limit")
            })
            .collect();
        assert!(matches!(
            shared.admit(in_net(0xffff)),
            Err(Refused::MaxConnectionsPerIp)
        ));
        let other_net = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 1, 0, 0, 0, 1));
        assert!(shared.admit(other_net).is_ok());
        drop(held);
        assert!(shared.admit(in_net(0xffff)).is_ok());
    }
}
