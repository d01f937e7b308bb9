//! Deleted items (issue #17): the moves of `crate::deleted` on PostgreSQL. A restore or a
//! hard delete holds the deleted row (`FOR UPDATE`), so the two cannot both act on one
//! item. The moves need no number locks: a deleted user's methods leave or return in one
//! commit, and the holders a concurrent phone change reads (one statement over the live
//! and the deleted methods) see them on one side or the other.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::{GroupId, TenantId, UserId};
use tokio_postgres::Row;
use uuid::Uuid;

use super::directory::to_user;
use super::groups::to_group;
use super::retry::{Replay, Tx};
use super::rows::{execute, limit, ms, query, query_opt, time};
use super::{audit, listing, PostgresStore};
use crate::deleted::{self, statement, DELETED_USER_COLUMNS, FORGET_GROUP, FORGET_USER};
use crate::{
    Actor, Cond, DeletedItem, DeletedItemStore, DeletedKind, DeletedObject, Listing, StoreError,
    StoreResult,
};

/// Copies a user about to be deleted into the deleted tables.
pub(super) async fn archive_user(
    tx: &Tx<'_>,
    tenant: TenantId,
    uid: UserId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let [user, rest @ ..] = deleted::archive_user();
    execute(tx, &statement(&user, true), &[&tenant.0, &uid.0, &ms(now)]).await?;
    for sql in rest {
        execute(tx, &statement(&sql, true), &[&tenant.0, &uid.0]).await?;
    }
    Ok(())
}

/// Copies a group about to be deleted into the deleted tables.
pub(super) async fn archive_group(
    tx: &Tx<'_>,
    tenant: TenantId,
    gid: GroupId,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let [group, rest @ ..] = deleted::archive_group();
    execute(tx, &statement(&group, true), &[&tenant.0, &gid.0, &ms(now)]).await?;
    for sql in rest {
        execute(tx, &statement(&sql, true), &[&tenant.0, &gid.0]).await?;
    }
    Ok(())
}

fn user_sql(rest: &str) -> String {
    format!("SELECT {DELETED_USER_COLUMNS} FROM deleted_users u {rest}")
}

fn group_sql(rest: &str) -> String {
    format!("SELECT g.id, g.tenant_id, g.display_name, g.profile, g.deleted_at FROM deleted_groups g {rest}")
}

fn user_item(r: &Row) -> StoreResult<DeletedItem> {
    Ok(DeletedItem {
        object: DeletedObject::User(to_user(r)?),
        deleted_at: time(r.try_get(9)?),
    })
}

fn group_item(r: &Row) -> StoreResult<DeletedItem> {
    Ok(DeletedItem {
        object: DeletedObject::Group(to_group(r)?),
        deleted_at: time(r.try_get(4)?),
    })
}

async fn load<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    id: Uuid,
    lock: &str,
) -> StoreResult<Option<DeletedItem>> {
    let where_ = format!("WHERE tenant_id = $1 AND id = $2{lock}");
    if let Some(r) = query_opt(c, &user_sql(&where_), &[&tenant.0, &id]).await? {
        return user_item(&r).map(Some);
    }
    query_opt(c, &group_sql(&where_), &[&tenant.0, &id])
        .await?
        .as_ref()
        .map(group_item)
        .transpose()
}

async fn list<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    kind: DeletedKind,
    after: Option<Uuid>,
    n: u32,
) -> StoreResult<Vec<DeletedItem>> {
    let rest = "WHERE tenant_id = $1 AND id > $2 ORDER BY id LIMIT $3";
    let (sql, item): (String, fn(&Row) -> StoreResult<DeletedItem>) = match kind {
        DeletedKind::User => (user_sql(rest), user_item),
        DeletedKind::Group => (group_sql(rest), group_item),
    };
    let after = after.unwrap_or(Uuid::nil());
    query(c, &sql, &[&tenant.0, &after, &limit(n)])
        .await?
        .iter()
        .map(item)
        .collect()
}

