//! Amazon SNS `Publish`: against a loopback server that recomputes the SigV4 signature
//! here, and against `moto` (an independent SNS implementation that checks the signature
//! with botocore's signer when its IAM authentication is on).

use std::io::BufRead as _;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{Method, StatusCode};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use textid_core::clock::{ManualClock, SystemClock};
use textid_core::secret::Secret;
use textid_sms::provider::aws_credentials::{CredentialSource, Credentials};
use textid_sms::provider::sns::{SnsConfig, SnsProvider};
use textid_sms::{Channel, Delivery, Provider};

use super::*;

/// SNS's documented answer to `Publish`.
pub(crate) const PUBLISHED: &str = r#"<PublishResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><PublishResult><MessageId>567910cd-659e-55d4-8ccb-5aaf14679dc0</MessageId></PublishResult><ResponseMetadata><RequestId>d74b8436-ae13-5ab4-a9ff-ce54dfea72a0</RequestId></ResponseMetadata></PublishResponse>"#;
const INVALID_NUMBER: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidParameter</Code><Message>Invalid parameter: PhoneNumber Reason: +1425555 is not valid to publish to</Message></Error><RequestId>0a1b2c3d</RequestId></ErrorResponse>"#;
const THROTTLED: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>Throttling</Code><Message>Rate exceeded</Message></Error><RequestId>0a1b2c3d</RequestId></ErrorResponse>"#;
const BAD_KEY: &str = r#"<ErrorResponse xmlns="http://sns.amazonaws.com/doc/2010-03-31/"><Error><Type>Sender</Type><Code>InvalidClientTokenId</Code><Message>The security token included in the request is invalid.</Message></Error><RequestId>0a1b2c3d</RequestId></ErrorResponse>"#;

const KEY_ID: &str = "AKIAIOSFODNN7EXAMPLE";
const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";

pub(crate) fn fixed(key_id: &str, secret: &str, token: Option<&str>) -> CredentialSource {
    CredentialSource::Fixed(Credentials::fixed(
        key_id.into(),
        Secret::new(secret.into()),
        token.map(|t| Secret::new(t.into())),
    ))
}

pub(crate) fn config(endpoint: &str) -> SnsConfig {
    SnsConfig {
        region: "eu-west-1".into(),
        credentials: fixed(KEY_ID, SECRET, None),
        endpoint: Some(endpoint.into()),
        sender_id: Some("TextID".into()),
        origination_number: Some("+447700900000".into()),
        timeout: Duration::from_secs(10),
    }
}

fn provider(endpoint: &str) -> SnsProvider {
    SnsProvider::new(config(endpoint), Arc::new(ManualClock::at_epoch_2026())).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hmac(key: &[u8], data: &str) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(data.as_bytes());
    mac.finalize().into_bytes().to_vec()
}

/// The Authorization header for this POST, by the steps of AWS's "Create a signed AWS API
/// request", written out here independently of textid.
fn expected_authorization(host: &str, body: &[u8]) -> String {
    signed_by(host, body, "20260101T000000Z", KEY_ID, SECRET, None)
}

/// The same with any credentials, date and session token (signed as
/// `x-amz-security-token`, the last signed header).
pub(crate) fn signed_by(
    host: &str,
    body: &[u8],
    date: &str,
    key_id: &str,
    secret: &str,
    token: Option<&str>,
) -> String {
    let (token_header, token_name) = match token {
        Some(t) => (
            format!("x-amz-security-token:{t}\n"),
            ";x-amz-security-token",
        ),
        None => (String::new(), ""),
    };
    let day = &date[..8];
    let canonical = format!(
        "POST\n/\n\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:{host}\nx-amz-date:{date}\n{token_header}\ncontent-type;host;x-amz-date{token_name}\n{}",
        hex(&Sha256::digest(body))
    );
    let scope = format!("{day}/eu-west-1/sns/aws4_request");
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{date}\n{scope}\n{}",
        hex(&Sha256::digest(canonical.as_bytes()))
    );
    let k_date = hmac(format!("AWS4{secret}").as_bytes(), day);
    let k_region = hmac(&k_date, "eu-west-1");
    let k_service = hmac(&k_region, "sns");
    let k_signing = hmac(&k_service, "aws4_request");
    format!(
        "AWS4-HMAC-SHA256 Credential={key_id}/{scope}, SignedHeaders=content-type;host;x-amz-date{token_name}, Signature={}",
        hex(&hmac(&k_signing, &to_sign))
    )
}

