//! Phone methods and the uniqueness rule. A change runs in one transaction that takes, in
//! this order: the user's advisory lock (so the user's current methods stay as read), the
//! user row `FOR KEY SHARE` (a concurrent delete waits), then — for a change that stores
//! or enables a number — the number's advisory lock, and only then reads the number's
//! other holders. The decision is `textid_core::methods::plan_phone_change`; the partial
//! unique index `phone_methods_sms_sign_in_unique` backs it up. So two nodes adding one
//! number to two users at once queue on the number's lock: the second sees the first.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use deadpool_postgres::GenericClient;
use textid_core::audit::AuditRecord;
use textid_core::methods::{
    number_to_check, plan_phone_change, NumberHolder, NumberSharing, PhoneMethod, PhonePlan,
};
use textid_core::phone::PhoneNumber;
use textid_core::session::phone_change_revokes;
use textid_core::{TenantId, UserId};

use super::directory::{lock_user, RowLock};
use super::retry::{Replay, Tx};
use super::rows::{execute, ms, query, query_opt};
use super::{audit, locks, sessions, PostgresStore};
use crate::{
    group_shared_numbers, phone_type_from_stored, Actor, PhoneMethodChange, PhoneMethodRecord,
    PhoneMethodStore, SharedNumber, SharedNumberHolder, StoreError, StoreResult,
};

