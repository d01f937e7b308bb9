//! OAuth client registrations: confidential or public, exact redirect URIs, allowed grant
//! types, the ID token algorithm, and app roles (for the admin API). The secret of a
//! confidential client is shown once and stored only as a hash.
//!
//! Lifecycle (issue #14 §4): a client can be disabled (and enabled), deleted, and its
//! secret rotated with an overlap in which the previous secret still works (deployed
//! apps switch without downtime), then is refused. A disabled or deleted client is
//! unknown to [`find`], which every endpoint uses (token, authorize, userinfo, the Graph
//! API), so its tokens and its sign-ins are refused at once. Every change is audited.

use axum::http::StatusCode;
use chrono::{DateTime, Duration, Utc};
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use textid_core::tenant::Tenant;
use textid_oidc::{Algorithm, ClientSecret, ClientSecretHash, ClientType, RedirectUri, WebOrigin};
use textid_store::{Actor, ClientRecord, StoreError};

use crate::app::App;
use crate::error::ApiError;

/// A grant type a client may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantType {
    /// Authorization code with PKCE.
    AuthorizationCode,
    /// Refresh token rotation.
    RefreshToken,
    /// Client credentials (confidential clients; automation).
    ClientCredentials,
}

impl GrantType {
    /// Parses the OAuth name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "authorization_code" => Some(Self::AuthorizationCode),
            "refresh_token" => Some(Self::RefreshToken),
            "client_credentials" => Some(Self::ClientCredentials),
            _ => None,
        }
    }
}

/// A client's registration, as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Registration {
    /// Display name (shown on the sign-in pages).
    pub name: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// Exact redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Exact post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Allowed grants.
    pub grant_types: Vec<GrantType>,
    /// ID token signing algorithm.
    pub id_token_signed_response_alg: Algorithm,
    /// App roles granted (Graph permission names).
    #[serde(default)]
    pub roles: Vec<String>,
    /// Disabled by an admin: the client is refused everywhere until enabled again.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub disabled: bool,
    /// Web origins set by an admin (`--allowed-origin`) that may call the token,
    /// userinfo and revocation endpoints from a browser, besides those derived from a
    /// public client's redirect URIs (see [`Client::web_origins`]).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub allowed_origins: Vec<WebOrigin>,
    /// Every password sign-in to this app needs a second factor (issue #15).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_mfa: bool,
}

/// A registered client.
#[derive(Debug, Clone)]
pub struct Client {
    /// Its id.
    pub client_id: String,
    /// Its registration.
    pub registration: Registration,
    /// Its stored secret hash (confidential).
    pub secret_hash: Option<String>,
    /// The secret before the last rotation, and until when it still works.
    pub previous_secret: Option<(String, DateTime<Utc>)>,
}

impl Client {
    /// From the store.
    pub fn from_record(r: ClientRecord) -> Result<Self, ApiError> {
        let registration: Registration =
            serde_json::from_value(r.document).map_err(|e| ApiError::internal(&e))?;
        Ok(Self {
            client_id: r.client_id,
            registration,
            secret_hash: r.secret_hash,
            previous_secret: r.previous_secret_hash.zip(r.previous_secret_expires_at),
        })
    }

    /// The record to store.
    fn to_record(&self, tenant: &Tenant) -> Result<ClientRecord, ApiError> {
        Ok(ClientRecord {
            tenant_id: tenant.id,
            client_id: self.client_id.clone(),
            document: serde_json::to_value(&self.registration)
                .map_err(|e| ApiError::internal(&e))?,
            secret_hash: self.secret_hash.clone(),
            previous_secret_hash: self.previous_secret.as_ref().map(|(h, _)| h.clone()),
            previous_secret_expires_at: self.previous_secret.as_ref().map(|(_, t)| *t),
        })
    }

    /// Whether `secret` is the client's secret, or its previous one during the overlap
    /// after a rotation (each compared by its hash; a wrong secret costs the same).
    pub fn verify_secret(&self, secret: &str, now: DateTime<Utc>) -> bool {
        let matches =
            |stored: &str| ClientSecretHash::parse_stored(stored).is_ok_and(|h| h.verify(secret));
        let current = self.secret_hash.as_deref().is_some_and(matches);
        let previous = self
            .previous_secret
            .as_ref()
            .filter(|(_, until)| now < *until)
            .is_some_and(|(h, _)| matches(h));
        current || previous
    }

