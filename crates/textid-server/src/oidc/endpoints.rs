//! Discovery, JWKS, userinfo, RP-initiated logout and token revocation (RFC 7009).

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};
use textid_oidc::token::{self, AccessTokenClaims, Expected, IdTokenClaims, TokenType};
use textid_oidc::{discovery, Algorithm};

use super::authorize::{browser_session, see_other, with_query};
use super::bearer_token;
use super::token::{authenticate, parse_form, OAuthFailure};
use super::{api_audience, clients, https, issuer, session_cookie_name, set_cookie, tenant_base};
use crate::app::App;
use crate::pages;

fn json_cached(v: Value, max_age: u32) -> Response {
    let cache = format!("public, max-age={max_age}");
    ([(header::CACHE_CONTROL, cache)], Json(v)).into_response()
}

/// `GET {issuer}/.well-known/openid-configuration`
pub async fn discovery(State(app): State<App>, Path(tenant): Path<String>) -> Response {
    match app.tenant(&tenant).await {
        Ok(t) => {
            let doc = discovery::discovery_document(
                &issuer(&app, &t),
                &tenant_base(&app, &t),
                &Algorithm::ALL,
            );
            json_cached(doc, 300)
        }
        Err(e) => e.into_response(),
    }
}

/// `GET /{tenant}/discovery/v2.0/keys`
pub async fn jwks(State(app): State<App>, Path(tenant): Path<String>) -> Response {
    if let Err(e) = app.tenant(&tenant).await {
        return e.into_response();
    }
    match app.oidc() {
        Ok(o) => json_cached(o.keys().jwks(), 300),
        Err(e) => e.into_response(),
    }
}

fn bearer_error(description: &str) -> Response {
    let value = format!("Bearer error=\"invalid_token\", error_description=\"{description}\"");
    let mut res = (
        StatusCode::UNAUTHORIZED,
        Json(json!({"error": "invalid_token", "error_description": description})),
    )
        .into_response();
    if let Ok(v) = HeaderValue::from_str(&value) {
        res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
    }
    res
}

/// Verifies a bearer access token issued by this tenant; returns its claims and its
/// client as registered now. Refused: a revoked token or family (RFC 7009; a user whose
/// sessions were revoked, issue #14 §4), and a token whose client was deleted or disabled
/// since (issue #14 §4: refused at once, not at expiry).
pub async fn verify_access_token(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    headers: &HeaderMap,
) -> Result<(AccessTokenClaims, clients::Client), &'static str> {
    let auth = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("a bearer access token is required")?;
    let token = bearer_token(auth).ok_or("a bearer access token is required")?;
    let oidc = app.oidc().map_err(|_| "the token cannot be checked")?;
    let iss = issuer(app, tenant);
    let aud = api_audience(app);
    let expected = Expected {
        issuer: &iss,
        audience: Some(&aud),
        typ: TokenType::AccessToken,
    };
    let claims: AccessTokenClaims = token::verify(
        token,
        oidc.keys().verification_keys(),
        &expected,
        app.clock().now(),
    )
    .map_err(|_| "the access token is invalid or expired")?;
    if app
        .store()
        .access_token_revoked(&claims.jti)
        .await
        .unwrap_or(true)
    {
        return Err("the access token was revoked");
    }
    let client = clients::find(app, tenant, &claims.client_id)
        .await
        .map_err(|_| "the token cannot be checked")?
        .ok_or("the application of the access token is disabled or no longer exists")?;
    Ok((claims, client))
}

/// `GET|POST /{tenant}/oauth2/v2.0/userinfo`
pub async fn userinfo(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
) -> Response {
    // RFC 6750 §3.1: a request without any authentication gets the bare challenge, no
    // error code.
    if !headers.contains_key(header::AUTHORIZATION) {
        return (
            StatusCode::UNAUTHORIZED,
            [
                (header::WWW_AUTHENTICATE, "Bearer"),
                (header::CACHE_CONTROL, "no-store"),
            ],
        )
            .into_response();
    }
    let Ok(tenant) = app.tenant(&tenant).await else {
        return bearer_error("unknown tenant");
    };
    let (claims, client) = match verify_access_token(&app, &tenant, &headers).await {
        Ok(c) => c,
        Err(e) => return bearer_error(e),
    };
    let res = match user_info(&app, &tenant, &claims).await {
        Ok(info) => ([(header::CACHE_CONTROL, "no-store")], Json(info)).into_response(),
        Err(e) => bearer_error(e),
    };
    crate::cors::for_client(res, Some(&client))
}

