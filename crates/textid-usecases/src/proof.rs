//! Proving a phone number before it is saved (the security info page, DESIGN.md §2: "a new
//! number is proven by a code sent to it before it is saved").
//!
//! A proof is an SMS sign-in flow whose owner is the signed-in user, not the number's:
//! the code goes to the new number (a text, or a call for a voice-only office number),
//! through the same step as a sign-in code, so the send limits, budgets, locks, country
//! allow-list and conversion watch hold alike, and a code is checked the same way (5 wrong
//! tries, expiry, constant-time comparison). A proof never creates a session; its flow id
//! stays on the server, inside the page's state.

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use textid_core::abuse::{self, AbuseWrite};
use textid_core::code::OtpCode;
use textid_core::flow::sms_sign_in::{self, FlowPurpose, SignInError, StepContext};
use textid_core::flow::SmsSignInFlow;
use textid_core::message::Channel;
use textid_core::phone::PhoneNumber;
use textid_core::tenant::Tenant;
use textid_core::{FlowId, UserId};
use textid_store::{StepOutcome, StepTarget, StepWrite};

use crate::observe::Step;
use crate::sign_in::{
    code_message, gate, refused, run_step, sent, Gate, LogContext, Requester, SignInFailure,
};
use crate::Context as App;

/// Sends a code that proves `phone` for `user` over `channel`. The answer is the flow to
/// check it against; a refused send (budget, allow-list, lock) answers the same and no
/// code exists, so the number cannot be proven with this flow.
pub async fn send(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone: &PhoneNumber,
    channel: Channel,
    requester: Requester,
) -> Result<SmsSignInFlow, SignInFailure> {
    let code = CodeFor {
        purpose: FlowPurpose::Proof,
        kind: textid_sms::MessageKind::VerificationCode,
        events: PROOF,
    };
    send_for(
        app,
        tenant,
        Some(user),
        phone.e164(),
        channel,
        code,
        requester,
    )
    .await
}

/// What a code flow of the security info page, a second factor or a password reset is
/// for: its purpose, the message it sends, and its sign-in log events.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CodeFor {
    pub(crate) purpose: FlowPurpose,
    pub(crate) kind: textid_sms::MessageKind,
    pub(crate) events: Events,
}

/// The sign-in log events of a kind of code flow: (requested, verified).
pub(crate) type Events = (&'static str, &'static str);

/// Sends a code of `code.purpose` for `user` to `e164` over `channel`, through the same
/// step as a sign-in code (limits, budgets, locks, allow-list). `user: None` makes a flow
/// that answers the same, sends nothing and accepts no code (a password reset for an
/// unknown user name).
pub(crate) async fn send_for(
    app: &App,
    tenant: &Tenant,
    user: Option<UserId>,
    e164: String,
    channel: Channel,
    code: CodeFor,
    requester: Requester,
) -> Result<SmsSignInFlow, SignInFailure> {
    let now = app.clock().now();
    let (app2, tenant2) = (app.clone(), tenant.clone());
    let target = StepTarget::Number(e164.clone());
    let (requested, _) = code.events;
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester,
    };
    let query = log.query(app, true);
    let q = query.clone();
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let cx = step_context(&app2, now);
        let counter = input.counter.cloned().unwrap_or_default();
        let mut with = sms_sign_in::start(tenant2.id, e164.clone(), user, cx, &mut OsRng);
        with.flow.channel = channel;
        with.flow.purpose = code.purpose;
        let counter = match sms_sign_in::take_send(&counter, cx) {
            Ok(c) => c,
            Err(e) => {
                return refused(
                    now,
                    e.clone(),
                    log.entry(requested, Some(&with.flow), Err(&e)),
                )
            }
        };
        match gate(&tenant2, &e164, &q, &input, user.is_some()) {
            Gate::TooMany(e) => refused(
                now,
                e.clone(),
                log.ip_refused(requested, Some(&with.flow), &e),
            ),
            Gate::Withheld(why, abuse) => {
                with.code = None;
                with.flow.code_hash = None;
                let entry = log.withheld(requested, &with.flow, why);
                sent(&app2, false, with, counter, entry, now, abuse)
            }
            Gate::Open(abuse) => {
                let entry = log.entry(requested, Some(&with.flow), Ok(user));
                let (otp, flow) = (with.code.clone(), with.flow.clone());
                let mut write = sent(&app2, false, with, counter, entry, now, abuse);
                write.message = otp.and_then(|c| code_message(&app2, &flow, &c, code.kind, now));
                write
            }
        }
    });
    let write = run_step(app, Step::Request, tenant, target, query, decide).await?;
    write.outcome?;
    write
        .flow
        .ok_or(SignInFailure::Store(textid_store::StoreError::Corrupt(
            "a successful step wrote no flow".into(),
        )))
}

/// Checks a proof code of `user`'s flow; on success the flow is finished and the answer
/// is the proven number (E.164). Wrong codes count as for a sign-in.
pub async fn check(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    flow_id: FlowId,
    code: &OtpCode,
    requester: Requester,
) -> Result<String, SignInFailure> {
    let (_, phone) = check_for(
        app,
        tenant,
        Some(user),
        flow_id,
        code,
        (FlowPurpose::Proof, PROOF),
        requester,
    )
    .await?;
    Ok(phone)
}

