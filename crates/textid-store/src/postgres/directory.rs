//! Users and groups (the group statements are in `groups`). A change reads its "before"
//! with the row locked (`FOR NO KEY UPDATE`, or `FOR UPDATE` to delete it), so the audit record shows what the change replaced
//! even when two nodes change one user. A write that adds a row pointing at a user or
//! group (a membership, a method, a role, a pass) first reads that user or group
//! `FOR KEY SHARE`: a concurrent delete then waits for it or has already happened
//! (`NotFound`), instead of failing on the foreign key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::directory::import::ImportedUser;
use textid_core::directory::{Group, Upn, User};
use textid_core::session::{user_update_revokes, USER_DELETE_REVOKES};
use textid_core::{GroupId, TenantId, UserId};
use tokio_postgres::Row;

use super::groups::{self, load_group};
use super::listing;
use super::retry::{Replay, Tx};
use super::rows::{execute, json, limit, ms, query, query_opt, to_json};
use super::{audit, sessions, PostgresStore};
use crate::{Actor, Cond, DirectoryStore, Listing, StoreError, StoreResult};

/// A user query: the columns `to_user` reads, then the rest of the statement.
macro_rules! select_users {
    ($rest:literal) => {
        concat!(
            "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.account_enabled, u.mobile_phone, ",
            "u.business_phones, u.on_premises_sync, u.profile FROM users u ",
            $rest
        )
    };
}

const USER_BY_ID: &str = select_users!("WHERE u.tenant_id = $1 AND u.id = $2");

/// How a write transaction holds the row it read.
#[derive(Debug, Clone, Copy)]
pub(super) enum RowLock {
    /// Against deletion (and key changes): the row stays while rows pointing at it are added.
    KeyShare,
    /// Against other changes, not against adding rows that point at it: the row's
    /// non-key columns are about to change (what PostgreSQL's `UPDATE` itself takes).
    NoKeyUpdate,
    /// Against everything: the row is about to be deleted.
    Update,
}

pub(super) fn to_user(r: &Row) -> StoreResult<User> {
    let upn: String = r.try_get(2)?;
    Ok(User {
        id: UserId(r.try_get(0)?),
        tenant_id: TenantId(r.try_get(1)?),
        upn: Upn::stored(upn),
        display_name: r.try_get(3)?,
        account_enabled: r.try_get(4)?,
        mobile_phone: r.try_get(5)?,
        business_phones: json(r.try_get(6)?)?,
        on_premises_sync_enabled: r.try_get(7)?,
        profile: json(r.try_get(8)?)?,
    })
}

fn to_users(rows: &[Row]) -> StoreResult<Vec<User>> {
    rows.iter().map(to_user).collect()
}

/// A user of the tenant.
pub(super) async fn load_user<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    uid: UserId,
) -> StoreResult<Option<User>> {
    query_opt(c, USER_BY_ID, &[&tenant.0, &uid.0])
        .await?
        .as_ref()
        .map(to_user)
        .transpose()
}

/// A user of the tenant, held as `lock` says until the transaction ends; `NotFound` if
/// there is none.
pub(super) async fn lock_user(
    tx: &Tx<'_>,
    tenant: TenantId,
    uid: UserId,
    lock: RowLock,
) -> StoreResult<User> {
    let sql = match lock {
        RowLock::KeyShare => select_users!("WHERE u.tenant_id = $1 AND u.id = $2 FOR KEY SHARE"),
        RowLock::NoKeyUpdate => {
            select_users!("WHERE u.tenant_id = $1 AND u.id = $2 FOR NO KEY UPDATE")
        }
        RowLock::Update => select_users!("WHERE u.tenant_id = $1 AND u.id = $2 FOR UPDATE"),
    };
    query_opt(tx, sql, &[&tenant.0, &uid.0])
        .await?
        .as_ref()
        .map(to_user)
        .transpose()?
        .ok_or(StoreError::NotFound("user"))
}

