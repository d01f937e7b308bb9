//! The signing key ring: one active key per algorithm (RS256 for every client, ES256 and
//! EdDSA for clients that ask), stored sealed with the key-encryption key, shared by every
//! node through the database. The JWKS publishes each algorithm's current key and the one
//! before it, so tokens signed before a rotation still verify.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use serde_json::Value;
use textid_oidc::{jwks, Algorithm, KeyEncryptionKey, SigningKey, StoredKey, VerificationKey};
use textid_store::{SigningKeyRecord, Store, StoreError};

/// Why the key ring cannot be built.
#[derive(Debug, thiserror::Error)]
pub enum KeyRingError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A key does not open or parse (wrong key-encryption key?).
    #[error("signing key {kid}: {source} (is the key-encryption key the one the keys were sealed with?)")]
    Key {
        /// The key id.
        kid: String,
        /// Why.
        source: textid_oidc::KeyError,
    },
}

/// The keys in use.
#[derive(Debug)]
pub struct KeyRing {
    active: HashMap<Algorithm, SigningKey>,
    published: Vec<SigningKey>,
    verification: Vec<VerificationKey>,
}

fn open(record: &SigningKeyRecord, kek: &KeyEncryptionKey) -> Result<SigningKey, KeyRingError> {
    let err = |source| KeyRingError::Key {
        kid: record.kid.clone(),
        source,
    };
    let alg = Algorithm::parse(&record.alg).map_err(err)?;
    let stored = StoredKey {
        kid: record.kid.clone(),
        alg,
        sealed: record.sealed.clone(),
        created_at: record.created_at,
    };
    SigningKey::from_sealed(&stored, kek).map_err(err)
}

/// Generates and stores a new key for `alg`; the previous one stays published.
pub async fn rotate(
    store: &dyn Store,
    kek: &KeyEncryptionKey,
    alg: Algorithm,
    now: DateTime<Utc>,
) -> Result<String, KeyRingError> {
    let key = SigningKey::generate(alg, &mut OsRng, now).map_err(|source| KeyRingError::Key {
        kid: "(new)".into(),
        source,
    })?;
    let sealed = key.to_sealed(kek);
    let record = SigningKeyRecord {
        kid: sealed.kid.clone(),
        alg: alg.as_str().into(),
        sealed: sealed.sealed,
        created_at: now,
        retired_at: None,
    };
    store.add_signing_key(&record, now).await?;
    Ok(record.kid)
}

impl KeyRing {
    /// Loads the keys, generating the active key of any algorithm that has none.
    pub async fn load_or_create(
        store: &dyn Store,
        kek: &KeyEncryptionKey,
        now: DateTime<Utc>,
    ) -> Result<Self, KeyRingError> {
        let mut records = store.signing_keys().await?;
        let mut created = false;
        for alg in Algorithm::ALL {
            if !records
                .iter()
                .any(|r| r.alg == alg.as_str() && r.retired_at.is_none())
            {
                rotate(store, kek, alg, now).await?;
                created = true;
            }
        }
        if created {
            records = store.signing_keys().await?;
        }
        let mut active = HashMap::new();
        let mut published = Vec::new();
        for alg in Algorithm::ALL {
            // Newest first: the active key, then the one it replaced.
            for record in records.iter().filter(|r| r.alg == alg.as_str()).take(2) {
                let key = open(record, kek)?;
                if record.retired_at.is_none() {
                    active.entry(alg).or_insert_with(|| key.clone());
                }
                published.push(key);
            }
        }
        let verification = published
            .iter()
            .map(|k| {
                k.verification_key().map_err(|source| KeyRingError::Key {
                    kid: k.kid().into(),
                    source,
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            active,
            published,
            verification,
        })
    }

    /// The active key for `alg`.
    pub fn signer(&self, alg: Algorithm) -> Option<&SigningKey> {
        self.active.get(&alg)
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        jwks::document(&self.published.iter().collect::<Vec<_>>())
    }

    /// Keys that verify tokens textid issued.
    pub fn verification_keys(&self) -> &[VerificationKey] {
        &self.verification
    }

    /// Published keys (kid, alg, created), newest first per algorithm.
    pub fn describe(&self) -> Vec<(String, Algorithm, bool)> {
        self.published
            .iter()
            .map(|k| {
                (
                    k.kid().to_string(),
                    k.alg(),
                    self.active
                        .get(&k.alg())
                        .is_some_and(|a| a.kid() == k.kid()),
                )
            })
            .collect()
    }
}