    /// The web origins whose pages may call the token, userinfo and revocation endpoints
    /// for this client (CORS): the ones set explicitly, and for a public client the
    /// origins of its http(s) redirect URIs (a single-page app redeems its code from the
    /// page it was redirected to, as Entra's SPA platform does). A confidential client
    /// gets none derived: its secret must not be in a browser.
    pub fn web_origins(&self) -> Vec<WebOrigin> {
        let r = &self.registration;
        let derived = (r.client_type == ClientType::Public)
            .then(|| {
                r.redirect_uris
                    .iter()
                    .filter_map(|u| WebOrigin::of_redirect_uri(u))
            })
            .into_iter()
            .flatten();
        let mut all: Vec<WebOrigin> = r.allowed_origins.iter().cloned().chain(derived).collect();
        all.sort();
        all.dedup();
        all
    }

    /// Whether a page of `origin` (the request's `Origin` header) may call the token,
    /// userinfo and revocation endpoints for this client.
    pub fn allows_origin(&self, origin: &str) -> bool {
        self.web_origins().iter().any(|o| o.as_str() == origin)
    }

    /// Whether the client may use a grant type.
    pub fn allows(&self, grant: GrantType) -> bool {
        self.registration.grant_types.contains(&grant)
    }
}

/// What to register.
#[derive(Debug, Clone)]
pub struct NewClient {
    /// Display name.
    pub name: String,
    /// Confidential or public.
    pub client_type: ClientType,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    /// Grants (empty: authorization_code and refresh_token).
    pub grant_types: Vec<GrantType>,
    /// ID token algorithm (default RS256, OIDC's default).
    pub id_token_alg: Option<Algorithm>,
    /// Web origins allowed to call the token, userinfo and revocation endpoints
    /// (`--allowed-origin`), besides those of a public client's redirect URIs.
    pub allowed_origins: Vec<String>,
}

/// Parses the allowed origins given by an admin.
fn parse_origins(origins: &[String]) -> Result<Vec<WebOrigin>, ApiError> {
    let mut parsed = origins
        .iter()
        .map(|o| {
            WebOrigin::parse(o).map_err(|e| ApiError::invalid("allowedOrigin", format!("{o}: {e}")))
        })
        .collect::<Result<Vec<_>, _>>()?;
    parsed.sort();
    parsed.dedup();
    Ok(parsed)
}

/// Registers a client; returns it and, for a confidential client, its secret (shown once).
pub async fn register(
    app: &App,
    tenant: &Tenant,
    new: NewClient,
) -> Result<(Client, Option<String>), ApiError> {
    if new.name.trim().is_empty() {
        return Err(ApiError::invalid("name", "must not be empty"));
    }
    for uri in new
        .redirect_uris
        .iter()
        .chain(&new.post_logout_redirect_uris)
    {
        RedirectUri::parse(uri)
            .map_err(|e| ApiError::invalid("redirectUri", format!("{uri}: {e}")))?;
    }
    let allowed_origins = parse_origins(&new.allowed_origins)?;
    let mut grant_types = new.grant_types.clone();
    if grant_types.is_empty() {
        grant_types = vec![GrantType::AuthorizationCode, GrantType::RefreshToken];
    }
    if grant_types.contains(&GrantType::AuthorizationCode) && new.redirect_uris.is_empty() {
        return Err(ApiError::invalid(
            "redirectUri",
            "the authorization_code grant needs at least one redirect URI",
        ));
    }
    if new.client_type == ClientType::Public && grant_types.contains(&GrantType::ClientCredentials)
    {
        return Err(ApiError::invalid(
            "grantTypes",
            "a public client cannot use client_credentials",
        ));
    }
    let registration = Registration {
        name: new.name.trim().to_string(),
        client_type: new.client_type,
        redirect_uris: new.redirect_uris,
        post_logout_redirect_uris: new.post_logout_redirect_uris,
        grant_types,
        id_token_signed_response_alg: new.id_token_alg.unwrap_or(Algorithm::RS256),
        roles: Vec::new(),
        disabled: false,
        allowed_origins,
        require_mfa: false,
    };
    let client_id = uuid::Uuid::new_v4().to_string();
    let secret =
        (new.client_type == ClientType::Confidential).then(|| ClientSecret::generate(&mut OsRng));
    let record = ClientRecord {
        tenant_id: tenant.id,
        client_id: client_id.clone(),
        document: serde_json::to_value(&registration).map_err(|e| ApiError::internal(&e))?,
        secret_hash: secret.as_ref().map(|s| s.hash().to_stored()),
        previous_secret_hash: None,
        previous_secret_expires_at: None,
    };
    app.store()
        .create_client(&record, app.clock().now())
        .await?;
    let client = Client {
        client_id,
        registration,
        secret_hash: record.secret_hash,
        previous_secret: None,
    };
    Ok((client, secret.map(|s| s.expose().to_string())))
}

/// An enabled client by id: a disabled or deleted client is unknown, so every endpoint
/// that finds its client through here refuses it at once.
pub async fn find(app: &App, tenant: &Tenant, client_id: &str) -> Result<Option<Client>, ApiError> {
    Ok(find_any(app, tenant, client_id)
        .await?
        .filter(|c| !c.registration.disabled))
}