#[tokio::test]
async fn publish_is_a_sigv4_signed_form_with_the_sms_attributes() {
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;

    let delivery = provider(&base)
        .send(&message("+14255550101", Channel::Sms))
        .await;

    assert_eq!(
        delivery,
        Ok(Delivery {
            provider_message_id: Some("567910cd-659e-55d4-8ccb-5aaf14679dc0".into()),
            provider: None,
        })
    );
    let r = requests.recv().await.unwrap();
    assert_eq!(r.method, Method::POST);
    assert_eq!(r.path, "/");
    assert_eq!(r.header("x-amz-date"), "20260101T000000Z");
    assert_eq!(
        r.header("content-type"),
        "application/x-www-form-urlencoded; charset=utf-8"
    );
    let host = base.trim_start_matches("http://");
    assert_eq!(r.header("host"), host);
    assert_eq!(
        r.header("authorization"),
        expected_authorization(host, &r.body)
    );
    let expected: Vec<(String, String)> = [
        ("Action", "Publish"),
        ("Version", "2010-03-31"),
        ("PhoneNumber", "+14255550101"),
        ("Message", BODY),
        ("MessageAttributes.entry.1.Name", "AWS.SNS.SMS.SMSType"),
        ("MessageAttributes.entry.1.Value.DataType", "String"),
        (
            "MessageAttributes.entry.1.Value.StringValue",
            "Transactional",
        ),
        ("MessageAttributes.entry.2.Name", "AWS.SNS.SMS.SenderID"),
        ("MessageAttributes.entry.2.Value.DataType", "String"),
        ("MessageAttributes.entry.2.Value.StringValue", "TextID"),
        (
            "MessageAttributes.entry.3.Name",
            "AWS.MM.SMS.OriginationNumber",
        ),
        ("MessageAttributes.entry.3.Value.DataType", "String"),
        (
            "MessageAttributes.entry.3.Value.StringValue",
            "+447700900000",
        ),
    ]
    .iter()
    .map(|(k, v)| ((*k).into(), (*v).into()))
    .collect();
    assert_eq!(r.form(), expected);
}

#[tokio::test]
async fn temporary_keys_send_and_sign_their_session_token() {
    let (base, mut requests) = spawn_carrier(Answer::Status(StatusCode::OK, PUBLISHED)).await;
    let token = "IQoJb3JpZ2luX2VjEXAMPLE//////////wEaCWV1LXdlc3QtMSJHMEUCIQ+token/=";
    let provider = SnsProvider::new(
        SnsConfig {
            credentials: fixed("ASIAIOSFODNN7EXAMPLE", SECRET, Some(token)),
            ..config(&base)
        },
        Arc::new(ManualClock::at_epoch_2026()),
    )
    .unwrap();

    provider
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    let r = requests.recv().await.unwrap();
    assert_eq!(r.header("x-amz-security-token"), token);
    let host = base.trim_start_matches("http://");
    let authorization = r.header("authorization");
    assert!(
        authorization.contains("SignedHeaders=content-type;host;x-amz-date;x-amz-security-token,"),
        "{authorization}"
    );
    assert_eq!(
        authorization,
        signed_by(
            host,
            &r.body,
            "20260101T000000Z",
            "ASIAIOSFODNN7EXAMPLE",
            SECRET,
            Some(token)
        )
    );
}

#[tokio::test]
async fn an_invalid_number_is_permanent_and_throttling_auth_and_5xx_are_transient() {
    let (base, _r) = spawn_carrier(Answer::Status(StatusCode::BAD_REQUEST, INVALID_NUMBER)).await;
    let err = provider(&base)
        .send(&message("+1425555", Channel::Sms))
        .await
        .unwrap_err();
    assert!(!err.is_transient(), "{err}");
    assert!(err.to_string().contains("InvalidParameter"), "{err}");
    for (status, body) in [
        (StatusCode::BAD_REQUEST, THROTTLED),
        (StatusCode::FORBIDDEN, BAD_KEY),
        (StatusCode::INTERNAL_SERVER_ERROR, ""),
    ] {
        let (base, _r) = spawn_carrier(Answer::Status(status, body)).await;
        let err = provider(&base)
            .send(&message("+14255550101", Channel::Sms))
            .await
            .unwrap_err();
        assert!(err.is_transient(), "{status}: {err}");
        assert!(!err.to_string().contains("123456"), "{err}");
        assert!(!err.to_string().contains(SECRET), "{err}");
    }
    let (base, _r) = spawn_carrier(Answer::Never).await;
    let err = SnsProvider::new(
        SnsConfig {
            timeout: Duration::from_millis(200),
            ..config(&base)
        },
        Arc::new(ManualClock::at_epoch_2026()),
    )
    .unwrap()
    .send(&message("+14255550101", Channel::Sms))
    .await
    .unwrap_err();
    assert!(err.to_string().contains("did not answer"), "{err}");
}

