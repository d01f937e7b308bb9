//! Signing keys of the OpenID Connect provider, sealed with the key-encryption key by the
//! server. A new key retires the active one of its algorithm (still published), and the
//! rotation is announced to every node (`audit::bump`) in the same transaction.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::audit::bump;
use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query, time};
use super::PostgresStore;
use crate::{Changed, KeyStore, SigningKeyRecord, StoreResult};

async fn add(tx: &Tx<'_>, k: &SigningKeyRecord, now: DateTime<Utc>) -> StoreResult<()> {
    execute(
        tx,
        "UPDATE signing_keys SET retired_at = $1 WHERE retired_at IS NULL AND alg = $2",
        &[&ms(now), &k.alg],
    )
    .await?;
    execute(
        tx,
        "INSERT INTO signing_keys (kid, alg, sealed, created_at) VALUES ($1, $2, $3, $4)",
        &[&k.kid, &k.alg, &k.sealed, &ms(k.created_at)],
    )
    .await?;
    bump(tx, Changed::SigningKeys).await
}

#[async_trait]
impl KeyStore for PostgresStore {
    async fn signing_keys(&self) -> StoreResult<Vec<SigningKeyRecord>> {
        self.read(&(), |c, ()| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT kid, alg, sealed, created_at, retired_at FROM signing_keys ORDER BY created_at DESC, kid",
                    &[],
                )
                .await?;
                rows.iter()
                    .map(|r| {
                        Ok(SigningKeyRecord {
                            kid: r.try_get(0)?,
                            alg: r.try_get(1)?,
                            sealed: r.try_get(2)?,
                            created_at: time(r.try_get(3)?),
                            retired_at: r.try_get::<_, Option<i64>>(4)?.map(time),
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn add_signing_key(&self, key: &SigningKeyRecord, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(key, now), |tx, (k, now)| {
            Box::pin(add(tx, k, *now))
        })
        .await?;
        self.changed(Changed::SigningKeys);
        Ok(())
    }
}
