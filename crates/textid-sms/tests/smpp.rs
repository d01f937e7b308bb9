//! The SMPP provider against a loopback SMSC that speaks SMPP 3.4 byte for byte (STYLE:
//! provider contracts).
//!
//! The fake SMSC (`support/smsc.rs`, shared with the binary's end-to-end test) is written
//! from the spec, not with the provider's codec: it parses every field of what it receives
//! and builds its answers from raw bytes. Each test steps it by hand (accept, read one PDU,
//! answer), so the test decides when the SMSC answers and no test waits on the clock.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "helpers of a test binary, where a panic is a failed test; \
              allow-unwrap-in-tests covers only #[test] functions"
)]

use std::sync::Arc;
use std::time::Duration;

use textid_core::secret::Secret;
use textid_sms::{
    Channel, Delivery, MessageKind, OutgoingMessage, Provider, Receipt, ReceiptSink, ReceiptStatus,
    SendError, SmppConfig, SmppProvider,
};
use tokio::sync::{mpsc, Semaphore};

#[path = "support/smsc.rs"]
mod smsc;

use smsc::{
    deliver_sm, Bind, Smsc, BIND_TRANSCEIVER, DATA_SM, DELIVER_SM, DELIVER_SM_RESP, ENQUIRE_LINK,
    ENQUIRE_LINK_RESP, GENERIC_NACK, GUARD, SUBMIT_SM,
};

const BODY: &str = "123456 is your sign-in code. It expires in 5 minutes. Do not share it.\n\n\
                    @login.example.com #123456";
const PASSWORD: &str = "secret08";

/// Receipts as the provider hands them over.
#[derive(Debug)]
struct ChannelSink(mpsc::UnboundedSender<Receipt>);

#[async_trait::async_trait]
impl ReceiptSink for ChannelSink {
    async fn receipt(&self, receipt: Receipt) {
        self.0.send(receipt).unwrap();
    }
}

/// A sink that records, then holds the provider until the test opens the gate.
#[derive(Debug)]
struct GatedSink {
    receipts: mpsc::UnboundedSender<Receipt>,
    gate: Arc<Semaphore>,
}

#[async_trait::async_trait]
impl ReceiptSink for GatedSink {
    async fn receipt(&self, receipt: Receipt) {
        self.receipts.send(receipt).unwrap();
        self.gate.acquire().await.unwrap().forget();
    }
}

fn config(port: u16) -> SmppConfig {
    let mut config = SmppConfig::new(
        "127.0.0.1",
        port,
        "textid",
        Secret::new(PASSWORD.into()),
        "14255550100",
    );
    config.system_type = "OTP".into();
    // Long enough that no enquire_link interleaves unless a test asks for it.
    config.enquire_link_interval = Duration::from_secs(3600);
    config
}

fn start(config: SmppConfig) -> (SmppProvider, mpsc::UnboundedReceiver<Receipt>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let provider = SmppProvider::new(config, Arc::new(ChannelSink(tx))).unwrap();
    (provider, rx)
}

fn message(body: &str) -> OutgoingMessage {
    OutgoingMessage {
        id: "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293".into(),
        to: "+14255550101".into(),
        body: Secret::new(body.into()),
        channel: Channel::Sms,
        tenant: "default".into(),
        kind: MessageKind::SignInCode,
        locale: "en".into(),
    }
}

/// Sends `body` to +14255550101; the message lives as long as the send.
async fn send(provider: &SmppProvider, body: &str) -> Result<Delivery, SendError> {
    provider.send(&message(body)).await
}

/// `BODY` in the GSM 03.38 default alphabet: ASCII except `@`, which is septet 0x00.
fn gsm7_body() -> Vec<u8> {
    BODY.bytes()
        .map(|b| if b == b'@' { 0x00 } else { b })
        .collect()
}