#[test]
fn the_default_endpoint_is_the_regions_and_bad_configs_are_refused() {
    let c = SnsConfig {
        endpoint: None,
        ..config("")
    };
    assert_eq!(c.endpoint(), "https://sns.eu-west-1.amazonaws.com");
    let clock = || -> Arc<dyn textid_core::clock::Clock> { Arc::new(SystemClock) };
    assert!(SnsProvider::new(c, clock()).is_ok());
    for bad in [
        SnsConfig {
            region: "EU West".into(),
            ..config("http://127.0.0.1:9")
        },
        SnsConfig {
            credentials: fixed("", SECRET, None),
            ..config("http://127.0.0.1:9")
        },
        config("ftp://127.0.0.1:9"),
    ] {
        assert!(SnsProvider::new(bad, clock()).is_err());
    }
}

/// A `moto_server` on a free loopback port (it binds port 0 and prints the port), with
/// IAM authentication on after `no_auth` requests; killed when dropped.
struct Moto {
    child: std::process::Child,
    base: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The `moto_server` to use: `TEXTID_TEST_MOTO_SERVER`, else the one tests/sns/install.sh
/// puts into tests/sns/.venv. `None` (the test skips) only outside CI.
fn moto_server() -> Option<std::path::PathBuf> {
    let path = std::env::var_os("TEXTID_TEST_MOTO_SERVER")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../../tests/sns/.venv/bin/moto_server")
        });
    if path.exists() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").as_deref() != Ok("true"),
        "CI must run the SNS test against moto: {} is missing (tests/sns/install.sh installs it)",
        path.display()
    );
    #[allow(clippy::print_stdout, reason = "a skipped test says why")]
    {
        println!(
            "SKIPPED: moto is not installed at {} (run tests/sns/install.sh)",
            path.display()
        );
    }
    None
}

fn spawn_moto(server: &std::path::Path, no_auth: u32) -> Moto {
    let mut child = std::process::Command::new(server)
        .args(["-H", "127.0.0.1", "-p", "0"])
        .env("INITIAL_NO_AUTH_ACTION_COUNT", no_auth.to_string())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let base = loop {
        let Some(line) = lines.next() else {
            panic!("moto_server ended before it said its port");
        };
        let line = line.unwrap();
        if let Some(at) = line.find("http://127.0.0.1:") {
            break line[at..].trim().to_owned();
        }
    };
    // Keep reading its log so that a full pipe never blocks it.
    std::thread::spawn(move || lines.for_each(drop));
    Moto { child, base }
}

/// One unauthenticated IAM call (moto's first `no_auth` requests are not checked); the
/// credential scope names the service moto dispatches to.
async fn iam(http: &reqwest::Client, base: &str, form: &[(&str, &str)]) -> String {
    let response = http
        .post(format!("{base}/"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/us-east-1/iam/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(form)
        .send()
        .await
        .unwrap();
    assert!(response.status().is_success(), "{form:?}");
    response.text().await.unwrap()
}

fn element<'a>(xml: &'a str, name: &str) -> &'a str {
    let start = xml.find(&format!("<{name}>")).unwrap() + name.len() + 2;
    let end = xml[start..].find(&format!("</{name}>")).unwrap() + start;
    &xml[start..end]
}

