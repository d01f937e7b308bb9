//! The webhook provider against a real HTTP receiver on loopback (STYLE: provider contracts).
//!
//! The receiver records every request it gets and answers what the test tells it to, so each
//! test asserts the exact request on the wire and the classification of the answer.
#![allow(
    clippy::unwrap_used,
    reason = "helpers of a test binary, where a panic is a failed test; \
              allow-unwrap-in-tests covers only #[test] functions"
)]

use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine as _;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use textid_core::clock::{Clock, ManualClock};
use textid_core::secret::Secret;
use textid_sms::{
    Channel, Delivery, MessageKind, OutgoingMessage, Provider, SendError, WebhookConfig,
    WebhookProvider,
};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// 2026-01-01T00:00:00Z, the time of `ManualClock::at_epoch_2026`.
const EPOCH_2026: i64 = 1_767_225_600;
const MESSAGE_ID: &str = "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293";
const BODY: &str = "123456 is your sign-in code. It expires in 5 minutes. Do not share it.\n\n\
                    @login.example.com #123456";

/// One request as the receiver saw it.
#[derive(Debug)]
struct Recorded {
    method: Method,
    path: String,
    headers: HeaderMap,
    body: Bytes,
}

impl Recorded {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .unwrap_or_else(|| panic!("no {name} header"))
            .to_str()
            .unwrap()
    }
}

/// What the receiver answers.
#[derive(Clone)]
enum Answer {
    Status(StatusCode, &'static str),
    /// Keep the request open and never answer.
    Never,
}

#[derive(Clone)]
struct Receiver {
    answer: Answer,
    requests: mpsc::UnboundedSender<Recorded>,
}

async fn record(
    State(receiver): State<Receiver>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let recorded = Recorded {
        method,
        path: uri.path().to_owned(),
        headers,
        body,
    };
    receiver.requests.send(recorded).unwrap();
    match receiver.answer {
        Answer::Status(status, body) => (status, body).into_response(),
        Answer::Never => std::future::pending().await,
    }
}

/// Starts a receiver on a free loopback port; returns its `/sms/hook` URL and the requests.
async fn spawn_receiver(answer: Answer) -> (String, mpsc::UnboundedReceiver<Recorded>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(record).with_state(Receiver {
        answer,
        requests: tx,
    });
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}/sms/hook"), rx)
}

fn message() -> OutgoingMessage {
    OutgoingMessage {
        id: MESSAGE_ID.into(),
        to: "+14255550101".into(),
        body: Secret::new(BODY.into()),
        channel: Channel::Sms,
        tenant: "default".into(),
        kind: MessageKind::SignInCode,
        locale: "en".into(),
    }
}

fn provider(url: &str, secret: Option<&str>, clock: ManualClock) -> WebhookProvider {
    provider_with_timeout(url, secret, clock, Duration::from_secs(10))
}

fn provider_with_timeout(
    url: &str,
    secret: Option<&str>,
    clock: ManualClock,
    timeout: Duration,
) -> WebhookProvider {
    let config = WebhookConfig {
        url: url.into(),
        secret: secret.map(|s| Secret::new(s.to_owned())),
        timeout,
    };
    WebhookProvider::new(config, Arc::new(clock)).unwrap()
}

/// Standard Webhooks, computed here independently of the provider.
fn expected_signature(key: &[u8], id: &str, timestamp: &str, body: &[u8]) -> String {
    let mut signed = format!("{id}.{timestamp}.").into_bytes();
    signed.extend_from_slice(body);
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(&signed);
    format!("v1,{}", BASE64.encode(mac.finalize().into_bytes()))
}

async fn send_once(answer: Answer) -> Result<Delivery, SendError> {
    let (url, mut requests) = spawn_receiver(answer).await;
    let result = provider(&url, None, ManualClock::at_epoch_2026())
        .send(&message())
        .await;
    // The request did reach the receiver: the classification is about its answer.
    assert_eq!(requests.recv().await.unwrap().method, Method::POST);
    result
}

