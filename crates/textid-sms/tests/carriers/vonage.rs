//! The Vonage SMS API, the Messages API and the Voice API.

use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use textid_core::clock::ManualClock;
use textid_core::secret::Secret;
use textid_sms::provider::vonage::{VonageConfig, VonageProvider, VonageSmsApi};
use textid_sms::provider::vonage_voice::{ApplicationClaims, VonageApplication};
use textid_sms::{Channel, Delivery, Provider};

use super::*;

/// Vonage's documented answer to an accepted message.
pub(crate) const ACCEPTED: &str = r#"{"message-count":"1","messages":[{"to":"447700900123","message-id":"0A0000000123ABCD1","status":"0","remaining-balance":"3.14159265","message-price":"0.03330000","network":"12345","client-ref":"0192f0c4-7d1e-7a3b-9c2d-4e5f60718293"}]}"#;

pub(crate) fn config(base: &str) -> VonageConfig {
    VonageConfig {
        sms_api: VonageSmsApi::Sms,
        api_key: "abcd1234".into(),
        api_secret: Secret::new("api-secret".into()),
        signature_secret: Some(Secret::new("signature-secret".into())),
        from: "+447700900000".into(),
        callback: Some("https://id.example.com/sms/receipts/vonage".into()),
        base_url: base.into(),
        application: None,
        api_base_url: base.into(),
        voice_event_url: None,
        messages_status_url: None,
        timeout: Duration::from_secs(10),
    }
}

/// A throwaway RSA key made for this test (`openssl genpkey -algorithm RSA`), PKCS#8 PEM as
/// Vonage's dashboard downloads it, and its public key (PKCS#1 DER, base64).
const TEST_KEY: &str = include_str!("data/vonage-test-application.key");
const TEST_PUBLIC_DER_B64: &str = include_str!("data/vonage-test-application.pub.der.b64");
const APP_ID: &str = "aaaaaaaa-bbbb-cccc-dddd-0123456789ab";

fn provider(config: VonageConfig) -> VonageProvider {
    VonageProvider::new(config, Arc::new(ManualClock::at_epoch_2026())).unwrap()
}

fn refusal(status: &str, text: &str) -> &'static str {
    Box::leak(
        format!(
            r#"{{"message-count":"1","messages":[{{"status":"{status}","error-text":"{text}"}}]}}"#
        )
        .into_boxed_str(),
    )
}

#[tokio::test]
async fn an_sms_is_a_form_post_to_sms_json_with_key_secret_and_a_callback() {
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::OK, ACCEPTED)).await;
    let provider = provider(config(&base));

    let delivery = provider.send(&message("+447700900123", Channel::Sms)).await;

    assert_eq!(
        delivery,
        Ok(Delivery {
            provider_message_id: Some("0A0000000123ABCD1".into()),
            provider: None,
        })
    );
    let r = requests.recv().await.unwrap();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/sms/json");
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    assert!(r.headers.get("authorization").is_none());
    let expected: Vec<(String, String)> = [
        ("api_key", "abcd1234"),
        ("api_secret", "api-secret"),
        ("from", "447700900000"),
        ("to", "447700900123"),
        ("text", BODY),
        ("client-ref", "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293"),
        ("callback", "https://id.example.com/sms/receipts/vonage"),
    ]
    .iter()
    .map(|(k, v)| ((*k).into(), (*v).into()))
    .collect();
    assert_eq!(r.form(), expected);
}

#[tokio::test]
async fn a_text_outside_gsm7_goes_as_unicode_and_no_callback_without_receipts() {
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::OK, ACCEPTED)).await;
    let provider = provider(VonageConfig {
        callback: None,
        from: "textid".into(),
        ..config(&base)
    });
    let mut m = message("+447700900123", Channel::Sms);
    m.body = Secret::new("123456 a kódod.\n\n@login.example.com #123456".into());

    provider.send(&m).await.unwrap();

    let form = requests.recv().await.unwrap().form();
    assert!(
        form.contains(&("type".into(), "unicode".into())),
        "{form:?}"
    );
    assert!(form.contains(&("from".into(), "textid".into())), "{form:?}");
    assert!(!form.iter().any(|(k, _)| k == "callback"), "{form:?}");
}

