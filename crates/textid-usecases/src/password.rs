//! Passwords (issue #15): setting them (admins, the user), and the password sign-in with
//! its optional second factor.
//!
//! ```text
//!   password(userName, password[, newPassword]) ──► wrong: invalidCredentials (counted)
//!        │ right
//!        ├─ MFA not required ─────────────────────► session, amr ["pwd"]
//!        └─ app or tenant requires MFA ─► code to the user's mobile (text or call)
//!                                          └─ verify(flowId, code) ─► session, amr ["pwd", "sms"|"tel", "mfa"]
//! ```
//!
//! Hashing is argon2id with OWASP's minimum parameters (19 MiB, 2 passes, 1 lane), run on
//! the blocking pool, never on the async runtime. A user name that does not exist, a
//! disabled account and a user without a password are verified against a fixed dummy hash
//! of the same parameters, and their failures are counted under the same key shape as a
//! real user's, so neither the answer nor its time says which names exist. Failures count
//! like wrong codes do (DESIGN.md §3): per user name (the lock, after many) and per (user
//! name, client IP) (the early throttle), through the sign-in step's counters; these steps
//! go to the store directly, not through the SMS sign-in metrics (no code is involved).

use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;
use textid_core::abuse::AbuseWrite;
use textid_core::code::new_token;
use textid_core::directory::Upn;
use textid_core::flow::sms_sign_in::{FlowPurpose, SignInError};
use textid_core::flow::SmsSignInFlow;
use textid_core::message::Channel;
use textid_core::methods::PhoneType;
use textid_core::password::{
    after_password, AfterPassword, MfaRequirement, Password, PasswordChange, PasswordError,
    SecondFactorFacts,
};
use textid_core::policy::Subject;
use textid_core::secret::Secret;
use textid_core::session::SessionKind;
use textid_core::tenant::Tenant;
use textid_core::{FlowId, SessionId, UserId};
use textid_store::{
    Actor, NewSession, PasswordUpdate, SignInLogEntry, StepOutcome, StepTarget, StepWrite,
    StoreError,
};

use crate::proof::{send_for, CodeFor};
use crate::sign_in::{refused, IssuedSession, LogContext, Requester, SignInFailure};
use crate::Context as App;

/// argon2id memory cost in KiB (OWASP Password Storage Cheat Sheet: m=19456, t=2, p=1).
pub const ARGON2_MEMORY_KIB: u32 = 19_456;
/// argon2id passes.
pub const ARGON2_ITERATIONS: u32 = 2;
/// argon2id lanes.
pub const ARGON2_PARALLELISM: u32 = 1;

/// Why a password operation did not succeed.
#[derive(Debug, thiserror::Error)]
pub enum PasswordFailure {
    /// Wrong user name or password (the same for an unknown user, a disabled account and
    /// a user without a password).
    #[error("the user name or password is not correct")]
    InvalidCredentials,
    /// The password was right, and the user must choose a new one first.
    #[error("the password must be changed: send it again with newPassword")]
    PasswordChangeRequired,
    /// The new password breaks a rule.
    #[error(transparent)]
    NewPassword(#[from] PasswordError),
    /// The app or tenant requires MFA and the user has no phone the policy lets them use.
    #[error("multi-factor authentication is required and this user has no phone that can be used as a second factor; ask an administrator")]
    SecondFactorUnavailable,
    /// Voice was asked for and the Voice policy (or the provider) does not allow it.
    #[error("a call cannot be used for this user; use \"sms\"")]
    ChannelNotAllowed,
    /// A sign-in step's answer (`temporarilyLocked`, `invalidCode`, `flowNotFound`, ...).
    #[error(transparent)]
    SignIn(SignInError),
    /// The user does not exist (admin operations).
    #[error("user '{0}' not found")]
    UserNotFound(String),
    /// The store failed, or hashing did.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<SignInFailure> for PasswordFailure {
    fn from(e: SignInFailure) -> Self {
        match e {
            SignInFailure::SignIn(e) => Self::SignIn(e),
            SignInFailure::Store(e) => Self::Store(e),
        }
    }
}

fn argon2() -> Argon2<'static> {
    let params = Params::new(
        ARGON2_MEMORY_KIB,
        ARGON2_ITERATIONS,
        ARGON2_PARALLELISM,
        None,
    )
    .unwrap_or_default();
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

fn hash_blocking(password: &str) -> Result<String, StoreError> {
    let salt = SaltString::generate(&mut OsRng);
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| StoreError::Corrupt(format!("password hashing failed: {e}")))
}

