//! The SMPP 3.4 provider: textid as an ESME bound as transceiver to a carrier's SMSC
//! (issue #18).
//!
//! One background task owns the TCP connection (`session.rs`); [`SmppProvider::send`] hands it
//! a `submit_sm` and waits for the matching `submit_sm_resp`:
//!
//! ```text
//!   Binding ── bound ──► Bound ── link lost, unbind, enquire_link unanswered ──┐
//!    ▲ ▲   │                                        (in-flight sends: transient) │
//!    │ │   │ refused, no answer, cannot connect                                  │
//!    │ │   ▼                                                                     │
//!    │ └─ Waiting 1 s, 2 s, … 60 s ◄──────────── a second loss within a minute ──┤
//!    │    (sends fail at once, transient, with the reason)                       │
//!    └──────────────────────────────────────────── a first loss: at once ────────┘
//! ```
//!
//! While Binding, sends wait (within their response timeout) for the bind.
//!
//! - Bodies go as GSM-7 (`data_coding` 0, unpacked septets) when every character is in the
//!   GSM 03.38 alphabet, as UCS-2 (`data_coding` 8) otherwise; a body longer than one segment
//!   (160 septets / 70 UCS-2 characters; textid's templates never make one) goes in the
//!   `message_payload` TLV and the SMSC segments it. `registered_delivery` is 1 (a receipt
//!   for the final outcome, success or failure).
//! - `submit_sm_resp` decides the outcome: `ESME_ROK` is delivered with the SMSC's
//!   `message_id` (kept for the receipt); `ESME_RTHROTTLED`, `ESME_RMSGQFUL`, `ESME_RSYSERR`,
//!   `ESME_RX_T_APPN`, no answer within the response timeout and a link that is down or drops
//!   before the answer are transient; every other status (`ESME_RINVDSTADR`,
//!   `ESME_RINVSRCADR`, ...) is permanent, with the status name in the error.
//! - A refused bind (`ESME_RINVPASWD`, `ESME_RINVSYSID`, ...) is logged at `ERROR` once per
//!   attempt, and sends fail *transient* with the reason: the operator fixes the credentials,
//!   and the messages wait in the outbox meanwhile instead of being dropped.
//! - Receipts arrive as `deliver_sm` on the same connection (`report.rs`); each final one goes
//!   to the [`ReceiptSink`] before the `deliver_sm_resp`, so a receipt is acknowledged only
//!   once it has been recorded.
//!
//! No TLS: SMPP 3.4 has none, and the connection is plain TCP. Reach an SMSC that requires
//! TLS or a VPN through a local tunnel (stunnel, a VPN interface).
//!
//! Never logged: the password, message bodies, phone numbers. Logs name the outbox message id
//! and the SMSC's message id.

mod codec;
mod gsm7;
mod report;
mod session;

use std::sync::Arc;
use std::time::Duration;

use textid_core::secret::Secret;
use tokio::sync::{mpsc, oneshot};

use crate::{Channel, Delivery, OutgoingMessage, Provider, ReceiptSink, SendError};

/// The provider's name in logs, metrics and [`crate::Receipt::provider`].
const NAME: &str = "smpp";

/// The port SMSCs listen on unless told otherwise (IANA `smpp`).
pub const DEFAULT_PORT: u16 = 2775;

/// How many requests may wait for the session's window; a sender past this waits for a place
/// (within its response timeout) instead of being refused.
const QUEUE_CAPACITY: usize = 256;