#[tokio::test]
async fn refusals_of_the_number_are_permanent_and_of_the_account_transient() {
    let cases = [
        ("3", "Invalid to address", false),
        ("6", "Unroutable message - rejected", false),
        ("7", "Number barred", false),
        (
            "1",
            "Throughput Rate Exceeded - please wait [ 1 ] and retry",
            true,
        ),
        ("4", "Bad Credentials", true),
        ("5", "Internal Error", true),
        ("9", "Quota Exceeded - rejected", true),
        ("29", "Non White-listed Destination - rejected", true),
    ];
    for (status, text, transient) in cases {
        let (base, _requests) =
            spawn_carrier(Answer::Status(StatusCode::OK, refusal(status, text))).await;
        let err = provider(config(&base))
            .send(&message("+447700900123", Channel::Sms))
            .await
            .unwrap_err();
        assert_eq!(err.is_transient(), transient, "{status}: {err}");
        assert!(err.to_string().contains(text), "{err}");
        assert!(!err.to_string().contains("123456"), "{err}");
        assert!(!err.to_string().contains("api-secret"), "{err}");
    }
}

#[tokio::test]
async fn server_errors_timeouts_and_voice_without_an_application_are_transient() {
    for (status, body) in [
        (StatusCode::INTERNAL_SERVER_ERROR, ""),
        (StatusCode::TOO_MANY_REQUESTS, ""),
        (StatusCode::OK, "{}"),
    ] {
        let (base, _requests) = spawn_carrier(Answer::Status(status, body)).await;
        let err = provider(config(&base))
            .send(&message("+447700900123", Channel::Sms))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{status}: {err}");
    }
    let (base, _requests) = spawn_carrier(Answer::Never).await;
    let slow = provider(VonageConfig {
        timeout: Duration::from_millis(200),
        ..config(&base)
    });
    let err = slow
        .send(&message("+447700900123", Channel::Sms))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::OK, ACCEPTED)).await;
    let err = provider(config(&base))
        .send(&message("+447700900123", Channel::Voice))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        requests.try_recv().is_err(),
        "voice must not reach the SMS API"
    );
}

#[test]
fn a_config_without_a_key_or_sender_is_refused() {
    for c in [
        VonageConfig {
            api_key: String::new(),
            ..config("https://rest.nexmo.com")
        },
        VonageConfig {
            from: " ".into(),
            ..config("https://rest.nexmo.com")
        },
        config("ftp://rest.nexmo.com"),
    ] {
        assert!(VonageProvider::new(c, Arc::new(ManualClock::at_epoch_2026())).is_err());
    }
}

#[tokio::test]
async fn a_voice_message_is_a_call_with_an_application_jwt_and_a_talk_ncco() {
    let created = r#"{"uuid":"63f61863-4a51-4f6b-86e1-46edebcf9356","status":"started","direction":"outbound","conversation_uuid":"CON-f972836a-550f-45fa-956c-12a2ab5b7d22"}"#;
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::CREATED, created)).await;
    let application = VonageApplication::new(APP_ID.into(), &Secret::new(TEST_KEY.into())).unwrap();
    let voice = provider(VonageConfig {
        application: Some(application),
        voice_event_url: Some("https://id.example.com/sms/receipts/vonage/voice".into()),
        ..config(&base)
    });

    let delivery = voice
        .send(&message("+447700900123", Channel::Voice))
        .await
        .unwrap();

    assert_eq!(
        delivery.provider_message_id.as_deref(),
        Some("63f61863-4a51-4f6b-86e1-46edebcf9356")
    );
    let r = requests.recv().await.unwrap();
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/v1/calls"));
    let said = "1 2 3 4 5 6 is your sign-in code. It expires in 5 minutes. Do not share it.";
    assert_eq!(
        r.json(),
        serde_json::json!({
            "to": [{"type": "phone", "number": "447700900123"}],
            "from": {"type": "phone", "number": "447700900000"},
            "ncco": [{"action": "talk", "text": format!("{said} {said}")}],
            "event_url": ["https://id.example.com/sms/receipts/vonage/voice"],
        })
    );
    // The bearer is an RS256 JWT that the application's public key verifies.
    let token = r.header("authorization").strip_prefix("Bearer ").unwrap();
    use base64::Engine as _;
    let der = base64::engine::general_purpose::STANDARD
        .decode(TEST_PUBLIC_DER_B64.trim())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    let claims = jsonwebtoken::decode::<ApplicationClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_rsa_der(&der),
        &validation,
    )
    .unwrap()
    .claims;
    let iat = 1_767_225_600; // 2026-01-01T00:00:00Z, the test clock
    assert_eq!(
        claims,
        ApplicationClaims {
            application_id: APP_ID.into(),
            iat,
            exp: iat + 900,
            jti: "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293-1767225600000".into(),
        }
    );
}

