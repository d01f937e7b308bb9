//! The key-encryption key (KEK): the one secret every textid node is given, which seals the
//! signing keys kept in the shared database (DESIGN §4 "Signing keys are stored encrypted with
//! a key-encryption key given to every node").
//!
//! Sealed layout (stored forever, so pinned by a test):
//!
//! ```text
//! [0x01 version] [24-byte random nonce] [ciphertext || 16-byte Poly1305 tag]
//! ```
//!
//! The cipher is XChaCha20-Poly1305: its 192-bit nonce can be drawn at random for every seal
//! without a practical collision risk, which a 96-bit nonce (ChaCha20-Poly1305, AES-GCM) only
//! allows for a bounded number of messages per key. The associated data binds a sealed value
//! to its context (for signing keys: the key id), so a row copied onto another id does not open.

use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use base64::Engine;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{XChaCha20Poly1305, XNonce};
use rand::{CryptoRng, RngCore};
use zeroize::Zeroizing;

use crate::keys::KeyError;
use crate::secret::SecretBytes;

/// Version byte of the sealed layout; a different cipher later gets a new number.
const VERSION: u8 = 1;
const NONCE_LEN: usize = 24;
const TAG_LEN: usize = 16;

/// A 256-bit key that seals and opens secrets at rest.
#[derive(Clone)]
pub struct KeyEncryptionKey {
    bytes: Zeroizing<[u8; 32]>,
    cipher: XChaCha20Poly1305,
}

impl KeyEncryptionKey {
    /// A KEK from its 32 raw bytes.
    pub fn from_bytes(bytes: [u8; 32]) -> Self {
        let cipher = XChaCha20Poly1305::new(&bytes.into());
        Self {
            bytes: Zeroizing::new(bytes),
            cipher,
        }
    }

    /// A fresh random KEK (for `textid keys` and first start-up).
    pub fn generate(rng: &mut (impl RngCore + CryptoRng)) -> Self {
        let mut bytes = Zeroizing::new([0u8; 32]);
        rng.fill_bytes(bytes.as_mut());
        Self::from_bytes(*bytes)
    }

    /// Parses the configured form: 32 bytes in standard base64 (as `openssl rand -base64 32`
    /// prints them) or unpadded base64url. Surrounding whitespace, such as the newline at the
    /// end of a `*_FILE`, is ignored.
    pub fn parse(text: &str) -> Result<Self, KeyError> {
        let text = text.trim();
        let decoded = Zeroizing::new(
            STANDARD
                .decode(text)
                .or_else(|_| URL_SAFE_NO_PAD.decode(text))
                .map_err(|_| KeyError::InvalidKek("not base64"))?,
        );
        let bytes: [u8; 32] = decoded
            .as_slice()
            .try_into()
            .map_err(|_| KeyError::InvalidKek("must decode to exactly 32 bytes"))?;
        Ok(Self::from_bytes(bytes))
    }

    /// The configured form: standard base64 with padding (what [`KeyEncryptionKey::parse`]
    /// reads back).
    pub fn to_base64(&self) -> String {
        STANDARD.encode(self.bytes.as_ref())
    }

    /// Encrypts and authenticates `plaintext`, bound to `aad`; see the module docs for the
    /// layout. A fresh random nonce is drawn from the operating system for every call.
    pub fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Vec<u8> {
        self.seal_with_rng(plaintext, aad, &mut rand::rngs::OsRng)
    }