/// Checks a code of a flow of `purpose` (of `user`, when given: only the user who asked
/// can finish it); on success the flow is finished and the answer is its owner and
/// number (E.164). A flow of another purpose is `flowNotFound`. Wrong codes count as for
/// a sign-in.
pub(crate) async fn check_for(
    app: &App,
    tenant: &Tenant,
    user: Option<UserId>,
    flow_id: FlowId,
    code: &OtpCode,
    (purpose, (_, verified)): (FlowPurpose, Events),
    requester: Requester,
) -> Result<(UserId, String), SignInFailure> {
    let now = app.clock().now();
    let (app2, code, tenant_id) = (app.clone(), code.clone(), tenant.id);
    let log = LogContext {
        tenant: tenant.id,
        now,
        requester,
    };
    let query = log.query(app, false);
    let q = query.clone();
    let decide = Box::new(move |input: textid_store::StepInput<'_>| {
        let cx = step_context(&app2, now);
        // Only a flow of this purpose, and only the user who asked for it, can finish it.
        let flow = input
            .flow
            .filter(|f| f.purpose == purpose && user.is_none_or(|u| f.user_id == Some(u)));
        let (Some(flow), Some(counter)) = (flow, input.counter) else {
            let e = SignInError::FlowNotFound;
            return refused(now, e.clone(), log.entry(verified, None, Err(&e)));
        };
        let checked = sms_sign_in::check_code(flow, counter, &code, cx);
        let abuse = match &checked.outcome {
            Ok(_) => AbuseWrite {
                increments: abuse::on_verified(tenant_id, &flow.phone_e164, &q),
                client: Some(Default::default()),
                ..AbuseWrite::default()
            },
            Err(SignInError::InvalidCode) => AbuseWrite {
                client: Some(input.abuse.client.record_failure(now, &q.limits)),
                ..AbuseWrite::default()
            },
            Err(_) => AbuseWrite::default(),
        };
        let outcome = checked.outcome.as_ref().map(|u| Some(*u));
        let entry = log.entry(verified, Some(flow), outcome);
        StepWrite {
            at: now,
            outcome: checked.outcome.map(StepOutcome::SignedIn),
            counter: Some(checked.counter),
            message: None,
            supersede_queued: checked.flow.state == sms_sign_in::FlowState::Completed,
            flow: Some(checked.flow),
            session: None,
            log: Some(entry),
            abuse,
            link_request: None,
        }
    });
    let target = StepTarget::Flow(flow_id);
    let write = run_step(app, Step::Verify, tenant, target, query, decide).await?;
    let owner = match write.outcome? {
        StepOutcome::SignedIn(owner) => owner,
        StepOutcome::CodeSent => {
            return Err(
                textid_store::StoreError::Corrupt("a check answered code sent".into()).into(),
            )
        }
    };
    write
        .flow
        .map(|f| (owner, f.phone_e164))
        .ok_or(SignInFailure::Store(textid_store::StoreError::Corrupt(
            "a successful check wrote no flow".into(),
        )))
}

/// Tells a number that it stopped being the user's sign-in number (DESIGN.md §2: the old
/// number is told of the change), so a hijacked account is noticed. A notice without a
/// code, to a number the user had proven; queued in one write, delivered by the worker.
pub async fn notify_number_changed(
    app: &App,
    tenant: &Tenant,
    old_e164: &str,
) -> Result<(), SignInFailure> {
    let Ok(text) = textid_sms::template::number_changed_text(app.host()) else {
        return Ok(());
    };
    let kind = textid_sms::MessageKind::NumberChanged;
    notify(app, tenant, old_e164, kind, text).await
}

/// Queues a notice of `kind` (no code) with `text` to `e164`, in one write.
pub(crate) async fn notify(
    app: &App,
    tenant: &Tenant,
    old_e164: &str,
    kind: textid_sms::MessageKind,
    text: String,
) -> Result<(), SignInFailure> {
    let now = app.clock().now();
    let id = textid_core::MessageId(uuid::Uuid::now_v7());
    let message = textid_core::message::NewMessage {
        id,
        kind: kind.as_str(),
        channel: Channel::Sms,
        to: old_e164.to_owned(),
        sealed_body: app.sealer().seal(id.0.as_bytes(), &text, &mut OsRng),
        locale: textid_sms::catalog::LOCALE.into(),
        queued_at: now,
        leased_until: app.hand_off_lease(now),
    };
    let query = LogContext {
        tenant: tenant.id,
        now,
        requester: Requester::default(),
    }
    .query(app, false);
    let decide = Box::new(move |_: textid_store::StepInput<'_>| StepWrite {
        at: now,
        outcome: Ok(StepOutcome::CodeSent),
        flow: None,
        counter: None,
        message: Some(message.clone()),
        supersede_queued: false,
        session: None,
        log: None,
        abuse: AbuseWrite::default(),
        link_request: None,
    });
    let target = StepTarget::Number(old_e164.to_owned());
    let queued = app
        .store()
        .sms_sign_in_step(tenant.id, target, query, decide)
        .await?;
    if let Some(m) = &queued.message {
        app.queued(tenant, None, m);
    }
    Ok(())
}

/// Sign-in log events of proofs (not sign-ins: no session follows).
const PROOF: Events = ("proofCodeRequested", "proofCodeVerified");

fn step_context(app: &App, now: DateTime<Utc>) -> StepContext<'_> {
    StepContext {
        now,
        limits: app.limits(),
        hasher: app.hasher(),
    }
}