#[tokio::test]
async fn the_request_is_a_json_post_with_exactly_the_seven_documented_keys() {
    let (url, mut requests) = spawn_receiver(Answer::Status(StatusCode::OK, "")).await;
    let clock = ManualClock::at_epoch_2026();

    let delivery = provider(&url, None, clock).send(&message()).await;

    assert_eq!(delivery, Ok(Delivery::default()));
    let request = requests.recv().await.unwrap();
    assert_eq!(request.method, Method::POST);
    assert_eq!(request.path, "/sms/hook");
    assert_eq!(request.header("content-type"), "application/json");
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "id": MESSAGE_ID,
            "to": "+14255550101",
            "body": BODY,
            "channel": "sms",
            "tenant": "default",
            "kind": "signInCode",
            "locale": "en",
        })
    );
    assert!(requests.try_recv().is_err(), "one try sends one request");
}

#[tokio::test]
async fn webhook_id_is_the_json_id_and_the_timestamp_comes_from_the_clock_even_unsigned() {
    let (url, mut requests) = spawn_receiver(Answer::Status(StatusCode::OK, "")).await;
    let clock = ManualClock::at_epoch_2026();

    provider(&url, None, clock.clone())
        .send(&message())
        .await
        .unwrap();

    let request = requests.recv().await.unwrap();
    let json: serde_json::Value = serde_json::from_slice(&request.body).unwrap();
    assert_eq!(request.header("webhook-id"), json["id"].as_str().unwrap());
    assert_eq!(request.header("webhook-id"), MESSAGE_ID);
    assert_eq!(request.header("webhook-timestamp"), EPOCH_2026.to_string());
    assert_eq!(clock.now().timestamp(), EPOCH_2026);
    assert!(request.headers.get("webhook-signature").is_none());
}

#[tokio::test]
async fn a_whsec_secret_signs_with_its_base64_decoded_key() {
    let key = b"an example key of thirty-two by!";
    let secret = format!("whsec_{}", BASE64.encode(key));
    let (url, mut requests) = spawn_receiver(Answer::Status(StatusCode::OK, "")).await;

    provider(&url, Some(&secret), ManualClock::at_epoch_2026())
        .send(&message())
        .await
        .unwrap();

    let request = requests.recv().await.unwrap();
    let expected = expected_signature(key, MESSAGE_ID, "1767225600", &request.body);
    assert_eq!(request.header("webhook-signature"), expected);
    // The prefix and the base64 text are not the key.
    let wrong = expected_signature(secret.as_bytes(), MESSAGE_ID, "1767225600", &request.body);
    assert_ne!(request.header("webhook-signature"), wrong);
}

#[tokio::test]
async fn a_plain_secret_signs_with_its_utf8_bytes() {
    let secret = "correct horse battery staple";
    let (url, mut requests) = spawn_receiver(Answer::Status(StatusCode::OK, "")).await;

    provider(&url, Some(secret), ManualClock::at_epoch_2026())
        .send(&message())
        .await
        .unwrap();

    let request = requests.recv().await.unwrap();
    assert_eq!(request.header("webhook-id"), MESSAGE_ID);
    assert_eq!(request.header("webhook-timestamp"), "1767225600");
    assert_eq!(
        request.header("webhook-signature"),
        expected_signature(secret.as_bytes(), MESSAGE_ID, "1767225600", &request.body)
    );
}

