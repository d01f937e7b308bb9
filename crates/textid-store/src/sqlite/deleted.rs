//! Deleted items (issue #17): the moves of `crate::deleted` on SQLite.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::audit::AuditRecord;
use textid_core::{GroupId, TenantId, UserId};
use uuid::Uuid;

use super::directory::{group_row, to_group, to_user, user_row};
use super::rows::{ms, time};
use super::{audit, listing, SqliteStore};
use crate::deleted::{self, DELETED_USER_COLUMNS, FORGET_GROUP, FORGET_USER};
use crate::{
    Actor, Cond, DeletedItem, DeletedItemStore, DeletedKind, DeletedObject, Listing, StoreError,
    StoreResult,
};

/// Copies a user about to be deleted into the deleted tables.
pub(super) fn archive_user(
    tx: &Transaction<'_>,
    tenant: TenantId,
    uid: UserId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let [user, rest @ ..] = deleted::archive_user();
    tx.execute(&user, params![tenant.to_string(), uid.to_string(), ms(now)])?;
    for sql in rest {
        tx.execute(&sql, params![tenant.to_string(), uid.to_string()])?;
    }
    Ok(())
}

/// Copies a group about to be deleted into the deleted tables.
pub(super) fn archive_group(
    tx: &Transaction<'_>,
    tenant: TenantId,
    gid: GroupId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let [group, rest @ ..] = deleted::archive_group();
    tx.execute(
        &group,
        params![tenant.to_string(), gid.to_string(), ms(now)],
    )?;
    for sql in rest {
        tx.execute(&sql, params![tenant.to_string(), gid.to_string()])?;
    }
    Ok(())
}

fn user_sql(rest: &str) -> String {
    format!("SELECT {DELETED_USER_COLUMNS} FROM deleted_users u {rest}")
}

fn group_sql(rest: &str) -> String {
    format!("SELECT g.id, g.tenant_id, g.display_name, g.profile, g.deleted_at FROM deleted_groups g {rest}")
}

fn user_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<DeletedItem>> {
    let user = user_row(r)?;
    let at: i64 = r.get(9)?;
    Ok(to_user(user).map(|u| DeletedItem {
        object: DeletedObject::User(u),
        deleted_at: time(at),
    }))
}

fn group_item(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoreResult<DeletedItem>> {
    let group = group_row(r)?;
    let at: i64 = r.get(4)?;
    Ok(to_group(group).map(|g| DeletedItem {
        object: DeletedObject::Group(g),
        deleted_at: time(at),
    }))
}

fn load(c: &Connection, tenant: TenantId, id: Uuid) -> StoreResult<Option<DeletedItem>> {
    let p = params![tenant.to_string(), id.to_string()];
    let where_ = "WHERE tenant_id = ?1 AND id = ?2";
    if let Some(item) = c
        .prepare_cached(&user_sql(where_))?
        .query_row(p, user_item)
        .optional()?
    {
        return item.map(Some);
    }
    c.prepare_cached(&group_sql(where_))?
        .query_row(p, group_item)
        .optional()?
        .transpose()
}

fn list(
    c: &Connection,
    tenant: TenantId,
    kind: DeletedKind,
    after: Option<Uuid>,
    limit: u32,
) -> StoreResult<Vec<DeletedItem>> {
    let rest = "WHERE tenant_id = ?1 AND id > ?2 ORDER BY id LIMIT ?3";
    let (sql, row): (String, fn(&rusqlite::Row<'_>) -> _) = match kind {
        DeletedKind::User => (user_sql(rest), user_item),
        DeletedKind::Group => (group_sql(rest), group_item),
    };
    let after = after.map(|a| a.to_string()).unwrap_or_default();
    let mut stmt = c.prepare_cached(&sql)?;
    let rows = stmt.query_map(params![tenant.to_string(), after, limit], row)?;
    rows.map(|r| r?).collect()
}

fn restore(
    tx: &Transaction<'_>,
    tenant: TenantId,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<DeletedItem> {
    let item = load(tx, tenant, id)?.ok_or(StoreError::NotFound("deleted item"))?;
    let p = params![tenant.to_string(), id.to_string()];
    let record = match &item.object {
        DeletedObject::User(u) => {
            for sql in deleted::restore_user() {
                tx.execute(&sql, p)?;
            }
            tx.execute(FORGET_USER, p)?;
            AuditRecord::user_restored(u, actor, now)
        }
        DeletedObject::Group(g) => {
            for sql in deleted::restore_group() {
                tx.execute(&sql, p)?;
            }
            tx.execute(FORGET_GROUP, p)?;
            AuditRecord::group_restored(g, actor, now)
        }
    };
    audit::insert(tx, &record)?;
    Ok(item)
}

fn hard_delete(
    tx: &Transaction<'_>,
    tenant: TenantId,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<DeletedItem> {
    let item = load(tx, tenant, id)?.ok_or(StoreError::NotFound("deleted item"))?;
    let p = params![tenant.to_string(), id.to_string()];
    let record = match &item.object {
        DeletedObject::User(u) => {
            tx.execute(FORGET_USER, p)?;
            AuditRecord::user_hard_deleted(u, actor, now)
        }
        DeletedObject::Group(g) => {
            tx.execute(FORGET_GROUP, p)?;
            AuditRecord::group_hard_deleted(g, actor, now)
        }
    };
    audit::insert(tx, &record)?;
    Ok(item)
}

#[async_trait]
impl DeletedItemStore for SqliteStore {
    async fn deleted_items(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<DeletedItem>> {
        self.read(move |c| list(c, tenant, kind, after, limit))
            .await
    }

    async fn query_deleted(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        listing: &Listing,
    ) -> StoreResult<Vec<DeletedItem>> {
        let listing = listing.clone();
        self.read(move |c| match kind {
            DeletedKind::User => listing::query(c, &user_sql(""), "u", tenant, &listing, user_item),
            DeletedKind::Group => {
                listing::query(c, &group_sql(""), "g", tenant, &listing, group_item)
            }
        })
        .await
    }

    async fn count_deleted(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        cond: Option<&Cond>,
    ) -> StoreResult<u64> {
        let cond = cond.cloned();
        self.read(move |c| match kind {
            DeletedKind::User => listing::count(c, "deleted_users", "u", tenant, cond.as_ref()),
            DeletedKind::Group => listing::count(c, "deleted_groups", "g", tenant, cond.as_ref()),
        })
        .await
    }

    async fn deleted_item(&self, tenant: TenantId, id: Uuid) -> StoreResult<Option<DeletedItem>> {
        self.lookup(move |c| load(c, tenant, id)).await
    }

    async fn restore_deleted(
        &self,
        tenant: TenantId,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<DeletedItem> {
        let actor = actor.clone();
        self.write(move |tx| restore(tx, tenant, id, &actor, now))
            .await
    }

    async fn purge_deleted(
        &self,
        tenant: TenantId,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<DeletedItem> {
        let actor = actor.clone();
        self.write(move |tx| hard_delete(tx, tenant, id, &actor, now))
            .await
    }
}