/// How to reach and bind to the SMSC, and how to address messages.
#[derive(Debug, Clone)]
pub struct SmppConfig {
    /// The SMSC's host name or IP address.
    pub host: String,
    /// The SMSC's TCP port, usually [`DEFAULT_PORT`].
    pub port: u16,
    /// `system_id` of `bind_transceiver`: the account name, at most 15 ASCII characters.
    pub system_id: String,
    /// `password` of `bind_transceiver`, at most 8 ASCII characters (SMPP 3.4 §4.1.1).
    pub password: Secret<String>,
    /// `system_type` of `bind_transceiver`, at most 12 ASCII characters; usually empty.
    pub system_type: String,
    /// The sender shown on handsets: a number (digits, no `+`) or, with `source_ton` 5, an
    /// alphanumeric name of at most 11 characters.
    pub source_addr: String,
    /// Type of number of `source_addr`: 0 unknown, 1 international, 2 national, 3 network
    /// specific, 4 subscriber, 5 alphanumeric, 6 abbreviated (short code).
    pub source_ton: u8,
    /// Numbering plan of `source_addr`: 0 unknown, 1 ISDN/E.164, ...
    pub source_npi: u8,
    /// Type of number of the recipient: 1 (international) for textid's E.164 numbers, sent
    /// without the `+`.
    pub dest_ton: u8,
    /// Numbering plan of the recipient: 1 (ISDN/E.164).
    pub dest_npi: u8,
    /// How long the link may be quiet before textid sends `enquire_link`.
    pub enquire_link_interval: Duration,
    /// How long to wait for a connection, a bind, a `submit_sm_resp` or an
    /// `enquire_link_resp`.
    pub response_timeout: Duration,
    /// How many `submit_sm` may await their response at once (the SMSC's window).
    pub window: usize,
}

impl SmppConfig {
    /// A configuration with the usual defaults: international E.164 recipients (TON 1,
    /// NPI 1), a numeric international sender (TON 1, NPI 1), `enquire_link` every 30 s,
    /// 10 s response timeout, a window of 10 and no `system_type`.
    pub fn new(
        host: impl Into<String>,
        port: u16,
        system_id: impl Into<String>,
        password: Secret<String>,
        source_addr: impl Into<String>,
    ) -> Self {
        Self {
            host: host.into(),
            port,
            system_id: system_id.into(),
            password,
            system_type: String::new(),
            source_addr: source_addr.into(),
            source_ton: 1,
            source_npi: 1,
            dest_ton: 1,
            dest_npi: 1,
            enquire_link_interval: Duration::from_secs(30),
            response_timeout: Duration::from_secs(10),
            window: 10,
        }
    }

    /// Checks every field against SMPP 3.4's limits; the error names the field and what to
    /// fix, and never repeats the password.
    pub fn validate(&self) -> Result<(), SmppConfigError> {
        if self.host.trim().is_empty() {
            return Err(SmppConfigError::MissingHost);
        }
        if self.port == 0 {
            return Err(SmppConfigError::InvalidPort);
        }
        check_text("system_id", &self.system_id, 1, 15)?;
        if !fits(self.password.expose(), 0, 8) {
            return Err(SmppConfigError::InvalidPassword);
        }
        check_text("system_type", &self.system_type, 0, 12)?;
        self.check_source()?;
        for (field, value, max) in [
            ("source_ton", self.source_ton, 6),
            ("dest_ton", self.dest_ton, 6),
            ("source_npi", self.source_npi, 18),
            ("dest_npi", self.dest_npi, 18),
        ] {
            if value > max {
                return Err(SmppConfigError::InvalidNumbering { field, value, max });
            }
        }
        for (field, value) in [
            ("enquire_link_interval", self.enquire_link_interval),
            ("response_timeout", self.response_timeout),
        ] {
            if value.is_zero() {
                return Err(SmppConfigError::ZeroDuration { field });
            }
        }
        if self.window == 0 {
            return Err(SmppConfigError::ZeroWindow);
        }
        Ok(())
    }

    fn check_source(&self) -> Result<(), SmppConfigError> {
        let alphanumeric = self.source_ton == 5;
        let max = if alphanumeric { 11 } else { 20 };
        check_text("source_addr", &self.source_addr, 1, max)?;
        if !alphanumeric && !self.source_addr.bytes().all(|b| b.is_ascii_digit()) {
            return Err(SmppConfigError::NumericSourceExpected);
        }
        Ok(())
    }
}

/// Whether `value` is ASCII without NUL and `min..=max` characters long.
fn fits(value: &str, min: usize, max: usize) -> bool {
    value.is_ascii() && !value.contains('\0') && (min..=max).contains(&value.len())
}

fn check_text(
    field: &'static str,
    value: &str,
    min: usize,
    max: usize,
) -> Result<(), SmppConfigError> {
    if fits(value, min, max) {
        Ok(())
    } else {
        Err(SmppConfigError::InvalidText { field, min, max })
    }
}

