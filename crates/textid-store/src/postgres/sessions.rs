//! Sessions created by sign-ins (stored by the sign-in step), of two kinds (API and
//! browser) that never stand in for each other: every look-up names its kind. Revoked one
//! at a time (sign-out, an idempotent update: safe to run again) or all of a user's at
//! once, with every code, refresh-token and access-token family issued to the user, when
//! what proved the user changed (`textid_core::session`).
//!
//! Locks: a user-wide revocation takes the advisory lock of each family it revokes
//! (`locks::family`, in sorted order), as a single family's revocation does, so a token of
//! one of these families saved concurrently is either revoked with it or refused.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::audit::AuditRecord;
use textid_core::session::SessionKind;
use textid_core::{SessionId, TenantId, UserId};

use super::directory::{lock_user, RowLock};
use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query, query_opt, time};
use super::{audit, locks, tokens, PostgresStore};
use crate::{Actor, SessionRecord, SessionStore, StoreResult};

/// Ends every session of the user and revokes every family of codes, refresh tokens and
/// access tokens issued to them, in the caller's transaction. Run by every change that
/// `textid_core::session` says revokes, and by [`SessionStore::revoke_user_sessions`].
pub(super) async fn revoke_user(
    tx: &Tx<'_>,
    tenant: TenantId,
    user: UserId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    revoke_user_except(tx, tenant, user, None, now).await
}

/// [`revoke_user`], sparing the session `keep` (the one the user made the change in).
pub(super) async fn revoke_user_except(
    tx: &Tx<'_>,
    tenant: TenantId,
    user: UserId,
    keep: Option<SessionId>,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let keep = keep.map(|k| k.0);
    execute(
        tx,
        "UPDATE sessions SET revoked_at = $3
         WHERE tenant_id = $1 AND user_id = $2 AND revoked_at IS NULL AND id IS DISTINCT FROM $4",
        &[&tenant.0, &user.0, &ms(now), &keep],
    )
    .await?;
    let rows = query(
        tx,
        "SELECT family_id FROM refresh_tokens WHERE user_id = $1
         UNION SELECT grant_doc->>'family_id' FROM oauth_codes WHERE user_id = $1
         UNION SELECT family_id FROM issued_access_tokens WHERE user_id = $1",
        &[&user.0],
    )
    .await?;
    let mut families = rows
        .iter()
        .map(|r| r.try_get::<_, Option<String>>(0))
        .collect::<Result<Vec<_>, _>>()?
        .into_iter()
        .flatten()
        .collect::<Vec<_>>();
    // One order for every revoker, so two revocations of overlapping families cannot wait
    // on each other.
    families.sort();
    families.dedup();
    for family in &families {
        locks::family(tx, family).await?;
        tokens::revoke_family(tx, family, now).await?;
    }
    Ok(())
}

#[async_trait]
impl SessionStore for PostgresStore {
    async fn session_by_token_hash(
        &self,
        kind: SessionKind,
        hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<SessionRecord>> {
        self.read(&(kind, hash, now), |c, (kind, hash, now)| {
            Box::pin(async move {
                let Some(r) = query_opt(
                    c,
                    "SELECT id, tenant_id, user_id, amr, created_at, expires_at, client_id FROM sessions
                     WHERE token_hash = $1 AND kind = $3 AND revoked_at IS NULL AND expires_at > $2",
                    &[hash, &ms(*now), &kind.as_str()],
                )
                .await?
                else {
                    return Ok(None);
                };
                let amr: String = r.try_get(3)?;
                Ok(Some(SessionRecord {
                    id: SessionId(r.try_get(0)?),
                    kind: *kind,
                    client_id: r.try_get(6)?,
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
                execute(
                    tx,
                    "INSERT INTO revoked_access_tokens (jti, family_id, expires_at)
                     SELECT jti, family_id, expires_at FROM issued_access_tokens WHERE session_id = $1
                     ON CONFLICT DO NOTHING",
                    &[&sid.0],
                )
                .await?;
                Ok(())
            })
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
        self.write(
            Replay::Unsafe,
            &(tenant, user, actor, now),
            |tx, (tenant, user, actor, now)| {
                Box::pin(async move {
                    locks::user(tx, *tenant, *user).await?;
                    lock_user(tx, *tenant, *user, RowLock::KeyShare).await?;
                    revoke_user(tx, *tenant, *user, *now).await?;
                    audit::insert(
                        tx,
                        &AuditRecord::sessions_revoked(*tenant, *user, actor, *now),
                    )
                    .await
                })
            },
        )
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
        self.write(
            Replay::Unsafe,
            &(tenant, user, keep, actor, now),
            |tx, (tenant, user, keep, actor, now)| {
                Box::pin(async move {
                    locks::user(tx, *tenant, *user).await?;
                    lock_user(tx, *tenant, *user, RowLock::KeyShare).await?;
                    revoke_user_except(tx, *tenant, *user, Some(*keep), *now).await?;
                    audit::insert(
                        tx,
                        &AuditRecord::sessions_revoked(*tenant, *user, actor, *now),
                    )
                    .await
                })
            },
        )
        .await
    }
}
