//! Who is calling the admin API, and what they may do. Apps: the app roles granted to the
//! client (Graph permission names). People: their directory roles, mapped to the same
//! permissions. A `.ReadWrite.` permission includes its `.Read.` variant.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use textid_core::tenant::Tenant;
use textid_core::UserId;
use textid_store::Actor;

use super::error::GraphError;
use crate::app::App;
use crate::oidc::bearer_token;

/// Every permission the admin API knows.
pub const PERMISSIONS: &[&str] = &[
    "User.Read.All",
    "User.ReadWrite.All",
    "User.RevokeSessions.All",
    "Group.Read.All",
    "Group.ReadWrite.All",
    "UserAuthenticationMethod.Read.All",
    "UserAuthenticationMethod.ReadWrite.All",
    "Policy.Read.All",
    "Policy.ReadWrite.AuthenticationMethod",
    "AuditLog.Read.All",
    // Not a Graph permission: SCIM provisioning (`crate::scim`), apps only.
    crate::scim::auth::PROVISIONING,
    "User.Read",
    "UserAuthenticationMethod.Read",
    "UserAuthenticationMethod.ReadWrite",
];

/// Delegated permissions over the signed-in user's own account (`/v1.0/me`), as Graph
/// has them: a person holds them without any directory role, once an app was allowed to
/// ask for them and asked.
pub const SELF_SERVICE: &[&str] = &[
    "User.Read",
    "UserAuthenticationMethod.Read",
    "UserAuthenticationMethod.ReadWrite",
];

/// Directory roles a person can hold, and what each grants.
pub const ROLES: &[(&str, &[&str])] = &[
    (
        "Global Administrator",
        &[
            "User.ReadWrite.All",
            "Group.ReadWrite.All",
            "UserAuthenticationMethod.ReadWrite.All",
            "Policy.ReadWrite.AuthenticationMethod",
            "AuditLog.Read.All",
        ],
    ),
    (
        "Authentication Administrator",
        &[
            "User.Read.All",
            "User.RevokeSessions.All",
            "Group.Read.All",
            "UserAuthenticationMethod.ReadWrite.All",
            "AuditLog.Read.All",
        ],
    ),
    (
        "Authentication Policy Administrator",
        &[
            "Group.Read.All",
            "Policy.ReadWrite.AuthenticationMethod",
            "AuditLog.Read.All",
        ],
    ),
    (
        "Global Reader",
        &[
            "User.Read.All",
            "Group.Read.All",
            "UserAuthenticationMethod.Read.All",
            "Policy.Read.All",
            "AuditLog.Read.All",
        ],
    ),
];

/// The authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The caller's tenant.
    pub tenant: Tenant,
    /// App or person.
    pub who: Who,
    /// Granted permissions.
    pub permissions: Vec<String>,
    /// The person's directory roles (empty for apps).
    pub roles: Vec<String>,
}

/// App or person.
#[derive(Debug, Clone)]
pub enum Who {
    /// An app (client credentials).
    App(String),
    /// A person (delegated).
    User(UserId),
}

impl Caller {
    /// The audit actor.
    pub fn actor(&self) -> Actor {
        match &self.who {
            Who::App(id) => Actor {
                kind: "app".into(),
                id: id.clone(),
            },
            Who::User(id) => Actor {
                kind: "user".into(),
                id: id.to_string(),
            },
        }
    }

    /// Entra's rule for authentication methods: only a Global Administrator may change the
    /// methods of a person who holds a directory role (else a helpdesk admin could re-point
    /// an admin's SMS sign-in number and become them). Apps are bound by their permission.
    pub async fn may_change_methods_of(&self, app: &App, target: UserId) -> Result<(), GraphError> {
        if matches!(self.who, Who::App(_)) || self.roles.iter().any(|r| r == "Global Administrator")
        {
            return Ok(());
        }
        let target_roles = app.store().user_roles(self.tenant.id, target).await?;
        if target_roles.is_empty() {
            Ok(())
        } else {
            Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                "Insufficient privileges to complete the operation. Only a Global Administrator can change the authentication methods of a user who holds a directory role.",
            ))
        }
    }

    /// The user whose authentication methods a write addresses, once the caller may write
    /// methods at all and may change this user's.
    pub async fn target_for_method_change(
        &self,
        app: &App,
        user: &str,
    ) -> Result<textid_core::directory::User, GraphError> {
        self.require("UserAuthenticationMethod.ReadWrite.All")?;
        let u = super::users::resolve_user(app, &self.tenant, user).await?;
        self.may_change_methods_of(app, u.id).await?;
        Ok(u)
    }

    /// The signed-in person of a delegated token, for `/v1.0/me`. An app's own token has
    /// no "me": Graph's 400.
    pub fn me(&self) -> Result<UserId, GraphError> {
        match self.who {
            Who::User(id) => Ok(id),
            Who::App(_) => Err(GraphError::new(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "/me request is only valid with delegated authentication flow.",
            )),
        }
    }

    /// Checks that one of `permissions` was granted; the error names the first.
    pub fn require_any(&self, permissions: &[&str]) -> Result<(), GraphError> {
        let granted = permissions.iter().any(|p| self.require(p).is_ok());
        match (granted, permissions.first()) {
            (true, _) | (false, None) => Ok(()),
            (false, Some(first)) => self.require(first),
        }
    }

    /// Checks a permission (`X.ReadWrite.All` includes `X.Read.All`).
    pub fn require(&self, permission: &str) -> Result<(), GraphError> {
        let write_variant = permission.replace(".Read.", ".ReadWrite.");
        let own_write = permission
            .strip_suffix(".Read")
            .map(|base| format!("{base}.ReadWrite"));
        let granted = self.permissions.iter().any(|p| {
            p == permission
                || *p == write_variant
                || own_write.as_ref() == Some(p)
                || (permission == "Policy.Read.All" && p == "Policy.ReadWrite.AuthenticationMethod")
        });
        if granted {
            Ok(())
        } else {
            Err(GraphError::new(
                StatusCode::FORBIDDEN,
                "Authorization_RequestDenied",
                format!("Insufficient privileges to complete the operation. Missing permission: {permission}."),
            ))
        }
    }
}

