//! SNS with temporary credentials: a loopback EC2 instance metadata service (IMDSv2) and a
//! loopback ECS/EKS container credentials endpoint, each checking the exact requests the
//! AWS SDKs make; the credentials they hand out sign the `Publish` (checked by the loopback
//! SNS), are cached, and are refreshed 5 minutes before they expire, on an injected clock.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use textid_core::clock::ManualClock;
use textid_sms::provider::aws_credentials::CredentialSource;
use textid_sms::provider::sns::{SnsConfig, SnsProvider};
use textid_sms::{Channel, Provider};
use tokio::net::TcpListener;
use tokio::sync::mpsc;

use super::sns::{config, signed_by, PUBLISHED};
use super::*;

const IMDS_TOKEN: &str = "AQAEAFx1-imds-session-token==";
const CONTAINER_TOKEN: &str = "eks-pod-identity-token";
const ROLE: &str = "textid-sns";

/// The loopback metadata endpoints' state.
#[derive(Clone)]
struct Metadata {
    requests: mpsc::UnboundedSender<Recorded>,
    /// Credentials handed out so far; the n-th set is `ASIATEST{n}`, expiring at 0n:00.
    issued: Arc<AtomicUsize>,
    /// Answer 500 to everything.
    down: Arc<AtomicBool>,
}

/// The n-th credentials, in the endpoints' JSON; `imds` adds IMDS's `Code` and `Type`.
fn credentials(n: usize, imds: bool) -> String {
    let mut body = serde_json::json!({
        "AccessKeyId": format!("ASIATEST{n}"),
        "SecretAccessKey": format!("secret-{n}"),
        "Token": format!("session-token-{n}"),
        "Expiration": format!("2026-01-01T0{n}:00:00Z"),
    });
    if imds {
        body["Code"] = "Success".into();
        body["LastUpdated"] = "2026-01-01T00:00:00Z".into();
        body["Type"] = "AWS-HMAC".into();
    } else {
        body["RoleArn"] = "arn:aws:iam::123456789012:role/textid-sns".into();
    }
    body.to_string()
}

async fn metadata(
    State(m): State<Metadata>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_owned()
    };
    let path = uri.path().to_owned();
    m.requests
        .send(Recorded {
            method: method.clone(),
            path: path.clone(),
            headers: headers.clone(),
            body,
        })
        .unwrap();
    if m.down.load(Ordering::SeqCst) {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    }
    let issue = |imds: bool| credentials(m.issued.fetch_add(1, Ordering::SeqCst) + 1, imds);
    let imds_token_ok = header("x-aws-ec2-metadata-token") == IMDS_TOKEN;
    match (method.as_str(), path.as_str()) {
        ("PUT", "/latest/api/token")
            if header("x-aws-ec2-metadata-token-ttl-seconds") == "21600" =>
        {
            IMDS_TOKEN.into_response()
        }
        // IMDSv2 answers 401 to a request without a valid session token.
        ("GET", p) if p.starts_with("/latest/meta-data/") && !imds_token_ok => {
            StatusCode::UNAUTHORIZED.into_response()
        }
        ("GET", "/latest/meta-data/iam/security-credentials/") => {
            format!("{ROLE}\n").into_response()
        }
        ("GET", "/latest/meta-data/iam/security-credentials/textid-sns") => {
            issue(true).into_response()
        }
        ("GET", "/v1/credentials") if header("authorization") == CONTAINER_TOKEN => {
            issue(false).into_response()
        }
        ("GET", "/v1/credentials") => StatusCode::UNAUTHORIZED.into_response(),
        _ => StatusCode::BAD_REQUEST.into_response(),
    }
}

/// Starts the metadata endpoints on a free loopback port.
async fn spawn_metadata() -> (String, Metadata, mpsc::UnboundedReceiver<Recorded>) {
    let (tx, rx) = mpsc::unbounded_channel();
    let state = Metadata {
        requests: tx,
        issued: Arc::new(AtomicUsize::new(0)),
        down: Arc::new(AtomicBool::new(false)),
    };
    let app = axum::Router::new()
        .fallback(metadata)
        .with_state(state.clone());
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{addr}"), state, rx)
}

