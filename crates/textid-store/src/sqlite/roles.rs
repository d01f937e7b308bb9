//! Directory roles of people (the admin API's permissions for a signed-in person).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::params;
use textid_core::audit::AuditRecord;
use textid_core::{TenantId, UserId};

use super::directory::load_user;
use super::{audit, SqliteStore};
use crate::{Actor, RoleStore, StoreError, StoreResult};

#[async_trait]
impl RoleStore for SqliteStore {
    async fn user_roles(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<String>> {
        self.lookup(move |c| {
            let mut stmt = c.prepare_cached(
                "SELECT role FROM directory_role_assignments WHERE tenant_id = ?1 AND user_id = ?2 ORDER BY role",
            )?;
            let rows =
                stmt.query_map(params![tenant.to_string(), user.to_string()], |r| r.get(0))?;
            Ok(rows.collect::<Result<_, _>>()?)
        })
        .await
    }

    async fn set_user_role(
        &self,
        tenant: TenantId,
        user: UserId,
        role: &str,
        assigned: bool,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (role, actor) = (role.to_string(), actor.clone());
        self.write(move |tx| {
            load_user(tx, tenant, user)?.ok_or(StoreError::NotFound("user"))?;
            let sql = if assigned {
                "INSERT OR IGNORE INTO directory_role_assignments (tenant_id, user_id, role) VALUES (?1, ?2, ?3)"
            } else {
                "DELETE FROM directory_role_assignments WHERE tenant_id = ?1 AND user_id = ?2 AND role = ?3"
            };
            tx.execute(sql, params![tenant.to_string(), user.to_string(), role])?;
            let record = AuditRecord::role(tenant, user, &role, assigned, &actor, now);
            audit::insert(tx, &record)
        })
        .await
    }
}
