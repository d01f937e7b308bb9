//! What the purge deletes, in ONE list shared by both backends (their SQL dialects agree
//! on these statements; each backend only substitutes its placeholder for `:before`).
//! A new table of expiring rows (e.g. a new counter) is purged by adding one rule here,
//! and a conformance case for it.
//!
//! Every timestamp is stored as milliseconds since the epoch in both backends.
//! `2592000000` is 30 days (how long a deleted item can be restored).

/// One table: rows matching `condition` (with `:before` the cut-off) are deleted.
#[derive(Debug)]
pub(crate) struct Rule {
    /// The table.
    pub table: &'static str,
    /// When one of its rows has ended.
    pub condition: &'static str,
}

/// What has ended: `MaintenanceStore::purge`. The order matters where one rule reads
/// another table (token families go after the tokens that reference them).
pub(crate) const ENDED: &[Rule] = &[
    // A flow ends at most `FLOW_MAX_AGE_MINUTES` after its start; the caller looks back
    // at least that far.
    Rule {
        table: "sms_sign_in_flows",
        condition: "created_at < :before",
    },
    // A counter still counts while its window, its lock or its failures do.
    Rule {
        table: "phone_counters",
        condition: "(locked_until IS NULL OR locked_until < :before) \
                    AND (window_started_at IS NULL OR window_started_at < :before) \
                    AND consecutive_failures = 0",
    },
    // Budget buckets carry their own end (their window, the daily cap's day).
    Rule {
        table: "send_counters",
        condition: "expires_at < :before",
    },
    Rule {
        table: "send_pauses",
        condition: "until < :before",
    },
    // A (number, client IP) counter goes when its lock (if any) has ended and it was last
    // written before the cut-off: a client that paused longer than the look-back starts
    // counting wrong codes from nothing, and counters that never reached a lock do not
    // pile up (issue #14).
    Rule {
        table: "client_counters",
        condition: "(locked_until IS NULL OR locked_until < :before) AND updated_at < :before",
    },
    // Queued messages stay, however old: the worker decides their fate.
    Rule {
        table: "outbox",
        condition: "status <> 'queued' AND finished_at < :before",
    },
    Rule {
        table: "sessions",
        condition: "expires_at < :before",
    },
    Rule {
        table: "auth_requests",
        condition: "expires_at < :before",
    },
    Rule {
        table: "oauth_codes",
        condition: "expires_at < :before",
    },
    // A used refresh token is kept until it expires: presenting it again is the reuse
    // that revokes its family (RFC 9700 §4.14.2).
    Rule {
        table: "refresh_tokens",
        condition: "expires_at < :before",
    },
    Rule {
        table: "issued_access_tokens",
        condition: "expires_at < :before",
    },
    Rule {
        table: "revoked_access_tokens",
        condition: "expires_at < :before",
    },
    // A revoked family matters while one of its tokens may still be presented.
    Rule {
        table: "revoked_families",
        condition: "revoked_at < :before \
                    AND NOT EXISTS (SELECT 1 FROM refresh_tokens r WHERE r.family_id = revoked_families.family_id) \
                    AND NOT EXISTS (SELECT 1 FROM issued_access_tokens i WHERE i.family_id = revoked_families.family_id)",
    },
    // A deleted user or group can be restored for 30 days after its deletion (Entra's
    // deleted items); then it goes for good, with the numbers it kept reserved (issue #17).
    // Its methods, memberships and SCIM rows cascade.
    Rule {
        table: "deleted_users",
        condition: "deleted_at < :before - 2592000000",
    },
    Rule {
        table: "deleted_groups",
        condition: "deleted_at < :before - 2592000000",
    },
    // What a delta token older than 30 days would need (the API refuses such tokens).
    Rule {
        table: "directory_tombstones",
        condition: "at < :before - 2592000000",
    },
    Rule {
        table: "group_member_changes",
        condition: "at < :before - 2592000000",
    },
];

/// The logs, kept for the configured retention: `MaintenanceStore::purge_logs`.
pub(crate) const LOGS: &[Rule] = &[
    Rule {
        table: "sign_in_logs",
        condition: "created_at < :before",
    },
    Rule {
        table: "directory_audits",
        condition: "created_at < :before",
    },
];

/// The statement of `rule` with the backend's `placeholder` (`?1`, `$1`).
pub(crate) fn statement(rule: &Rule, placeholder: &str) -> String {
    format!(
        "DELETE FROM {} WHERE {}",
        rule.table,
        rule.condition.replace(":before", placeholder)
    )
}
