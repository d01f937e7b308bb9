//! The SMS sign-in flow (DESIGN.md §2):
//!
//! ```text
//!   start(phone) ──► pending ──verify(right code)──► completed ──► session
//!                     │  ▲
//!        resend ──────┘  └── wrong code: attempts+1 (5 → code dead; resend gives a new one)
//! ```
//! A flow is created for every well-formed number, registered or not; only a number whose
//! owner is `ready` gets a code (and an SMS). A flow without an owner can never succeed,
//! and otherwise behaves the same, so answers reveal nothing about registration.

use chrono::{DateTime, Duration, Utc};
use rand::{CryptoRng, RngCore};

use crate::code::{Digest, OtpCode, SecretHasher};
use crate::flow::phone_counter::PhoneCounter;
use crate::ids::{FlowId, TenantId, UserId};
use crate::limits::SignInLimits;
use crate::message::Channel;

/// How long a flow can be resumed (resends included) after it started.
pub const FLOW_MAX_AGE_MINUTES: i64 = 30;

/// The state of a flow. Stored by name, forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowState {
    /// Waiting for the right code.
    Pending,
    /// Signed in; the flow can no longer be used.
    Completed,
}

impl FlowState {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Completed => "completed",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending" => Some(Self::Pending),
            "completed" => Some(Self::Completed),
            _ => None,
        }
    }
}

/// What a code flow is for. A code completes only a flow of its own purpose: a code
/// sent as a second factor after a password, for a password reset, or to prove a new
/// number never signs anyone in by itself (issue #15). Stored by name, forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FlowPurpose {
    /// SMS sign-in (a first factor).
    #[default]
    SignIn,
    /// Proving a number before it is saved (security info).
    Proof,
    /// The second factor after a verified password.
    SecondFactor,
    /// Self-service password reset.
    PasswordReset,
}

impl FlowPurpose {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SignIn => "signIn",
            Self::Proof => "proof",
            Self::SecondFactor => "secondFactor",
            Self::PasswordReset => "passwordReset",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [
            Self::SignIn,
            Self::Proof,
            Self::SecondFactor,
            Self::PasswordReset,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

/// A stored SMS sign-in flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsSignInFlow {
    /// Its id, handed to the client.
    pub id: FlowId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The number, E.164.
    pub phone_e164: String,
    /// The owner if the number was `ready` for a user at start.
    pub user_id: Option<UserId>,
    /// The keyed hash of the current code; `None` for a flow without an owner.
    pub code_hash: Option<Digest>,
    /// When the current code stops working.
    pub code_expires_at: DateTime<Utc>,
    /// Wrong tries of the current code.
    pub attempts: u32,
    /// Codes sent in this flow (1 after start).
    pub sends: u32,
    /// When the last code was sent.
    pub last_sent_at: DateTime<Utc>,
    /// When the flow started.
    pub created_at: DateTime<Utc>,
    /// Pending or completed.
    pub state: FlowState,
    /// How the current code was delivered (or would have been, for a flow without an
    /// owner): it decides the session's `amr` (`sms` or `tel`).
    pub channel: Channel,
    /// What the flow is for.
    pub purpose: FlowPurpose,
}

/// A flow plus the code to deliver (if the number has an owner).
#[derive(Debug)]
#[must_use]
pub struct WithCode {
    /// The new flow state to save.
    pub flow: SmsSignInFlow,
    /// The code to queue for delivery; `None` for a number without a `ready` owner.
    pub code: Option<OtpCode>,
}

/// Everything a step needs besides the flow.
#[derive(Debug, Clone, Copy)]
pub struct StepContext<'a> {
    /// Now.
    pub now: DateTime<Utc>,
    /// The limits in force.
    pub limits: &'a SignInLimits,
    /// The code hasher.
    pub hasher: &'a SecretHasher,
}

/// Errors of the sign-in API, each with a stable code (DESIGN.md §3).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignInError {
    /// The code does not match.
    #[error("the code is not correct; check the latest message and try again")]
    InvalidCode,
    /// The code's lifetime is over.
    #[error("the code has expired; ask for a new code")]
    CodeExpired,
    /// The code's tries are used up.
    #[error("too many wrong codes; ask for a new code")]
    TooManyAttempts,
    /// Unknown, finished, expired or foreign flow.
    #[error("the sign-in flow does not exist or has ended; start again")]
    FlowNotFound,
    /// A budget or cooldown is spent.
    #[error("too many requests; try again in {retry_after_seconds} seconds")]
    TooManyRequests {
        /// Whole seconds to wait.
        retry_after_seconds: u64,
    },
    /// The number is temporarily locked after too many wrong codes.
    #[error("too many wrong codes for this number; try again in {retry_after_seconds} seconds")]
    TemporarilyLocked {
        /// Whole seconds to wait.
        retry_after_seconds: u64,
    },
}

