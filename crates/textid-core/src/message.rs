//! Messages in the durable outbox (DESIGN.md §2): queued in the same transaction that
//! creates the code, delivered by a worker, retried with backoff until a deadline.

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use crate::ids::{FlowId, MessageId, TenantId};

/// How a code travels: a text message or a voice call that reads it out. Stored in the
/// outbox and on a sign-in flow, sent to webhook receivers: the string forms never change.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Channel {
    /// A text message.
    #[default]
    #[serde(rename = "sms")]
    Sms,
    /// A voice call that reads the text out.
    #[serde(rename = "voice")]
    Voice,
}

impl Channel {
    /// The pinned string form, the same as the serde form.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Voice => "voice",
        }
    }

    /// Reads the pinned string form back; `None` for anything else.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "sms" => Some(Self::Sms),
            "voice" => Some(Self::Voice),
            _ => None,
        }
    }

    /// The RFC 8176 `amr` value of a code received this way: `sms` for a text,
    /// `tel` ("confirmation by telephone call") for a call.
    pub fn amr(&self) -> &'static str {
        match self {
            Self::Sms => "sms",
            Self::Voice => "tel",
        }
    }
}

/// Delivery tries before a message is given up.
pub const MAX_DELIVERY_ATTEMPTS: u32 = 8;

/// How long a claimed message is leased to the worker that holds it (seconds). Short, so
/// that another node delivers a crashed node's messages within about this time; a worker
/// still delivering renews the lease every few seconds.
pub const DELIVERY_LEASE_SECONDS: i64 = 10;

/// A queued message as the worker sees it.
#[derive(Debug, Clone)]
pub struct QueuedMessage {
    /// Its id: the receiver's idempotency key, the same on every retry.
    pub id: MessageId,
    /// Its tenant.
    pub tenant_id: TenantId,
    /// The tenant's name, for the provider.
    pub tenant_name: String,
    /// `signInCode`, `verificationCode`, ...
    pub kind: String,
    /// `sms` (or `voice`).
    pub channel: String,
    /// E.164 recipient.
    pub to: String,
    /// The text, sealed by the server (it contains a code; the store never sees it in clear).
    pub sealed_body: Vec<u8>,
    /// Language of the text.
    pub locale: String,
    /// The flow it belongs to, if any.
    pub flow_id: Option<FlowId>,
    /// Tries so far (including the one this claim starts).
    pub attempts: u32,
    /// When it was queued.
    pub created_at: DateTime<Utc>,
}

/// A message to queue.
#[derive(Debug, Clone)]
pub struct NewMessage {
    /// Its id.
    pub id: MessageId,
    /// `signInCode`, ...
    pub kind: &'static str,
    /// How it travels.
    pub channel: Channel,
    /// E.164 recipient.
    pub to: String,
    /// The text, sealed by the server.
    pub sealed_body: Vec<u8>,
    /// Language.
    pub locale: String,
    /// When it was queued.
    pub queued_at: DateTime<Utc>,
    /// `Some(end)`: stored already claimed (its first try counted, leased until `end`), for
    /// the queuing process's own worker, which is handed the message in memory once the
    /// write commits, instead of claiming it back from the store. If that worker never
    /// gets to it (a crash), any worker claims it when the lease runs out. `None`: queued
    /// for whichever worker claims it first.
    pub leased_until: Option<DateTime<Utc>>,
}

/// The wait after `attempts` tries before the next: 2 s after the first, then 4 s, 8 s,
/// ... at most 5 minutes.
pub fn retry_delay(attempts: u32) -> Duration {
    let secs = 1i64 << attempts.min(9);
    Duration::seconds(secs.min(300))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_voice_code_is_tel_in_amr() {
        assert_eq!(Channel::Sms.amr(), "sms");
        assert_eq!(Channel::Voice.amr(), "tel");
    }

    #[test]
    fn retry_delay_doubles_and_is_bounded() {
        assert_eq!(retry_delay(0), Duration::seconds(1));
        assert_eq!(retry_delay(3), Duration::seconds(8));
        assert_eq!(retry_delay(30), Duration::seconds(300));
    }
}
