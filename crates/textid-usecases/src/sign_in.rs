//! The SMS sign-in use cases: handlers call these; these load what the decision needs,
//! hand the pure step of `textid_core::flow::sms_sign_in` to the store's transaction, and
//! wake the outbox worker when a message was queued.

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use textid_core::code::{new_token, OtpCode};
use textid_core::flow::sms_sign_in::{self, FlowPurpose, SignInError, StepContext, WithCode};
use textid_core::flow::SmsSignInFlow;
use textid_core::message::{Channel, NewMessage};
use textid_core::phone::PhoneNumber;
use textid_core::policy::AuthenticationMethodsPolicy;
use textid_core::policy::Subject;
use textid_core::secret::Secret;
use textid_core::session::SessionKind;
use textid_core::sign_in_state::{derive, SignInStateFacts, SmsSignInState};
use textid_core::tenant::Tenant;
use textid_core::{FlowId, MessageId, SessionId, UserId};
use textid_store::{
    NewSession, SignInCandidate, SignInLogEntry, StepInput, StepOutcome, StepTarget, StepWrite,
};

use textid_core::abuse::{self, AbuseQuery, AbuseWrite, Refusal, SendDecision};
use textid_store::StoreError;

use crate::observe::{self, Step};
use crate::Context as App;

/// Why a sign-in step did not succeed: the answer of DESIGN.md §3 for the caller, or a
/// store failure (unavailable, busy) that changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum SignInFailure {
    /// The step's answer (`invalidCode`, `flowNotFound`, `tooManyRequests`, ...).
    #[error(transparent)]
    SignIn(#[from] SignInError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Who is asking: for the sign-in log.
#[derive(Debug, Clone, Default)]
pub struct Requester {
    /// The client's IP.
    pub client_ip: Option<String>,
    /// The app (OAuth client), when known.
    pub app_id: Option<String>,
}

/// A session issued by a successful verify.
#[derive(Debug)]
pub struct IssuedSession {
    /// The bearer token (shown once; stored only as a keyed hash).
    pub token: Secret<String>,
    /// The session id.
    pub session_id: SessionId,
    /// The user.
    pub user_id: UserId,
    /// Seconds until it ends.
    pub expires_in_seconds: u64,
}

pub(crate) struct LogContext {
    pub(crate) tenant: textid_core::TenantId,
    pub(crate) now: DateTime<Utc>,
    pub(crate) requester: Requester,
}

impl LogContext {
    pub(crate) fn entry(
        &self,
        event: &str,
        flow: Option<&SmsSignInFlow>,
        outcome: Result<Option<UserId>, &SignInError>,
    ) -> SignInLogEntry {
        SignInLogEntry {
            id: uuid::Uuid::now_v7(),
            tenant_id: self.tenant,
            created_at: self.now,
            method: "sms".into(),
            event: event.into(),
            phone: flow.map(|f| f.phone_e164.clone()),
            user_id: outcome
                .ok()
                .flatten()
                .or_else(|| flow.and_then(|f| f.user_id)),
            flow_id: flow.map(|f| f.id),
            result: if outcome.is_ok() {
                "success"
            } else {
                "failure"
            }
            .into(),
            failure_reason: outcome.err().map(|e| e.code().to_string()),
            client_ip: self.requester.client_ip.clone(),
            app_id: self.requester.app_id.clone(),
        }
    }

    /// A refusal answered 429 because of the client IP's budget.
    pub(crate) fn ip_refused(
        &self,
        event: &str,
        flow: Option<&SmsSignInFlow>,
        e: &SignInError,
    ) -> SignInLogEntry {
        SignInLogEntry {
            failure_reason: Some(Refusal::IpBudget.as_str().into()),
            ..self.entry(event, flow, Err(e))
        }
    }

    /// A step that could not sign anyone in because the number has no `ready` owner,
    /// logged with the real reason and the user when known (issue #16); the caller's
    /// answer is the same as for any other number.
    fn no_owner(&self, event: &str, flow: &SmsSignInFlow, why: NoOwner) -> SignInLogEntry {
        SignInLogEntry {
            result: "failure".into(),
            failure_reason: Some(why.reason.into()),
            user_id: why.user,
            ..self.entry(event, Some(flow), Ok(None))
        }
    }

    /// A start or resend answered like a normal one: logged as sent when the number has a
    /// `ready` owner, otherwise with why it has none.
    fn requested(&self, event: &str, flow: &SmsSignInFlow, why: Option<NoOwner>) -> SignInLogEntry {
        match why {
            Some(why) => self.no_owner(event, flow, why),
            None => self.entry(event, Some(flow), Ok(None)),
        }
    }

    /// A start or resend answered like a normal one, but no code sent, and why.
    pub(crate) fn withheld(
        &self,
        event: &str,
        flow: &SmsSignInFlow,
        why: Refusal,
    ) -> SignInLogEntry {
        SignInLogEntry {
            result: "failure".into(),
            failure_reason: Some(why.as_str().into()),
            ..self.entry(event, Some(flow), Ok(None))
        }
    }

    /// A start or resend answered like a normal one, but no code sent over the channel
    /// asked for (`why`: [`ChannelRefusal::as_str`]).
    fn channel_refused(
        &self,
        event: &str,
        flow: &SmsSignInFlow,
        why: ChannelRefusal,
    ) -> SignInLogEntry {
        SignInLogEntry {
            result: "failure".into(),
            failure_reason: Some(why.as_str().into()),
            ..self.entry(event, Some(flow), Ok(None))
        }
    }

    pub(crate) fn query(&self, app: &App, budgets: bool) -> AbuseQuery {
        AbuseQuery {
            now: self.now,
            client_ip: self.requester.client_ip.clone(),
            limits: app.limits().abuse,
            budgets,
            test_numbers: budgets && app.test_numbers_enabled(),
        }
    }
}

/// Why a code was not sent over the channel asked for. The caller is answered as if it
/// had been (the answer must not say whether the number belongs to someone whom the Voice
/// policy covers); the sign-in log keeps the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChannelRefusal {
    /// The Voice method does not cover the number's owner (off, not targeted, excluded).
    VoiceNotAllowed,
    /// No configured provider places calls.
    VoiceUnavailable,
}

