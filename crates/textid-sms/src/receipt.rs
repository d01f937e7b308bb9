//! Delivery receipts: what a carrier reports about a message after it accepted it.
//!
//! HTTP carriers call textid back (status callbacks); an SMPP carrier sends `deliver_sm` on the
//! bound connection. Either way the outcome becomes a [`Receipt`] that names the message by the
//! carrier's own id ([`crate::Delivery::provider_message_id`]) and goes to a [`ReceiptSink`],
//! which closes the outbox message, feeds the conversion watch and the metrics.

/// What the carrier finally says about a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReceiptStatus {
    /// The handset received it.
    Delivered,
    /// It will not arrive (expired, rejected, undeliverable).
    Failed,
}

impl ReceiptStatus {
    /// The pinned string form, stored with the message.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Delivered => "delivered",
            Self::Failed => "failed",
        }
    }
}

/// One delivery receipt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    /// The provider's stable name ([`crate::Provider::name`]), e.g. `"twilio"`.
    pub provider: &'static str,
    /// The carrier's id of the message, as returned when it was accepted.
    pub provider_message_id: String,
    /// The outcome.
    pub status: ReceiptStatus,
    /// The carrier's reason for a failure (its error code or status word), never the body.
    pub reason: Option<String>,
}

/// Where receipts go. The server implements it over the store; an SMPP provider is handed one
/// when it is built, since its receipts arrive on its own connection.
#[async_trait::async_trait]
pub trait ReceiptSink: Send + Sync + std::fmt::Debug {
    /// Records one receipt. A receipt for an unknown message id is ignored.
    async fn receipt(&self, receipt: Receipt);
}
