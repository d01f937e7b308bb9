//! Temporary Access Passes issued by admins (Graph and the CLI): the rules are
//! [`textid_core::tap`]'s; here they meet the store. A pass is shown once, when created;
//! only its keyed hash is kept.

use rand::rngs::OsRng;
use textid_core::policy::Subject;
use textid_core::secret::Secret;
use textid_core::tap::{self, PassRequest};
use textid_core::tenant::Tenant;
use textid_core::UserId;
use textid_store::{Actor, TapRecord};

use crate::directory::DirectoryError;
use crate::Context as App;

/// The hashing domain of passes (shared with the check at sign-in).
pub const TAP_DOMAIN: &str = "textid/tap/v1";

/// The keyed hash a pass is stored and checked by.
pub fn pass_hash(app: &App, user: UserId, pass: &str) -> Vec<u8> {
    app.hasher()
        .digest(TAP_DOMAIN, &[user.0.as_bytes(), pass.as_bytes()])
        .0
        .to_vec()
}

/// A pass just issued: its record and the pass itself (shown once).
#[derive(Debug)]
pub struct IssuedPass {
    /// What is stored.
    pub record: TapRecord,
    /// The pass.
    pub pass: Secret<String>,
}

/// Issues a pass to a user on the policy's terms, replacing their previous one. Refused
/// for a disabled account, a user the policy does not cover, and terms outside the
/// policy's bounds; nothing is written then.
pub async fn create_pass(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    request: PassRequest,
    actor: &Actor,
) -> Result<IssuedPass, DirectoryError> {
    let store = app.store();
    let u = store
        .user(tenant.id, user)
        .await?
        .ok_or(DirectoryError::NotFound {
            what: "user",
            key: user.to_string(),
        })?;
    let policy = store.policy(tenant.id).await?;
    let groups = store.groups_of(tenant.id, u.id).await?;
    let subject = Subject {
        user_id: u.id,
        groups: &groups,
    };
    // Stored and shown with millisecond precision, the same on every read.
    let now = chrono::DateTime::from_timestamp_millis(app.clock().now().timestamp_millis())
        .unwrap_or_default();
    let terms = tap::terms(
        &policy.temporary_access_pass,
        subject,
        u.account_enabled,
        request,
        now,
    )?;
    let pass = tap::generate(terms.length, &mut OsRng);
    let record = TapRecord {
        id: uuid::Uuid::new_v4(),
        tenant_id: tenant.id,
        user_id: u.id,
        pass_hash: pass_hash(app, u.id, &pass),
        created_at: now,
        start_at: terms.start_at,
        lifetime_minutes: terms.lifetime_minutes,
        is_usable_once: terms.is_usable_once,
        used_at: None,
    };
    store.put_tap(&record, actor, now).await?;
    Ok(IssuedPass {
        record,
        pass: Secret::new(pass),
    })
}

/// The user's pass, if any.
pub async fn pass_of(
    app: &App,
    tenant: &Tenant,
    user: UserId,
) -> Result<Option<TapRecord>, DirectoryError> {
    Ok(app.store().tap(tenant.id, user).await?)
}

/// Deletes the user's pass: the one with `id`, or whichever they have when `id` is
/// `None`. False when there was none (or not that one).
pub async fn delete_pass(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    id: Option<uuid::Uuid>,
    actor: &Actor,
) -> Result<bool, DirectoryError> {
    let store = app.store();
    let id = match id {
        Some(id) => id,
        None => match store.tap(tenant.id, user).await? {
            Some(t) => t.id,
            None => return Ok(false),
        },
    };
    Ok(store
        .delete_tap(tenant.id, user, id, actor, app.clock().now())
        .await?)
}