/// A 401 with the reason.
pub struct Unauthorized(&'static str);

impl IntoResponse for Unauthorized {
    fn into_response(self) -> Response {
        let mut res = GraphError::new(
            StatusCode::UNAUTHORIZED,
            "InvalidAuthenticationToken",
            self.0,
        )
        .into_response();
        let value = format!(
            "Bearer error=\"invalid_token\", error_description=\"{}\"",
            self.0
        );
        if let Ok(v) = HeaderValue::from_str(&value) {
            res.headers_mut().insert(header::WWW_AUTHENTICATE, v);
        }
        res
    }
}

/// The tenant a token claims to come from (checked by the signature verification after).
fn claimed_tenant(app: &App, token: &str) -> Option<String> {
    let payload = token.split('.').nth(1)?;
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    let claims: serde_json::Value = serde_json::from_slice(&raw).ok()?;
    let iss = claims.get("iss")?.as_str()?;
    let prefix = format!("{}/", app.config().public_url.trim_end_matches('/'));
    iss.strip_prefix(&prefix)?
        .strip_suffix("/v2.0")
        .map(str::to_string)
}

impl FromRequestParts<App> for Caller {
    type Rejection = Unauthorized;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        let auth = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .ok_or(Unauthorized("Access token is empty."))?;
        let token = bearer_token(auth).ok_or(Unauthorized("Access token is empty."))?;
        let name = claimed_tenant(app, token).ok_or(Unauthorized(
            "Access token validation failure. Invalid audience or issuer.",
        ))?;
        let tenant = app.tenant(&name).await.map_err(|_| {
            Unauthorized("Access token validation failure. Invalid audience or issuer.")
        })?;
        let (claims, client) =
            crate::oidc::endpoints::verify_access_token(app, &tenant, &parts.headers)
                .await
                .map_err(Unauthorized)?;
        // Roles are checked against the registration now, not only the token's claims: a
        // role taken from the app is gone for the tokens it already holds (issue #14 §4).
        let allowed = &client.registration.roles;
        let (who, permissions, roles) = if claims.scp.is_none() {
            let current = claims
                .roles
                .iter()
                .filter(|r| allowed.contains(r))
                .cloned()
                .collect();
            (Who::App(claims.client_id.clone()), current, Vec::new())
        } else {
            let user: UserId = claims
                .sub
                .parse()
                .map_err(|_| Unauthorized("Access token validation failure."))?;
            // A person who was disabled or deleted loses access at once, token or not.
            let active = app
                .store()
                .user(tenant.id, user)
                .await
                .ok()
                .flatten()
                .is_some_and(|u| u.account_enabled);
            if !active {
                return Err(Unauthorized("The user is disabled or no longer exists."));
            }
            let roles = app
                .store()
                .user_roles(tenant.id, user)
                .await
                .map_err(|_| Unauthorized("Access token validation failure."))?;
            // Delegated permissions: what the token's scope asks for (and the client was
            // allowed) AND what the person's roles grant. A sign-in token without admin API
            // scopes has none.
            let prefix = format!("{}/", crate::oidc::api_audience(app));
            let scoped: Vec<&str> = claims
                .scp
                .as_deref()
                .unwrap_or("")
                .split(' ')
                .filter_map(|s| s.strip_prefix(&prefix))
                // An admin scope the app is no longer allowed to ask for is gone too.
                .filter(|s| allowed.iter().any(|r| r == s))
                .collect();
            let granted: Vec<String> = roles
                .iter()
                .filter_map(|r| ROLES.iter().find(|(name, _)| name == r))
                .flat_map(|(_, perms)| perms.iter().map(|p| p.to_string()))
                .collect();
            let perms = scoped
                .iter()
                .filter(|s: &&&str| {
                    let (s, write) = (**s, s.replace(".Read.", ".ReadWrite."));
                    SELF_SERVICE.contains(&s)
                        || granted.iter().any(|g| {
                            g.as_str() == s
                                || *g == write
                                || (s == "Policy.Read.All"
                                    && g.as_str() == "Policy.ReadWrite.AuthenticationMethod")
                        })
                })
                .map(|s| s.to_string())
                .collect();
            (Who::User(user), perms, roles)
        };
        Ok(Caller {
            tenant,
            who,
            permissions,
            roles,
        })
    }
}