/// A client by id, disabled or not (for its admins).
pub async fn find_any(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
) -> Result<Option<Client>, ApiError> {
    app.store()
        .client(tenant.id, client_id)
        .await?
        .map(Client::from_record)
        .transpose()
}

fn not_found(client_id: &str) -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "notFound",
        format!("client '{client_id}' not found"),
    )
}

async fn existing(app: &App, tenant: &Tenant, client_id: &str) -> Result<Client, ApiError> {
    find_any(app, tenant, client_id)
        .await?
        .ok_or_else(|| not_found(client_id))
}

async fn save(
    app: &App,
    tenant: &Tenant,
    client: &Client,
    activity: &str,
    actor: &Actor,
) -> Result<(), ApiError> {
    let record = client.to_record(tenant)?;
    app.store()
        .update_client(&record, activity, actor, app.clock().now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => not_found(&client.client_id),
            e => e.into(),
        })
}

/// Grants app roles (Graph permission names) to a client. A role taken away is gone for
/// the access tokens already issued too: the admin API checks a token's roles against
/// the registration at every request.
pub async fn set_roles(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    roles: Vec<String>,
    actor: &Actor,
) -> Result<Client, ApiError> {
    let mut client = existing(app, tenant, client_id).await?;
    client.registration.roles = roles;
    save(app, tenant, &client, "Update application roles", actor).await?;
    Ok(client)
}

/// Replaces the web origins an admin allowed for a client (CORS; none: only those derived
/// from a public client's redirect URIs remain).
pub async fn set_allowed_origins(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    origins: &[String],
    actor: &Actor,
) -> Result<Client, ApiError> {
    let origins = parse_origins(origins)?;
    let mut client = existing(app, tenant, client_id).await?;
    client.registration.allowed_origins = origins;
    save(
        app,
        tenant,
        &client,
        "Update application allowed origins",
        actor,
    )
    .await?;
    Ok(client)
}

/// Sets whether every password sign-in to a client needs a second factor (issue #15).
pub async fn set_require_mfa(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    require: bool,
    actor: &Actor,
) -> Result<Client, ApiError> {
    let mut client = existing(app, tenant, client_id).await?;
    client.registration.require_mfa = require;
    save(
        app,
        tenant,
        &client,
        "Update application MFA requirement",
        actor,
    )
    .await?;
    Ok(client)
}

/// Whether any enabled client of the tenant allows pages of `origin` (a CORS preflight
/// names no client, so it is answered for the origin; the request itself is then
/// answered for its own client only).
pub async fn any_allows_origin(app: &App, tenant: &Tenant, origin: &str) -> Result<bool, ApiError> {
    let records = app.store().list_clients(tenant.id).await?;
    for r in records {
        let c = Client::from_record(r)?;
        if !c.registration.disabled && c.allows_origin(origin) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Disables (`enabled: false`) or enables a client. Disabled, it is refused by every
/// endpoint, and the access tokens it holds stop working at once.
pub async fn set_enabled(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    enabled: bool,
    actor: &Actor,
) -> Result<Client, ApiError> {
    let mut client = existing(app, tenant, client_id).await?;
    client.registration.disabled = !enabled;
    let activity = if enabled {
        "Enable application"
    } else {
        "Disable application"
    };
    save(app, tenant, &client, activity, actor).await?;
    Ok(client)
}

/// Deletes a client; its codes and refresh tokens are revoked with it, and its access
/// tokens are refused (the client is unknown).
pub async fn delete(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    actor: &Actor,
) -> Result<(), ApiError> {
    app.store()
        .delete_client(tenant.id, client_id, actor, app.clock().now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => not_found(client_id),
            e => e.into(),
        })
}

/// Gives a confidential client a new secret (returned once); the current one stays
/// valid for `overlap` (then it is refused), and one from an earlier rotation stops at
/// once.
pub async fn rotate_secret(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    overlap: Duration,
    actor: &Actor,
) -> Result<String, ApiError> {
    let mut client = existing(app, tenant, client_id).await?;
    if client.registration.client_type != ClientType::Confidential {
        return Err(ApiError::invalid(
            "clientId",
            "a public client has no secret to rotate",
        ));
    }
    let secret = ClientSecret::generate(&mut OsRng);
    let now = app.clock().now();
    client.previous_secret = client
        .secret_hash
        .take()
        .filter(|_| overlap > Duration::zero())
        .map(|h| (h, now + overlap));
    client.secret_hash = Some(secret.hash().to_stored());
    save(app, tenant, &client, "Rotate application secret", actor).await?;
    Ok(secret.expose().to_string())
}
