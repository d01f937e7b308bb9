//! OpenID Connect provider (issue #3), with Entra's URL layout so that an app moving from
//! Entra changes only the host:
//! issuer `{public_url}/{tenant}/v2.0`; discovery `{issuer}/.well-known/openid-configuration`;
//! `{public_url}/{tenant}/oauth2/v2.0/{authorize,token,userinfo,logout,revoke}`;
//! JWKS `{public_url}/{tenant}/discovery/v2.0/keys`.
//!
//! ```text
//! authorize ─► (SSO session? ─yes─► code) ─no─► phone page ─► code page ─► code ─► redirect_uri
//!                                                               token endpoint ◄── app
//! ```

pub mod authorize;
pub mod clients;
pub mod endpoints;
pub mod keys;
pub mod login;
pub mod login_password;
pub mod token;

use std::sync::{Arc, RwLock};

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, MethodRouter};
use axum::{Json, Router};
use textid_core::tenant::Tenant;
use textid_oidc::KeyEncryptionKey;

use crate::app::App;
use keys::KeyRing;

/// State of the OpenID Connect provider.
#[derive(Debug)]
pub struct Oidc {
    kek: KeyEncryptionKey,
    keys: RwLock<Arc<KeyRing>>,
}

impl Oidc {
    /// Loads (creating if needed) the signing keys.
    pub async fn init(app: &App, kek: KeyEncryptionKey) -> Result<Self, keys::KeyRingError> {
        let ring = KeyRing::load_or_create(app.store(), &kek, app.clock().now()).await?;
        Ok(Self {
            kek,
            keys: RwLock::new(Arc::new(ring)),
        })
    }

    /// The current key ring.
    pub fn keys(&self) -> Arc<KeyRing> {
        self.keys
            .read()
            .map(|k| k.clone())
            .unwrap_or_else(|p| p.into_inner().clone())
    }

    /// Reloads the key ring from the store (after a rotation by the CLI or another node).
    pub async fn reload(&self, app: &App) -> Result<(), keys::KeyRingError> {
        let ring = KeyRing::load_or_create(app.store(), &self.kek, app.clock().now()).await?;
        if let Ok(mut k) = self.keys.write() {
            *k = Arc::new(ring);
        }
        Ok(())
    }

    /// The key-encryption key.
    pub fn kek(&self) -> &KeyEncryptionKey {
        &self.kek
    }
}

/// Every OpenID Connect and sign-in page route.
pub fn routes() -> Router<App> {
    // The endpoints an app calls directly: CORS per client (see `crate::cors`), and every
    // answer in OAuth's error shape, a wrong method included. `allow`: the route's methods,
    // for the `Allow` of an `OPTIONS` that is no preflight (axum sets it on the other 405s).
    let per_client = |m: MethodRouter<App>, allow: &'static str| {
        m.options(
            move |state: State<App>, tenant: Path<String>, headers: HeaderMap| {
                crate::cors::preflight(state, tenant, headers, allow)
            },
        )
        .fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(crate::cors::per_client))
    };
    // Discovery and JWKS: any origin. The `OPTIONS` route exists so that the CORS layer
    // sees the preflight (a method without a route goes to the router's 405 fallback).
    let public_document = |m: MethodRouter<App>| {
        m.options(|| async { StatusCode::NO_CONTENT })
            .layer(crate::cors::any_origin())
    };
    Router::new()
        .route(
            "/{tenant}/v2.0/.well-known/openid-configuration",
            public_document(get(endpoints::discovery)),
        )
        .route(
            "/{tenant}/discovery/v2.0/keys",
            public_document(get(endpoints::jwks)),
        )
        .route(
            "/{tenant}/oauth2/v2.0/authorize",
            get(authorize::authorize).post(authorize::authorize_post),
        )
        .route(
            "/{tenant}/oauth2/v2.0/token",
            per_client(post(token::token), "POST"),
        )
        .route(
            "/{tenant}/oauth2/v2.0/userinfo",
            per_client(
                get(endpoints::userinfo).post(endpoints::userinfo),
                "GET,HEAD,POST",
            ),
        )
        .route(
            "/{tenant}/oauth2/v2.0/logout",
            get(endpoints::logout).post(endpoints::logout),
        )
        .route(
            "/{tenant}/oauth2/v2.0/revoke",
            per_client(post(endpoints::revoke), "POST"),
        )
        .route(
            "/{tenant}/login",
            get(login::phone_page).post(login::phone_submit),
        )
        .route(
            "/{tenant}/login/code",
            get(login::code_page).post(login::code_submit),
        )
        .route("/{tenant}/login/resend", post(login::resend))
        .route(
            "/{tenant}/login/password",
            post(login_password::password_submit),
        )
        .route("/{tenant}/login/pass", post(login_password::pass_submit))
        .route("/static/{name}", get(crate::pages::asset))
}