async fn restore(
    tx: &Tx<'_>,
    tenant: TenantId,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<DeletedItem> {
    let item = load(tx, tenant, id, " FOR UPDATE")
        .await?
        .ok_or(StoreError::NotFound("deleted item"))?;
    let (statements, forget, record) = match &item.object {
        DeletedObject::User(u) => (
            deleted::restore_user().to_vec(),
            FORGET_USER,
            AuditRecord::user_restored(u, actor, now),
        ),
        DeletedObject::Group(g) => (
            deleted::restore_group().to_vec(),
            FORGET_GROUP,
            AuditRecord::group_restored(g, actor, now),
        ),
    };
    for sql in statements.iter().map(String::as_str).chain([forget]) {
        execute(tx, &statement(sql, true), &[&tenant.0, &id]).await?;
    }
    audit::insert(tx, &record).await?;
    Ok(item)
}

async fn hard_delete(
    tx: &Tx<'_>,
    tenant: TenantId,
    id: Uuid,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<DeletedItem> {
    let item = load(tx, tenant, id, " FOR UPDATE")
        .await?
        .ok_or(StoreError::NotFound("deleted item"))?;
    let (forget, record) = match &item.object {
        DeletedObject::User(u) => (FORGET_USER, AuditRecord::user_hard_deleted(u, actor, now)),
        DeletedObject::Group(g) => (FORGET_GROUP, AuditRecord::group_hard_deleted(g, actor, now)),
    };
    execute(tx, &statement(forget, true), &[&tenant.0, &id]).await?;
    audit::insert(tx, &record).await?;
    Ok(item)
}

#[async_trait]
impl DeletedItemStore for PostgresStore {
    async fn deleted_items(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        after: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<DeletedItem>> {
        self.read(&(tenant, kind, after, limit), |c, (t, k, a, l)| {
            Box::pin(list(c, *t, *k, *a, *l))
        })
        .await
    }

    async fn query_deleted(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        listing: &Listing,
    ) -> StoreResult<Vec<DeletedItem>> {
        self.read(&(tenant, kind, listing), |c, (t, k, l)| {
            Box::pin(async move {
                let (rows, item): (_, fn(&Row) -> StoreResult<DeletedItem>) = match k {
                    DeletedKind::User => (
                        listing::query(c, &user_sql(""), "u", *t, l).await?,
                        user_item,
                    ),
                    DeletedKind::Group => (
                        listing::query(c, &group_sql(""), "g", *t, l).await?,
                        group_item,
                    ),
                };
                rows.iter().map(item).collect()
            })
        })
        .await
    }

    async fn count_deleted(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        cond: Option<&Cond>,
    ) -> StoreResult<u64> {
        self.read(&(tenant, kind, cond), |c, (t, k, cond)| {
            Box::pin(async move {
                match k {
                    DeletedKind::User => listing::count(c, "deleted_users", "u", *t, *cond).await,
                    DeletedKind::Group => listing::count(c, "deleted_groups", "g", *t, *cond).await,
                }
            })
        })
        .await
    }

    async fn deleted_item(&self, tenant: TenantId, id: Uuid) -> StoreResult<Option<DeletedItem>> {
        self.read(&(tenant, id), |c, (t, i)| Box::pin(load(c, *t, *i, "")))
            .await
    }

    async fn restore_deleted(
        &self,
        tenant: TenantId,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<DeletedItem> {
        self.write(
            Replay::Unsafe,
            &(tenant, id, actor, now),
            |tx, (t, i, a, n)| Box::pin(restore(tx, *t, *i, a, *n)),
        )
        .await
    }

    async fn purge_deleted(
        &self,
        tenant: TenantId,
        id: Uuid,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<DeletedItem> {
        self.write(
            Replay::Unsafe,
            &(tenant, id, actor, now),
            |tx, (t, i, a, n)| Box::pin(hard_delete(tx, *t, *i, a, *n)),
        )
        .await
    }
}
