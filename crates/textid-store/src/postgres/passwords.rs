//! Passwords (issue #15): the argon2id hash and the forced-change flag on the user row.
//! A change locks the user (as every change of what proves them does), is audited and
//! ends the user's sessions and token families in its own transaction
//! (`textid_core::session::PASSWORD_CHANGE_REVOKES`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use textid_core::audit::AuditRecord;
use textid_core::directory::Upn;
use textid_core::secret::Secret;
use textid_core::session::PASSWORD_CHANGE_REVOKES;
use textid_core::{GroupId, TenantId, UserId};

use super::retry::{Replay, Tx};
use super::rows::{execute, query_opt};
use super::{audit, locks, sessions, PostgresStore};
use crate::{Actor, PasswordAccount, PasswordStore, PasswordUpdate, StoreError, StoreResult};

async fn set(
    tx: &Tx<'_>,
    (tenant, user): (TenantId, UserId),
    update: &PasswordUpdate,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    locks::user(tx, tenant, user).await?;
    let before: bool = query_opt(
        tx,
        "SELECT force_change_password FROM users WHERE tenant_id = $1 AND id = $2 FOR UPDATE",
        &[&tenant.0, &user.0],
    )
    .await?
    .ok_or(StoreError::NotFound("user"))?
    .try_get(0)?;
    execute(
        tx,
        "UPDATE users SET password_hash = $3, force_change_password = $4 WHERE tenant_id = $1 AND id = $2",
        &[
            &tenant.0,
            &user.0,
            &update.hash.as_ref().map(|h| h.expose().as_str()),
            &update.force_change,
        ],
    )
    .await?;
    if PASSWORD_CHANGE_REVOKES {
        sessions::revoke_user(tx, tenant, user, now).await?;
    }
    let record = AuditRecord::password(
        tenant,
        user,
        update.change,
        before,
        update.force_change,
        actor,
        now,
    );
    audit::insert(tx, &record).await
}

#[async_trait]
impl PasswordStore for PostgresStore {
    async fn set_password(
        &self,
        tenant: TenantId,
        user: UserId,
        update: &PasswordUpdate,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &((tenant, user), update, actor, now),
            |tx, (k, u, a, now)| Box::pin(set(tx, *k, u, a, *now)),
        )
        .await
    }

    async fn password_account(
        &self,
        tenant: TenantId,
        upn: &Upn,
    ) -> StoreResult<Option<PasswordAccount>> {
        self.read(&(tenant, upn.as_str()), |c, (tenant, upn)| {
            Box::pin(async move {
                let row = query_opt(
                    c,
                    "SELECT u.id, u.account_enabled, u.password_hash, u.force_change_password,
                            ARRAY(SELECT m.group_id FROM group_members m WHERE m.user_id = u.id ORDER BY m.group_id),
                            (SELECT pm.number FROM phone_methods pm WHERE pm.user_id = u.id AND pm.phone_type = 'mobile')
                     FROM users u WHERE u.tenant_id = $1 AND u.upn = $2",
                    &[&tenant.0, upn],
                )
                .await?;
                let Some(r) = row else { return Ok(None) };
                let groups: Vec<uuid::Uuid> = r.try_get(4)?;
                Ok(Some(PasswordAccount {
                    user_id: UserId(r.try_get(0)?),
                    account_enabled: r.try_get(1)?,
                    password_hash: r.try_get::<_, Option<String>>(2)?.map(Secret::new),
                    force_change: r.try_get(3)?,
                    groups: groups.into_iter().map(GroupId).collect(),
                    mobile: r.try_get(5)?,
                }))
            })
        })
        .await
    }
}
