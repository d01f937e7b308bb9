//! Signing keys: generation, the PKCS#8 form they are kept in, their public JWK, sealing for
//! the shared database, and the verification side ([`VerificationKey`]) built from either a
//! signing key or a public JWK as a relying party sees it.
//!
//! Invariants: a [`SigningKey`] has been loaded into the signer once (so it signs or was
//! refused at load time, not at the first sign-in); its `alg` matches the key type; RSA keys
//! have at least 2048 bits (RFC 7518 §3.3). DESIGN §2: RS256 for every client (OIDC's
//! default), ES256 and EdDSA per client.

use std::fmt;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::{DateTime, Utc};
use jsonwebtoken::DecodingKey;
use p256::elliptic_curve::sec1::ToEncodedPoint;
use rand::{CryptoRng, RngCore};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::traits::PublicKeyParts;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::kek::KeyEncryptionKey;
use crate::secret::SecretBytes;

/// Modulus size of generated RSA keys.
pub const RSA_BITS: usize = 2048;

/// Smallest RSA modulus accepted from PKCS#8 or a JWK (RFC 7518 §3.3: 2048 bits or larger).
const RSA_MIN_BITS: usize = 2048;

/// A JWS signature algorithm textid signs with. Serialised as the JOSE name (RFC 7518 §3.1,
/// RFC 8037 §3.1): `RS256`, `ES256`, `EdDSA`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Algorithm {
    /// RSASSA-PKCS1-v1_5 with SHA-256: OIDC's mandatory default (OIDC Discovery §3).
    RS256,
    /// ECDSA on P-256 with SHA-256.
    ES256,
    /// Ed25519 (RFC 8037).
    EdDSA,
}

impl Algorithm {
    /// All algorithms, RS256 first.
    pub const ALL: [Algorithm; 3] = [Algorithm::RS256, Algorithm::ES256, Algorithm::EdDSA];

