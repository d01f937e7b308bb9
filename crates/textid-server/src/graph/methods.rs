//! `users/{id}/authentication/...`: phone methods (with `smsSignInState`), enable and
//! disable SMS sign-in, every method, and Temporary Access Passes.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{json, Value};
use textid_core::methods::PhoneType;
use textid_core::tap::PassRequest;
use textid_store::TapRecord;
use textid_usecases::{passes, DirectoryError};

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson, GraphPath};
use super::users::resolve_user;
use crate::app::App;
use crate::directory::{self as dir, PhoneMethodView};

pub(super) fn phone_json(m: &PhoneMethodView) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.phoneAuthenticationMethod",
        "id": m.method.phone_type.method_id(),
        "phoneNumber": m.method.number.to_string(),
        "phoneType": m.method.phone_type,
        "smsSignInState": m.sms_sign_in_state,
    })
}

pub(super) fn phone_type_of(method: &str) -> Result<PhoneType, GraphError> {
    method
        .parse()
        .ok()
        .and_then(PhoneType::from_method_id)
        .ok_or_else(|| GraphError::not_found(method))
}

/// `GET .../phoneMethods`
pub async fn list_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let methods = dir::phone_methods(&app, &caller.tenant, u.id).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#users('{}')/authentication/phoneMethods", base(&app), u.id),
        "value": methods.iter().map(phone_json).collect::<Vec<_>>(),
    })))
}

/// `GET .../phoneMethods/{id}`
pub async fn get_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let m = dir::phone_method(&app, &caller.tenant, u.id, phone_type_of(&method)?)
        .await
        .map_err(|_| GraphError::not_found(&method))?;
    Ok(Json(phone_json(&m)))
}

/// Body of a phone method create or patch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PhoneBody {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    pub(super) phone_number: Option<String>,
    pub(super) phone_type: Option<String>,
}

pub(super) fn parse_type(s: Option<&str>) -> Result<PhoneType, GraphError> {
    let s = s.ok_or_else(|| {
        GraphError::bad_request("phoneType is required: mobile, alternateMobile or office")
    })?;
    s.parse()
        .map_err(|e: textid_core::methods::UnknownPhoneType| GraphError::bad_request(e.to_string()))
}

/// The new number of a PATCH; the type never changes (delete and add instead).
pub(super) fn patched_number(body: PhoneBody, phone_type: PhoneType) -> Result<String, GraphError> {
    if let Some(t) = body.phone_type.as_deref() {
        if parse_type(Some(t))? != phone_type {
            return Err(GraphError::bad_request(
                "phoneType cannot be changed; delete the method and add a new one",
            ));
        }
    }
    body.phone_number
        .ok_or_else(|| GraphError::bad_request("phoneNumber is required"))
}

/// `POST .../phoneMethods` → 201
pub async fn create_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
    GraphJson(body): GraphJson<PhoneBody>,
) -> Result<Response, GraphError> {
    let u = caller.target_for_method_change(&app, &user).await?;
    let phone_type = parse_type(body.phone_type.as_deref())?;
    let number = body
        .phone_number
        .ok_or_else(|| GraphError::bad_request("phoneNumber is required, e.g. +1 4255550101"))?;
    let m = dir::add_phone_method(
        &app,
        &caller.tenant,
        u.id,
        phone_type,
        &number,
        &caller.actor(),
    )
    .await?;
    Ok((StatusCode::CREATED, Json(phone_json(&m))).into_response())
}

