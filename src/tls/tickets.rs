//! The key behind this run's session tickets: ChaCha20-Poly1305 under a
//! random key that never leaves the process. [`generator`] makes a fresh
//! one each time rustls' `TicketRotator` rotates.

use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, CHACHA20_POLY1305, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};
use rustls::crypto::GetRandomFailed;
use rustls::server::ProducesTickets;

/// One ticket key.
struct TicketKey {
    key: LessSafeKey,
    rng: SystemRandom,
}

impl std::fmt::Debug for TicketKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TicketKey")
    }
}

/// A new key, for `rustls::ticketer::TicketRotator`.
pub(super) fn generator() -> Result<Box<dyn ProducesTickets>, GetRandomFailed> {
    let rng = SystemRandom::new();
    let mut bytes = [0u8; 32];
    rng.fill(&mut bytes).map_err(|_| GetRandomFailed)?;
    let key = UnboundKey::new(&CHACHA20_POLY1305, &bytes).map_err(|_| GetRandomFailed)?;
    Ok(Box::new(TicketKey {
        key: LessSafeKey::new(key),
        rng,
    }))
}

impl ProducesTickets for TicketKey {
    fn enabled(&self) -> bool {
        true
    }

    /// The rotator keeps its own lifetime; this one is never asked.
    fn lifetime(&self) -> u32 {
        0
    }

    /// A random nonce, then the sealed session (a random 96-bit nonce per
    /// ticket never repeats in practice within one key's life).
    fn encrypt(&self, plain: &[u8]) -> Option<Vec<u8>> {
        let mut nonce = [0u8; NONCE_LEN];
        self.rng.fill(&mut nonce).ok()?;
        let mut out = nonce.to_vec();
        let mut sealed = plain.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::empty(),
                &mut sealed,
            )
            .ok()?;
        out.extend_from_slice(&sealed);
        Some(out)
    }

    fn decrypt(&self, cipher: &[u8]) -> Option<Vec<u8>> {
        if cipher.len() < NONCE_LEN {
            return None;
        }
        let (nonce, sealed) = cipher.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).ok()?;
        let mut buf = sealed.to_vec();
        let plain_len = self
            .key
            .open_in_place(nonce, Aad::empty(), &mut buf)
            .ok()?
            .len();
        buf.truncate(plain_len);
        Some(buf)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_tamper() {
        let k = generator().unwrap();
        let t = k.encrypt(b"hello").unwrap();
        assert_eq!(k.decrypt(&t), Some(b"hello".to_vec()));
        let mut bad = t.clone();
        bad[NONCE_LEN] ^= 1;
        assert_eq!(k.decrypt(&bad), None);
        assert_eq!(k.decrypt(&t[..5]), None);
        let other = generator().unwrap();
        assert_eq!(other.decrypt(&t), None, "keys are per run");
    }
}
