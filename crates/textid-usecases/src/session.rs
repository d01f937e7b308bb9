//! Sessions after sign-in (issue #14 §1, §4): an app checks the API session it was given
//! (introspection), ends it (sign-out), and an admin ends every session of a user.
//!
//! The API session is the `sessionToken` that the JSON sign-in API returns. It is a
//! bearer credential for the app that called the API, and nothing else: it is looked up
//! only as [`SessionKind::Api`], so it never opens a browser (SSO) session, and a browser
//! session cookie is unknown here. Introspection answers like RFC 7662: a live session
//! with its user, expiry and methods, or just "inactive", the same for an unknown, ended,
//! revoked, foreign-tenant or other-kind token (nothing tells them apart).

use chrono::{DateTime, Utc};
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_core::UserId;
use textid_store::{Actor, SessionRecord, StoreError};

use crate::directory::DirectoryError;
use crate::Context as App;

/// A live API session, as introspection reports it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActiveSession {
    /// The user.
    pub user_id: UserId,
    /// When it ends.
    pub expires_at: DateTime<Utc>,
    /// When it began (the sign-in).
    pub issued_at: DateTime<Utc>,
    /// How the user authenticated (RFC 8176).
    pub amr: Vec<String>,
    /// The app it was issued for, when the sign-in named one.
    pub client_id: Option<String>,
}

async fn live_api_session(
    app: &App,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<SessionRecord>, StoreError> {
    let hash = app.hasher().token(token);
    let found = app
        .store()
        .session_by_token_hash(SessionKind::Api, &hash.0, app.clock().now())
        .await?;
    Ok(found.filter(|s| s.tenant_id == tenant.id))
}

/// The live API session of `token` in this tenant, or `None` (unknown, ended, revoked,
/// another tenant's, or a browser session's token: all alike).
pub async fn introspect(
    app: &App,
    tenant: &Tenant,
    token: &str,
) -> Result<Option<ActiveSession>, StoreError> {
    Ok(live_api_session(app, tenant, token)
        .await?
        .map(|s| ActiveSession {
            user_id: s.user_id,
            expires_at: s.expires_at,
            issued_at: s.created_at,
            amr: s.amr,
            client_id: s.client_id,
        }))
}

/// Ends the API session of `token` (sign-out). Idempotent: an unknown or ended token is
/// fine (RFC 7009 §2.2 answers the same), so the answer reveals nothing.
pub async fn sign_out(app: &App, tenant: &Tenant, token: &str) -> Result<(), StoreError> {
    if let Some(s) = live_api_session(app, tenant, token).await? {
        app.store().revoke_session(s.id, app.clock().now()).await?;
    }
    Ok(())
}

/// Ends every session of a user (API and browser) and revokes every token family issued
/// to them (Graph's `revokeSignInSessions`), audited.
pub async fn revoke_user_sessions(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    app.store()
        .revoke_user_sessions(tenant.id, user, actor, app.clock().now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound(what) => DirectoryError::NotFound {
                what,
                key: user.to_string(),
            },
            e => e.into(),
        })
}
