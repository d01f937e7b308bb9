//! Sessions created by sign-ins (stored by the sign-in step), looked up by the keyed
//! hash of their token, and revoked.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use textid_core::SessionId;

use super::rows::{id, ms, time};
use super::SqliteStore;
use crate::{SessionRecord, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for SqliteStore {
    async fn session_by_token_hash(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        let hash = hash.to_vec();
        self.read(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT id, tenant_id, user_id, amr, created_at, expires_at FROM sessions
                     WHERE token_hash = ?1 AND revoked_at IS NULL AND expires_at > ?2",
                )?
                .query_row(params![hash, ms(now)], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                    ))
                })
                .optional()?;
            row.map(|(sid, tid, uid, amr, created, expires)| {
                Ok(SessionRecord {
                    id: id(&sid)?,
                    tenant_id: id(&tid)?,
                    user_id: id(&uid)?,
                    amr: amr.split_whitespace().map(str::to_string).collect(),
                    created_at: time(created),
                    expires_at: time(expires),
                })
            })
            .transpose()
        })
        .await
    }

    async fn revoke_session(&self, sid: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(move |tx| {
            tx.execute(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![sid.to_string(), ms(now)],
            )?;
            Ok(())
        })
        .await
    }
}