/// The claims userinfo answers for a verified access token.
async fn user_info(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    claims: &AccessTokenClaims,
) -> Result<Value, &'static str> {
    let scopes: Vec<&str> = claims.scp.as_deref().unwrap_or("").split(' ').collect();
    if !scopes.contains(&"openid") {
        return Err("the access token was not issued for openid");
    }
    let user = match claims.sub.parse().ok() {
        Some(id) => app
            .store()
            .user(tenant.id, id)
            .await
            .ok()
            .flatten()
            .filter(|u| u.account_enabled),
        None => None,
    };
    let Some(user) = user else {
        return Err("the user no longer exists or is disabled");
    };
    let mut info = json!({"sub": user.id, "tid": tenant.id});
    if scopes.contains(&"profile") {
        info["name"] = json!(user.display_name);
        info["preferred_username"] = json!(user.upn);
    }
    if scopes.contains(&"phone") {
        if let Some(phone) = super::authorize::mobile_number(app, tenant, user.id).await {
            info["phone_number"] = json!(phone);
            info["phone_number_verified"] = json!(true);
        }
    }
    Ok(info)
}

/// `GET|POST /{tenant}/oauth2/v2.0/logout` (OpenID Connect RP-Initiated Logout 1.0).
pub async fn logout(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    body: axum::body::Bytes,
) -> Response {
    let mut params = query;
    if !body.is_empty() {
        if let Ok(form) = parse_form(&headers, &body) {
            params.extend(form);
        }
    }
    let Ok(tenant) = app.tenant(&tenant).await else {
        return pages::message(
            StatusCode::NOT_FOUND,
            "error.title",
            "There is no such organisation here.",
            https(&app),
        );
    };
    let hint = params
        .get("id_token_hint")
        .and_then(|hint| id_token_claims(&app, &tenant, hint));
    // RP-Initiated Logout 1.0 §2: with both, the client must be the audience of the ID
    // token, or one app could sign the user out and send them to another app's URI.
    if let (Some(h), Some(id)) = (&hint, params.get("client_id")) {
        if &h.aud != id {
            return pages::message(
                StatusCode::BAD_REQUEST,
                "error.title",
                "The sign-out request names an app (client_id) that the ID token (id_token_hint) was not issued to.",
                https(&app),
            );
        }
    }
    let client_id = params
        .get("client_id")
        .cloned()
        .or(hint.as_ref().map(|h| h.aud.clone()));
    let target = match params.get("post_logout_redirect_uri") {
        None => None,
        Some(uri) => {
            let client = match client_id.as_deref() {
                Some(id) => clients::find(&app, &tenant, id).await.ok().flatten(),
                None => None,
            };
            match client {
                Some(c) if c.registration.post_logout_redirect_uris.iter().any(|r| r == uri) => Some(uri.clone()),
                _ => {
                    return pages::message(
                        StatusCode::BAD_REQUEST,
                        "error.title",
                        "The sign-out link is not registered for this app (post_logout_redirect_uri must match exactly, and the app must be named by client_id or id_token_hint).",
                        https(&app),
                    )
                }
            }
        }
    };
    if let Some(session) = browser_session(&app, &tenant, &headers).await {
        // RP-Initiated Logout 1.0 §2: without an ID token of this very session, the user
        // must confirm, so that a third-party page cannot sign people out.
        let hinted =
            hint.as_ref().and_then(|h| h.sid.as_deref()) == Some(session.id.to_string().as_str());
        let csrf = super::authorize::hex(
            &app.hasher()
                .digest("textid/logout/v1", &[session.id.0.as_bytes()])
                .0,
        );
        let confirmed = params.get("confirm").is_some_and(|c| c == "yes")
            && params
                .get("csrf")
                .is_some_and(|c| super::authorize::constant_eq(c, &csrf));
        if !hinted && !confirmed {
            return confirm_page(&app, &tenant, &params, &csrf);
        }
        let _ = app
            .store()
            .revoke_session(session.id, app.clock().now())
            .await;
    }
    let mut res = match target {
        Some(uri) => {
            let state = params.get("state").cloned();
            let location = match &state {
                Some(s) => with_query(&uri, &[("state", s)]),
                None => uri,
            };
            see_other(&location)
        }
        None => pages::message(
            StatusCode::OK,
            "signedout.title",
            pages::catalog::text("signedout.text"),
            https(&app),
        ),
    };
    if let Ok(v) = set_cookie(&app, session_cookie_name(&app), "", Some(0)).parse() {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
    res
}

/// The sign-out confirmation page: a form that posts the same request back with
/// `confirm=yes` and a CSRF token bound to the session.
fn confirm_page(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    params: &HashMap<String, String>,
    csrf: &str,
) -> Response {
    let keep = [
        "post_logout_redirect_uri",
        "client_id",
        "state",
        "id_token_hint",
    ];
    let fields: Vec<(String, String)> = keep
        .iter()
        .filter_map(|k| params.get(*k).map(|v| (k.to_string(), v.clone())))
        .chain([
            ("csrf".to_string(), csrf.to_string()),
            ("confirm".to_string(), "yes".to_string()),
        ])
        .collect();
    let action = format!("/{}/oauth2/v2.0/logout", tenant.name);
    let form_action = params
        .get("post_logout_redirect_uri")
        .and_then(|u| super::origin(u));
    pages::render(
        StatusCode::OK,
        "logout.html",
        minijinja::context! { action => action, fields => fields },
        https(app),
        form_action.as_deref(),
    )
}

/// The claims of an ID token we issued (expired hints are fine: only the signature and
/// issuer matter for choosing the client and the session).
fn id_token_claims(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    hint: &str,
) -> Option<IdTokenClaims> {
    let oidc = app.oidc().ok()?;
    let iss = issuer(app, tenant);
    let expected = Expected {
        issuer: &iss,
        audience: None,
        typ: TokenType::IdToken,
    };
    let payload = hint.split('.').nth(1)?;
    let raw =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    let unverified: Value = serde_json::from_slice(&raw).ok()?;
    let iat = unverified.get("iat")?.as_i64()?;
    let at = chrono::DateTime::from_timestamp(iat, 0)?;
    token::verify(hint, oidc.keys().verification_keys(), &expected, at).ok()
}

/// `POST /{tenant}/oauth2/v2.0/revoke` (RFC 7009): always 200 for a token the client may
/// not know about; a refresh token revokes its whole family.
pub async fn revoke(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut authenticated = None;
    let result: Result<(), OAuthFailure> = async {
        let tenant = app.tenant(&tenant).await.map_err(|_| {
            OAuthFailure::from(textid_oidc::OAuthError::invalid_request("unknown tenant"))
        })?;
        let form = parse_form(&headers, &body)?;
        let client = authenticate(&app, &tenant, &headers, &form).await?;
        super::token::check_origin(&headers, &client)?;
        authenticated = Some(client.clone());
        let token = form.get("token").ok_or_else(|| {
            OAuthFailure::from(textid_oidc::OAuthError::invalid_request(
                "token is required",
            ))
        })?;
        revoke_token(&app, &tenant, &client, token).await;
        Ok(())
    }
    .await;
    let res = match result {
        Ok(()) => (StatusCode::OK, [(header::CACHE_CONTROL, "no-store")]).into_response(),
        Err(e) => e.into_response(),
    };
    crate::cors::for_client(res, authenticated.as_ref())
}

/// Revokes `token` if it is a refresh token (its whole family) or an access token of
/// `client`; anything else is ignored (RFC 7009 §2.2).
async fn revoke_token(
    app: &App,
    tenant: &textid_core::tenant::Tenant,
    client: &clients::Client,
    token: &str,
) {
    let now = app.clock().now();
    let hash = app.hasher().token(token);
    let belongs = app
        .store()
        .refresh_token_client(&hash.0)
        .await
        .ok()
        .flatten();
    if belongs.as_deref() == Some(client.client_id.as_str()) {
        let _ = app.store().revoke_refresh_token(&hash.0, now).await;
        return;
    }
    if let Ok(oidc) = app.oidc() {
        let iss = issuer(app, tenant);
        let aud = api_audience(app);
        let expected = Expected {
            issuer: &iss,
            audience: Some(&aud),
            typ: TokenType::AccessToken,
        };
        if let Ok(claims) = token::verify::<AccessTokenClaims>(
            token,
            oidc.keys().verification_keys(),
            &expected,
            now,
        ) {
            if claims.client_id == client.client_id {
                let exp = chrono::DateTime::from_timestamp(claims.exp, 0).unwrap_or(now);
                let _ = app.store().revoke_access_token(&claims.jti, exp).await;
            }
        }
    }
}