#[tokio::test]
async fn publish_reaches_moto_which_checks_the_signature_and_records_the_sms() {
    let Some(server) = moto_server() else {
        return;
    };
    let moto = spawn_moto(&server, 3);
    let http = reqwest::Client::new();
    // An IAM user allowed to publish, and its access key: the three unchecked requests.
    iam(
        &http,
        &moto.base,
        &[("Action", "CreateUser"), ("UserName", "textid")],
    )
    .await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}"#;
    iam(
        &http,
        &moto.base,
        &[
            ("Action", "PutUserPolicy"),
            ("UserName", "textid"),
            ("PolicyName", "publish"),
            ("PolicyDocument", policy),
        ],
    )
    .await;
    let key = iam(
        &http,
        &moto.base,
        &[("Action", "CreateAccessKey"), ("UserName", "textid")],
    )
    .await;
    let sns = |secret: &str| {
        SnsProvider::new(
            SnsConfig {
                region: "eu-west-1".into(),
                credentials: fixed(element(&key, "AccessKeyId"), secret, None),
                endpoint: Some(moto.base.clone()),
                sender_id: Some("TextID".into()),
                origination_number: None,
                timeout: Duration::from_secs(10),
            },
            Arc::new(SystemClock),
        )
        .unwrap()
    };

    // A wrong secret: moto's botocore signer disagrees, and that is transient.
    let err = sns("not-the-secret")
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");
    assert!(err.to_string().contains("SignatureDoesNotMatch"), "{err}");

    let delivery = sns(element(&key, "SecretAccessKey"))
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();

    let data: serde_json::Value = http
        .get(format!("{}/moto-api/data.json", moto.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = data["sns"]["SMS"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(sent[0]["phone_number"], "+14255550101");
    assert_eq!(sent[0]["message"], BODY);
    assert_eq!(
        delivery.provider_message_id.as_deref(),
        sent[0]["message_id"].as_str()
    );
}

#[tokio::test]
async fn moto_accepts_a_publish_signed_with_assumed_role_session_credentials() {
    let Some(server) = moto_server() else {
        return;
    };
    let moto = spawn_moto(&server, 3);
    let http = reqwest::Client::new();
    // A role allowed to publish, and temporary credentials for it: the unchecked requests.
    let trust = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":"*"},"Action":"sts:AssumeRole"}]}"#;
    iam(
        &http,
        &moto.base,
        &[
            ("Action", "CreateRole"),
            ("RoleName", "textid-sns"),
            ("AssumeRolePolicyDocument", trust),
        ],
    )
    .await;
    let policy = r#"{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Action":"sns:Publish","Resource":"*"}]}"#;
    iam(
        &http,
        &moto.base,
        &[
            ("Action", "PutRolePolicy"),
            ("RoleName", "textid-sns"),
            ("PolicyName", "publish"),
            ("PolicyDocument", policy),
        ],
    )
    .await;
    let assumed = sts(
        &http,
        &moto.base,
        &[
            ("Action", "AssumeRole"),
            ("Version", "2011-06-15"),
            ("RoleArn", "arn:aws:iam::123456789012:role/textid-sns"),
            ("RoleSessionName", "textid"),
        ],
    )
    .await;
    let key_id = element(&assumed, "AccessKeyId");
    assert!(key_id.starts_with("ASIA"), "{assumed}");
    let sns = |token: &str| {
        SnsProvider::new(
            SnsConfig {
                region: "eu-west-1".into(),
                credentials: fixed(key_id, element(&assumed, "SecretAccessKey"), Some(token)),
                endpoint: Some(moto.base.clone()),
                sender_id: None,
                origination_number: None,
                timeout: Duration::from_secs(10),
            },
            Arc::new(SystemClock),
        )
        .unwrap()
    };

    // Another session's token: moto refuses it (transient: the operator's to fix).
    let err = sns("not-the-session-token")
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap_err();
    assert!(err.is_transient(), "{err}");

    let delivery = sns(element(&assumed, "SessionToken"))
        .send(&message("+14255550101", Channel::Sms))
        .await
        .unwrap();
    let data: serde_json::Value = http
        .get(format!("{}/moto-api/data.json", moto.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let sent = data["sns"]["SMS"].as_array().unwrap();
    assert_eq!(sent.len(), 1, "{sent:?}");
    assert_eq!(
        delivery.provider_message_id.as_deref(),
        sent[0]["message_id"].as_str()
    );
}

/// One unauthenticated STS call, like [`iam`].
async fn sts(http: &reqwest::Client, base: &str, form: &[(&str, &str)]) -> String {
    let response = http
        .post(format!("{base}/"))
        .header(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=AKIDSETUP/20260101/us-east-1/sts/aws4_request, SignedHeaders=host, Signature=0",
        )
        .form(form)
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(status.is_success(), "{form:?}: {text}");
    text
}