    /// The JOSE name.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::RS256 => "RS256",
            Algorithm::ES256 => "ES256",
            Algorithm::EdDSA => "EdDSA",
        }
    }

    /// Parses a JOSE name, exactly (case-sensitive, RFC 7515 §4.1.1). Everything else,
    /// `none` and the HMAC algorithms included, is [`KeyError::UnsupportedAlgorithm`].
    pub fn parse(name: &str) -> Result<Self, KeyError> {
        match name {
            "RS256" => Ok(Algorithm::RS256),
            "ES256" => Ok(Algorithm::ES256),
            "EdDSA" => Ok(Algorithm::EdDSA),
            other => Err(KeyError::UnsupportedAlgorithm(other.to_string())),
        }
    }

    pub(crate) fn to_jwt(self) -> jsonwebtoken::Algorithm {
        match self {
            Algorithm::RS256 => jsonwebtoken::Algorithm::RS256,
            Algorithm::ES256 => jsonwebtoken::Algorithm::ES256,
            Algorithm::EdDSA => jsonwebtoken::Algorithm::EdDSA,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for Algorithm {
    type Err = KeyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

/// What can go wrong with keys, their JWKs and their sealed form.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// An algorithm name textid does not sign with (including `none` and `HS256`).
    #[error("unsupported algorithm {0:?}")]
    UnsupportedAlgorithm(String),
    /// Key generation failed.
    #[error("key generation failed: {0}")]
    Generation(String),
    /// PKCS#8 bytes that are not a usable private key of the stated algorithm.
    #[error("invalid {alg} private key: {reason}")]
    InvalidPrivateKey {
        /// The algorithm the key was loaded for.
        alg: Algorithm,
        /// Why it was refused.
        reason: String,
    },
    /// A JWK that is not a usable public signing key.
    #[error("invalid JWK: {0}")]
    InvalidJwk(String),
    /// A key-encryption key in the wrong form.
    #[error("invalid key-encryption key: {0}")]
    InvalidKek(&'static str),
    /// Sealed bytes that do not open: wrong key-encryption key, wrong key id, or changed
    /// bytes. Deliberately says no more.
    #[error("sealed key does not open with this key-encryption key")]
    Unseal,
}

/// A private signing key with its id and public JWK.
///
/// Load it once and keep it: loading checks the key with the signer.
#[derive(Clone)]
pub struct SigningKey {
    kid: String,
    alg: Algorithm,
    created_at: DateTime<Utc>,
    private_pkcs8_der: SecretBytes,
    public_jwk: Value,
    signer: std::sync::Arc<Signer>,
}

/// A private key parsed into the signer (ring) once, at load: parsing checks the key (for
/// ECDSA it derives the public point, for RSA it checks the factors), work that signing
/// with a DER key would repeat on every token.
enum Signer {
    Rs256(ring::signature::RsaKeyPair),
    Es256(ring::signature::EcdsaKeyPair),
    EdDsa(ring::signature::Ed25519KeyPair),
}

impl Signer {
    /// `der`: PKCS#1 RSAPrivateKey for RS256 (what ring reads), PKCS#8 for the others.
    fn load(alg: Algorithm, der: &[u8]) -> Result<Self, String> {
        let rng = ring::rand::SystemRandom::new();
        Ok(match alg {
            Algorithm::RS256 => {
                Self::Rs256(ring::signature::RsaKeyPair::from_der(der).map_err(|e| e.to_string())?)
            }
            Algorithm::ES256 => Self::Es256(
                ring::signature::EcdsaKeyPair::from_pkcs8(
                    &ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING,
                    der,
                    &rng,
                )
                .map_err(|e| e.to_string())?,
            ),
            Algorithm::EdDSA => Self::EdDsa(
                ring::signature::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
                    .map_err(|e| e.to_string())?,
            ),
        })
    }

    /// The JWS signature of `message` (RFC 7518 §3: PKCS#1 v1.5 with SHA-256; ECDSA P-256
    /// as the 64-byte `r || s`; Ed25519).
    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        let rng = ring::rand::SystemRandom::new();
        match self {
            Self::Rs256(key) => {
                let mut signature = vec![0; key.public().modulus_len()];
                key.sign(
                    &ring::signature::RSA_PKCS1_SHA256,
                    &rng,
                    message,
                    &mut signature,
                )
                .map_err(|e| e.to_string())?;
                Ok(signature)
            }
            Self::Es256(key) => key
                .sign(&rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|e| e.to_string()),
            Self::EdDsa(key) => Ok(key.sign(message).as_ref().to_vec()),
        }
    }
}

/// A signing key as the database keeps it: the PKCS#8 DER sealed with the
/// [`KeyEncryptionKey`], bound to the key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredKey {
    /// The key id (`kid` header and JWK member).
    pub kid: String,
    /// The algorithm the key signs with.
    pub alg: Algorithm,
    /// `kek.seal(pkcs8_der, aad)` with the associated data of [`StoredKey::aad`].
    pub sealed: Vec<u8>,
    /// When the key was generated.
    pub created_at: DateTime<Utc>,
}

impl StoredKey {
    /// The associated data a signing key is sealed with: a fixed label and the key id. The
    /// label keeps a sealed signing key from opening in any other place that the same KEK
    /// may seal under the same id; the id keeps a row from opening under another id.
    pub fn aad(kid: &str) -> Vec<u8> {
        let mut aad = b"textid/signing-key/v1\0".to_vec();
        aad.extend_from_slice(kid.as_bytes());
        aad
    }
}

impl SigningKey {
    /// A new key of `alg` with a random key id (16 random bytes, base64url: 22 characters).
    /// RSA keys have [`RSA_BITS`] bits; generating one takes a noticeable fraction of a
    /// second, so rotate in the background, never on a request.
    pub fn generate(
        alg: Algorithm,
        rng: &mut (impl RngCore + CryptoRng),
        now: DateTime<Utc>,
    ) -> Result<Self, KeyError> {
        let der = match alg {
            Algorithm::RS256 => rsa::RsaPrivateKey::new(rng, RSA_BITS)
                .map_err(|e| KeyError::Generation(e.to_string()))?
                .to_pkcs8_der()
                .map_err(|e| KeyError::Generation(e.to_string()))?,
            Algorithm::ES256 => p256::SecretKey::random(rng)
                .to_pkcs8_der()
                .map_err(|e| KeyError::Generation(e.to_string()))?,
            Algorithm::EdDSA => ed25519_dalek::SigningKey::generate(rng)
                .to_pkcs8_der()
                .map_err(|e| KeyError::Generation(e.to_string()))?,
        };
        let mut id = [0u8; 16];
        rng.fill_bytes(&mut id);
        let kid = URL_SAFE_NO_PAD.encode(id);
        Self::from_pkcs8_der(kid, alg, der.as_bytes(), now)
    }

    /// Loads a private key from PKCS#8 DER (unencrypted) for `alg`. The key is re-encoded in
    /// the canonical form (EC keys with their public key, as the signer requires) and checked
    /// by signing once.
    pub fn from_pkcs8_der(
        kid: String,
        alg: Algorithm,
        pkcs8_der: &[u8],
        created_at: DateTime<Utc>,
    ) -> Result<Self, KeyError> {
        let invalid = |reason: String| KeyError::InvalidPrivateKey { alg, reason };
        let (der, signer, public) = match alg {
            Algorithm::RS256 => {
                let key = rsa::RsaPrivateKey::from_pkcs8_der(pkcs8_der)
                    .map_err(|e| invalid(e.to_string()))?;
                if key.size() * 8 < RSA_MIN_BITS {
                    return Err(invalid(format!("modulus under {RSA_MIN_BITS} bits")));
                }
                // The signer (ring) reads RSA keys as PKCS#1 RSAPrivateKey.
                let pkcs1 = key.to_pkcs1_der().map_err(|e| invalid(e.to_string()))?;
                let der = key.to_pkcs8_der().map_err(|e| invalid(e.to_string()))?;
                let public = json!({
                    "kty": "RSA",
                    "n": URL_SAFE_NO_PAD.encode(key.n().to_bytes_be()),
                    "e": URL_SAFE_NO_PAD.encode(key.e().to_bytes_be()),
                });
                let signer = Signer::load(alg, pkcs1.as_bytes())
                    .map_err(|e| invalid(format!("refused by the signer: {e}")))?;
                (der.as_bytes().to_vec(), signer, public)
            }
            Algorithm::ES256 => {
                let key = p256::SecretKey::from_pkcs8_der(pkcs8_der)
                    .map_err(|e| invalid(e.to_string()))?;
                let der = key.to_pkcs8_der().map_err(|e| invalid(e.to_string()))?;
                let point = key.public_key().to_encoded_point(false);
                let (Some(x), Some(y)) = (point.x(), point.y()) else {
                    return Err(invalid("public key is the identity".to_string()));
                };
                let public = json!({
                    "kty": "EC",
                    "crv": "P-256",
                    "x": URL_SAFE_NO_PAD.encode(x),
                    "y": URL_SAFE_NO_PAD.encode(y),
                });
                let signer = Signer::load(alg, der.as_bytes())
                    .map_err(|e| invalid(format!("refused by the signer: {e}")))?;
                (der.as_bytes().to_vec(), signer, public)
            }
            Algorithm::EdDSA => {
                let key = ed25519_dalek::SigningKey::from_pkcs8_der(pkcs8_der)
                    .map_err(|e| invalid(e.to_string()))?;
                let der = key.to_pkcs8_der().map_err(|e| invalid(e.to_string()))?;
                let public = json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(key.verifying_key().to_bytes()),
                });
                let signer = Signer::load(alg, der.as_bytes())
                    .map_err(|e| invalid(format!("refused by the signer: {e}")))?;
                (der.as_bytes().to_vec(), signer, public)
            }
        };
        signer
            .sign(b"textid key check")
            .map_err(|e| invalid(format!("refused by the signer: {e}")))?;
        let mut public_jwk = public;
        if let Value::Object(members) = &mut public_jwk {
            members.insert("kid".into(), Value::String(kid.clone()));
            members.insert("alg".into(), Value::String(alg.as_str().into()));
            members.insert("use".into(), Value::String("sig".into()));
        }
        Ok(Self {
            kid,
            alg,
            created_at,
            private_pkcs8_der: SecretBytes::new(der),
            public_jwk,
            signer: std::sync::Arc::new(signer),
        })
    }

    /// The key id: the `kid` of every token this key signs and of its JWK.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The algorithm this key signs with.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    /// When the key was generated.
    pub fn created_at(&self) -> DateTime<Utc> {
        self.created_at
    }

    /// The private key as PKCS#8 DER, in its redacting wrapper.
    pub fn private_pkcs8_der(&self) -> &SecretBytes {
        &self.private_pkcs8_der
    }

    /// The public JWK (RFC 7517): RSA `{kty, n, e}`, EC `{kty, crv: "P-256", x, y}` or OKP
    /// `{kty, crv: "Ed25519", x}` (RFC 8037), always with `kid`, `alg` and `use: "sig"`.
    pub fn public_jwk(&self) -> Value {
        self.public_jwk.clone()
    }

    /// The public half, for verifying what this key signed.
    pub fn verification_key(&self) -> Result<VerificationKey, KeyError> {
        VerificationKey::from_jwk(&self.public_jwk)
    }

    /// The form the database keeps: PKCS#8 sealed with `kek`, bound to the key id.
    pub fn to_sealed(&self, kek: &KeyEncryptionKey) -> StoredKey {
        StoredKey {
            kid: self.kid.clone(),
            alg: self.alg,
            sealed: kek.seal(self.private_pkcs8_der.expose(), &StoredKey::aad(&self.kid)),
            created_at: self.created_at,
        }
    }

    /// Opens a stored key with `kek` and loads it.
    pub fn from_sealed(stored: &StoredKey, kek: &KeyEncryptionKey) -> Result<Self, KeyError> {
        let der = kek.open(&stored.sealed, &StoredKey::aad(&stored.kid))?;
        Self::from_pkcs8_der(
            stored.kid.clone(),
            stored.alg,
            der.expose(),
            stored.created_at,
        )
    }

    /// The JWS signature of `message` with this key.
    pub(crate) fn sign(&self, message: &[u8]) -> Result<Vec<u8>, String> {
        self.signer.sign(message)
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .field("created_at", &self.created_at)
            .field("private_pkcs8_der", &self.private_pkcs8_der)
            .finish_non_exhaustive()
    }
}

