//! The token endpoint (RFC 6749 §3.2): `authorization_code` with PKCE, `refresh_token`
//! with rotation and reuse detection, `client_credentials`. Client authentication:
//! `client_secret_basic` (RFC 6749 §2.3.1: form-URL-decoded after base64),
//! `client_secret_post`, and `none` for public clients.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use chrono::Duration;
use rand::rngs::OsRng;
use serde::Deserialize;
use serde_json::{json, Value};
use textid_core::code::new_token;
use textid_core::tenant::Tenant;
use textid_oidc::token::{self, AccessTokenClaims, IdTokenClaims, TokenType};
use textid_oidc::{pkce, Algorithm, BasicCredentials, ClientType, ErrorCode, OAuthError};
use textid_store::{AccessTokenRecord, GrantRecord, Redemption};

use super::authorize::Grant;
use super::clients::{self, Client, GrantType};
use super::{api_audience, issuer};
use crate::app::App;

/// Access and ID tokens live one hour.
const TOKEN_LIFETIME_SECONDS: i64 = 3600;
/// Refresh tokens end 30 days after the sign-in at most (DESIGN.md §3: SMS-only sessions).
const REFRESH_ABSOLUTE_DAYS: i64 = 30;

/// An OAuth error answer.
pub struct OAuthFailure {
    error: OAuthError,
    basic: bool,
}

impl From<OAuthError> for OAuthFailure {
    fn from(error: OAuthError) -> Self {
        Self {
            error,
            basic: false,
        }
    }
}

impl IntoResponse for OAuthFailure {
    fn into_response(self) -> Response {
        let status =
            StatusCode::from_u16(self.error.http_status()).unwrap_or(StatusCode::BAD_REQUEST);
        let mut res = (status, Json(json!({"error": self.error.error.as_str(), "error_description": self.error.error_description}))).into_response();
        let h = res.headers_mut();
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
        if status == StatusCode::UNAUTHORIZED && self.basic {
            h.insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Basic realm=\"textid\""),
            );
        }
        res
    }
}

fn err(code: ErrorCode, description: &str) -> OAuthFailure {
    OAuthError::new(code, description).into()
}

/// Authenticates the client of a token or revocation request.
pub async fn authenticate(
    app: &App,
    tenant: &Tenant,
    headers: &HeaderMap,
    form: &HashMap<String, String>,
) -> Result<Client, OAuthFailure> {
    let basic = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .filter(|v| v.len() > 6 && v[..6].eq_ignore_ascii_case("basic "));
    let invalid = |basic: bool| OAuthFailure {
        error: OAuthError::invalid_client("client authentication failed"),
        basic,
    };
    let (client_id, secret, via_basic) = match basic {
        Some(h) => {
            let creds = BasicCredentials::parse(h).map_err(|_| invalid(true))?;
            if form
                .get("client_id")
                .is_some_and(|id| id != creds.client_id())
            {
                return Err(invalid(true));
            }
            (
                creds.client_id().to_string(),
                Some(creds.client_secret().to_string()),
                true,
            )
        }
        None => {
            let id = form
                .get("client_id")
                .cloned()
                .ok_or_else(|| invalid(false))?;
            (id, form.get("client_secret").cloned(), false)
        }
    };
    let client = clients::find(app, tenant, &client_id)
        .await
        .map_err(|_| invalid(via_basic))?
        .ok_or_else(|| invalid(via_basic))?;
    match (client.registration.client_type, secret) {
        (ClientType::Confidential, Some(s)) if !s.is_empty() => {
            if client.verify_secret(&s, app.clock().now()) {
                Ok(client)
            } else {
                Err(invalid(via_basic))
            }
        }
        (ClientType::Public, None) => Ok(client),
        _ => Err(invalid(via_basic)),
    }
}

/// A request sent by a browser page (it carries `Origin`) is refused unless the page's
/// origin is one of the client's web origins: a form post is a "simple" cross-origin
/// request that no preflight stops, so the browser alone would only hide the answer, not
/// prevent the redemption (Entra refuses the same, AADSTS9002326).
pub fn check_origin(headers: &HeaderMap, client: &Client) -> Result<(), OAuthFailure> {
    match headers
        .get(header::ORIGIN)
        .map(|v| v.to_str().unwrap_or(""))
    {
        Some(origin) if !client.allows_origin(origin) => Err(err(
            ErrorCode::InvalidRequest,
            "requests from a browser are accepted only from the app's registered web origins",
        )),
        _ => Ok(()),
    }
}