/// `PATCH .../phoneMethods/{id}` → 204 (the type never changes: delete and add instead)
pub async fn patch_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
    GraphJson(body): GraphJson<PhoneBody>,
) -> Result<StatusCode, GraphError> {
    let u = caller.target_for_method_change(&app, &user).await?;
    let phone_type = phone_type_of(&method)?;
    let number = patched_number(body, phone_type)?;
    dir::update_phone_method(
        &app,
        &caller.tenant,
        u.id,
        phone_type,
        &number,
        &caller.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE .../phoneMethods/{id}` → 204
pub async fn delete_phone(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let u = caller.target_for_method_change(&app, &user).await?;
    dir::delete_phone_method(
        &app,
        &caller.tenant,
        u.id,
        phone_type_of(&method)?,
        &caller.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn set_sms_sign_in(
    app: &App,
    caller: &Caller,
    user: &str,
    method: &str,
    enabled: bool,
) -> Result<StatusCode, GraphError> {
    let u = caller.target_for_method_change(app, user).await?;
    dir::set_sms_sign_in(
        app,
        &caller.tenant,
        u.id,
        phone_type_of(method)?,
        enabled,
        &caller.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST .../phoneMethods/{id}/enableSmsSignIn` → 204
pub async fn enable_sms_sign_in(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<StatusCode, GraphError> {
    set_sms_sign_in(&app, &caller, &user, &method, true).await
}

/// `POST .../phoneMethods/{id}/disableSmsSignIn` → 204
pub async fn disable_sms_sign_in(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<StatusCode, GraphError> {
    set_sms_sign_in(&app, &caller, &user, &method, false).await
}

pub(super) fn tap_json(t: &TapRecord, pass: Option<&str>, now: DateTime<Utc>) -> Value {
    let usability = t.usability(now);
    let (usable, reason) = (usability.is_usable(), usability.reason());
    let mut v = json!({
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethod",
        "id": t.id,
        "temporaryAccessPass": pass,
        "createdDateTime": t.created_at,
        "startDateTime": t.start_at,
        "lifetimeInMinutes": t.lifetime_minutes,
        "isUsableOnce": t.is_usable_once,
        "isUsable": usable,
        "methodUsabilityReason": reason,
    });
    if pass.is_none() {
        v["temporaryAccessPass"] = Value::Null;
    }
    v
}

/// `GET .../authentication/methods`: every method with its `@odata.type`.
pub async fn all_methods(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let mut value: Vec<Value> = dir::phone_methods(&app, &caller.tenant, u.id)
        .await?
        .iter()
        .map(phone_json)
        .collect();
    if let Some(t) = app.store().tap(caller.tenant.id, u.id).await? {
        value.push(tap_json(&t, None, app.clock().now()));
    }
    Ok(Json(
        json!({"@odata.context": format!("{}/$metadata#users('{}')/authentication/methods", base(&app), u.id), "value": value}),
    ))
}

/// `GET .../temporaryAccessPassMethods`
pub async fn list_tap(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let now = app.clock().now();
    let value: Vec<Value> = app
        .store()
        .tap(caller.tenant.id, u.id)
        .await?
        .iter()
        .map(|t| tap_json(t, None, now))
        .collect();
    Ok(Json(
        json!({"@odata.context": format!("{}/$metadata#users('{}')/authentication/temporaryAccessPassMethods", base(&app), u.id), "value": value}),
    ))
}

/// `GET .../temporaryAccessPassMethods/{id}`
pub async fn get_tap(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let t = app
        .store()
        .tap(caller.tenant.id, u.id)
        .await?
        .filter(|t| method.parse::<uuid::Uuid>().is_ok_and(|id| id == t.id))
        .ok_or_else(|| GraphError::not_found(&method))?;
    Ok(Json(tap_json(&t, None, app.clock().now())))
}

/// Body of a pass create.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct CreateTap {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    start_date_time: Option<DateTime<Utc>>,
    lifetime_in_minutes: Option<u32>,
    is_usable_once: Option<bool>,
}

/// `POST .../temporaryAccessPassMethods` → 201 with the pass (shown only here).
pub async fn create_tap(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
    GraphJson(body): GraphJson<CreateTap>,
) -> Result<Response, GraphError> {
    let u = caller.target_for_method_change(&app, &user).await?;
    let request = PassRequest {
        start: body.start_date_time,
        lifetime_minutes: body.lifetime_in_minutes,
        is_usable_once: body.is_usable_once,
    };
    let issued = passes::create_pass(app.cx(), &caller.tenant, u.id, request, &caller.actor())
        .await
        .map_err(|e| match e {
            // Graph answers every refused pass with `badRequest` and the reason.
            DirectoryError::Pass(p) => GraphError::bad_request(p.to_string()),
            other => other.into(),
        })?;
    let now = issued.record.created_at;
    Ok((
        StatusCode::CREATED,
        Json(tap_json(&issued.record, Some(issued.pass.expose()), now)),
    )
        .into_response())
}

/// `DELETE .../temporaryAccessPassMethods/{id}` → 204
pub async fn delete_tap(
    State(app): State<App>,
    caller: Caller,
    GraphPath((user, method)): GraphPath<(String, String)>,
) -> Result<StatusCode, GraphError> {
    let u = caller.target_for_method_change(&app, &user).await?;
    let id = method.parse().map_err(|_| GraphError::not_found(&method))?;
    if app
        .store()
        .delete_tap(
            caller.tenant.id,
            u.id,
            id,
            &caller.actor(),
            app.clock().now(),
        )
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(GraphError::not_found(&method))
    }
}
