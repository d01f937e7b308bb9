//! Who may provision: an application holding the `Provisioning.ReadWrite.All` app role,
//! with a bearer access token from the tenant's token endpoint (client credentials). A
//! person's token, an API session or any other credential is refused: provisioning is a
//! machine's job, and a person's directory roles do not extend to it. The role is checked
//! against the application's registration now, not only the token, so a role taken away
//! is gone for tokens already issued. Refusals are SCIM errors (401, 403).

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::StatusCode;
use textid_core::tenant::Tenant;
use textid_store::Actor;

use super::error::ScimError;
use crate::app::App;

/// The app role that grants SCIM provisioning.
pub const PROVISIONING: &str = "Provisioning.ReadWrite.All";

/// The authenticated provisioning client.
#[derive(Debug, Clone)]
pub struct Provisioner {
    /// The tenant of the path (and of the token).
    pub tenant: Tenant,
    /// The tenant's name, as in the path.
    pub tenant_name: String,
    /// The client id.
    pub client_id: String,
}

impl Provisioner {
    /// The audit actor: the sync, named by its client.
    pub fn actor(&self) -> Actor {
        Actor {
            kind: "sync".into(),
            id: self.client_id.clone(),
        }
    }
}

fn unauthorized(detail: &str) -> ScimError {
    ScimError::new(StatusCode::UNAUTHORIZED, None, detail)
}

impl FromRequestParts<App> for Provisioner {
    type Rejection = ScimError;

    async fn from_request_parts(parts: &mut Parts, app: &App) -> Result<Self, Self::Rejection> {
        // Routes are `/{tenant}/scim/v2/...`.
        let name = parts
            .uri
            .path()
            .split('/')
            .nth(1)
            .unwrap_or_default()
            .to_string();
        let tenant = app
            .tenant(&name)
            .await
            .map_err(|_| ScimError::not_found("tenant"))?;
        let (claims, client) =
            crate::oidc::endpoints::verify_access_token(app, &tenant, &parts.headers)
                .await
                .map_err(unauthorized)?;
        if claims.scp.is_some() {
            return Err(ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                "SCIM provisioning accepts only application tokens (client credentials), not a person's token",
            ));
        }
        let granted = claims.roles.iter().any(|r| r == PROVISIONING)
            && client.registration.roles.iter().any(|r| r == PROVISIONING);
        if !granted {
            return Err(ScimError::new(
                StatusCode::FORBIDDEN,
                None,
                format!("the application needs the {PROVISIONING} app role"),
            ));
        }
        Ok(Self {
            tenant,
            tenant_name: name,
            client_id: claims.client_id,
        })
    }
}
