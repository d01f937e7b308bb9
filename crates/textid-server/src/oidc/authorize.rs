//! The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 7636, RFC 9207).
//! Errors that make the redirect URI untrustworthy (unknown client, unregistered redirect
//! URI) are shown as a page; every other error goes back to the client with `state` and
//! `iss`. A live SSO session answers at once unless `prompt=login` or `max_age` says no.

use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Duration, Utc};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use textid_core::code::new_token;
use textid_core::methods::PhoneType;
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_core::{SessionId, UserId};
use textid_oidc::client::redirect_uri_matches;
use textid_oidc::discovery::SCOPES_SUPPORTED;
use textid_oidc::pkce;
use textid_store::{GrantRecord, SessionRecord, StoreError};

use super::clients::{self, Client, GrantType};
use super::{binding_cookie_name, cookie, https, issuer, session_cookie_name, set_cookie};
use crate::app::App;
use crate::pages;

/// How long a sign-in started at the authorization endpoint may take.
const REQUEST_LIFETIME_MINUTES: i64 = 30;
/// Authorization codes live 60 seconds (DESIGN.md §3).
const CODE_LIFETIME_SECONDS: i64 = 60;

/// Query of the authorization request.
#[derive(Debug, Default, Deserialize)]
pub struct AuthorizeQuery {
    response_type: Option<String>,
    client_id: Option<String>,
    redirect_uri: Option<String>,
    scope: Option<String>,
    state: Option<String>,
    nonce: Option<String>,
    code_challenge: Option<String>,
    code_challenge_method: Option<String>,
    prompt: Option<String>,
    max_age: Option<String>,
    login_hint: Option<String>,
    response_mode: Option<String>,
}

/// A validated authorization request, stored while the user signs in.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthRequest {
    /// The client.
    pub client_id: String,
    /// Its exact redirect URI.
    pub redirect_uri: String,
    /// Requested scope.
    pub scope: String,
    /// Echoed to the client.
    pub state: Option<String>,
    /// Put into the ID token.
    pub nonce: Option<String>,
    /// S256 challenge.
    pub code_challenge: String,
    /// Pre-fills the phone field.
    pub login_hint: Option<String>,
    /// CSRF token of the sign-in forms.
    pub csrf: String,
    /// Keyed hash (hex) of the browser-binding cookie.
    pub binding_hash: String,
}

/// What an authorization code or refresh token carries.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Grant {
    /// The user.
    pub sub: UserId,
    /// Granted scope.
    pub scope: String,
    /// Nonce for the ID token.
    pub nonce: Option<String>,
    /// When the user authenticated (unix seconds).
    pub auth_time: i64,
    /// How (RFC 8176).
    pub amr: Vec<String>,
    /// Where the code was sent (must match at the token endpoint).
    pub redirect_uri: String,
    /// PKCE challenge (codes only).
    pub code_challenge: Option<String>,
    /// The SSO session.
    pub sid: Option<String>,
    /// The number the user signed in with.
    pub phone: Option<String>,
    /// When every token of this grant ends at the latest (unix seconds): the end of a
    /// sign-in with a Temporary Access Pass (issue #15: tokens never outlive the pass).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ends_at: Option<i64>,
}

/// A redirect (303 See Other, so a form post becomes a GET).
pub fn see_other(location: &str) -> Response {
    (
        StatusCode::SEE_OTHER,
        [(header::LOCATION, location.to_string())],
    )
        .into_response()
}

/// `redirect_uri` with query parameters added.
pub fn with_query(base: &str, params: &[(&str, &str)]) -> String {
    match url::Url::parse(base) {
        Ok(mut u) => {
            {
                let mut q = u.query_pairs_mut();
                for (k, v) in params {
                    q.append_pair(k, v);
                }
            }
            u.to_string()
        }
        Err(_) => base.to_string(),
    }
}

fn error_redirect(
    app: &App,
    tenant: &Tenant,
    redirect_uri: &str,
    state: Option<&str>,
    error: &str,
    description: &str,
) -> Response {
    let iss = issuer(app, tenant);
    let mut params = vec![("error", error), ("error_description", description)];
    if let Some(s) = state {
        params.push(("state", s));
    }
    params.push(("iss", &iss));
    see_other(&with_query(redirect_uri, &params))
}

