//! Signing keys of the OpenID Connect provider, sealed with the key-encryption key by
//! the server. A new key retires the active one of its algorithm (still published).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Transaction};

use super::audit::bump;
use super::rows::{ms, time};
use super::SqliteStore;
use crate::{Changed, KeyStore, SigningKeyRecord, StoreResult};

fn signing_keys(c: &Connection) -> StoreResult<Vec<SigningKeyRecord>> {
    let mut stmt = c.prepare_cached("SELECT kid, alg, sealed, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid")?;
    let rows = stmt.query_map([], |r| {
        Ok(SigningKeyRecord {
            kid: r.get(0)?,
            alg: r.get(1)?,
            sealed: r.get(2)?,
            created_at: time(r.get(3)?),
            retired_at: r.get::<_, Option<i64>>(4)?.map(time),
        })
    })?;
    Ok(rows.collect::<Result<_, _>>()?)
}

fn add_signing_key(
    tx: &Transaction<'_>,
    k: &SigningKeyRecord,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "UPDATE signing_keys SET retired_at = ?1 WHERE retired_at IS NULL AND alg = ?2",
        params![ms(now), k.alg],
    )?;
    tx.execute(
        "INSERT INTO signing_keys (kid, alg, sealed, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![k.kid, k.alg, k.sealed, ms(k.created_at)],
    )?;
    Ok(())
}

#[async_trait]
impl KeyStore for SqliteStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.lookup(signing_keys).await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, now: DateTime<Utc>) -> StoreResult<()> {
        let key = key.clone();
        self.write(move |tx| {
            add_signing_key(tx, &key, now)?;
            bump(tx, Changed::SigningKeys)
        })
        .await?;
        self.changed(Changed::SigningKeys);
        Ok(())
    }
}