/// Why an [`SmppConfig`] cannot be used. The messages never contain the password.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SmppConfigError {
    /// No host.
    #[error("SMPP host is empty: set it to the SMSC's host name or IP address")]
    MissingHost,
    /// Port 0.
    #[error("SMPP port must be between 1 and 65535 (SMSCs usually listen on 2775)")]
    InvalidPort,
    /// A text field is empty, too long or not ASCII.
    #[error("SMPP {field} must be {min} to {max} ASCII characters")]
    InvalidText {
        /// The field, e.g. `system_id`.
        field: &'static str,
        /// The fewest characters allowed.
        min: usize,
        /// The most characters SMPP 3.4 allows.
        max: usize,
    },
    /// The password is too long or not ASCII.
    #[error("SMPP password must be at most 8 ASCII characters (SMPP 3.4 bind limit)")]
    InvalidPassword,
    /// A numeric sender has something other than digits.
    #[error("SMPP source_addr must be digits only (no '+') unless source_ton is 5 (alphanumeric)")]
    NumericSourceExpected,
    /// A TON or NPI outside SMPP 3.4's table.
    #[error("SMPP {field} is {value}; it must be between 0 and {max}")]
    InvalidNumbering {
        /// The field, e.g. `dest_ton`.
        field: &'static str,
        /// The value given.
        value: u8,
        /// The largest defined value.
        max: u8,
    },
    /// A zero interval or timeout.
    #[error("SMPP {field} must be greater than zero")]
    ZeroDuration {
        /// The field, e.g. `response_timeout`.
        field: &'static str,
    },
    /// A window of zero would never send.
    #[error("SMPP window must be at least 1")]
    ZeroWindow,
    /// [`SmppProvider::new`] was called outside a Tokio runtime.
    #[error("the SMPP provider must be started inside the Tokio runtime")]
    NoRuntime,
}

impl SmppConfigError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::MissingHost => "missingSmppHost",
            Self::InvalidPort => "invalidSmppPort",
            Self::InvalidText { .. } => "invalidSmppField",
            Self::InvalidPassword => "invalidSmppPassword",
            Self::NumericSourceExpected => "invalidSmppSourceAddr",
            Self::InvalidNumbering { .. } => "invalidSmppNumbering",
            Self::ZeroDuration { .. } => "invalidSmppDuration",
            Self::ZeroWindow => "invalidSmppWindow",
            Self::NoRuntime => "smppNoRuntime",
        }
    }
}

/// Sends SMS over one SMPP transceiver bind. Dropping the provider unbinds and ends the
/// connection's task.
pub struct SmppProvider {
    requests: mpsc::Sender<session::Request>,
    response_timeout: Duration,
    endpoint: String,
}

impl std::fmt::Debug for SmppProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SmppProvider")
            .field("endpoint", &self.endpoint)
            .field("response_timeout", &self.response_timeout)
            .finish_non_exhaustive()
    }
}

impl SmppProvider {
    /// Checks `config` and starts the connection's task on the current Tokio runtime; it
    /// connects and binds at once, and final receipts go to `receipts`.
    pub fn new(
        config: SmppConfig,
        receipts: Arc<dyn ReceiptSink>,
    ) -> Result<Self, SmppConfigError> {
        config.validate()?;
        let runtime =
            tokio::runtime::Handle::try_current().map_err(|_| SmppConfigError::NoRuntime)?;
        let (requests, queue) = mpsc::channel(QUEUE_CAPACITY);
        let response_timeout = config.response_timeout;
        let endpoint = format!("{}:{}", config.host, config.port);
        runtime.spawn(session::Session::new(config, receipts, queue).run());
        Ok(Self {
            requests,
            response_timeout,
            endpoint,
        })
    }
}