impl ChannelRefusal {
    /// The stable name (sign-in log `failureReason`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::VoiceNotAllowed => "voiceNotAllowed",
            Self::VoiceUnavailable => "voiceUnavailable",
        }
    }
}

/// Whether the `ready` owner of a sign-in number may get its code over `channel`: a text
/// is what `ready` means; a call needs the Voice method for the owner (their mobile) and
/// a provider that places calls. Budgets and locks count a call like a text.
pub fn channel_refusal(
    app: &App,
    candidate: Option<&SignInCandidate>,
    policy: &AuthenticationMethodsPolicy,
    channel: Channel,
) -> Option<ChannelRefusal> {
    let who = candidate.map(|c| Subject {
        user_id: c.user_id,
        groups: &c.groups,
    });
    subject_channel_refusal(app, who, policy, channel)
}

/// [`channel_refusal`] for a known user (`None`: nobody, refused like a refused channel).
pub fn subject_channel_refusal(
    app: &App,
    who: Option<Subject<'_>>,
    policy: &AuthenticationMethodsPolicy,
    channel: Channel,
) -> Option<ChannelRefusal> {
    if channel == Channel::Sms {
        return None;
    }
    let allowed = who.is_some_and(|who| {
        policy.allows_channel(who, textid_core::methods::PhoneType::Mobile, channel)
    });
    if !allowed {
        Some(ChannelRefusal::VoiceNotAllowed)
    } else if !app.places_calls() {
        Some(ChannelRefusal::VoiceUnavailable)
    } else {
        None
    }
}

/// What the abuse defences say about sending a code for a start or resend.
pub(crate) enum Gate {
    /// Send (if the number has a `ready` owner); write these counters.
    Open(AbuseWrite),
    /// Answer like a normal start, send nothing, log why.
    Withheld(Refusal, AbuseWrite),
    /// The client IP's budget is spent: 429 (logged as `ipBudgetExceeded`).
    TooMany(SignInError),
}