impl SignInError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidCode => "invalidCode",
            Self::CodeExpired => "codeExpired",
            Self::TooManyAttempts => "tooManyAttempts",
            Self::FlowNotFound => "flowNotFound",
            Self::TooManyRequests { .. } => "tooManyRequests",
            Self::TemporarilyLocked { .. } => "temporarilyLocked",
        }
    }

    /// Seconds for `Retry-After`, where it applies.
    pub fn retry_after_seconds(&self) -> Option<u64> {
        match self {
            Self::TooManyRequests {
                retry_after_seconds,
            }
            | Self::TemporarilyLocked {
                retry_after_seconds,
            } => Some(*retry_after_seconds),
            _ => None,
        }
    }
}

fn too_many(wait: Duration) -> SignInError {
    SignInError::TooManyRequests {
        retry_after_seconds: super::retry_after_seconds(wait),
    }
}

/// Issues a fresh code for `flow` (start and resend share this).
fn with_new_code<R: RngCore + CryptoRng>(
    mut flow: SmsSignInFlow,
    cx: StepContext<'_>,
    rng: &mut R,
) -> WithCode {
    let code = flow
        .user_id
        .map(|_| OtpCode::generate(rng, cx.limits.code_digits));
    flow.code_hash = code.as_ref().map(|c| cx.hasher.code(flow.id.0, c));
    flow.code_expires_at = cx.now + cx.limits.code_lifetime;
    flow.attempts = 0;
    flow.last_sent_at = cx.now;
    WithCode { flow, code }
}

/// Starts a flow for a number whose `ready` owner (if any) is `user_id`.
pub fn start<R: RngCore + CryptoRng>(
    tenant_id: TenantId,
    phone_e164: String,
    user_id: Option<UserId>,
    cx: StepContext<'_>,
    rng: &mut R,
) -> WithCode {
    let flow = SmsSignInFlow {
        id: FlowId::time_ordered(cx.now, rng),
        tenant_id,
        phone_e164,
        user_id,
        code_hash: None,
        code_expires_at: cx.now,
        attempts: 0,
        sends: 1,
        last_sent_at: cx.now,
        created_at: cx.now,
        state: FlowState::Pending,
        channel: Channel::Sms,
        purpose: FlowPurpose::SignIn,
    };
    with_new_code(flow, cx, rng)
}

/// Starts a flow for a test number: its fixed code, never texted (app-store review, load
/// tests; only when the operator enabled test numbers).
pub fn start_with_code<R: RngCore + CryptoRng>(
    tenant_id: TenantId,
    phone_e164: String,
    user_id: Option<UserId>,
    code: OtpCode,
    cx: StepContext<'_>,
    rng: &mut R,
) -> WithCode {
    let mut with = start(tenant_id, phone_e164, user_id, cx, rng);
    with.flow.code_hash = user_id.map(|_| cx.hasher.code(with.flow.id.0, &code));
    with.code = None;
    with
}

impl SmsSignInFlow {
    /// Whether the flow can still be used at `now`.
    pub fn is_live(&self, now: DateTime<Utc>) -> bool {
        // A code sent near the end of the flow's life stays usable for its whole lifetime,
        // as the answer that sent it promised.
        self.state == FlowState::Pending
            && (now < self.resumable_until() || now < self.code_expires_at)
    }

    /// Until when the flow can be resumed (resends).
    pub fn resumable_until(&self) -> DateTime<Utc> {
        self.created_at + Duration::minutes(FLOW_MAX_AGE_MINUTES)
    }

    /// When the next resend is allowed: the cooldown doubles with each send.
    pub fn next_resend_at(&self, limits: &SignInLimits) -> DateTime<Utc> {
        let doublings = self.sends.saturating_sub(1).min(10);
        self.last_sent_at + (limits.resend_cooldown * 2i32.pow(doublings)).min(Duration::hours(1))
    }

    /// Seconds until a resend is allowed, for the API's `resendAfterSeconds`.
    pub fn resend_after_seconds(&self, now: DateTime<Utc>, limits: &SignInLimits) -> u64 {
        let wait = self.next_resend_at(limits) - now;
        if wait <= Duration::zero() {
            0
        } else {
            super::retry_after_seconds(wait)
        }
    }

