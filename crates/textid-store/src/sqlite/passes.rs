//! Temporary Access Passes: one per user (a new pass replaces the old one, as in Graph),
//! stored only as a keyed hash.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension};
use textid_core::audit::{pass_json, AuditRecord};
use textid_core::session::PASS_CHANGE_REVOKES;
use textid_core::tap::{self, Redeemed};
use textid_core::{TenantId, UserId};

use super::rows::{id, ms, time};
use super::{audit, sessions, SqliteStore};
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

fn audit_form(t: &TapRecord) -> serde_json::Value {
    pass_json(t.id, t.start_at, t.lifetime_minutes, t.is_usable_once)
}

fn load(c: &Connection, tenant: TenantId, user: UserId) -> StoreResult<Option<TapRecord>> {
    let row = c
        .prepare_cached(
            "SELECT id, pass_hash, created_at, start_at, lifetime_minutes, is_usable_once, used_at
             FROM temporary_access_passes WHERE tenant_id = ?1 AND user_id = ?2",
        )?
        .query_row(params![tenant.to_string(), user.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Vec<u8>>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, u32>(4)?,
                r.get::<_, bool>(5)?,
                r.get::<_, Option<i64>>(6)?,
            ))
        })
        .optional()?;
    row.map(|(tid, hash, created, start, lifetime, once, used)| {
        Ok(TapRecord {
            id: id(&tid)?,
            tenant_id: tenant,
            user_id: user,
            pass_hash: hash,
            created_at: time(created),
            start_at: time(start),
            lifetime_minutes: lifetime,
            is_usable_once: once,
            used_at: used.map(time),
        })
    })
    .transpose()
}

#[async_trait]
impl PassStore for SqliteStore {
    async fn put_tap(&self, tap: &TapRecord, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        let (t, actor) = (tap.clone(), actor.clone());
        self.write(move |tx| {
            let before = load(tx, t.tenant_id, t.user_id)?;
            tx.execute(
                "DELETE FROM temporary_access_passes WHERE user_id = ?1",
                [t.user_id.to_string()],
            )?;
            tx.execute(
                "INSERT INTO temporary_access_passes (id, tenant_id, user_id, pass_hash, created_at, start_at, lifetime_minutes, is_usable_once)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                params![
                    t.id.to_string(), t.tenant_id.to_string(), t.user_id.to_string(), t.pass_hash, ms(t.created_at),
                    ms(t.start_at), t.lifetime_minutes, t.is_usable_once
                ],
            )?;
            if PASS_CHANGE_REVOKES {
                sessions::revoke_user(tx, t.tenant_id, t.user_id, now)?;
            }
            let record = AuditRecord::pass(
                t.tenant_id,
                t.user_id,
                before.as_ref().map(audit_form),
                Some(audit_form(&t)),
                &actor,
                now,
            );
            audit::insert(tx, &record)
        })
        .await
    }

    async fn tap(&self, tenant: TenantId, user: UserId) -> StoreResult<Option<TapRecord>> {
        self.lookup(move |c| load(c, tenant, user)).await
    }

    async fn redeem_tap(
        &self,
        tenant: TenantId,
        user: UserId,
        pass_hash: &[u8],
        now: DateTime<Utc>,
    ) -> StoreResult<Option<(TapRecord, Redeemed)>> {
        let presented = pass_hash.to_vec();
        self.write(move |tx| {
            let Some(t) = load(tx, tenant, user)? else {
                return Ok(None);
            };
            let Some(redeemed) = tap::redeem(facts(&t), &presented, now) else {
                return Ok(None);
            };
            if redeemed.consume {
                // The single writer already orders redemptions; the condition keeps the
                // rule in the statement as on PostgreSQL.
                let n = tx.execute(
                    "UPDATE temporary_access_passes SET used_at = ?2 WHERE id = ?1 AND used_at IS NULL",
                    params![t.id.to_string(), ms(now)],
                )?;
                if n != 1 {
                    return Ok(None);
                }
            }
            Ok(Some((t, redeemed)))
        })
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
        let actor = actor.clone();
        self.write(move |tx| {
            let Some(before) = load(tx, tenant, user)?.filter(|t| t.id == tap_id) else {
                return Ok(false);
            };
            tx.execute(
                "DELETE FROM temporary_access_passes WHERE id = ?1",
                [tap_id.to_string()],
            )?;
            if PASS_CHANGE_REVOKES {
                sessions::revoke_user(tx, tenant, user, now)?;
            }
            let record =
                AuditRecord::pass(tenant, user, Some(audit_form(&before)), None, &actor, now);
            audit::insert(tx, &record)?;
            Ok(true)
        })
        .await
    }
}