/// The locks first (no SMS to a locked number, nor for a client stopped for it), then
/// the budgets, the allow-list and the conversion watch (issue #14 §2, §3).
pub(crate) fn gate(
    tenant: &Tenant,
    phone: &str,
    q: &AbuseQuery,
    input: &StepInput<'_>,
    real_send: bool,
) -> Gate {
    if input
        .counter
        .and_then(|c| c.lock_remaining(q.now))
        .is_some()
    {
        return Gate::Withheld(Refusal::NumberLocked, AbuseWrite::default());
    }
    if input.abuse.client.lock_remaining(q.now).is_some() {
        return Gate::Withheld(Refusal::ClientLocked, AbuseWrite::default());
    }
    let allowed = abuse::calling_code(phone).is_some_and(|cc| {
        abuse::country_allowed(
            input.policy.sms.allowed_country_codes.as_deref(),
            tenant.default_region.as_deref(),
            cc,
        )
    });
    match abuse::decide_send(
        tenant.id,
        phone,
        q,
        input.abuse,
        allowed,
        real_send,
        &mut OsRng,
    ) {
        SendDecision::Send(w) => Gate::Open(w),
        SendDecision::Refuse {
            retry_after: Some(wait),
            ..
        } => Gate::TooMany(SignInError::TooManyRequests {
            retry_after_seconds: textid_core::flow::retry_after_seconds(wait),
        }),
        SendDecision::Refuse { reason, write, .. } => Gate::Withheld(reason, write),
    }
}

/// A test number's fixed code, when the operator enabled test numbers and it parses.
fn test_code(app: &App, input: &StepInput<'_>) -> Option<OtpCode> {
    let code = input.abuse.test_code.as_deref()?;
    app.test_numbers_enabled()
        .then(|| OtpCode::parse(code, app.limits().code_digits).ok())
        .flatten()
}

pub(crate) fn refused(at: DateTime<Utc>, outcome: SignInError, log: SignInLogEntry) -> StepWrite {
    StepWrite {
        at,
        outcome: Err(outcome),
        flow: None,
        counter: None,
        message: None,
        supersede_queued: false,
        session: None,
        log: Some(log),
        abuse: AbuseWrite::default(),
        link_request: None,
    }
}

/// The owner of the number if their `smsSignInState` is `ready` and the account is
/// enabled, decided on rows read in the step's transaction.
pub fn ready_owner(
    candidate: Option<&SignInCandidate>,
    policy: &AuthenticationMethodsPolicy,
) -> Option<UserId> {
    let c = candidate.filter(|c| c.account_enabled)?;
    let state = derive(SignInStateFacts {
        phone_type: textid_core::methods::PhoneType::Mobile,
        permission: policy.sms.permission(Subject {
            user_id: c.user_id,
            groups: &c.groups,
        }),
        number_shared_with_another_user: c.number_shared,
        sms_sign_in_enabled: true,
        needs_confirmation: c.needs_confirmation,
    });
    (state == SmsSignInState::Ready).then_some(c.user_id)
}

/// Why a number has no `ready` owner, for the sign-in log: a stable reason (stored
/// forever: `userNotFound`, `accountDisabled`, `numberCannotReceiveCodes`, or the
/// `smsSignInState` that is not `ready`) and the user, when one is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NoOwner {
    /// The reason.
    pub reason: &'static str,
    /// The user the number belongs to, when one does.
    pub user: Option<UserId>,
}