/// A hash of the same parameters that no password matches in practice: what an unknown
/// user's password is checked against, so that the check costs the same.
fn dummy_hash() -> &'static str {
    static DUMMY: OnceLock<String> = OnceLock::new();
    DUMMY.get_or_init(|| {
        hash_blocking("textid dummy password: no account has it").unwrap_or_default()
    })
}

/// Hashes a new password (argon2id, a random salt, PHC string) off the async runtime.
pub async fn hash(password: &Password) -> Result<Secret<String>, StoreError> {
    let pw = Secret::new(password.expose().to_owned());
    tokio::task::spawn_blocking(move || hash_blocking(pw.expose()).map(Secret::new))
        .await
        .map_err(|e| StoreError::Backend(Box::new(e)))?
}

/// Whether `presented` matches `stored` (or, without one, the dummy hash: always false,
/// at the same cost), off the async runtime.
async fn verify(stored: Option<Secret<String>>, presented: Secret<String>) -> bool {
    let checked = tokio::task::spawn_blocking(move || {
        let real = stored.is_some();
        let phc = stored.map_or_else(|| dummy_hash().to_owned(), |s| s.expose().clone());
        let ok = PasswordHash::new(&phc).is_ok_and(|h| {
            argon2()
                .verify_password(presented.expose().as_bytes(), &h)
                .is_ok()
        });
        real && ok
    })
    .await;
    checked.unwrap_or(false)
}

/// Sets (or with `None` removes) a user's password as an admin (CLI, Graph
/// `passwordProfile`): audited as `Reset user password`; the user's sessions end.
pub async fn set_by_admin(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    password: Option<&Password>,
    force_change: bool,
    actor: &Actor,
) -> Result<(), PasswordFailure> {
    let hash = match password {
        Some(p) => Some(hash(p).await?),
        None => None,
    };
    let update = PasswordUpdate {
        hash,
        force_change: force_change && password.is_some(),
        change: PasswordChange::AdminReset,
    };
    app.store()
        .set_password(tenant.id, user, &update, actor, app.clock().now())
        .await
        .map_err(|e| match e {
            StoreError::NotFound(_) => PasswordFailure::UserNotFound(user.to_string()),
            e => e.into(),
        })
}

/// A password sign-in request.
#[derive(Debug)]
pub struct PasswordSignIn {
    /// The user name as typed (a userPrincipalName).
    pub user_name: String,
    /// The password as typed.
    pub password: Secret<String>,
    /// A new password to set on the way (required when an admin forced a change).
    pub new_password: Option<Password>,
    /// How the second-factor code goes, when one is needed.
    pub channel: Channel,
    /// The app requires MFA (its registration's setting).
    pub client_requires_mfa: bool,
    /// The kind of session to issue.
    pub kind: SessionKind,
    /// Who is asking.
    pub requester: Requester,
}

/// What a right password leads to.
#[derive(Debug)]
pub enum PasswordOutcome {
    /// Signed in with the password alone.
    SignedIn(IssuedSession),
    /// A code went to the user's mobile; verify it with [`verify_second_factor`].
    SecondFactor(SmsSignInFlow),
}

/// The key under which a user name's failures are counted (the counters of the sign-in
/// step, keyed like numbers; a `upn:` prefix never collides with an E.164 number).
pub(crate) fn counter_key(user_name: &str) -> String {
    let folded = Upn::parse(user_name).map_or_else(
        |_| textid_core::directory::user::fold(user_name.trim()),
        |u| u.as_str().to_owned(),
    );
    format!("upn:{folded}")
}

