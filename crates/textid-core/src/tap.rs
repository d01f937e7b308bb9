//! Temporary Access Pass sign-in (DESIGN.md §1; issue #15): whether a presented pass is
//! accepted, and what accepting it changes. A pass works from its start for its lifetime;
//! a one-time pass works once (the backend marks it used in the same transaction, so two
//! concurrent redemptions cannot both win); a session it opens never outlives it.

use chrono::{DateTime, Duration, Utc};
use subtle::ConstantTimeEq;

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

#[cfg(test)]
mod tests {
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
}
