//! Housekeeping: the purge that keeps the database bounded. The cut-offs are the core's
//! decision ([`textid_core::retention::purge_cutoffs`]); the store deletes what lies
//! before them. Idempotent, so the job may run on every node at once.

use textid_core::retention::purge_cutoffs;
use textid_store::StoreError;

use crate::Context;

/// How many rows one purge deleted.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Purged {
    /// Ended flows, counters, requests, codes, tokens, sessions and finished messages.
    pub expired: u64,
    /// Sign-in and audit logs older than the retention.
    pub logs: u64,
}

impl Purged {
    /// Every row deleted.
    pub fn total(&self) -> u64 {
        self.expired + self.logs
    }
}

/// Purges what has ended and the logs older than `log_retention`, as of the context's
/// clock.
pub async fn purge(cx: &Context, log_retention: chrono::Duration) -> Result<Purged, StoreError> {
    let cut = purge_cutoffs(cx.clock().now(), cx.limits(), log_retention);
    let expired = cx.store().purge(cut.ended_before).await?;
    let logs = cx.store().purge_logs(cut.logs_before).await?;
    Ok(Purged { expired, logs })
}
