//! Sessions created by sign-ins (stored by the sign-in step), of two kinds (API and
//! browser) that never stand in for each other: every look-up names its kind. Revoked one
//! at a time (sign-out) or all of a user's at once, with every code, refresh-token and
//! access-token family issued to the user, when what proved the user changed
//! (`textid_core::session`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension, Transaction};
use textid_core::audit::AuditRecord;
use textid_core::session::SessionKind;
use textid_core::{SessionId, TenantId, UserId};

use super::directory::load_user;
use super::rows::{id, ms, time};
use super::{audit, SqliteStore};
use crate::{Actor, SessionRecord, SessionStore, StoreError, StoreResult};

/// Ends every session of the user and revokes every family of codes, refresh tokens and
/// access tokens issued to them, in the caller's transaction. Run by every change that
/// `textid_core::session` says revokes, and by [`SessionStore::revoke_user_sessions`].
pub(super) fn revoke_user(
    tx: &Transaction<'_>,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    revoke_user_except(tx, tenant, user, None, now)
}

/// [`revoke_user`], sparing the session `keep` (the one the user made the change in).
pub(super) fn revoke_user_except(
    tx: &Transaction<'_>,
    tenant: TenantId,
    user: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let (t, u, at) = (tenant.to_string(), user.to_string(), ms(now));
    tx.prepare_cached(
        "UPDATE sessions SET revoked_at = ?3
         WHERE tenant_id = ?1 AND user_id = ?2 AND revoked_at IS NULL AND id IS NOT ?4",
    )?
    .execute(params![t, u, at, keep.map(|k| k.to_string())])?;
    tx.prepare_cached(
        "INSERT OR IGNORE INTO revoked_families (family_id, revoked_at)
         SELECT family_id, ?2 FROM refresh_tokens WHERE user_id = ?1
         UNION SELECT json_extract(grant_doc, '$.family_id'), ?2 FROM oauth_codes WHERE user_id = ?1
         UNION SELECT family_id, ?2 FROM issued_access_tokens WHERE user_id = ?1",
    )?
    .execute(params![u, at])?;
    tx.prepare_cached(
        "UPDATE refresh_tokens SET revoked_at = ?2 WHERE user_id = ?1 AND revoked_at IS NULL",
    )?
    .execute(params![u, at])?;
    tx.prepare_cached(
        "INSERT OR IGNORE INTO revoked_access_tokens (jti, family_id, expires_at)
         SELECT jti, family_id, expires_at FROM issued_access_tokens WHERE user_id = ?1",
    )?
    .execute(params![u])?;
    Ok(())
}

#[async_trait]
impl SessionStore for SqliteStore {
    async fn session_by_token_hash(
        &self,
        kind: SessionKind,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        let hash = hash.to_vec();
        self.lookup(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT id, tenant_id, user_id, amr, created_at, expires_at, client_id FROM sessions
                     WHERE token_hash = ?1 AND kind = ?3 AND revoked_at IS NULL AND expires_at > ?2",
                )?
                .query_row(params![hash, ms(now), kind.as_str()], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get::<_, String>(2)?,
                        r.get::<_, String>(3)?,
                        r.get::<_, i64>(4)?,
                        r.get::<_, i64>(5)?,
                        r.get::<_, Option<String>>(6)?,
                    ))
                })
                .optional()?;
            row.map(|(sid, tid, uid, amr, created, expires, client_id)| {
                Ok(SessionRecord {
                    id: id(&sid)?,
                    kind,
                    client_id,
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
            tx.prepare_cached(
                "UPDATE sessions SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
            )?
            .execute(params![sid.to_string(), ms(now)])?;
            tx.prepare_cached(
                "INSERT OR IGNORE INTO revoked_access_tokens (jti, family_id, expires_at)
                 SELECT jti, family_id, expires_at FROM issued_access_tokens WHERE session_id = ?1",
            )?
            .execute([sid.to_string()])?;
            Ok(())
        })
        .await
    }

    async fn revoke_user_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| {
            load_user(tx, tenant, user)?.ok_or(StoreError::NotFound("user"))?;
            revoke_user(tx, tenant, user, now)?;
            audit::insert(
                tx,
                &AuditRecord::sessions_revoked(tenant, user, &actor, now),
            )
        })
        .await
    }

    async fn revoke_other_sessions(
        &self,
        tenant: TenantId,
        user: UserId,
        keep: SessionId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| {
            load_user(tx, tenant, user)?.ok_or(StoreError::NotFound("user"))?;
            revoke_user_except(tx, tenant, user, Some(keep), now)?;
            audit::insert(
                tx,
                &AuditRecord::sessions_revoked(tenant, user, &actor, now),
            )
        })
        .await
    }
}