    /// [`KeyEncryptionKey::seal`] with the nonce drawn from `rng` (tests, deterministic tools).
    pub fn seal_with_rng(
        &self,
        plaintext: &[u8],
        aad: &[u8],
        rng: &mut (impl RngCore + CryptoRng),
    ) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        rng.fill_bytes(&mut nonce);
        let mut out = Vec::with_capacity(1 + NONCE_LEN + plaintext.len() + TAG_LEN);
        out.push(VERSION);
        out.extend_from_slice(&nonce);
        let payload = Payload {
            msg: plaintext,
            aad,
        };
        match self.cipher.encrypt(XNonce::from_slice(&nonce), payload) {
            Ok(ciphertext) => out.extend_from_slice(&ciphertext),
            // The AEAD only fails for inputs longer than 2^38 bytes, which no caller has.
            Err(_) => unreachable!("XChaCha20-Poly1305 input is far below the length limit"),
        }
        out
    }

    /// Decrypts what [`KeyEncryptionKey::seal`] produced with the same key and `aad`. Fails
    /// with [`KeyError::Unseal`] for a wrong key, wrong `aad`, any changed byte or an unknown
    /// layout version; the plaintext comes back in a wiping wrapper.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<SecretBytes, KeyError> {
        let (version, rest) = sealed.split_first().ok_or(KeyError::Unseal)?;
        if *version != VERSION || rest.len() < NONCE_LEN + TAG_LEN {
            return Err(KeyError::Unseal);
        }
        let (nonce, ciphertext) = rest.split_at(NONCE_LEN);
        let payload = Payload {
            msg: ciphertext,
            aad,
        };
        self.cipher
            .decrypt(XNonce::from_slice(nonce), payload)
            .map(SecretBytes::new)
            .map_err(|_| KeyError::Unseal)
    }
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("KeyEncryptionKey(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    fn kek() -> KeyEncryptionKey {
        KeyEncryptionKey::from_bytes([7; 32])
    }

    #[test]
    fn sealed_bytes_open_with_the_same_key_and_aad() {
        let sealed = kek().seal(b"private key", b"kid-1");
        assert_eq!(
            kek().open(&sealed, b"kid-1").unwrap().expose(),
            b"private key"
        );
    }

    #[test]
    fn sealed_bytes_do_not_open_with_another_aad() {
        let sealed = kek().seal(b"private key", b"kid-1");
        assert!(matches!(
            kek().open(&sealed, b"kid-2"),
            Err(KeyError::Unseal)
        ));
    }

    #[test]
    fn sealed_bytes_do_not_open_with_another_key() {
        let sealed = kek().seal(b"private key", b"kid-1");
        let other = KeyEncryptionKey::from_bytes([8; 32]);
        assert!(matches!(
            other.open(&sealed, b"kid-1"),
            Err(KeyError::Unseal)
        ));
    }

    #[test]
    fn any_flipped_byte_makes_open_fail() {
        let sealed = kek().seal(b"private key", b"kid-1");
        for i in 0..sealed.len() {
            let mut tampered = sealed.clone();
            tampered[i] ^= 0x01;
            assert!(kek().open(&tampered, b"kid-1").is_err(), "byte {i}");
        }
        assert!(kek().open(&sealed[..sealed.len() - 1], b"kid-1").is_err());
        assert!(kek().open(&[], b"kid-1").is_err());
    }

    #[test]
    fn sealed_layout_is_version_nonce_ciphertext_tag() {
        let mut rng = StdRng::seed_from_u64(1);
        let sealed = kek().seal_with_rng(b"abc", b"", &mut rng);
        assert_eq!(sealed.len(), 1 + 24 + 3 + 16);
        assert_eq!(sealed[0], 1);
        let mut rng = StdRng::seed_from_u64(1);
        let mut nonce = [0u8; 24];
        rng.fill_bytes(&mut nonce);
        assert_eq!(&sealed[1..25], &nonce);
    }

    #[test]
    fn value_sealed_by_an_earlier_build_still_opens() {
        // Known answer: KEK [7; 32], plaintext "abc", aad "kid-1". Sealed values live in
        // databases; a change of cipher or layout that fails this would orphan every stored key.
        let sealed = KNOWN_SEALED;
        let decoded: Vec<u8> = (0..sealed.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&sealed[i..i + 2], 16).unwrap())
            .collect();
        assert_eq!(kek().open(&decoded, b"kid-1").unwrap().expose(), b"abc");
    }

    const KNOWN_SEALED: &str =
        "01611830d3641a68f94a690dcc25d1f4b0dac948325ac18f6d4cd5f573203eb474d05e6789aaa925b967a2fa";

    #[test]
    fn two_seals_of_the_same_plaintext_differ() {
        assert_ne!(kek().seal(b"x", b""), kek().seal(b"x", b""));
    }

    #[test]
    fn base64_form_round_trips_and_is_strict_about_length() {
        let generated = KeyEncryptionKey::generate(&mut StdRng::seed_from_u64(2));
        let text = generated.to_base64();
        let parsed = KeyEncryptionKey::parse(&format!("{text}\n")).unwrap();
        assert_eq!(parsed.to_base64(), text);
        let url_safe = URL_SAFE_NO_PAD.encode([7u8; 32]);
        assert_eq!(
            KeyEncryptionKey::parse(&url_safe).unwrap().to_base64(),
            kek().to_base64()
        );
        assert!(matches!(
            KeyEncryptionKey::parse(&STANDARD.encode([1u8; 16])),
            Err(KeyError::InvalidKek(_))
        ));
        assert!(matches!(
            KeyEncryptionKey::parse("not base64!"),
            Err(KeyError::InvalidKek(_))
        ));
    }

    #[test]
    fn debug_output_never_contains_the_key() {
        assert_eq!(format!("{:?}", kek()), "KeyEncryptionKey(<redacted>)");
    }
}
