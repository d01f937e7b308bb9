//! Deleted items (issue #17): users and groups deleted through any surface are kept for 30
//! days, restorable with their phone methods and memberships, or deleted for good. The
//! Graph API (`/directory/deletedItems`) and the CLI (`textid user deleted|restore|purge`)
//! call these. A deleted user's numbers stay reserved until it is purged (the store's
//! holders include deleted users; `PhoneMethodError::NumberHeldByDeletedUser`).

use textid_core::tenant::Tenant;
use textid_store::{Actor, DeletedItem, DeletedKind, DeletedObject, StoreError};
use uuid::Uuid;

use crate::directory::DirectoryError;
use crate::Context as App;

/// Deleted users or groups a Graph query selects (`schema::DELETED_USER` / `DELETED_GROUP`).
pub async fn query(
    app: &App,
    tenant: &Tenant,
    kind: DeletedKind,
    listing: &textid_store::Listing,
) -> Result<Vec<DeletedItem>, DirectoryError> {
    Ok(app.store().query_deleted(tenant.id, kind, listing).await?)
}

/// How many deleted users or groups satisfy `cond`.
pub async fn count(
    app: &App,
    tenant: &Tenant,
    kind: DeletedKind,
    cond: Option<&textid_store::Cond>,
) -> Result<u64, DirectoryError> {
    Ok(app.store().count_deleted(tenant.id, kind, cond).await?)
}

/// Deleted users or groups of the tenant by id, after `after`, at most `limit`.
pub async fn list(
    app: &App,
    tenant: &Tenant,
    kind: DeletedKind,
    after: Option<Uuid>,
    limit: u32,
) -> Result<Vec<DeletedItem>, DirectoryError> {
    Ok(app
        .store()
        .deleted_items(tenant.id, kind, after, limit)
        .await?)
}

/// A deleted user or group.
pub async fn get(app: &App, tenant: &Tenant, id: Uuid) -> Result<DeletedItem, DirectoryError> {
    app.store()
        .deleted_item(tenant.id, id)
        .await?
        .ok_or_else(|| missing(id))
}

/// Restores a deleted user or group as it was. Refused with `UpnInUse` if another user
/// took the deleted user's userPrincipalName meanwhile (Entra refuses the same way).
pub async fn restore(
    app: &App,
    tenant: &Tenant,
    id: Uuid,
    actor: &Actor,
) -> Result<DeletedItem, DirectoryError> {
    let now = app.clock().now();
    match app.store().restore_deleted(tenant.id, id, actor, now).await {
        Err(StoreError::Conflict(c)) if c == "users_upn_unique" => {
            let item = get(app, tenant, id).await?;
            let upn = match item.object {
                DeletedObject::User(u) => u.upn.to_string(),
                DeletedObject::Group(g) => g.display_name,
            };
            Err(DirectoryError::UpnInUse(upn))
        }
        Err(StoreError::NotFound(_)) => Err(missing(id)),
        other => Ok(other?),
    }
}

/// Deletes a deleted user or group for good: its numbers are free again.
pub async fn purge(
    app: &App,
    tenant: &Tenant,
    id: Uuid,
    actor: &Actor,
) -> Result<DeletedItem, DirectoryError> {
    let now = app.clock().now();
    match app.store().purge_deleted(tenant.id, id, actor, now).await {
        Err(StoreError::NotFound(_)) => Err(missing(id)),
        other => Ok(other?),
    }
}

fn missing(id: Uuid) -> DirectoryError {
    DirectoryError::NotFound {
        what: "deleted item",
        key: id.to_string(),
    }
}
