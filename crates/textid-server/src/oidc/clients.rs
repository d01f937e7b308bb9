//! OAuth client registrations: confidential or public, exact redirect URIs, allowed grant
//! types, the ID token algorithm, and app roles (for the admin API). The secret of a
//! confidential client is shown once and stored only as a hash.

use axum::http::StatusCode;
use rand::rngs::OsRng;
use serde::{Deserialize, Serialize};
use textid_core::tenant::Tenant;
use textid_oidc::{Algorithm, ClientSecret, ClientType, RedirectUri};
use textid_store::ClientRecord;

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
        })
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
    };
    let client_id = uuid::Uuid::new_v4().to_string();
    let secret =
        (new.client_type == ClientType::Confidential).then(|| ClientSecret::generate(&mut OsRng));
    let record = ClientRecord {
        tenant_id: tenant.id,
        client_id: client_id.clone(),
        document: serde_json::to_value(&registration).map_err(|e| ApiError::internal(&e))?,
        secret_hash: secret.as_ref().map(|s| s.hash().to_stored()),
    };
    app.store()
        .create_client(&record, app.clock().now())
        .await?;
    let client = Client {
        client_id,
        registration,
        secret_hash: record.secret_hash,
    };
    Ok((client, secret.map(|s| s.expose().to_string())))
}

/// A client by id.
pub async fn find(app: &App, tenant: &Tenant, client_id: &str) -> Result<Option<Client>, ApiError> {
    app.store()
        .client(tenant.id, client_id)
        .await?
        .map(Client::from_record)
        .transpose()
}

/// Grants app roles (Graph permission names) to a client.
pub async fn set_roles(
    app: &App,
    tenant: &Tenant,
    client_id: &str,
    roles: Vec<String>,
) -> Result<Client, ApiError> {
    let mut client = find(app, tenant, client_id).await?.ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "notFound",
            format!("client '{client_id}' not found"),
        )
    })?;
    client.registration.roles = roles;
    let record = ClientRecord {
        tenant_id: tenant.id,
        client_id: client.client_id.clone(),
        document: serde_json::to_value(&client.registration).map_err(|e| ApiError::internal(&e))?,
        secret_hash: client.secret_hash.clone(),
    };
    app.store().update_client(&record).await?;
    Ok(client)
}