/// Why `input`'s number has no `ready` owner (`None`: it has one). `receives_codes`:
/// the number can be texted at all.
pub fn no_owner(input: &StepInput<'_>, receives_codes: bool) -> Option<NoOwner> {
    let why = |reason: &'static str, user: Option<UserId>| Some(NoOwner { reason, user });
    if let Some(c) = input.candidate {
        if !c.account_enabled {
            return why("accountDisabled", Some(c.user_id));
        }
        let state = derive(SignInStateFacts {
            phone_type: textid_core::methods::PhoneType::Mobile,
            permission: input.policy.sms.permission(Subject {
                user_id: c.user_id,
                groups: &c.groups,
            }),
            number_shared_with_another_user: c.number_shared,
            sms_sign_in_enabled: true,
            needs_confirmation: c.needs_confirmation,
        });
        return match state {
            SmsSignInState::Ready if receives_codes => None,
            SmsSignInState::Ready => why("numberCannotReceiveCodes", Some(c.user_id)),
            other => why(other.as_str(), Some(c.user_id)),
        };
    }
    match input.holding {
        None => why("userNotFound", None),
        Some(h) if !h.account_enabled => why("accountDisabled", Some(h.user_id)),
        Some(h) if !h.phone_type.supports_sms_sign_in() => {
            why(SmsSignInState::NotSupported.as_str(), Some(h.user_id))
        }
        // Several users hold it and none signs in with it: no one user is meant.
        Some(h) if h.number_shared => why(SmsSignInState::PhoneNumberNotUnique.as_str(), None),
        Some(h) => why(SmsSignInState::NotEnabled.as_str(), Some(h.user_id)),
    }
}

/// Why a flow without an owner sends and accepts no code: why the number has no `ready`
/// owner now, or, when it has one now, that it had none when the flow started
/// (`noOwnerAtStart`: a flow never gains an owner).
fn ownerless(input: &StepInput<'_>) -> NoOwner {
    no_owner(input, true).unwrap_or(NoOwner {
        reason: "noOwnerAtStart",
        user: None,
    })
}

/// The flow as the step must see it: a flow whose owner is no longer `ready` (account
/// disabled, number removed, policy changed) continues without owner, so it can neither
/// sign in nor send another code, and still answers like any other flow.
///
/// Only a sign-in flow's owner must be the number's `ready` owner: a second-factor or
/// password-reset flow was started for a user proven otherwise (a password, a user name)
/// and keeps them; a proof keeps its user too.
fn current(flow: &SmsSignInFlow, input: &StepInput<'_>) -> SmsSignInFlow {
    let mut flow = flow.clone();
    if flow.purpose == FlowPurpose::SignIn
        && flow.user_id.is_some()
        && flow.user_id != ready_owner(input.candidate, input.policy)
    {
        flow.user_id = None;
    }
    flow
}

/// The queued message of a new sign-in code, sealed.
fn message(
    app: &App,
    flow: &SmsSignInFlow,
    code: &OtpCode,
    now: DateTime<Utc>,
) -> Option<NewMessage> {
    code_message(app, flow, code, textid_sms::MessageKind::SignInCode, now)
}

/// The queued message of a code of `kind` for `flow`'s number, over its channel, sealed.
pub(crate) fn code_message(
    app: &App,
    flow: &SmsSignInFlow,
    code: &OtpCode,
    kind: textid_sms::MessageKind,
    now: DateTime<Utc>,
) -> Option<NewMessage> {
    let minutes = u32::try_from(app.limits().code_lifetime.num_minutes().max(1)).unwrap_or(10);
    let (host, code) = (app.host(), code.expose());
    let text = match (flow.channel, kind) {
        (Channel::Voice, _) => textid_sms::template::spoken_code_text(kind, host, code, minutes),
        (Channel::Sms, textid_sms::MessageKind::SignInCode) => {
            textid_sms::template::sign_in_code_text(host, code, minutes)
        }
        // A notice carries no code and is not built here; it would read as a proof code.
        (
            Channel::Sms,
            textid_sms::MessageKind::VerificationCode
            | textid_sms::MessageKind::NumberChanged
            | textid_sms::MessageKind::PasswordReset,
        ) => textid_sms::template::verification_code_text(host, code, minutes),
    }
    .ok()?;
    let id = MessageId(uuid::Uuid::now_v7());
    Some(NewMessage {
        id,
        kind: kind.as_str(),
        channel: flow.channel,
        to: flow.phone_e164.clone(),
        sealed_body: app.sealer().seal(id.0.as_bytes(), &text, &mut OsRng),
        locale: textid_sms::catalog::LOCALE.into(),
        queued_at: now,
        leased_until: app.hand_off_lease(now),
    })
}

