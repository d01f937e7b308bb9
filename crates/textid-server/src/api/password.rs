//! The password steps of the JSON sign-in API (issue #15):
//! `POST /{tenant}/api/v1/sign-in/password` `{userName, password, newPassword?, channel?,
//! clientId?}` → 200 `{sessionToken, userId, expiresInSeconds}` when the password is
//! enough, or 202 `{flowId, expiresInSeconds, resendAfterSeconds}` when the app or the
//! tenant requires MFA and a code went to the user's mobile (`channel`: `sms`, the
//! default, or `voice`); then `POST .../sign-in/password/verify` `{flowId, code}` → 200
//! like the SMS verify. Errors have the SMS steps' shape; a wrong password, an unknown user
//! name and a disabled account are the same 400 `invalidCredentials`.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use textid_core::code::OtpCode;
use textid_core::password::Password;
use textid_core::secret::Secret;
use textid_core::session::SessionKind;
use textid_usecases::password::{self, PasswordOutcome, PasswordSignIn};

use super::json::JsonBody;
use super::sign_in::{channel, flow_id, flow_response, session_response};
use crate::app::App;
use crate::error::ApiError;

/// Body of a password sign-in.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PasswordRequest {
    user_name: String,
    password: String,
    /// A new password to set on the way (required after an admin forced a change).
    #[serde(default)]
    new_password: Option<String>,
    /// `sms` (the default) or `voice`, for the second factor.
    #[serde(default)]
    channel: Option<String>,
    /// The app signing the user in; its registration may require MFA.
    #[serde(default)]
    client_id: Option<String>,
}

/// Body of a pass sign-in.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PassRequest {
    user_name: String,
    temporary_access_pass: String,
    /// The app signing the user in.
    #[serde(default)]
    client_id: Option<String>,
}

/// Body of a second-factor verify.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct MfaVerifyRequest {
    flow_id: String,
    code: String,
}

/// `POST /{tenant}/api/v1/sign-in/password`
pub async fn sign_in(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PasswordRequest>,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    if req.user_name.trim().is_empty() || req.user_name.len() > 256 {
        return Err(ApiError::invalid(
            "userName",
            "give the user name (name@domain.example)",
        ));
    }
    if req.password.is_empty() || req.password.chars().count() > textid_core::password::MAX_CHARS {
        return Err(ApiError::invalid(
            "password",
            "give the password (at most 256 characters)",
        ));
    }
    let new_password = req
        .new_password
        .as_deref()
        .map(Password::parse)
        .transpose()
        .map_err(|e| {
            ApiError::new(
                StatusCode::BAD_REQUEST,
                e.code(),
                format!("newPassword: {e}"),
            )
        })?;
    let channel = channel(req.channel.as_deref())?;
    let client = match req.client_id.as_deref() {
        Some(id) => Some(
            crate::oidc::clients::find(&app, &tenant, id)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid("clientId", "no enabled app has this client id")
                })?,
        ),
        None => None,
    };
    let request = PasswordSignIn {
        user_name: req.user_name,
        password: Secret::new(req.password),
        new_password,
        channel,
        client_requires_mfa: client.as_ref().is_some_and(|c| c.registration.require_mfa),
        kind: SessionKind::Api,
        requester: app.requester(addr, &headers, client.map(|c| c.client_id)),
    };
    Ok(match password::sign_in(&app, &tenant, request).await? {
        PasswordOutcome::SignedIn(session) => Json(session_response(&session)).into_response(),
        PasswordOutcome::SecondFactor(flow) => {
            (StatusCode::ACCEPTED, Json(flow_response(&app, &flow))).into_response()
        }
    })
}

/// `POST /{tenant}/api/v1/sign-in/password/verify`
pub async fn verify(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<MfaVerifyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    let flow = flow_id(&req.flow_id)?;
    let code = OtpCode::parse(&req.code, app.config().limits.code_digits)
        .map_err(|e| ApiError::invalid("code", e))?;
    let requester = app.requester(addr, &headers, None);
    let session =
        password::verify_second_factor(&app, &tenant, flow, &code, SessionKind::Api, requester)
            .await?;
    Ok(Json(session_response(&session)))
}

/// `POST /{tenant}/api/v1/sign-in/pass`: a user name and a Temporary Access Pass → 200
/// `{sessionToken, userId, expiresInSeconds}` (the session ends with the pass, if sooner);
/// a wrong, used, expired or unknown pass is 400 `invalidCredentials`.
pub async fn pass(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<PassRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    if req.user_name.trim().is_empty() || req.user_name.len() > 256 {
        return Err(ApiError::invalid(
            "userName",
            "give the user name (name@domain.example)",
        ));
    }
    if req.temporary_access_pass.is_empty() || req.temporary_access_pass.len() > 64 {
        return Err(ApiError::invalid(
            "temporaryAccessPass",
            "give the pass your administrator issued (at most 64 characters)",
        ));
    }
    let client = match req.client_id.as_deref() {
        Some(id) => Some(
            crate::oidc::clients::find(&app, &tenant, id)
                .await?
                .ok_or_else(|| {
                    ApiError::invalid("clientId", "no enabled app has this client id")
                })?,
        ),
        None => None,
    };
    let request = textid_usecases::pass::PassSignIn {
        user_name: req.user_name,
        pass: Secret::new(req.temporary_access_pass),
        kind: SessionKind::Api,
        requester: app.requester(addr, &headers, client.map(|c| c.client_id)),
    };
    let session = textid_usecases::pass::sign_in(&app, &tenant, request).await?;
    Ok(Json(session_response(&session)))
}

/// Body of a password-reset start.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetRequest {
    user_name: String,
    /// `sms` (the default) or `voice`.
    #[serde(default)]
    channel: Option<String>,
}

/// Body of a password-reset finish.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResetVerifyRequest {
    flow_id: String,
    code: String,
    new_password: String,
}

/// `POST /{tenant}/api/v1/password-reset` `{userName, channel?}` → 202 like an SMS start,
/// whatever the user name (a code goes only to a real user's mobile).
pub async fn reset_start(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ResetRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    if req.user_name.trim().is_empty() || req.user_name.len() > 256 {
        return Err(ApiError::invalid(
            "userName",
            "give the user name (name@domain.example)",
        ));
    }
    let channel = channel(req.channel.as_deref())?;
    let requester = app.requester(addr, &headers, None);
    let flow = password::start_reset(&app, &tenant, &req.user_name, channel, requester).await?;
    Ok((StatusCode::ACCEPTED, Json(flow_response(&app, &flow))))
}

/// `POST /{tenant}/api/v1/password-reset/verify` `{flowId, code, newPassword}` → 204: the
/// password is replaced, every session and refresh token of the user ends, and the user's
/// phone is told.
pub async fn reset_verify(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ResetVerifyRequest>,
) -> Result<StatusCode, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    let flow = flow_id(&req.flow_id)?;
    let code = OtpCode::parse(&req.code, app.config().limits.code_digits)
        .map_err(|e| ApiError::invalid("code", e))?;
    // Checked before the code: a weak password changes nothing and uses no try.
    let new_password = Password::parse(&req.new_password).map_err(|e| {
        ApiError::new(
            StatusCode::BAD_REQUEST,
            e.code(),
            format!("newPassword: {e}"),
        )
    })?;
    let requester = app.requester(addr, &headers, None);
    password::finish_reset(&app, &tenant, flow, &code, &new_password, requester).await?;
    Ok(StatusCode::NO_CONTENT)
}