/// `POST /{tenant}/oauth2/v2.0/token`
pub async fn token(
    State(app): State<App>,
    Path(tenant): Path<String>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let (client, result) = handle(&app, &tenant, &headers, &body).await;
    let res = match result {
        Ok(v) => (
            [
                (header::CACHE_CONTROL, "no-store"),
                (header::PRAGMA, "no-cache"),
            ],
            Json(v),
        )
            .into_response(),
        Err(e) => e.into_response(),
    };
    crate::cors::for_client(res, client.as_ref())
}

/// Parses an `application/x-www-form-urlencoded` body; a repeated parameter is an error
/// (RFC 6749 §3.2).
pub fn parse_form(
    headers: &HeaderMap,
    body: &[u8],
) -> Result<HashMap<String, String>, OAuthFailure> {
    let ct = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if !ct
        .to_ascii_lowercase()
        .starts_with("application/x-www-form-urlencoded")
    {
        return Err(err(
            ErrorCode::InvalidRequest,
            "send the parameters as application/x-www-form-urlencoded",
        ));
    }
    let mut form = HashMap::new();
    for (k, v) in url::form_urlencoded::parse(body) {
        if form.insert(k.to_string(), v.to_string()).is_some() {
            return Err(err(ErrorCode::InvalidRequest, "a parameter is repeated"));
        }
    }
    Ok(form)
}

