//! The API session endpoints of the sign-in API (issue #14 §1):
//! `POST /{tenant}/api/v1/session` `{"sessionToken"}` → 200 `{"active": true, "userId",
//! "expiresAt", "expiresInSeconds", "issuedAt", "amr"}` or `{"active": false}`
//! (introspection, shaped like RFC 7662), and `DELETE /{tenant}/api/v1/session` with
//! `Authorization: Bearer <sessionToken>` → 204 (sign-out, idempotent).
//!
//! Who may ask: whoever holds the token. The token is a 256-bit bearer credential that
//! the app received from verify; asking about it proves nothing the token does not
//! already prove, and a guess of a live token is as hopeless as guessing the token
//! itself. So the answer never distinguishes an unknown, ended, revoked, foreign-tenant
//! or browser-session token: all are `{"active": false}`, with 200. A browser (SSO)
//! session cookie presented here is unknown, as the API token is to the pages.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::json;

use super::json::JsonBody;
use crate::app::App;
use crate::error::ApiError;
use crate::session;

/// Body of an introspection.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct IntrospectRequest {
    session_token: String,
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
    JsonBody(req): JsonBody<IntrospectRequest>,
) -> Result<impl IntoResponse, ApiError> {
    let tenant = app.tenant(&tenant).await?;
    token_shape("sessionToken", &req.session_token)?;
    let answer = match session::introspect(&app, &tenant, &req.session_token).await? {
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
    Ok(Json(answer))
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
