//! Delta queries (issue #17) on SQLite: reads of the change sequence that migration 0030's
//! triggers stamp.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};
use textid_core::directory::{Group, User};
use textid_core::{GroupId, TenantId};
use uuid::Uuid;

use super::directory::{group_row, to_group, to_user, user_row, USER_COLUMNS};
use super::rows::id;
use super::SqliteStore;
use crate::deleted::{removed, MEMBER_CHANGES, VERSION};
use crate::{DeletedKind, DeltaStore, MemberChange, Removed, StoreResult};

fn after(a: Option<Uuid>) -> String {
    a.map(|a| a.to_string()).unwrap_or_default()
}

#[async_trait]
impl DeltaStore for SqliteStore {
    async fn directory_version(&self, tenant: TenantId) -> StoreResult<i64> {
        self.lookup(move |c| {
            Ok(c.prepare_cached(VERSION)?
                .query_row([tenant.to_string()], |r| r.get(0))
                .optional()?
                .unwrap_or(0))
        })
        .await
    }

    async fn changed_users(
        &self,
        tenant: TenantId,
        since: i64,
        a: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<User>> {
        self.read(move |c| {
            let sql = format!(
                "SELECT {USER_COLUMNS} FROM users u WHERE u.tenant_id = ?1 AND u.change_seq > ?2 AND u.id > ?3 ORDER BY u.id LIMIT ?4"
            );
            let mut stmt = c.prepare_cached(&sql)?;
            let rows = stmt.query_map(
                params![tenant.to_string(), since, after(a), limit],
                user_row,
            )?;
            rows.map(|r| to_user(r?)).collect()
        })
        .await
    }

    async fn changed_groups(
        &self,
        tenant: TenantId,
        since: i64,
        a: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Group>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT id, tenant_id, display_name, profile FROM groups WHERE tenant_id = ?1 AND change_seq > ?2 AND id > ?3 ORDER BY id LIMIT ?4",
            )?;
            let rows = stmt.query_map(
                params![tenant.to_string(), since, after(a), limit],
                group_row,
            )?;
            rows.map(|r| to_group(r?)).collect()
        })
        .await
    }

    async fn removed_objects(
        &self,
        tenant: TenantId,
        kind: DeletedKind,
        since: i64,
        a: Option<Uuid>,
        limit: u32,
    ) -> StoreResult<Vec<Removed>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(&removed(kind))?;
            let rows = stmt
                .query_map(params![tenant.to_string(), since, after(a), limit], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                })?;
            rows.map(|r| {
                let (i, purged) = r?;
                Ok(Removed {
                    id: id(&i)?,
                    purged,
                })
            })
            .collect()
        })
        .await
    }

    async fn member_changes(
        &self,
        tenant: TenantId,
        group: GroupId,
        since: i64,
    ) -> StoreResult<Vec<MemberChange>> {
        self.read(move |c| {
            let mut stmt = c.prepare_cached(MEMBER_CHANGES)?;
            let rows = stmt
                .query_map(params![tenant.to_string(), group.to_string(), since], |r| {
                    Ok((r.get::<_, String>(0)?, r.get::<_, bool>(1)?))
                })?;
            rows.map(|r| {
                let (u, added) = r?;
                Ok(MemberChange {
                    user: id(&u)?,
                    added,
                })
            })
            .collect()
        })
        .await
    }
}
