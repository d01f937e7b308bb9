//! Temporary Access Passes: who may be given one, on which terms, and whether one is
//! usable now (Entra's `methodUsabilityReason`), pure rules over the policy and what the
//! store loaded (the Graph API and the CLI issue passes through the same use case); and
//! sign-in with a pass (DESIGN.md §1; issue #15): whether a presented pass is accepted, and
//! what accepting it changes. A pass works from its start for its lifetime; a one-time pass
//! works once (the backend marks it used in the same transaction, so two concurrent
//! redemptions cannot both win); a session it opens never outlives it.

use chrono::{DateTime, Duration, Utc};
use rand::{CryptoRng, Rng};
use subtle::ConstantTimeEq;

use crate::policy::{Subject, TemporaryAccessPassConfiguration};

/// Characters of a pass: no look-alikes (0/O, 1/l/I).
pub const ALPHABET: &[u8] = b"ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz23456789-@#$%&+=";

/// How far ahead a pass may start (Entra's bound).
const LATEST_START_DAYS: i64 = 365;
/// How far in the past a requested start is still taken as "now" (clock skew of the
/// admin's machine).
const START_SKEW_MINUTES: i64 = 5;

/// What an admin asks for; every field optional, as in Graph.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PassRequest {
    /// When the pass starts to work (default: now).
    pub start: Option<DateTime<Utc>>,
    /// Lifetime in minutes (default: the policy's).
    pub lifetime_minutes: Option<u32>,
    /// One-time (default: the policy's).
    pub is_usable_once: Option<bool>,
}

/// The terms a pass is issued on.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassTerms {
    /// When it starts to work.
    pub start_at: DateTime<Utc>,
    /// How long it works, in minutes.
    pub lifetime_minutes: u32,
    /// Whether its first use ends it.
    pub is_usable_once: bool,
    /// How many characters the pass has.
    pub length: u32,
}

/// Why no pass may be issued.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PassError {
    /// The policy's Temporary Access Pass method is off, or does not cover the user.
    #[error("The Temporary Access Pass method is not enabled for this user by the authentication methods policy.")]
    NotEnabledForUser,
    /// The account is disabled: a pass would be a way around that.
    #[error("The user's account is disabled; enable it before creating a Temporary Access Pass.")]
    UserDisabled,
    /// The lifetime asked for is outside the policy's bounds.
    #[error("lifetimeInMinutes must be between {min} and {max} (the policy's bounds)")]
    Lifetime {
        /// The policy's minimum.
        min: u32,
        /// The policy's maximum.
        max: u32,
    },
    /// A multi-use pass asked for while the policy allows only one-time passes.
    #[error("The policy requires one-time passes; isUsableOnce cannot be false.")]
    OneTimeRequired,
    /// The start is more than a year away.
    #[error("startDateTime must be within a year from now")]
    StartTooLate,
    /// The start is in the past.
    #[error("startDateTime cannot be in the past")]
    StartInPast,
}

impl PassError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::NotEnabledForUser => "methodNotEnabled",
            Self::UserDisabled => "userDisabled",
            Self::Lifetime { .. } => "invalidLifetime",
            Self::OneTimeRequired => "oneTimeRequired",
            Self::StartTooLate | Self::StartInPast => "invalidStartDateTime",
        }
    }
}

/// Decides the terms of a new pass for a user, or why there is none. `now` should carry
/// the precision the pass is stored with.
pub fn terms(
    config: &TemporaryAccessPassConfiguration,
    subject: Subject<'_>,
    account_enabled: bool,
    request: PassRequest,
    now: DateTime<Utc>,
) -> Result<PassTerms, PassError> {
    if !account_enabled {
        return Err(PassError::UserDisabled);
    }
    if !config.allows(subject) {
        return Err(PassError::NotEnabledForUser);
    }
    let lifetime = request
        .lifetime_minutes
        .unwrap_or(config.default_lifetime_in_minutes);
    if !(config.minimum_lifetime_in_minutes..=config.maximum_lifetime_in_minutes)
        .contains(&lifetime)
    {
        return Err(PassError::Lifetime {
            min: config.minimum_lifetime_in_minutes,
            max: config.maximum_lifetime_in_minutes,
        });
    }
    let is_usable_once = match (config.is_usable_once, request.is_usable_once) {
        (true, Some(false)) => return Err(PassError::OneTimeRequired),
        (true, _) => true,
        (false, asked) => asked.unwrap_or(false),
    };
    let start_at = request.start.unwrap_or(now);
    if start_at > now + Duration::days(LATEST_START_DAYS) {
        return Err(PassError::StartTooLate);
    }
    if start_at < now - Duration::minutes(START_SKEW_MINUTES) {
        return Err(PassError::StartInPast);
    }
    Ok(PassTerms {
        start_at,
        lifetime_minutes: lifetime,
        is_usable_once,
        length: config.default_length,
    })
}