#[tokio::test]
async fn a_retry_keeps_the_webhook_id_and_signs_a_fresh_timestamp() {
    let secret = "correct horse battery staple";
    let (url, mut requests) =
        spawn_receiver(Answer::Status(StatusCode::SERVICE_UNAVAILABLE, "")).await;
    let clock = ManualClock::at_epoch_2026();
    let provider = provider(&url, Some(secret), clock.clone());

    let first = provider.send(&message()).await;
    clock.advance(chrono::Duration::seconds(30));
    let second = provider.send(&message()).await;

    assert!(matches!(first, Err(SendError::Transient(_))));
    assert!(matches!(second, Err(SendError::Transient(_))));
    let (a, b) = (
        requests.recv().await.unwrap(),
        requests.recv().await.unwrap(),
    );
    assert_eq!(a.header("webhook-id"), MESSAGE_ID);
    assert_eq!(b.header("webhook-id"), MESSAGE_ID);
    assert_eq!(a.header("webhook-timestamp"), "1767225600");
    assert_eq!(b.header("webhook-timestamp"), "1767225630");
    assert_eq!(a.body, b.body);
    assert_eq!(
        b.header("webhook-signature"),
        expected_signature(secret.as_bytes(), MESSAGE_ID, "1767225630", &b.body)
    );
}

#[tokio::test]
async fn a_2xx_answer_is_delivered_and_keeps_the_carriers_id() {
    let cases = [
        (StatusCode::OK, r#"{"id":"SM123"}"#, Some("SM123")),
        (
            StatusCode::ACCEPTED,
            r#"{"messageId":"abc-7"}"#,
            Some("abc-7"),
        ),
        (StatusCode::CREATED, r#"{"other":"x"}"#, None),
        (StatusCode::OK, "queued", None),
        (StatusCode::NO_CONTENT, "", None),
    ];
    for (status, body, id) in cases {
        let delivery = send_once(Answer::Status(status, body)).await;
        assert_eq!(
            delivery,
            Ok(Delivery {
                provider_message_id: id.map(str::to_owned),
                provider: None,
            }),
            "{status} {body}"
        );
    }
}

#[tokio::test]
async fn a_400_answer_is_permanent_and_names_the_status() {
    let result = send_once(Answer::Status(StatusCode::BAD_REQUEST, "bad number")).await;
    match result {
        Err(SendError::Permanent(reason)) => assert!(reason.contains("400"), "{reason}"),
        other => panic!("expected a permanent error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_503_answer_is_transient() {
    let result = send_once(Answer::Status(StatusCode::SERVICE_UNAVAILABLE, "")).await;
    match result {
        Err(SendError::Transient(reason)) => assert!(reason.contains("503"), "{reason}"),
        other => panic!("expected a transient error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_429_answer_is_transient() {
    let result = send_once(Answer::Status(StatusCode::TOO_MANY_REQUESTS, "")).await;
    assert!(matches!(result, Err(SendError::Transient(_))), "{result:?}");
}

#[tokio::test]
async fn a_408_answer_is_transient() {
    let result = send_once(Answer::Status(StatusCode::REQUEST_TIMEOUT, "")).await;
    assert!(matches!(result, Err(SendError::Transient(_))), "{result:?}");
}

#[tokio::test]
async fn a_closed_port_is_transient() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);

    let result = provider(
        &format!("http://{addr}/sms/hook"),
        Some("secret"),
        ManualClock::at_epoch_2026(),
    )
    .send(&message())
    .await;

    match result {
        Err(SendError::Transient(reason)) => {
            assert!(reason.contains("connect"), "{reason}");
            assert!(!reason.contains("123456"), "the code leaked: {reason}");
        }
        other => panic!("expected a transient error, got {other:?}"),
    }
}

#[tokio::test]
async fn a_receiver_that_never_answers_is_transient_after_the_timeout() {
    let (url, mut requests) = spawn_receiver(Answer::Never).await;
    let provider = provider_with_timeout(
        &url,
        None,
        ManualClock::at_epoch_2026(),
        Duration::from_millis(200),
    );

    let result = provider.send(&message()).await;

    match result {
        Err(SendError::Transient(reason)) => assert!(reason.contains("200ms"), "{reason}"),
        other => panic!("expected a transient error, got {other:?}"),
    }
    assert_eq!(requests.recv().await.unwrap().path, "/sms/hook");
}