#[tokio::test]
async fn bind_carries_the_account_and_a_submit_returns_the_smsc_message_id() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let (mut connection, bind) = smsc.accept_with(0).await;

    assert_eq!(
        bind,
        Bind {
            system_id: "textid".into(),
            password: PASSWORD.into(),
            system_type: "OTP".into(),
            interface_version: 0x34,
            addr_ton: 0,
            addr_npi: 0,
            address_range: String::new(),
        }
    );
    let (delivery, submit) =
        tokio::join!(send(&provider, BODY), connection.take_submit(0, "smsc-42"));

    assert_eq!(
        delivery,
        Ok(Delivery {
            provider_message_id: Some("smsc-42".into()),
            provider: None,
        })
    );
    assert_eq!(submit.service_type, "");
    assert_eq!((submit.source_ton, submit.source_npi), (1, 1));
    assert_eq!(submit.source, "14255550100");
    assert_eq!((submit.dest_ton, submit.dest_npi), (1, 1));
    assert_eq!(submit.destination, "14255550101", "E.164 without the +");
    assert_eq!(submit.esm_class, 0);
    assert_eq!((submit.protocol_id, submit.priority_flag), (0, 0));
    assert_eq!(submit.schedule_delivery_time, "");
    assert_eq!(submit.validity_period, "");
    assert_eq!(submit.registered_delivery, 1, "final receipt requested");
    assert_eq!(submit.replace_if_present, 0);
    assert_eq!(submit.data_coding, 0, "GSM-7");
    assert_eq!(submit.sm_default_msg_id, 0);
    assert_eq!(submit.short_message, gsm7_body());
    assert!(submit.tlvs.is_empty());
}

#[tokio::test]
async fn a_text_outside_gsm7_goes_as_ucs2_big_endian() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;
    let text = "Kód: 123456 — ő";

    let (delivery, submit) = tokio::join!(send(&provider, text), connection.take_submit(0, "u-1"));

    assert!(delivery.is_ok());
    assert_eq!(submit.data_coding, 8);
    let expected: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    assert_eq!(submit.short_message, expected);
}

#[tokio::test]
async fn a_body_longer_than_one_segment_goes_in_message_payload() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;
    let text = "a".repeat(161);

    let (delivery, submit) = tokio::join!(send(&provider, &text), connection.take_submit(0, "p-1"));

    assert!(delivery.is_ok());
    assert!(submit.short_message.is_empty());
    assert_eq!(submit.tlvs, [(0x0424, text.into_bytes())]);
}

