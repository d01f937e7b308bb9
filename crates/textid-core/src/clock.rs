//! Time, injected. The only module allowed to read the system clock (clippy.toml bans
//! `SystemTime::now` and `Utc::now` elsewhere), so tests can pin or step time.

use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::Arc;

use chrono::{DateTime, TimeZone, Utc};

/// A source of the current time.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current instant, UTC.
    fn now(&self) -> DateTime<Utc>;
}

/// The real wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[allow(clippy::disallowed_methods)] // The one place that reads the wall clock.
    fn now(&self) -> DateTime<Utc> {
        Utc::now()
    }
}

/// A clock that stands still until a test moves it. Clones share the same time.
#[derive(Debug, Clone)]
pub struct ManualClock {
    millis: Arc<AtomicI64>,
}

impl ManualClock {
    /// A clock showing `start`.
    pub fn new(start: DateTime<Utc>) -> Self {
        Self {
            millis: Arc::new(AtomicI64::new(start.timestamp_millis())),
        }
    }

    /// A clock showing 2026-01-01T00:00:00Z, a convenient fixed start for tests.
    pub fn at_epoch_2026() -> Self {
        Self::new(
            Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0)
                .single()
                .unwrap_or_default(),
        )
    }

    /// Moves the clock forward.
    pub fn advance(&self, by: chrono::Duration) {
        self.millis
            .fetch_add(by.num_milliseconds(), Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> DateTime<Utc> {
        Utc.timestamp_millis_opt(self.millis.load(Ordering::SeqCst))
            .single()
            .unwrap_or_default()
    }
}

/// The wall clock corrected by an offset to a shared time source (the database's clock),
/// so that several nodes decide every expiry on one time (DESIGN.md §4). Clones share the
/// offset; whoever measures the source sets it.
#[derive(Debug, Clone, Default)]
pub struct OffsetClock {
    offset_millis: Arc<AtomicI64>,
}

impl OffsetClock {
    /// A clock with no offset yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Aligns the clock on `source`, read between `sent` and `received` on this clock's
    /// wall time (the source is taken to have been read halfway).
    pub fn align(&self, sent: DateTime<Utc>, source: DateTime<Utc>, received: DateTime<Utc>) {
        let midpoint = sent + (received - sent) / 2;
        let offset = (source - midpoint).num_milliseconds();
        self.offset_millis.store(offset, Ordering::SeqCst);
    }

    /// The current offset to the source.
    pub fn offset(&self) -> chrono::Duration {
        chrono::Duration::milliseconds(self.offset_millis.load(Ordering::SeqCst))
    }

    /// The uncorrected wall clock (for measuring).
    pub fn wall(&self) -> DateTime<Utc> {
        SystemClock.now()
    }
}

impl Clock for OffsetClock {
    fn now(&self) -> DateTime<Utc> {
        SystemClock.now() + self.offset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_offset_clock_follows_its_source_measured_at_the_midpoint() {
        let c = OffsetClock::new();
        let sent = Utc.with_ymd_and_hms(2026, 1, 1, 0, 0, 0).unwrap();
        let received = sent + chrono::Duration::milliseconds(10);
        let source = sent + chrono::Duration::milliseconds(5) + chrono::Duration::seconds(3);
        c.align(sent, source, received);
        assert_eq!(c.offset(), chrono::Duration::seconds(3));
        let ahead = c.now() - c.wall();
        assert!(
            (ahead - chrono::Duration::seconds(3))
                .num_milliseconds()
                .abs()
                < 50
        );
    }
}
