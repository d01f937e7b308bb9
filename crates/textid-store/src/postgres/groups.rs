//! Groups and memberships: the statements of `DirectoryStore` about groups (the trait is
//! implemented in `directory`). A group change reads its "before" `FOR UPDATE`; a
//! membership change holds both the group and the user `FOR KEY SHARE`, so a concurrent
//! delete of either waits for it or has already happened (`NotFound`), and a second add
//! of one member is `Conflict("group_members")`.

use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::directory::Group;
use textid_core::{GroupId, TenantId, UserId};
use tokio_postgres::Row;

use super::audit;
use super::directory::{lock_user, RowLock};
use super::retry::Tx;
use super::rows::{execute, json, ms, query_opt, to_json};
use crate::{Actor, StoreError, StoreResult};

/// A group by tenant and id, then a locking clause.
macro_rules! group_by_id {
    ($lock:literal) => {
        concat!(
            "SELECT id, tenant_id, display_name, profile FROM groups WHERE tenant_id = $1 AND id = $2",
            $lock
        )
    };
}

/// A group from its row.
pub(super) fn to_group(r: &Row) -> StoreResult<Group> {
    Ok(Group {
        id: GroupId(r.try_get(0)?),
        tenant_id: TenantId(r.try_get(1)?),
        display_name: r.try_get(2)?,
        profile: json(r.try_get(3)?)?,
    })
}

/// A group of the tenant, held as `lock` says (if at all).
pub(super) async fn load_group<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    gid: GroupId,
    lock: Option<RowLock>,
) -> StoreResult<Option<Group>> {
    let sql = match lock {
        None => group_by_id!(""),
        Some(RowLock::KeyShare) => group_by_id!(" FOR KEY SHARE"),
        Some(RowLock::NoKeyUpdate) => group_by_id!(" FOR NO KEY UPDATE"),
        Some(RowLock::Update) => group_by_id!(" FOR UPDATE"),
    };
    query_opt(c, sql, &[&tenant.0, &gid.0])
        .await?
        .as_ref()
        .map(to_group)
        .transpose()
}

/// Inserts a group, with its audit record.
pub(super) async fn create_group(
    tx: &Tx<'_>,
    g: &Group,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO groups (id, tenant_id, display_name, created_at, profile) VALUES ($1, $2, $3, $4, $5)",
        &[&g.id.0, &g.tenant_id.0, &g.display_name, &ms(now), &to_json(&g.profile)],
    )
    .await?;
    audit::insert(tx, &AuditRecord::group_added(g, actor, now)).await
}

/// Changes a group's name and properties, with its audit record.
pub(super) async fn update_group(
    tx: &Tx<'_>,
    g: &Group,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = load_group(tx, g.tenant_id, g.id, Some(RowLock::NoKeyUpdate))
        .await?
        .ok_or(StoreError::NotFound("group"))?;
    execute(
        tx,
        "UPDATE groups SET display_name = $3, profile = $4 WHERE tenant_id = $1 AND id = $2",
        &[
            &g.tenant_id.0,
            &g.id.0,
            &g.display_name,
            &to_json(&g.profile),
        ],
    )
    .await?;
    audit::insert(tx, &AuditRecord::group_updated(&before, g, actor, now)).await
}

/// Deletes a group (memberships go with it), with its audit record.
pub(super) async fn delete_group(
    tx: &Tx<'_>,
    tenant: TenantId,
    gid: GroupId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = load_group(tx, tenant, gid, Some(RowLock::Update))
        .await?
        .ok_or(StoreError::NotFound("group"))?;
    super::deleted::archive_group(tx, tenant, gid, now).await?;
    execute(
        tx,
        "DELETE FROM groups WHERE tenant_id = $1 AND id = $2",
        &[&tenant.0, &gid.0],
    )
    .await?;
    audit::insert(tx, &AuditRecord::group_deleted(&before, actor, now)).await
}

/// Adds (`add`) or removes a membership, both ends held against deletion.
pub(super) async fn membership(
    tx: &Tx<'_>,
    (tenant, gid, uid): (TenantId, GroupId, UserId),
    add: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    load_group(tx, tenant, gid, Some(RowLock::KeyShare))
        .await?
        .ok_or(StoreError::NotFound("group"))?;
    lock_user(tx, tenant, uid, RowLock::KeyShare).await?;
    if add {
        execute(
            tx,
            "INSERT INTO group_members (group_id, user_id) VALUES ($1, $2)",
            &[&gid.0, &uid.0],
        )
        .await?;
    } else {
        let n = execute(
            tx,
            "DELETE FROM group_members WHERE group_id = $1 AND user_id = $2",
            &[&gid.0, &uid.0],
        )
        .await?;
        if n == 0 {
            return Err(StoreError::NotFound("group member"));
        }
    }
    let record = AuditRecord::membership(tenant, gid, uid, add, actor, now);
    audit::insert(tx, &record).await
}