/// A code was generated (or, without an owner, appears to be). `replaces` says whether the
/// flow existed before: only then can a message of an older code still be queued.
pub(crate) fn sent(
    app: &App,
    replaces: bool,
    with: WithCode,
    counter: textid_core::flow::PhoneCounter,
    log: SignInLogEntry,
    now: DateTime<Utc>,
    abuse: AbuseWrite,
) -> StepWrite {
    let message = with
        .code
        .as_ref()
        .and_then(|c| message(app, &with.flow, c, now));
    StepWrite {
        at: now,
        outcome: Ok(StepOutcome::CodeSent),
        flow: Some(with.flow),
        counter: Some(counter),
        supersede_queued: replaces && message.is_some(),
        message,
        session: None,
        log: Some(log),
        abuse,
        link_request: None,
    }
}

/// A resend that sends nothing: the old code (and how it travelled) stays valid; no new
/// one is made. The send still counts against the cooldown and budgets.
fn keep_code(mut with: WithCode, flow: &SmsSignInFlow) -> WithCode {
    with.code = None;
    with.flow.code_hash = flow.code_hash.clone();
    with.flow.code_expires_at = flow.code_expires_at;
    with.flow.attempts = flow.attempts;
    with.flow.channel = flow.channel;
    with
}

pub(crate) async fn run_step(
    app: &App,
    step: Step,
    tenant: &Tenant,
    target: StepTarget,
    query: AbuseQuery,
    decide: textid_store::Decide,
) -> Result<StepWrite, SignInFailure> {
    let write = app
        .store()
        .sms_sign_in_step(tenant.id, target, query, decide)
        .await?;
    if let Some(m) = &write.message {
        app.queued(tenant, write.flow.as_ref().map(|f| f.id), m);
    }
    for event in observe::events(step, &write) {
        app.observer().sign_in(&event);
    }
    Ok(write)
}

