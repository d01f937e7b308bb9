//! Tenants, users, groups, the policy document and the directory audit log.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Row, Transaction};
use serde_json::{json, Value};
use textid_core::directory::{Group, Upn, User};
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::tenant::Tenant;
use textid_core::{GroupId, TenantId, UserId};

use super::rows::{id, json, ms, to_json};
use crate::{Actor, AuditEntry, StoreError, StoreResult};

/// One audit record in the same transaction as the change it describes.
pub(super) struct Audit<'a> {
    pub tenant: TenantId,
    pub actor: &'a Actor,
    pub activity: &'a str,
    pub target_type: &'a str,
    pub target_id: String,
    pub before: Option<Value>,
    pub after: Option<Value>,
}

pub(super) fn audit(tx: &Transaction<'_>, a: Audit<'_>, now: DateTime<Utc>) -> StoreResult<()> {
    tx.prepare_cached(
        "INSERT INTO directory_audits (id, tenant_id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?
    .execute(params![
        uuid::Uuid::now_v7().to_string(),
        a.tenant.to_string(),
        ms(now),
        a.actor.kind,
        a.actor.id,
        a.activity,
        a.target_type,
        a.target_id,
        a.before.map(|v| v.to_string()),
        a.after.map(|v| v.to_string()),
    ])?;
    Ok(())
}

fn tenant_row(r: &Row<'_>) -> rusqlite::Result<(String, String, Option<String>)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_tenant((tid, name, region): (String, String, Option<String>)) -> StoreResult<Tenant> {
    Ok(Tenant {
        id: id(&tid)?,
        name,
        default_region: region,
    })
}

pub(super) fn tenant_by_name(c: &Connection, name: &str) -> StoreResult<Option<Tenant>> {
    c.prepare_cached("SELECT id, name, default_region FROM tenants WHERE name = ?1")?
        .query_row([name], tenant_row)
        .optional()?
        .map(to_tenant)
        .transpose()
}

pub(super) fn ensure_tenant(
    tx: &Transaction<'_>,
    name: &str,
    now: DateTime<Utc>,
) -> StoreResult<Tenant> {
    if let Some(t) = tenant_by_name(tx, name)? {
        return Ok(t);
    }
    let tenant = Tenant {
        id: TenantId(uuid::Uuid::new_v4()),
        name: name.to_string(),
        default_region: None,
    };
    tx.execute(
        "INSERT INTO tenants (id, name, default_region, policy, created_at) VALUES (?1, ?2, NULL, ?3, ?4)",
        params![tenant.id.to_string(), name, to_json(&AuthenticationMethodsPolicy::default()), ms(now)],
    )?;
    Ok(tenant)
}

pub(super) fn set_tenant_region(
    tx: &Transaction<'_>,
    tenant: TenantId,
    region: Option<&str>,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before: Option<String> = tx
        .query_row(
            "SELECT default_region FROM tenants WHERE id = ?1",
            [tenant.to_string()],
            |r| r.get(0),
        )
        .optional()?
        .ok_or(StoreError::NotFound("tenant"))?;
    tx.execute(
        "UPDATE tenants SET default_region = ?2 WHERE id = ?1",
        params![tenant.to_string(), region],
    )?;
    let a = Audit {
        tenant,
        actor,
        activity: "Update tenant default region",
        target_type: "tenant",
        target_id: tenant.to_string(),
        before: Some(json!({"defaultRegion": before})),
        after: Some(json!({"defaultRegion": region})),
    };
    audit(tx, a, now)
}

const USER_COLUMNS: &str =
    "id, tenant_id, upn, display_name, account_enabled, mobile_phone, business_phones, on_premises_sync";

fn user_row(r: &Row<'_>) -> rusqlite::Result<[Option<String>; 8]> {
    Ok([
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        Some(r.get::<_, i64>(4)?.to_string()),
        r.get(5)?,
        r.get(6)?,
        Some(r.get::<_, i64>(7)?.to_string()),
    ])
}

fn to_user(cols: [Option<String>; 8]) -> StoreResult<User> {
    let [uid, tid, upn, name, enabled, mobile, business, sync] = cols;
    let s = |v: Option<String>| v.unwrap_or_default();
    Ok(User {
        id: id(&s(uid))?,
        tenant_id: id(&s(tid))?,
        upn: Upn::parse(&s(upn)).map_err(|e| StoreError::Corrupt(e.to_string()))?,
        display_name: s(name),
        account_enabled: enabled.as_deref() == Some("1"),
        mobile_phone: mobile,
        business_phones: json(&business.unwrap_or_else(|| "[]".into()))?,
        on_premises_sync_enabled: sync.as_deref() == Some("1"),
    })
}

/// The audit form of a user.
pub(super) fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
        "accountEnabled": u.account_enabled, "mobilePhone": u.mobile_phone,
        "businessPhones": u.business_phones,
    })
}

