//! SMPP through the real binary (issue #18): `textid serve` with `sms_provider = "smpp"`
//! binds to a loopback SMSC (the one of textid-sms's contract tests, which parses every field
//! byte by byte), submits the sign-in code, and records the `deliver_sm` receipts the SMSC
//! sends back on the outbox message, where `textid outbox list` shows them; an undelivered
//! code is also written to the sign-in log. A wrong password leaves the message queued and
//! says so in the server log, without the password.

use std::path::Path;
use std::time::Duration;

use serde_json::{json, Value};

use super::smsc::{deliver_sm, Bind, Connection, Smsc, DELIVER_SM, DELIVER_SM_RESP};
use super::{cli_json, post, provision, serve_env, Server};

const PASSWORD: &str = "pw-0815";
const NUMBER: &str = "+14255550101";

/// Starts `textid serve` against the SMSC on `port`, binding with `password`.
async fn serve_smpp(data: &Path, port: u16, password: &str) -> Server {
    let port = port.to_string();
    let env = [
        ("TEXTID_SMS_PROVIDER", "smpp"),
        ("TEXTID_SMS_SMPP_HOST", "127.0.0.1"),
        ("TEXTID_SMS_SMPP_PORT", &port),
        ("TEXTID_SMS_SMPP_SYSTEM_ID", "textid"),
        ("TEXTID_SMS_SMPP_PASSWORD", password),
        ("TEXTID_SMS_SMPP_SYSTEM_TYPE", "OTP"),
        ("TEXTID_SMS_SMPP_SOURCE_ADDR", "14255550100"),
        // No enquire_link interleaves with the PDUs the test steps through.
        ("TEXTID_SMS_SMPP_ENQUIRE_LINK_SECONDS", "3600"),
        // The assertions on the log need it whatever RUST_LOG the test runs under.
        ("RUST_LOG", "info"),
    ];
    serve_env(data, &env).await
}