/// A public key that verifies tokens: a key id, the one algorithm it accepts, and the key.
#[derive(Clone)]
pub struct VerificationKey {
    kid: String,
    alg: Algorithm,
    decoding: DecodingKey,
}

impl VerificationKey {
    /// Reads a public JWK as published in a JWKS: `kid` is required (tokens are matched to
    /// keys by it); `alg`, if present, must fit the key type, and if absent is taken from it;
    /// `use`, if present, must be `sig`. Points are checked to be on their curve and RSA
    /// moduli to have at least 2048 bits, so a bad key fails here and not at verification.
    pub fn from_jwk(jwk: &Value) -> Result<Self, KeyError> {
        let bad = |reason: &str| KeyError::InvalidJwk(reason.to_string());
        let member = |name: &str| jwk.get(name).and_then(Value::as_str);
        let kid = member("kid").ok_or_else(|| bad("missing kid"))?;
        if let Some(usage) = jwk.get("use") {
            if usage.as_str() != Some("sig") {
                return Err(bad("use is not sig"));
            }
        }
        let (alg, decoding) = match member("kty") {
            Some("RSA") => rsa_decoding_key(member("n"), member("e"))?,
            Some("EC") => ec_decoding_key(member("crv"), member("x"), member("y"))?,
            Some("OKP") => okp_decoding_key(member("crv"), member("x"))?,
            _ => return Err(bad("kty is not RSA, EC or OKP")),
        };
        if let Some(stated) = jwk.get("alg") {
            if stated.as_str() != Some(alg.as_str()) {
                return Err(bad("alg does not fit the key type"));
            }
        }
        Ok(Self {
            kid: kid.to_string(),
            alg,
            decoding,
        })
    }