/// Checks a user name and password; on success signs in, or sends the second factor.
#[tracing::instrument(name = "sign_in.password", skip_all, fields(textid.tenant = %tenant.name))]
pub async fn sign_in(
    app: &App,
    tenant: &Tenant,
    req: PasswordSignIn,
) -> Result<PasswordOutcome, PasswordFailure> {
    let account = match Upn::parse(&req.user_name) {
        Ok(upn) => app.store().password_account(tenant.id, &upn).await?,
        Err(_) => None,
    };
    let usable = account.as_ref().filter(|a| a.account_enabled);
    let stored = usable.and_then(|a| a.password_hash.clone());
    let verified = verify(stored, req.password.clone()).await;
    let user = usable.filter(|_| verified).map(|a| a.user_id);
    let key = counter_key(&req.user_name);
    count_attempt(app, tenant, &key, user, &req.requester).await?;
    let (Some(account), Some(_)) = (account, user) else {
        return Err(PasswordFailure::InvalidCredentials);
    };
    if let Some(new) = &req.new_password {
        let update = PasswordUpdate {
            hash: Some(hash(new).await?),
            force_change: false,
            change: PasswordChange::UserChange,
        };
        let (u, now) = (account.user_id, app.clock().now());
        app.store()
            .set_password(tenant.id, u, &update, &Actor::user(u), now)
            .await?;
    } else if account.force_change {
        return Err(PasswordFailure::PasswordChangeRequired);
    }
    let policy = app.store().policy(tenant.id).await?;
    let who = Subject {
        user_id: account.user_id,
        groups: &account.groups,
    };
    let need = MfaRequirement {
        tenant: tenant.require_mfa,
        client: req.client_requires_mfa,
    };
    let facts = SecondFactorFacts {
        sms: policy.sms.permission(who),
        has_mobile: account.mobile.is_some(),
    };
    match after_password(need, facts) {
        AfterPassword::SignIn => {
            let new = SessionToIssue {
                user_id: account.user_id,
                amr: vec!["pwd".to_owned()],
                kind: req.kind,
                expires_at: None,
            };
            let session = issue_session(app, tenant, &key, new, &req.requester).await?;
            Ok(PasswordOutcome::SignedIn(session))
        }
        AfterPassword::NoSecondFactor => Err(PasswordFailure::SecondFactorUnavailable),
        AfterPassword::SecondFactor => {
            let voice_ok = req.channel == Channel::Sms
                || (policy.allows_channel(who, PhoneType::Mobile, req.channel)
                    && app.places_calls());
            if !voice_ok {
                return Err(PasswordFailure::ChannelNotAllowed);
            }
            let mobile = account.mobile.clone().unwrap_or_default();
            let code = CodeFor {
                purpose: FlowPurpose::SecondFactor,
                kind: textid_sms::MessageKind::SignInCode,
                events: SECOND_FACTOR,
            };
            let flow = send_for(
                app,
                tenant,
                Some(account.user_id),
                mobile,
                req.channel,
                code,
                req.requester,
            )
            .await?;
            Ok(PasswordOutcome::SecondFactor(flow))
        }
    }
}

/// Checks the second-factor code of a password sign-in; on success a session with `amr`
/// `["pwd", "sms"|"tel", "mfa"]`. Only a flow started by a right password is accepted.
pub async fn verify_second_factor(
    app: &App,
    tenant: &Tenant,
    flow_id: FlowId,
    code: &textid_core::code::OtpCode,
    kind: SessionKind,
    requester: Requester,
) -> Result<IssuedSession, SignInFailure> {
    let target = (flow_id, FlowPurpose::SecondFactor);
    let session = crate::sign_in::verify_for(app, tenant, target, code, kind, requester).await?;
    // The account may have been disabled or deleted since the password was checked. Read
    // after the session is written: a disable that commits later revokes it with every
    // other session of the user (`session::user_update_revokes`), one that committed
    // before is seen here, so no session of a disabled account survives either order.
    let user = app.store().user(tenant.id, session.user_id).await?;
    if !user.is_some_and(|u| u.account_enabled) {
        app.store()
            .revoke_session(session.session_id, app.clock().now())
            .await?;
        return Err(SignInError::FlowNotFound.into());
    }
    Ok(session)
}

/// Sign-in log events of second-factor codes.
const SECOND_FACTOR: crate::proof::Events = ("mfaCodeRequested", "mfaCodeVerified");

fn log_entry(log: &LogContext, user: Option<UserId>, failure: Option<&str>) -> SignInLogEntry {
    SignInLogEntry {
        method: "password".into(),
        event: "passwordVerified".into(),
        phone: None,
        user_id: user,
        result: if failure.is_some() {
            "failure"
        } else {
            "success"
        }
        .into(),
        failure_reason: failure.map(str::to_owned),
        ..log.entry("passwordVerified", None, Ok(user))
    }
}