    /// Seconds until the current code expires.
    pub fn expires_in_seconds(&self, now: DateTime<Utc>) -> u64 {
        let ms = (self.code_expires_at - now).num_milliseconds().max(0) as u64;
        ms.div_ceil(1000)
    }
}

/// Resends: a new code replaces the old one, with fresh tries. The number's failure count
/// is untouched (a resend must not reset the account's lock, DESIGN.md §3). The caller
/// also takes a send from the number's budget.
pub fn resend<R: RngCore + CryptoRng>(
    flow: &SmsSignInFlow,
    cx: StepContext<'_>,
    rng: &mut R,
) -> Result<WithCode, SignInError> {
    if !flow.is_live(cx.now) || cx.now >= flow.resumable_until() {
        return Err(SignInError::FlowNotFound);
    }
    let next = flow.next_resend_at(cx.limits);
    if cx.now < next {
        return Err(too_many(next - cx.now));
    }
    let mut flow = flow.clone();
    flow.sends += 1;
    Ok(with_new_code(flow, cx, rng))
}

/// Takes a send from the number's budget, or says when to come back.
pub fn take_send(counter: &PhoneCounter, cx: StepContext<'_>) -> Result<PhoneCounter, SignInError> {
    counter.take_send(cx.now, cx.limits).map_err(too_many)
}

/// The result of checking a code: the outcome and what to save.
#[derive(Debug)]
#[must_use]
pub struct Checked {
    /// The owner on success, or why not.
    pub outcome: Result<UserId, SignInError>,
    /// The flow to save.
    pub flow: SmsSignInFlow,
    /// The number's counters to save.
    pub counter: PhoneCounter,
}

impl Checked {
    /// Whether anything must be written back.
    pub fn changed(&self, flow: &SmsSignInFlow, counter: &PhoneCounter) -> bool {
        &self.flow != flow || &self.counter != counter
    }
}

