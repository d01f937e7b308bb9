//! Advisory locks: what two nodes must not decide at the same time when no single row
//! stands for it. Each is a transaction lock (`pg_advisory_xact_lock`, released at COMMIT
//! or ROLLBACK) on a 64-bit hash of a namespaced key; a hash collision only makes two
//! unrelated writers queue, never lets two related ones through.
//!
//! - `user`: every change of a user's authentication methods (phone methods, Temporary
//!   Access Pass), so the user's current methods read by the decision stay as read.
//! - `number`: every phone method change that stores or enables a number, taken after the
//!   user's lock and before the other holders of the number are read, so two concurrent
//!   claims of one number by two users see each other (one wins, the partial unique index
//!   `phone_methods_sms_sign_in_unique` being the backstop).
//! - `import`: a bulk import of users holds it exclusively, every `number` claim shared:
//!   the import's check of all its numbers and the claims of single numbers exclude
//!   each other (taking a million number locks in one transaction would exhaust the
//!   lock table).
//! - `family`: revoking a token family and saving a token of it, so a token saved while
//!   its family is being revoked is either revoked with it or refused; taken before the
//!   code or token row is locked.
//!
//! Order: user, then number (with import shared); import alone; a family lock alone. Row locks are taken after advisory
//! locks, never before, so lock waits cannot form a cycle.

use textid_core::{TenantId, UserId};

use super::retry::Tx;
use super::rows::execute;
use crate::StoreResult;

/// The session lock under which migrations run (one database-wide key, "textid" + 1).
pub(super) const MIGRATIONS: i64 = 0x7465_7874_6964_0001;

async fn take(tx: &Tx<'_>, key: &str) -> StoreResult<()> {
    execute(
        tx,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0))",
        &[&key],
    )
    .await?;
    Ok(())
}

/// Serialises changes of one user's authentication methods.
pub(super) async fn user(tx: &Tx<'_>, tenant: TenantId, user: UserId) -> StoreResult<()> {
    take(tx, &format!("textid/user/{tenant}/{user}")).await
}

/// Serialises claims of one number (E.164) in a tenant, and holds the tenant's import
/// lock shared, so that a bulk import (which takes it exclusively) and a claim never
/// decide on holders the other is about to change. One statement for both.
pub(super) async fn number(tx: &Tx<'_>, tenant: TenantId, e164: &str) -> StoreResult<()> {
    execute(
        tx,
        "SELECT pg_advisory_xact_lock(hashtextextended($1, 0)), pg_advisory_xact_lock_shared(hashtextextended($2, 0))",
        &[&format!("textid/number/{tenant}/{e164}"), &import_key(tenant)],
    )
    .await?;
    Ok(())
}

fn import_key(tenant: TenantId) -> String {
    format!("textid/import/{tenant}")
}

/// Serialises a bulk import of users with every number claim of the tenant.
pub(super) async fn import(tx: &Tx<'_>, tenant: TenantId) -> StoreResult<()> {
    take(tx, &import_key(tenant)).await
}

/// Serialises the revocation of a token family with saving tokens of it.
pub(super) async fn family(tx: &Tx<'_>, family: &str) -> StoreResult<()> {
    take(tx, &format!("textid/family/{family}")).await
}
