//! SMS delivery: the texts textid sends and the providers that carry them (DESIGN.md §3, §4).
//!
//! - [`template`] renders a code into its text: one GSM-7 segment, no personal data, last line
//!   `@{host} #{code}` (origin-bound one-time code). The words come from [`catalog`].
//! - [`Provider`] hands one [`OutgoingMessage`] to a carrier and says whether the outcome is
//!   final ([`Delivery`], [`SendError::Permanent`]) or worth another try
//!   ([`SendError::Transient`]). Providers do not retry: the durable outbox and its worker live
//!   in the server crate and own retries and backoff.
//! - [`provider::console`] logs messages for development; [`provider::webhook`] POSTs them as
//!   signed JSON (Standard Webhooks) to an operator's endpoint; [`provider::smpp`] binds to a
//!   carrier's SMSC over SMPP 3.4 and passes its delivery receipts to a [`ReceiptSink`].
//!
//! A message body contains a code, so it sits in a [`Secret`](textid_core::secret::Secret)
//! and only the console provider ever writes it to a log.

pub mod catalog;
pub mod message;
pub mod provider;
pub mod receipt;
pub mod routing;
pub mod template;

pub use message::{Channel, MessageKind, OutgoingMessage};
pub use provider::console::ConsoleProvider;
pub use provider::smpp::{SmppConfig, SmppConfigError, SmppProvider};
pub use provider::webhook::{WebhookConfig, WebhookConfigError, WebhookProvider};
pub use receipt::{Receipt, ReceiptSink, ReceiptStatus};
pub use template::TemplateError;

/// A carrier of SMS and voice messages.
///
/// One call is one try: an implementation neither retries nor sleeps. The caller (the outbox
/// worker) retries [`SendError::Transient`] with backoff and gives up on
/// [`SendError::Permanent`]. [`OutgoingMessage::id`] stays the same across tries, so a
/// provider can pass it on as an idempotency key.
#[async_trait::async_trait]
pub trait Provider: Send + Sync + std::fmt::Debug {
    /// A short, stable name for logs and metrics, e.g. `"webhook"`.
    fn name(&self) -> &'static str;

    /// Whether this provider can carry [`Channel::Voice`] messages (place a call that reads
    /// the text out). The server offers voice codes only when it can: a code the provider
    /// cannot deliver must not be promised.
    fn places_calls(&self) -> bool {
        false
    }

    /// Hands `message` to the carrier once.
    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError>;
}

/// A message the carrier accepted.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Delivery {
    /// The carrier's own id for the message, when it gave one.
    pub provider_message_id: Option<String>,
    /// The provider that accepted it, when the one called chose among several (the
    /// [`routing::Router`]); `None`: the provider called.
    pub provider: Option<&'static str>,
}

/// Why a message was not handed over. The text never contains the message body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SendError {
    /// The carrier refused the message and will refuse it again: do not retry.
    #[error("permanent delivery failure: {0}")]
    Permanent(String),
    /// The carrier could not be reached or asked to come back later: retry with backoff.
    #[error("transient delivery failure: {0}")]
    Transient(String),
}

impl SendError {
    /// A stable, machine-readable code for logs and the outbox record.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Permanent(_) => "sendPermanent",
            Self::Transient(_) => "sendTransient",
        }
    }

    /// Whether the outbox should try this message again.
    pub fn is_transient(&self) -> bool {
        matches!(self, Self::Transient(_))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn send_error_codes_are_pinned() {
        assert_eq!(SendError::Permanent("x".into()).code(), "sendPermanent");
        assert_eq!(SendError::Transient("x".into()).code(), "sendTransient");
    }

    #[test]
    fn only_transient_errors_are_retried() {
        assert!(SendError::Transient("x".into()).is_transient());
        assert!(!SendError::Permanent("x".into()).is_transient());
    }
}
