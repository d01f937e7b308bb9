//! Sealing of outbox bodies. A queued SMS contains its code; the code must exist in the
//! database only as a keyed hash (DESIGN.md §3), so the body is encrypted with a key
//! derived from the server secret (XChaCha20-Poly1305, the message id as associated data)
//! and wiped once the message is finished.

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::RngCore;
use textid_core::code::SecretHasher;
use textid_core::secret::Secret;

/// Seals and opens outbox bodies.
#[derive(Clone)]
pub struct BodySealer {
    cipher: XChaCha20Poly1305,
}

impl std::fmt::Debug for BodySealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BodySealer(..)")
    }
}

/// A sealed body that does not open (wrong key or tampered).
#[derive(Debug, thiserror::Error)]
#[error("the sealed message body cannot be opened (server secret changed or data corrupt)")]
pub struct OpenError;

impl BodySealer {
    /// A sealer with a key derived from the server secret.
    pub fn new(hasher: &SecretHasher) -> Self {
        let key = hasher.derive_key("textid/outbox-body/v1");
        Self {
            cipher: XChaCha20Poly1305::new(&key.into()),
        }
    }

    /// Encrypts `body`, bound to `message_id`.
    pub fn seal(&self, message_id: &[u8], body: &str, rng: &mut impl RngCore) -> Vec<u8> {
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                XNonce::from_slice(&nonce),
                Payload {
                    msg: body.as_bytes(),
                    aad: message_id,
                },
            )
            .unwrap_or_default();
        let mut out = nonce.to_vec();
        out.extend_from_slice(&sealed);
        out
    }

    /// Decrypts a sealed body.
    pub fn open(&self, message_id: &[u8], sealed: &[u8]) -> Result<Secret<String>, OpenError> {
        if sealed.len() < 24 {
            return Err(OpenError);
        }
        let (nonce, ct) = sealed.split_at(24);
        let plain = self
            .cipher
            .decrypt(
                XNonce::from_slice(nonce),
                Payload {
                    msg: ct,
                    aad: message_id,
                },
            )
            .map_err(|_| OpenError)?;
        String::from_utf8(plain)
            .map(Secret::new)
            .map_err(|_| OpenError)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_opens_only_with_its_message_id_and_key() {
        let s = BodySealer::new(&SecretHasher::new([1; 32]));
        let sealed = s.seal(b"m1", "123456 is your code", &mut rand::rngs::OsRng);
        assert!(!sealed.windows(6).any(|w| w == b"123456"));
        assert_eq!(
            s.open(b"m1", &sealed).unwrap().expose(),
            "123456 is your code"
        );
        assert!(s.open(b"m2", &sealed).is_err());
        assert!(BodySealer::new(&SecretHasher::new([2; 32]))
            .open(b"m1", &sealed)
            .is_err());
    }
}
