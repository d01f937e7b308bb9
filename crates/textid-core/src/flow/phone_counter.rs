//! Per (tenant, phone number) counters: consecutive failures with a growing temporary
//! lock, and the send budget. Kept per number, not per user, so an unknown number behaves
//! exactly like a registered one (DESIGN.md §3).

use chrono::{DateTime, Duration, Utc};

use crate::limits::SignInLimits;

/// The counters of one number in one tenant.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PhoneCounter {
    /// Wrong codes in a row, over all codes and flows. A new code does not reset it.
    pub consecutive_failures: u32,
    /// Until when the number is locked.
    pub locked_until: Option<DateTime<Utc>>,
    /// Start of the current send window.
    pub window_started_at: Option<DateTime<Utc>>,
    /// Codes sent (or pretended, for unknown numbers) in the current window.
    pub window_sends: u32,
}

impl PhoneCounter {
    /// Takes one send from the budget, or says how long to wait.
    pub fn take_send(&self, now: DateTime<Utc>, limits: &SignInLimits) -> Result<Self, Duration> {
        let mut next = self.clone();
        match self.window_started_at {
            Some(start) if now < start + limits.send_window => {
                if self.window_sends >= limits.sends_per_window {
                    return Err(start + limits.send_window - now);
                }
                next.window_sends += 1;
            }
            _ => {
                next.window_started_at = Some(now);
                next.window_sends = 1;
            }
        }
        Ok(next)
    }

    /// The rest of a running lock, if any.
    pub fn lock_remaining(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts a wrong code; from the threshold on, locks for a doubling time.
    pub fn record_failure(&self, now: DateTime<Utc>, limits: &SignInLimits) -> Self {
        let failures = self.consecutive_failures.saturating_add(1);
        let locked_until = if failures >= limits.failures_before_lock {
            let doublings = (failures - limits.failures_before_lock).min(20);
            let lock = limits.lock_base * 2i32.pow(doublings);
            Some(now + lock.min(limits.lock_max))
        } else {
            self.locked_until
        };
        Self {
            consecutive_failures: failures,
            locked_until,
            ..self.clone()
        }
    }

    /// A successful sign-in clears failures and lock; the send budget stays.
    pub fn record_success(&self) -> Self {
        Self {
            consecutive_failures: 0,
            locked_until: None,
            ..self.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    #[test]
    fn five_sends_per_window_then_wait_until_the_window_ends() {
        let clock = ManualClock::at_epoch_2026();
        let limits = SignInLimits::default();
        let mut c = PhoneCounter::default();
        for _ in 0..5 {
            c = c.take_send(clock.now(), &limits).unwrap();
        }
        clock.advance(Duration::minutes(1));
        let wait = c.take_send(clock.now(), &limits).unwrap_err();
        assert_eq!(wait, Duration::minutes(14));
        clock.advance(wait);
        c = c.take_send(clock.now(), &limits).unwrap();
        assert_eq!(c.window_sends, 1);
    }

    #[test]
    fn the_threshold_failure_locks_for_minutes_and_each_further_failure_doubles_the_lock() {
        let clock = ManualClock::at_epoch_2026();
        let limits = SignInLimits::default();
        let mut c = PhoneCounter::default();
        for _ in 0..limits.failures_before_lock - 1 {
            c = c.record_failure(clock.now(), &limits);
        }
        assert_eq!(c.lock_remaining(clock.now()), None);
        c = c.record_failure(clock.now(), &limits);
        assert_eq!(c.lock_remaining(clock.now()), Some(Duration::minutes(5)));
        clock.advance(Duration::minutes(5));
        assert_eq!(c.lock_remaining(clock.now()), None);
        c = c.record_failure(clock.now(), &limits);
        assert_eq!(c.lock_remaining(clock.now()), Some(Duration::minutes(10)));
        c = c.record_failure(clock.now(), &limits);
        c = c.record_failure(clock.now(), &limits);
        assert_eq!(
            c.lock_remaining(clock.now()),
            Some(Duration::minutes(15)),
            "never longer than lock_max: minutes, not a day"
        );
        c = c.record_success();
        assert_eq!(
            (c.consecutive_failures, c.lock_remaining(clock.now())),
            (0, None)
        );
    }
}