/// Starts a flow: a code is generated and queued only for a `ready` owner, over `channel`
/// when that is open to them ([`channel_refusal`]); every other number, and a refused
/// channel, gets the same answer and no message. A flow whose call was refused keeps its
/// owner, so a resend by text still works.
///
/// `request`, an OpenID Connect authorization request's id (the sign-in pages), is pointed
/// at the new flow in the step's own transaction when the step succeeds.
///
/// Traced as `sign_in.start` with the tenant and, once known, the flow id; never the
/// number (all arguments skipped).
#[tracing::instrument(
    name = "sign_in.start",
    skip_all,
    fields(textid.tenant = %tenant.name, textid.flow_id = tracing::field::Empty)
)]
pub async fn start(
    app: &App,
    tenant: &Tenant,
    phone: &PhoneNumber,
    channel: Channel,
    requester: Requester,
    request: Option<&str>,
) -> Result<SmsSignInFlow, SignInFailure> {
    let now = app.clock().now();
    let (app2, tenant2, e164) = (app.clone(), tenant.clone(), phone.e164());
    let receives_codes = phone.can_receive_codes();
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester,
    };
    let query = log.query(app, true);
    let q = query.clone();
    let decide = move |input: textid_store::StepInput<'_>| {
        let limits = app2.limits();
        let cx = StepContext {
            now,
            limits,
            hasher: app2.hasher(),
        };
        let counter = input.counter.cloned().unwrap_or_default();
        // No code is ever texted to a premium-rate or similar number (toll fraud).
        let owner = ready_owner(input.candidate, input.policy).filter(|_| receives_codes);
        let why = owner
            .is_none()
            .then(|| no_owner(&input, receives_codes))
            .flatten();
        let refusal = owner.and(channel_refusal(
            &app2,
            input.candidate,
            input.policy,
            channel,
        ));
        // A test number: its fixed code, no SMS, no budget (nothing is sent).
        if let Some(code) = test_code(&app2, &input) {
            let mut with =
                sms_sign_in::start_with_code(tenant2.id, e164.clone(), owner, code, cx, &mut OsRng);
            with.flow.channel = channel;
            let entry = log.requested("codeRequested", &with.flow, why);
            return sent(
                &app2,
                false,
                with,
                counter,
                entry,
                now,
                AbuseWrite::default(),
            );
        }
        let counter = match sms_sign_in::take_send(&counter, cx) {
            Ok(c) => c,
            Err(e) => {
                let flow = sms_sign_in::start(tenant2.id, e164.clone(), None, cx, &mut OsRng).flow;
                return refused(
                    now,
                    e.clone(),
                    log.entry("codeRequested", Some(&flow), Err(&e)),
                );
            }
        };
        let real_send = owner.is_some() && refusal.is_none();
        match gate(&tenant2, &e164, &q, &input, real_send) {
            Gate::TooMany(e) => {
                let flow = sms_sign_in::start(tenant2.id, e164.clone(), None, cx, &mut OsRng).flow;
                refused(
                    now,
                    e.clone(),
                    log.ip_refused("codeRequested", Some(&flow), &e),
                )
            }
            Gate::Withheld(why, abuse) => {
                let mut with = sms_sign_in::start(tenant2.id, e164.clone(), None, cx, &mut OsRng);
                with.flow.channel = channel;
                let entry = log.withheld("codeRequested", &with.flow, why);
                sent(&app2, false, with, counter, entry, now, abuse)
            }
            Gate::Open(abuse) => {
                let mut with = sms_sign_in::start(tenant2.id, e164.clone(), owner, cx, &mut OsRng);
                with.flow.channel = channel;
                let entry = match refusal {
                    Some(refused) => {
                        // No code exists, so none can be guessed; a resend makes one.
                        with.code = None;
                        with.flow.code_hash = None;
                        log.channel_refused("codeRequested", &with.flow, refused)
                    }
                    None => log.requested("codeRequested", &with.flow, why),
                };
                sent(&app2, false, with, counter, entry, now, abuse)
            }
        }
    };
    let link = request.map(str::to_string);
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let mut write = decide(input);
        if write.outcome.is_ok() {
            write.link_request.clone_from(&link);
        }
        write
    });
    let write = run_step(
        app,
        Step::Request,
        tenant,
        StepTarget::Number(phone.e164()),
        query,
        decide,
    )
    .await?;
    write.outcome?;
    let flow = write.flow.ok_or(SignInFailure::Store(StoreError::Corrupt(
        "a successful step wrote no flow".into(),
    )))?;
    tracing::Span::current().record("textid.flow_id", tracing::field::display(flow.id));
    Ok(flow)
}

