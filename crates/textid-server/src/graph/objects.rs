//! Graph endpoints over the directory as a whole: a user's groups (`memberOf`,
//! `transitiveMemberOf`), any object by id (`directoryObjects/{id}`), the tenant
//! (`organization`) and one authentication method of a user by id
//! (`authentication/methods/{id}`).

use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphPath};
use super::methods::{phone_json, tap_json};
use super::users::{group_json, resolve_user, user_json};
use crate::app::App;
use crate::directory as dir;

/// `GET /v1.0/users/{id}/memberOf`: the groups the user is a member of.
pub async fn member_of(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    groups_of(&app, &caller, &user).await
}

/// `GET /v1.0/users/{id}/transitiveMemberOf`: textid's groups do not nest, so the
/// transitive membership is the direct one.
pub async fn transitive_member_of(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    groups_of(&app, &caller, &user).await
}

async fn groups_of(app: &App, caller: &Caller, user: &str) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    caller.require("Group.Read.All")?;
    let u = resolve_user(app, &caller.tenant, user).await?;
    let mut value = Vec::new();
    for gid in app.store().groups_of(caller.tenant.id, u.id).await? {
        if let Some(g) = app.store().group(caller.tenant.id, gid).await? {
            value.push(group_json(&g));
        }
    }
    value.sort_by(|a, b| a["displayName"].as_str().cmp(&b["displayName"].as_str()));
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#directoryObjects", base(app)),
        "value": value,
    })))
}

/// `GET /v1.0/directoryObjects/{id}`: the user or group with this id, with its
/// `@odata.type`; reading it needs the permission to read that kind of object.
pub async fn directory_object(
    State(app): State<App>,
    caller: Caller,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    let uuid: uuid::Uuid = id.parse().map_err(|_| GraphError::not_found(&id))?;
    let tenant = caller.tenant.id;
    if let Some(u) = app.store().user(tenant, textid_core::UserId(uuid)).await? {
        caller.require("User.Read.All")?;
        let mut v = user_json(&u);
        v["@odata.context"] = json!(format!("{}/$metadata#directoryObjects/$entity", base(&app)));
        return Ok(Json(v));
    }
    if let Some(g) = app
        .store()
        .group(tenant, textid_core::GroupId(uuid))
        .await?
    {
        caller.require("Group.Read.All")?;
        let mut v = group_json(&g);
        v["@odata.context"] = json!(format!("{}/$metadata#directoryObjects/$entity", base(&app)));
        return Ok(Json(v));
    }
    Err(GraphError::not_found(&id))
}

/// `GET /v1.0/organization`: the tenant, as Graph's one-element collection.
pub async fn organization(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    let t = &caller.tenant;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#organization", base(&app)),
        "value": [{
            "@odata.type": "#microsoft.graph.organization",
            "id": t.id,
            "displayName": t.name,
            "countryLetterCode": t.default_region,
            "verifiedDomains": [],
        }],
    })))
}

/// `GET /v1.0/users/{id}/authentication/methods/{methodId}`: one method of any kind.
pub async fn method(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let phones = dir::phone_methods(&app, &caller.tenant, u.id).await?;
    let found = phones.iter().map(phone_json).find(|v| v["id"] == method);
    let found = match found {
        Some(v) => Some(v),
        None => app
            .store()
            .tap(caller.tenant.id, u.id)
            .await?
            .filter(|t| method.parse::<uuid::Uuid>().is_ok_and(|id| id == t.id))
            .map(|t| tap_json(&t, None, app.clock().now())),
    };
    found
        .map(Json)
        .ok_or_else(|| GraphError::not_found(&method))
}