/// 405 in OAuth's error shape (RFC 6749 §5.2), for the endpoints apps call directly.
pub async fn method_not_allowed() -> Response {
    (
        StatusCode::METHOD_NOT_ALLOWED,
        [(header::CACHE_CONTROL, "no-store")],
        Json(serde_json::json!({
            "error": "invalid_request",
            "error_description": "this endpoint does not accept that HTTP method",
        })),
    )
        .into_response()
}

/// `{public_url}/{tenant}`.
pub fn tenant_base(app: &App, tenant: &Tenant) -> String {
    format!(
        "{}/{}",
        app.config().public_url.trim_end_matches('/'),
        tenant.name
    )
}

/// The issuer of a tenant: `{public_url}/{tenant}/v2.0`.
pub fn issuer(app: &App, tenant: &Tenant) -> String {
    format!("{}/v2.0", tenant_base(app, tenant))
}

/// The audience of access tokens: textid's own API (userinfo, the Graph-compatible API).
pub fn api_audience(app: &App) -> String {
    format!("{}/v1.0", app.config().public_url.trim_end_matches('/'))
}

/// Whether the public URL is https (cookies get `__Host-` and `Secure`, pages get HSTS).
pub fn https(app: &App) -> bool {
    app.config().public_url.starts_with("https://")
}

/// The SSO session cookie's name.
pub fn session_cookie_name(app: &App) -> &'static str {
    if https(app) {
        "__Host-textid_session"
    } else {
        "textid_session"
    }
}

/// The browser-binding cookie's name (ties a sign-in request to the browser that began it).
pub fn binding_cookie_name(app: &App) -> &'static str {
    if https(app) {
        "__Host-textid_binding"
    } else {
        "textid_binding"
    }
}

/// A cookie's value from the request.
pub fn cookie(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_string())
}

/// A `Set-Cookie` value: HttpOnly, SameSite=Lax, Path=/, Secure with https.
pub fn set_cookie(app: &App, name: &str, value: &str, max_age_seconds: Option<i64>) -> String {
    let mut c = format!("{name}={value}; Path=/; HttpOnly; SameSite=Lax");
    if https(app) {
        c.push_str("; Secure");
    }
    if let Some(age) = max_age_seconds {
        c.push_str(&format!("; Max-Age={age}"));
    }
    c
}

/// The CSP source of a redirect URI, for `form-action`: its origin
/// (`scheme://host[:port]`), or `scheme:` for a native app's private-use scheme
/// (RFC 8252 §7.1), which has no web origin.
pub fn origin(url: &str) -> Option<String> {
    let parsed = url::Url::parse(url).ok()?;
    let origin = parsed.origin();
    if origin.is_tuple() {
        Some(origin.ascii_serialization())
    } else {
        Some(format!("{}:", parsed.scheme()))
    }
}

/// The token of an `Authorization: Bearer …` header; the scheme is case-insensitive
/// (RFC 7235 §2.1).
pub fn bearer_token(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim())
        .filter(|t| !t.is_empty())
}
