//! Twilio Programmable Messaging and Calls.

use std::time::Duration;

use axum::http::{Method, StatusCode};
use textid_core::secret::Secret;
use textid_sms::provider::twilio::{TwilioConfig, TwilioProvider};
use textid_sms::{Channel, Delivery, Provider};

use super::*;

pub(crate) const SID: &str = "AC00000000000000000000000000000001";
const TOKEN: &str = "twilio-auth-token";
/// Twilio's documented 201 answer to a message create (abridged).
pub(crate) const CREATED: &str = r#"{"account_sid":"AC00000000000000000000000000000001","api_version":"2010-04-01","body":"x","date_created":"Thu, 24 Aug 2023 05:01:45 +0000","direction":"outbound-api","error_code":null,"error_message":null,"from":null,"messaging_service_sid":"MG00000000000000000000000000000001","num_segments":"0","price":null,"sid":"SM00000000000000000000000000000001","status":"accepted","to":"+14255550101","uri":"/2010-04-01/Accounts/AC00000000000000000000000000000001/Messages/SM00000000000000000000000000000001.json"}"#;
/// Twilio's documented error body for an invalid 'To' number.
pub(crate) const INVALID_TO: &str = r#"{"code":21211,"message":"Invalid 'To' Phone Number: +1425555XXXX","more_info":"https://www.twilio.com/docs/errors/21211","status":400}"#;

pub(crate) fn config(base: &str) -> TwilioConfig {
    TwilioConfig {
        account_sid: SID.into(),
        auth_token: Secret::new(TOKEN.into()),
        api_key: None,
        messaging_service_sid: Some("MG00000000000000000000000000000001".into()),
        from: Some("+15005550006".into()),
        status_callback: Some("https://id.example.com/sms/receipts/twilio".into()),
        base_url: base.into(),
        timeout: Duration::from_secs(10),
    }
}

#[tokio::test]
async fn an_sms_is_a_form_post_to_messages_json_with_basic_auth_and_a_status_callback() {
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::CREATED, CREATED)).await;
    let provider = TwilioProvider::new(config(&base)).unwrap();

    let delivery = provider.send(&message("+14255550101", Channel::Sms)).await;

    assert_eq!(
        delivery,
        Ok(Delivery {
            provider_message_id: Some("SM00000000000000000000000000000001".into()),
            provider: None,
        })
    );
    let r = requests.recv().await.unwrap();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Messages.json"));
    assert_eq!(r.header("authorization"), basic(SID, TOKEN));
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded"
    );
    let expected: Vec<(String, String)> = [
        ("To", "+14255550101"),
        ("Body", BODY),
        ("MessagingServiceSid", "MG00000000000000000000000000000001"),
        (
            "StatusCallback",
            "https://id.example.com/sms/receipts/twilio",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).into(), (*v).into()))
    .collect();
    assert_eq!(r.form(), expected);
}

#[tokio::test]
async fn an_api_key_authenticates_instead_and_from_is_used_without_a_messaging_service() {
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::CREATED, CREATED)).await;
    let provider = TwilioProvider::new(TwilioConfig {
        api_key: Some(("SK0001".into(), Secret::new("key-secret".into()))),
        messaging_service_sid: None,
        status_callback: None,
        ..config(&base)
    })
    .unwrap();

    provider
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    let r = requests.recv().await.unwrap();
    assert_eq!(r.header("authorization"), basic("SK0001", "key-secret"));
    let form = r.form();
    assert!(
        form.contains(&("From".into(), "+15005550006".into())),
        "{form:?}"
    );
    assert!(!form
        .iter()
        .any(|(k, _)| k == "StatusCallback" || k == "MessagingServiceSid"));
}

#[tokio::test]
async fn a_voice_message_is_a_call_that_says_the_spaced_code_twice() {
    let created = r#"{"sid":"CA00000000000000000000000000000001","status":"queued"}"#;
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::CREATED, created)).await;
    let provider = TwilioProvider::new(config(&base)).unwrap();

    let delivery = provider
        .send(&message("+14255550101", Channel::Voice))
        .await
        .unwrap();

    assert_eq!(
        delivery.provider_message_id.as_deref(),
        Some("CA00000000000000000000000000000001")
    );
    let r = requests.recv().await.unwrap();
    assert_eq!(r.path, format!("/2010-04-01/Accounts/{SID}/Calls.json"));
    let said = "1 2 3 4 5 6 is your sign-in code. It expires in 5 minutes. Do not share it.";
    let twiml =
        format!("<Response><Say>{said}</Say><Pause length=\"1\"/><Say>{said}</Say></Response>");
    let expected: Vec<(String, String)> = [
        ("To", "+14255550101"),
        ("From", "+15005550006"),
        ("Twiml", twiml.as_str()),
        (
            "StatusCallback",
            "https://id.example.com/sms/receipts/twilio",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).into(), (*v).into()))
    .collect();
    assert_eq!(r.form(), expected);
}

#[tokio::test]
async fn an_invalid_number_is_permanent_and_names_twilios_code() {
    let (base, _requests) =
        spawn_carrier(Answer::Status(StatusCode::BAD_REQUEST, INVALID_TO)).await;
    let err = TwilioProvider::new(config(&base))
        .unwrap()
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("21211"), "{err}");
    assert!(!err.to_string().contains("123456"), "{err}");
}

#[tokio::test]
async fn auth_geo_permission_throttling_and_server_errors_are_transient() {
    let cases = [
        (
            StatusCode::UNAUTHORIZED,
            r#"{"code":20003,"message":"Authenticate","more_info":"https://www.twilio.com/docs/errors/20003","status":401}"#,
        ),
        (
            StatusCode::BAD_REQUEST,
            r#"{"code":21408,"message":"Permission to send an SMS has not been enabled for the region indicated by the 'To' number","status":400}"#,
        ),
        (
            StatusCode::TOO_MANY_REQUESTS,
            r#"{"code":20429,"message":"Too Many Requests","status":429}"#,
        ),
        (StatusCode::INTERNAL_SERVER_ERROR, ""),
        (StatusCode::SERVICE_UNAVAILABLE, "<html>busy</html>"),
    ];
    for (status, body) in cases {
        let (base, _requests) = spawn_carrier(Answer::Status(status, body)).await;
        let err = TwilioProvider::new(config(&base))
            .unwrap()
            .send(&message("+14255550101", Channel::Sms))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{status}: {err}");
    }
}

#[tokio::test]
async fn a_carrier_that_does_not_answer_in_time_is_transient() {
    let (base, _requests) = spawn_carrier(Answer::Never).await;
    let err = TwilioProvider::new(TwilioConfig {
        timeout: Duration::from_millis(200),
        ..config(&base)
    })
    .unwrap()
    .send(&message("+14255550101", Channel::Sms))
    .await
    .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("did not answer"), "{err}");
}

#[test]
fn a_config_without_a_sender_or_with_a_wrong_sid_is_refused() {
    let no_sender = TwilioConfig {
        messaging_service_sid: None,
        from: None,
        ..config("https://api.twilio.com")
    };
    assert!(TwilioProvider::new(no_sender).is_err());
    let wrong = TwilioConfig {
        account_sid: "SK1".into(),
        ..config("https://api.twilio.com")
    };
    assert!(TwilioProvider::new(wrong).is_err());
}
