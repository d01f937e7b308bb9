//! Bulk import (`DirectoryStore::import_users`) in one transaction.
//!
//! The transaction first takes the tenant's import lock exclusively: every phone method
//! change holds it shared from before it reads a number's holders until it commits
//! (`locks::number`), so the holders this import reads cannot change under it, and no
//! change decides on holders read before the import's rows existed. Then what the tenant
//! holds of the batch is read with one statement per chunk (`= ANY($2)`), the batch is
//! checked by `textid_core::directory::import::plan_import`, and rows are written a chunk
//! at a time with `UNNEST` (one statement per table per chunk, not one per row).

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use textid_core::audit::AuditRecord;
use textid_core::directory::import::{plan_import, Existing, ImportedUser};
use textid_core::methods::NumberHolder;
use textid_core::{TenantId, UserId};

use super::locks;
use super::retry::Tx;
use super::rows::{execute, ms, query, query_opt, to_json};
use crate::{phone_type_from_stored, Actor, StoreError, StoreResult};

/// Rows per statement.
const CHUNK: usize = 5_000;

pub(super) async fn import(
    tx: &Tx<'_>,
    tenant: TenantId,
    rows: &[ImportedUser],
    sms_sign_in: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    locks::import(tx, tenant).await?;
    let existing = load_existing(tx, tenant, rows).await?;
    let plan = plan_import(rows, &existing, sms_sign_in).map_err(StoreError::Import)?;
    let at = ms(now);
    let mut audits: Vec<AuditRecord> = Vec::new();
    for chunk in plan.users.chunks(CHUNK) {
        let (mut ids, mut upns, mut names, mut enabled, mut mobiles, mut business) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        let mut synced = vec![];
        for (u, plans) in chunk {
            ids.push(u.id.0);
            upns.push(u.upn.as_str().to_string());
            names.push(u.display_name.clone());
            enabled.push(u.account_enabled);
            mobiles.push(u.mobile_phone.clone());
            business.push(to_json(&u.business_phones));
            synced.push(u.on_premises_sync_enabled);
            audits.push(AuditRecord::user_added(u, actor, now));
            audits.extend(
                plans
                    .iter()
                    .map(|p| AuditRecord::phone_method(tenant, p, actor, now)),
            );
        }
        // The chunk's change sequences (delta queries), reserved with one update of the
        // tenant's row: its last is `last`, its first `last - n + 1` (migration 0032).
        let n = i64::try_from(ids.len()).unwrap_or(i64::MAX);
        let last: i64 = query_opt(
            tx,
            "INSERT INTO directory_versions (tenant_id, seq) VALUES ($1, $2)
             ON CONFLICT (tenant_id) DO UPDATE SET seq = directory_versions.seq + $2
             RETURNING seq",
            &[&tenant.0, &n],
        )
        .await?
        .ok_or(StoreError::Corrupt(
            "no directory version was returned".into(),
        ))?
        .try_get(0)?;
        let first = last - n + 1;
        execute(
            tx,
            "INSERT INTO users (id, tenant_id, upn, display_name, account_enabled, mobile_phone, business_phones, on_premises_sync, created_at, change_seq)
             SELECT id, $1, upn, name, enabled, mobile, business, synced, $8, $10 + i - 1
             FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::bool[], $6::text[], $7::jsonb[], $9::bool[])
                  WITH ORDINALITY AS r(id, upn, name, enabled, mobile, business, synced, i)",
            &[&tenant.0, &ids, &upns, &names, &enabled, &mobiles, &business, &at, &synced, &first],
        )
        .await?;
        let methods: Vec<_> = chunk
            .iter()
            .flat_map(|(_, plans)| plans.iter().filter_map(|p| p.after.as_ref()))
            .collect();
        execute(
            tx,
            "INSERT INTO phone_methods (tenant_id, user_id, phone_type, number, extension, sms_sign_in_enabled, created_at, updated_at)
             SELECT $1, user_id, phone_type, number, extension, enabled, $7, $7
             FROM UNNEST($2::uuid[], $3::text[], $4::text[], $5::text[], $6::bool[])
                  AS r(user_id, phone_type, number, extension, enabled)",
            &[
                &tenant.0,
                &methods.iter().map(|m| m.user_id.0).collect::<Vec<_>>(),
                &methods.iter().map(|m| m.phone_type.as_str()).collect::<Vec<_>>(),
                &methods.iter().map(|m| m.number.e164()).collect::<Vec<_>>(),
                &methods.iter().map(|m| m.number.extension()).collect::<Vec<_>>(),
                &methods.iter().map(|m| m.sms_sign_in_enabled).collect::<Vec<_>>(),
                &at,
            ],
        )
        .await?;
        if audits.len() >= CHUNK {
            insert_audits(tx, &std::mem::take(&mut audits)).await?;
        }
    }
    insert_audits(tx, &audits).await?;
    Ok(plan.users.len())
}

