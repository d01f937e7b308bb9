//! Sign-in steps as the server takes them, for the multi-node tests: start a flow for a
//! number's owner (queuing its code), and verify a code (creating a session on success).

use chrono::{DateTime, TimeZone, Utc};
use rand::rngs::StdRng;
use rand::SeedableRng;
use textid_core::code::{Digest, OtpCode, SecretHasher};
use textid_core::flow::sms_sign_in::{self, SignInError, StepContext};
use textid_core::limits::SignInLimits;
use textid_core::message::NewMessage;
use textid_core::tenant::Tenant;
use textid_core::{FlowId, MessageId, SessionId, UserId};
use textid_store::postgres::PostgresStore;
use textid_store::prelude::*;
use textid_store::{Decide, NewSession, StepInput, StepOutcome, StepTarget, StepWrite};

/// The number the tests sign in with.
pub const NUMBER: &str = "+14255550101";

/// The tests' fixed time.
pub fn now() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

pub fn nothing(outcome: Result<StepOutcome, SignInError>) -> StepWrite {
    StepWrite {
        at: now(),
        outcome,
        flow: None,
        counter: None,
        message: None,
        supersede_queued: false,
        session: None,
        log: None,
        abuse: Default::default(),
        link_request: None,
    }
}

pub fn message(to: &str) -> NewMessage {
    NewMessage {
        id: MessageId(uuid::Uuid::new_v4()),
        kind: "signInCode",
        channel: textid_core::message::Channel::Sms,
        to: to.into(),
        sealed_body: vec![1, 2, 3],
        locale: "en".into(),
        queued_at: now(),
        leased_until: None,
    }
}

/// Starts a flow for the owner of [`NUMBER`]; its id and code.
pub async fn start_flow(
    s: &PostgresStore,
    t: &Tenant,
    owner: UserId,
    hasher: &SecretHasher,
) -> (FlowId, OtpCode) {
    let limits = SignInLimits::default();
    let cx = StepContext {
        now: now(),
        limits: &limits,
        hasher,
    };
    let started = sms_sign_in::start(
        t.id,
        NUMBER.into(),
        Some(owner),
        cx,
        &mut StdRng::from_entropy(),
    );
    let (flow, code) = (started.flow, started.code.unwrap());
    let w = s
        .sms_sign_in_step(
            t.id,
            StepTarget::Number(NUMBER.into()),
            textid_store::conformance::no_abuse(now()),
            Box::new(move |input| StepWrite {
                counter: input.counter.cloned(),
                flow: Some(flow.clone()),
                message: Some(message(NUMBER)),
                ..nothing(Ok(StepOutcome::CodeSent))
            }),
        )
        .await
        .unwrap();
    (w.flow.unwrap().id, code)
}

pub fn random_digest() -> Digest {
    let mut bytes = [0; 32];
    bytes[..16].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    bytes[16..].copy_from_slice(uuid::Uuid::new_v4().as_bytes());
    Digest(bytes)
}

/// Verifies `code`, creating a session on success (as the server does).
pub fn verify(code: OtpCode, hasher: SecretHasher) -> Decide {
    Box::new(move |input: StepInput<'_>| {
        let limits = SignInLimits::default();
        let cx = StepContext {
            now: now(),
            limits: &limits,
            hasher: &hasher,
        };
        let (Some(flow), Some(counter)) = (input.flow, input.counter) else {
            return nothing(Err(SignInError::FlowNotFound));
        };
        let checked = sms_sign_in::check_code(flow, counter, &code, cx);
        let session = checked.outcome.as_ref().ok().map(|u| NewSession {
            kind: textid_core::session::SessionKind::Api,
            client_id: None,
            id: SessionId(uuid::Uuid::new_v4()),
            user_id: *u,
            token_hash: random_digest(),
            amr: vec!["sms".into()],
            expires_at: now() + chrono::Duration::hours(8),
        });
        StepWrite {
            supersede_queued: checked.flow.state == sms_sign_in::FlowState::Completed,
            outcome: checked.outcome.map(StepOutcome::SignedIn),
            flow: Some(checked.flow),
            counter: Some(checked.counter),
            session,
            ..nothing(Ok(StepOutcome::CodeSent))
        }
    })
}