/// Counts a password attempt under `key`, like a code: refused while the name (or the
/// name from this client IP) is locked, for right and wrong passwords alike; a wrong one
/// adds a failure, a right one clears them. `user`: the user, when the password was right.
pub(crate) async fn count_attempt(
    app: &App,
    tenant: &Tenant,
    key: &str,
    user: Option<UserId>,
    requester: &Requester,
) -> Result<(), PasswordFailure> {
    let now = app.clock().now();
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester: requester.clone(),
    };
    let query = log.query(app, false);
    let q = query.clone();
    let app2 = app.clone();
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let limits = app2.limits();
        let counter = input.counter.cloned().unwrap_or_default();
        let lock = counter
            .lock_remaining(now)
            .or_else(|| input.abuse.client.lock_remaining(now));
        if let Some(wait) = lock {
            let e = SignInError::TemporarilyLocked {
                retry_after_seconds: textid_core::flow::retry_after_seconds(wait),
            };
            return refused(now, e.clone(), log_entry(&log, None, Some(e.code())));
        }
        let (outcome, counter, client, entry) = match user {
            Some(u) => (
                Ok(StepOutcome::SignedIn(u)),
                counter.record_success(),
                Default::default(),
                log_entry(&log, Some(u), None),
            ),
            None => (
                Err(SignInError::InvalidCode),
                counter.record_failure(now, limits),
                input.abuse.client.record_failure(now, &q.limits),
                log_entry(&log, None, Some("invalidCredentials")),
            ),
        };
        StepWrite {
            at: now,
            outcome,
            flow: None,
            counter: Some(counter),
            message: None,
            supersede_queued: false,
            session: None,
            log: Some(entry),
            abuse: AbuseWrite {
                client: Some(client),
                ..AbuseWrite::default()
            },
            link_request: None,
        }
    });
    let target = StepTarget::Number(key.to_owned());
    let write = app
        .store()
        .sms_sign_in_step(tenant.id, target, query, decide)
        .await?;
    match write.outcome {
        Ok(_) => Ok(()),
        Err(SignInError::InvalidCode) => Err(PasswordFailure::InvalidCredentials),
        Err(e) => Err(PasswordFailure::SignIn(e)),
    }
}

/// Refuses (`temporarilyLocked`) while the user name, or the name from this client IP, is
/// locked, writing nothing: asked before something that cannot be undone (a one-time
/// pass consumed), so that a lock an attacker caused cannot burn the user's pass.
pub(crate) async fn ensure_not_locked(
    app: &App,
    tenant: &Tenant,
    key: &str,
    requester: &Requester,
) -> Result<(), PasswordFailure> {
    let now = app.clock().now();
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester: requester.clone(),
    };
    let query = log.query(app, false);
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let lock = input
            .counter
            .and_then(|c| c.lock_remaining(now))
            .or_else(|| input.abuse.client.lock_remaining(now));
        let outcome = match lock {
            Some(wait) => Err(SignInError::TemporarilyLocked {
                retry_after_seconds: textid_core::flow::retry_after_seconds(wait),
            }),
            None => Ok(StepOutcome::CodeSent),
        };
        StepWrite {
            at: now,
            outcome,
            flow: None,
            counter: None,
            message: None,
            supersede_queued: false,
            session: None,
            log: None,
            abuse: AbuseWrite::default(),
            link_request: None,
        }
    });
    let target = StepTarget::Number(key.to_owned());
    let write = app
        .store()
        .sms_sign_in_step(tenant.id, target, query, decide)
        .await?;
    write.outcome.map(|_| ()).map_err(PasswordFailure::SignIn)
}

/// A session to open for a sign-in proven without a code.
pub(crate) struct SessionToIssue {
    pub(crate) user_id: UserId,
    pub(crate) amr: Vec<String>,
    pub(crate) kind: SessionKind,
    /// An end sooner than the normal lifetime (a pass's end).
    pub(crate) expires_at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Creates the session of a sign-in proven without a code (a password alone, a pass), in
/// one write with its log entry.
pub(crate) async fn issue_session(
    app: &App,
    tenant: &Tenant,
    key: &str,
    new: SessionToIssue,
    requester: &Requester,
) -> Result<IssuedSession, PasswordFailure> {
    let now = app.clock().now();
    let token = new_token(&mut OsRng);
    let normal_end = now + app.limits().session_lifetime;
    let expires_at = new.expires_at.map_or(normal_end, |e| e.min(normal_end));
    let session = NewSession {
        id: SessionId::time_ordered(now, &mut OsRng),
        kind: new.kind,
        client_id: requester.app_id.clone(),
        user_id: new.user_id,
        token_hash: app.hasher().token(token.expose()),
        amr: new.amr,
        expires_at,
    };
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester: requester.clone(),
    };
    let mut entry = log_entry(&log, Some(new.user_id), None);
    entry.event = "signedIn".into();
    let query = log.query(app, false);
    let (session_id, user_id) = (session.id, session.user_id);
    let decide = Box::new(move |_: textid_store::StepInput<'_>| StepWrite {
        at: now,
        outcome: Ok(StepOutcome::SignedIn(user_id)),
        flow: None,
        counter: None,
        message: None,
        supersede_queued: false,
        session: Some(session.clone()),
        log: Some(entry.clone()),
        abuse: AbuseWrite::default(),
        link_request: None,
    });
    let target = StepTarget::Number(key.to_owned());
    app.store()
        .sms_sign_in_step(tenant.id, target, query, decide)
        .await?
        .outcome
        .map_err(PasswordFailure::SignIn)?;
    Ok(IssuedSession {
        token,
        session_id,
        user_id,
        expires_in_seconds: u64::try_from((expires_at - now).num_seconds()).unwrap_or(0),
    })
}