pub(super) fn create_user(
    tx: &Transaction<'_>,
    u: &User,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO users (id, tenant_id, upn, display_name, account_enabled, mobile_phone, business_phones, on_premises_sync, created_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        params![
            u.id.to_string(), u.tenant_id.to_string(), u.upn.as_str(), u.display_name,
            u.account_enabled, u.mobile_phone, to_json(&u.business_phones), u.on_premises_sync_enabled, ms(now)
        ],
    )?;
    let a = Audit {
        tenant: u.tenant_id,
        actor,
        activity: "Add user",
        target_type: "user",
        target_id: u.id.to_string(),
        before: None,
        after: Some(user_json(u)),
    };
    audit(tx, a, now)
}

pub(super) fn user(c: &Connection, tenant: TenantId, uid: UserId) -> StoreResult<Option<User>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ?1 AND id = ?2"
    ))?
    .query_row(params![tenant.to_string(), uid.to_string()], user_row)
    .optional()?
    .map(to_user)
    .transpose()
}

pub(super) fn user_by_upn(
    c: &Connection,
    tenant: TenantId,
    upn: &Upn,
) -> StoreResult<Option<User>> {
    c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ?1 AND upn = ?2"
    ))?
    .query_row(params![tenant.to_string(), upn.as_str()], user_row)
    .optional()?
    .map(to_user)
    .transpose()
}

pub(super) fn list_users(
    c: &Connection,
    tenant: TenantId,
    after: Option<&Upn>,
    limit: u32,
) -> StoreResult<Vec<User>> {
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {USER_COLUMNS} FROM users WHERE tenant_id = ?1 AND upn > ?2 ORDER BY upn LIMIT ?3"
    ))?;
    let rows = stmt.query_map(
        params![
            tenant.to_string(),
            after.map(Upn::as_str).unwrap_or(""),
            limit
        ],
        user_row,
    )?;
    rows.map(|r| to_user(r?)).collect()
}

pub(super) fn update_user(
    tx: &Transaction<'_>,
    u: &User,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = user(tx, u.tenant_id, u.id)?.ok_or(StoreError::NotFound("user"))?;
    tx.execute(
        "UPDATE users SET upn = ?3, display_name = ?4, account_enabled = ?5, mobile_phone = ?6, business_phones = ?7, on_premises_sync = ?8
         WHERE tenant_id = ?1 AND id = ?2",
        params![
            u.tenant_id.to_string(), u.id.to_string(), u.upn.as_str(), u.display_name, u.account_enabled,
            u.mobile_phone, to_json(&u.business_phones), u.on_premises_sync_enabled
        ],
    )?;
    let a = Audit {
        tenant: u.tenant_id,
        actor,
        activity: "Update user",
        target_type: "user",
        target_id: u.id.to_string(),
        before: Some(user_json(&before)),
        after: Some(user_json(u)),
    };
    audit(tx, a, now)
}

pub(super) fn delete_user(
    tx: &Transaction<'_>,
    tenant: TenantId,
    uid: UserId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = user(tx, tenant, uid)?.ok_or(StoreError::NotFound("user"))?;
    tx.execute(
        "DELETE FROM users WHERE tenant_id = ?1 AND id = ?2",
        params![tenant.to_string(), uid.to_string()],
    )?;
    let a = Audit {
        tenant,
        actor,
        activity: "Delete user",
        target_type: "user",
        target_id: uid.to_string(),
        before: Some(user_json(&before)),
        after: None,
    };
    audit(tx, a, now)
}

fn group_row(r: &Row<'_>) -> rusqlite::Result<(String, String, String)> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?))
}

fn to_group((gid, tid, name): (String, String, String)) -> StoreResult<Group> {
    Ok(Group {
        id: id(&gid)?,
        tenant_id: id(&tid)?,
        display_name: name,
    })
}

pub(super) fn create_group(
    tx: &Transaction<'_>,
    g: &Group,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    tx.execute(
        "INSERT INTO groups (id, tenant_id, display_name, created_at) VALUES (?1, ?2, ?3, ?4)",
        params![
            g.id.to_string(),
            g.tenant_id.to_string(),
            g.display_name,
            ms(now)
        ],
    )?;
    let a = Audit {
        tenant: g.tenant_id,
        actor,
        activity: "Add group",
        target_type: "group",
        target_id: g.id.to_string(),
        before: None,
        after: Some(json!({"id": g.id, "displayName": g.display_name})),
    };
    audit(tx, a, now)
}

pub(super) fn group(c: &Connection, tenant: TenantId, gid: GroupId) -> StoreResult<Option<Group>> {
    c.prepare_cached(
        "SELECT id, tenant_id, display_name FROM groups WHERE tenant_id = ?1 AND id = ?2",
    )?
    .query_row(params![tenant.to_string(), gid.to_string()], group_row)
    .optional()?
    .map(to_group)
    .transpose()
}

