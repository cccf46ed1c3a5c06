//! TLS session resumption across a run: TLS 1.2 session IDs, TLS 1.2 and
//! 1.3 tickets, and for each session the control connection it was
//! issued to, so that `--require-tls-reuse` can check who a data
//! connection's session belongs to.
//!
//! Every session a control connection or one of its data connections
//! negotiates is tagged with that control connection's id: tickets carry
//! it inside their encryption (so nobody can forge or change it), stored
//! sessions next to the session data. The login is not in the tag but
//! looked up when a data connection resumes: a session issued before the
//! login (the control connection's handshake always is) counts only once
//! its connection has logged in, and only as that user.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::server::{ProducesTickets, ServerSessionMemoryCache, StoresServerSessions};
use rustls::ServerConfig;

/// How long sessions stay resumable. A run's keys die with the run, so
/// this bounds only runs longer than a day.
pub(super) const SESSION_LIFETIME: Duration = Duration::from_secs(86_400);

/// TLS 1.2 sessions kept by ID (clients that resume with tickets need no
/// room here); the oldest go first.
const STORED_SESSIONS: usize = 4096;

/// Closed control connections whose sessions still count for the strict
/// check (multi-connection clients resume a sibling's session after the
/// sibling has gone); the oldest are forgotten first.
const RETIRED_ISSUERS: usize = 4096;

/// The session state of one run.
pub(crate) struct Resumption {
    tickets: Arc<dyn ProducesTickets>,
    store: Arc<ServerSessionMemoryCache>,
    issuers: Mutex<Issuers>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for Resumption {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resumption").finish_non_exhaustive()
    }
}

#[derive(Default)]
struct Issuers {
    by_id: HashMap<u64, Arc<Issuer>>,
    /// Ids of closed connections that had logged in, oldest first.
    retired: VecDeque<(Instant, u64)>,
}

/// A control connection, as far as its sessions are concerned.
#[derive(Debug)]
pub(crate) struct Issuer {
    id: u64,
    ip: IpAddr,
    /// Who it is logged in as (an opaque key), if anyone.
    login: Mutex<Option<String>>,
}

impl Issuer {
    fn login(&self) -> Option<String> {
        self.login.lock().ok()?.clone()
    }
}

/// Why a data connection's session does not satisfy the strict check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Refusal {
    NotResumed,
    /// Unknown or expired: its control connection is long gone.
    UnknownSession,
    OtherAddress,
    /// Issued to a connection not logged in, or logged in as someone else.
    OtherLogin,
}

impl Refusal {
    pub fn cause(self) -> &'static str {
        match self {
            Refusal::NotResumed => "client did not resume",
            Refusal::UnknownSession => "the session resumed is unknown or expired",
            Refusal::OtherAddress => "the session resumed belongs to another address",
            Refusal::OtherLogin => {
                "the session resumed belongs to a connection not logged in as you"
            }
        }
    }
}

impl Resumption {
    pub fn new() -> Result<Resumption, rustls::Error> {
        let rotation = u32::try_from(SESSION_LIFETIME.as_secs()).unwrap_or(u32::MAX);
        Ok(Resumption {
            tickets: Arc::new(rustls::ticketer::TicketRotator::new(
                rotation,
                super::tickets::generator,
            )?),
            store: ServerSessionMemoryCache::new(STORED_SESSIONS),
            issuers: Mutex::new(Issuers::default()),
            next_id: AtomicU64::new(1),
        })
    }

    /// A new control connection from `ip`.
    pub fn register(&self, ip: IpAddr) -> Arc<Issuer> {
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let issuer = Arc::new(Issuer {
            id,
            ip: ip.to_canonical(),
            login: Mutex::new(None),
        });
        if let Ok(mut all) = self.issuers.lock() {
            all.by_id.insert(id, Arc::clone(&issuer));
        }
        issuer
    }

