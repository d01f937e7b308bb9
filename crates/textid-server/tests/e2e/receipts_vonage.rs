//! Vonage through the real server (issue #18): a UK number goes to the Vonage SMS API (a
//! loopback carrier that checks the form and answers Vonage's documented body), the message
//! keeps Vonage's message id, and Vonage's signed delivery receipt (form or JSON) at
//! `/sms/receipts/vonage` closes it; a missing or wrong `sig` is a 403 and changes nothing.
//! With the Messages API (an application, no API key) the code goes to `/v1/messages` and
//! the signed message status at `/sms/receipts/vonage/messages` closes it.

use std::cell::RefCell;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{StatusCode, Uri};
use hmac::{Hmac, Mac};
use textid_core::secret::Secret;
use textid_server::{AppConfig, RouteConfig, SmsProviderConfig};
use textid_sms::provider::vonage::{VonageConfig, VonageSmsApi};
use textid_sms::routing::RouteTable;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use crate::helpers::*;

const SIGNATURE_SECRET: &str = "e2e-vonage-signature-secret";
const UK: &str = "+447911123456";
const MESSAGE_ID: &str = "0A0000000123ABCD1";

thread_local! {
    /// The loopback Vonage of the test running on this thread.
    static VONAGE: RefCell<String> = const { RefCell::new(String::new()) };
}

/// One request the loopback Vonage got: path and form.
type Seen = (String, Vec<(String, String)>);
type Forms = mpsc::UnboundedReceiver<Seen>;

async fn vonage_answer(
    State(forms): State<mpsc::UnboundedSender<Seen>>,
    uri: Uri,
    body: Bytes,
) -> (StatusCode, String) {
    let form = url::form_urlencoded::parse(&body).into_owned().collect();
    forms.send((uri.path().to_owned(), form)).unwrap();
    (
        StatusCode::OK,
        format!(
            r#"{{"message-count":"1","messages":[{{"to":"447911123456","message-id":"{MESSAGE_ID}","status":"0","remaining-balance":"3.14","message-price":"0.0333","network":"23410"}}]}}"#
        ),
    )
}

async fn spawn_vonage() -> Forms {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(vonage_answer).with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    VONAGE.with(|t| *t.borrow_mut() = base);
    rx
}

/// `+44` to Vonage, everything else to the test webhook.
fn routed(c: &mut AppConfig) {
    let vonage = VonageConfig {
        sms_api: VonageSmsApi::Sms,
        api_key: "abcd1234".into(),
        api_secret: Secret::new("api-secret".into()),
        signature_secret: Some(Secret::new(SIGNATURE_SECRET.into())),
        from: "TextID".into(),
        callback: Some(format!("{PUBLIC_URL}/sms/receipts/vonage")),
        base_url: VONAGE.with(|t| t.borrow().clone()),
        application: None,
        api_base_url: VONAGE.with(|t| t.borrow().clone()),
        voice_event_url: None,
        messages_status_url: None,
        timeout: Duration::from_secs(5),
    };
    c.sms = SmsProviderConfig::Route(RouteConfig {
        table: RouteTable::parse("+44=vonage; default=webhook").unwrap(),
        providers: vec![
            ("vonage".into(), SmsProviderConfig::Vonage(vonage)),
            ("webhook".into(), c.sms.clone()),
        ],
    });
}

/// A delivery receipt as Vonage sends it, signed (SHA-256 HMAC method) by the rule of
/// Vonage's "Signing messages" guide, computed here independently of textid.
fn dlr(status: &str, err_code: &str, secret: &str) -> Vec<(String, String)> {
    let mut params: Vec<(String, String)> = [
        ("msisdn", "447911123456"),
        ("to", "TextID"),
        ("network-code", "23410"),
        ("messageId", MESSAGE_ID),
        ("price", "0.03330000"),
        ("status", status),
        ("scts", "2001011400"),
        ("err-code", err_code),
        ("api-key", "abcd1234"),
        ("message-timestamp", "2020-01-01 12:00:00"),
        ("timestamp", "1577880000"),
        ("nonce", "ec11dd3e-1e7f-4db5-9467-82b02cd223b9"),
    ]
    .iter()
    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
    .collect();
    let mut sorted = params.clone();
    sorted.sort();
    let mut data = String::new();
    for (k, v) in sorted {
        data.push_str(&format!("&{k}={}", v.replace(['&', '='], "_")));
    }
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(data.as_bytes());
    let sig: String = mac
        .finalize()
        .into_bytes()
        .iter()
        .map(|b| format!("{b:02X}"))
        .collect();
    params.push(("sig".into(), sig));
    params
}