/// A new pass of `length` characters from [`ALPHABET`].
pub fn generate(length: u32, rng: &mut (impl Rng + CryptoRng)) -> String {
    (0..length)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Whether a pass works now, in Entra's words (`methodUsabilityReason`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Usability {
    /// It works.
    EnabledByPolicy,
    /// Its start is still ahead.
    NotYetValid,
    /// Its lifetime is over.
    Expired,
    /// A one-time pass that was used.
    OneTimeUsed,
}

impl Usability {
    /// Decides from the pass's terms and its use.
    pub fn of(
        start_at: DateTime<Utc>,
        lifetime_minutes: u32,
        is_usable_once: bool,
        used_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
    ) -> Self {
        if is_usable_once && used_at.is_some() {
            Self::OneTimeUsed
        } else if now < start_at {
            Self::NotYetValid
        } else if now >= start_at + Duration::minutes(i64::from(lifetime_minutes)) {
            Self::Expired
        } else {
            Self::EnabledByPolicy
        }
    }

    /// Whether the pass works.
    pub fn is_usable(self) -> bool {
        self == Self::EnabledByPolicy
    }

    /// Graph's `methodUsabilityReason` value.
    pub fn reason(self) -> &'static str {
        match self {
            Self::EnabledByPolicy => "EnabledByPolicy",
            Self::NotYetValid => "NotYetValid",
            Self::Expired => "Expired",
            Self::OneTimeUsed => "OneTimeUsed",
        }
    }
}

/// What the decision needs of a stored pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PassFacts<'a> {
    /// The keyed hash of the stored pass.
    pub hash: &'a [u8],
    /// Usable from.
    pub start_at: DateTime<Utc>,
    /// Minutes from `start_at`.
    pub lifetime_minutes: u32,
    /// One-time.
    pub is_usable_once: bool,
    /// When a one-time pass was used.
    pub used_at: Option<DateTime<Utc>>,
}

impl PassFacts<'_> {
    /// When the pass stops working.
    pub fn ends_at(&self) -> DateTime<Utc> {
        self.start_at + Duration::minutes(i64::from(self.lifetime_minutes))
    }
}

/// An accepted pass.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redeemed {
    /// Mark the pass used now (a one-time pass).
    pub consume: bool,
    /// When the pass ends: no session it opens may last longer.
    pub ends_at: DateTime<Utc>,
}

/// Whether `presented` (its keyed hash) opens the stored pass at `now`. The hashes are
/// compared in constant time, and before anything else is looked at.
pub fn redeem(stored: PassFacts<'_>, presented: &[u8], now: DateTime<Utc>) -> Option<Redeemed> {
    let matches: bool = stored.hash.ct_eq(presented).into();
    let live = stored.start_at <= now && now < stored.ends_at();
    let unused = !(stored.is_usable_once && stored.used_at.is_some());
    (matches && live && unused).then_some(Redeemed {
        consume: stored.is_usable_once,
        ends_at: stored.ends_at(),
    })
}

/// When a session opened at `now` with a pass ends: its normal end, or the pass's end if
/// that is sooner (issue #15: tokens and sessions never outlive the pass).
pub fn session_end(
    now: DateTime<Utc>,
    lifetime: Duration,
    pass_ends_at: DateTime<Utc>,
) -> DateTime<Utc> {
    (now + lifetime).min(pass_ends_at)
}

/// The `amr` of a sign-in with a pass (a session opened with one carries it).
pub const AMR: &str = "tap";