    /// The key id.
    pub fn kid(&self) -> &str {
        &self.kid
    }

    /// The one algorithm this key verifies.
    pub fn alg(&self) -> Algorithm {
        self.alg
    }

    pub(crate) fn decoding_key(&self) -> &DecodingKey {
        &self.decoding
    }
}

impl fmt::Debug for VerificationKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerificationKey")
            .field("kid", &self.kid)
            .field("alg", &self.alg)
            .finish_non_exhaustive()
    }
}

fn b64_member(value: Option<&str>, name: &str) -> Result<Vec<u8>, KeyError> {
    let value = value.ok_or_else(|| KeyError::InvalidJwk(format!("missing {name}")))?;
    URL_SAFE_NO_PAD
        .decode(value)
        .map_err(|_| KeyError::InvalidJwk(format!("{name} is not base64url")))
}

fn rsa_decoding_key(
    n: Option<&str>,
    e: Option<&str>,
) -> Result<(Algorithm, DecodingKey), KeyError> {
    let modulus = b64_member(n, "n")?;
    let exponent = b64_member(e, "e")?;
    let significant = modulus.iter().skip_while(|b| **b == 0).count();
    if significant * 8 < RSA_MIN_BITS {
        return Err(KeyError::InvalidJwk(format!(
            "RSA modulus under {RSA_MIN_BITS} bits"
        )));
    }
    let key = DecodingKey::from_rsa_raw_components(&modulus, &exponent);
    Ok((Algorithm::RS256, key))
}