#[tokio::test]
async fn a_receipt_reaches_the_sink_before_the_deliver_sm_is_acknowledged() {
    let smsc = Smsc::start().await;
    let (tx, mut receipts) = mpsc::unbounded_channel();
    let gate = Arc::new(Semaphore::new(0));
    let sink = GatedSink {
        receipts: tx,
        gate: gate.clone(),
    };
    let _provider = SmppProvider::new(config(smsc.port()), Arc::new(sink)).unwrap();
    let mut connection = smsc.accept_bound().await;

    let text = "id:smsc-42 sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 \
                stat:DELIVRD err:000 text:123456 is your";
    connection
        .write(DELIVER_SM, 0, 77, &deliver_sm(0x04, text.as_bytes(), &[]))
        .await;
    let receipt = tokio::time::timeout(GUARD, receipts.recv()).await.unwrap();
    // The sink is still recording: nothing may have been acknowledged yet (loopback TCP
    // delivers a written PDU into this socket's buffer before write returns).
    let mut probe = [0u8; 1];
    let early = connection.stream.try_read(&mut probe);
    assert!(
        matches!(&early, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "deliver_sm acknowledged before its receipt was recorded: {early:?}"
    );
    gate.add_permits(1);
    let ack = connection.read().await;

    assert_eq!(
        receipt,
        Some(Receipt {
            provider: "smpp",
            provider_message_id: "smsc-42".into(),
            status: ReceiptStatus::Delivered,
            reason: None,
        })
    );
    assert_eq!(
        (ack.command_id, ack.status, ack.sequence),
        (DELIVER_SM_RESP, 0, 77)
    );
    assert_eq!(ack.body, [0], "message_id is NULL");
}

#[tokio::test]
async fn a_failed_receipt_carries_the_tlv_id_the_status_word_and_the_error_code() {
    let smsc = Smsc::start().await;
    let (_provider, mut receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;
    let tlvs = [
        (0x001E, b"tlv-7\0".to_vec()), // receipted_message_id
        (0x0427, vec![5]),             // message_state UNDELIVERABLE
    ];
    let text = b"id:tlv-7 sub:001 dlvrd:000 submit date:2601011200 done date:2601011201 \
                 stat:UNDELIV err:0b1 text:";

    connection
        .write(DELIVER_SM, 0, 78, &deliver_sm(0x04, text, &tlvs))
        .await;
    let ack = connection.read().await;

    assert_eq!((ack.command_id, ack.sequence), (DELIVER_SM_RESP, 78));
    assert_eq!(
        receipts.try_recv().unwrap(),
        Receipt {
            provider: "smpp",
            provider_message_id: "tlv-7".into(),
            status: ReceiptStatus::Failed,
            reason: Some("UNDELIV err:0b1".into()),
        }
    );
}

#[tokio::test]
async fn a_message_from_a_handset_is_acknowledged_and_not_taken_for_a_receipt() {
    let smsc = Smsc::start().await;
    let (_provider, mut receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;

    connection
        .write(
            DELIVER_SM,
            0,
            9,
            &deliver_sm(0x00, b"id:1 stat:DELIVRD", &[]),
        )
        .await;
    let ack = connection.read().await;

    assert_eq!(
        (ack.command_id, ack.status, ack.sequence),
        (DELIVER_SM_RESP, 0, 9)
    );
    assert!(receipts.try_recv().is_err());
}

#[tokio::test]
async fn throttling_is_transient_and_an_invalid_destination_is_permanent() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;

    let (throttled, _) = tokio::join!(send(&provider, BODY), connection.take_submit(0x58, ""));
    let (invalid, _) = tokio::join!(send(&provider, BODY), connection.take_submit(0x0B, ""));
    let (queue_full, _) = tokio::join!(send(&provider, BODY), connection.take_submit(0x14, ""));

    assert_eq!(
        throttled,
        Err(SendError::Transient(
            "SMSC refused the message: ESME_RTHROTTLED (0x00000058)".into()
        ))
    );
    assert_eq!(
        invalid,
        Err(SendError::Permanent(
            "SMSC refused the message: ESME_RINVDSTADR (0x0000000B)".into()
        ))
    );
    assert!(queue_full.unwrap_err().is_transient());
}

#[tokio::test]
async fn a_link_dropped_by_the_smsc_fails_the_send_in_flight_and_the_next_send_reconnects() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let mut first = smsc.accept_bound().await;

    let (in_flight, _) = tokio::join!(send(&provider, BODY), async {
        let submit = first.read().await;
        assert_eq!(submit.command_id, SUBMIT_SM);
        drop(first);
    });
    let (mut second, bind) = smsc.accept_with(0).await;
    let (next, submit) = tokio::join!(
        send(&provider, BODY),
        second.take_submit(0, "after-reconnect")
    );

    let error = in_flight.unwrap_err();
    assert!(error.is_transient(), "{error}");
    assert!(error.to_string().contains("link was lost"), "{error}");
    assert_eq!(bind.password, PASSWORD);
    assert_eq!(
        next.unwrap().provider_message_id.as_deref(),
        Some("after-reconnect")
    );
    assert_eq!(submit.short_message, gsm7_body());
}

#[tokio::test]
async fn the_smscs_enquire_link_is_answered_with_its_sequence_number() {
    let smsc = Smsc::start().await;
    let (_provider, _receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;

    connection.write(ENQUIRE_LINK, 0, 0x1234, &[]).await;
    let answer = connection.read().await;

    assert_eq!(
        (answer.command_id, answer.status, answer.sequence),
        (ENQUIRE_LINK_RESP, 0, 0x1234)
    );
    assert!(answer.body.is_empty());
}

#[tokio::test]
async fn a_request_textid_does_not_handle_gets_generic_nack() {
    let smsc = Smsc::start().await;
    let (_provider, _receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;

    let data_sm = [&b"\0\x01\x01123\0\x01\x0114255550100\0"[..], &[0, 0, 0]].concat();
    connection.write(DATA_SM, 0, 31, &data_sm).await;
    let answer = connection.read().await;

    assert_eq!(
        (answer.command_id, answer.status, answer.sequence),
        (GENERIC_NACK, 0x03, 31),
        "ESME_RINVCMDID"
    );
}

#[tokio::test]
async fn a_quiet_link_is_probed_and_an_unanswered_probe_reconnects() {
    let smsc = Smsc::start().await;
    let mut config = config(smsc.port());
    config.enquire_link_interval = Duration::from_millis(20);
    // Also the time the unanswered probe takes to give up: long enough that a loaded machine
    // still binds and answers the first probe in time.
    config.response_timeout = Duration::from_secs(2);
    let (_provider, _receipts) = start(config);
    let mut first = smsc.accept_bound().await;

    let probe = first.read().await;
    assert_eq!((probe.command_id, probe.status), (ENQUIRE_LINK, 0));
    first.write(ENQUIRE_LINK_RESP, 0, probe.sequence, &[]).await;
    let unanswered = first.read().await;
    assert_eq!(unanswered.command_id, ENQUIRE_LINK);
    assert!(unanswered.sequence > probe.sequence);

    // No answer this time: textid gives the link up and binds again.
    let (_second, bind) = smsc.accept_with(0).await;
    assert_eq!(bind.system_id, "textid");
}

#[tokio::test]
async fn a_wrong_password_fails_sends_transient_with_a_clear_reason() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let (_connection, bind) = smsc.accept_with(0x0E).await;

    let error = provider.send(&message(BODY)).await.unwrap_err();

    assert_eq!(bind.password, PASSWORD);
    assert!(error.is_transient(), "messages wait in the outbox: {error}");
    assert_eq!(
        error.to_string(),
        "transient delivery failure: SMPP link is down: SMSC refused bind_transceiver with \
         ESME_RINVPASWD (0x0000000E): check the SMPP system_id, password and system_type"
    );
    assert!(!error.to_string().contains(PASSWORD));
}

#[tokio::test]
async fn a_bind_answered_with_generic_nack_is_not_a_bind() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let (mut connection, bind) = smsc.accept().await;
    assert_eq!(bind.command_id, BIND_TRANSCEIVER);
    connection.write(GENERIC_NACK, 0, bind.sequence, &[]).await;

    let error = send(&provider, BODY).await.unwrap_err();

    assert!(error.is_transient(), "{error}");
    assert!(
        error.to_string().contains("ESME_RUNKNOWNERR (0x000000FF)"),
        "{error}"
    );
}

#[tokio::test]
async fn an_smsc_that_cannot_be_reached_fails_sends_transient() {
    // A port held by a socket that never listens: nobody else can take it, and every
    // connection to it is refused.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind("127.0.0.1:0".parse().unwrap()).unwrap();
    let port = socket.local_addr().unwrap().port();
    let (provider, _receipts) = start(config(port));

    let error = provider.send(&message(BODY)).await.unwrap_err();

    assert!(error.is_transient(), "{error}");
    assert!(
        error
            .to_string()
            .contains("could not connect to the SMSC at 127.0.0.1:"),
        "{error}"
    );
}

#[tokio::test]
async fn voice_and_non_e164_recipients_are_refused_permanently_without_a_submit() {
    let smsc = Smsc::start().await;
    let (provider, _receipts) = start(config(smsc.port()));
    let mut connection = smsc.accept_bound().await;
    let mut voice = message(BODY);
    voice.channel = Channel::Voice;
    let mut national = message(BODY);
    national.to = "04255550101".into();

    assert_eq!(
        provider.send(&voice).await,
        Err(SendError::Permanent("smpp cannot place voice calls".into()))
    );
    let error = provider.send(&national).await.unwrap_err();
    assert!(!error.is_transient());
    assert!(!error.to_string().contains("04255550101"), "{error}");
    // Nothing reached the SMSC: the next PDU it sees is the next real submit.
    let (_, submit) = tokio::join!(send(&provider, BODY), connection.take_submit(0, "x"));
    assert_eq!(submit.destination, "14255550101");
}

#[tokio::test]
async fn an_invalid_configuration_is_refused_before_connecting() {
    let mut config = config(1);
    config.system_id = "a-system-id-too-long".into();
    let (tx, _rx) = mpsc::unbounded_channel();
    let error = SmppProvider::new(config, Arc::new(ChannelSink(tx))).unwrap_err();
    assert_eq!(error.code(), "invalidSmppField");
    assert_eq!(
        error.to_string(),
        "SMPP system_id must be 1 to 15 ASCII characters"
    );
}
