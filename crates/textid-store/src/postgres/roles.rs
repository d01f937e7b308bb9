//! Directory roles of people (the admin API's permissions for a signed-in person). An
//! assignment holds the user row against deletion (`FOR KEY SHARE`) while it is written;
//! assigning twice is a no-op (`ON CONFLICT DO NOTHING`), like removing twice.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::audit::AuditRecord;
use textid_core::{TenantId, UserId};

use super::directory::{lock_user, RowLock};
use super::retry::{Replay, Tx};
use super::rows::{execute, query};
use super::{audit, PostgresStore};
use crate::{Actor, RoleStore, StoreResult};

async fn set(
    tx: &Tx<'_>,
    (tenant, user): (TenantId, UserId),
    role: &str,
    assigned: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    lock_user(tx, tenant, user, RowLock::KeyShare).await?;
    let sql = if assigned {
        "INSERT INTO directory_role_assignments (tenant_id, user_id, role) VALUES ($1, $2, $3) ON CONFLICT DO NOTHING"
    } else {
        "DELETE FROM directory_role_assignments WHERE tenant_id = $1 AND user_id = $2 AND role = $3"
    };
    execute(tx, sql, &[&tenant.0, &user.0, &role]).await?;
    let record = AuditRecord::role(tenant, user, role, assigned, actor, now);
    audit::insert(tx, &record).await
}

#[async_trait]
impl RoleStore for PostgresStore {
    async fn user_roles(&self, tenant: TenantId, user: UserId) -> StoreResult<Vec<String>> {
        self.read(&(tenant, user), |c, (t, u)| {
            Box::pin(async move {
                let rows = query(
                    c,
                    "SELECT role FROM directory_role_assignments WHERE tenant_id = $1 AND user_id = $2
                     ORDER BY role COLLATE \"C\"",
                    &[&t.0, &u.0],
                )
                .await?;
                rows.iter().map(|r| Ok(r.try_get(0)?)).collect()
            })
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
        let env = ((tenant, user), role, assigned, actor, now);
        self.write(Replay::Unsafe, &env, |tx, (k, role, assigned, a, now)| {
            Box::pin(set(tx, *k, role, *assigned, a, *now))
        })
        .await
    }
}