    /// The control connection has closed. Its sessions keep counting as
    /// its last login for a while, unless it never logged in.
    pub fn retire(&self, issuer: &Issuer) {
        let Ok(mut all) = self.issuers.lock() else {
            return;
        };
        if issuer.login().is_none() {
            all.by_id.remove(&issuer.id);
            return;
        }
        let now = Instant::now();
        all.retired.push_back((now, issuer.id));
        while let Some(&(at, id)) = all.retired.front() {
            let expired = now.saturating_duration_since(at) > SESSION_LIFETIME;
            if !expired && all.retired.len() <= RETIRED_ISSUERS {
                break;
            }
            all.retired.pop_front();
            all.by_id.remove(&id);
        }
    }

    fn issuer(&self, id: u64) -> Option<Arc<Issuer>> {
        self.issuers.lock().ok()?.by_id.get(&id).cloned()
    }

    /// `base` for a connection of `issuer`: its sessions and tickets are
    /// tagged with the issuer, and what it resumes is recorded in
    /// `resumed`.
    pub fn configure(
        &self,
        base: &ServerConfig,
        issuer: &Issuer,
        resumed: &Arc<Resumed>,
    ) -> ServerConfig {
        let (store, tickets) = self.tagging(issuer, resumed);
        let mut config = base.clone();
        config.session_storage = store;
        config.ticketer = tickets;
        config
    }

    fn tagging(
        &self,
        issuer: &Issuer,
        resumed: &Arc<Resumed>,
    ) -> (Arc<dyn StoresServerSessions>, Arc<dyn ProducesTickets>) {
        let tag = Tag {
            issuer: issuer.id,
            resumed: Arc::clone(resumed),
        };
        (
            Arc::new(TaggedStore {
                inner: Arc::clone(&self.store),
                tag: tag.clone(),
            }),
            Arc::new(TaggedTickets {
                inner: Arc::clone(&self.tickets),
                tag,
            }),
        )
    }

    /// The strict check: the session a data connection of `me` resumed
    /// (`resumed_from`, 0 for none) was issued to a control connection
    /// from the same address, logged in now as the same user as `me`.
    pub fn check(&self, me: &Issuer, resumed_from: u64) -> Result<(), Refusal> {
        if resumed_from == 0 {
            return Err(Refusal::NotResumed);
        }
        let owner = self.issuer(resumed_from).ok_or(Refusal::UnknownSession)?;
        if owner.ip != me.ip {
            return Err(Refusal::OtherAddress);
        }
        match (owner.login(), me.login()) {
            (Some(a), Some(b)) if a == b => Ok(()),
            _ => Err(Refusal::OtherLogin),
        }
    }
}

/// Publishes who a control connection is logged in as.
pub(crate) fn set_login(issuer: &Issuer, login: Option<String>) {
    if let Ok(mut l) = issuer.login.lock() {
        *l = login;
    }
}

/// What a handshake resumed, as far as its lookups tell.
#[derive(Debug, Default)]
pub(crate) struct Resumed {
    /// The issuer of the session last looked up (0: none).
    pub issuer: AtomicU64,
    /// 64 bits of the ticket that carried it, which tell tickets apart
    /// (0: no ticket).
    pub ticket: AtomicU64,
}

#[derive(Debug, Clone)]
struct Tag {
    issuer: u64,
    resumed: Arc<Resumed>,
}

impl Tag {
    fn wrap(&self, value: &[u8]) -> Vec<u8> {
        let mut v = Vec::with_capacity(8 + value.len());
        v.extend_from_slice(&self.issuer.to_be_bytes());
        v.extend_from_slice(value);
        v
    }

    fn unwrap(&self, mut tagged: Vec<u8>) -> Option<Vec<u8>> {
        let id: [u8; 8] = tagged.get(..8)?.try_into().ok()?;
        self.resumed
            .issuer
            .store(u64::from_be_bytes(id), Ordering::Relaxed);
        tagged.drain(..8);
        Some(tagged)
    }
}

/// TLS 1.2 sessions by ID, shared by the whole run. Resuming leaves the
/// session in place: clients such as FileZilla resume one session for
/// every data connection.
#[derive(Debug)]
struct TaggedStore {
    inner: Arc<ServerSessionMemoryCache>,
    tag: Tag,
}