pub(super) fn list_groups(c: &Connection, tenant: TenantId) -> StoreResult<Vec<Group>> {
    let mut stmt = c.prepare_cached("SELECT id, tenant_id, display_name FROM groups WHERE tenant_id = ?1 ORDER BY display_name, id")?;
    let rows = stmt.query_map([tenant.to_string()], group_row)?;
    rows.map(|r| to_group(r?)).collect()
}

pub(super) fn delete_group(
    tx: &Transaction<'_>,
    tenant: TenantId,
    gid: GroupId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = group(tx, tenant, gid)?.ok_or(StoreError::NotFound("group"))?;
    tx.execute(
        "DELETE FROM groups WHERE tenant_id = ?1 AND id = ?2",
        params![tenant.to_string(), gid.to_string()],
    )?;
    let a = Audit {
        tenant,
        actor,
        activity: "Delete group",
        target_type: "group",
        target_id: gid.to_string(),
        before: Some(json!({"id": before.id, "displayName": before.display_name})),
        after: None,
    };
    audit(tx, a, now)
}

pub(super) fn set_member(
    tx: &Transaction<'_>,
    tenant: TenantId,
    gid: GroupId,
    uid: UserId,
    member: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    group(tx, tenant, gid)?.ok_or(StoreError::NotFound("group"))?;
    user(tx, tenant, uid)?.ok_or(StoreError::NotFound("user"))?;
    let activity = if member {
        tx.execute(
            "INSERT INTO group_members (group_id, user_id) VALUES (?1, ?2)",
            params![gid.to_string(), uid.to_string()],
        )?;
        "Add member to group"
    } else {
        let n = tx.execute(
            "DELETE FROM group_members WHERE group_id = ?1 AND user_id = ?2",
            params![gid.to_string(), uid.to_string()],
        )?;
        if n == 0 {
            return Err(StoreError::NotFound("group member"));
        }
        "Remove member from group"
    };
    let after = json!({"groupId": gid, "userId": uid});
    let (before, after) = if member {
        (None, Some(after))
    } else {
        (Some(after), None)
    };
    audit(
        tx,
        Audit {
            tenant,
            actor,
            activity,
            target_type: "group",
            target_id: gid.to_string(),
            before,
            after,
        },
        now,
    )
}

pub(super) fn members(c: &Connection, tenant: TenantId, gid: GroupId) -> StoreResult<Vec<User>> {
    let cols = USER_COLUMNS
        .split(", ")
        .map(|c| format!("u.{c}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut stmt = c.prepare_cached(&format!(
        "SELECT {cols} FROM users u JOIN group_members m ON m.user_id = u.id WHERE u.tenant_id = ?1 AND m.group_id = ?2 ORDER BY u.upn"
    ))?;
    let rows = stmt.query_map(params![tenant.to_string(), gid.to_string()], user_row)?;
    rows.map(|r| to_user(r?)).collect()
}

pub(super) fn groups_of(
    c: &Connection,
    tenant: TenantId,
    uid: UserId,
) -> StoreResult<Vec<GroupId>> {
    let mut stmt = c.prepare_cached(
        "SELECT m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant_id = ?1 AND m.user_id = ?2",
    )?;
    let rows = stmt.query_map(params![tenant.to_string(), uid.to_string()], |r| {
        r.get::<_, String>(0)
    })?;
    rows.map(|r| id(&r?)).collect()
}

pub(super) fn policy(c: &Connection, tenant: TenantId) -> StoreResult<AuthenticationMethodsPolicy> {
    let doc: String = c
        .prepare_cached("SELECT policy FROM tenants WHERE id = ?1")?
        .query_row([tenant.to_string()], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("tenant"))?;
    json(&doc)
}

pub(super) fn put_policy(
    tx: &Transaction<'_>,
    tenant: TenantId,
    p: &AuthenticationMethodsPolicy,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = policy(tx, tenant)?;
    tx.execute(
        "UPDATE tenants SET policy = ?2 WHERE id = ?1",
        params![tenant.to_string(), to_json(p)],
    )?;
    let a = Audit {
        tenant,
        actor,
        activity: "Update authentication methods policy",
        target_type: "policy",
        target_id: "authenticationMethodsPolicy".into(),
        before: serde_json::to_value(before).ok(),
        after: serde_json::to_value(p).ok(),
    };
    audit(tx, a, now)
}

pub(super) fn audits(c: &Connection, tenant: TenantId, limit: u32) -> StoreResult<Vec<AuditEntry>> {
    super::graph::audits_between(c, tenant, None, None, None, limit)
}