/// When the tokens of a sign-in must end at the latest: for a sign-in with a pass, the end
/// of the session it opened (never after the pass's end, [`session_end`]), refresh tokens
/// included, whatever their own lifetime; for any other sign-in, no bound beyond the
/// tokens' own lifetimes (`None`).
pub fn tokens_end(amr: &[String], session_ends_at: DateTime<Utc>) -> Option<DateTime<Utc>> {
    amr.iter().any(|a| a == AMR).then_some(session_ends_at)
}

/// When a token issued at `now` for `lifetime` ends, bound by [`tokens_end`]'s answer.
pub fn token_end(
    now: DateTime<Utc>,
    lifetime: Duration,
    bound: Option<DateTime<Utc>>,
) -> DateTime<Utc> {
    bound.map_or(now + lifetime, |b| (now + lifetime).min(b))
}

#[cfg(test)]
mod redemption_tests {
    use super::*;
    use chrono::TimeZone;

    fn at(minute: i64) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 1, 1, 12, 0, 0).unwrap() + Duration::minutes(minute)
    }

    fn pass(once: bool, used: Option<i64>) -> PassFacts<'static> {
        PassFacts {
            hash: b"right",
            start_at: at(0),
            lifetime_minutes: 60,
            is_usable_once: once,
            used_at: used.map(at),
        }
    }

    #[test]
    fn a_pass_works_from_its_start_until_its_lifetime_ends() {
        assert_eq!(redeem(pass(false, None), b"right", at(-1)), None);
        let ok = redeem(pass(false, None), b"right", at(0)).unwrap();
        assert_eq!(
            ok,
            Redeemed {
                consume: false,
                ends_at: at(60)
            }
        );
        assert!(redeem(pass(false, None), b"right", at(59)).is_some());
        assert_eq!(redeem(pass(false, None), b"right", at(60)), None);
    }

    #[test]
    fn a_wrong_pass_never_works() {
        assert_eq!(redeem(pass(false, None), b"wrong", at(1)), None);
        assert_eq!(redeem(pass(false, None), b"righ", at(1)), None);
    }

    #[test]
    fn a_one_time_pass_is_consumed_and_dead_once_used() {
        assert!(redeem(pass(true, None), b"right", at(1)).unwrap().consume);
        assert_eq!(redeem(pass(true, Some(1)), b"right", at(2)), None);
        // A multi-use pass keeps working.
        assert!(redeem(pass(false, Some(1)), b"right", at(2)).is_some());
    }

    #[test]
    fn a_session_ends_with_the_pass_when_that_is_sooner() {
        assert_eq!(session_end(at(50), Duration::hours(8), at(60)), at(60));
        assert_eq!(session_end(at(50), Duration::minutes(5), at(60)), at(55));
    }

    #[test]
    fn only_the_tokens_of_a_pass_sign_in_are_bound_to_its_session() {
        let pass = vec!["tap".to_owned()];
        let sms = vec!["sms".to_owned()];
        assert_eq!(tokens_end(&pass, at(60)), Some(at(60)));
        assert_eq!(tokens_end(&sms, at(60)), None);
        // A 30-day refresh token of a pass sign-in ends with the pass; an hour's access
        // token issued long before the end keeps its hour.
        assert_eq!(token_end(at(50), Duration::days(30), Some(at(60))), at(60));
        assert_eq!(token_end(at(0), Duration::minutes(5), Some(at(60))), at(5));
        assert_eq!(
            token_end(at(50), Duration::days(30), None),
            at(50) + Duration::days(30)
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{ExcludeTarget, IncludeTarget, MethodState, TargetId, TargetType};
    use crate::{GroupId, UserId};
    use uuid::Uuid;

    fn on() -> TemporaryAccessPassConfiguration {
        TemporaryAccessPassConfiguration {
            state: MethodState::Enabled,
            ..TemporaryAccessPassConfiguration::default()
        }
    }
    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000, 0).unwrap_or_default()
    }
    fn who(groups: &[GroupId]) -> Subject<'_> {
        Subject {
            user_id: UserId(Uuid::from_u128(1)),
            groups,
        }
    }

    #[test]
    fn a_disabled_account_gets_no_pass_even_when_the_policy_allows_it() {
        let r = terms(&on(), who(&[]), false, PassRequest::default(), now());
        assert_eq!(r, Err(PassError::UserDisabled));
        assert!(terms(&on(), who(&[]), true, PassRequest::default(), now()).is_ok());
    }

    #[test]
    fn the_method_must_be_on_and_cover_the_user_and_excludes_win() {
        let off = TemporaryAccessPassConfiguration::default();
        let r = terms(&off, who(&[]), true, PassRequest::default(), now());
        assert_eq!(r, Err(PassError::NotEnabledForUser));
        let g = GroupId(Uuid::from_u128(7));
        let only_group = TemporaryAccessPassConfiguration {
            include_targets: vec![IncludeTarget {
                target_type: TargetType::Group,
                id: TargetId::Id(g.0),
            }],
            ..on()
        };
        assert!(!only_group.allows(who(&[])));
        assert!(only_group.allows(who(&[g])));
        let excluded = TemporaryAccessPassConfiguration {
            exclude_targets: vec![ExcludeTarget {
                target_type: TargetType::Group,
                id: g.0,
            }],
            ..on()
        };
        assert!(excluded.allows(who(&[])));
        assert!(!excluded.allows(who(&[g])));
    }

    #[test]
    fn defaults_come_from_the_policy_and_requests_stay_within_its_bounds() {
        let t = terms(&on(), who(&[]), true, PassRequest::default(), now()).unwrap();
        assert_eq!(
            (t.start_at, t.lifetime_minutes, t.is_usable_once, t.length),
            (now(), 60, false, 8)
        );
        let ask = |lifetime| PassRequest {
            lifetime_minutes: Some(lifetime),
            ..PassRequest::default()
        };
        assert_eq!(
            terms(&on(), who(&[]), true, ask(59), now()),
            Err(PassError::Lifetime { min: 60, max: 480 })
        );
        assert_eq!(
            terms(&on(), who(&[]), true, ask(481), now()),
            Err(PassError::Lifetime { min: 60, max: 480 })
        );
        assert_eq!(
            terms(&on(), who(&[]), true, ask(480), now())
                .unwrap()
                .lifetime_minutes,
            480
        );
    }

    #[test]
    fn a_one_time_policy_refuses_multi_use_and_forces_one_time() {
        let once = TemporaryAccessPassConfiguration {
            is_usable_once: true,
            ..on()
        };
        let multi = PassRequest {
            is_usable_once: Some(false),
            ..PassRequest::default()
        };
        assert_eq!(
            terms(&once, who(&[]), true, multi, now()),
            Err(PassError::OneTimeRequired)
        );
        let t = terms(&once, who(&[]), true, PassRequest::default(), now()).unwrap();
        assert!(t.is_usable_once);
    }

    #[test]
    fn the_start_is_within_a_year_and_not_in_the_past() {
        let at = |start| PassRequest {
            start: Some(start),
            ..PassRequest::default()
        };
        let late = now() + Duration::days(366);
        assert_eq!(
            terms(&on(), who(&[]), true, at(late), now()),
            Err(PassError::StartTooLate)
        );
        let past = now() - Duration::minutes(6);
        assert_eq!(
            terms(&on(), who(&[]), true, at(past), now()),
            Err(PassError::StartInPast)
        );
        let skewed = now() - Duration::minutes(4);
        assert!(terms(&on(), who(&[]), true, at(skewed), now()).is_ok());
    }

    #[test]
    fn usability_follows_start_lifetime_and_one_time_use() {
        let s = now();
        assert_eq!(
            Usability::of(s, 60, false, None, s - Duration::seconds(1)),
            Usability::NotYetValid
        );
        assert_eq!(
            Usability::of(s, 60, false, None, s),
            Usability::EnabledByPolicy
        );
        assert_eq!(
            Usability::of(s, 60, false, Some(s), s),
            Usability::EnabledByPolicy
        );
        assert_eq!(
            Usability::of(s, 60, true, Some(s), s),
            Usability::OneTimeUsed
        );
        assert_eq!(
            Usability::of(s, 60, false, None, s + Duration::minutes(60)),
            Usability::Expired
        );
        assert!(!Usability::Expired.is_usable());
        assert_eq!(Usability::OneTimeUsed.reason(), "OneTimeUsed");
    }

    #[test]
    fn generated_passes_have_the_length_and_only_the_alphabet() {
        let p = generate(12, &mut rand::rngs::OsRng);
        assert_eq!(p.len(), 12);
        assert!(p.bytes().all(|b| ALPHABET.contains(&b)));
    }
}
