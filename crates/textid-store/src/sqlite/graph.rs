//! Rows of the admin API: directory roles, Temporary Access Passes, filtered logs.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use serde_json::json;
use textid_core::tenant::Tenant;
use textid_core::{TenantId, UserId};

use super::directory::{audit, Audit};
use super::rows::{id, json, ms, opt_id, time};
use crate::{Actor, AuditEntry, SignInLogEntry, StoreError, StoreResult, TapRecord};

pub(super) fn user_roles(
    c: &Connection,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Vec<String>> {
    let mut stmt = c.prepare_cached("SELECT role FROM directory_role_assignments WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY role")?;
    let rows = stmt.query_map(params![tenant.to_string(), user.to_string()], |r| r.get(0))?;
    Ok(rows.collect::<Result<_, _>>()?)
}

pub(super) fn set_user_role(
    tx: &Transaction<'_>,
    tenant: TenantId,
    user: UserId,
    role: &str,
    assigned: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    super::directory::user(tx, tenant, user)?.ok_or(StoreError::NotFound("user"))?;
    let (activity, before, after) = if assigned {
        tx.execute(
            "INSERT OR IGNORE INTO directory_role_assignments (tenant_id, user_id, role) VALUES (?1, ?2, ?3)",
            params![tenant.to_string(), user.to_string(), role],
        )?;
        ("Add member to role", None, Some(json!({"role": role})))
    } else {
        tx.execute(
            "DELETE FROM directory_role_assignments WHERE tenant_id = ?1 AND user_id = ?2 AND role = ?3",
            params![tenant.to_string(), user.to_string(), role],
        )?;
        ("Remove member from role", Some(json!({"role": role})), None)
    };
    audit(
        tx,
        Audit {
            tenant,
            actor,
            activity,
            target_type: "user",
            target_id: user.to_string(),
            before,
            after,
        },
        now,
    )
}

fn tap_json(t: &TapRecord) -> serde_json::Value {
    json!({"id": t.id, "startDateTime": t.start_at, "lifetimeInMinutes": t.lifetime_minutes, "isUsableOnce": t.is_usable_once})
}

pub(super) fn put_tap(
    tx: &Transaction<'_>,
    t: &TapRecord,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = tap(tx, t.tenant_id, t.user_id)?;
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
    let a = Audit {
        tenant: t.tenant_id,
        actor,
        activity: "Add Temporary Access Pass",
        target_type: "user",
        target_id: t.user_id.to_string(),
        before: before.as_ref().map(tap_json),
        after: Some(tap_json(t)),
    };
    audit(tx, a, now)
}

pub(super) fn tap(
    c: &Connection,
    tenant: TenantId,
    user: UserId,
) -> StoreResult<Option<TapRecord>> {
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

pub(super) fn delete_tap(
    tx: &Transaction<'_>,
    tenant: TenantId,
    user: UserId,
    tap_id: uuid::Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<bool> {
    let Some(before) = tap(tx, tenant, user)?.filter(|t| t.id == tap_id) else {
        return Ok(false);
    };
    tx.execute(
        "DELETE FROM temporary_access_passes WHERE id = ?1",
        [tap_id.to_string()],
    )?;
    let a = Audit {
        tenant,
        actor,
        activity: "Delete Temporary Access Pass",
        target_type: "user",
        target_id: user.to_string(),
        before: Some(tap_json(&before)),
        after: None,
    };
    audit(tx, a, now)?;
    Ok(true)
}

pub(super) fn sign_in_logs_between(
    c: &Connection,
    tenant: TenantId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    user: Option<UserId>,
    limit: u32,
) -> StoreResult<Vec<SignInLogEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, created_at, method, event, phone, user_id, flow_id, result, failure_reason, client_ip, app_id
         FROM sign_in_logs WHERE tenant_id = ?1 AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at <= ?3)
           AND (?4 IS NULL OR user_id = ?4)
         ORDER BY created_at DESC, id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![
            tenant.to_string(),
            from.map(ms),
            to.map(ms),
            user.map(|u| u.to_string()),
            limit
        ],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<String>>(5)?,
                r.get::<_, Option<String>>(6)?,
                r.get::<_, String>(7)?,
                r.get::<_, Option<String>>(8)?,
                r.get::<_, Option<String>>(9)?,
                r.get::<_, Option<String>>(10)?,
            ))
        },
    )?;
    rows.map(|r| {
        let (lid, at, method, event, phone, uid, fid, result, reason, ip, app) = r?;
        Ok(SignInLogEntry {
            id: id(&lid)?,
            tenant_id: tenant,
            created_at: time(at),
            method,
            event,
            phone,
            user_id: opt_id(uid)?,
            flow_id: opt_id(fid)?,
            result,
            failure_reason: reason,
            client_ip: ip,
            app_id: app,
        })
    })
    .collect()
}

pub(super) fn audits_between(
    c: &Connection,
    tenant: TenantId,
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    target: Option<String>,
    limit: u32,
) -> StoreResult<Vec<AuditEntry>> {
    let mut stmt = c.prepare_cached(
        "SELECT id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after
         FROM directory_audits WHERE tenant_id = ?1 AND (?2 IS NULL OR created_at >= ?2) AND (?3 IS NULL OR created_at <= ?3)
           AND (?4 IS NULL OR target_id = ?4 OR actor_id = ?4)
         ORDER BY created_at DESC, id DESC LIMIT ?5",
    )?;
    let rows = stmt.query_map(
        params![tenant.to_string(), from.map(ms), to.map(ms), target, limit],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
                r.get::<_, Option<String>>(7)?,
                r.get::<_, Option<String>>(8)?,
            ))
        },
    )?;
    rows.map(|r| {
        let (aid, at, kind, actor_id, activity, target_type, target_id, before, after) = r?;
        Ok(AuditEntry {
            id: id(&aid)?,
            created_at: time(at),
            actor: Actor { kind, id: actor_id },
            activity,
            target_type,
            target_id,
            before: before.map(|b| json(&b)).transpose()?,
            after: after.map(|a| json(&a)).transpose()?,
        })
    })
    .collect()
}

pub(super) fn tenant_by_id(c: &Connection, tid: TenantId) -> StoreResult<Option<Tenant>> {
    let row = c
        .prepare_cached("SELECT id, name, default_region FROM tenants WHERE id = ?1")?
        .query_row([tid.to_string()], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
            ))
        })
        .optional()?;
    row.map(|(i, name, region)| {
        Ok(Tenant {
            id: id(&i)?,
            name,
            default_region: region,
        })
    })
    .transpose()
}
