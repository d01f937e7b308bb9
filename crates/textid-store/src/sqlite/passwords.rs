//! Passwords (issue #15): the argon2id hash and the forced-change flag on the user row.
//! A change is audited and ends the user's sessions and token families in its own
//! transaction (`textid_core::session::PASSWORD_CHANGE_REVOKES`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, OptionalExtension};
use textid_core::audit::AuditRecord;
use textid_core::directory::Upn;
use textid_core::secret::Secret;
use textid_core::session::PASSWORD_CHANGE_REVOKES;
use textid_core::{TenantId, UserId};

use super::rows::id;
use super::{audit, sessions, SqliteStore};
use crate::{Actor, PasswordAccount, PasswordStore, PasswordUpdate, StoreError, StoreResult};

#[async_trait]
impl PasswordStore for SqliteStore {
    async fn set_password(
        &self,
        tenant: TenantId,
        user: UserId,
        update: &PasswordUpdate,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let (update, actor) = (update.clone(), actor.clone());
        self.write(move |tx| {
            let before: bool = tx
                .query_row(
                    "SELECT force_change_password FROM users WHERE tenant_id = ?1 AND id = ?2",
                    params![tenant.to_string(), user.to_string()],
                    |r| r.get(0),
                )
                .optional()?
                .ok_or(StoreError::NotFound("user"))?;
            tx.execute(
                "UPDATE users SET password_hash = ?3, force_change_password = ?4 WHERE tenant_id = ?1 AND id = ?2",
                params![
                    tenant.to_string(),
                    user.to_string(),
                    update.hash.as_ref().map(|h| h.expose().clone()),
                    update.force_change
                ],
            )?;
            if PASSWORD_CHANGE_REVOKES {
                sessions::revoke_user(tx, tenant, user, now)?;
            }
            let record = AuditRecord::password(
                tenant,
                user,
                update.change,
                before,
                update.force_change,
                &actor,
                now,
            );
            audit::insert(tx, &record)
        })
        .await
    }

    async fn password_account(
        &self,
        tenant: TenantId,
        upn: &Upn,
    ) -> StoreResult<Option<PasswordAccount>> {
        let upn = upn.as_str().to_owned();
        self.lookup(move |c| {
            let row = c
                .prepare_cached(
                    "SELECT u.id, u.account_enabled, u.password_hash, u.force_change_password,
                            (SELECT group_concat(m.group_id) FROM group_members m WHERE m.user_id = u.id),
                            (SELECT pm.number FROM phone_methods pm WHERE pm.user_id = u.id AND pm.phone_type = 'mobile')
                     FROM users u WHERE u.tenant_id = ?1 AND u.upn = ?2",
                )?
                .query_row(params![tenant.to_string(), upn], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, bool>(1)?,
                        r.get::<_, Option<String>>(2)?,
                        r.get::<_, bool>(3)?,
                        r.get::<_, Option<String>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                })
                .optional()?;
            let Some((uid, account_enabled, hash, force_change, groups, mobile)) = row else {
                return Ok(None);
            };
            let groups = groups
                .unwrap_or_default()
                .split(',')
                .filter(|g| !g.is_empty())
                .map(id)
                .collect::<StoreResult<Vec<_>>>()?;
            Ok(Some(PasswordAccount {
                user_id: id(&uid)?,
                account_enabled,
                password_hash: hash.map(Secret::new),
                force_change,
                groups,
                mobile,
            }))
        })
        .await
    }
}
