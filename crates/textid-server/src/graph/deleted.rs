//! `/directory/deletedItems` (issue #17): users and groups deleted through any surface, as
//! Graph shows them (the object's properties and `deletedDateTime`), restorable for 30
//! days or deleted for good. The rules are the use cases' (`textid_usecases::deleted_items`);
//! here are Graph's shapes and permissions (`User.*` or `Group.*` by the object's kind,
//! or `Directory.*`).
//!
//! Listing takes the query options of `/users` and `/groups` (the shared query layer, the
//! same operators, the advanced ones with `ConsistencyLevel: eventual`), on the object's
//! properties and on `deletedDateTime`, which also orders (`$orderby=deletedDateTime
//! desc`); `$top` with `@odata.nextLink`, `$count`. `$expand` is refused.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use serde_json::{json, Value};
use textid_core::odata::schema;
use textid_store::{DeletedItem, DeletedKind, DeletedObject};
use textid_usecases::deleted_items;
use uuid::Uuid;

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphPath};
use super::query;
use super::users::{group_json, upn_in_use, user_full_json, user_json};
use crate::app::App;

/// The permission Graph asks for to read (`write: false`) or change an object of `kind`.
fn require(caller: &Caller, kind: DeletedKind, write: bool) -> Result<(), GraphError> {
    let (object, directory) = match (kind, write) {
        (DeletedKind::User, false) => ("User.Read.All", "Directory.Read.All"),
        (DeletedKind::User, true) => ("User.ReadWrite.All", "Directory.ReadWrite.All"),
        (DeletedKind::Group, false) => ("Group.Read.All", "Directory.Read.All"),
        (DeletedKind::Group, true) => ("Group.ReadWrite.All", "Directory.ReadWrite.All"),
    };
    caller.require_any(&[object, directory])
}

fn kind_of(item: &DeletedItem) -> DeletedKind {
    match item.object {
        DeletedObject::User(_) => DeletedKind::User,
        DeletedObject::Group(_) => DeletedKind::Group,
    }
}

/// A deleted item in Graph's shape: the object's default properties (every property, for a
/// `$select` to pick from, when `full`) and `deletedDateTime`.
fn item_json(item: &DeletedItem, full: bool) -> Value {
    let mut v = match &item.object {
        DeletedObject::User(u) if full => user_full_json(u),
        DeletedObject::User(u) => user_json(u),
        DeletedObject::Group(g) => group_json(g),
    };
    v["deletedDateTime"] = json!(item
        .deleted_at
        .to_rfc3339_opts(chrono::SecondsFormat::Secs, true));
    v
}

/// The object as restored (it is live again: no `deletedDateTime`).
fn restored_json(item: &DeletedItem) -> Value {
    match &item.object {
        DeletedObject::User(u) => user_json(u),
        DeletedObject::Group(g) => group_json(g),
    }
}

fn id_of(key: &str) -> Result<Uuid, GraphError> {
    key.parse().map_err(|_| GraphError::not_found(key))
}

async fn list(
    app: &App,
    caller: &Caller,
    kind: DeletedKind,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<Json<Value>, GraphError> {
    require(caller, kind, false)?;
    let (resource, path, default_order) = match kind {
        DeletedKind::User => (&schema::DELETED_USER, "users", "userPrincipalName"),
        DeletedKind::Group => (&schema::DELETED_GROUP, "groups", "displayName"),
    };
    if q.contains_key("$expand") {
        return Err(GraphError::bad_request(
            "$expand is not supported on deleted items: read the object after restoring it",
        ));
    }
    let c = query::collection(resource, q, headers, default_order)?;
    let tenant = &caller.tenant;
    let rows = deleted_items::query(app, tenant, kind, &c.listing()).await?;
    let count = match c.query.count {
        true => Some(deleted_items::count(app, tenant, kind, c.query.cond.as_ref()).await?),
        false => None,
    };
    let cast = match kind {
        DeletedKind::User => "microsoft.graph.user",
        DeletedKind::Group => "microsoft.graph.group",
    };
    let full = c.query.select.is_some();
    let page = c.page(
        rows,
        format!("{}/$metadata#{path}", base(app)),
        format!("{}/directory/deletedItems/{cast}", base(app)),
        count,
        |item| item_json(item, full),
        |item, order| {
            let (id, name, upn) = match &item.object {
                DeletedObject::User(u) => {
                    (u.id.0, u.display_name.clone(), u.upn.as_str().to_owned())
                }
                DeletedObject::Group(g) => (g.id.0, g.display_name.clone(), String::new()),
            };
            let key = match order {
                "deletedDateTime" => item.deleted_at.timestamp_millis().to_string(),
                "displayName" => name,
                _ => upn,
            };
            (key, id)
        },
    );
    Ok(Json(page))
}

/// `GET /v1.0/directory/deletedItems/microsoft.graph.user` (also `graph.user`, the SDKs' form).
pub async fn list_users(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    list(&app, &caller, DeletedKind::User, &headers, &q).await
}

/// `GET /v1.0/directory/deletedItems/microsoft.graph.group` (also `graph.group`).
pub async fn list_groups(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    list(&app, &caller, DeletedKind::Group, &headers, &q).await
}

/// `GET /v1.0/directory/deletedItems/{id}`
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    GraphPath(key): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    let item = deleted_items::get(&app, &caller.tenant, id_of(&key)?)
        .await
        .map_err(|_| GraphError::not_found(&key))?;
    require(&caller, kind_of(&item), false)?;
    Ok(Json(item_json(&item, false)))
}

/// `POST /v1.0/directory/deletedItems/{id}/restore` → 200 with the object; 400
/// `Request_BadRequest` (as Graph) if another user took the userPrincipalName meanwhile.
pub async fn restore(
    State(app): State<App>,
    caller: Caller,
    GraphPath(key): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    let id = id_of(&key)?;
    let item = deleted_items::get(&app, &caller.tenant, id)
        .await
        .map_err(|_| GraphError::not_found(&key))?;
    require(&caller, kind_of(&item), true)?;
    let item = deleted_items::restore(&app, &caller.tenant, id, &caller.actor())
        .await
        .map_err(upn_in_use)?;
    Ok(Json(restored_json(&item)))
}

/// `DELETE /v1.0/directory/deletedItems/{id}` → 204: deleted for good, its numbers free.
pub async fn purge(
    State(app): State<App>,
    caller: Caller,
    GraphPath(key): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    let id = id_of(&key)?;
    let item = deleted_items::get(&app, &caller.tenant, id)
        .await
        .map_err(|_| GraphError::not_found(&key))?;
    require(&caller, kind_of(&item), true)?;
    deleted_items::purge(&app, &caller.tenant, id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