fn ec_decoding_key(
    crv: Option<&str>,
    x: Option<&str>,
    y: Option<&str>,
) -> Result<(Algorithm, DecodingKey), KeyError> {
    if crv != Some("P-256") {
        return Err(KeyError::InvalidJwk("EC crv is not P-256".into()));
    }
    let (xb, yb) = (b64_member(x, "x")?, b64_member(y, "y")?);
    if xb.len() != 32 || yb.len() != 32 {
        return Err(KeyError::InvalidJwk(
            "P-256 coordinates are 32 bytes".into(),
        ));
    }
    let mut sec1 = vec![0x04];
    sec1.extend_from_slice(&xb);
    sec1.extend_from_slice(&yb);
    p256::PublicKey::from_sec1_bytes(&sec1)
        .map_err(|_| KeyError::InvalidJwk("point is not on P-256".into()))?;
    let (Some(x), Some(y)) = (x, y) else {
        return Err(KeyError::InvalidJwk("missing x or y".into()));
    };
    let key =
        DecodingKey::from_ec_components(x, y).map_err(|e| KeyError::InvalidJwk(e.to_string()))?;
    Ok((Algorithm::ES256, key))
}

fn okp_decoding_key(
    crv: Option<&str>,
    x: Option<&str>,
) -> Result<(Algorithm, DecodingKey), KeyError> {
    if crv != Some("Ed25519") {
        return Err(KeyError::InvalidJwk("OKP crv is not Ed25519".into()));
    }
    let xb: [u8; 32] = b64_member(x, "x")?
        .try_into()
        .map_err(|_| KeyError::InvalidJwk("Ed25519 x is 32 bytes".into()))?;
    ed25519_dalek::VerifyingKey::from_bytes(&xb)
        .map_err(|_| KeyError::InvalidJwk("x is not an Ed25519 point".into()))?;
    let Some(x) = x else {
        return Err(KeyError::InvalidJwk("missing x".into()));
    };
    let key =
        DecodingKey::from_ed_components(x).map_err(|e| KeyError::InvalidJwk(e.to_string()))?;
    Ok((Algorithm::EdDSA, key))
}

