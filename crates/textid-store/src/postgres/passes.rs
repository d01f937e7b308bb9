//! Temporary Access Passes: one per user (a new pass replaces the old one, as in Graph),
//! stored only as a keyed hash. A pass is an authentication method of the user, so its
//! changes take the user's advisory lock (`locks::user`, like phone method changes) and
//! hold the user row against deletion: two concurrent replacements queue, and each audit
//! record's "before" is the pass it replaced.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::{pass_json, AuditRecord};
use textid_core::session::PASS_CHANGE_REVOKES;
use textid_core::tap::{self, Redeemed};
use textid_core::{TenantId, UserId};

use super::directory::{lock_user, RowLock};
use super::retry::{Replay, Tx};
use super::rows::{count, execute, int, ms, query_opt, time};
use super::{audit, locks, sessions, PostgresStore};
use crate::{Actor, PassStore, StoreResult, TapRecord};

fn facts(t: &TapRecord) -> tap::PassFacts<'_> {
    tap::PassFacts {
        hash: &t.pass_hash,
        start_at: t.start_at,
        lifetime_minutes: t.lifetime_minutes,
        is_usable_once: t.is_usable_once,
        used_at: t.used_at,
    }
}

/// A redemption: the pass row locked (`FOR UPDATE`), the decision of core, and for a
/// one-time pass an update that only succeeds while it is unused, so that of concurrent
/// redemptions exactly one wins.
async fn redeem(
    tx: &Tx<'_>,
    (tenant, user): (TenantId, UserId),
    presented: &[u8],
    now: DateTime<Utc>,
) -> StoreResult<Option<(TapRecord, Redeemed)>> {
    let Some(t) = load_with(tx, tenant, user, " FOR UPDATE").await? else {
        return Ok(None);
    };
    let Some(redeemed) = tap::redeem(facts(&t), presented, now) else {
        return Ok(None);
    };
    if redeemed.consume {
        let n = execute(
            tx,
            "UPDATE temporary_access_passes SET used_at = $2 WHERE id = $1 AND used_at IS NULL",
            &[&t.id, &ms(now)],
        )
        .await?;
        if n != 1 {
            return Ok(None);
        }
    }
    Ok(Some((t, redeemed)))
}

fn audit_form(t: &TapRecord) -> serde_json::Value {
    pass_json(t.id, t.start_at, t.lifetime_minutes, t.is_usable_once)
}

async fn load<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Option<TapRecord>> {
    load_with(c, tenant, user, "").await
}

async fn load_with<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    user: UserId,
    lock: &str,
) -> StoreResult<Option<TapRecord>> {
    let sql = format!(
        "SELECT id, pass_hash, created_at, start_at, lifetime_minutes, is_usable_once, used_at
         FROM temporary_access_passes WHERE tenant_id = $1 AND user_id = $2{lock}"
    );
    let Some(r) = query_opt(c, &sql, &[&tenant.0, &user.0]).await? else {
        return Ok(None);
    };
    Ok(Some(TapRecord {
        id: r.try_get(0)?,
        tenant_id: tenant,
        user_id: user,
        pass_hash: r.try_get(1)?,
        created_at: time(r.try_get(2)?),
        start_at: time(r.try_get(3)?),
        lifetime_minutes: count(r.try_get(4)?)?,
        is_usable_once: r.try_get(5)?,
        used_at: r.try_get::<_, Option<i64>>(6)?.map(time),
    }))
}

async fn put(tx: &Tx<'_>, t: &TapRecord, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
    locks::user(tx, t.tenant_id, t.user_id).await?;
    lock_user(tx, t.tenant_id, t.user_id, RowLock::KeyShare).await?;
    let before = load(tx, t.tenant_id, t.user_id).await?;
    execute(
        tx,
        "DELETE FROM temporary_access_passes WHERE user_id = $1",
        &[&t.user_id.0],
    )
    .await?;
    execute(
        tx,
        "INSERT INTO temporary_access_passes (id, tenant_id, user_id, pass_hash, created_at, start_at, lifetime_minutes, is_usable_once)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        &[
            &t.id, &t.tenant_id.0, &t.user_id.0, &t.pass_hash, &ms(t.created_at), &ms(t.start_at),
            &int(t.lifetime_minutes), &t.is_usable_once,
        ],
    )
    .await?;
    if PASS_CHANGE_REVOKES {
        sessions::revoke_user(tx, t.tenant_id, t.user_id, now).await?;
    }
    let record = AuditRecord::pass(
        t.tenant_id,
        t.user_id,
        before.as_ref().map(audit_form),
        Some(audit_form(t)),
        actor,
        now,
    );
    audit::insert(tx, &record).await
}

async fn delete(
    tx: &Tx<'_>,
    (tenant, user, tap_id): (TenantId, UserId, uuid::Uuid),
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    locks::user(tx, tenant, user).await?;
    let Some(before) = load(tx, tenant, user).await?.filter(|t| t.id == tap_id) else {
        return Ok(false);
    };
    execute(
        tx,
        "DELETE FROM temporary_access_passes WHERE id = $1",
        &[&tap_id],
    )
    .await?;
    if PASS_CHANGE_REVOKES {
        sessions::revoke_user(tx, tenant, user, now).await?;
    }
    let record = AuditRecord::pass(tenant, user, Some(audit_form(&before)), None, actor, now);
    audit::insert(tx, &record).await?;
    Ok(true)
}

#[async_trait]
impl PassStore for PostgresStore {
    async fn put_tap(&self, tap: &TapRecord, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(tap, actor, now), |tx, (t, a, now)| {
            Box::pin(put(tx, t, a, *now))
        })
        .await
    }

    async fn tap(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<TapRecord>> {
        self.read(&(tenant, user), |c, (t, u)| Box::pin(load(c, *t, *u)))
            .await
    }

    async fn redeem_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        pass_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(TapRecord, Redeemed)>> {
        self.write(
            Replay::Unsafe,
            &((tenant, user), pass_hash, now),
            |tx, (k, h, now)| Box::pin(redeem(tx, *k, h, *now)),
        )
        .await
    }

    async fn delete_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        tap_id: uuid::Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<bool> {
        self.write(
            Replay::Unsafe,
            &((tenant, user, tap_id), actor, now),
            |tx, (k, a, now)| Box::pin(delete(tx, *k, a, *now)),
        )
        .await
    }
}
