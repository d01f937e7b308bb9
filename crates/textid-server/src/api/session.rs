//! The API session endpoints of the sign-in API (issue #14 §1):
//! `POST /{tenant}/api/v1/session` `{"sessionToken"}` with the app's client credentials →
//! 200 `{"active": true, "userId", "expiresAt", "expiresInSeconds", "issuedAt", "amr"}` or
//! `{"active": false}` (introspection, shaped like RFC 7662), and `DELETE /{tenant}/api/v1/session` with
//! `Authorization: Bearer <sessionToken>` → 204 (sign-out, idempotent).
//!
//! Who may ask (issue #14 §1, "authenticated by the app"): the app the session was issued
//! to. An API sign-in names its app with `clientId` at verify (an OAuth client of the
//! tenant, `textid client create`); introspection authenticates that app with its client
//! credentials, as the token endpoint does (HTTP Basic, or `clientId`/`clientSecret` in
//! the body, the JSON form of `client_secret_post`), and answers `{"active": true, ...}`
//! only for a session issued to that same app. Why: a token that leaks (a log line, a
//! proxy, a browser extension) must not let whoever found it learn whose it is and how
//! long it lives, and one app must not check another app's sessions.
//!
//! - Missing or wrong credentials, a disabled or deleted app: 401 `invalidClient` with
//!   `WWW-Authenticate: Basic`, before the token is looked up.
//! - A public client (a single-page or mobile app) has no secret, so it cannot prove it
//!   is itself: it cannot introspect (401 `invalidClient`). It uses its token only with
//!   textid (sign-out); its backend, if it has one, is a confidential client.
//! - A session of another app or of no app, and an unknown, ended, revoked,
//!   foreign-tenant or browser-session token: all `{"active": false}`, with 200.
//!
//! The operator may go back to "whoever holds the token" with
//! `api_session_introspection = "token"` ([`Introspection::Token`]) for apps that do not
//! name a client yet; then the token alone is the proof, as before.
//!
//! Sign-out (`DELETE`) needs only the token: ending a session it holds is all a holder
//! can do with it, and a public client must be able to sign its user out. A browser (SSO)
//! session cookie presented here is unknown, as the API token is to the pages.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::json;
use textid_oidc::ClientType;

use super::json::JsonBody;
use crate::app::{App, Introspection};
use crate::error::ApiError;
use crate::oidc::token;
use crate::session;

/// Body of an introspection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntrospectRequest {
    session_token: String,
    /// `client_secret_post` in JSON: the app's client id ...
    #[serde(default)]
    client_id: Option<String>,
    /// ... and its secret.
    #[serde(default)]
    client_secret: Option<String>,
}

/// A token as sent: printable ASCII of a sane length (ours are 43 characters); anything
/// else cannot be a token, and is refused as malformed rather than looked up.
fn token_shape(field: &str, token: &str) -> Result<(), ApiError> {
    if token.is_empty() || token.len() > 512 || !token.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            field,
            "must be the sessionToken returned by verify",
        ));
    }
    Ok(())
}

/// `POST /{tenant}/api/v1/session`
pub async fn introspect(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    JsonBody(req): JsonBody<IntrospectRequest>,
) -> Result<Response, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    token_shape("sessionToken", &req.session_token)?;
    let asking = match app.config().api_session_introspection {
        Introspection::Token => None,
        Introspection::App => match asking_app(&app, &tenant, &headers, &req).await {
            Ok(id) => Some(id),
            Err(refused) => return Ok(refused),
        },
    };
    let found = session::introspect(&app, &tenant, &req.session_token)
        .await?
        .filter(|s| asking.is_none() || s.client_id == asking);
    let answer = match found {
        Some(s) => {
            let left = (s.expires_at - app.clock().now()).num_seconds().max(0);
            json!({
                "active": true,
                "userId": s.user_id.to_string(),
                "expiresAt": s.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "expiresInSeconds": left,
                "issuedAt": s.issued_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
                "amr": s.amr,
            })
        }
        None => json!({"active": false}),
    };
    Ok(Json(answer).into_response())
}

/// The confidential app that asks, authenticated as at the token endpoint; otherwise the
/// 401 to answer.
async fn asking_app(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    headers: &HeaderMap,
    req: &IntrospectRequest,
) -> Result<String, Response> {
    let form: HashMap<String, String> = [
        ("client_id", req.client_id.clone()),
        ("client_secret", req.client_secret.clone()),
    ]
    .into_iter()
    .filter_map(|(k, v)| v.map(|v| (k.to_string(), v)))
    .collect();
    let refuse = |message: &str| {
        let mut res =
            ApiError::new(StatusCode::UNAUTHORIZED, "invalidClient", message).into_response();
        res.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"textid\""),
        );
        res
    };
    let Ok(client) = token::authenticate(app, tenant, headers, &form).await else {
        return Err(refuse(
            "authenticate the app the session was issued to with its client_id and client_secret (HTTP Basic, or clientId and clientSecret in the body)",
        ));
    };
    if client.registration.client_type == ClientType::Public {
        return Err(refuse(
            "a public client cannot introspect sessions: it has no secret to prove it is itself; use the token only with textid, or introspect from a confidential client",
        ));
    }
    Ok(client.client_id)
}

/// `DELETE /{tenant}/api/v1/session`
pub async fn sign_out(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    let token = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.get(..7)
                .filter(|p| p.eq_ignore_ascii_case("bearer "))
                .map(|_| v[7..].trim())
        })
        .ok_or_else(|| {
            ApiError::invalid(
                "Authorization",
                "send the sessionToken as 'Authorization: Bearer <sessionToken>'",
            )
        })?;
    token_shape("Authorization", token)?;
    session::sign_out(&app, &tenant, token).await?;
    Ok(StatusCode::NO_CONTENT)
}