#[async_trait::async_trait]
impl Provider for SmppProvider {
    fn name(&self) -> &'static str {
        NAME
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        if message.channel == Channel::Voice {
            return Err(SendError::Permanent("smpp cannot place voice calls".into()));
        }
        let destination = e164_digits(&message.to).ok_or_else(|| {
            SendError::Permanent("recipient is not an E.164 number (+ and 1 to 15 digits)".into())
        })?;
        let (reply, answer) = oneshot::channel();
        let request = session::Request {
            outbox_id: message.id.clone(),
            destination,
            body: gsm7::encode(message.body.expose()),
            reply,
        };
        let exchange = async {
            self.requests.send(request).await.map_err(|_| stopped())?;
            answer.await.map_err(|_| stopped())?
        };
        tokio::time::timeout(self.response_timeout, exchange)
            .await
            .unwrap_or_else(|_| {
                Err(SendError::Transient(format!(
                    "SMSC did not accept the message within {:?} (link down or no submit_sm_resp)",
                    self.response_timeout
                )))
            })
    }
}

fn stopped() -> SendError {
    SendError::Transient("the SMPP session has stopped".into())
}

/// `+14255550101` → `14255550101`: the digits SMPP sends with TON 1 / NPI 1.
fn e164_digits(to: &str) -> Option<String> {
    let digits = to.strip_prefix('+')?;
    let valid = (1..=15).contains(&digits.len()) && digits.bytes().all(|b| b.is_ascii_digit());
    valid.then(|| digits.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> SmppConfig {
        SmppConfig::new(
            "smsc.example.com",
            DEFAULT_PORT,
            "textid",
            Secret::new("secret08".into()),
            "14255550100",
        )
    }

    #[test]
    fn the_defaults_are_valid() {
        assert_eq!(config().validate(), Ok(()));
    }

    #[test]
    fn each_bad_field_gets_an_error_naming_it() {
        /// A change that breaks the config, the error code, the field the message names.
        type Case = (fn(&mut SmppConfig), &'static str, &'static str);
        let cases: [Case; 10] = [
            (|c| c.host = " ".into(), "missingSmppHost", "host"),
            (|c| c.port = 0, "invalidSmppPort", "port"),
            (
                |c| c.system_id = String::new(),
                "invalidSmppField",
                "system_id",
            ),
            (
                |c| c.system_id = "a".repeat(16),
                "invalidSmppField",
                "system_id",
            ),
            (
                |c| c.system_type = "é".into(),
                "invalidSmppField",
                "system_type",
            ),
            (
                |c| c.source_addr = "+14255550100".into(),
                "invalidSmppSourceAddr",
                "source_addr",
            ),
            (|c| c.dest_ton = 9, "invalidSmppNumbering", "dest_ton"),
            (
                |c| c.response_timeout = Duration::ZERO,
                "invalidSmppDuration",
                "response_timeout",
            ),
            (
                |c| c.enquire_link_interval = Duration::ZERO,
                "invalidSmppDuration",
                "enquire_link_interval",
            ),
            (|c| c.window = 0, "invalidSmppWindow", "window"),
        ];
        for (change, code, field) in cases {
            let mut c = config();
            change(&mut c);
            let err = c.validate().unwrap_err();
            assert_eq!(err.code(), code, "{err}");
            assert!(err.to_string().contains(field), "{err}");
        }
    }

    #[test]
    fn an_alphanumeric_sender_has_at_most_eleven_characters() {
        let mut c = config();
        c.source_ton = 5;
        c.source_npi = 0;
        c.source_addr = "Contoso ID".into();
        assert_eq!(c.validate(), Ok(()));
        c.source_addr = "Contoso Login".into();
        assert_eq!(c.validate().unwrap_err().code(), "invalidSmppField");
    }

    #[test]
    fn a_long_password_is_refused_without_repeating_it() {
        let mut c = config();
        c.password = Secret::new("ninechars".into());
        let err = c.validate().unwrap_err();
        assert_eq!(err.code(), "invalidSmppPassword");
        assert!(!err.to_string().contains("ninechars"));
        assert!(!format!("{c:?}").contains("secret08"));
    }

    #[test]
    fn recipients_are_sent_as_e164_digits_without_the_plus() {
        assert_eq!(e164_digits("+14255550101").as_deref(), Some("14255550101"));
        assert_eq!(e164_digits("14255550101"), None);
        assert_eq!(e164_digits("+1 425"), None);
        assert_eq!(e164_digits("+"), None);
        assert_eq!(e164_digits("+1234567890123456"), None);
    }
}