/// Keys generated once for every test module of the crate: RSA generation is slow in debug
/// builds.
#[cfg(test)]
pub(crate) mod test_keys {
    use std::sync::OnceLock;

    use chrono::TimeZone;
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;

    /// A fixed instant: 2026-01-01T00:00:00Z.
    pub(crate) fn t0() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
            .single()
            .expect("a valid date")
    }

    /// One key per algorithm, in [`Algorithm::ALL`] order, plus a second ES256 key.
    pub(crate) fn keys() -> &'static [SigningKey; 4] {
        static KEYS: OnceLock<[SigningKey; 4]> = OnceLock::new();
        KEYS.get_or_init(|| {
            let mut rng = StdRng::seed_from_u64(42);
            let mut gen = |alg| SigningKey::generate(alg, &mut rng, t0()).expect("generate");
            [
                gen(Algorithm::RS256),
                gen(Algorithm::ES256),
                gen(Algorithm::EdDSA),
                gen(Algorithm::ES256),
            ]
        })
    }

    /// The test key for `alg`.
    pub(crate) fn key(alg: Algorithm) -> &'static SigningKey {
        let index = Algorithm::ALL
            .iter()
            .position(|a| *a == alg)
            .expect("every algorithm has a key");
        &keys()[index]
    }
}

#[cfg(test)]
mod tests {
    use super::test_keys::{key, keys, t0};
    use super::*;

    #[test]
    fn algorithm_names_are_the_jose_names() {
        for alg in Algorithm::ALL {
            assert_eq!(Algorithm::parse(alg.as_str()).unwrap(), alg);
            assert_eq!(serde_json::to_value(alg).unwrap(), json!(alg.as_str()));
        }
        assert_eq!(
            serde_json::to_string(&Algorithm::ALL).unwrap(),
            r#"["RS256","ES256","EdDSA"]"#
        );
        for refused in ["none", "HS256", "rs256", "eddsa", "PS256", ""] {
            assert!(Algorithm::parse(refused).is_err(), "{refused}");
        }
    }

    #[test]
    fn rsa_jwk_has_kty_n_e_kid_alg_use() {
        let k = key(Algorithm::RS256);
        let jwk = k.public_jwk();
        assert_eq!(jwk["kty"], "RSA");
        assert_eq!(jwk["alg"], "RS256");
        assert_eq!(jwk["use"], "sig");
        assert_eq!(jwk["kid"], k.kid());
        assert_eq!(jwk["e"], "AQAB");
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        assert_eq!(n.len(), 256);
        assert!(jwk.get("d").is_none() && jwk.get("p").is_none());
    }

    #[test]
    fn ec_jwk_has_crv_x_y() {
        let jwk = key(Algorithm::ES256).public_jwk();
        assert_eq!(jwk["kty"], "EC");
        assert_eq!(jwk["crv"], "P-256");
        assert_eq!(jwk["alg"], "ES256");
        assert_eq!(jwk["use"], "sig");
        for c in ["x", "y"] {
            let bytes = URL_SAFE_NO_PAD.decode(jwk[c].as_str().unwrap()).unwrap();
            assert_eq!(bytes.len(), 32);
        }
        assert!(jwk.get("d").is_none());
    }

    #[test]
    fn okp_jwk_has_crv_ed25519_and_x() {
        let jwk = key(Algorithm::EdDSA).public_jwk();
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert_eq!(jwk["use"], "sig");
        let x = URL_SAFE_NO_PAD.decode(jwk["x"].as_str().unwrap()).unwrap();
        assert_eq!(x.len(), 32);
        assert!(jwk.get("d").is_none());
    }