/// Answers a token request; returns the authenticated client too (its web origins decide
/// the CORS answer, for errors after authentication as well).
async fn handle(
    app: &App,
    tenant: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> (Option<Client>, Result<Value, OAuthFailure>) {
    let authenticated = async {
        let tenant = app
            .tenant(tenant)
            .await
            .map_err(|_| err(ErrorCode::InvalidRequest, "unknown tenant"))?;
        let form = parse_form(headers, body)?;
        let client = authenticate(app, &tenant, headers, &form).await?;
        check_origin(headers, &client)?;
        Ok::<_, OAuthFailure>((tenant, form, client))
    }
    .await;
    match authenticated {
        Ok((tenant, form, client)) => {
            let result = grant(app, &tenant, &client, &form).await;
            (Some(client), result)
        }
        Err(e) => (None, Err(e)),
    }
}

/// Traced as `oauth.token` with the tenant, the client id (public) and the grant type,
/// which is checked before it is recorded; never a code, verifier, secret or token.
#[tracing::instrument(
    name = "oauth.token",
    skip_all,
    fields(
        textid.tenant = %tenant.name,
        oauth.client_id = %client.client_id,
        oauth.grant_type = tracing::field::Empty,
    )
)]
async fn grant(
    app: &App,
    tenant: &Tenant,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthFailure> {
    let grant_type = form.get("grant_type").map(String::as_str).unwrap_or("");
    let grant = GrantType::parse(grant_type).ok_or_else(|| {
        err(
            ErrorCode::UnsupportedGrantType,
            "grant_type must be authorization_code, refresh_token or client_credentials",
        )
    })?;
    tracing::Span::current().record("oauth.grant_type", grant_type);
    if !client.allows(grant) {
        return Err(err(
            ErrorCode::UnauthorizedClient,
            "this client may not use this grant_type",
        ));
    }
    match grant {
        GrantType::AuthorizationCode => authorization_code(app, tenant, client, form).await,
        GrantType::RefreshToken => refresh(app, tenant, client, form).await,
        GrantType::ClientCredentials => client_credentials(app, tenant, client, form).await,
    }
}

async fn authorization_code(
    app: &App,
    tenant: &Tenant,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthFailure> {
    let code = form
        .get("code")
        .ok_or_else(|| err(ErrorCode::InvalidRequest, "code is required"))?;
    let verifier = form.get("code_verifier").ok_or_else(|| {
        err(
            ErrorCode::InvalidRequest,
            "code_verifier is required (PKCE)",
        )
    })?;
    let redirect_uri = form
        .get("redirect_uri")
        .ok_or_else(|| err(ErrorCode::InvalidRequest, "redirect_uri is required"))?;
    let now = app.clock().now();
    let hash = app.hasher().token(code);
    // The access token is recorded in the redemption's own transaction (one commit), for
    // a grant that passes the same checks as below; the code is spent either way.
    let checks = CodeChecks {
        redirect_uri: redirect_uri.clone(),
        verifier: verifier.clone(),
        now,
        jti: new_jti(now),
    };
    let admit = {
        let (checks, tenant) = (checks.clone(), tenant.id);
        Box::new(move |record: &GrantRecord| {
            // Runs on the store's writer: read in place, not from a copy of the document.
            let grant = Grant::deserialize(&record.document).ok()?;
            (record.tenant_id == tenant)
                .then(|| checks.access(&grant).ok())
                .flatten()
        })
    };
    let redemption = app
        .store()
        .redeem_code(&hash.0, &client.client_id, now, admit)
        .await
        .map_err(|_| OAuthError::server_error())?;
    let (record, grant) = redeemed(
        redemption,
        tenant,
        "the code was already used; the tokens issued from it are revoked",
        "the code is invalid or expired",
    )?;
    let access = checks.access(&grant)?;
    issue(
        app,
        tenant,
        client,
        &record,
        &grant,
        Issued::Code(now, access),
    )
    .await
}

/// What a code's redemption is checked against (RFC 6749 §4.1.3, RFC 7636), and the access
/// token it will carry.
#[derive(Clone)]
struct CodeChecks {
    redirect_uri: String,
    verifier: String,
    now: chrono::DateTime<chrono::Utc>,
    jti: String,
}

impl CodeChecks {
    /// The access token to record for `grant`, or why the code is refused.
    fn access(&self, grant: &Grant) -> Result<AccessTokenRecord, OAuthFailure> {
        if grant.redirect_uri != self.redirect_uri {
            return Err(err(
                ErrorCode::InvalidGrant,
                "redirect_uri does not match the authorization request",
            ));
        }
        let challenge = grant.code_challenge.as_deref().unwrap_or("");
        if !pkce::verify_s256(&self.verifier, challenge) {
            return Err(err(
                ErrorCode::InvalidGrant,
                "code_verifier does not match the code_challenge",
            ));
        }
        access_record(grant, self.now, self.jti.clone())
    }
}

/// The access token issued for `grant` at `now`: its lifetime (bounded by a pass's end),
/// and the browser session it is bound to (issue #19: a grant without `offline_access`
/// lives in the session it was made in, so ending that session revokes its access tokens;
/// `offline_access` asks for access independent of the session).
fn access_record(
    grant: &Grant,
    now: chrono::DateTime<chrono::Utc>,
    jti: String,
) -> Result<AccessTokenRecord, OAuthFailure> {
    let bound = pass_end(grant);
    if bound.is_some_and(|b| now >= b) {
        return Err(err(
            ErrorCode::InvalidGrant,
            "the Temporary Access Pass this sign-in used has ended; sign in again",
        ));
    }
    let offline = grant.scope.split(' ').any(|s| s == "offline_access");
    Ok(AccessTokenRecord {
        jti,
        user: Some(grant.sub),
        session: grant
            .sid
            .as_deref()
            .filter(|_| !offline)
            .and_then(|s| s.parse().ok())
            .map(textid_core::SessionId),
        expires_at: textid_core::tap::token_end(
            now,
            Duration::seconds(TOKEN_LIFETIME_SECONDS),
            bound,
        ),
    })
}

/// A sign-in with a pass bounds every token of its grant (issue #15).
fn pass_end(grant: &Grant) -> Option<chrono::DateTime<chrono::Utc>> {
    grant
        .ends_at
        .and_then(|e| chrono::DateTime::from_timestamp(e, 0))
}

/// How the access token of an issue is recorded.
enum Issued<'a> {
    /// With the code's redemption, already (at that time).
    Code(chrono::DateTime<chrono::Utc>, AccessTokenRecord),
    /// A refresh, narrowing the scope to this one if given: recorded by [`issue`].
    Refresh(Option<&'a str>),
}

/// The grant of a first redemption (the store has already checked the client), or the
/// `invalid_grant` that says why not.
fn redeemed(
    redemption: Redemption,
    tenant: &Tenant,
    reused: &str,
    invalid: &str,
) -> Result<(GrantRecord, Grant), OAuthFailure> {
    let record = match redemption {
        Redemption::Redeemed(r) if r.tenant_id == tenant.id => r,
        Redemption::Reused => return Err(err(ErrorCode::InvalidGrant, reused)),
        Redemption::SessionEnded => {
            return Err(err(
                ErrorCode::InvalidGrant,
                "the sign-in session in which the code was issued has ended; sign in again",
            ))
        }
        _ => return Err(err(ErrorCode::InvalidGrant, invalid)),
    };
    let grant = Grant::deserialize(&record.document).map_err(|_| OAuthError::server_error())?;
    Ok((record, grant))
}

async fn refresh(
    app: &App,
    tenant: &Tenant,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthFailure> {
    let token = form
        .get("refresh_token")
        .ok_or_else(|| err(ErrorCode::InvalidRequest, "refresh_token is required"))?;
    let now = app.clock().now();
    let hash = app.hasher().token(token);
    let redemption = app
        .store()
        .use_refresh_token(&hash.0, &client.client_id, now)
        .await
        .map_err(|_| OAuthError::server_error())?;
    let (record, grant) = redeemed(
        redemption,
        tenant,
        "the refresh token was already used; its whole family is revoked",
        "the refresh token is invalid, expired or revoked",
    )?;
    if let Some(requested) = form.get("scope") {
        if !requested
            .split(' ')
            .all(|s| grant.scope.split(' ').any(|g| g == s))
        {
            return Err(err(
                ErrorCode::InvalidScope,
                "a refresh cannot widen the scope",
            ));
        }
    }
    let scope = form.get("scope").map(String::as_str);
    issue(app, tenant, client, &record, &grant, Issued::Refresh(scope)).await
}

async fn client_credentials(
    app: &App,
    tenant: &Tenant,
    client: &Client,
    form: &HashMap<String, String>,
) -> Result<Value, OAuthFailure> {
    let now = app.clock().now();
    let keys = app.oidc().map_err(|_| OAuthError::server_error())?.keys();
    let key = keys
        .signer(Algorithm::ES256)
        .ok_or_else(OAuthError::server_error)?;
    let jti = new_jti(now);
    let claims = AccessTokenClaims {
        iss: issuer(app, tenant),
        sub: client.client_id.clone(),
        aud: api_audience(app),
        exp: now.timestamp() + TOKEN_LIFETIME_SECONDS,
        iat: now.timestamp(),
        tid: tenant.id.to_string(),
        azp: client.client_id.clone(),
        client_id: client.client_id.clone(),
        scp: None,
        roles: client.registration.roles.clone(),
        jti: jti.clone(),
    };
    let access = token::sign(key, &claims, TokenType::AccessToken)
        .map_err(|_| OAuthError::server_error())?;
    let _ = form;
    Ok(
        json!({"access_token": access, "token_type": "Bearer", "expires_in": TOKEN_LIFETIME_SECONDS}),
    )
}

/// A store failure while saving tokens: a family revoked meanwhile (a replay raced this
/// redemption) or a session ended meanwhile (a sign-out raced it) is `invalid_grant`,
/// anything else a server error.
fn store_failure(e: textid_store::StoreError) -> OAuthFailure {
    match e {
        textid_store::StoreError::Conflict(c) if c == "family_revoked" => err(
            ErrorCode::InvalidGrant,
            "the grant was revoked because it was used twice",
        ),
        textid_store::StoreError::Conflict(c) if c == "session_revoked" => err(
            ErrorCode::InvalidGrant,
            "the sign-in session in which the code was issued has ended; sign in again",
        ),
        _ => OAuthError::server_error().into(),
    }
}

/// Issues access token, ID token and (with `offline_access`) a rotated refresh token.
async fn issue(
    app: &App,
    tenant: &Tenant,
    client: &Client,
    record: &GrantRecord,
    grant: &Grant,
    issued: Issued<'_>,
) -> Result<Value, OAuthFailure> {
    let user = app
        .store()
        .user(tenant.id, grant.sub)
        .await
        .map_err(|_| OAuthError::server_error())?
        .filter(|u| u.account_enabled)
        .ok_or_else(|| {
            err(
                ErrorCode::InvalidGrant,
                "the user no longer exists or is disabled",
            )
        })?;
    let (now, access, requested_scope) = match issued {
        Issued::Code(now, access) => (now, access, None),
        Issued::Refresh(scope) => {
            let now = app.clock().now();
            let access = access_record(grant, now, new_jti(now))?;
            app.store()
                .record_access_token(
                    &access.jti,
                    &record.family_id,
                    access.user,
                    access.session,
                    access.expires_at,
                )
                .await
                .map_err(store_failure)?;
            (now, access, scope)
        }
    };
    let (jti, access_end) = (access.jti, access.expires_at);
    let bound = pass_end(grant);
    let offline = grant.scope.split(' ').any(|s| s == "offline_access");
    let expires_in = (access_end - now).num_seconds();
    let keys = app.oidc().map_err(|_| OAuthError::server_error())?.keys();
    // RFC 6749 §6: a refresh may narrow the scope of the new access token; the rotated
    // refresh token keeps the original grant.
    let scope = requested_scope.unwrap_or(&grant.scope).to_string();
    let scopes: Vec<&str> = scope.split(' ').filter(|s| !s.is_empty()).collect();
    let access_claims = AccessTokenClaims {
        iss: issuer(app, tenant),
        sub: user.id.to_string(),
        aud: api_audience(app),
        exp: access_end.timestamp(),
        iat: now.timestamp(),
        tid: tenant.id.to_string(),
        azp: client.client_id.clone(),
        client_id: client.client_id.clone(),
        scp: Some(scope.clone()),
        roles: Vec::new(),
        jti: jti.clone(),
    };
    let at_key = keys
        .signer(Algorithm::ES256)
        .ok_or_else(OAuthError::server_error)?;
    let access = token::sign(at_key, &access_claims, TokenType::AccessToken)
        .map_err(|_| OAuthError::server_error())?;
    let phone = scopes
        .contains(&"phone")
        .then(|| grant.phone.clone())
        .flatten();
    let profile = scopes.contains(&"profile");
    let id_claims = IdTokenClaims {
        iss: issuer(app, tenant),
        sub: user.id.to_string(),
        aud: client.client_id.clone(),
        exp: access_end.timestamp(),
        iat: now.timestamp(),
        auth_time: grant.auth_time,
        nonce: grant.nonce.clone(),
        tid: tenant.id.to_string(),
        phone_number_verified: phone.as_ref().map(|_| true),
        phone_number: phone,
        amr: grant.amr.clone(),
        name: profile.then(|| user.display_name.clone()),
        preferred_username: profile.then(|| user.upn.to_string()),
        sid: grant.sid.clone(),
    };
    let id_key = keys
        .signer(client.registration.id_token_signed_response_alg)
        .ok_or_else(OAuthError::server_error)?;
    let id_token = token::sign(id_key, &id_claims, TokenType::IdToken)
        .map_err(|_| OAuthError::server_error())?;
    let mut answer = json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
        "scope": scope,
        "id_token": id_token,
    });
    if offline && client.allows(GrantType::RefreshToken) {
        let refresh = new_token(&mut OsRng);
        let hash = app.hasher().token(refresh.expose());
        let auth_time = chrono::DateTime::from_timestamp(grant.auth_time, 0).unwrap_or(now);
        let expires =
            textid_core::tap::token_end(auth_time, Duration::days(REFRESH_ABSOLUTE_DAYS), bound);
        let mut next = record.clone();
        next.document = serde_json::to_value(Grant {
            code_challenge: None,
            ..grant.clone()
        })
        .map_err(|_| OAuthError::server_error())?;
        app.store()
            .insert_refresh_token(&hash.0, &next, now, expires)
            .await
            .map_err(store_failure)?;
        answer["refresh_token"] = json!(refresh.expose());
    }
    Ok(answer)
}

/// A fresh access token id (`jti`) issued at `now`: time-ordered, so that the records of
/// the tokens issued together share their index's last page.
fn new_jti(now: chrono::DateTime<chrono::Utc>) -> String {
    textid_core::ids::time_ordered_uuid(now, &mut OsRng).to_string()
}
