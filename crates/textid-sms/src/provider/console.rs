//! The development provider: writes each message, code included, to the server log so an
//! operator can sign in without a carrier (DESIGN.md §5: "a development SMS outbox, codes
//! visible to the operator").
//!
//! This is the one place in textid that logs a message body. It is meant for development and
//! demos; production configurations choose a real carrier.

use crate::{Delivery, OutgoingMessage, Provider, SendError};

/// The tracing target the console provider logs under.
pub const LOG_TARGET: &str = "textid::sms";

/// Logs every message at `INFO` under [`LOG_TARGET`] and reports it delivered.
#[derive(Debug, Default, Clone, Copy)]
pub struct ConsoleProvider;

#[async_trait::async_trait]
impl Provider for ConsoleProvider {
    fn name(&self) -> &'static str {
        "console"
    }

    /// In development a "call" is a log line like a text.
    fn places_calls(&self) -> bool {
        true
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        tracing::info!(
            target: LOG_TARGET,
            id = %message.id,
            to = %message.to,
            channel = %message.channel.as_str(),
            tenant = %message.tenant,
            kind = %message.kind.as_str(),
            locale = %message.locale,
            // Deliberate: showing the code to the operator is this provider's whole job.
            body = %message.body.expose(),
            "SMS (console provider, not sent)"
        );
        Ok(Delivery::default())
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use textid_core::secret::Secret;

    use super::*;
    use crate::{Channel, MessageKind};

    /// Collects everything the fmt subscriber writes.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[tokio::test]
    async fn the_log_line_shows_recipient_kind_and_the_whole_body_with_its_code() {
        let captured = Captured::default();
        let writer = captured.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        let message = OutgoingMessage {
            id: "0192f0c4-0000-7000-8000-000000000001".into(),
            to: "+14255550101".into(),
            body: Secret::new("987654 is your sign-in code.\n\n@login.example.com #987654".into()),
            channel: Channel::Sms,
            tenant: "default".into(),
            kind: MessageKind::SignInCode,
            locale: "en".into(),
        };

        let delivery = {
            let _guard = tracing::subscriber::set_default(subscriber);
            ConsoleProvider.send(&message).await
        };

        assert_eq!(delivery, Ok(Delivery::default()));
        let log = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        assert!(log.contains("INFO textid::sms:"), "{log}");
        assert!(log.contains("to=+14255550101"), "{log}");
        assert!(log.contains("kind=signInCode"), "{log}");
        assert!(log.contains("#987654"), "{log}");
        assert!(log.contains("987654 is your sign-in code."), "{log}");
    }
}
