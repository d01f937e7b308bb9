//! `users`, `groups` and group membership, in Graph's shapes.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use textid_core::directory::group::GroupProfile;
use textid_core::directory::profile;
use textid_core::directory::{Group, Upn, User};
use textid_core::odata::schema;
use textid_core::password::Password;
use textid_core::tenant::Tenant;

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson, GraphPath};
use super::expand;
use super::query;
use crate::app::App;
use crate::directory as dir;

/// Graph's user with every property textid keeps (what `$select` picks from).
pub fn user_full_json(u: &User) -> Value {
    let mut v = json!({
        "@odata.type": "#microsoft.graph.user",
        "id": u.id,
        "displayName": u.display_name,
        "userPrincipalName": u.upn,
        "accountEnabled": u.account_enabled,
        "mobilePhone": u.mobile_phone,
        "businessPhones": u.business_phones,
        "otherMails": u.profile.other_mails,
        "onPremisesSyncEnabled": u.on_premises_sync_enabled.then_some(true),
    });
    let stored = serde_json::to_value(&u.profile).unwrap_or_default();
    for p in profile::PROPERTIES {
        v[p.name] = stored.get(p.name).cloned().unwrap_or(Value::Null);
    }
    v
}

/// The properties Graph answers for a user without `$select` (Graph's default set).
const DEFAULT_USER_PROPERTIES: &[&str] = &[
    "@odata.type",
    "id",
    "displayName",
    "userPrincipalName",
    "accountEnabled",
    "mobilePhone",
    "businessPhones",
    "onPremisesSyncEnabled",
    "givenName",
    "surname",
    "jobTitle",
    "mail",
    "officeLocation",
    "preferredLanguage",
];

/// Graph's user: its default set of properties.
pub fn user_json(u: &User) -> Value {
    let full = user_full_json(u);
    let picked = DEFAULT_USER_PROPERTIES.iter().map(|k| {
        (
            (*k).to_owned(),
            full.get(*k).cloned().unwrap_or(Value::Null),
        )
    });
    Value::Object(picked.collect())
}

/// Applies the profile properties of a create or update body (`rest`: the properties
/// that are not textid's own fields): a string sets, `null` clears; anything else is
/// refused, naming the properties.
fn apply_profile(u: &mut User, rest: &serde_json::Map<String, Value>) -> Result<(), GraphError> {
    let mut unknown = Vec::new();
    for (k, v) in rest {
        if k == "otherMails" {
            let mails: Vec<String> = serde_json::from_value(v.clone())
                .map_err(|_| GraphError::bad_request("otherMails must be an array of strings"))?;
            u.profile
                .set_other_mails(&mails)
                .map_err(|e| GraphError::bad_request(e.to_string()))?;
            continue;
        }
        let value = match v {
            Value::String(s) => Some(s.as_str()),
            Value::Null => None,
            _ if profile::PROPERTIES.iter().any(|p| p.name == k) => {
                return Err(GraphError::bad_request(format!(
                    "{k} must be a string or null"
                )))
            }
            _ => None,
        };
        match u.profile.set(k, value) {
            Ok(true) => {}
            Ok(false) => unknown.push(k.as_str()),
            Err(e) => return Err(GraphError::bad_request(e.to_string())),
        }
    }
    refuse_unknown(&unknown)
}

/// Refuses a body with properties textid does not know, naming them (names, never values).
fn refuse_unknown(unknown: &[&str]) -> Result<(), GraphError> {
    if unknown.is_empty() {
        return Ok(());
    }
    // Property names, not values: a name that is not a plain identifier is not repeated.
    let named: Vec<&str> = unknown
        .iter()
        .copied()
        .filter(|k| {
            k.len() <= 64
                && k.chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '@' | '.' | '_'))
        })
        .collect();
    Err(GraphError::bad_request(if named.len() == unknown.len() {
        format!(
            "Properties textid does not know or that are read-only: {}.",
            named.join(", ")
        )
    } else {
        "The body has properties textid does not know or that are read-only.".to_owned()
    }))
}

