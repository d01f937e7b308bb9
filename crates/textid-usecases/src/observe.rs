//! What the sign-in steps report as they happen, for the metrics of issue #14 §8
//! ("observability of abuse"): after each start, resend and verify has been committed,
//! its outcome becomes one or two [`SignInEvent`]s handed to the context's [`Observer`].
//!
//! An event carries bounded labels only: the ISO 3166 region of the number (or
//! `unknown`), never the number; and a stable reason code ([`Refusal::as_str`] or
//! `SignInError::code`). The events are read off the committed [`StepWrite`], not
//! counted inside the step's decision, which a backend may run more than once.

use textid_core::abuse::Refusal;
use textid_store::{StepOutcome, StepWrite};

/// The country label of a number no region is known for (or of a step without one).
pub const UNKNOWN_COUNTRY: &str = "unknown";

/// One thing that happened in an SMS sign-in, with its labels.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInEvent {
    /// The number's ISO 3166 alpha-2 region (`US`), or [`UNKNOWN_COUNTRY`].
    pub country: String,
    /// What happened.
    pub kind: SignInEventKind,
}

/// What happened in a [`SignInEvent`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInEventKind {
    /// A code was asked for (a start or a resend), whatever came of it.
    CodeRequested,
    /// A request got no code, and why: a [`Refusal`] (budgets, allow-list, conversion
    /// watch, locks) or the step's own refusal (`SignInError::code`, e.g.
    /// `tooManyRequests` for the per-number send limits).
    CodeRefused(&'static str),
    /// A code was accepted.
    CodeVerified,
    /// A code was not accepted (`SignInError::code`: `invalidCode`, `codeExpired`,
    /// `tooManyAttempts`, `temporarilyLocked`, `flowNotFound`).
    CodeFailed(&'static str),
}

/// Receives the sign-in events (the server's metrics). Called after the step's
/// transaction, on the request's task: it must not block.
pub trait Observer: Send + Sync + std::fmt::Debug {
    /// One event.
    fn sign_in(&self, event: &SignInEvent);
}

/// An observer that drops every event (the CLI, tests of the use cases).
#[derive(Debug, Clone, Copy, Default)]
pub struct Unobserved;

impl Observer for Unobserved {
    fn sign_in(&self, _: &SignInEvent) {}
}

/// Which kind of step a [`StepWrite`] came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Step {
    /// A start or a resend.
    Request,
    /// A code check.
    Verify,
}

/// The events of a committed step.
pub(crate) fn events(step: Step, write: &StepWrite) -> Vec<SignInEvent> {
    let phone = write
        .log
        .as_ref()
        .and_then(|l| l.phone.as_deref())
        .or_else(|| write.flow.as_ref().map(|f| f.phone_e164.as_str()));
    let country = phone
        .and_then(textid_core::phone::region_of)
        .unwrap_or_else(|| UNKNOWN_COUNTRY.to_string());
    // A withheld code is answered like a sent one; the log says why it was withheld.
    let refusal = write
        .log
        .as_ref()
        .and_then(|l| l.failure_reason.as_deref())
        .and_then(Refusal::parse)
        .map(Refusal::as_str);
    let kinds = match (step, &write.outcome) {
        (Step::Request, Ok(_)) => vec![
            Some(SignInEventKind::CodeRequested),
            refusal.map(SignInEventKind::CodeRefused),
        ],
        (Step::Request, Err(e)) => vec![
            Some(SignInEventKind::CodeRequested),
            Some(SignInEventKind::CodeRefused(refusal.unwrap_or(e.code()))),
        ],
        (Step::Verify, Ok(StepOutcome::SignedIn(_))) => vec![Some(SignInEventKind::CodeVerified)],
        (Step::Verify, Ok(StepOutcome::CodeSent)) => vec![],
        (Step::Verify, Err(e)) => vec![Some(SignInEventKind::CodeFailed(e.code()))],
    };
    kinds
        .into_iter()
        .flatten()
        .map(|kind| SignInEvent {
            country: country.clone(),
            kind,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{TimeZone, Utc};
    use textid_core::flow::sms_sign_in::SignInError;
    use textid_core::{TenantId, UserId};
    use textid_store::SignInLogEntry;
    use SignInEventKind::*;

    fn write(
        phone: Option<&str>,
        outcome: Result<StepOutcome, SignInError>,
        reason: Option<&str>,
    ) -> StepWrite {
        let at = Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap();
        StepWrite {
            at,
            outcome,
            flow: None,
            counter: None,
            message: None,
            supersede_queued: false,
            session: None,
            log: Some(SignInLogEntry {
                id: uuid::Uuid::nil(),
                tenant_id: TenantId(uuid::Uuid::nil()),
                created_at: at,
                method: "sms".into(),
                event: "codeRequested".into(),
                phone: phone.map(str::to_string),
                user_id: None,
                flow_id: None,
                result: "success".into(),
                failure_reason: reason.map(str::to_string),
                client_ip: None,
                app_id: None,
            }),
            abuse: Default::default(),
            link_request: None,
        }
    }

    fn kinds(step: Step, w: &StepWrite) -> Vec<(String, SignInEventKind)> {
        events(step, w)
            .into_iter()
            .map(|e| (e.country, e.kind))
            .collect()
    }

    #[test]
    fn a_request_counts_once_and_a_withheld_one_says_why() {
        let sent = write(Some("+14255550101"), Ok(StepOutcome::CodeSent), None);
        assert_eq!(kinds(Step::Request, &sent), [("US".into(), CodeRequested)]);
        let withheld = write(
            Some("+358401234567"),
            Ok(StepOutcome::CodeSent),
            Some("countryNotAllowed"),
        );
        assert_eq!(
            kinds(Step::Request, &withheld),
            [
                ("FI".into(), CodeRequested),
                ("FI".into(), CodeRefused("countryNotAllowed"))
            ]
        );
    }

    #[test]
    fn a_refused_request_names_the_refusal_or_the_step_error() {
        let too_many = || SignInError::TooManyRequests {
            retry_after_seconds: 60,
        };
        let ip = write(
            Some("+14255550101"),
            Err(too_many()),
            Some("ipBudgetExceeded"),
        );
        assert_eq!(
            kinds(Step::Request, &ip)[1],
            ("US".into(), CodeRefused("ipBudgetExceeded"))
        );
        let number = write(
            Some("+14255550101"),
            Err(too_many()),
            Some("tooManyRequests"),
        );
        assert_eq!(
            kinds(Step::Request, &number)[1],
            ("US".into(), CodeRefused("tooManyRequests"))
        );
        let gone = write(None, Err(SignInError::FlowNotFound), Some("flowNotFound"));
        assert_eq!(
            kinds(Step::Request, &gone),
            [
                (UNKNOWN_COUNTRY.into(), CodeRequested),
                (UNKNOWN_COUNTRY.into(), CodeRefused("flowNotFound"))
            ]
        );
    }

    #[test]
    fn a_verify_is_verified_or_failed_with_its_code() {
        let ok = write(
            Some("+14255550101"),
            Ok(StepOutcome::SignedIn(UserId(uuid::Uuid::nil()))),
            None,
        );
        assert_eq!(kinds(Step::Verify, &ok), [("US".into(), CodeVerified)]);
        let wrong = write(
            Some("+14255550101"),
            Err(SignInError::InvalidCode),
            Some("invalidCode"),
        );
        assert_eq!(
            kinds(Step::Verify, &wrong),
            [("US".into(), CodeFailed("invalidCode"))]
        );
    }
}