/// The chain as the process environment `vars` would make it.
fn chain(vars: &[(&str, &str)]) -> CredentialSource {
    let map: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    CredentialSource::from_env(&|k| map.get(k).cloned()).unwrap()
}

fn sns(sns_base: &str, credentials: CredentialSource, clock: &ManualClock) -> SnsProvider {
    SnsProvider::new(
        SnsConfig {
            credentials,
            ..config(sns_base)
        },
        Arc::new(clock.clone()),
    )
    .unwrap()
}

fn drain(rx: &mut mpsc::UnboundedReceiver<Recorded>) -> Vec<Recorded> {
    std::iter::from_fn(|| rx.try_recv().ok()).collect()
}

/// The publish was signed by the n-th credentials, with their session token.
fn assert_signed_by(r: &Recorded, sns_base: &str, n: usize) {
    let token = format!("session-token-{n}");
    assert_eq!(r.header("x-amz-security-token"), token);
    assert_eq!(
        r.header("authorization"),
        signed_by(
            sns_base.trim_start_matches("http://"),
            &r.body,
            r.header("x-amz-date"),
            &format!("ASIATEST{n}"),
            &format!("secret-{n}"),
            Some(&token),
        )
    );
}

#[tokio::test]
async fn the_instance_profile_is_read_through_imdsv2_and_signs_the_publish() {
    let (imds, _m, mut asked) = spawn_metadata().await;
    let (base, mut published) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let clock = ManualClock::at_epoch_2026();
    let source = chain(&[("AWS_EC2_METADATA_SERVICE_ENDPOINT", &imds)]);
    assert_eq!(
        source,
        CredentialSource::InstanceProfile {
            endpoint: imds.clone()
        }
    );

    sns(&base, source, &clock)
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    let asked = drain(&mut asked);
    let seen: Vec<(&str, &str)> = asked
        .iter()
        .map(|r| (r.method.as_str(), r.path.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            ("PUT", "/latest/api/token"),
            ("GET", "/latest/meta-data/iam/security-credentials/"),
            (
                "GET",
                "/latest/meta-data/iam/security-credentials/textid-sns"
            ),
        ]
    );
    assert_eq!(
        asked[0].header("x-aws-ec2-metadata-token-ttl-seconds"),
        "21600"
    );
    assert!(asked[0].headers.get("x-aws-ec2-metadata-token").is_none());
    for r in &asked[1..] {
        assert_eq!(r.header("x-aws-ec2-metadata-token"), IMDS_TOKEN);
    }
    assert_signed_by(&published.recv().await.unwrap(), &base, 1);
}

