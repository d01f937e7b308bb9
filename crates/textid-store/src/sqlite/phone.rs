//! Phone methods and the uniqueness rule. Every change runs in one `BEGIN IMMEDIATE`
//! transaction: the rule (`textid_core::methods::check_uniqueness`) is decided on rows
//! no other writer can change before the commit, and the partial unique index
//! `phone_methods_sms_sign_in_unique` backs it up.

use chrono::{DateTime, Utc};
use rusqlite::{params, Connection, Transaction};
use serde_json::{json, Value};
use textid_core::methods::{
    check_uniqueness, NumberHolder, PhoneMethod, PhoneMethodError, PhoneType,
};
use textid_core::phone::PhoneNumber;
use textid_core::{TenantId, UserId};

use super::directory::{audit, user, Audit};
use super::rows::{id, ms};
use crate::{
    phone_type_from_stored, Actor, PhoneMethodChange, PhoneMethodOp, PhoneMethodRecord, StoreError,
    StoreResult,
};

pub(super) fn list(
    c: &Connection,
    tenant: TenantId,
    uid: UserId,
) -> StoreResult<Vec<PhoneMethodRecord>> {
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

fn holders(
    tx: &Transaction<'_>,
    tenant: TenantId,
    number: &str,
    except: UserId,
) -> StoreResult<Vec<NumberHolder>> {
    let mut stmt = tx.prepare_cached(
        "SELECT user_id, phone_type, sms_sign_in_enabled FROM phone_methods
         WHERE tenant_id = ?1 AND number = ?2 AND user_id <> ?3 ORDER BY sms_sign_in_enabled DESC, user_id",
    )?;
    let rows = stmt.query_map(
        params![tenant.to_string(), number, except.to_string()],
        |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, bool>(2)?,
            ))
        },
    )?;
    rows.map(|r| {
        let (u, t, enabled) = r?;
        Ok(NumberHolder {
            user_id: id(&u)?,
            phone_type: phone_type_from_stored(&t)?,
            sms_sign_in_enabled: enabled,
        })
    })
    .collect()
}

fn method_json(m: &PhoneMethod) -> Value {
    json!({
        "id": m.phone_type.method_id(), "phoneType": m.phone_type, "phoneNumber": m.number.to_string(),
        "smsSignInEnabled": m.sms_sign_in_enabled,
    })
}

pub(super) fn change(
    tx: &Transaction<'_>,
    ch: &PhoneMethodChange,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<()> {
    user(tx, ch.tenant, ch.user)?.ok_or(StoreError::NotFound("user"))?;
    let current = list(tx, ch.tenant, ch.user)?;
    let existing = current
        .iter()
        .find(|m| m.method.phone_type == ch.phone_type)
        .map(|m| m.method.clone());
    let t = ch.phone_type;
    let (activity, after) = match (&ch.op, &existing) {
        (PhoneMethodOp::Add { .. }, Some(_)) => {
            return Err(PhoneMethodError::AlreadyExists(t).into())
        }
        (
            PhoneMethodOp::Add {
                number,
                enable_sms_sign_in,
            },
            None,
        ) => {
            if t == PhoneType::AlternateMobile
                && !current
                    .iter()
                    .any(|m| m.method.phone_type == PhoneType::Mobile)
            {
                return Err(PhoneMethodError::MobileRequired.into());
            }
            t.check_number(number).map_err(PhoneMethodError::from)?;
            let enable = *enable_sms_sign_in && t.supports_sms_sign_in();
            check_uniqueness(&holders(tx, ch.tenant, &number.e164(), ch.user)?, enable)?;
            tx.prepare_cached(
                "INSERT INTO phone_methods (tenant_id, user_id, phone_type, number, extension, sms_sign_in_enabled, created_at, updated_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?7)",
            )?
            .execute(params![ch.tenant.to_string(), ch.user.to_string(), t.as_str(), number.e164(), number.extension(), enable, ms(now)])?;
            let m = PhoneMethod {
                user_id: ch.user,
                phone_type: t,
                number: number.clone(),
                sms_sign_in_enabled: enable,
            };
            ("Add phone method", Some(m))
        }
        (_, None) => return Err(PhoneMethodError::NotFound(t).into()),
        (PhoneMethodOp::Update { number }, Some(old)) => {
            t.check_number(number).map_err(PhoneMethodError::from)?;
            check_uniqueness(
                &holders(tx, ch.tenant, &number.e164(), ch.user)?,
                old.sms_sign_in_enabled,
            )?;
            tx.execute(
                "UPDATE phone_methods SET number = ?4, extension = ?5, updated_at = ?6 WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
                params![ch.tenant.to_string(), ch.user.to_string(), t.as_str(), number.e164(), number.extension(), ms(now)],
            )?;
            (
                "Update phone method",
                Some(PhoneMethod {
                    number: number.clone(),
                    ..old.clone()
                }),
            )
        }
        (PhoneMethodOp::Delete, Some(_)) => {
            if t == PhoneType::Mobile
                && current
                    .iter()
                    .any(|m| m.method.phone_type == PhoneType::AlternateMobile)
            {
                return Err(PhoneMethodError::AlternateMobileExists.into());
            }
            tx.execute(
                "DELETE FROM phone_methods WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
                params![ch.tenant.to_string(), ch.user.to_string(), t.as_str()],
            )?;
            ("Delete phone method", None)
        }
        (PhoneMethodOp::SetSmsSignIn(enable), Some(old)) => {
            if !t.supports_sms_sign_in() {
                return Err(PhoneMethodError::NotSupported(t).into());
            }
            if *enable {
                check_uniqueness(&holders(tx, ch.tenant, &old.number.e164(), ch.user)?, true)?;
            }
            tx.execute(
                "UPDATE phone_methods SET sms_sign_in_enabled = ?4, updated_at = ?5 WHERE tenant_id = ?1 AND user_id = ?2 AND phone_type = ?3",
                params![ch.tenant.to_string(), ch.user.to_string(), t.as_str(), enable, ms(now)],
            )?;
            let activity = if *enable {
                "Enable SMS sign-in"
            } else {
                "Disable SMS sign-in"
            };
            (
                activity,
                Some(PhoneMethod {
                    sms_sign_in_enabled: *enable,
                    ..old.clone()
                }),
            )
        }
    };
    let a = Audit {
        tenant: ch.tenant,
        actor,
        activity,
        target_type: "user",
        target_id: ch.user.to_string(),
        before: existing.as_ref().map(method_json),
        after: after.as_ref().map(method_json),
    };
    audit(tx, a, now)
}
