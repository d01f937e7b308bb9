//! The router over real providers: per-country choice, failover on 5xx and timeouts, no
//! failover on a permanent error.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use textid_core::clock::ManualClock;
use textid_sms::provider::twilio::{TwilioConfig, TwilioProvider};
use textid_sms::routing::{RouteTable, Router};
use textid_sms::{Channel, Provider, WebhookConfig, WebhookProvider};

use super::twilio::{config as twilio_config, CREATED, INVALID_TO};
use super::*;

fn webhook(base: &str, timeout: Duration) -> Arc<dyn Provider> {
    let config = WebhookConfig {
        url: format!("{base}/hook"),
        secret: None,
        timeout,
    };
    Arc::new(WebhookProvider::new(config, Arc::new(ManualClock::at_epoch_2026())).unwrap())
}

fn twilio(base: &str) -> Arc<dyn Provider> {
    TwilioProvider::new(twilio_config(base)).unwrap().shared()
}

fn router(routes: &str, twilio: Arc<dyn Provider>, webhook: Arc<dyn Provider>) -> Router {
    let providers = BTreeMap::from([("twilio".into(), twilio), ("webhook".into(), webhook)]);
    Router::new(RouteTable::parse(routes).unwrap(), providers).unwrap()
}

#[tokio::test]
async fn each_country_goes_to_its_route_and_the_rest_to_the_default() {
    let (t_base, mut t_requests) =
        spawn_carrier(Answer::Status(StatusCode::CREATED, CREATED)).await;
    let (w_base, mut w_requests) =
        spawn_carrier(Answer::Status(StatusCode::OK, r#"{"id":"w-1"}"#)).await;
    let r = router(
        "+44=webhook,twilio; default=twilio",
        twilio(&t_base),
        webhook(&w_base, Duration::from_secs(5)),
    );

    let uk = r
        .send(&message("+447700900123", Channel::Sms))
        .await
        .unwrap();
    let us = r
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    assert_eq!(
        (uk.provider, uk.provider_message_id.as_deref()),
        (Some("webhook"), Some("w-1"))
    );
    assert_eq!(us.provider, Some("twilio"));
    assert_eq!(
        w_requests.recv().await.unwrap().json()["to"],
        "+447700900123"
    );
    assert_eq!(
        t_requests.recv().await.unwrap().form()[0],
        ("To".into(), "+14255550101".into())
    );
    assert!(w_requests.try_recv().is_err() && t_requests.try_recv().is_err());
}

#[tokio::test]
async fn a_5xx_moves_on_to_the_next_provider_in_the_same_attempt_and_is_counted() {
    let (w_base, mut w_requests) = spawn_carrier(Answer::Status(StatusCode::BAD_GATEWAY, "")).await;
    let (t_base, mut t_requests) =
        spawn_carrier(Answer::Status(StatusCode::CREATED, CREATED)).await;
    let refusals = Arc::new(Mutex::new(Vec::new()));
    let seen = refusals.clone();
    let r = router(
        "default=webhook,twilio",
        twilio(&t_base),
        webhook(&w_base, Duration::from_secs(5)),
    )
    .observed(Arc::new(move |name, e| {
        seen.lock().unwrap().push((name, e.is_transient()));
    }));

    let d = r
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    assert_eq!(d.provider, Some("twilio"));
    assert!(w_requests.recv().await.is_some() && t_requests.recv().await.is_some());
    assert_eq!(*refusals.lock().unwrap(), [("webhook", true)]);
}

#[tokio::test]
async fn a_timeout_moves_on_to_the_next_provider() {
    let (w_base, _w) = spawn_carrier(Answer::Never).await;
    let (t_base, mut t_requests) =
        spawn_carrier(Answer::Status(StatusCode::CREATED, CREATED)).await;
    let r = router(
        "default=webhook,twilio",
        twilio(&t_base),
        webhook(&w_base, Duration::from_millis(200)),
    );

    let d = r
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    assert_eq!(d.provider, Some("twilio"));
    assert!(t_requests.recv().await.is_some());
}

#[tokio::test]
async fn an_invalid_number_stops_without_trying_the_next_provider() {
    let (t_base, mut t_requests) =
        spawn_carrier(Answer::Status(StatusCode::BAD_REQUEST, INVALID_TO)).await;
    let (w_base, mut w_requests) = spawn_carrier(Answer::Status(StatusCode::OK, "")).await;
    let r = router(
        "default=twilio,webhook",
        twilio(&t_base),
        webhook(&w_base, Duration::from_secs(5)),
    );

    let err = r
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap_err();

    assert!(!err.is_transient(), "{err}");
    assert!(
        err.to_string()
            .starts_with("permanent delivery failure: twilio:"),
        "{err}"
    );
    assert!(t_requests.recv().await.is_some());
    assert!(w_requests.try_recv().is_err(), "the webhook was not tried");
}

#[tokio::test]
async fn when_every_provider_fails_transiently_the_attempt_is_transient() {
    let (t_base, _t) = spawn_carrier(Answer::Status(StatusCode::SERVICE_UNAVAILABLE, "")).await;
    let (w_base, _w) = spawn_carrier(Answer::Status(StatusCode::TOO_MANY_REQUESTS, "")).await;
    let r = router(
        "default=twilio,webhook",
        twilio(&t_base),
        webhook(&w_base, Duration::from_secs(5)),
    );

    let err = r
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap_err();

    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("twilio:") && text.contains("webhook:"),
        "{text}"
    );
}

#[test]
fn a_route_naming_an_unconfigured_provider_is_refused() {
    let err = Router::new(
        RouteTable::parse("default=twilio,sns").unwrap(),
        BTreeMap::new(),
    )
    .unwrap_err();
    assert_eq!(err.code(), "unknownRouteProvider");
}

#[test]
fn a_router_places_calls_when_one_of_its_providers_can() {
    let no_caller = TwilioConfig {
        from: None,
        ..twilio_config("http://127.0.0.1:9")
    };
    let texts_only = TwilioProvider::new(no_caller).unwrap().shared();
    assert!(
        !texts_only.places_calls(),
        "Twilio calls need sms_twilio_from"
    );
    let callers = twilio("http://127.0.0.1:9");
    assert!(callers.places_calls());
    let table = RouteTable::parse("default=a").unwrap();
    let alone = Router::new(table, BTreeMap::from([("a".into(), texts_only.clone())])).unwrap();
    assert!(!alone.places_calls());
    let table = RouteTable::parse("default=a,b").unwrap();
    let both = BTreeMap::from([("a".into(), texts_only), ("b".into(), callers)]);
    assert!(Router::new(table, both).unwrap().places_calls());
}