pub(super) fn group_json(g: &Group) -> Value {
    let p = &g.profile;
    json!({
        "@odata.type": "#microsoft.graph.group",
        "id": g.id,
        "displayName": g.display_name,
        "description": p.description,
        "mailNickname": p.mail_nickname,
        "securityEnabled": p.security_enabled,
        "mailEnabled": p.mail_enabled,
        "groupTypes": p.group_types,
    })
}

/// Applies Graph's group properties of a body to `profile` (and `displayName` to `name`);
/// `null` clears a text. Anything else is refused, naming it.
fn apply_group_properties(
    body: &serde_json::Map<String, Value>,
    name: &mut Option<String>,
    profile: &mut GroupProfile,
) -> Result<(), GraphError> {
    let text = |k: &str, v: &Value| match v {
        Value::String(s) => Ok(Some(s.clone())),
        Value::Null => Ok(None),
        _ => Err(GraphError::bad_request(format!(
            "{k} must be a string or null"
        ))),
    };
    let flag = |k: &str, v: &Value| {
        v.as_bool()
            .ok_or_else(|| GraphError::bad_request(format!("{k} must be true or false")))
    };
    let mut unknown = Vec::new();
    for (k, v) in body {
        match k.as_str() {
            "@odata.type" => {}
            "displayName" => {
                *name = Some(
                    text(k, v)?
                        .ok_or_else(|| GraphError::bad_request("displayName cannot be null"))?,
                );
            }
            "description" => profile.description = text(k, v)?,
            "mailNickname" => profile.mail_nickname = text(k, v)?,
            "securityEnabled" => profile.security_enabled = flag(k, v)?,
            "mailEnabled" => profile.mail_enabled = flag(k, v)?,
            "groupTypes" => {
                profile.group_types = serde_json::from_value(v.clone()).map_err(|_| {
                    GraphError::bad_request("groupTypes must be an array of strings")
                })?;
            }
            other => unknown.push(other),
        }
    }
    refuse_unknown(&unknown)
}

/// A user by id or userPrincipalName, as Graph addresses them.
pub async fn resolve_user(app: &App, tenant: &Tenant, key: &str) -> Result<User, GraphError> {
    dir::find_user(app, tenant, key)
        .await
        .map_err(|_| GraphError::not_found(key))
}

pub(super) async fn resolve_group(
    app: &App,
    tenant: &Tenant,
    key: &str,
) -> Result<Group, GraphError> {
    let id = key.parse().map_err(|_| GraphError::not_found(key))?;
    app.store()
        .group(tenant.id, id)
        .await?
        .ok_or_else(|| GraphError::not_found(key))
}

/// Graph answers a taken userPrincipalName, and a change or delete of a synced user (its
/// source owns it), with 400 `Request_BadRequest`.
pub(super) fn upn_in_use(e: textid_usecases::DirectoryError) -> GraphError {
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

/// `GET /v1.0/users` with Graph's query options (`$filter`, `$search`, `$orderby`, `$top`,
/// `$select`, `$count`, `$skiptoken`), ordered by userPrincipalName unless `$orderby` says
/// otherwise.
pub async fn list(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    let c = query::collection(&schema::USER, &q, &headers, "userPrincipalName")?;
    let expands = expand::parse(&q, &schema::USER)?;
    let tenant = caller.tenant.id;
    let rows = app.store().query_users(tenant, &c.listing()).await?;
    let count = match c.query.count {
        true => Some(
            app.store()
                .count_users(tenant, c.query.cond.as_ref())
                .await?,
        ),
        false => None,
    };
    let mut page = c.page(
        rows,
        format!("{}/$metadata#users", base(&app)),
        format!("{}/users", base(&app)),
        count,
        if c.query.select.is_some() {
            user_full_json
        } else {
            user_json
        },
        |u, order| match order {
            "displayName" => (u.display_name.clone(), u.id.0),
            _ => (u.upn.as_str().to_owned(), u.id.0),
        },
    );
    expand::apply_to_page(&app, &caller, &expands, &mut page).await?;
    Ok(Json(page))
}

/// `GET /v1.0/users/$count`: the number of users (that `$filter`/`$search` select), as
/// plain text; like Graph, only with `ConsistencyLevel: eventual`.
pub async fn count(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    caller.require("User.Read.All")?;
    let cond = count_cond(&schema::USER, &q, &headers)?;
    let n = app
        .store()
        .count_users(caller.tenant.id, cond.as_ref())
        .await?;
    Ok(plain_count(n))
}

/// The condition of a `/$count` request: `$filter` and `$search` as on the collection,
/// with the advanced operators allowed (a count is an advanced query).
fn count_cond(
    resource: &'static textid_core::odata::schema::Resource,
    q: &HashMap<String, String>,
    headers: &HeaderMap,
) -> Result<Option<textid_store::Cond>, GraphError> {
    if !query::eventual(headers) {
        return Err(GraphError::new(
            StatusCode::BAD_REQUEST,
            "Request_BadRequest",
            "$count is supported on directory objects only with the header ConsistencyLevel: eventual",
        ));
    }
    let mut q = q.clone();
    q.insert("$count".into(), "true".into());
    q.remove("$orderby");
    Ok(query::collection(resource, &q, headers, "displayName")?
        .query
        .cond)
}

fn plain_count(n: u64) -> Response {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; charset=utf-8",
        )],
        n.to_string(),
    )
        .into_response()
}

