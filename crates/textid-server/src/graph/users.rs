//! `users`, `groups` and group membership, in Graph's shapes.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use textid_core::directory::{Group, Upn, User};
use textid_core::tenant::Tenant;

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson, GraphPath};
use crate::app::App;
use crate::directory as dir;

/// Graph's user.
pub fn user_json(u: &User) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.user",
        "id": u.id,
        "displayName": u.display_name,
        "userPrincipalName": u.upn,
        "accountEnabled": u.account_enabled,
        "mobilePhone": u.mobile_phone,
        "businessPhones": u.business_phones,
        "onPremisesSyncEnabled": u.on_premises_sync_enabled.then_some(true),
    })
}

fn group_json(g: &Group) -> Value {
    json!({"@odata.type": "#microsoft.graph.group", "id": g.id, "displayName": g.display_name})
}

/// A user by id or userPrincipalName, as Graph addresses them.
pub async fn resolve_user(app: &App, tenant: &Tenant, key: &str) -> Result<User, GraphError> {
    dir::find_user(app, tenant, key)
        .await
        .map_err(|_| GraphError::not_found(key))
}

async fn resolve_group(app: &App, tenant: &Tenant, key: &str) -> Result<Group, GraphError> {
    let id = key.parse().map_err(|_| GraphError::not_found(key))?;
    app.store()
        .group(tenant.id, id)
        .await?
        .ok_or_else(|| GraphError::not_found(key))
}

/// `$filter` of the form `prop eq 'value'`.
fn eq_filter(filter: &str) -> Option<(&str, &str)> {
    let (prop, rest) = filter.trim().split_once(" eq ")?;
    let value = rest.trim().strip_prefix('\'')?.strip_suffix('\'')?;
    Some((prop.trim(), value))
}

/// Graph answers a taken userPrincipalName, and a change of a synced user's source-owned
/// properties, with 400 `Request_BadRequest`.
fn upn_in_use(e: textid_usecases::DirectoryError) -> GraphError {
    match e {
        textid_usecases::DirectoryError::UpnInUse(_) => GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "Another object with the same value for property userPrincipalName already exists.",
        ),
        textid_usecases::DirectoryError::Synced(e) => {
            GraphError::new(StatusCode::BAD_REQUEST, "Request_BadRequest", e.to_string())
        }
        other => other.into(),
    }
}

/// `onPremisesSyncEnabled` in a write: read-only in Graph (set by directory sync).
fn refuse_sync_flag(v: &Option<Value>) -> Result<(), GraphError> {
    match v {
        Some(_) => Err(upn_in_use(
            textid_core::directory::synced::SyncedUserError::ReadOnly.into(),
        )),
        None => Ok(()),
    }
}

/// `GET /v1.0/users` with `$top`, `$filter` (userPrincipalName or id eq), `$skiptoken`.
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    let tenant = &caller.tenant;
    let top = match q.get("$top") {
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=999).contains(t))
            .ok_or_else(|| GraphError::bad_request("$top must be a number from 1 to 999"))?,
        None => 100,
    };
    let context = format!("{}/$metadata#users", base(&app));
    if let Some(filter) = q.get("$filter") {
        let (prop, value) = eq_filter(filter).ok_or_else(|| {
            GraphError::bad_request("$filter supports userPrincipalName eq '...' and id eq '...'")
        })?;
        let found = match prop {
            "userPrincipalName" => match Upn::parse(value) {
                Ok(upn) => app.store().user_by_upn(tenant.id, &upn).await?,
                Err(_) => None,
            },
            "id" => match value.parse() {
                Ok(id) => app.store().user(tenant.id, id).await?,
                Err(_) => None,
            },
            _ => {
                return Err(GraphError::bad_request(
                    "$filter supports userPrincipalName and id only",
                ))
            }
        };
        return Ok(Json(
            json!({"@odata.context": context, "value": found.iter().map(user_json).collect::<Vec<_>>()}),
        ));
    }
    let after = match q.get("$skiptoken") {
        Some(t) => {
            Some(Upn::parse(t).map_err(|_| GraphError::bad_request("$skiptoken is not valid"))?)
        }
        None => None,
    };
    let mut users = dir::list_users(&app, tenant, after.as_ref(), top + 1).await?;
    let more = users.len() > top as usize;
    users.truncate(top as usize);
    let mut body = json!({"@odata.context": context, "value": users.iter().map(user_json).collect::<Vec<_>>()});
    if let (true, Some(last)) = (more, users.last()) {
        let next = url::form_urlencoded::Serializer::new(String::new())
            .append_pair("$top", &top.to_string())
            .append_pair("$skiptoken", last.upn.as_str())
            .finish();
        body["@odata.nextLink"] = json!(format!("{}/users?{next}", base(&app)));
    }
    Ok(Json(body))
}

