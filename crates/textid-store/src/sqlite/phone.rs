//! Phone methods and the uniqueness rule. A change runs in one `BEGIN IMMEDIATE`
//! transaction: the rows the rule needs are read there, the decision is
//! `textid_core::methods::plan_phone_change`, and the partial unique index
//! `phone_methods_sms_sign_in_unique` backs it up.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, OptionalExtension, Transaction};
use textid_core::audit::AuditRecord;
use textid_core::methods::{
    number_to_check, plan_phone_change, NumberHolder, NumberSharing, PhoneMethod, PhonePlan,
};
use textid_core::phone::PhoneNumber;
use textid_core::session::phone_change_revokes;
use textid_core::{TenantId, UserId};

use super::directory::load_user;
use super::rows::{id, ms};
use super::{audit, sessions, SqliteStore};
use crate::{
    group_shared_numbers, phone_type_from_stored, Actor, PhoneMethodChange, PhoneMethodRecord,
    PhoneMethodStore, SharedNumber, SharedNumberHolder, StoreError, StoreResult,
};

fn list(c: &Connection, tenant: TenantId, uid: UserId) -> StoreResult<Vec<PhoneMethodRecord>> {
    let mut stmt = c.prepare_cached(
        "SELECT pm.phone_type, pm.number, pm.extension, pm.sms_sign_in_enabled, pm.needs_confirmation,
                EXISTS (SELECT 1 FROM phone_methods o
                        WHERE o.tenant_id = pm.tenant_id AND o.number = pm.number AND o.user_id <> pm.user_id)
         FROM phone_methods pm WHERE pm.tenant_id = ?1 AND pm.user_id = ?2",
    )?;
    let rows = stmt.query_map(params![tenant.to_string(), uid.to_string()], |r| {
        Ok((
            r.get::<_, String>(0)?,
            r.get::<_, String>(1)?,
            r.get::<_, Option<String>>(2)?,
            r.get::<_, bool>(3)?,
            r.get::<_, bool>(4)?,
            r.get::<_, bool>(5)?,
        ))
    })?;
    let mut out = rows
        .map(|r| {
            let (t, number, ext, enabled, needs, shared) = r?;
            Ok(PhoneMethodRecord {
                method: PhoneMethod {
                    user_id: uid,
                    phone_type: phone_type_from_stored(&t)?,
                    number: PhoneNumber::from_stored(&number, ext.as_deref())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    sms_sign_in_enabled: enabled,
                },
                number_shared: shared,
                needs_confirmation: needs,
            })
        })
        .collect::<StoreResult<Vec<_>>>()?;
    out.sort_by_key(|m| m.method.phone_type);
    Ok(out)
}

/// The other holders of a number, most significant first; deleted users hold theirs until
/// they are purged (issue #17).
pub(super) const HOLDERS: &str =
    "SELECT user_id, phone_type, sms_sign_in_enabled, 0 AS deleted FROM phone_methods
     WHERE tenant_id = ?1 AND number = ?2 AND user_id <> ?3
     UNION ALL SELECT user_id, phone_type, sms_sign_in_enabled, 1 FROM deleted_phone_methods
     WHERE tenant_id = ?1 AND number = ?2 AND user_id <> ?3
     ORDER BY sms_sign_in_enabled DESC, deleted, user_id";

fn holders(
    tx: &Transaction<'_>,
    tenant: TenantId,
    number: &str,
    except: UserId,
) -> StoreResult<Vec<NumberHolder>> {
    holders_with(&mut *tx.prepare_cached(HOLDERS)?, tenant, number, except)
}

/// [`holders`] with a statement of [`HOLDERS`] prepared once for many numbers.
pub(super) fn holders_with(
    stmt: &mut rusqlite::Statement<'_>,
    tenant: TenantId,
    number: &str,
    except: UserId,
) -> StoreResult<Vec<NumberHolder>> {
    let rows = stmt.query_map(
        params![tenant.to_string(), number, except.to_string()],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
                r.get::<_, bool>(3)?,
            ))
        },
    )?;
    rows.map(|r| {
        let (u, t, enabled, deleted) = r?;
        Ok(NumberHolder {
            user_id: id(&u)?,
            phone_type: phone_type_from_stored(&t)?,
            sms_sign_in_enabled: enabled,
            deleted,
        })
    })
    .collect()
}

/// The report's rows: every method whose number another user also holds.
fn shared(c: &Connection, tenant: TenantId) -> StoreResult<Vec<SharedNumber>> {
    let mut stmt = c.prepare_cached(
        "SELECT pm.number, pm.extension, pm.user_id, u.upn, u.display_name, u.account_enabled,
                pm.phone_type, pm.sms_sign_in_enabled, pm.needs_confirmation,
                (SELECT group_concat(m.group_id) FROM group_members m WHERE m.user_id = pm.user_id)
         FROM phone_methods pm JOIN users u ON u.id = pm.user_id
         WHERE pm.tenant_id = ?1 AND pm.number IN (
             SELECT number FROM phone_methods WHERE tenant_id = ?1
             GROUP BY number HAVING COUNT(DISTINCT user_id) > 1)
         ORDER BY pm.number",
    )?;
    let rows = stmt.query_map([tenant.to_string()], |r| {
        Ok((
            (
                r.get::<_, String>(0)?,
                r.get::<_, Option<String>>(1)?,
                r.get::<_, String>(2)?,
            ),
            (
                r.get::<_, String>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, bool>(5)?,
            ),
            (
                r.get::<_, String>(6)?,
                r.get::<_, bool>(7)?,
                r.get::<_, bool>(8)?,
            ),
            r.get::<_, Option<String>>(9)?,
        ))
    })?;
    let rows = rows
        .map(|r| {
            let (
                (number, ext, uid),
                (upn, display_name, account_enabled),
                (t, enabled, needs),
                groups,
            ) = r?;
            let holder = SharedNumberHolder {
                method: PhoneMethod {
                    user_id: id(&uid)?,
                    phone_type: phone_type_from_stored(&t)?,
                    number: PhoneNumber::from_stored(&number, ext.as_deref())
                        .map_err(|e| StoreError::Corrupt(e.to_string()))?,
                    sms_sign_in_enabled: enabled,
                },
                upn: textid_core::directory::Upn::stored(upn),
                display_name,
                account_enabled,
                groups: groups
                    .unwrap_or_default()
                    .split(',')
                    .filter(|g| !g.is_empty())
                    .map(id)
                    .collect::<StoreResult<Vec<_>>>()?,
                needs_confirmation: needs,
            };
            Ok((number, holder))
        })
        .collect::<StoreResult<Vec<_>>>()?;
    Ok(group_shared_numbers(rows))
}