/// `GET /v1.0/users/{id | userPrincipalName}`
pub async fn get(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    let expands = expand::parse(&q, &schema::USER)?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let mut v = match q.get("$select") {
        Some(select) => {
            let o = textid_core::odata::query::Options {
                select: Some(select),
                ..Default::default()
            };
            let checked = textid_core::odata::query::check(&schema::USER, o, "userPrincipalName")?;
            let full = user_full_json(&u);
            let picked = std::iter::once("id")
                .chain(checked.select.unwrap_or_default())
                .map(|k| (k.to_owned(), full.get(k).cloned().unwrap_or(Value::Null)));
            Value::Object(picked.collect())
        }
        None => user_json(&u),
    };
    expand::apply(&app, &caller, &expands, std::slice::from_mut(&mut v)).await?;
    v["@odata.context"] = json!(format!("{}/$metadata#users/$entity", base(&app)));
    Ok(Json(v))
}

/// Body of a user create: textid's own fields, and Graph's profile properties in `rest`
/// (anything else is refused by `apply_profile`, naming it).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CreateUser {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    mobile_phone: Option<String>,
    business_phones: Option<Vec<String>>,
    password_profile: Option<PasswordProfile>,
    on_premises_sync_enabled: Option<Value>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
}

/// Graph's `passwordProfile` (issue #15): write-only; reads give no password back.
/// `forceChangePasswordNextSignInWithMfa` is accepted for scripts written for Entra and
/// changes nothing more: the second factor follows the app's and tenant's MFA settings.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordProfile {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    password: Option<String>,
    #[serde(default)]
    force_change_password_next_sign_in: bool,
    #[serde(default, rename = "forceChangePasswordNextSignInWithMfa")]
    _with_mfa: Option<bool>,
}

impl PasswordProfile {
    /// The password it sets and whether it must be changed; a missing or weak password
    /// is a 400 that changes nothing.
    fn parse(&self) -> Result<(Password, bool), GraphError> {
        let pw = self.password.as_deref().ok_or_else(|| {
            GraphError::bad_request("Property passwordProfile.password is required.")
        })?;
        let pw = Password::parse(pw).map_err(|e| {
            GraphError::bad_request(format!(
                "The specified password does not comply with password complexity requirements: {e}."
            ))
        })?;
        Ok((pw, self.force_change_password_next_sign_in))
    }
}

async fn set_password(
    app: &App,
    caller: &Caller,
    user: textid_core::UserId,
    (pw, force): (Password, bool),
) -> Result<(), GraphError> {
    textid_usecases::password::set_by_admin(
        app,
        &caller.tenant,
        user,
        Some(&pw),
        force,
        &caller.actor(),
    )
    .await
    .map_err(|e| GraphError::from(crate::error::ApiError::from(e)))
}