/// `GET /v1.0/users/{id | userPrincipalName}`
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let mut v = user_json(&u);
    v["@odata.context"] = json!(format!("{}/$metadata#users/$entity", base(&app)));
    Ok(Json(v))
}

/// Body of a user create.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateUser {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    mobile_phone: Option<String>,
    business_phones: Option<Vec<String>>,
    mail_nickname: Option<String>,
    password_profile: Option<Value>,
    on_premises_sync_enabled: Option<Value>,
}

/// `POST /v1.0/users`
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<CreateUser>,
) -> Result<Response, GraphError> {
    caller.require("User.ReadWrite.All")?;
    let _ = (&body.mail_nickname, &body.password_profile);
    refuse_sync_flag(&body.on_premises_sync_enabled)?;
    let upn = body
        .user_principal_name
        .ok_or_else(|| GraphError::bad_request("Property userPrincipalName is required."))?;
    let name = body
        .display_name
        .ok_or_else(|| GraphError::bad_request("Property displayName is required."))?;
    let mut user = dir::create_user(&app, &caller.tenant, &upn, &name, &caller.actor())
        .await
        .map_err(upn_in_use)?;
    if body.account_enabled == Some(false)
        || body.mobile_phone.is_some()
        || body.business_phones.is_some()
    {
        user.account_enabled = body.account_enabled.unwrap_or(true);
        user.mobile_phone = body.mobile_phone;
        user.business_phones = body.business_phones.unwrap_or_default();
        dir::update_user(&app, &user, &caller.actor()).await?;
    }
    let mut v = user_json(&user);
    v["@odata.context"] = json!(format!("{}/$metadata#users/$entity", base(&app)));
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Body of a user patch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchUser {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    mobile_phone: Option<Option<String>>,
    business_phones: Option<Vec<String>>,
    on_premises_sync_enabled: Option<Value>,
}

fn double_option<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

/// `PATCH /v1.0/users/{id}` → 204
pub async fn patch(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
    GraphJson(body): GraphJson<PatchUser>,
) -> Result<StatusCode, GraphError> {
    caller.require("User.ReadWrite.All")?;
    refuse_sync_flag(&body.on_premises_sync_enabled)?;
    let mut u = resolve_user(&app, &caller.tenant, &user).await?;
    if let Some(upn) = body.user_principal_name {
        u.upn = Upn::parse(&upn).map_err(|e| GraphError::bad_request(e.to_string()))?;
    }
    if let Some(name) = body.display_name {
        u.display_name = textid_core::directory::display_name(&name)
            .map_err(|e| GraphError::bad_request(e.to_string()))?
            .to_string();
    }
    if let Some(enabled) = body.account_enabled {
        u.account_enabled = enabled;
    }
    if let Some(mobile) = body.mobile_phone {
        u.mobile_phone = mobile;
    }
    if let Some(phones) = body.business_phones {
        u.business_phones = phones;
    }
    dir::update_user(&app, &u, &caller.actor())
        .await
        .map_err(upn_in_use)?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1.0/users/{id}` → 204
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    caller.require("User.ReadWrite.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    dir::delete_user(&app, &caller.tenant, u.id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1.0/users/{id}/revokeSignInSessions` → 200 `{"value": true}` (Graph's shape):
/// ends every API and browser session of the user and revokes every refresh-token family
/// and access token issued to them; audited. Permission as Graph: `User.RevokeSessions.All`
/// or `User.ReadWrite.All`; as for methods, only a Global Administrator may do it to a
/// person who holds a directory role.
pub async fn revoke_sign_in_sessions(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    if caller.require("User.ReadWrite.All").is_err() {
        caller.require("User.RevokeSessions.All")?;
    }
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    caller.may_change_methods_of(&app, u.id).await?;
    crate::session::revoke_user_sessions(&app, &caller.tenant, u.id, &caller.actor()).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#Edm.Boolean", base(&app)),
        "value": true,
    })))
}

