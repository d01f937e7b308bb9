//! The JSON sign-in API (issue #2):
//! `POST /{tenant}/api/v1/sign-in/sms` `{phoneNumber, channel?}` → 202
//! `{flowId, expiresInSeconds, resendAfterSeconds}` (`channel`: `sms`, the default, or
//! `voice` for a call that reads the code out),
//! `POST .../verify` `{flowId, code, clientId?}` → 200 `{sessionToken, userId,
//! expiresInSeconds}` (`clientId`: the app the API session is for),
//! `POST .../resend` `{flowId, channel?}` → 202 like start.
//! The start answer has the same status and shape whether or not the number is registered.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::{Deserialize, Serialize};
use textid_core::code::OtpCode;
use textid_core::message::Channel;
use textid_core::phone::PhoneNumber;
use textid_core::session::SessionKind;
use textid_core::FlowId;

use super::json::JsonBody;
use crate::app::App;
use crate::error::ApiError;
use crate::sign_in;

/// Body of a start.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StartRequest {
    phone_number: String,
    /// `sms` (the default) or `voice`.
    #[serde(default)]
    channel: Option<String>,
}

/// Body of a verify.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct VerifyRequest {
    flow_id: String,
    code: String,
    /// The app (an OAuth client of the tenant) the session is for; only that app can
    /// introspect it (see [`super::session`]).
    #[serde(default)]
    client_id: Option<String>,
}

/// Body of a resend.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ResendRequest {
    flow_id: String,
    /// `sms` (the default) or `voice`.
    #[serde(default)]
    channel: Option<String>,
}

/// Answer to start and resend.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FlowResponse {
    flow_id: FlowId,
    expires_in_seconds: u64,
    resend_after_seconds: u64,
}

/// Answer to a successful verify.
#[derive(Debug, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionResponse {
    session_token: String,
    user_id: String,
    expires_in_seconds: u64,
}

/// The `channel` field: absent is `sms`. Whether the channel is open to the number's owner
/// is decided without telling the caller (see `sign_in::channel_refusal`).
pub(crate) fn channel(field: Option<&str>) -> Result<Channel, ApiError> {
    field.map_or(Ok(Channel::Sms), |s| {
        Channel::parse(s).ok_or_else(|| {
            ApiError::invalid("channel", "must be \"sms\" (a text) or \"voice\" (a call)")
        })
    })
}

pub(crate) fn flow_id(s: &str) -> Result<FlowId, ApiError> {
    s.parse().map_err(|_| {
        ApiError::invalid(
            "flowId",
            "must be the flowId returned by the start request (a UUID)",
        )
    })
}

/// `POST /{tenant}/api/v1/sign-in/sms`
pub async fn start(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<StartRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    let phone = PhoneNumber::parse(&req.phone_number, tenant.default_region.as_deref())
        .map_err(|e| ApiError::invalid("phoneNumber", e))?;
    if phone.extension().is_some() {
        return Err(ApiError::invalid(
            "phoneNumber",
            "a number for SMS sign-in cannot have an extension",
        ));
    }
    let channel = channel(req.channel.as_deref())?;
    let requester = app.requester(addr, &headers, None);
    let started = sign_in::start(&app, &tenant, &phone, channel, requester, None).await?;
    Ok((StatusCode::ACCEPTED, Json(flow_response(&app, &started))))
}

/// `POST /{tenant}/api/v1/sign-in/sms/verify`
pub async fn verify(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<VerifyRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    let flow = flow_id(&req.flow_id)?;
    let code = OtpCode::parse(&req.code, app.config().limits.code_digits)
        .map_err(|e| ApiError::invalid("code", e))?;
    // Checked before the code, so that a mistyped client id does not use the code up.
    let app_id = match req.client_id.as_deref() {
        Some(id) => Some(named_app(&app, &tenant, id).await?),
        None => None,
    };
    let session = sign_in::verify(
        &app,
        &tenant,
        flow,
        &code,
        SessionKind::Api,
        app.requester(addr, &headers, app_id),
    )
    .await?;
    Ok(Json(session_response(&session)))
}

/// The client id of an enabled app of the tenant named at verify. Client ids are not
/// secrets (they are in every authorization URL), so saying that one is unknown tells an
/// attacker nothing about users or numbers.
async fn named_app(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    client_id: &str,
) -> Result<String, ApiError> {
    crate::oidc::clients::find(app, tenant, client_id)
        .await?
        .map(|c| c.client_id)
        .ok_or_else(|| {
            ApiError::invalid(
                "clientId",
                "must be the client_id of an enabled app of this tenant",
            )
        })
}

/// `POST /{tenant}/api/v1/sign-in/sms/resend`
pub async fn resend(
    State(app): State<App>,
    Path(tenant): Path<String>,
    ConnectInfo(addr): ConnectInfo<SocketAddr>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<ResendRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    let flow = flow_id(&req.flow_id)?;
    let channel = channel(req.channel.as_deref())?;
    let requester = app.requester(addr, &headers, None);
    let resent = sign_in::resend(&app, &tenant, flow, channel, requester).await?;
    Ok((StatusCode::ACCEPTED, Json(flow_response(&app, &resent))))
}

pub(crate) fn flow_response(app: &App, flow: &textid_core::flow::SmsSignInFlow) -> FlowResponse {
    let now = app.clock().now();
    FlowResponse {
        flow_id: flow.id,
        expires_in_seconds: flow.expires_in_seconds(now),
        resend_after_seconds: flow.resend_after_seconds(now, &app.config().limits),
    }
}

/// The answer to a successful verify.
pub(crate) fn session_response(
    session: &textid_usecases::sign_in::IssuedSession,
) -> SessionResponse {
    SessionResponse {
        session_token: session.token.expose().clone(),
        user_id: session.user_id.to_string(),
        expires_in_seconds: session.expires_in_seconds,
    }
}