async fn list<C: GenericClient>(
    c: &C,
    tenant: TenantId,
    uid: UserId,
) -> StoreResult<Vec<PhoneMethodRecord>> {
    let rows = query(
        c,
        "SELECT pm.phone_type, pm.number, pm.extension, pm.sms_sign_in_enabled, pm.needs_confirmation,
                EXISTS (SELECT 1 FROM phone_methods o
                        WHERE o.tenant_id = pm.tenant_id AND o.number = pm.number AND o.user_id <> pm.user_id)
         FROM phone_methods pm WHERE pm.tenant_id = $1 AND pm.user_id = $2",
        &[&tenant.0, &uid.0],
    )
    .await?;
    let mut out = rows
        .iter()
        .map(|r| {
            let (t, number, ext): (String, String, Option<String>) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(2)?);
            Ok(PhoneMethodRecord {
                method: PhoneMethod {
                    user_id: uid,
                    phone_type: phone_type_from_stored(&t)?,
                    number: PhoneNumber::from_stored(&number, ext.as_deref())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    sms_sign_in_enabled: r.try_get(3)?,
                },
                needs_confirmation: r.try_get(4)?,
                number_shared: r.try_get(5)?,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by_key(|m| m.method.phone_type);
    Ok(out)
}

async fn holders(
    tx: &Tx<'_>,
    tenant: TenantId,
    number: &str,
    except: UserId,
) -> StoreResult<Vec<NumberHolder>> {
    let rows = query(
        tx,
        "SELECT user_id, phone_type, sms_sign_in_enabled, FALSE AS deleted FROM phone_methods
         WHERE tenant_id = $1 AND number = $2 AND user_id <> $3
         UNION ALL SELECT user_id, phone_type, sms_sign_in_enabled, TRUE FROM deleted_phone_methods
         WHERE tenant_id = $1 AND number = $2 AND user_id <> $3
         ORDER BY sms_sign_in_enabled DESC, deleted, user_id",
        &[&tenant.0, &number, &except.0],
    )
    .await?;
    rows.iter()
        .map(|r| {
            let t: String = r.try_get(1)?;
            Ok(NumberHolder {
                user_id: UserId(r.try_get(0)?),
                phone_type: phone_type_from_stored(&t)?,
                sms_sign_in_enabled: r.try_get(2)?,
                deleted: r.try_get(3)?,
            })
        })
        .collect()
}

/// The report's rows: every method whose number another user also holds.
async fn shared<C: GenericClient>(c: &C, tenant: TenantId) -> StoreResult<Vec<SharedNumber>> {
    let rows = query(
        c,
        "SELECT pm.number, pm.extension, pm.user_id, u.upn, u.display_name, u.account_enabled,
                pm.phone_type, pm.sms_sign_in_enabled, pm.needs_confirmation,
                ARRAY(SELECT m.group_id FROM group_members m WHERE m.user_id = pm.user_id ORDER BY m.group_id)
         FROM phone_methods pm JOIN users u ON u.id = pm.user_id
         WHERE pm.tenant_id = $1 AND pm.number IN (
             SELECT number FROM phone_methods WHERE tenant_id = $1
             GROUP BY number HAVING COUNT(DISTINCT user_id) > 1)
         ORDER BY pm.number",
        &[&tenant.0],
    )
    .await?;
    let rows = rows
        .iter()
        .map(|r| {
            let (number, ext, t): (String, Option<String>, String) =
                (r.try_get(0)?, r.try_get(1)?, r.try_get(6)?);
            let groups: Vec<uuid::Uuid> = r.try_get(9)?;
            let holder = SharedNumberHolder {
                method: PhoneMethod {
                    user_id: UserId(r.try_get(2)?),
                    phone_type: phone_type_from_stored(&t)?,
                    number: PhoneNumber::from_stored(&number, ext.as_deref())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    sms_sign_in_enabled: r.try_get(7)?,
                },
                upn: textid_core::directory::Upn::stored(r.try_get(3)?),
                display_name: r.try_get(4)?,
                account_enabled: r.try_get(5)?,
                groups: groups.into_iter().map(textid_core::GroupId).collect(),
                needs_confirmation: r.try_get(8)?,
            };
            Ok((number, holder))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(group_shared_numbers(rows))
}

/// The tenant's refuse-shared setting, read in the change's transaction.
pub(super) async fn sharing(tx: &Tx<'_>, tenant: TenantId) -> StoreResult<NumberSharing> {
    let refused: bool = query_opt(
        tx,
        "SELECT refuse_shared_phone_numbers FROM tenants WHERE id = $1",
        &[&tenant.0],
    )
    .await?
    .ok_or(StoreError::NotFound("tenant"))?
    .try_get(0)?;
    Ok(NumberSharing::from_refused(refused))
}

async fn write_plan(
    tx: &Tx<'_>,
    tenant: TenantId,
    plan: &PhonePlan,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    match (&plan.before, &plan.after) {
        (None, Some(m)) => {
            execute(
                tx,
                "INSERT INTO phone_methods (tenant_id, user_id, phone_type, number, extension, sms_sign_in_enabled, created_at, updated_at)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $7)",
                &[
                    &tenant.0, &m.user_id.0, &m.phone_type.as_str(), &m.number.e164(),
                    &m.number.extension(), &m.sms_sign_in_enabled, &ms(now),
                ],
            )
            .await?;
        }
        (Some(_), Some(m)) => {
            execute(
                tx,
                "UPDATE phone_methods SET number = $4, extension = $5, sms_sign_in_enabled = $6, updated_at = $7
                 WHERE tenant_id = $1 AND user_id = $2 AND phone_type = $3",
                &[
                    &tenant.0, &m.user_id.0, &m.phone_type.as_str(), &m.number.e164(),
                    &m.number.extension(), &m.sms_sign_in_enabled, &ms(now),
                ],
            )
            .await?;
        }
        (Some(m), None) => {
            execute(
                tx,
                "DELETE FROM phone_methods WHERE tenant_id = $1 AND user_id = $2 AND phone_type = $3",
                &[&tenant.0, &m.user_id.0, &m.phone_type.as_str()],
            )
            .await?;
        }
        (None, None) => {}
    }
    Ok(())
}

/// A phone method change in the caller's transaction. A refusal (`StoreError::PhoneMethod`)
/// comes before any write and from no statement, so the transaction may go on.
pub(super) async fn change(
    tx: &Tx<'_>,
    change: &PhoneMethodChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    locks::user(tx, change.tenant, change.user).await?;
    lock_user(tx, change.tenant, change.user, RowLock::KeyShare).await?;
    let current: Vec<PhoneMethod> = list(tx, change.tenant, change.user)
        .await?
        .into_iter()
        .map(|r| r.method)
        .collect();
    let others = match number_to_check(&current, change) {
        Some(n) => {
            let e164 = n.e164();
            locks::number(tx, change.tenant, &e164).await?;
            holders(tx, change.tenant, &e164, change.user).await?
        }
        None => Vec::new(),
    };
    let plan = plan_phone_change(&current, &others, change, sharing(tx, change.tenant).await?)?;
    write_plan(tx, change.tenant, &plan, now).await?;
    if plan.after.is_some() {
        // The method is stored: a copy the sync skipped for it is no longer missing.
        super::provisioning::clear_skip(tx, change.tenant, change.user, change.phone_type).await?;
    }
    if phone_change_revokes(&plan) {
        sessions::revoke_user_except(tx, change.tenant, change.user, change.made_in, now).await?;
    }
    audit::insert(
        tx,
        &AuditRecord::phone_method(change.tenant, &plan, actor, now),
    )
    .await
}

#[async_trait]
impl PhoneMethodStore for PostgresStore {
    async fn phone_methods(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<PhoneMethodRecord>> {
        self.read(&(tenant, user), |c, (t, u)| Box::pin(list(c, *t, *u)))
            .await
    }

    async fn shared_numbers(&self, tenant: TenantId) -> StoreResult<Vec<SharedNumber>> {
        self.read(&tenant, |c, t| Box::pin(shared(c, *t))).await
    }

    async fn change_phone_method(
        &self,
        phone_change: PhoneMethodChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        self.write(
            Replay::Unsafe,
            &(phone_change, actor, now),
            |tx, (c, a, now)| Box::pin(change(tx, c, a, *now)),
        )
        .await
    }

    async fn set_needs_confirmation(
        &self,
        tenant: TenantId,
        user: UserId,
        phone_type: textid_core::methods::PhoneType,
        needs: bool,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let env = (tenant, user, phone_type, needs, now);
        self.write(Replay::Safe, &env, |tx, (t, u, p, needs, now)| {
            Box::pin(async move {
                let changed = execute(
                    tx,
                    "UPDATE phone_methods SET needs_confirmation = $4, updated_at = $5
                     WHERE tenant_id = $1 AND user_id = $2 AND phone_type = $3",
                    &[&t.0, &u.0, &p.as_str(), needs, &ms(*now)],
                )
                .await?;
                if changed == 0 {
                    return Err(StoreError::NotFound("phone method"));
                }
                Ok(())
            })
        })
        .await
    }
}
