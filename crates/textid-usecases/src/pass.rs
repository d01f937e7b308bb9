//! Temporary Access Pass sign-in (DESIGN.md §1; issue #15): a user name and a pass. The
//! pass must be live, the policy must still cover the user, and a one-time pass is
//! consumed in the redemption's transaction (`PassStore::redeem_tap`). The session ends
//! when the pass does, if that is sooner; its `amr` is `["tap"]`. A wrong pass, an unknown
//! user name and a disabled account get the same answer, and failures count like wrong
//! passwords (`crate::password`).

use textid_core::directory::Upn;
use textid_core::policy::Subject;
use textid_core::secret::Secret;
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_core::UserId;

use crate::password::{
    count_attempt, counter_key, ensure_not_locked, issue_session, PasswordFailure, SessionToIssue,
};
use crate::sign_in::{IssuedSession, Requester};
use crate::Context as App;

/// The `amr` of a session opened with a pass.
pub const PASS_AMR: &str = textid_core::tap::AMR;

/// A pass sign-in request.
#[derive(Debug)]
pub struct PassSignIn {
    /// The user name as typed (a userPrincipalName).
    pub user_name: String,
    /// The pass as typed.
    pub pass: Secret<String>,
    /// The kind of session to issue.
    pub kind: SessionKind,
    /// Who is asking.
    pub requester: Requester,
}

/// The keyed hash of a pass of `user` (as Graph stores it when it creates one).
pub fn pass_hash(app: &App, user: UserId, pass: &str) -> Vec<u8> {
    app.hasher()
        .digest("textid/tap/v1", &[user.0.as_bytes(), pass.as_bytes()])
        .0
        .to_vec()
}

/// Signs in with a user name and a Temporary Access Pass.
#[tracing::instrument(name = "sign_in.pass", skip_all, fields(textid.tenant = %tenant.name))]
pub async fn sign_in(
    app: &App,
    tenant: &Tenant,
    req: PassSignIn,
) -> Result<IssuedSession, PasswordFailure> {
    let account = match Upn::parse(&req.user_name) {
        Ok(upn) => app.store().password_account(tenant.id, &upn).await?,
        Err(_) => None,
    };
    let policy = app.store().policy(tenant.id).await?;
    let usable = account.as_ref().filter(|a| {
        a.account_enabled
            && policy.temporary_access_pass.allows(Subject {
                user_id: a.user_id,
                groups: &a.groups,
            })
    });
    // An unknown or refused user is looked up the same way (a user id no pass has), so
    // the answer costs the same.
    let user = usable.map_or(UserId(uuid::Uuid::nil()), |a| a.user_id);
    let hash = pass_hash(app, user, req.pass.expose());
    let key = counter_key(&req.user_name);
    ensure_not_locked(app, tenant, &key, &req.requester).await?;
    let now = app.clock().now();
    let redeemed = app.store().redeem_tap(tenant.id, user, &hash, now).await?;
    let signed_in = redeemed.filter(|_| usable.is_some());
    let winner = signed_in.as_ref().map(|_| user);
    count_attempt(app, tenant, &key, winner, &req.requester).await?;
    let Some((_, redeemed)) = signed_in else {
        return Err(PasswordFailure::InvalidCredentials);
    };
    let new = SessionToIssue {
        user_id: user,
        amr: vec![PASS_AMR.to_owned()],
        kind: req.kind,
        expires_at: Some(redeemed.ends_at),
    };
    issue_session(app, tenant, &key, new, &req.requester).await
}