#[tokio::test]
async fn container_credentials_are_fetched_with_the_authorization_token_from_its_file() {
    let (endpoint, _m, mut asked) = spawn_metadata().await;
    let (base, mut published) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let dir = std::env::temp_dir().join(format!("textid-sms-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let token_file = dir.join("eks-pod-identity-token");
    std::fs::write(&token_file, format!("{CONTAINER_TOKEN}\n")).unwrap();
    let full_uri = format!("{endpoint}/v1/credentials");
    let clock = ManualClock::at_epoch_2026();
    let source = chain(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
        (
            "AWS_CONTAINER_AUTHORIZATION_TOKEN_FILE",
            token_file.to_str().unwrap(),
        ),
        ("AWS_EC2_METADATA_SERVICE_ENDPOINT", "http://127.0.0.1:9"),
    ]);

    sns(&base, source, &clock)
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    let asked = drain(&mut asked);
    assert_eq!(asked.len(), 1);
    assert_eq!(
        (asked[0].method.as_str(), asked[0].path.as_str()),
        ("GET", "/v1/credentials")
    );
    assert_eq!(asked[0].header("authorization"), CONTAINER_TOKEN);
    assert_signed_by(&published.recv().await.unwrap(), &base, 1);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_wrong_container_token_is_a_transient_failure_that_shows_no_secret() {
    let (endpoint, _m, _asked) = spawn_metadata().await;
    let (base, mut published) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let full_uri = format!("{endpoint}/v1/credentials");
    let source = chain(&[
        ("AWS_CONTAINER_CREDENTIALS_FULL_URI", &full_uri),
        ("AWS_CONTAINER_AUTHORIZATION_TOKEN", "not-the-token"),
    ]);

    let err = sns(&base, source, &ManualClock::at_epoch_2026())
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap_err();

    assert!(err.is_transient(), "{err}");
    let text = err.to_string();
    assert!(
        text.contains("container credentials: answered 401"),
        "{text}"
    );
    assert!(
        !text.contains("not-the-token") && !text.contains("/v1/credentials"),
        "{text}"
    );
    assert!(
        published.try_recv().is_err(),
        "nothing unsigned reaches SNS"
    );
}

#[tokio::test]
async fn temporary_credentials_are_cached_and_refreshed_five_minutes_before_expiry() {
    let (imds, m, mut asked) = spawn_metadata().await;
    let (base, mut published) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let clock = ManualClock::at_epoch_2026();
    let provider = sns(
        &base,
        CredentialSource::InstanceProfile { endpoint: imds },
        &clock,
    );
    let sms = message("+14255550101", Channel::Sms);
    let send = || provider.send(&sms);

    send().await.unwrap();
    assert_signed_by(&published.recv().await.unwrap(), &base, 1);
    assert_eq!(drain(&mut asked).len(), 3);

    // 00:54:59, the first set expires at 01:00: still used, nothing asked.
    clock.advance(chrono::Duration::seconds(54 * 60 + 59));
    send().await.unwrap();
    assert_signed_by(&published.recv().await.unwrap(), &base, 1);
    assert!(drain(&mut asked).is_empty());

    // 00:55:00: five minutes before expiry, the second set is fetched and used.
    clock.advance(chrono::Duration::seconds(1));
    send().await.unwrap();
    assert_signed_by(&published.recv().await.unwrap(), &base, 2);
    assert_eq!(drain(&mut asked).len(), 3);
    assert_eq!(m.issued.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn sends_that_find_the_cache_stale_together_fetch_once() {
    let (imds, m, _asked) = spawn_metadata().await;
    let (base, mut published) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let clock = ManualClock::at_epoch_2026();
    let provider = sns(
        &base,
        CredentialSource::InstanceProfile { endpoint: imds },
        &clock,
    );
    let m1 = message("+14255550101", Channel::Sms);

    let sends: Vec<_> = (0..8).map(|_| provider.send(&m1)).collect();
    for outcome in futures_join_all(sends).await {
        outcome.unwrap();
    }

    assert_eq!(m.issued.load(Ordering::SeqCst), 1);
    for _ in 0..8 {
        assert_signed_by(&published.recv().await.unwrap(), &base, 1);
    }
}

#[tokio::test]
async fn a_failed_refresh_keeps_the_old_credentials_until_they_expire() {
    let (imds, m, _asked) = spawn_metadata().await;
    let (base, mut published) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let clock = ManualClock::at_epoch_2026();
    let provider = sns(
        &base,
        CredentialSource::InstanceProfile { endpoint: imds },
        &clock,
    );
    let sms = message("+14255550101", Channel::Sms);
    let send = || provider.send(&sms);
    send().await.unwrap();
    published.recv().await.unwrap();

    m.down.store(true, Ordering::SeqCst);
    clock.advance(chrono::Duration::minutes(57));
    send().await.unwrap();
    assert_signed_by(&published.recv().await.unwrap(), &base, 1);

    clock.advance(chrono::Duration::minutes(3));
    let err = send().await.unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(
        err.to_string()
            .contains("instance profile (IMDSv2): answered 500"),
        "{err}"
    );
}

/// Runs the futures concurrently on this task and collects their outputs in order.
async fn futures_join_all<F: std::future::Future>(futures: Vec<F>) -> Vec<F::Output> {
    let mut set = Vec::new();
    for f in futures {
        set.push(Box::pin(f));
    }
    let mut outputs: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
    std::future::poll_fn(|cx| {
        let mut pending = false;
        for (i, f) in set.iter_mut().enumerate() {
            if outputs[i].is_none() {
                match f.as_mut().poll(cx) {
                    std::task::Poll::Ready(v) => outputs[i] = Some(v),
                    std::task::Poll::Pending => pending = true,
                }
            }
        }
        if pending {
            std::task::Poll::Pending
        } else {
            std::task::Poll::Ready(())
        }
    })
    .await;
    outputs.into_iter().map(Option::unwrap).collect()
}