/// `GET /v1.0/groups`
pub async fn list_groups(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    caller.require("Group.Read.All")?;
    let groups = app.store().list_groups(caller.tenant.id).await?;
    Ok(Json(
        json!({"@odata.context": format!("{}/$metadata#groups", base(&app)), "value": groups.iter().map(group_json).collect::<Vec<_>>()}),
    ))
}

/// `GET /v1.0/groups/{id}`
pub async fn get_group(
    State(app): State<App>,
    caller: Caller,
    GraphPath(group): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("Group.Read.All")?;
    Ok(Json(group_json(
        &resolve_group(&app, &caller.tenant, &group).await?,
    )))
}

/// Body of a group create.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateGroup {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    display_name: Option<String>,
    mail_enabled: Option<bool>,
    mail_nickname: Option<String>,
    security_enabled: Option<bool>,
    description: Option<String>,
    group_types: Option<Vec<String>>,
}

/// `POST /v1.0/groups`
pub async fn create_group(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<CreateGroup>,
) -> Result<Response, GraphError> {
    caller.require("Group.ReadWrite.All")?;
    let _ = (
        &body.mail_enabled,
        &body.mail_nickname,
        &body.security_enabled,
        &body.description,
        &body.group_types,
    );
    let name = body
        .display_name
        .ok_or_else(|| GraphError::bad_request("Property displayName is required."))?;
    let g = dir::create_group(&app, &caller.tenant, &name, &caller.actor()).await?;
    Ok((StatusCode::CREATED, Json(group_json(&g))).into_response())
}

/// `DELETE /v1.0/groups/{id}`
pub async fn delete_group(
    State(app): State<App>,
    caller: Caller,
    GraphPath(group): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    caller.require("Group.ReadWrite.All")?;
    let g = resolve_group(&app, &caller.tenant, &group).await?;
    app.store()
        .delete_group(caller.tenant.id, g.id, &caller.actor(), app.clock().now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1.0/groups/{id}/members`
pub async fn members(
    State(app): State<App>,
    caller: Caller,
    GraphPath(group): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("Group.Read.All")?;
    let g = resolve_group(&app, &caller.tenant, &group).await?;
    let users = app.store().members(caller.tenant.id, g.id).await?;
    Ok(Json(
        json!({"@odata.context": format!("{}/$metadata#directoryObjects", base(&app)), "value": users.iter().map(user_json).collect::<Vec<_>>()}),
    ))
}

/// Body of `members/$ref`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MemberRef {
    #[serde(rename = "@odata.id")]
    odata_id: String,
}

/// `POST /v1.0/groups/{id}/members/$ref` `{"@odata.id": ".../directoryObjects/{id}"}` → 204
pub async fn add_member(
    State(app): State<App>,
    caller: Caller,
    GraphPath(group): GraphPath<String>,
    GraphJson(body): GraphJson<MemberRef>,
) -> Result<StatusCode, GraphError> {
    caller.require("Group.ReadWrite.All")?;
    let g = resolve_group(&app, &caller.tenant, &group).await?;
    let member = body
        .odata_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .ok_or_else(|| GraphError::bad_request("@odata.id must end with the member's id"))?;
    let u = resolve_user(&app, &caller.tenant, member)
        .await
        .map_err(|_| GraphError::bad_request("@odata.id: no such user"))?;
    dir::add_member(&app, &caller.tenant, g.id, u.id, &caller.actor()).await.map_err(|e| match e {
        textid_usecases::DirectoryError::MemberExists => GraphError::bad_request("One or more added object references already exist for the following modified properties: 'members'."),
        other => other.into(),
    })?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1.0/groups/{id}/members/{member}/$ref` → 204
pub async fn remove_member(
    State(app): State<App>,
    caller: Caller,
    GraphPath((group, member)): GraphPath<(String, String)>,
) -> Result<StatusCode, GraphError> {
    caller.require("Group.ReadWrite.All")?;
    let g = resolve_group(&app, &caller.tenant, &group).await?;
    let u = resolve_user(&app, &caller.tenant, &member).await?;
    dir::remove_member(&app, &caller.tenant, g.id, u.id, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