impl StoresServerSessions for TaggedStore {
    fn put(&self, key: Vec<u8>, value: Vec<u8>) -> bool {
        self.inner.put(key, self.tag.wrap(&value))
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.tag.unwrap(self.inner.get(key)?)
    }

    fn take(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.get(key)
    }

    fn can_cache(&self) -> bool {
        true
    }
}

/// Tickets (TLS 1.2 and 1.3) under the run's rotating keys, with the
/// issuer's id inside the encryption.
#[derive(Debug)]
struct TaggedTickets {
    inner: Arc<dyn ProducesTickets>,
    tag: Tag,
}

impl ProducesTickets for TaggedTickets {
    fn enabled(&self) -> bool {
        true
    }

    fn lifetime(&self) -> u32 {
        self.inner.lifetime()
    }

    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        self.inner.encrypt(&self.tag.wrap(plain))
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        let plain = self.tag.unwrap(self.inner.decrypt(cipher)?)?;
        // A ticket starts with its random nonce.
        let id = cipher
            .get(..8)
            .and_then(|b| b.try_into().ok())
            .map_or(0, u64::from_be_bytes);
        self.tag.resumed.ticket.store(id, Ordering::Relaxed);
        Some(plain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn login(issuer: &Issuer, who: &str) {
        set_login(issuer, Some(who.to_string()));
    }

    #[test]
    fn tickets_name_their_issuer_and_cannot_be_forged() {
        let r = Resumption::new().unwrap();
        let a = r.register([127, 0, 0, 1].into());
        let slot = Arc::new(Resumed::default());
        let (_, tickets) = r.tagging(&a, &slot);
        let t = tickets.encrypt(b"session").unwrap();
        let (_, other_view) = r.tagging(&r.register([127, 0, 0, 1].into()), &slot);
        assert_eq!(other_view.decrypt(&t), Some(b"session".to_vec()));
        assert_eq!(slot.issuer.load(Ordering::Relaxed), a.id);
        assert_ne!(slot.ticket.load(Ordering::Relaxed), 0);
        let mut forged = t.clone();
        let last = forged.len() - 1;
        forged[last] ^= 1;
        assert_eq!(other_view.decrypt(&forged), None);
    }

    #[test]
    fn stored_sessions_name_their_issuer() {
        let r = Resumption::new().unwrap();
        let a = r.register([127, 0, 0, 1].into());
        let slot = Arc::new(Resumed::default());
        let (store, _) = r.tagging(&a, &slot);
        assert!(store.put(b"id".to_vec(), b"v".to_vec()));
        assert_eq!(store.take(b"id"), Some(b"v".to_vec()));
        assert_eq!(store.get(b"id"), Some(b"v".to_vec()), "resuming keeps it");
        assert_eq!(slot.issuer.load(Ordering::Relaxed), a.id);
    }

    #[test]
    fn strict_check_wants_the_same_login_and_address_now() {
        let r = Resumption::new().unwrap();
        let me = r.register([127, 0, 0, 1].into());
        let sibling = r.register([127, 0, 0, 1].into());
        let elsewhere = r.register([127, 0, 0, 2].into());
        login(&me, "u");
        assert_eq!(r.check(&me, 0), Err(Refusal::NotResumed));
        assert_eq!(r.check(&me, 999), Err(Refusal::UnknownSession));
        // Its session predates its login: it counts only once it logs in.
        assert_eq!(r.check(&me, sibling.id), Err(Refusal::OtherLogin));
        login(&sibling, "anonymous");
        assert_eq!(r.check(&me, sibling.id), Err(Refusal::OtherLogin));
        login(&sibling, "u");
        assert_eq!(r.check(&me, sibling.id), Ok(()));
        login(&elsewhere, "u");
        assert_eq!(r.check(&me, elsewhere.id), Err(Refusal::OtherAddress));
        // A closed connection's sessions keep its last login...
        r.retire(&sibling);
        assert_eq!(r.check(&me, sibling.id), Ok(()));
        // ...unless it never logged in.
        let never = r.register([127, 0, 0, 1].into());
        r.retire(&never);
        assert_eq!(r.check(&me, never.id), Err(Refusal::UnknownSession));
    }
}