/// The tenant's refuse-shared setting, read in the change's transaction.
pub(super) fn sharing(c: &Connection, tenant: TenantId) -> StoreResult<NumberSharing> {
    let refused: bool = c
        .prepare_cached("SELECT refuse_shared_phone_numbers FROM tenants WHERE id = ?1")?
        .query_row([tenant.to_string()], |r| r.get(0))
        .optional()?
        .ok_or(StoreError::NotFound("tenant"))?;
    Ok(NumberSharing::from_refused(refused))
}

/// Inserts a new phone method.
pub(super) const INSERT_METHOD: &str = "INSERT INTO phone_methods (tenant_id, user_id, phone_type, number, extension, sms_sign_in_enabled, created_at, updated_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)";

/// Inserts `m` with a statement of [`INSERT_METHOD`].
pub(super) fn insert_method(
    stmt: &mut rusqlite::Statement<'_>,
    tenant: TenantId,
    m: &PhoneMethod,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    stmt.execute(params![
        tenant.to_string(),
        m.user_id.to_string(),
        m.phone_type.as_str(),
        m.number.e164(),
        m.number.extension(),
        m.sms_sign_in_enabled,
        ms(now)
    ])?;
    Ok(())
}

fn write_plan(
    tx: &Transaction<'_>,
    tenant: TenantId,
    plan: &PhonePlan,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    match (&plan.before, &plan.after) {
        (None, Some(m)) => insert_method(&mut *tx.prepare_cached(INSERT_METHOD)?, tenant, m, now)?,
        (Some(_), Some(m)) => {
            tx.prepare_cached(
                "UPDATE phone_methods SET number = ?4, extension = ?5, sms_sign_in_enabled = ?6, updated_at = ?7
                 WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
            )?
            .execute(params![
                tenant.to_string(), m.user_id.to_string(), m.phone_type.as_str(), m.number.e164(),
                m.number.extension(), m.sms_sign_in_enabled, ms(now)
            ])?;
        }
        (Some(m), None) => {
            tx.prepare_cached(
                "DELETE FROM phone_methods WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
            )?
            .execute(params![tenant.to_string(), m.user_id.to_string(), m.phone_type.as_str()])?;
        }
        (None, None) => {}
    }
    Ok(())
}

/// A phone method change in the caller's transaction. A refusal (`StoreError::PhoneMethod`)
/// comes before any write, so the transaction may go on.
pub(super) fn apply_change(
    tx: &Transaction<'_>,
    change: &PhoneMethodChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    load_user(tx, change.tenant, change.user)?.ok_or(StoreError::NotFound("user"))?;
    let current: Vec<PhoneMethod> = list(tx, change.tenant, change.user)?
        .into_iter()
        .map(|r| r.method)
        .collect();
    let others = match number_to_check(&current, change) {
        Some(n) => holders(tx, change.tenant, &n.e164(), change.user)?,
        None => Vec::new(),
    };
    let plan = plan_phone_change(&current, &others, change, sharing(tx, change.tenant)?)?;
    write_plan(tx, change.tenant, &plan, now)?;
    if plan.after.is_some() {
        // The method is stored: a copy the sync skipped for it is no longer missing.
        super::provisioning::clear_skip(tx, change.tenant, change.user, change.phone_type)?;
    }
    if phone_change_revokes(&plan) {
        sessions::revoke_user_except(tx, change.tenant, change.user, change.made_in, now)?;
    }
    audit::insert(
        tx,
        &AuditRecord::phone_method(change.tenant, &plan, actor, now),
    )
}

#[async_trait]
impl PhoneMethodStore for SqliteStore {
    async fn phone_methods(
        &self,
        tenant: TenantId,
        user: UserId,
    ) -> StoreResult<Vec<PhoneMethodRecord>> {
        self.lookup(move |c| list(c, tenant, user)).await
    }

    async fn shared_numbers(&self, tenant: TenantId) -> StoreResult<Vec<SharedNumber>> {
        self.read(move |c| shared(c, tenant)).await
    }

    async fn change_phone_method(
        &self,
        change: PhoneMethodChange,
        actor: &Actor,
        now: DateTime<Utc>,
    ) -> StoreResult<()> {
        let actor = actor.clone();
        self.write(move |tx| apply_change(tx, &change, &actor, now))
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
        self.write(move |tx| {
            let changed = tx
                .prepare_cached(
                    "UPDATE phone_methods SET needs_confirmation = ?4, updated_at = ?5
                     WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
                )?
                .execute(params![
                    tenant.to_string(),
                    user.to_string(),
                    phone_type.as_str(),
                    needs,
                    ms(now)
                ])?;
            if changed == 0 {
                return Err(StoreError::NotFound("phone method"));
            }
            Ok(())
        })
        .await
    }
}