/// Polls `textid outbox list --json` until the message of `flow` satisfies `done`, and
/// returns it. Nothing notifies the test of what the server recorded, so it asks the CLI
/// again after a short pause; the cap (about 30 s) bounds a failing test only.
async fn outbox_until(data: &Path, flow: &Value, done: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..300 {
        let listed = cli_json(data, &["outbox", "list"]);
        if let Some(message) = listed["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["flowId"] == *flow)
        {
            if done(message) {
                return message.clone();
            }
            last = message.clone();
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the outbox message of flow {flow} never got there; last seen: {last}");
}

/// The text of a GSM-7 `short_message` whose characters all share their code with ASCII
/// but `@` (septet 0x00, GSM 03.38).
fn gsm7_text(bytes: &[u8]) -> String {
    bytes
        .iter()
        .map(|&b| match b {
            0x00 => '@',
            b'\n' | 0x20..=0x7E if b != b'@' => char::from(b),
            other => panic!("byte {other:#04x} outside the ASCII part of GSM-7: {bytes:?}"),
        })
        .collect()
}

/// Starts a sign-in, takes its `submit_sm` at the SMSC, answers it with `message_id`, and
/// returns the flow and the code the text carries.
async fn sign_in_via_smsc(
    server: &Server,
    connection: &mut Connection,
    message_id: &str,
) -> (Value, String) {
    let (status, started) = post(&server.base, "", json!({"phoneNumber": NUMBER})).await;
    assert_eq!(status, 202, "{started}");
    let submit = connection.take_submit(0, message_id).await;

    assert_eq!(submit.destination, "14255550101", "E.164 without the +");
    assert_eq!((submit.dest_ton, submit.dest_npi), (1, 1));
    assert_eq!(submit.source, "14255550100");
    assert_eq!((submit.source_ton, submit.source_npi), (1, 1));
    assert_eq!(
        submit.registered_delivery, 1,
        "a final receipt is asked for"
    );
    assert_eq!(submit.data_coding, 0, "GSM-7");
    let text = gsm7_text(&submit.short_message);
    let last = text.lines().last().unwrap();
    let code = last
        .strip_prefix("@id.contoso.example #")
        .unwrap_or_else(|| panic!("last line is not origin-bound: {last:?}"));
    assert!(
        code.len() >= 6 && code.bytes().all(|b| b.is_ascii_digit()),
        "{code}"
    );
    (started["flowId"].clone(), code.to_string())
}

/// Sends a delivery receipt for `message_id` whose text ends with `outcome` (`stat:… err:…`)
/// and waits for its `deliver_sm_resp`, which textid sends only once the receipt is recorded.
async fn send_receipt(connection: &mut Connection, sequence: u32, message_id: &str, outcome: &str) {
    let text = format!(
        "id:{message_id} sub:001 dlvrd:001 submit date:2601011200 done date:2601011201 \
         {outcome} text:"
    );
    connection
        .write(
            DELIVER_SM,
            0,
            sequence,
            &deliver_sm(0x04, text.as_bytes(), &[]),
        )
        .await;
    let ack = connection.read().await;
    assert_eq!(
        (ack.command_id, ack.status, ack.sequence),
        (DELIVER_SM_RESP, 0, sequence)
    );
}

#[tokio::test]
async fn a_code_goes_out_over_smpp_and_the_smscs_receipts_reach_the_outbox_and_the_sign_in_log() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let user_id = provision(d);
    let smsc = Smsc::start().await;
    // textid binds as it starts; the SMSC answers whenever that is.
    let (server, (mut connection, bind)) =
        tokio::join!(serve_smpp(d, smsc.port(), PASSWORD), smsc.accept_with(0));
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

    let (flow, code) = sign_in_via_smsc(&server, &mut connection, "smsc-0001").await;
    let (status, session) = post(
        &server.base,
        "/verify",
        json!({"flowId": flow, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["userId"], user_id.as_str());
    // The receipt names the SMSC's id: it finds the message once textid recorded that id.
    let accepted = outbox_until(d, &flow, |m| m["status"] == "delivered").await;
    assert_eq!(accepted["provider"], "smpp");
    assert_eq!(accepted["providerMessageId"], "smsc-0001");
    assert_eq!(accepted["receiptStatus"], Value::Null);
    send_receipt(&mut connection, 7, "smsc-0001", "stat:DELIVRD err:000").await;
    let delivered = outbox_until(d, &flow, |m| !m["receiptStatus"].is_null()).await;
    assert_eq!(delivered["receiptStatus"], "delivered", "{delivered}");
    assert_eq!(delivered["receiptReason"], Value::Null);
    assert_eq!(delivered["providerMessageId"], "smsc-0001");

    let (second, _) = sign_in_via_smsc(&server, &mut connection, "smsc-0002").await;
    outbox_until(d, &second, |m| m["providerMessageId"] == "smsc-0002").await;
    send_receipt(&mut connection, 8, "smsc-0002", "stat:UNDELIV err:011").await;
    let failed = outbox_until(d, &second, |m| !m["receiptStatus"].is_null()).await;
    assert_eq!(failed["receiptStatus"], "failed", "{failed}");
    assert_eq!(failed["receiptReason"], "UNDELIV err:011");
    assert_eq!(failed["provider"], "smpp");
    let logs = cli_json(d, &["logs", "sign-ins"]);
    let undelivered: Vec<&Value> = logs["value"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["event"] == "codeUndelivered")
        .collect();
    assert_eq!(undelivered.len(), 1, "{logs}");
    assert_eq!(undelivered[0]["flowId"], second);
    assert_eq!(undelivered[0]["result"], "failure");
    assert_eq!(undelivered[0]["failureReason"], "UNDELIV err:011");
    assert_eq!(
        cli_json(d, &["outbox", "list"])["value"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["flowId"] == flow)
            .unwrap()["receiptStatus"],
        "delivered",
        "the first message keeps its own receipt"
    );
    let log = std::fs::read_to_string(d.join("server.log")).unwrap();
    assert!(!log.contains(PASSWORD), "the password reached the log");
}

#[tokio::test]
async fn a_bind_refused_for_a_wrong_password_keeps_the_code_queued_and_logs_no_password() {
    const WRONG: &str = "wrong-pw";
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    let smsc = Smsc::start().await;
    let port = smsc.port();
    // Refuses every bind, the first and each retry, with ESME_RINVPASWD.
    let (binds_tx, mut binds) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (_connection, bind) = smsc.accept_with(0x0E).await;
            if binds_tx.send(bind).is_err() {
                return;
            }
        }
    });
    let server = serve_smpp(d, port, WRONG).await;
    let bind = tokio::time::timeout(Duration::from_secs(20), binds.recv())
        .await
        .expect("textid binds as it starts")
        .unwrap();
    assert_eq!(
        (bind.system_id.as_str(), bind.password.as_str()),
        ("textid", WRONG)
    );

    let (status, started) = post(&server.base, "", json!({"phoneNumber": NUMBER})).await;
    assert_eq!(status, 202, "{started}");
    let tried = outbox_until(d, &started["flowId"], |m| {
        m["attempts"].as_u64().unwrap() >= 1
    })
    .await;
    assert_eq!(tried["status"], "queued", "{tried}");
    let error = tried["lastError"].as_str().unwrap();
    assert!(error.contains("ESME_RINVPASWD"), "{error}");
    assert!(!error.contains(WRONG), "{error}");
    // The refusal is logged before the first try fails, so it is in the file by now.
    let log = std::fs::read_to_string(d.join("server.log")).unwrap();
    assert!(log.contains("SMPP bind refused"), "{log}");
    assert!(log.contains("ESME_RINVPASWD"), "{log}");
    assert!(!log.contains(WRONG), "the password reached the log: {log}");
}