#[tokio::test]
async fn a_call_refused_for_the_number_is_permanent_and_for_auth_transient() {
    let application = VonageApplication::new(APP_ID.into(), &Secret::new(TEST_KEY.into())).unwrap();
    for (status, body, transient) in [
        (
            StatusCode::BAD_REQUEST,
            r#"{"type":"https://developer.nexmo.com/api-errors#bad-request","title":"Bad Request","detail":"Invalid To number","instance":"x"}"#,
            false,
        ),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Unauthorized","detail":"You did not provide correct credentials.","instance":"x"}"#,
            true,
        ),
        (StatusCode::SERVICE_UNAVAILABLE, "", true),
    ] {
        let (base, _r) = spawn_carrier(Answer::Status(status, body)).await;
        let err = provider(VonageConfig {
            application: Some(application.clone()),
            ..config(&base)
        })
        .send(&message("+447700900123", Channel::Voice))
        .await
        .unwrap_err();
        assert_eq!(err.is_transient(), transient, "{status}: {err}");
    }
}

/// The Messages API with the test application, receipts to textid's status URL.
fn messages_config(base: &str) -> VonageConfig {
    VonageConfig {
        sms_api: VonageSmsApi::Messages,
        api_key: String::new(),
        api_secret: Secret::new(String::new()),
        application: Some(
            VonageApplication::new(APP_ID.into(), &Secret::new(TEST_KEY.into())).unwrap(),
        ),
        messages_status_url: Some("https://id.example.com/sms/receipts/vonage/messages".into()),
        ..config(base)
    }
}

/// The claims of a bearer JWT, verified with the application's public key.
fn application_claims(authorization: &str) -> ApplicationClaims {
    use base64::Engine as _;
    let token = authorization.strip_prefix("Bearer ").unwrap();
    let der = base64::engine::general_purpose::STANDARD
        .decode(TEST_PUBLIC_DER_B64.trim())
        .unwrap();
    let mut validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::RS256);
    validation.validate_exp = false;
    jsonwebtoken::decode::<ApplicationClaims>(
        token,
        &jsonwebtoken::DecodingKey::from_rsa_der(&der),
        &validation,
    )
    .unwrap()
    .claims
}

/// Vonage's documented answer to an accepted message.
const MESSAGE_ACCEPTED: &str = r#"{"message_uuid":"aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab"}"#;

#[tokio::test]
async fn with_the_messages_api_an_sms_is_json_to_v1_messages_with_the_application_jwt() {
    let (base, mut requests) =
        spawn_carrier(Answer::Status(StatusCode::ACCEPTED, MESSAGE_ACCEPTED)).await;
    let provider = provider(messages_config(&base));

    let delivery = provider.send(&message("+447700900123", Channel::Sms)).await;

    assert_eq!(
        delivery,
        Ok(Delivery {
            provider_message_id: Some("aaaaaaaa-bbbb-4ccc-8ddd-0123456789ab".into()),
            provider: None,
        })
    );
    let r = requests.recv().await.unwrap();
    assert_eq!(
        (r.method.as_str(), r.path.as_str()),
        ("POST", "/v1/messages")
    );
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(
        r.json(),
        serde_json::json!({
            "message_type": "text",
            "channel": "sms",
            "to": "447700900123",
            "from": "447700900000",
            "text": BODY,
            "client_ref": "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293",
            "webhook_url": "https://id.example.com/sms/receipts/vonage/messages",
            "webhook_version": "v1",
        })
    );
    let iat = 1_767_225_600; // 2026-01-01T00:00:00Z, the test clock
    assert_eq!(
        application_claims(r.header("authorization")),
        ApplicationClaims {
            application_id: APP_ID.into(),
            iat,
            exp: iat + 900,
            jti: "0192f0c4-7d1e-7a3b-9c2d-4e5f60718293-1767225600000".into(),
        }
    );
}

