//! The security limits of sign-in, with DESIGN.md §3's defaults and hard caps. Every limit
//! is configurable, inside the caps: an operator can raise a budget for a load test, never
//! turn a rule off.

use chrono::Duration;

use crate::abuse::AbuseLimits;

/// Limits of the SMS sign-in flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignInLimits {
    /// Digits of a code (>= 6).
    pub code_digits: u8,
    /// How long a code is valid (<= 10 minutes).
    pub code_lifetime: Duration,
    /// Wrong tries per code (1..=10).
    pub max_attempts_per_code: u32,
    /// First resend cooldown; each further resend of a flow doubles it.
    pub resend_cooldown: Duration,
    /// Codes sent to one number within `send_window` (1..=100).
    pub sends_per_window: u32,
    /// The window of `sends_per_window`.
    pub send_window: Duration,
    /// Consecutive failures of a number, from any client, before a temporary lock
    /// (1..=100, NIST SP 800-63B §5.2.2): high, because anyone can add to it; the per
    /// (number, client IP) limit in [`AbuseLimits`] stops a single guesser much earlier.
    pub failures_before_lock: u32,
    /// The first lock; each further failure while over the threshold doubles it.
    pub lock_base: Duration,
    /// The longest lock (<= 1 hour: an anonymous attacker must not lock a victim out for
    /// long).
    pub lock_max: Duration,
    /// Lifetime of a session from an SMS sign-in (<= 30 days).
    pub session_lifetime: Duration,
    /// The abuse budgets of sending and the per-client lockout.
    pub abuse: AbuseLimits,
}

impl Default for SignInLimits {
    fn default() -> Self {
        Self {
            code_digits: 6,
            code_lifetime: Duration::minutes(5),
            max_attempts_per_code: 5,
            resend_cooldown: Duration::seconds(30),
            sends_per_window: 5,
            send_window: Duration::minutes(15),
            failures_before_lock: 50,
            lock_base: Duration::minutes(5),
            lock_max: Duration::minutes(15),
            session_lifetime: Duration::hours(8),
            abuse: AbuseLimits::default(),
        }
    }
}

/// A limit outside its hard cap.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key} = {value} is outside its allowed range {range}")]
pub struct LimitError {
    /// The config key.
    pub key: &'static str,
    /// The value given.
    pub value: String,
    /// The allowed range.
    pub range: &'static str,
}

fn check(
    ok: bool,
    key: &'static str,
    value: impl ToString,
    range: &'static str,
) -> Result<(), LimitError> {
    if ok {
        Ok(())
    } else {
        Err(LimitError {
            key,
            value: value.to_string(),
            range,
        })
    }
}

impl SignInLimits {
    /// Checks the hard caps of DESIGN.md §3.
    pub fn check(&self) -> Result<(), LimitError> {
        let secs = |d: Duration| d.num_seconds();
        check(
            (6..=10).contains(&self.code_digits),
            "code_digits",
            self.code_digits,
            "6..=10",
        )?;
        check(
            (30..=600).contains(&secs(self.code_lifetime)),
            "code_lifetime_seconds",
            secs(self.code_lifetime),
            "30..=600",
        )?;
        check(
            (1..=10).contains(&self.max_attempts_per_code),
            "max_attempts_per_code",
            self.max_attempts_per_code,
            "1..=10",
        )?;
        check(
            (0..=3600).contains(&secs(self.resend_cooldown)),
            "resend_cooldown_seconds",
            secs(self.resend_cooldown),
            "0..=3600",
        )?;
        check(
            (1..=1_000_000).contains(&self.sends_per_window),
            "sends_per_window",
            self.sends_per_window,
            "1..=1000000",
        )?;
        check(
            (1..=86_400).contains(&secs(self.send_window)),
            "send_window_seconds",
            secs(self.send_window),
            "1..=86400",
        )?;
        check(
            (1..=100).contains(&self.failures_before_lock),
            "failures_before_lock",
            self.failures_before_lock,
            "1..=100",
        )?;
        check(
            (1..=3_600).contains(&secs(self.lock_base)),
            "lock_base_seconds",
            secs(self.lock_base),
            "1..=3600",
        )?;
        check(
            self.lock_max >= self.lock_base && secs(self.lock_max) <= 3_600,
            "lock_max_seconds",
            secs(self.lock_max),
            "lock_base..=3600",
        )?;
        check(
            (60..=30 * 86_400).contains(&secs(self.session_lifetime)),
            "session_lifetime_seconds",
            secs(self.session_lifetime),
            "60..=2592000",
        )?;
        self.check_abuse()
    }

    fn check_abuse(&self) -> Result<(), LimitError> {
        let a = &self.abuse;
        let secs = |d: Duration| d.num_seconds();
        for (key, b) in [
            ("ip_sends", a.ip),
            ("prefix_sends", a.prefix),
            ("country_sends", a.country),
            ("tenant_sends", a.tenant),
            ("global_sends", a.global),
        ] {
            check(
                (1..=100_000_000).contains(&b.limit),
                key,
                b.limit,
                "1..=100000000",
            )?;
            check(
                (1..=86_400).contains(&secs(b.window)),
                key,
                secs(b.window),
                "window 1..=86400 seconds",
            )?;
        }
        check(
            (1..=100_000_000).contains(&a.tenant_daily),
            "tenant_daily_sends",
            a.tenant_daily,
            "1..=100000000",
        )?;
        check(
            (60..=86_400).contains(&secs(a.watch_window)),
            "conversion_window_seconds",
            secs(a.watch_window),
            "60..=86400",
        )?;
        check(
            a.watch_min_sends_prefix >= 1,
            "conversion_min_sends_prefix",
            a.watch_min_sends_prefix,
            "1..",
        )?;
        check(
            a.watch_min_sends_country >= 1,
            "conversion_min_sends_country",
            a.watch_min_sends_country,
            "1..",
        )?;
        check(
            (1..=1_000).contains(&a.watch_max_sent_per_verified),
            "conversion_max_sent_per_verified",
            a.watch_max_sent_per_verified,
            "1..=1000",
        )?;
        check(
            (1..=86_400).contains(&secs(a.watch_pause)),
            "conversion_pause_seconds",
            secs(a.watch_pause),
            "1..=86400",
        )?;
        check(
            (1..=self.failures_before_lock).contains(&a.ip_failures_before_lock),
            "client_failures_before_lock",
            a.ip_failures_before_lock,
            "1..=failures_before_lock",
        )?;
        check(
            (1..=3_600).contains(&secs(a.ip_lock)),
            "client_lock_seconds",
            secs(a.ip_lock),
            "1..=3600",
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_pass_and_caps_hold() {
        SignInLimits::default().check().unwrap();
        let weak = SignInLimits {
            code_digits: 4,
            ..Default::default()
        };
        assert_eq!(weak.check().unwrap_err().key, "code_digits");
        let long = SignInLimits {
            code_lifetime: Duration::minutes(11),
            ..Default::default()
        };
        assert_eq!(long.check().unwrap_err().key, "code_lifetime_seconds");
        let lax = SignInLimits {
            failures_before_lock: 101,
            ..Default::default()
        };
        assert_eq!(lax.check().unwrap_err().key, "failures_before_lock");
    }
}