fn error_page(app: &App, status: StatusCode, text: &str) -> Response {
    pages::message(status, "error.title", text, https(app))
}

/// The live SSO session of this browser in this tenant, if any.
pub async fn browser_session(
    app: &App,
    tenant: &Tenant,
    headers: &HeaderMap,
) -> Option<SessionRecord> {
    let token = cookie(headers, session_cookie_name(app))?;
    let hash = app.hasher().token(&token);
    let s = app
        .store()
        .session_by_token_hash(SessionKind::Browser, &hash.0, app.clock().now())
        .await
        .ok()??;
    (s.tenant_id == tenant.id).then_some(s)
}

/// `GET /{tenant}/oauth2/v2.0/authorize`
pub async fn authorize(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    Query(q): Query<AuthorizeQuery>,
) -> Response {
    run(app, tenant, headers, q).await
}

/// `POST /{tenant}/oauth2/v2.0/authorize` (OIDC Core §3.1.2.1: GET and POST alike).
pub async fn authorize_post(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    axum::Form(q): axum::Form<AuthorizeQuery>,
) -> Response {
    run(app, tenant, headers, q).await
}

async fn run(app: App, tenant: String, headers: HeaderMap, q: AuthorizeQuery) -> Response {
    let Ok(tenant) = app.tenant(&tenant).await else {
        return error_page(
            &app,
            StatusCode::NOT_FOUND,
            "There is no such organisation here.",
        );
    };
    let client = match q.client_id.as_deref() {
        Some(id) => clients::find(&app, &tenant, id).await.ok().flatten(),
        None => None,
    };
    let Some(client) = client else {
        return error_page(
            &app,
            StatusCode::BAD_REQUEST,
            pages::catalog::text("error.client"),
        );
    };
    let Some(redirect_uri) = q
        .redirect_uri
        .clone()
        .filter(|r| redirect_uri_matches(&client.registration.redirect_uris, r))
    else {
        return error_page(
            &app,
            StatusCode::BAD_REQUEST,
            pages::catalog::text("error.client"),
        );
    };
    let state = q.state.as_deref();
    let fail = |error: &str, description: &str| {
        error_redirect(&app, &tenant, &redirect_uri, state, error, description)
    };
    if q.response_type.as_deref() != Some("code") {
        return fail("unsupported_response_type", "response_type must be code");
    }
    if !client.allows(GrantType::AuthorizationCode) {
        return fail(
            "unauthorized_client",
            "this client may not use the authorization code flow",
        );
    }
    if q.response_mode.as_deref().is_some_and(|m| m != "query") {
        return fail("invalid_request", "response_mode must be query");
    }
    let scope = q.scope.clone().unwrap_or_default();
    if !scope.split(' ').any(|s| s == "openid") {
        return fail("invalid_scope", "scope must include openid");
    }
    // Delegated admin API permissions (`{public_url}/v1.0/User.Read.All`, like Entra's
    // `https://graph.microsoft.com/User.Read.All`) only for a client an admin allowed them.
    let graph_prefix = format!("{}/", super::api_audience(&app));
    if scope
        .split(' ')
        .filter_map(|s| s.strip_prefix(&graph_prefix))
        .any(|p| !client.registration.roles.iter().any(|r| r == p))
    {
        return fail(
            "invalid_scope",
            "this client may not request one of the admin API permissions in scope",
        );
    }
    // RFC 6749 §3.3: the server may grant less than requested; scopes it does not know
    // are left out of the grant, so the token answer does not claim them.
    let scope = scope
        .split(' ')
        .filter(|s| SCOPES_SUPPORTED.contains(s) || s.starts_with(&graph_prefix))
        .fold(Vec::<&str>::new(), |mut kept, s| {
            if !kept.contains(&s) {
                kept.push(s);
            }
            kept
        })
        .join(" ");
    if let Err(e) = pkce::parse_challenge_method(q.code_challenge_method.as_deref()) {
        return fail("invalid_request", &e.to_string());
    }
    let Some(challenge) = q
        .code_challenge
        .clone()
        .filter(|c| pkce::validate_challenge(Some(c)).is_ok())
    else {
        return fail(
            "invalid_request",
            "code_challenge is required: PKCE with S256 (RFC 7636)",
        );
    };
    let max_age = match q.max_age.as_deref().map(str::parse::<i64>) {
        None => None,
        Some(Ok(m)) if m >= 0 => Some(m),
        Some(_) => {
            return fail(
                "invalid_request",
                "max_age must be a whole number of seconds",
            )
        }
    };
    let prompts: Vec<&str> = q
        .prompt
        .as_deref()
        .unwrap_or("")
        .split(' ')
        .filter(|p| !p.is_empty())
        .collect();
    if prompts.contains(&"none") && prompts.len() > 1 {
        return fail(
            "invalid_request",
            "prompt=none cannot be combined with other values",
        );
    }
    // OIDC Core §3.1.2.1: textid records no consent (an admin registers each app), so
    // it cannot obtain one: `prompt=consent` gets `consent_required`.
    if prompts.contains(&"consent") {
        return fail(
            "consent_required",
            "this server does not ask users for consent; an admin registers each app",
        );
    }
    let now = app.clock().now();
    let login_forced = prompts.contains(&"login");
    let session = browser_session(&app, &tenant, &headers).await;
    let reusable = session.filter(|s| {
        !login_forced
            && max_age
                .is_none_or(|m| Duration::try_seconds(m).is_none_or(|m| now - s.created_at <= m))
    });
    let binding_hex = |v: &str| hex(&app.hasher().token(v).0);
    let mut req = AuthRequest {
        client_id: client.client_id.clone(),
        redirect_uri: redirect_uri.clone(),
        scope,
        state: q.state.clone(),
        nonce: q.nonce.clone(),
        code_challenge: challenge,
        login_hint: q.login_hint.clone(),
        csrf: new_token(&mut OsRng).expose().clone(),
        binding_hash: String::new(),
    };
    if let Some(s) = reusable {
        if let Some(user) = app
            .store()
            .user(tenant.id, s.user_id)
            .await
            .ok()
            .flatten()
            .filter(|u| u.account_enabled)
        {
            let signed_in = SignedIn {
                user: user.id,
                session: s.id,
                auth_time: s.created_at,
                amr: s.amr.clone(),
                phone: mobile_number(&app, &tenant, user.id).await,
                session_ends_at: s.expires_at,
            };
            match issue_code(&app, &tenant, &req, signed_in).await {
                Ok(Some(location)) => return see_other(&location),
                // Revoked since it was read: as if there were no session.
                Ok(None) => {}
                Err(_) => return fail("server_error", "the code could not be issued; try again"),
            }
        }
    }
    if prompts.contains(&"none") {
        return fail("login_required", "the user must sign in");
    }
    let binding = cookie(&headers, binding_cookie_name(&app)).filter(|b| b.len() >= 32);
    let (binding, new_binding) = match binding {
        Some(b) => (b, false),
        None => (new_token(&mut OsRng).expose().clone(), true),
    };
    req.binding_hash = binding_hex(&binding);
    // The unix millisecond (12 hex digits), then 128 random bits: requests made close in
    // time sort together, so their index takes new rows on its last page; the random part
    // is what makes the id unguessable, as before.
    let id = format!(
        "{:012x}{}",
        now.timestamp_millis(),
        &new_token(&mut OsRng).expose()[..32]
    );
    let doc = match serde_json::to_value(&req) {
        Ok(d) => d,
        Err(_) => return fail("server_error", "try again"),
    };
    if app
        .store()
        .put_auth_request(
            &id,
            tenant.id,
            &doc,
            now,
            now + Duration::minutes(REQUEST_LIFETIME_MINUTES),
        )
        .await
        .is_err()
    {
        return fail("server_error", "try again");
    }
    let mut res = see_other(&format!("/{}/login?request={id}", tenant.name));
    if new_binding {
        if let Ok(v) = set_cookie(&app, binding_cookie_name(&app), &binding, None).parse() {
            res.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    res
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The user's mobile number (E.164), for the `phone_number` claim after an SSO answer.
pub async fn mobile_number(app: &App, tenant: &Tenant, user: UserId) -> Option<String> {
    let methods = app.store().phone_methods(tenant.id, user).await.ok()?;
    methods
        .into_iter()
        .find(|m| m.method.phone_type == PhoneType::Mobile)
        .map(|m| m.method.number.e164())
}

/// Who signed in, and how: what an authorization code's grant says about the sign-in.
#[derive(Debug, Clone)]
pub struct SignedIn {
    /// The user.
    pub user: UserId,
    /// Their browser (SSO) session.
    pub session: SessionId,
    /// When they signed in (`auth_time`).
    pub auth_time: DateTime<Utc>,
    /// How (`amr`, RFC 8176): the session's, e.g. `["sms"]`, `["tel"]` for a voice code.
    pub amr: Vec<String>,
    /// Their mobile number (E.164), for the `phone_number` claim.
    pub phone: Option<String>,
    /// When their session ends.
    pub session_ends_at: DateTime<Utc>,
}

/// Issues an authorization code for a signed-in user; returns the redirect location, or
/// `None` when the session was revoked meanwhile (the user must sign in again).
pub async fn issue_code(
    app: &App,
    tenant: &Tenant,
    req: &AuthRequest,
    signed_in: SignedIn,
) -> Result<Option<String>, crate::error::ApiError> {
    let now = app.clock().now();
    let code = new_token(&mut OsRng);
    let SignedIn {
        user,
        session,
        auth_time,
        amr,
        phone,
        session_ends_at,
    } = signed_in;
    let ends_at = textid_core::tap::tokens_end(&amr, session_ends_at).map(|e| e.timestamp());
    let grant = Grant {
        sub: user,
        scope: req.scope.clone(),
        nonce: req.nonce.clone(),
        auth_time: auth_time.timestamp(),
        amr,
        redirect_uri: req.redirect_uri.clone(),
        code_challenge: Some(req.code_challenge.clone()),
        sid: Some(session.to_string()),
        phone,
        ends_at,
    };
    let record = GrantRecord {
        family_id: textid_core::ids::time_ordered_uuid(now, &mut OsRng).to_string(),
        tenant_id: tenant.id,
        client_id: req.client_id.clone(),
        user_id: Some(user),
        session_id: Some(session),
        document: serde_json::to_value(&grant).map_err(|e| crate::error::ApiError::internal(&e))?,
    };
    let hash = app.hasher().token(code.expose());
    match app
        .store()
        .insert_code(
            &hash.0,
            &record,
            now + Duration::seconds(CODE_LIFETIME_SECONDS),
        )
        .await
    {
        Err(StoreError::Conflict(c)) if c == "session_revoked" => return Ok(None),
        other => other?,
    }
    let iss = issuer(app, tenant);
    let mut params = vec![("code", code.expose().as_str())];
    if let Some(s) = &req.state {
        params.push(("state", s));
    }
    params.push(("iss", &iss));
    Ok(Some(with_query(&req.redirect_uri, &params)))
}

/// Loads a stored request and checks that this browser began it.
pub async fn load_request(
    app: &App,
    tenant: &Tenant,
    id: &str,
    headers: &HeaderMap,
) -> Option<(AuthRequest, Option<textid_core::FlowId>, Client)> {
    let (doc, flow) = app
        .store()
        .auth_request(id, tenant.id, app.clock().now())
        .await
        .ok()??;
    let req: AuthRequest = serde_json::from_value(doc).ok()?;
    let binding = cookie(headers, binding_cookie_name(app))?;
    let presented = hex(&app.hasher().token(&binding).0);
    if !constant_eq(&presented, &req.binding_hash) {
        return None;
    }
    let client = clients::find(app, tenant, &req.client_id).await.ok()??;
    Some((req, flow, client))
}

/// Constant-time string equality.
pub fn constant_eq(a: &str, b: &str) -> bool {
    use subtle::ConstantTimeEq;
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}