/// Inserts a user, with its audit record.
pub(super) async fn create_user(
    tx: &Tx<'_>,
    u: &User,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    execute(
        tx,
        "INSERT INTO users (id, tenant_id, upn, display_name, account_enabled, mobile_phone, business_phones, on_premises_sync, created_at, profile)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)",
        &[
            &u.id.0, &u.tenant_id.0, &u.upn.as_str(), &u.display_name, &u.account_enabled,
            &u.mobile_phone, &to_json(&u.business_phones), &u.on_premises_sync_enabled, &ms(now),
            &to_json(&u.profile),
        ],
    )
    .await?;
    audit::insert(tx, &AuditRecord::user_added(u, actor, now)).await
}

async fn update_user(tx: &Tx<'_>, u: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
    let before = lock_user(tx, u.tenant_id, u.id, RowLock::NoKeyUpdate).await?;
    execute(
        tx,
        "UPDATE users SET upn = $3, display_name = $4, account_enabled = $5, mobile_phone = $6, business_phones = $7, on_premises_sync = $8, profile = $9
         WHERE tenant_id = $1 AND id = $2",
        &[
            &u.tenant_id.0, &u.id.0, &u.upn.as_str(), &u.display_name, &u.account_enabled,
            &u.mobile_phone, &to_json(&u.business_phones), &u.on_premises_sync_enabled,
            &to_json(&u.profile),
        ],
    )
    .await?;
    if user_update_revokes(&before, u) {
        sessions::revoke_user(tx, u.tenant_id, u.id, now).await?;
    }
    audit::insert(tx, &AuditRecord::user_updated(&before, u, actor, now)).await
}

async fn delete_user(
    tx: &Tx<'_>,
    tenant: TenantId,
    uid: UserId,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    let before = lock_user(tx, tenant, uid, RowLock::Update).await?;
    if USER_DELETE_REVOKES {
        // The sessions go with the user (ON DELETE CASCADE); the token families stay
        // revoked.
        sessions::revoke_user(tx, tenant, uid, now).await?;
    }
    super::deleted::archive_user(tx, tenant, uid, now).await?;
    execute(
        tx,
        "DELETE FROM users WHERE tenant_id = $1 AND id = $2",
        &[&tenant.0, &uid.0],
    )
    .await?;
    audit::insert(tx, &AuditRecord::user_deleted(&before, actor, now)).await
}

