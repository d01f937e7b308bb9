//! Cross-origin requests from browser apps (CORS, issue #19), answered per endpoint:
//!
//! | endpoints | origins allowed |
//! |---|---|
//! | discovery, JWKS | any (`*`): public documents, no credentials |
//! | token, userinfo, revocation | the web origins of the client in the request ([`Client::web_origins`]) |
//! | the JSON sign-in API | the origins the tenant allows (`textid tenant set-sign-in-origins`; none by default) |
//! | the admin API (`/v1.0`) | the origins of `TEXTID_ADMIN_ALLOWED_ORIGINS` (none by default) |
//! | sign-in pages, everything else | none: no CORS headers, so a browser refuses the answer to a foreign page |
//!
//! A preflight (`OPTIONS` with `Access-Control-Request-Method`) names no client, so it is
//! allowed for an origin that some enabled client of the tenant allows; the request itself
//! then carries `Access-Control-Allow-Origin` only when its own client (authenticated at
//! the token and revocation endpoints, the access token's client at userinfo) allows the
//! origin. No endpoint allows credentials (cookies): the browser session is never reachable
//! cross-origin.

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;
use tower_http::cors::{Any, CorsLayer};

use crate::app::App;
use crate::oidc::clients::{self, Client};

/// How long a browser may cache a preflight answer (seconds).
const PREFLIGHT_MAX_AGE: u32 = 600;

/// CORS for the public documents (discovery, JWKS): any origin, `GET` only, no credentials.
pub fn any_origin() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(Any)
        .allow_methods([Method::GET])
        .max_age(std::time::Duration::from_secs(PREFLIGHT_MAX_AGE.into()))
}

/// The `Origin` of a request, if it sent one.
fn origin(headers: &HeaderMap) -> Option<&str> {
    headers.get(header::ORIGIN).and_then(|v| v.to_str().ok())
}

/// The web origins the answer may be read from: set by the token, userinfo and
/// revocation handlers once they know the client ([`for_client`]), read by
/// [`per_client`].
#[derive(Debug, Clone)]
struct AllowedOrigins(Vec<textid_oidc::WebOrigin>);

/// Marks an answer of the token, userinfo or revocation endpoint as readable by the pages
/// of `client`'s web origins (none without a client: an unauthenticated request's answer
/// stays unreadable cross-origin).
pub fn for_client(mut res: Response, client: Option<&Client>) -> Response {
    if let Some(c) = client {
        res.extensions_mut().insert(AllowedOrigins(c.web_origins()));
    }
    res
}

/// Middleware of the per-client endpoints: `Access-Control-Allow-Origin` when the handler
/// allowed the request's origin ([`for_client`]); `Vary: Origin` in every case, since the
/// answer depends on it.
pub async fn per_client(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let request_origin = origin(req.headers()).map(str::to_string);
    let mut res = next.run(req).await;
    let allowed = res.extensions().get::<AllowedOrigins>().is_some_and(|a| {
        request_origin
            .as_deref()
            .is_some_and(|o| a.0.iter().any(|w| w.as_str() == o))
    });
    // So that the app can read why a bearer token was refused (RFC 6750 §3).
    allow(
        &mut res,
        request_origin.filter(|_| allowed),
        "WWW-Authenticate",
    );
    res
}

/// `Vary: Origin` (the answer depends on it), and for an allowed origin
/// `Access-Control-Allow-Origin` with the headers its page may read.
fn allow(res: &mut Response, allowed_origin: Option<String>, exposed: &'static str) {
    let h = res.headers_mut();
    h.append(header::VARY, HeaderValue::from_static("Origin"));
    if let Some(v) = allowed_origin.and_then(|o| HeaderValue::from_str(&o).ok()) {
        h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
        h.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static(exposed),
        );
    }
}

/// The `204` answer to an allowed preflight: these methods, the two request headers an
/// app sends, cacheable for [`PREFLIGHT_MAX_AGE`].
fn preflight_answer(methods: &'static str) -> Response {
    let mut res = StatusCode::NO_CONTENT.into_response();
    let h = res.headers_mut();
    h.insert(
        header::ACCESS_CONTROL_ALLOW_METHODS,
        HeaderValue::from_static(methods),
    );
    h.insert(
        header::ACCESS_CONTROL_ALLOW_HEADERS,
        HeaderValue::from_static("authorization, content-type"),
    );
    h.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(PREFLIGHT_MAX_AGE),
    );
    res
}

/// What a middleware for a set of origins allows ([`sign_in_api`], [`admin_api`]).
struct Rule {
    methods: &'static str,
    exposed: &'static str,
    refusal: &'static str,
}

