//! Bulk import (`DirectoryStore::import_users`): one `BEGIN IMMEDIATE` transaction holds
//! SQLite's write lock while what the tenant holds of the batch is read, the batch is
//! checked by `textid_core::directory::import::plan_import`, and the rows are written, so
//! no concurrent change can slip between the check and the write.
//!
//! Each statement is prepared once for the whole batch (the statement cache would hash the
//! SQL text again for every row), and the connection's page cache is raised for the
//! transaction, so that a large batch's index pages stay in memory instead of being spilled
//! to the WAL and read back.

use chrono::{DateTime, Utc};
use rusqlite::{params, Transaction};
use textid_core::audit::AuditRecord;
use textid_core::directory::import::{plan_import, Existing, ImportedUser};
use textid_core::{TenantId, UserId};

use super::rows::{ms, to_json};
use super::{audit, phone};
use crate::{Actor, StoreError, StoreResult};

/// The page cache during an import, in KiB (SQLite's negative `cache_size`).
const IMPORT_CACHE_KIB: i64 = 256 * 1024;

pub(super) fn import(
    tx: &Transaction<'_>,
    tenant: TenantId,
    rows: Vec<ImportedUser>,
    sms_sign_in: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let before: i64 = tx.query_row("PRAGMA cache_size", [], |r| r.get(0))?;
    tx.pragma_update(None, "cache_size", -IMPORT_CACHE_KIB)?;
    let written = write(tx, tenant, rows, sms_sign_in, actor, now);
    tx.pragma_update(None, "cache_size", before)?;
    written
}

fn write(
    tx: &Transaction<'_>,
    tenant: TenantId,
    rows: Vec<ImportedUser>,
    sms_sign_in: bool,
    actor: &Actor,
    now: DateTime<Utc>,
) -> StoreResult<usize> {
    let t = tenant.to_string();
    let mut existing = Existing {
        sharing: phone::sharing(tx, tenant)?,
        ..Existing::default()
    };
    {
        let mut taken = tx.prepare("SELECT 1 FROM users WHERE tenant_id = ?1 AND upn = ?2")?;
        let mut holders = tx.prepare(phone::HOLDERS)?;
        for r in &rows {
            if taken.exists(params![t, r.user.upn.as_str()])? {
                existing.upns.insert(r.user.upn.as_str().to_string());
            }
            for (_, n) in &r.numbers {
                if let std::collections::hash_map::Entry::Vacant(e) =
                    existing.holders.entry(n.e164())
                {
                    // New users hold nothing yet: no user to leave out.
                    let held = phone::holders_with(
                        &mut holders,
                        tenant,
                        e.key(),
                        UserId(uuid::Uuid::nil()),
                    )?;
                    if !held.is_empty() {
                        e.insert(held);
                    }
                }
            }
        }
    }
    let plan = plan_import(&rows, &existing, sms_sign_in).map_err(StoreError::Import)?;
    drop(rows);
    // The users' change sequences (delta queries), reserved at once: the last is `last`,
    // the first `last - n + 1` (migration 0033; the trigger stamps only inserts without one).
    let n = i64::try_from(plan.users.len()).unwrap_or(i64::MAX);
    tx.execute(
        "INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (?1, 0)",
        params![t],
    )?;
    let last: i64 = tx.query_row(
        "UPDATE directory_versions SET seq = seq + ?2 WHERE tenant_id = ?1 RETURNING seq",
        params![t, n],
        |r| r.get(0),
    )?;
    let mut seq = last - n;
    let mut users = tx.prepare(
        "INSERT INTO users (id, tenant_id, upn, display_name, account_enabled, mobile_phone, business_phones, on_premises_sync, created_at, change_seq)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    )?;
    let mut methods = tx.prepare(phone::INSERT_METHOD)?;
    let mut audits = audit::inserter(tx)?;
    for (u, plans) in &plan.users {
        seq += 1;
        users.execute(params![
            u.id.to_string(),
            t,
            u.upn.as_str(),
            u.display_name,
            u.account_enabled,
            u.mobile_phone,
            to_json(&u.business_phones),
            u.on_premises_sync_enabled,
            ms(now),
            seq
        ])?;
        audit::insert_with(&mut audits, &AuditRecord::user_added(u, actor, now))?;
        for p in plans {
            if let Some(m) = &p.after {
                phone::insert_method(&mut methods, tenant, m, now)?;
            }
            audit::insert_with(
                &mut audits,
                &AuditRecord::phone_method(tenant, p, actor, now),
            )?;
        }
    }
    Ok(plan.users.len())
}