/// Checks a presented code. Run inside the store's write transaction on the freshly read
/// flow, so that two concurrent right answers cannot both succeed (the second sees
/// `completed`) and every wrong answer is counted.
pub fn check_code(
    flow: &SmsSignInFlow,
    counter: &PhoneCounter,
    presented: &OtpCode,
    cx: StepContext<'_>,
) -> Checked {
    let unchanged = |outcome| Checked {
        outcome: Err(outcome),
        flow: flow.clone(),
        counter: counter.clone(),
    };
    if !flow.is_live(cx.now) {
        return unchanged(SignInError::FlowNotFound);
    }
    if let Some(wait) = counter.lock_remaining(cx.now) {
        return unchanged(SignInError::TemporarilyLocked {
            retry_after_seconds: super::retry_after_seconds(wait),
        });
    }
    if cx.now >= flow.code_expires_at {
        return unchanged(SignInError::CodeExpired);
    }
    if flow.attempts >= cx.limits.max_attempts_per_code {
        return unchanged(SignInError::TooManyAttempts);
    }
    // Hash the presented code even for a flow without an owner, so both paths cost the same.
    let presented_hash = cx.hasher.code(flow.id.0, presented);
    let matches = flow
        .code_hash
        .as_ref()
        .is_some_and(|h| h.matches(&presented_hash));
    match (matches, flow.user_id) {
        (true, Some(user_id)) => Checked {
            outcome: Ok(user_id),
            flow: SmsSignInFlow {
                state: FlowState::Completed,
                ..flow.clone()
            },
            counter: counter.record_success(),
        },
        _ => Checked {
            outcome: Err(SignInError::InvalidCode),
            flow: SmsSignInFlow {
                attempts: flow.attempts + 1,
                ..flow.clone()
            },
            counter: counter.record_failure(cx.now, cx.limits),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    struct Fixture {
        clock: ManualClock,
        limits: SignInLimits,
        hasher: SecretHasher,
        rng: StdRng,
    }

    impl Fixture {
        fn new() -> Self {
            Self {
                clock: ManualClock::at_epoch_2026(),
                limits: SignInLimits::default(),
                hasher: SecretHasher::new([9; 32]),
                rng: StdRng::seed_from_u64(1),
            }
        }
        fn cx(&self) -> StepContext<'_> {
            StepContext {
                now: self.clock.now(),
                limits: &self.limits,
                hasher: &self.hasher,
            }
        }
        fn start(&mut self, owner: bool) -> WithCode {
            let user = owner.then(|| UserId(Uuid::from_u128(5)));
            let cx = StepContext {
                now: self.clock.now(),
                limits: &self.limits,
                hasher: &self.hasher,
            };
            start(
                TenantId(Uuid::from_u128(1)),
                "+14255550101".into(),
                user,
                cx,
                &mut self.rng,
            )
        }
    }

    fn wrong(code: &OtpCode) -> OtpCode {
        let d = (code.expose().as_bytes()[0] - b'0' + 1) % 10;
        OtpCode::parse(&format!("{d}{}", &code.expose()[1..]), 6).unwrap()
    }

    #[test]
    fn the_right_code_completes_the_flow_once() {
        let mut fx = Fixture::new();
        let s = fx.start(true);
        let code = s.code.unwrap();
        let c = check_code(&s.flow, &PhoneCounter::default(), &code, fx.cx());
        assert_eq!(c.outcome, Ok(UserId(Uuid::from_u128(5))));
        let again = check_code(&c.flow, &c.counter, &code, fx.cx());
        assert_eq!(again.outcome, Err(SignInError::FlowNotFound));
    }

    #[test]
    fn a_number_without_owner_gets_no_code_and_never_succeeds() {
        let mut fx = Fixture::new();
        let s = fx.start(false);
        assert!(s.code.is_none());
        let guess = OtpCode::parse("000000", 6).unwrap();
        let c = check_code(&s.flow, &PhoneCounter::default(), &guess, fx.cx());
        assert_eq!(c.outcome, Err(SignInError::InvalidCode));
        assert_eq!(
            c.counter.consecutive_failures, 1,
            "counted like a registered number"
        );
    }

    #[test]
    fn five_wrong_tries_kill_the_code_even_for_the_right_one() {
        let mut fx = Fixture::new();
        let s = fx.start(true);
        let code = s.code.unwrap();
        let (mut flow, mut counter) = (s.flow, PhoneCounter::default());
        for _ in 0..5 {
            let c = check_code(&flow, &counter, &wrong(&code), fx.cx());
            assert_eq!(c.outcome, Err(SignInError::InvalidCode));
            (flow, counter) = (c.flow, c.counter);
        }
        let c = check_code(&flow, &counter, &code, fx.cx());
        assert_eq!(c.outcome, Err(SignInError::TooManyAttempts));
    }

    #[test]
    fn a_code_expires_after_five_minutes() {
        let mut fx = Fixture::new();
        let s = fx.start(true);
        fx.clock.advance(Duration::minutes(5));
        let c = check_code(
            &s.flow,
            &PhoneCounter::default(),
            s.code.as_ref().unwrap(),
            fx.cx(),
        );
        assert_eq!(c.outcome, Err(SignInError::CodeExpired));
    }

    #[test]
    fn resend_waits_for_the_cooldown_and_replaces_the_code_with_fresh_tries() {
        let mut fx = Fixture::new();
        let s = fx.start(true);
        let old = s.code.unwrap();
        let c = check_code(&s.flow, &PhoneCounter::default(), &wrong(&old), fx.cx());
        let err = resend(&c.flow, fx.cx(), &mut StdRng::seed_from_u64(2)).unwrap_err();
        assert_eq!(
            err,
            SignInError::TooManyRequests {
                retry_after_seconds: 30
            }
        );
        fx.clock.advance(Duration::seconds(30));
        let r = resend(&c.flow, fx.cx(), &mut StdRng::seed_from_u64(2)).unwrap();
        assert_eq!(r.flow.attempts, 0);
        assert_eq!(
            r.flow.resend_after_seconds(fx.clock.now(), &fx.limits),
            60,
            "cooldown doubles"
        );
        let new = r.code.unwrap();
        if new != old {
            let stale = check_code(&r.flow, &c.counter, &old, fx.cx());
            assert_eq!(stale.outcome, Err(SignInError::InvalidCode));
        }
        let ok = check_code(&r.flow, &c.counter, &new, fx.cx());
        assert!(ok.outcome.is_ok());
    }

    #[test]
    fn a_lock_refuses_right_and_wrong_codes_alike_and_survives_a_resend() {
        let mut fx = Fixture::new();
        let s = fx.start(true);
        let code = s.code.unwrap();
        let mut counter = PhoneCounter::default();
        for _ in 0..fx.limits.failures_before_lock {
            counter = counter.record_failure(fx.clock.now(), &fx.limits);
        }
        for presented in [&code, &wrong(&code)] {
            let c = check_code(&s.flow, &counter, presented, fx.cx());
            assert_eq!(
                c.outcome,
                Err(SignInError::TemporarilyLocked {
                    retry_after_seconds: 300
                })
            );
        }
    }
}
