//! Retention: which rows the purge job may delete, decided from the time and the limits
//! (pure, so the rule is tested without a database). The database must never grow
//! without bound from anonymous traffic (docs/design.md §3, "Retention"): every flow,
//! counter, request, code and token ends, and once it has ended nothing reads it again.
//! Logs are kept for a configurable time (Entra's free tier keeps them 30 days).

use chrono::{DateTime, Duration, Utc};

use crate::flow::sms_sign_in::FLOW_MAX_AGE_MINUTES;
use crate::limits::SignInLimits;

/// The default log retention, as Entra's free tier.
pub const DEFAULT_LOG_RETENTION_DAYS: i64 = 30;
/// The longest log retention accepted (ten years).
pub const MAX_LOG_RETENTION_DAYS: i64 = 3650;

/// The two cut-off times of one purge.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PurgeCutoffs {
    /// Flows started, counters whose window started, and requests, codes, tokens and
    /// sessions that expired before this are deleted.
    pub ended_before: DateTime<Utc>,
    /// Sign-in and audit logs written before this are deleted.
    pub logs_before: DateTime<Utc>,
}

/// The cut-offs at `now`. The store compares a flow's and a counter window's *start*, so
/// the look-back is the longest any of them lasts (a flow's maximum age, the send window,
/// a code's lifetime), and at least an hour so that a purge never removes something a
/// request under way may still read.
pub fn purge_cutoffs(
    now: DateTime<Utc>,
    limits: &SignInLimits,
    log_retention: Duration,
) -> PurgeCutoffs {
    let grace = [
        Duration::minutes(FLOW_MAX_AGE_MINUTES),
        limits.send_window,
        limits.code_lifetime,
        Duration::hours(1),
    ]
    .into_iter()
    .max()
    .unwrap_or_else(|| Duration::hours(1));
    PurgeCutoffs {
        ended_before: now - grace,
        logs_before: now - log_retention.max(Duration::zero()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    #[test]
    fn the_look_back_covers_the_longest_window_and_the_logs_their_retention() {
        let now = Utc.with_ymd_and_hms(2026, 1, 31, 0, 0, 0).unwrap();
        let limits = SignInLimits::default();
        let c = purge_cutoffs(now, &limits, Duration::days(DEFAULT_LOG_RETENTION_DAYS));
        assert_eq!(c.ended_before, now - Duration::hours(1));
        assert_eq!(c.logs_before, now - Duration::days(30));
        let long = SignInLimits {
            send_window: Duration::hours(24),
            ..limits
        };
        assert_eq!(
            purge_cutoffs(now, &long, Duration::days(1)).ended_before,
            now - Duration::hours(24)
        );
    }
}
