//! Sessions created by sign-ins (stored by the sign-in step), looked up by the keyed hash
//! of their token, and revoked (an idempotent update: safe to run again).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::{SessionId, TenantId, UserId};

use super::retry::Replay;
use super::rows::{execute, ms, query_opt, time};
use super::PostgresStore;
use crate::{SessionRecord, SessionStore, StoreResult};

#[async_trait]
impl SessionStore for PostgresStore {
    async fn session_by_token_hash(
        &self,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        self.read(&(hash, now), |c, (hash, now)| {
            Box::pin(async move {
                let Some(r) = query_opt(
                    c,
                    "SELECT id, tenant_id, user_id, amr, created_at, expires_at FROM sessions
                     WHERE token_hash = $1 AND revoked_at IS NULL AND expires_at > $2",
                    &[hash, &ms(*now)],
                )
                .await?
                else {
                    return Ok(None);
                };
                let amr: String = r.try_get(3)?;
                Ok(Some(SessionRecord {
                    id: SessionId(r.try_get(0)?),
                    tenant_id: TenantId(r.try_get(1)?),
                    user_id: UserId(r.try_get(2)?),
                    amr: amr.split_whitespace().map(str::to_string).collect(),
                    created_at: time(r.try_get(4)?),
                    expires_at: time(r.try_get(5)?),
                }))
            })
        })
        .await
    }

    async fn revoke_session(&self, sid: SessionId, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Safe, &(sid, now), |tx, (sid, now)| {
            Box::pin(async move {
                execute(
                    tx,
                    "UPDATE sessions SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL",
                    &[&sid.0, &ms(*now)],
                )
                .await?;
                Ok(())
            })
        })
        .await
    }
}
