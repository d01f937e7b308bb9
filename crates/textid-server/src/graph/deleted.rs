//! `/directory/deletedItems` (issue #17): users and groups deleted through any surface, as
//! Graph shows them (the object's properties and `deletedDateTime`), restorable for 30
//! days or deleted for good. The rules are the use cases' (`textid_usecases::deleted_items`);
//! here are Graph's shapes and permissions (`User.*` or `Group.*` by the object's kind,
//! or `Directory.*`).
//!
//! Paging: `$top` (1..=999, default 100) and an opaque `$skiptoken` (base64url of the last
//! id); other query options are refused with a 400 that says so, rather than ignored.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use serde_json::{json, Value};
use textid_store::{DeletedItem, DeletedKind, DeletedObject};
use textid_usecases::deleted_items;
use uuid::Uuid;

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphPath};
use super::users::{group_json, upn_in_use, user_json};
use crate::app::App;

const DEFAULT_TOP: u32 = 100;
const MAX_TOP: u32 = 999;

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

/// A deleted item in Graph's shape: the object's default properties and `deletedDateTime`.
fn item_json(item: &DeletedItem) -> Value {
    let mut v = match &item.object {
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

/// `$top` and `$skiptoken`; anything else is refused.
fn paging(q: &HashMap<String, String>) -> Result<(u32, Option<Uuid>), GraphError> {
    if let Some(other) = q.keys().find(|k| *k != "$top" && *k != "$skiptoken") {
        return Err(GraphError::bad_request(format!(
            "Query option {other} is not supported on deletedItems: textid pages them by id with $top and $skiptoken only."
        )));
    }
    let top = match q.get("$top") {
        None => DEFAULT_TOP,
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=MAX_TOP).contains(t))
            .ok_or_else(|| {
                GraphError::bad_request(format!("$top must be a whole number from 1 to {MAX_TOP}"))
            })?,
    };
    let after = match q.get("$skiptoken") {
        None => None,
        Some(t) => Some(
            URL_SAFE_NO_PAD
                .decode(t)
                .ok()
                .and_then(|b| Uuid::from_slice(&b).ok())
                .ok_or_else(|| {
                    GraphError::bad_request(
                        "$skiptoken is not valid: use the @odata.nextLink of the previous page as it is",
                    )
                })?,
        ),
    };
    Ok((top, after))
}

async fn list(
    app: &App,
    caller: &Caller,
    kind: DeletedKind,
    q: &HashMap<String, String>,
) -> Result<Json<Value>, GraphError> {
    require(caller, kind, false)?;
    let (top, after) = paging(q)?;
    let mut items = deleted_items::list(app, &caller.tenant, kind, after, top + 1).await?;
    let more = items.len() > top as usize;
    items.truncate(top as usize);
    let cast = match kind {
        DeletedKind::User => "microsoft.graph.user",
        DeletedKind::Group => "microsoft.graph.group",
    };
    let mut page = json!({
        "@odata.context": format!("{}/$metadata#{}", base(app), match kind {
            DeletedKind::User => "users",
            DeletedKind::Group => "groups",
        }),
        "value": items.iter().map(item_json).collect::<Vec<_>>(),
    });
    if let (true, Some(last)) = (more, items.last()) {
        let id = match &last.object {
            DeletedObject::User(u) => u.id.0,
            DeletedObject::Group(g) => g.id.0,
        };
        page["@odata.nextLink"] = json!(format!(
            "{}/directory/deletedItems/{cast}?$top={top}&$skiptoken={}",
            base(app),
            URL_SAFE_NO_PAD.encode(id.as_bytes())
        ));
    }
    Ok(Json(page))
}

/// `GET /v1.0/directory/deletedItems/microsoft.graph.user` (also `graph.user`, the SDKs' form).
pub async fn list_users(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    list(&app, &caller, DeletedKind::User, &q).await
}

/// `GET /v1.0/directory/deletedItems/microsoft.graph.group` (also `graph.group`).
pub async fn list_groups(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    list(&app, &caller, DeletedKind::Group, &q).await
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
    Ok(Json(item_json(&item)))
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