/// A request under a middleware that decided `allowed` for `request_origin`: a preflight
/// is answered here (`204`, or `403 originNotAllowed` without CORS headers); any other
/// request runs, its answer readable by the origin if allowed.
async fn guarded(
    req: axum::extract::Request,
    next: axum::middleware::Next,
    request_origin: String,
    allowed: bool,
    rule: Rule,
) -> Response {
    let mut res = if is_preflight(&req) {
        if !allowed {
            return crate::error::ApiError::new(
                StatusCode::FORBIDDEN,
                "originNotAllowed",
                rule.refusal,
            )
            .into_response();
        }
        preflight_answer(rule.methods)
    } else {
        next.run(req).await
    };
    allow(
        &mut res,
        Some(request_origin).filter(|_| allowed),
        rule.exposed,
    );
    res
}

/// `OPTIONS` on the token, userinfo and revocation endpoints: a preflight from an origin
/// that some enabled client of the tenant allows gets `204` with the allowed methods and
/// headers; any other `OPTIONS` is refused in OAuth's error shape, without CORS headers
/// (so the browser stops there), with `Allow: {allow}` (the route's methods, RFC 9110
/// §15.5.6).
pub async fn preflight(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    allow: &'static str,
) -> Response {
    let requested = headers
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|v| v.to_str().ok());
    let (Some(origin), Some(requested)) = (origin(&headers), requested) else {
        let mut res = crate::oidc::method_not_allowed().await;
        res.headers_mut()
            .insert(header::ALLOW, HeaderValue::from_static(allow));
        return res;
    };
    let allowed = match app.tenant(&tenant).await {
        Ok(t) => clients::any_allows_origin(&app, &t, origin)
            .await
            .unwrap_or(false),
        Err(_) => false,
    };
    if !allowed || !matches!(requested, "GET" | "POST") {
        return refused();
    }
    let mut res = preflight_answer("GET, POST");
    if let Ok(v) = HeaderValue::from_str(origin) {
        res.headers_mut()
            .insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
    }
    res
}

fn refused() -> Response {
    (
        StatusCode::FORBIDDEN,
        Json(json!({
            "error": "invalid_request",
            "error_description": "no app of this tenant allows requests from this origin",
        })),
    )
        .into_response()
}

/// Whether a request is a CORS preflight.
fn is_preflight(req: &axum::extract::Request) -> bool {
    req.method() == Method::OPTIONS
        && req.headers().contains_key(header::ORIGIN)
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// `OPTIONS` on the sign-in API that is not a preflight (a preflight is answered by
/// [`sign_in_api`] before it gets here): 405 with `Allow: {allow}` (the route's methods),
/// as any other method the route lacks.
pub async fn not_a_preflight(allow: &'static str) -> Response {
    let mut res = crate::error::ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "methodNotAllowed",
        "this endpoint does not accept that HTTP method",
    )
    .into_response();
    res.headers_mut()
        .insert(header::ALLOW, HeaderValue::from_static(allow));
    res
}

/// CORS of the JSON sign-in API: for the origins the tenant allows (a browser app that
/// calls the API itself instead of using the OpenID Connect pages), none by default. A
/// preflight from another origin gets 403 `originNotAllowed` and no CORS headers.
pub async fn sign_in_api(
    State(app): State<App>,
    Path(tenant): Path<String>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let Some(request_origin) = origin(req.headers()).map(str::to_string) else {
        return next.run(req).await;
    };
    let allowed = match app.tenant(&tenant).await {
        Ok(t) => t.sign_in_origins.contains(&request_origin),
        Err(_) => false,
    };
    let rule = Rule {
        methods: "POST, DELETE",
        // A browser app must see how long to wait after a 429.
        exposed: "Retry-After",
        refusal: "this tenant does not let pages of this origin call its sign-in API",
    };
    guarded(req, next, request_origin, allowed, rule).await
}

/// CORS of the admin API (`/v1.0/...`): for the origins the operator configured
/// (`TEXTID_ADMIN_ALLOWED_ORIGINS`, e.g. an admin web app on its own origin), none by
/// default, when nothing is done at all. Bearer tokens only, no cookies: no credentials.
pub async fn admin_api(
    State(app): State<App>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> Response {
    let origins = &app.config().admin_allowed_origins;
    let request_origin = origin(req.headers()).map(str::to_string);
    let admin = req.uri().path().starts_with("/v1.0/") || req.uri().path() == "/v1.0";
    let (Some(request_origin), true, false) = (request_origin, admin, origins.is_empty()) else {
        return next.run(req).await;
    };
    let allowed = origins.contains(&request_origin);
    let rule = Rule {
        methods: "GET, POST, PATCH, PUT, DELETE",
        exposed: "WWW-Authenticate, Retry-After, Location",
        refusal: "pages of this origin may not call the admin API",
    };
    guarded(req, next, request_origin, allowed, rule).await
}
