//! The security limits of sign-in, with DESIGN.md §3's defaults and hard caps. Every limit
//! is configurable, inside the caps: an operator can raise a budget for a load test, never
//! turn a rule off.

use chrono::Duration;

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
    /// Consecutive failures of a number before a temporary lock (1..=100).
    pub failures_before_lock: u32,
    /// The first lock; each further failure while over the threshold doubles it.
    pub lock_base: Duration,
    /// The longest lock.
    pub lock_max: Duration,
    /// Lifetime of a session from an SMS sign-in (<= 30 days).
    pub session_lifetime: Duration,
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
            failures_before_lock: 10,
            lock_base: Duration::minutes(1),
            lock_max: Duration::hours(24),
            session_lifetime: Duration::hours(8),
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
            (1..=86_400).contains(&secs(self.lock_base)),
            "lock_base_seconds",
            secs(self.lock_base),
            "1..=86400",
        )?;
        check(
            self.lock_max >= self.lock_base && secs(self.lock_max) <= 7 * 86_400,
            "lock_max_seconds",
            secs(self.lock_max),
            "lock_base..=604800",
        )?;
        check(
            (60..=30 * 86_400).contains(&secs(self.session_lifetime)),
            "session_lifetime_seconds",
            secs(self.session_lifetime),
            "60..=2592000",
        )?;
        Ok(())
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