#[async_trait]
impl DirectoryStore for PostgresStore {
    async fn create_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(user, actor, now), |tx, (u, a, now)| {
            Box::pin(create_user(tx, u, a, *now))
        })
        .await
    }

    async fn import_users(
        &self,
        tenant: TenantId,
        rows: Vec<ImportedUser>,
        sms_sign_in: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<usize> {
        let imported = self
            .write(
                Replay::Unsafe,
                &(tenant, rows, sms_sign_in, actor, now),
                |tx, (t, rows, sms, a, now)| {
                    Box::pin(super::import::import(tx, *t, rows, *sms, a, *now))
                },
            )
            .await?;
        // The planner's statistics of tables that just grew by many rows stay stale until
        // autovacuum analyzes them (a minute or more); meanwhile it plans the Graph
        // listings' keyset pages as if the tenant had a handful of users (a bitmap scan of
        // the whole tenant per page: 40 ms instead of 0.5 ms at 100,000 users). Refresh
        // them now; the import is committed whatever this answers.
        if let Err(e) = self
            .read(&(), |c, _| {
                Box::pin(async move {
                    c.batch_execute("ANALYZE users, phone_methods, directory_audits")
                        .await
                        .map_err(Into::into)
                })
            })
            .await
        {
            tracing::warn!(error = %e, "ANALYZE after an import failed; autovacuum will do it");
        }
        Ok(imported)
    }

    async fn user(&self, tenant: TenantId, uid: UserId) -> StoreResult<Option<User>> {
        self.read(&(tenant, uid), |c, (t, u)| Box::pin(load_user(c, *t, *u)))
            .await
    }

    async fn user_by_upn(&self, tenant: TenantId, upn: &Upn) -> StoreResult<Option<User>> {
        self.read(&(tenant, upn.as_str()), |c, (t, upn)| {
            Box::pin(async move {
                query_opt(
                    c,
                    select_users!("WHERE u.tenant_id = $1 AND u.upn = $2"),
                    &[&t.0, upn],
                )
                .await?
                .as_ref()
                .map(to_user)
                .transpose()
            })
        })
        .await
    }

    async fn list_users(
        &self,
        tenant: TenantId,
        after: Option<&Upn>,
        max: u32,
    ) -> StoreResult<Vec<User>> {
        let after = after.map_or("", |u| u.as_str());
        self.read(&(tenant, after, max), |c, (t, after, max)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    select_users!("WHERE u.tenant_id = $1 AND u.upn > $2 ORDER BY u.upn LIMIT $3"),
                    &[&t.0, after, &limit(*max)],
                )
                .await?;
                to_users(&rows)
            })
        })
        .await
    }

    async fn query_users(&self, tenant: TenantId, listing: &Listing) -> StoreResult<Vec<User>> {
        self.read(&(tenant, listing), |c, (t, l)| {
            Box::pin(async move {
                let rows = listing::query(c, select_users!(""), "u", *t, l).await?;
                to_users(&rows)
            })
        })
        .await
    }

    async fn count_users(&self, tenant: TenantId, cond: Option<&Cond>) -> StoreResult<u64> {
        self.read(&(tenant, cond), |c, (t, cond)| {
            Box::pin(listing::count(c, "users", "u", *t, *cond))
        })
        .await
    }

    async fn update_user(&self, user: &User, actor: &Actor, now: DateTime<Utc>) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(user, actor, now), |tx, (u, a, now)| {
            Box::pin(update_user(tx, u, a, *now))
        })
        .await
    }

    async fn delete_user(
        &self,
        tenant: TenantId,
        uid: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, uid, actor, now),
            |tx, (t, u, a, now)| Box::pin(delete_user(tx, *t, *u, a, *now)),
        )
        .await
    }

    async fn create_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(group, actor, now), |tx, (g, a, now)| {
            Box::pin(groups::create_group(tx, g, a, *now))
        })
        .await
    }

    async fn update_group(
        &self,
        group: &Group,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(Replay::Unsafe, &(group, actor, now), |tx, (g, a, now)| {
            Box::pin(groups::update_group(tx, g, a, *now))
        })
        .await
    }

    async fn group(&self, tenant: TenantId, gid: GroupId) -> StoreResult<Option<Group>> {
        self.read(&(tenant, gid), |c, (t, g)| {
            Box::pin(load_group(c, *t, *g, None))
        })
        .await
    }

    async fn list_groups(&self, tenant: TenantId) -> StoreResult<Vec<Group>> {
        self.read(&tenant, |c, t| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT id, tenant_id, display_name, profile FROM groups WHERE tenant_id = $1
                     ORDER BY display_name COLLATE \"C\", id",
                    &[&t.0],
                )
                .await?;
                rows.iter().map(groups::to_group).collect()
            })
        })
        .await
    }

    async fn query_groups(&self, tenant: TenantId, listing: &Listing) -> StoreResult<Vec<Group>> {
        self.read(&(tenant, listing), |c, (t, l)| {
            Box::pin(async move {
                let select = "SELECT g.id, g.tenant_id, g.display_name, g.profile FROM groups g";
                let rows = listing::query(c, select, "g", *t, l).await?;
                rows.iter().map(groups::to_group).collect()
            })
        })
        .await
    }

    async fn count_groups(&self, tenant: TenantId, cond: Option<&Cond>) -> StoreResult<u64> {
        self.read(&(tenant, cond), |c, (t, cond)| {
            Box::pin(listing::count(c, "groups", "g", *t, *cond))
        })
        .await
    }

    async fn delete_group(
        &self,
        tenant: TenantId,
        gid: GroupId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, gid, actor, now),
            |tx, (t, g, a, now)| Box::pin(groups::delete_group(tx, *t, *g, a, *now)),
        )
        .await
    }

    async fn add_member(
        &self,
        tenant: TenantId,
        gid: GroupId,
        uid: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &((tenant, gid, uid), actor, now),
            |tx, (k, a, now)| Box::pin(groups::membership(tx, *k, true, a, *now)),
        )
        .await
    }

    async fn remove_member(
        &self,
        tenant: TenantId,
        gid: GroupId,
        uid: UserId,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &((tenant, gid, uid), actor, now),
            |tx, (k, a, now)| Box::pin(groups::membership(tx, *k, false, a, *now)),
        )
        .await
    }

    async fn members(&self, tenant: TenantId, gid: GroupId) -> StoreResult<Vec<User>> {
        self.read(&(tenant, gid), |c, (t, g)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    select_users!(
                        "JOIN group_members m ON m.user_id = u.id
                         WHERE u.tenant_id = $1 AND m.group_id = $2 ORDER BY u.upn"
                    ),
                    &[&t.0, &g.0],
                )
                .await?;
                to_users(&rows)
            })
        })
        .await
    }

    async fn manager(&self, tenant: TenantId, uid: UserId) -> StoreResult<Option<User>> {
        self.read(&(tenant, uid), |c, (t, u)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    select_users!(
                        "JOIN user_managers m ON m.manager_id = u.id
                         WHERE m.tenant_id = $1 AND m.user_id = $2"
                    ),
                    &[&t.0, &u.0],
                )
                .await?;
                Ok(to_users(&rows)?.into_iter().next())
            })
        })
        .await
    }

    async fn direct_reports(&self, tenant: TenantId, manager: UserId) -> StoreResult<Vec<User>> {
        self.read(&(tenant, manager), |c, (t, m)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    select_users!(
                        "JOIN user_managers m ON m.user_id = u.id
                         WHERE m.tenant_id = $1 AND m.manager_id = $2 ORDER BY u.upn"
                    ),
                    &[&t.0, &m.0],
                )
                .await?;
                to_users(&rows)
            })
        })
        .await
    }

    async fn set_manager(
        &self,
        tenant: TenantId,
        uid: UserId,
        manager: Option<UserId>,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(tenant, uid, manager, actor, now),
            |tx, (t, u, m, actor, now)| {
                Box::pin(async move {
                    lock_user(tx, *t, *u, RowLock::NoKeyUpdate).await?;
                    if let Some(m) = m {
                        lock_user(tx, *t, *m, RowLock::KeyShare)
                            .await
                            .map_err(|e| match e {
                                StoreError::NotFound(_) => StoreError::NotFound("manager"),
                                other => other,
                            })?;
                    }
                    let before = query_opt(
                        tx,
                        "SELECT manager_id FROM user_managers WHERE user_id = $1",
                        &[&u.0],
                    )
                    .await?
                    .map(|r| r.try_get::<_, uuid::Uuid>(0).map(UserId))
                    .transpose()?;
                    if before == *m {
                        return Ok(());
                    }
                    match m {
                        Some(m) => {
                            execute(
                                tx,
                                "INSERT INTO user_managers (user_id, tenant_id, manager_id) VALUES ($1, $2, $3)
                                 ON CONFLICT (user_id) DO UPDATE SET manager_id = excluded.manager_id",
                                &[&u.0, &t.0, &m.0],
                            )
                            .await?
                        }
                        None => {
                            execute(tx, "DELETE FROM user_managers WHERE user_id = $1", &[&u.0])
                                .await?
                        }
                    };
                    let record = AuditRecord::manager_changed(*t, *u, (before, *m), actor, *now);
                    audit::insert(tx, &record).await
                })
            },
        )
        .await
    }

    async fn groups_of(&self, tenant: TenantId, uid: UserId) -> StoreResult<Vec<GroupId>> {
        self.read(&(tenant, uid), |c, (t, u)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id
                     WHERE g.tenant_id = $1 AND m.user_id = $2 ORDER BY m.group_id",
                    &[&t.0, &u.0],
                )
                .await?;
                rows.iter().map(|r| Ok(GroupId(r.try_get(0)?))).collect()
            })
        })
        .await
    }
}
