//! `/v1.0/me` and `/v1.0/me/authentication/phoneMethods`: the signed-in person's own
//! account, for apps holding the person's delegated token with Graph's self-service
//! permissions (`User.Read`, `UserAuthenticationMethod.Read`,
//! `UserAuthenticationMethod.ReadWrite`; the `.All` admin variants work too). An app's own
//! token has no "me" (Graph's 400).
//!
//! The same use cases as the admin routes and the security info page, so every rule of
//! DESIGN.md §1 answers alike. Two differences of self-service: a number an app adds or
//! changes here is unproven, so its `smsSignInState` is `notConfigured` until the user
//! proves it on their security info page (a stolen token must not plant a sign-in
//! number); and the last phone the user can sign in with cannot be removed.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson, GraphPath};
use super::methods::{parse_type, patched_number, phone_json, phone_type_of, PhoneBody};
use super::users::user_json;
use crate::app::App;
use crate::directory::{self as dir, Edit, Proof};

const READ: &[&str] = &[
    "UserAuthenticationMethod.Read",
    "UserAuthenticationMethod.Read.All",
];
const WRITE: &[&str] = &[
    "UserAuthenticationMethod.ReadWrite",
    "UserAuthenticationMethod.ReadWrite.All",
];

/// `GET /v1.0/me`
pub async fn get(State(app): State<App>, caller: Caller) -> Result<Json<Value>, GraphError> {
    let me = caller.me()?;
    caller.require_any(&["User.Read", "User.Read.All"])?;
    let user = app
        .store()
        .user(caller.tenant.id, me)
        .await?
        .ok_or_else(|| GraphError::not_found("me"))?;
    let mut body = user_json(&user);
    body["@odata.context"] = json!(format!("{}/$metadata#users/$entity", base(&app)));
    Ok(Json(body))
}

/// `GET /v1.0/me/authentication/phoneMethods`
pub async fn list_phone(State(app): State<App>, caller: Caller) -> Result<Json<Value>, GraphError> {
    let me = caller.me()?;
    caller.require_any(READ)?;
    let methods = dir::phone_methods(&app, &caller.tenant, me).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#users('{me}')/authentication/phoneMethods", base(&app)),
        "value": methods.iter().map(phone_json).collect::<Vec<_>>(),
    })))
}

/// `GET /v1.0/me/authentication/phoneMethods/{id}`
pub async fn get_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath(method): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    let me = caller.me()?;
    caller.require_any(READ)?;
    let m = dir::phone_method(&app, &caller.tenant, me, phone_type_of(&method)?)
        .await
        .map_err(|_| GraphError::not_found(&method))?;
    Ok(Json(phone_json(&m)))
}

/// `POST /v1.0/me/authentication/phoneMethods` → 201, the number `notConfigured` until
/// proven.
pub async fn create_phone(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<PhoneBody>,
) -> Result<Response, GraphError> {
    let me = caller.me()?;
    caller.require_any(WRITE)?;
    let phone_type = parse_type(body.phone_type.as_deref())?;
    let number = body
        .phone_number
        .ok_or_else(|| GraphError::bad_request("phoneNumber is required, e.g. +1 4255550101"))?;
    // An app's token is no session of the page: a change revokes every session.
    let (tenant, unproven) = (&caller.tenant, (Proof::Unproven, None));
    let m = dir::set_own_phone_number(&app, tenant, me, phone_type, &number, Edit::Add, unproven)
        .await?;
    Ok((StatusCode::CREATED, Json(phone_json(&m))).into_response())
}

/// `PATCH /v1.0/me/authentication/phoneMethods/{id}` → 204, the new number
/// `notConfigured` until proven.
pub async fn patch_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath(method): GraphPath<String>,
    GraphJson(body): GraphJson<PhoneBody>,
) -> Result<StatusCode, GraphError> {
    let me = caller.me()?;
    caller.require_any(WRITE)?;
    let phone_type = phone_type_of(&method)?;
    let number = patched_number(body, phone_type)?;
    // An app's token is no session of the page: a change revokes every session.
    let (tenant, unproven) = (&caller.tenant, (Proof::Unproven, None));
    dir::set_own_phone_number(
        &app,
        tenant,
        me,
        phone_type,
        &number,
        Edit::Change,
        unproven,
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /v1.0/me/authentication/phoneMethods/{id}` → 204; 409 `lastSignInMethod` for
/// the only phone the user can sign in with.
pub async fn delete_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath(method): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    let me = caller.me()?;
    caller.require_any(WRITE)?;
    dir::remove_own_phone_method(&app, &caller.tenant, me, phone_type_of(&method)?, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