async fn post_form(t: &TestApp, params: &[(String, String)]) -> u16 {
    t.http
        .post(format!("{}/sms/receipts/vonage", t.base))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(
            url::form_urlencoded::Serializer::new(String::new())
                .extend_pairs(params)
                .finish(),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn post_json(t: &TestApp, params: &[(String, String)]) -> u16 {
    let object: serde_json::Map<String, serde_json::Value> = params
        .iter()
        .map(|(k, v)| (k.clone(), serde_json::Value::String(v.clone())))
        .collect();
    t.http
        .post(format!("{}/sms/receipts/vonage", t.base))
        .json(&object)
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn uk_code_via_vonage(t: &mut TestApp, forms: &mut Forms) -> Vec<(String, String)> {
    t.user_with_mobile("ana@contoso.example", UK).await;
    t.start_flow(UK).await;
    assert!(t.deliver().await.is_empty(), "the webhook got nothing");
    let (path, form) = forms.recv().await.unwrap();
    assert_eq!(path, "/sms/json");
    form
}

#[tokio::test]
async fn a_uk_code_goes_to_vonage_and_its_signed_receipt_closes_the_message() {
    let mut forms = spawn_vonage().await;
    let mut t = spawn_app_with(routed).await;
    let form = uk_code_via_vonage(&mut t, &mut forms).await;
    assert!(
        form.contains(&("to".into(), "447911123456".into())),
        "{form:?}"
    );
    assert!(
        form.contains(&(
            "callback".into(),
            format!("{PUBLIC_URL}/sms/receipts/vonage")
        )),
        "{form:?}"
    );
    let m = t.messages().await.remove(0);
    assert_eq!(
        (m.provider.as_deref(), m.provider_message_id.as_deref()),
        (Some("vonage"), Some(MESSAGE_ID))
    );

    // `buffered` is no receipt.
    assert_eq!(
        post_form(&t, &dlr("buffered", "0", SIGNATURE_SECRET)).await,
        204
    );
    assert_eq!(t.messages().await[0].receipt_status, None);
    assert_eq!(
        post_json(&t, &dlr("delivered", "0", SIGNATURE_SECRET)).await,
        204
    );
    let m = t.messages().await.remove(0);
    assert_eq!(m.receipt_status.as_deref(), Some("delivered"));
}

#[tokio::test]
async fn a_failed_receipt_fails_the_message_with_vonages_error_code() {
    let mut forms = spawn_vonage().await;
    let mut t = spawn_app_with(routed).await;
    uk_code_via_vonage(&mut t, &mut forms).await;
    assert_eq!(
        post_form(&t, &dlr("failed", "6", SIGNATURE_SECRET)).await,
        204
    );
    let m = t.messages().await.remove(0);
    assert_eq!(
        (m.receipt_status.as_deref(), m.receipt_reason.as_deref()),
        (Some("failed"), Some("vonage failed, error 6"))
    );
    assert_eq!(t.sign_in_logs().await[0].event, "codeUndelivered");
}

#[tokio::test]
async fn a_missing_or_wrong_sig_is_refused_and_changes_nothing() {
    let mut forms = spawn_vonage().await;
    let mut t = spawn_app_with(routed).await;
    uk_code_via_vonage(&mut t, &mut forms).await;
    let unsigned: Vec<_> = dlr("failed", "6", SIGNATURE_SECRET)
        .into_iter()
        .filter(|(k, _)| k != "sig")
        .collect();
    let wrong_secret = dlr("failed", "6", "not-the-secret");
    let mut tampered = dlr("delivered", "0", SIGNATURE_SECRET);
    tampered.iter_mut().find(|(k, _)| k == "status").unwrap().1 = "failed".into();
    for params in [&unsigned, &wrong_secret, &tampered] {
        assert_eq!(post_form(&t, params).await, 403, "{params:?}");
        assert_eq!(post_json(&t, params).await, 403, "{params:?}");
    }
    let status = t
        .http
        .post(format!("{}/sms/receipts/vonage", t.base))
        .header("content-type", "application/json")
        .body("not json")
        .send()
        .await
        .unwrap()
        .status();
    assert_eq!(status, 403);
    assert_eq!(t.messages().await[0].receipt_status, None);
}

/// A call event as Vonage signs it: `Authorization: Bearer` an HS256 JWT with the signature
/// secret whose `payload_hash` is the body's SHA-256 (computed here independently).
fn signed_event(body: &str, secret: &str) -> String {
    use sha2::Digest as _;
    let hash: String = sha2::Sha256::digest(body.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    let token = jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &serde_json::json!({"iat": 1_577_880_000, "jti": "e2e", "payload_hash": hash, "api_key": "abcd1234"}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .unwrap();
    format!("Bearer {token}")
}

async fn post_event(t: &TestApp, body: &str, authorization: Option<String>) -> u16 {
    let mut request = t
        .http
        .post(format!("{}/sms/receipts/vonage/voice", t.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    request.send().await.unwrap().status().as_u16()
}

#[tokio::test]
async fn a_signed_call_event_is_a_receipt_and_a_badly_signed_one_is_refused() {
    let mut forms = spawn_vonage().await;
    let mut t = spawn_app_with(routed).await;
    uk_code_via_vonage(&mut t, &mut forms).await;
    // Receipts find a message by provider and carrier id: a call's uuid, here the
    // message's id, so that the event has a message to close.
    let unanswered =
        format!(r#"{{"uuid":"{MESSAGE_ID}","status":"unanswered","direction":"outbound"}}"#);
    let answered =
        format!(r#"{{"uuid":"{MESSAGE_ID}","status":"answered","direction":"outbound"}}"#);
    for authorization in [
        None,
        Some(signed_event(&unanswered, "not-the-secret")),
        Some(signed_event(&answered, SIGNATURE_SECRET)),
    ] {
        assert_eq!(post_event(&t, &unanswered, authorization).await, 403);
    }
    assert_eq!(t.messages().await[0].receipt_status, None);
    assert_eq!(
        post_event(
            &t,
            &unanswered,
            Some(signed_event(&unanswered, SIGNATURE_SECRET))
        )
        .await,
        204
    );
    let m = t.messages().await.remove(0);
    assert_eq!(
        (m.receipt_status.as_deref(), m.receipt_reason.as_deref()),
        (Some("failed"), Some("vonage call unanswered"))
    );
}

/// The Messages API's uuid of the message the loopback Vonage accepts.
const MESSAGE_UUID: &str = "aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab";

/// A loopback Vonage Messages API: records path and JSON body, answers `202` with the uuid.
async fn spawn_vonage_messages() -> mpsc::UnboundedReceiver<(String, serde_json::Value)> {
    async fn answer(
        State(seen): State<mpsc::UnboundedSender<(String, serde_json::Value)>>,
        uri: Uri,
        body: Bytes,
    ) -> (StatusCode, String) {
        let json = serde_json::from_slice(&body).unwrap_or_default();
        seen.send((uri.path().to_owned(), json)).unwrap();
        (
            StatusCode::ACCEPTED,
            format!(r#"{{"message_uuid":"{MESSAGE_UUID}"}}"#),
        )
    }
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().fallback(answer).with_state(tx);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await });
    VONAGE.with(|t| *t.borrow_mut() = base);
    rx
}

/// `+44` to Vonage's Messages API (an application, no API key), the rest to the webhook.
fn routed_messages(c: &mut AppConfig) {
    routed(c);
    let SmsProviderConfig::Route(route) = &mut c.sms else {
        unreachable!("routed configures a route")
    };
    let Some((_, SmsProviderConfig::Vonage(v))) = route.providers.first_mut() else {
        unreachable!("vonage comes first")
    };
    v.sms_api = VonageSmsApi::Messages;
    v.api_key = String::new();
    v.api_secret = Secret::new(String::new());
    v.callback = None;
    v.application = Some(
        textid_sms::provider::vonage_voice::VonageApplication::new(
            "aaaaaaaa-bbbb-cccc-dddd-0123456789ab".into(),
            &Secret::new(
                include_str!("../../../textid-sms/tests/carriers/data/vonage-test-application.key")
                    .into(),
            ),
        )
        .unwrap(),
    );
    v.messages_status_url = Some(format!("{PUBLIC_URL}/sms/receipts/vonage/messages"));
}

async fn post_status(t: &TestApp, body: &str, authorization: Option<String>) -> u16 {
    let mut request = t
        .http
        .post(format!("{}/sms/receipts/vonage/messages", t.base))
        .header("content-type", "application/json")
        .body(body.to_owned());
    if let Some(a) = authorization {
        request = request.header("authorization", a);
    }
    request.send().await.unwrap().status().as_u16()
}

/// A message status as the Messages API sends it (v1).
fn message_status(status: &str) -> String {
    let error = if status == "delivered" {
        String::new()
    } else {
        r#","error":{"type":"https://developer.vonage.com/api-errors/messages#1250","title":"Unroutable","detail":"Message was not delivered to the handset"}"#.into()
    };
    format!(
        r#"{{"message_uuid":"{MESSAGE_UUID}","to":"447911123456","from":"TextID","timestamp":"2026-01-01T00:00:05Z","status":"{status}"{error},"channel":"sms","client_ref":"x"}}"#
    )
}

#[tokio::test]
async fn a_uk_code_goes_to_the_messages_api_and_its_signed_status_closes_the_message() {
    let mut seen = spawn_vonage_messages().await;
    let mut t = spawn_app_with(routed_messages).await;
    t.user_with_mobile("ana@contoso.example", UK).await;
    t.start_flow(UK).await;
    assert!(t.deliver().await.is_empty(), "the webhook got nothing");
    let (path, body) = seen.recv().await.unwrap();
    assert_eq!(path, "/v1/messages");
    assert_eq!(body["to"], "447911123456");
    assert_eq!(
        body["webhook_url"],
        format!("{PUBLIC_URL}/sms/receipts/vonage/messages")
    );
    let m = t.messages().await.remove(0);
    assert_eq!(
        (m.provider.as_deref(), m.provider_message_id.as_deref()),
        (Some("vonage"), Some(MESSAGE_UUID))
    );

    // `submitted` is no receipt; `delivered` is.
    let submitted = message_status("submitted");
    let signed = Some(signed_event(&submitted, SIGNATURE_SECRET));
    assert_eq!(post_status(&t, &submitted, signed).await, 204);
    assert_eq!(t.messages().await[0].receipt_status, None);
    let delivered = message_status("delivered");
    let signed = Some(signed_event(&delivered, SIGNATURE_SECRET));
    assert_eq!(post_status(&t, &delivered, signed).await, 204);
    let m = t.messages().await.remove(0);
    assert_eq!(m.receipt_status.as_deref(), Some("delivered"));
}

#[tokio::test]
async fn a_badly_signed_or_tampered_message_status_is_refused_and_a_good_one_fails_the_message() {
    let mut seen = spawn_vonage_messages().await;
    let mut t = spawn_app_with(routed_messages).await;
    t.user_with_mobile("ana@contoso.example", UK).await;
    t.start_flow(UK).await;
    t.deliver().await;
    seen.recv().await.unwrap();
    let rejected = message_status("rejected");
    let delivered = message_status("delivered");
    for authorization in [
        None,
        Some("Bearer not.a.jwt".to_owned()),
        Some(signed_event(&rejected, "not-the-secret")),
        // Signed for another body: the payload hash does not match.
        Some(signed_event(&delivered, SIGNATURE_SECRET)),
    ] {
        assert_eq!(post_status(&t, &rejected, authorization).await, 403);
    }
    assert_eq!(t.messages().await[0].receipt_status, None);
    let signed = Some(signed_event(&rejected, SIGNATURE_SECRET));
    assert_eq!(post_status(&t, &rejected, signed).await, 204);
    let m = t.messages().await.remove(0);
    assert_eq!(
        (m.receipt_status.as_deref(), m.receipt_reason.as_deref()),
        (Some("failed"), Some("vonage rejected: Unroutable"))
    );
    assert_eq!(t.sign_in_logs().await[0].event, "codeUndelivered");
}