/// `POST /v1.0/users`
pub async fn create(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<CreateUser>,
) -> Result<Response, GraphError> {
    caller.require("User.ReadWrite.All")?;
    let password = body
        .password_profile
        .as_ref()
        .map(PasswordProfile::parse)
        .transpose()?;
    refuse_sync_flag(&body.on_premises_sync_enabled)?;
    let upn = body
        .user_principal_name
        .ok_or_else(|| GraphError::bad_request("Property userPrincipalName is required."))?;
    let name = body
        .display_name
        .ok_or_else(|| GraphError::bad_request("Property displayName is required."))?;
    // The profile is checked before anything is created: bad input changes nothing.
    let mut scratch = textid_core::directory::User {
        id: textid_core::UserId(uuid::Uuid::nil()),
        tenant_id: caller.tenant.id,
        upn: Upn::stored(String::new()),
        display_name: String::new(),
        account_enabled: true,
        mobile_phone: None,
        business_phones: Vec::new(),
        on_premises_sync_enabled: false,
        profile: Default::default(),
    };
    apply_profile(&mut scratch, &body.rest)?;
    let mut user = dir::create_user(&app, &caller.tenant, &upn, &name, &caller.actor())
        .await
        .map_err(upn_in_use)?;
    if body.account_enabled == Some(false)
        || body.mobile_phone.is_some()
        || body.business_phones.is_some()
        || scratch.profile != user.profile
    {
        user.account_enabled = body.account_enabled.unwrap_or(true);
        user.mobile_phone = body.mobile_phone;
        user.business_phones = body.business_phones.unwrap_or_default();
        user.profile = scratch.profile;
        dir::update_user(&app, &user, &caller.actor()).await?;
    }
    if let Some(password) = password {
        set_password(&app, &caller, user.id, password).await?;
    }
    let mut v = user_json(&user);
    v["@odata.context"] = json!(format!("{}/$metadata#users/$entity", base(&app)));
    Ok((StatusCode::CREATED, Json(v)).into_response())
}