    #[test]
    fn kids_are_22_url_safe_characters_and_distinct() {
        let kids: Vec<&str> = keys().iter().map(SigningKey::kid).collect();
        for kid in &kids {
            assert_eq!(kid.len(), 22);
            assert!(kid
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
        }
        let mut unique = kids.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), kids.len());
    }

    #[test]
    fn sealed_keys_open_to_the_same_key() {
        let kek = KeyEncryptionKey::from_bytes([3; 32]);
        for k in keys() {
            let stored = k.to_sealed(&kek);
            assert_eq!(stored.kid, k.kid());
            assert_eq!(stored.alg, k.alg());
            assert_eq!(stored.created_at, t0());
            let opened = SigningKey::from_sealed(&stored, &kek).unwrap();
            assert_eq!(opened.public_jwk(), k.public_jwk());
            assert_eq!(opened.private_pkcs8_der(), k.private_pkcs8_der());
        }
    }

    #[test]
    fn sealed_key_does_not_open_under_another_kid_or_kek() {
        let kek = KeyEncryptionKey::from_bytes([3; 32]);
        let mut stored = key(Algorithm::ES256).to_sealed(&kek);
        let other_kek = KeyEncryptionKey::from_bytes([4; 32]);
        assert!(matches!(
            SigningKey::from_sealed(&stored, &other_kek),
            Err(KeyError::Unseal)
        ));
        stored.kid = key(Algorithm::EdDSA).kid().to_string();
        assert!(matches!(
            SigningKey::from_sealed(&stored, &kek),
            Err(KeyError::Unseal)
        ));
    }

    #[test]
    fn pkcs8_of_one_algorithm_is_refused_for_another() {
        let ec = key(Algorithm::ES256);
        for alg in [Algorithm::RS256, Algorithm::EdDSA] {
            let err =
                SigningKey::from_pkcs8_der("k".into(), alg, ec.private_pkcs8_der().expose(), t0())
                    .unwrap_err();
            assert!(matches!(err, KeyError::InvalidPrivateKey { .. }), "{alg}");
        }
    }

    #[test]
    fn debug_output_never_contains_the_private_key() {
        let shown = format!("{:?}", key(Algorithm::EdDSA));
        assert!(shown.contains("<redacted>"));
        let der_hex: String = key(Algorithm::EdDSA)
            .private_pkcs8_der()
            .expose()
            .iter()
            .map(|b| format!("{b}"))
            .collect::<Vec<_>>()
            .join(", ");
        assert!(!shown.contains(&der_hex));
    }

    #[test]
    fn jwk_round_trips_into_a_verification_key_with_kid_and_alg() {
        for k in keys() {
            let vk = VerificationKey::from_jwk(&k.public_jwk()).unwrap();
            assert_eq!(vk.kid(), k.kid());
            assert_eq!(vk.alg(), k.alg());
        }
    }

    #[test]
    fn jwk_without_alg_takes_it_from_the_key_type() {
        for k in keys() {
            let mut jwk = k.public_jwk();
            jwk.as_object_mut().unwrap().remove("alg");
            jwk.as_object_mut().unwrap().remove("use");
            assert_eq!(VerificationKey::from_jwk(&jwk).unwrap().alg(), k.alg());
        }
    }

    #[test]
    fn jwk_with_a_mismatched_alg_or_use_or_bad_point_is_refused() {
        let mut jwk = key(Algorithm::ES256).public_jwk();
        jwk["alg"] = json!("RS256");
        assert!(VerificationKey::from_jwk(&jwk).is_err());

        let mut jwk = key(Algorithm::ES256).public_jwk();
        jwk["use"] = json!("enc");
        assert!(VerificationKey::from_jwk(&jwk).is_err());

        let mut jwk = key(Algorithm::ES256).public_jwk();
        jwk["y"] = jwk["x"].clone();
        assert!(VerificationKey::from_jwk(&jwk).is_err());

        let mut jwk = key(Algorithm::RS256).public_jwk();
        jwk["n"] = json!(URL_SAFE_NO_PAD.encode([0xff; 128]));
        assert!(VerificationKey::from_jwk(&jwk).is_err());

        let mut jwk = key(Algorithm::EdDSA).public_jwk();
        jwk.as_object_mut().unwrap().remove("kid");
        assert!(VerificationKey::from_jwk(&jwk).is_err());

        let hmac = json!({"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"});
        assert!(VerificationKey::from_jwk(&hmac).is_err());
    }
}
