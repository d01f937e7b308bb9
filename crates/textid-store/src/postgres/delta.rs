//! Delta queries (issue #17) on PostgreSQL: reads of the change sequence that migration
//! 0030's triggers stamp.

use async_trait::async_trait;
use textid_core::directory::{Group, User};
use textid_core::{GroupId, TenantId, UserId};
use uuid::Uuid;

use super::directory::to_user;
use super::groups::to_group;
use super::rows::{limit, query, query_opt};
use super::PostgresStore;
use crate::deleted::{removed, statement, MEMBER_CHANGES, VERSION};
use crate::{DeletedKind, DeltaStore, MemberChange, Removed, StoreResult};

const CHANGED_USERS: &str =
    "SELECT u.id, u.tenant_id, u.upn, u.display_name, u.account_enabled, u.mobile_phone, \
     u.business_phones, u.on_premises_sync, u.profile FROM users u \
     WHERE u.tenant_id = $1 AND u.change_seq > $2 AND u.id > $3 ORDER BY u.id LIMIT $4";

const CHANGED_GROUPS: &str = "SELECT id, tenant_id, display_name, profile FROM groups \
     WHERE tenant_id = $1 AND change_seq > $2 AND id > $3 ORDER BY id LIMIT $4";

#[async_trait]
impl DeltaStore for PostgresStore {
    async fn directory_version(&self, tenant: TenantId) -> StoreResult<i64> {
        self.read(&tenant, |c, t| {
            Box::pin(async move {
                let sql = statement(VERSION, true);
                match query_opt(c, &sql, &[&t.0]).await? {
                    Some(r) => Ok(r.try_get(0)?),
                    None => Ok(0),
                }
            })
        })
        .await
    }

    async fn changed_users(
        &self,
        tenant: TenantId,
        since: i64,
        after: Option<Uuid>,
        n: u32,
    ) -> StoreResult<Vec<User>> {
        let after = after.unwrap_or(Uuid::nil());
        self.read(&(tenant, since, after, n), |c, (t, s, a, n)| {
            Box::pin(async move {
                let rows = query(c, CHANGED_USERS, &[&t.0, s, a, &limit(*n)]).await?;
                rows.iter().map(to_user).collect()
            })
        })
        .await
    }

    async fn changed_groups(
        &self,
        tenant: TenantId,
        since: i64,
        after: Option<Uuid>,
        n: u32,
    ) -> StoreResult<Vec<Group>> {
        let after = after.unwrap_or(Uuid::nil());
        self.read(&(tenant, since, after, n), |c, (t, s, a, n)| {
            Box::pin(async move {
                let rows = query(c, CHANGED_GROUPS, &[&t.0, s, a, &limit(*n)]).await?;
                rows.iter().map(to_group).collect()
            })
        })
        .await
    }

    async fn removed_objects(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        since: i64,
        after: Option<Uuid>,
        n: u32,
    ) -> StoreResult<Vec<Removed>> {
        let after = after.unwrap_or(Uuid::nil());
        self.read(&(tenant, kind, since, after, n), |c, (t, k, s, a, n)| {
            Box::pin(async move {
                let sql = statement(&removed(*k), true);
                let rows = query(c, &sql, &[&t.0, s, a, &limit(*n)]).await?;
                rows.iter()
                    .map(|r| {
                        let purged: i32 = r.try_get(1)?;
                        Ok(Removed {
                            id: r.try_get(0)?,
                            purged: purged != 0,
                        })
                    })
                    .collect()
            })
        })
        .await
    }

    async fn member_changes(
        &self,
        tenant: TenantId,
        group: GroupId,
        since: i64,
    ) -> StoreResult<Vec<MemberChange>> {
        self.read(&(tenant, group, since), |c, (t, g, s)| {
            Box::pin(async move {
                let sql = statement(MEMBER_CHANGES, true);
                let rows = query(c, &sql, &[&t.0, &g.0, s]).await?;
                rows.iter()
                    .map(|r| {
                        Ok(MemberChange {
                            user: UserId(r.try_get(0)?),
                            added: r.try_get(1)?,
                        })
                    })
                    .collect()
            })
        })
        .await
    }
}