/// Body of a user patch: textid's own fields, and Graph's profile properties in `rest`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PatchUser {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    user_principal_name: Option<String>,
    display_name: Option<String>,
    account_enabled: Option<bool>,
    #[serde(default, deserialize_with = "double_option")]
    mobile_phone: Option<Option<String>>,
    business_phones: Option<Vec<String>>,
    password_profile: Option<PasswordProfile>,
    on_premises_sync_enabled: Option<Value>,
    #[serde(flatten)]
    rest: serde_json::Map<String, Value>,
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
    let password = body
        .password_profile
        .as_ref()
        .map(PasswordProfile::parse)
        .transpose()?;
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
    apply_profile(&mut u, &body.rest)?;
    dir::update_user(&app, &u, &caller.actor())
        .await
        .map_err(upn_in_use)?;
    if let Some(password) = password {
        set_password(&app, &caller, u.id, password).await?;
    }
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1.0/users/{id}` → 204; a synced user → 400 (it is deleted at its source).
pub async fn delete(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    caller.require("User.ReadWrite.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    dir::delete_user(&app, &caller.tenant, u.id, &caller.actor())
        .await
        .map_err(upn_in_use)?;
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

/// `GET /v1.0/groups` with Graph's query options, ordered by displayName.
pub async fn list_groups(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("Group.Read.All")?;
    let c = query::collection(&schema::GROUP, &q, &headers, "displayName")?;
    let expands = expand::parse(&q, &schema::GROUP)?;
    let tenant = caller.tenant.id;
    let rows = app.store().query_groups(tenant, &c.listing()).await?;
    let count = match c.query.count {
        true => Some(
            app.store()
                .count_groups(tenant, c.query.cond.as_ref())
                .await?,
        ),
        false => None,
    };
    let mut page = c.page(
        rows,
        format!("{}/$metadata#groups", base(&app)),
        format!("{}/groups", base(&app)),
        count,
        group_json,
        |g, _| (g.display_name.clone(), g.id.0),
    );
    expand::apply_to_page(&app, &caller, &expands, &mut page).await?;
    Ok(Json(page))
}

/// `GET /v1.0/groups/$count`, as plain text (with `ConsistencyLevel: eventual`).
pub async fn count_groups(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, GraphError> {
    caller.require("Group.Read.All")?;
    let cond = count_cond(&schema::GROUP, &q, &headers)?;
    let n = app
        .store()
        .count_groups(caller.tenant.id, cond.as_ref())
        .await?;
    Ok(plain_count(n))
}

/// `GET /v1.0/groups/{id}` (with `$select`, `$expand=members`)
pub async fn get_group(
    State(app): State<App>,
    caller: Caller,
    GraphPath(group): GraphPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("Group.Read.All")?;
    let expands = expand::parse(&q, &schema::GROUP)?;
    let g = resolve_group(&app, &caller.tenant, &group).await?;
    let mut v = group_json(&g);
    if let Some(select) = q.get("$select") {
        let o = textid_core::odata::query::Options {
            select: Some(select),
            ..Default::default()
        };
        let checked = textid_core::odata::query::check(&schema::GROUP, o, "displayName")?;
        let picked = std::iter::once("id")
            .chain(checked.select.unwrap_or_default())
            .map(|k| (k.to_owned(), v.get(k).cloned().unwrap_or(Value::Null)));
        v = Value::Object(picked.collect());
    }
    expand::apply(&app, &caller, &expands, std::slice::from_mut(&mut v)).await?;
    Ok(Json(v))
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
    /// Graph's way to add members at creation: `directoryObjects/{id}` URLs.
    #[serde(rename = "members@odata.bind")]
    members_bind: Option<Vec<String>>,
}

/// The user a `directoryObjects/{id}` (or `users/{id}`) URL names.
async fn bound_user(app: &App, tenant: &Tenant, url: &str) -> Result<User, GraphError> {
    let id = url
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .ok_or_else(|| GraphError::bad_request("@odata.id must end with the member's id"))?;
    resolve_user(app, tenant, id).await.map_err(|_| {
        GraphError::bad_request(
            "members@odata.bind names an object that is not a user of the tenant",
        )
    })
}

/// `POST /v1.0/groups`
pub async fn create_group(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<CreateGroup>,
) -> Result<Response, GraphError> {
    caller.require("Group.ReadWrite.All")?;
    let defaults = GroupProfile::default();
    let profile = GroupProfile {
        description: body.description,
        mail_nickname: body.mail_nickname,
        security_enabled: body.security_enabled.unwrap_or(defaults.security_enabled),
        mail_enabled: body.mail_enabled.unwrap_or(defaults.mail_enabled),
        group_types: body.group_types.unwrap_or_default(),
    };
    let name = body
        .display_name
        .ok_or_else(|| GraphError::bad_request("Property displayName is required."))?;
    // Every bound member is resolved before anything is created: a bad one changes nothing.
    let mut members = Vec::new();
    for url in body.members_bind.iter().flatten() {
        let u = bound_user(&app, &caller.tenant, url).await?;
        if !members.contains(&u.id) {
            members.push(u.id);
        }
    }
    if members.len() > 20 {
        return Err(GraphError::bad_request(
            "members@odata.bind takes at most 20 members; add more with members/$ref",
        ));
    }
    let g = dir::create_group_with(&app, &caller.tenant, &name, profile, &caller.actor()).await?;
    for uid in members {
        dir::add_member(&app, &caller.tenant, g.id, uid, &caller.actor()).await?;
    }
    Ok((StatusCode::CREATED, Json(group_json(&g))).into_response())
}

/// `PATCH /v1.0/groups/{id}` → 204: `displayName` and Graph's other group properties.
pub async fn patch_group(
    State(app): State<App>,
    caller: Caller,
    GraphPath(group): GraphPath<String>,
    GraphJson(body): GraphJson<serde_json::Map<String, Value>>,
) -> Result<StatusCode, GraphError> {
    caller.require("Group.ReadWrite.All")?;
    let g = resolve_group(&app, &caller.tenant, &group).await?;
    let (mut name, mut profile) = (None, g.profile.clone());
    apply_group_properties(&body, &mut name, &mut profile)?;
    dir::update_group(
        &app,
        &caller.tenant,
        g.id,
        name.as_deref(),
        profile,
        &caller.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
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
    let u = bound_user(&app, &caller.tenant, &body.odata_id).await?;
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