/// Sends a new code for a flow after its cooldown, over `channel` (a call after a text the
/// carrier could not deliver, issue #18); the old code stops working. A refused channel
/// ([`channel_refusal`]) is answered the same, and the old code stays valid.
#[tracing::instrument(
    name = "sign_in.resend",
    skip_all,
    fields(textid.tenant = %tenant.name, textid.flow_id = %flow_id)
)]
pub async fn resend(
    app: &App,
    tenant: &Tenant,
    flow_id: FlowId,
    channel: Channel,
    requester: Requester,
) -> Result<SmsSignInFlow, SignInFailure> {
    let now = app.clock().now();
    let (app2, tenant2) = (app.clone(), tenant.clone());
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester,
    };
    let query = log.query(app, true);
    let q = query.clone();
    // A second-factor (or reset, or proof) flow's number need not be on for SMS sign-in,
    // so the step's sign-in candidate does not say whether its user may take a call: the
    // user's groups are read here for the policy the step reads.
    let flow_user = match app.store().sms_flow(tenant.id, flow_id).await? {
        Some(f) if f.purpose != FlowPurpose::SignIn && channel != Channel::Sms => match f.user_id {
            Some(u) => Some((u, app.store().groups_of(tenant.id, u).await?)),
            None => None,
        },
        _ => None,
    };
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let limits = app2.limits();
        let cx = StepContext {
            now,
            limits,
            hasher: app2.hasher(),
        };
        let Some(flow) = input.flow.map(|f| current(f, &input)) else {
            let e = SignInError::FlowNotFound;
            return refused(now, e.clone(), log.entry("codeResent", None, Err(&e)));
        };
        let flow = &flow;
        let why = flow.user_id.is_none().then(|| ownerless(&input));
        let counter = input.counter.cloned().unwrap_or_default();
        let result = sms_sign_in::resend(flow, cx, &mut OsRng)
            .and_then(|with| sms_sign_in::take_send(&counter, cx).map(|c| (with, c)));
        let (mut with, counter) = match result {
            Err(e) => return refused(now, e.clone(), log.entry("codeResent", Some(flow), Err(&e))),
            Ok(ok) => ok,
        };
        with.flow.channel = channel;
        let refusal = match (flow.purpose, &flow_user) {
            (FlowPurpose::SignIn, _) | (_, None) => {
                channel_refusal(&app2, input.candidate, input.policy, channel)
            }
            (_, Some((user_id, groups))) => {
                let who = (flow.user_id == Some(*user_id)).then_some(Subject {
                    user_id: *user_id,
                    groups,
                });
                subject_channel_refusal(&app2, who, input.policy, channel)
            }
        };
        let refusal = flow.user_id.and(refusal);
        if let Some(code) = test_code(&app2, &input) {
            let mut with = with;
            with.flow.code_hash = with
                .flow
                .user_id
                .map(|_| cx.hasher.code(with.flow.id.0, &code));
            with.code = None;
            let entry = log.requested("codeResent", flow, why);
            return sent(
                &app2,
                true,
                with,
                counter,
                entry,
                now,
                AbuseWrite::default(),
            );
        }
        let real_send = flow.user_id.is_some() && refusal.is_none();
        let (with, entry, abuse) = match gate(&tenant2, &flow.phone_e164, &q, &input, real_send) {
            Gate::TooMany(e) => {
                return refused(now, e.clone(), log.ip_refused("codeResent", Some(flow), &e))
            }
            Gate::Withheld(why, abuse) => (
                keep_code(with, flow),
                log.withheld("codeResent", flow, why),
                abuse,
            ),
            Gate::Open(abuse) => match refusal {
                Some(refused) => (
                    keep_code(with, flow),
                    log.channel_refused("codeResent", flow, refused),
                    abuse,
                ),
                None => (with, log.requested("codeResent", flow, why), abuse),
            },
        };
        sent(&app2, true, with, counter, entry, now, abuse)
    });
    let write = run_step(
        app,
        Step::Request,
        tenant,
        StepTarget::Flow(flow_id),
        query,
        decide,
    )
    .await?;
    write.outcome?;
    write.flow.ok_or(SignInFailure::Store(StoreError::Corrupt(
        "a successful step wrote no flow".into(),
    )))
}

/// Checks a code; on success completes the flow and creates a session of `kind`
/// atomically: an API session for the JSON sign-in API, a browser (SSO) session for the
/// sign-in pages. The two never stand in for each other (`textid_core::session`).
///
/// Traced as `sign_in.verify` with the tenant and flow id; never the code or the token.
#[tracing::instrument(
    name = "sign_in.verify",
    skip_all,
    fields(textid.tenant = %tenant.name, textid.flow_id = %flow_id)
)]
pub async fn verify(
    app: &App,
    tenant: &Tenant,
    flow_id: FlowId,
    code: &OtpCode,
    kind: SessionKind,
    requester: Requester,
) -> Result<IssuedSession, SignInFailure> {
    verify_for(
        app,
        tenant,
        (flow_id, FlowPurpose::SignIn),
        code,
        kind,
        requester,
    )
    .await
}