/// Switches the tenant's "require MFA" setting (every password sign-in then needs a second
/// factor, whatever the app); audited.
pub async fn set_tenant_require_mfa(
    app: &App,
    tenant: &Tenant,
    require: bool,
    actor: &Actor,
) -> Result<(), StoreError> {
    app.store()
        .set_tenant_require_mfa(tenant.id, require, actor, app.clock().now())
        .await
}

/// Sign-in log events of password-reset codes.
const RESET: crate::proof::Events = ("resetCodeRequested", "resetCodeVerified");

/// Starts a self-service password reset for a user name: a code to the user's mobile (a
/// text, or a call where the Voice method covers them) when the SMS policy covers them (a
/// target with or without "use for sign-in": seed 002, SMS "for MFA and SSPR"). Every
/// other name (unknown, disabled, no mobile, outside the policy, voice not allowed) gets
/// the same answer, a flow that sends nothing and accepts no code.
pub async fn start_reset(
    app: &App,
    tenant: &Tenant,
    user_name: &str,
    channel: Channel,
    requester: Requester,
) -> Result<SmsSignInFlow, PasswordFailure> {
    let account = match Upn::parse(user_name) {
        Ok(upn) => app.store().password_account(tenant.id, &upn).await?,
        Err(_) => None,
    };
    let policy = app.store().policy(tenant.id).await?;
    let target = account
        .as_ref()
        .filter(|a| a.account_enabled)
        .and_then(|a| {
            let who = Subject {
                user_id: a.user_id,
                groups: &a.groups,
            };
            let open = policy.allows_channel(who, PhoneType::Mobile, channel)
                && (channel == Channel::Sms || app.places_calls());
            let mobile = a.mobile.clone().filter(|_| open)?;
            Some((a.user_id, mobile))
        });
    let code = CodeFor {
        purpose: FlowPurpose::PasswordReset,
        kind: textid_sms::MessageKind::VerificationCode,
        events: RESET,
    };
    let (user, e164) = match target {
        Some((u, m)) => (Some(u), m),
        // Counted under the user name, like a wrong password: budgets still apply.
        None => (None, counter_key(user_name)),
    };
    Ok(send_for(app, tenant, user, e164, channel, code, requester).await?)
}

/// Finishes a self-service password reset: checks the code of the reset flow, sets the
/// new password (audited `Reset password (self-service)`), which ends every session and
/// refresh token of the user, and tells the user's phone by SMS.
pub async fn finish_reset(
    app: &App,
    tenant: &Tenant,
    flow_id: FlowId,
    code: &textid_core::code::OtpCode,
    new_password: &Password,
    requester: Requester,
) -> Result<UserId, PasswordFailure> {
    let check = (FlowPurpose::PasswordReset, RESET);
    let (user, phone) =
        crate::proof::check_for(app, tenant, None, flow_id, code, check, requester).await?;
    let update = PasswordUpdate {
        hash: Some(hash(new_password).await?),
        force_change: false,
        change: PasswordChange::SelfServiceReset,
    };
    let now = app.clock().now();
    app.store()
        .set_password(tenant.id, user, &update, &Actor::user(user), now)
        .await?;
    if let Ok(text) = textid_sms::template::password_reset_text(app.host()) {
        let kind = textid_sms::MessageKind::PasswordReset;
        crate::proof::notify(app, tenant, &phone, kind, text).await?;
    }
    Ok(user)
}