/// What the tenant holds of the batch's userPrincipalNames and numbers.
async fn load_existing(
    tx: &Tx<'_>,
    tenant: TenantId,
    rows: &[ImportedUser],
) -> StoreResult<Existing> {
    let mut existing = Existing {
        sharing: super::phone::sharing(tx, tenant).await?,
        ..Existing::default()
    };
    for chunk in rows.chunks(CHUNK) {
        let upns: Vec<&str> = chunk.iter().map(|r| r.user.upn.as_str()).collect();
        for r in query(
            tx,
            "SELECT upn FROM users WHERE tenant_id = $1 AND upn = ANY($2)",
            &[&tenant.0, &upns],
        )
        .await?
        {
            existing.upns.insert(r.try_get(0)?);
        }
        let numbers: Vec<String> = chunk
            .iter()
            .flat_map(|r| r.numbers.iter().map(|(_, n)| n.e164()))
            .collect();
        let mut holders: HashMap<String, Vec<NumberHolder>> = HashMap::new();
        for r in query(
            tx,
            "SELECT number, user_id, phone_type, sms_sign_in_enabled, FALSE AS deleted FROM phone_methods
             WHERE tenant_id = $1 AND number = ANY($2)
             UNION ALL SELECT number, user_id, phone_type, sms_sign_in_enabled, TRUE FROM deleted_phone_methods
             WHERE tenant_id = $1 AND number = ANY($2)
             ORDER BY number, sms_sign_in_enabled DESC, deleted, user_id",
            &[&tenant.0, &numbers],
        )
        .await?
        {
            let t: String = r.try_get(2)?;
            holders
                .entry(r.try_get(0)?)
                .or_default()
                .push(NumberHolder {
                    user_id: UserId(r.try_get(1)?),
                    phone_type: phone_type_from_stored(&t)?,
                    sms_sign_in_enabled: r.try_get(3)?,
                    deleted: r.try_get(4)?,
                });
        }
        // A number in two chunks is read twice: keep one list.
        existing.holders.extend(holders);
    }
    Ok(existing)
}

async fn insert_audits(tx: &Tx<'_>, audits: &[AuditRecord]) -> StoreResult<()> {
    if audits.is_empty() {
        return Ok(());
    }
    execute(
        tx,
        "INSERT INTO directory_audits (id, tenant_id, created_at, actor_type, actor_id, activity, target_type, target_id, before, after)
         SELECT * FROM UNNEST($1::uuid[], $2::uuid[], $3::int8[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::jsonb[], $10::jsonb[])",
        &[
            &audits.iter().map(|a| a.id).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.tenant_id.0).collect::<Vec<_>>(),
            &audits.iter().map(|a| ms(a.created_at)).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.actor.kind.as_str()).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.actor.id.as_str()).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.activity.as_str()).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.target_type.as_str()).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.target_id.as_str()).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.before.clone()).collect::<Vec<_>>(),
            &audits.iter().map(|a| a.after.clone()).collect::<Vec<_>>(),
        ],
    )
    .await?;
    Ok(())
}