#[tokio::test]
async fn the_messages_api_takes_unicode_as_it_is_and_no_status_url_without_receipts() {
    let (base, mut requests) =
        spawn_carrier(Answer::Status(StatusCode::ACCEPTED, MESSAGE_ACCEPTED)).await;
    let provider = provider(VonageConfig {
        messages_status_url: None,
        from: "TextID".into(),
        ..messages_config(&base)
    });
    let mut m = message("+447700900123", Channel::Sms);
    let text = "123456 a kódod.\n\n@login.example.com #123456";
    m.body = Secret::new(text.into());

    provider.send(&m).await.unwrap();

    let body = requests.recv().await.unwrap().json();
    assert_eq!(body["text"], text);
    assert_eq!(body["from"], "TextID");
    let keys: Vec<&String> = body.as_object().unwrap().keys().collect();
    assert_eq!(
        keys,
        [
            "channel",
            "client_ref",
            "from",
            "message_type",
            "text",
            "to"
        ]
    );
}

#[tokio::test]
async fn messages_api_problems_are_classified_by_code_then_status() {
    let problem = |code: &str, title: &str| -> &'static str {
        Box::leak(
            format!(
                r#"{{"type":"https://developer.vonage.com/api-errors/messages#{code}","title":"{title}","detail":"The request failed due to validation errors","instance":"bf0ca0bf927b3b52e3cb03217e1a1ddf"}}"#
            )
            .into_boxed_str(),
        )
    };
    let cases = [
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            problem("1150", "Invalid params"),
            false,
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            problem("1020", "Invalid params"),
            false,
        ),
        (
            StatusCode::BAD_REQUEST,
            problem("1050", "Number barred"),
            false,
        ),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            problem("1120", "Illegal Sender Address - rejected"),
            true,
        ),
        (
            StatusCode::UNAUTHORIZED,
            r#"{"type":"https://developer.nexmo.com/api-errors#unauthorized","title":"Unauthorized","detail":"You did not provide correct credentials.","instance":"x"}"#,
            true,
        ),
        (
            StatusCode::FORBIDDEN,
            problem("1060", "Partner account barred"),
            true,
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            problem("1000", "Throttled"),
            true,
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, "", true),
        (StatusCode::SERVICE_UNAVAILABLE, "", true),
    ];
    for (status, body, transient) in cases {
        let (base, _r) = spawn_carrier(Answer::Status(status, body)).await;
        let err = provider(messages_config(&base))
            .send(&message("+447700900123", Channel::Sms))
            .await
            .unwrap_err();
        assert_eq!(err.is_transient(), transient, "{status} {body}: {err}");
        assert!(!err.to_string().contains("123456"), "{err}");
        assert!(!err.to_string().contains("PRIVATE"), "{err}");
    }
    let (base, _r) = spawn_carrier(Answer::Never).await;
    let err = provider(VonageConfig {
        timeout: Duration::from_millis(200),
        ..messages_config(&base)
    })
    .send(&message("+447700900123", Channel::Sms))
    .await
    .unwrap_err();
    assert!(
        err.is_transient() && err.to_string().contains("did not answer"),
        "{err}"
    );
}

#[test]
fn the_messages_api_needs_an_application_but_no_api_key() {
    let clock = || Arc::new(ManualClock::at_epoch_2026());
    assert!(VonageProvider::new(messages_config("https://api.nexmo.com"), clock()).is_ok());
    let err = VonageProvider::new(
        VonageConfig {
            application: None,
            ..messages_config("https://api.nexmo.com")
        },
        clock(),
    )
    .unwrap_err();
    assert!(
        err.to_string().contains("sms_vonage_application_id"),
        "{err}"
    );
}