/// Checks a code of a flow of `purpose` (SMS sign-in, or the second factor after a
/// password); a flow of another purpose is `flowNotFound`, so a code sent to prove a
/// number, reset a password or as a second factor never signs in by itself. The session's
/// `amr` (RFC 8176): `sms` or `tel` for SMS sign-in; `pwd`, `sms` or `tel`, and `mfa` after
/// a password.
pub(crate) async fn verify_for(
    app: &App,
    tenant: &Tenant,
    (flow_id, purpose): (FlowId, FlowPurpose),
    code: &OtpCode,
    kind: SessionKind,
    requester: Requester,
) -> Result<IssuedSession, SignInFailure> {
    let now = app.clock().now();
    let token = new_token(&mut OsRng);
    let token_hash = app.hasher().token(token.expose());
    let session_id = SessionId::time_ordered(now, &mut OsRng);
    let lifetime = app.limits().session_lifetime;
    let tenant_id = tenant.id;
    let (app2, code) = (app.clone(), code.clone());
    let client_id = requester.app_id.clone();
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester,
    };
    let query = log.query(app, false);
    let q = query.clone();
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let cx = StepContext {
            now,
            limits: app2.limits(),
            hasher: app2.hasher(),
        };
        let flow = input
            .flow
            .filter(|f| f.purpose == purpose)
            .map(|f| current(f, &input));
        let (Some(flow), Some(counter)) = (flow.as_ref(), input.counter) else {
            let e = SignInError::FlowNotFound;
            return refused(now, e.clone(), log.entry("codeVerified", None, Err(&e)));
        };
        // A client stopped for this number (too many wrong codes from its IP) is refused
        // like a locked number; the owner on another IP is not (issue #14 §3).
        if let Some(wait) = input.abuse.client.lock_remaining(now) {
            let e = SignInError::TemporarilyLocked {
                retry_after_seconds: textid_core::flow::retry_after_seconds(wait),
            };
            return refused(
                now,
                e.clone(),
                log.entry("codeVerified", Some(flow), Err(&e)),
            );
        }
        let checked = sms_sign_in::check_code(flow, counter, &code, cx);
        let client = &input.abuse.client;
        let abuse = match &checked.outcome {
            Ok(_) => AbuseWrite {
                increments: abuse::on_verified(tenant_id, &flow.phone_e164, &q),
                client: Some(Default::default()),
                ..AbuseWrite::default()
            },
            Err(SignInError::InvalidCode) => AbuseWrite {
                client: Some(client.record_failure(now, &q.limits)),
                ..AbuseWrite::default()
            },
            Err(_) => AbuseWrite::default(),
        };
        let entry = match (&checked.outcome, flow.user_id) {
            // No code was sent for this flow: log why (a disabled account, an unknown
            // number) and whose number it is, not a wrong code; the caller still gets
            // `invalidCode`, as for any number.
            (Err(SignInError::InvalidCode), None) => {
                log.no_owner("codeVerified", flow, ownerless(&input))
            }
            (outcome, _) => log.entry(
                "codeVerified",
                Some(flow),
                outcome.as_ref().map(|u| Some(*u)),
            ),
        };
        let session = checked.outcome.as_ref().ok().map(|user_id| NewSession {
            id: session_id,
            kind,
            client_id: client_id.clone(),
            user_id: *user_id,
            token_hash: token_hash.clone(),
            // RFC 8176: `tel` for a code read out by a call.
            amr: match purpose {
                FlowPurpose::SecondFactor => {
                    vec!["pwd".into(), flow.channel.amr().into(), "mfa".into()]
                }
                _ => vec![flow.channel.amr().into()],
            },
            expires_at: now + lifetime,
        });
        let finished = checked.flow.state == sms_sign_in::FlowState::Completed;
        StepWrite {
            at: now,
            outcome: checked.outcome.map(StepOutcome::SignedIn),
            flow: Some(checked.flow),
            counter: Some(checked.counter),
            message: None,
            // A finished flow makes every code still queued for it useless.
            supersede_queued: finished,
            session,
            log: Some(entry),
            abuse,
            link_request: None,
        }
    });
    let write = run_step(
        app,
        Step::Verify,
        tenant,
        StepTarget::Flow(flow_id),
        query,
        decide,
    )
    .await?;
    match write.outcome? {
        StepOutcome::SignedIn(user_id) => Ok(IssuedSession {
            token,
            session_id,
            user_id,
            expires_in_seconds: u64::try_from(lifetime.num_seconds()).unwrap_or(0),
        }),
        StepOutcome::CodeSent => {
            Err(StoreError::Corrupt("a verify step answered code sent".into()).into())
        }
    }
}
