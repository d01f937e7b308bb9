//! The real binary, as an operator runs it: the CLI provisions users on the same database
//! the server uses; `textid serve` delivers through a loopback webhook receiver; a kill -9
//! after a code was acknowledged loses nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::mpsc;

/// The operator's abuse commands (issue #14).
#[path = "process/abuse.rs"]
mod abuse;

/// Deleted users from the CLI (issue #17).
#[path = "process/deleted.rs"]
mod deleted;

/// Backup, restore and the CLI's edges (issue #19).
#[path = "process/deploy.rs"]
mod deploy;

/// `textid import` (issue #20).
#[path = "process/import.rs"]
mod import;

/// Shared numbers, refuse-shared mode and synced users (issue #16).
#[path = "process/numbers.rs"]
mod numbers;

/// `textid tap create|show|delete` (issue #15).
#[path = "process/passes.rs"]
mod passes;

/// `textid user revoke-sessions` and the client lifecycle against a running server
/// (issue #14 §4).
#[path = "process/revocation.rs"]
mod revocation;

/// OpenTelemetry traces and trace ids in log lines (issue #19).
#[path = "process/telemetry.rs"]
mod telemetry;

/// SMPP through `textid serve`, receipts included (issue #18).
#[path = "process/smpp.rs"]
mod smpp;

/// The loopback SMSC of the SMPP provider's contract tests; [`smpp`] uses part of it.
#[allow(
    dead_code,
    reason = "shared with textid-sms's tests, which use the rest"
)]
#[path = "../../textid-sms/tests/support/smsc.rs"]
mod smsc;

const BIN: &str = env!("CARGO_BIN_EXE_textid");

/// Runs a CLI command against `data`; returns (exit code, stdout, stderr).
fn cli(data: &Path, args: &[&str]) -> (i32, String, String) {
    let out = std::process::Command::new(BIN)
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

fn cli_json(data: &Path, args: &[&str]) -> Value {
    let mut all = args.to_vec();
    all.push("--json");
    let (code, out, err) = cli(data, &all);
    assert_eq!(code, 0, "{args:?}: {err}");
    serde_json::from_str(&out).unwrap()
}

struct Receiver {
    url: String,
    rx: mpsc::UnboundedReceiver<(HeaderMap, Value)>,
}

async fn receiver(status: StatusCode) -> Receiver {
    let (tx, rx) = mpsc::unbounded_channel();
    let app = axum::Router::new().route(
        "/sms",
        axum::routing::post(move |headers: HeaderMap, body: Bytes| {
            let tx = tx.clone();
            async move {
                tx.send((headers, serde_json::from_slice(&body).unwrap()))
                    .unwrap();
                status
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/sms", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Receiver { url, rx }
}

impl Receiver {
    /// Waits for the next delivered message (an event, not a timer: the timeout only
    /// bounds a failing test).
    async fn next(&mut self) -> (HeaderMap, Value) {
        tokio::time::timeout(Duration::from_secs(20), self.rx.recv())
            .await
            .expect("a message within 30 s")
            .unwrap()
    }
}

struct Server {
    child: Child,
    base: String,
}

/// Starts `textid serve` on a free port; returns once it prints where it listens.
async fn serve(data: &Path, webhook: &str) -> Server {
    serve_with(data, webhook, &[]).await
}

/// [`serve`] with more environment (limits, switches).
async fn serve_with(data: &Path, webhook: &str, env: &[(&str, &str)]) -> Server {
    let mut all = vec![
        ("TEXTID_SMS_PROVIDER", "webhook"),
        ("TEXTID_SMS_WEBHOOK_URL", webhook),
        (
            "TEXTID_SMS_WEBHOOK_SECRET",
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
    ];
    all.extend_from_slice(env);
    serve_env(data, &all).await
}

/// Starts `textid serve` on a free port with `env` (which names the SMS provider); its log
/// goes to `server.log` in `data`. Returns once it prints where it listens.
async fn serve_env(data: &Path, env: &[(&str, &str)]) -> Server {
    let mut command = Command::new(BIN);
    // Telemetry only where a test asks for it.
    for (k, _) in std::env::vars() {
        if k.starts_with("OTEL_") {
            command.env_remove(k);
        }
    }
    let mut child = command
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--public-url",
            "https://id.contoso.example",
        ])
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(
            std::fs::File::options()
                .create(true)
                .append(true)
                .open(data.join("server.log"))
                .unwrap(),
        )
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines
            .next_line()
            .await
            .unwrap()
            .expect("server printed its address");
        if let Some(addr) = line.strip_prefix("textid listening on ") {
            break addr.to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Server { child, base }
}

fn code_of(message: &Value) -> String {
    let body = message["body"].as_str().unwrap();
    let last = body.lines().last().unwrap();
    assert!(last.starts_with("@id.contoso.example #"), "{last}");
    last.rsplit('#').next().unwrap().to_string()
}

async fn post(base: &str, path: &str, body: Value) -> (u16, Value) {
    let res = reqwest::Client::new()
        .post(format!("{base}/default/api/v1/sign-in/sms{path}"))
        .json(&body)
        .send()
        .await
        .unwrap();
    (
        res.status().as_u16(),
        res.json().await.unwrap_or(Value::Null),
    )
}

/// `textid init`: the admin commands refuse a data directory without a database.
fn init(data: &Path) {
    let (code, _, err) = cli(data, &["init"]);
    assert_eq!(code, 0, "{err}");
}

fn provision(data: &Path) -> String {
    init(data);
    let user = cli_json(
        data,
        &[
            "user",
            "create",
            "--upn",
            "ana@contoso.example",
            "--display-name",
            "Ana",
        ],
    );
    cli_json(data, &["policy", "sms", "--state", "enabled"]);
    let phone = cli_json(
        data,
        &[
            "phone",
            "add",
            "ana@contoso.example",
            "--number",
            "+1 (425) 555-0101",
        ],
    );
    assert_eq!(phone["smsSignInState"], "ready");
    user["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn a_code_acknowledged_before_kill_9_still_signs_in_after_restart() {
    let dir = tempfile::tempdir().unwrap();
    let user_id = provision(dir.path());
    let mut sms = receiver(StatusCode::OK).await;
    let mut server = serve(dir.path(), &sms.url).await;
    let (status, started) = post(&server.base, "", json!({"phoneNumber": "+14255550101"})).await;
    assert_eq!(status, 202, "{started}");
    let (headers, message) = sms.next().await;
    assert_eq!(
        headers["webhook-id"].to_str().unwrap(),
        message["id"].as_str().unwrap()
    );
    let code = code_of(&message);

    server.child.start_kill().unwrap(); // SIGKILL
    server.child.wait().await.unwrap();

    let server = serve(dir.path(), &sms.url).await;
    let (status, session) = post(
        &server.base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    assert_eq!(session["userId"], user_id.as_str());
    assert!(session["sessionToken"].as_str().unwrap().len() >= 32);
}

#[tokio::test]
async fn messages_queued_while_the_provider_fails_are_delivered_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let mut failing = receiver(StatusCode::SERVICE_UNAVAILABLE).await;
    let mut server = serve(dir.path(), &failing.url).await;
    let (status, started) = post(&server.base, "", json!({"phoneNumber": "+1 425 555 0101"})).await;
    assert_eq!(status, 202);
    let (first, _) = failing.next().await; // a try happened and failed: the message stays queued
                                           // A graceful stop (SIGTERM) records the failed try before exiting; a kill -9 would
                                           // leave the message leased for a minute (see the kill -9 test for what that keeps).
    let pid = server.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(
        server.child.wait().await.unwrap().success(),
        "textid exits 0 on SIGTERM"
    );

    let mut working = receiver(StatusCode::OK).await;
    let server = serve(dir.path(), &working.url).await;
    let (again, message) = working.next().await;
    assert_eq!(
        again["webhook-id"], first["webhook-id"],
        "the same message, same idempotency key"
    );
    let (status, _) = post(
        &server.base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code_of(&message)}),
    )
    .await;
    assert_eq!(status, 200);
    let listed = cli_json(dir.path(), &["outbox", "list"]);
    assert_eq!(listed["value"][0]["status"], "delivered");
    assert!(listed["value"][0]["attempts"].as_u64().unwrap() >= 2);
}

#[test]
fn the_cli_reports_rule_violations_with_a_clear_message_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    provision(d);
    cli_json(
        d,
        &[
            "user",
            "create",
            "--upn",
            "bo@contoso.example",
            "--display-name",
            "Bo",
        ],
    );
    let (code, _, err) = cli(
        d,
        &[
            "phone",
            "add",
            "bo@contoso.example",
            "--type",
            "office",
            "--number",
            "+14255550101",
        ],
    );
    assert_eq!(code, 1);
    assert!(
        err.contains("enabled for SMS sign-in for another user"),
        "{err}"
    );
    assert_eq!(
        cli_json(d, &["phone", "list", "bo@contoso.example"])["value"],
        json!([])
    );
    let (code, _, err) = cli(
        d,
        &["phone", "add", "bo@contoso.example", "--number", "+1 425"],
    );
    assert_eq!(code, 1);
    assert!(err.contains("not a possible phone number"), "{err}");
    let (code, _, err) = cli(
        d,
        &[
            "phone",
            "add",
            "bo@contoso.example",
            "--type",
            "alternateMobile",
            "--number",
            "+14255550102",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("mobile phone method before"), "{err}");
    // Groups and policy targets: an excluded group takes Ana out of sign-in scope.
    cli_json(d, &["group", "create", "Contractors"]);
    cli_json(
        d,
        &["group", "add-member", "Contractors", "ana@contoso.example"],
    );
    let policy = cli_json(d, &["policy", "sms", "--exclude", "Contractors"]);
    assert_eq!(policy["sms"]["excludeTargets"][0]["targetType"], "group");
    let phones = cli_json(d, &["phone", "list", "ana@contoso.example"]);
    assert_eq!(phones["value"][0]["smsSignInState"], "notAllowedByPolicy");
    let audits = cli_json(d, &["logs", "audits"]);
    assert_eq!(
        audits["value"][0]["activity"],
        "Update authentication methods policy"
    );
    let (code, _, err) = cli(d, &["user", "list", "--tenant", "nope"]);
    assert_eq!(code, 2, "{err}");
    // National numbers parse only once the tenant has a default region.
    let (code, _, err) = cli(
        d,
        &[
            "phone",
            "add",
            "bo@contoso.example",
            "--number",
            "(425) 555-0177",
        ],
    );
    assert_eq!(code, 1);
    assert!(err.contains("country code"), "{err}");
    let (code, _, err) = cli(d, &["tenant", "set-region", "default", "XX"]);
    assert_eq!(code, 2, "{err}");
    cli_json(d, &["tenant", "set-region", "default", "us"]);
    let added = cli_json(
        d,
        &[
            "phone",
            "add",
            "bo@contoso.example",
            "--number",
            "(425) 555-0177",
        ],
    );
    assert_eq!(added["phoneNumber"], "+1 4255550177");
}

#[test]
fn a_bad_configuration_names_the_key_and_its_source() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(BIN)
        .args(["config", "check", "--data-dir"])
        .arg(dir.path())
        .env("TEXTID_CODE_LIFETIME_SECONDS", "3600")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("code_lifetime_seconds (from TEXTID_CODE_LIFETIME_SECONDS): 3600"),
        "{err}"
    );
}

// ---- Configuration, files, output and shutdown (issue #14 §5–§7) ----------------------

/// 32 bytes in base64, different per `seed`.
fn key_b64(seed: u8) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode([seed; 32])
}

/// Runs `textid` with exactly these environment variables (no inherited `TEXTID_*`).
fn run(args: &[&str], env: &[(String, String)]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(BIN);
    for (k, _) in std::env::vars() {
        if k.starts_with("TEXTID_") {
            cmd.env_remove(k);
        }
    }
    let out = cmd
        .args(args)
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// A throwaway RSA key (PKCS#8 PEM) for the Vonage application keys.
const VONAGE_TEST_KEY: &str =
    include_str!("../../textid-sms/tests/carriers/data/vonage-test-application.key");

/// For every key: the values to give (the key itself, plus what it needs beside it) and
/// how `config check` shows the key then. A key without a sample fails the test below, so
/// a new key cannot go untested.
fn sample(key: &str, dir: &Path) -> Option<(Vec<(&'static str, String)>, String)> {
    let same = |k: &'static str, v: &str| Some((vec![(k, v.to_string())], v.to_string()));
    // The webhook keys need the provider and its URL beside them; the key under test
    // comes last.
    let webhook = |k: &'static str, v: &str, shown: &str| {
        let mut given: Vec<_> = [
            ("sms_provider", "webhook".to_string()),
            ("sms_webhook_url", "http://127.0.0.1:9/hook".to_string()),
        ]
        .into_iter()
        .filter(|(other, _)| *other != k)
        .collect();
        given.push((k, v.to_string()));
        Some((given, shown.to_string()))
    };
    let twilio = |k: &'static str, v: &str, shown: &str| {
        let mut given: Vec<_> = [
            ("sms_provider", "twilio".to_string()),
            ("sms_twilio_account_sid", "AC0001".to_string()),
            ("sms_twilio_auth_token", "token".to_string()),
            ("sms_twilio_from", "+15005550006".to_string()),
            ("sms_twilio_api_key_sid", "SK0001".to_string()),
            ("sms_twilio_api_key_secret", "key-secret".to_string()),
        ]
        .into_iter()
        .filter(|(other, _)| *other != k)
        .collect();
        given.push((k, v.to_string()));
        Some((given, shown.to_string()))
    };
    let vonage = |k: &'static str, v: &str, shown: &str| {
        let mut given: Vec<_> = [
            ("sms_provider", "vonage".to_string()),
            ("sms_vonage_api_key", "abcd1234".to_string()),
            ("sms_vonage_api_secret", "api-secret".to_string()),
            ("sms_vonage_from", "+447700900000".to_string()),
        ]
        .into_iter()
        .filter(|(other, _)| *other != k)
        .collect();
        given.push((k, v.to_string()));
        Some((given, shown.to_string()))
    };
    let smpp = |k: &'static str, v: &str, shown: &str| {
        let mut given: Vec<_> = [
            ("sms_provider", "smpp".to_string()),
            ("sms_smpp_host", "127.0.0.1".to_string()),
            ("sms_smpp_system_id", "textid".to_string()),
            ("sms_smpp_password", "pw".to_string()),
            ("sms_smpp_source_addr", "14255550100".to_string()),
        ]
        .into_iter()
        .filter(|(other, _)| *other != k)
        .collect();
        given.push((k, v.to_string()));
        Some((given, shown.to_string()))
    };
    let sns = |k: &'static str, v: &str, shown: &str| {
        let mut given: Vec<_> = [
            ("sms_provider", "sns".to_string()),
            ("sms_sns_region", "eu-west-1".to_string()),
            ("sms_sns_access_key_id", "AKIAIOSFODNN7EXAMPLE".to_string()),
            ("sms_sns_secret_access_key", "aws-secret".to_string()),
        ]
        .into_iter()
        .filter(|(other, _)| *other != k)
        .collect();
        given.push((k, v.to_string()));
        Some((given, shown.to_string()))
    };
    match key {
        "listen" => same("listen", "127.0.0.1:18081"),
        "metrics_listen" => same("metrics_listen", "127.0.0.1:19091"),
        "public_url" => same("public_url", "https://id.contoso.example"),
        "data_dir" => {
            let d = dir.join("elsewhere").display().to_string();
            same("data_dir", &d)
        }
        "database_url" => {
            let url = format!("sqlite://{}", dir.join("other.db").display());
            same("database_url", &url)
        }
        "sqlite_synchronous" => same("sqlite_synchronous", "full"),
        "sqlite_mmap_size" => Some((
            vec![("sqlite_mmap_size", "256MiB".to_string())],
            "268435456".into(),
        )),
        "secret_key" => Some((vec![("secret_key", key_b64(1))], "<configured>".into())),
        "key_encryption_key" => Some((
            vec![("key_encryption_key", key_b64(2))],
            "<configured>".into(),
        )),
        "sms_provider" => webhook("sms_provider", "webhook", "webhook"),
        "sms_webhook_url" => webhook(
            "sms_webhook_url",
            "http://127.0.0.1:7/other",
            "http://127.0.0.1:7/other",
        ),
        "sms_webhook_secret" => webhook("sms_webhook_secret", "whsec_c2VjcmV0", "<configured>"),
        "sms_webhook_timeout_seconds" => webhook("sms_webhook_timeout_seconds", "7", "7"),
        "sms_routes" => Some((
            vec![
                ("sms_provider", "route".to_string()),
                ("sms_webhook_url", "http://127.0.0.1:9/hook".to_string()),
                ("sms_routes", "+44=webhook ; default=webhook".to_string()),
            ],
            "+44=webhook; default=webhook".into(),
        )),
        "sms_timeout_seconds" => twilio("sms_timeout_seconds", "4", "4"),
        "sms_twilio_account_sid" => twilio("sms_twilio_account_sid", "AC0002", "AC0002"),
        "sms_twilio_auth_token" => twilio("sms_twilio_auth_token", "other", "<configured>"),
        "sms_twilio_api_key_sid" => twilio("sms_twilio_api_key_sid", "SK0002", "SK0002"),
        "sms_twilio_api_key_secret" => twilio("sms_twilio_api_key_secret", "other", "<configured>"),
        "sms_twilio_messaging_service_sid" => {
            twilio("sms_twilio_messaging_service_sid", "MG0001", "MG0001")
        }
        "sms_twilio_from" => twilio("sms_twilio_from", "TextID", "TextID"),
        "sms_twilio_base_url" => twilio(
            "sms_twilio_base_url",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ),
        "sms_vonage_sms_api" => {
            // The Messages API needs the application beside it; the key under test stays last.
            let (mut given, shown) = vonage("sms_vonage_sms_api", "messages", "messages")?;
            let at = given.len() - 1;
            given.insert(
                at,
                (
                    "sms_vonage_application_id",
                    "aaaaaaaa-bbbb-cccc-dddd-0123456789ab".to_string(),
                ),
            );
            given.insert(at, ("sms_vonage_private_key", VONAGE_TEST_KEY.to_string()));
            Some((given, shown))
        }
        "sms_vonage_api_key" => vonage("sms_vonage_api_key", "efgh5678", "efgh5678"),
        "sms_vonage_api_secret" => vonage("sms_vonage_api_secret", "other", "<configured>"),
        "sms_vonage_signature_secret" => {
            vonage("sms_vonage_signature_secret", "sig-secret", "<configured>")
        }
        "sms_vonage_from" => vonage("sms_vonage_from", "textid", "textid"),
        "sms_vonage_application_id" | "sms_vonage_private_key" => {
            let (mut given, shown) = match key {
                "sms_vonage_application_id" => vonage(
                    "sms_vonage_application_id",
                    "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
                    "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
                ),
                _ => vonage("sms_vonage_private_key", VONAGE_TEST_KEY, "<configured>"),
            }?;
            // The pair goes together; the key under test stays last.
            let other = match key {
                "sms_vonage_application_id" => ("sms_vonage_private_key", VONAGE_TEST_KEY),
                _ => (
                    "sms_vonage_application_id",
                    "aaaaaaaa-bbbb-cccc-dddd-0123456789ab",
                ),
            };
            given.insert(given.len() - 1, (other.0, other.1.to_string()));
            Some((given, shown))
        }
        "sms_vonage_api_base_url" => vonage(
            "sms_vonage_api_base_url",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ),
        "sms_vonage_base_url" => vonage(
            "sms_vonage_base_url",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ),
        "sms_smpp_host" => smpp("sms_smpp_host", "smsc.example", "smsc.example"),
        "sms_smpp_port" => smpp("sms_smpp_port", "2776", "2776"),
        "sms_smpp_system_id" => smpp("sms_smpp_system_id", "esme1", "esme1"),
        "sms_smpp_password" => smpp("sms_smpp_password", "secret1", "<configured>"),
        "sms_smpp_system_type" => smpp("sms_smpp_system_type", "OTP", "OTP"),
        "sms_smpp_source_addr" => smpp("sms_smpp_source_addr", "14255550199", "14255550199"),
        "sms_smpp_source_ton" => smpp("sms_smpp_source_ton", "5", "5"),
        "sms_smpp_source_npi" => smpp("sms_smpp_source_npi", "0", "0"),
        "sms_smpp_dest_ton" => smpp("sms_smpp_dest_ton", "2", "2"),
        "sms_smpp_dest_npi" => smpp("sms_smpp_dest_npi", "9", "9"),
        "sms_smpp_enquire_link_seconds" => smpp("sms_smpp_enquire_link_seconds", "45", "45"),
        "sms_smpp_response_timeout_seconds" => smpp("sms_smpp_response_timeout_seconds", "7", "7"),
        "sms_smpp_window" => smpp("sms_smpp_window", "4", "4"),
        "sms_sns_region" => sns("sms_sns_region", "us-east-1", "us-east-1"),
        "sms_sns_access_key_id" => sns("sms_sns_access_key_id", "AKIDOTHER", "AKIDOTHER"),
        "sms_sns_secret_access_key" => sns("sms_sns_secret_access_key", "other", "<configured>"),
        "sms_sns_session_token" => sns("sms_sns_session_token", "session", "<configured>"),
        "sms_sns_endpoint" => sns(
            "sms_sns_endpoint",
            "http://127.0.0.1:9",
            "http://127.0.0.1:9",
        ),
        "sms_sns_sender_id" => sns("sms_sns_sender_id", "TextID", "TextID"),
        "sms_sns_origination_number" => {
            sns("sms_sns_origination_number", "+18005550100", "+18005550100")
        }
        "code_lifetime_seconds" => same(key_static(key), "240"),
        "max_attempts_per_code" => same(key_static(key), "4"),
        "resend_cooldown_seconds" => same(key_static(key), "45"),
        "sends_per_window" => same(key_static(key), "9"),
        "send_window_seconds" => same(key_static(key), "1800"),
        "failures_before_lock" => same(key_static(key), "20"),
        "lock_base_seconds" => same(key_static(key), "120"),
        "lock_max_seconds" => same(key_static(key), "3600"),
        "session_lifetime_seconds" => same(key_static(key), "7200"),
        "http_header_read_timeout_seconds" => same(key_static(key), "5"),
        "http_body_read_timeout_seconds" => same(key_static(key), "15"),
        "http_idle_timeout_seconds" => same(key_static(key), "30"),
        "http_max_connections" => same(key_static(key), "64"),
        "http_shutdown_deadline_seconds" => same(key_static(key), "3"),
        "purge_interval_seconds" => same(key_static(key), "60"),
        "log_retention_days" => same(key_static(key), "90"),
        "client_failures_before_lock" => same(key_static(key), "7"),
        "client_lock_seconds" => same(key_static(key), "600"),
        "trusted_proxies" => same(key_static(key), "10.0.0.0/8,192.0.2.1/32"),
        "admin_allowed_origins" => same(
            "admin_allowed_origins",
            "http://127.0.0.1:5173,https://admin.contoso.example",
        ),
        "ip_sends" => same(key_static(key), "40"),
        "ip_send_window_seconds" => same(key_static(key), "1800"),
        "prefix_sends" => same(key_static(key), "12"),
        "prefix_send_window_seconds" => same(key_static(key), "1800"),
        "country_sends" => same(key_static(key), "600"),
        "country_send_window_seconds" => same(key_static(key), "1800"),
        "tenant_sends" => same(key_static(key), "2500"),
        "tenant_send_window_seconds" => same(key_static(key), "1800"),
        "tenant_daily_sends" => same(key_static(key), "20000"),
        "global_sends" => same(key_static(key), "12000"),
        "global_send_window_seconds" => same(key_static(key), "1800"),
        "conversion_window_seconds" => same(key_static(key), "1800"),
        "conversion_min_sends_prefix" => same(key_static(key), "9"),
        "conversion_min_sends_country" => same(key_static(key), "60"),
        "conversion_max_sent_per_verified" => same(key_static(key), "5"),
        "conversion_pause_seconds" => same(key_static(key), "1800"),
        "test_numbers_enabled" => same(key_static(key), "true"),
        "client_secret_overlap_seconds" => same(key_static(key), "3600"),
        "api_session_introspection" => same(key_static(key), "token"),
        _ => None,
    }
}

fn key_static(key: &str) -> &'static str {
    Box::leak(key.to_string().into_boxed_str())
}

#[test]
fn every_documented_key_is_read_from_the_environment_and_from_textid_toml() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let (code, keys, err) = run(&["config", "keys", "--json"], &[]);
    assert_eq!(code, 0, "{err}");
    let keys: Value = serde_json::from_str(&keys).unwrap();
    let keys = keys.as_array().unwrap();
    assert!(keys.len() >= 27, "{keys:?}");
    let kek = keys
        .iter()
        .find(|k| k["key"] == "key_encryption_key")
        .unwrap();
    assert_eq!(kek["env"], "TEXTID_KEY_ENCRYPTION_KEY");
    assert_eq!(kek["file"], "TEXTID_KEY_ENCRYPTION_KEY_FILE");
    let check = |env: &[(String, String)], extra: &[&str]| -> Value {
        let mut args = vec!["config", "check", "--json"];
        args.extend_from_slice(extra);
        let (code, out, err) = run(&args, env);
        assert_eq!(code, 0, "{env:?} {extra:?}: {err}");
        serde_json::from_str(&out).unwrap()
    };
    let data_arg = data.display().to_string();
    let defaults = check(&[], &["--data-dir", &data_arg]);
    for k in keys {
        let key = k["key"].as_str().unwrap();
        let (given, shown) =
            sample(key, dir.path()).unwrap_or_else(|| panic!("no test value for key {key}"));
        if key != "data_dir" {
            assert_eq!(defaults[key]["source"], "default", "{key}");
        }
        assert_ne!(
            defaults[key]["value"],
            shown.as_str(),
            "{key}: pick a value other than the default"
        );
        // Through the environment: TEXTID_<KEY>.
        let env: Vec<_> = given
            .iter()
            .map(|(k, v)| (format!("TEXTID_{}", k.to_ascii_uppercase()), v.clone()))
            .collect();
        let extra: &[&str] = if key == "data_dir" {
            &[]
        } else {
            &["--data-dir", &data_arg]
        };
        let from_env = check(&env, extra);
        assert_eq!(
            from_env[key]["value"],
            shown.as_str(),
            "{key} from the environment"
        );
        let var = format!("TEXTID_{}", key.to_ascii_uppercase());
        assert_eq!(from_env[key]["source"], format!("env {var}"), "{key}");
        // Through textid.toml.
        let file = dir.path().join(format!("{key}.toml"));
        let text: String = given
            .iter()
            .map(|(k, v)| format!("{k} = {}\n", toml_value(v)))
            .collect();
        std::fs::write(&file, text).unwrap();
        let file_arg = file.display().to_string();
        let mut extra = extra.to_vec();
        extra.extend(["--config", file_arg.as_str()]);
        let from_file = check(&[], &extra);
        assert_eq!(
            from_file[key]["value"],
            shown.as_str(),
            "{key} from textid.toml"
        );
        assert_eq!(
            from_file[key]["source"],
            format!("file {}", file.display()),
            "{key}"
        );
        // Secrets also through TEXTID_<KEY>_FILE.
        if k["file"].is_string() {
            let secret_file = dir.path().join(format!("{key}.secret"));
            let mut env = env.clone();
            let (var, value) = env.pop().unwrap();
            std::fs::write(&secret_file, format!("{value}\n")).unwrap();
            env.push((format!("{var}_FILE"), secret_file.display().to_string()));
            let from_secret_file = check(&env, &["--data-dir", &data_arg]);
            assert_eq!(
                from_secret_file[key]["value"],
                shown.as_str(),
                "{key} from {var}_FILE"
            );
            assert_eq!(
                from_secret_file[key]["source"],
                format!("_FILE {var}_FILE"),
                "{key}"
            );
        }
    }
}

#[test]
fn config_check_shows_env_over_file_over_default_with_each_source() {
    // Issue #19: one real run of `textid config check --json` with a textid.toml found in
    // the data directory (not named by a flag), environment variables, a `_FILE` secret
    // and the `--data-dir` flag, so precedence and sources are those of the real process.
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let toml = data.join("textid.toml");
    std::fs::write(
        &toml,
        "code_lifetime_seconds = 240\nmax_attempts_per_code = 4\nlisten = \"127.0.0.1:18081\"\n",
    )
    .unwrap();
    let secret_file = dir.path().join("secret.key");
    std::fs::write(&secret_file, format!("{}\n", key_b64(9))).unwrap();
    let env = vec![
        (
            "TEXTID_CODE_LIFETIME_SECONDS".to_string(),
            "180".to_string(),
        ),
        (
            "TEXTID_RESEND_COOLDOWN_SECONDS".to_string(),
            "45".to_string(),
        ),
        (
            "TEXTID_SECRET_KEY_FILE".to_string(),
            secret_file.display().to_string(),
        ),
    ];
    let data_arg = data.display().to_string();
    let (code, out, err) = run(
        &["config", "check", "--json", "--data-dir", &data_arg],
        &env,
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.contains(&key_b64(9)), "a secret is never shown: {out}");
    let got: Value = serde_json::from_str(&out).unwrap();
    let file = format!("file {}", toml.display());
    for (key, value, source) in [
        // The environment over the file.
        (
            "code_lifetime_seconds",
            "180",
            "env TEXTID_CODE_LIFETIME_SECONDS",
        ),
        // The file over the default.
        ("max_attempts_per_code", "4", file.as_str()),
        ("listen", "127.0.0.1:18081", file.as_str()),
        // The environment over the default.
        (
            "resend_cooldown_seconds",
            "45",
            "env TEXTID_RESEND_COOLDOWN_SECONDS",
        ),
        // A secret from its `_FILE` variable.
        ("secret_key", "<configured>", "_FILE TEXTID_SECRET_KEY_FILE"),
        // The default, and the flag.
        ("session_lifetime_seconds", "28800", "default"),
        ("data_dir", data_arg.as_str(), "flag --data-dir"),
    ] {
        assert_eq!(
            (got[key]["value"].as_str(), got[key]["source"].as_str()),
            (Some(value), Some(source)),
            "{key}: {}",
            got[key]
        );
    }
    // The values are the ones the process uses: a file value out of range fails the check
    // and names the file, unless the environment overrides it.
    std::fs::write(&toml, "code_lifetime_seconds = 3600\n").unwrap();
    let (code, _, err) = run(&["config", "check", "--data-dir", &data_arg], &[]);
    assert_eq!(code, 1);
    assert!(
        err.contains(&format!("code_lifetime_seconds (from {})", toml.display())),
        "{err}"
    );
    let (code, _, err) = run(&["config", "check", "--data-dir", &data_arg], &env);
    assert_eq!(
        code, 0,
        "the environment's 180 wins over the file's 3600: {err}"
    );
}

/// A TOML value: numbers bare, everything else a string.
fn toml_value(v: &str) -> String {
    // A phone number (`+1800…`) is written as a string, as a user would quote it.
    if v.parse::<i64>().is_ok() && !v.starts_with('+') {
        v.to_string()
    } else {
        format!("{v:?}")
    }
}

#[test]
fn a_key_encryption_key_from_the_environment_seals_the_signing_keys_and_is_validated() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let with = |var: &str, v: String| vec![(var.to_string(), v)];
    let (code, _, err) = run(
        &["init", "--data-dir", &data],
        &with("TEXTID_KEY_ENCRYPTION_KEY", key_b64(3)),
    );
    assert_eq!(code, 0, "{err}");
    let (code, _, err) = run(
        &["keys", "rotate", "--data-dir", &data],
        &with("TEXTID_KEY_ENCRYPTION_KEY", key_b64(3)),
    );
    assert_eq!(code, 0, "{err}");
    assert!(
        !dir.path().join("kek.key").exists(),
        "no key is generated when one is configured"
    );
    // Another key cannot open them: the configured one was used.
    let (code, _, err) = run(
        &["keys", "list", "--data-dir", &data],
        &with("TEXTID_KEY_ENCRYPTION_KEY", key_b64(4)),
    );
    assert_eq!(code, 1, "a wrong key is refused: {err}");
    // The same key from a file opens them.
    let file = dir.path().join("kek.secret");
    std::fs::write(&file, key_b64(3)).unwrap();
    let (code, out, err) = run(
        &["keys", "list", "--data-dir", &data],
        &with("TEXTID_KEY_ENCRYPTION_KEY_FILE", file.display().to_string()),
    );
    assert_eq!(code, 0, "{err}");
    assert!(!out.is_empty());
    // Validated like secret_key: the error names the key and its source, never the value.
    for bad in ["c2hvcnQ=", "not base64!"] {
        let (code, _, err) = run(
            &["config", "check", "--data-dir", &data],
            &with("TEXTID_KEY_ENCRYPTION_KEY", bad.into()),
        );
        assert_eq!(code, 1);
        assert!(
            err.contains("key_encryption_key (from TEXTID_KEY_ENCRYPTION_KEY)"),
            "{err}"
        );
        assert!(!err.contains(bad), "{err}");
    }
}

/// Starts `textid serve` under `umask 000` (so that only explicit modes protect the
/// files) with `env`; returns the child and its base URL.
async fn serve_open_umask(data: &Path, env: &[(&str, &str)]) -> (Child, String) {
    let mut child = Command::new("sh")
        .args([
            "-c",
            "umask 000 && exec \"$@\"",
            "sh",
            BIN,
            "serve",
            "--listen",
            "127.0.0.1:0",
        ])
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let base = loop {
        let line = lines.next_line().await.unwrap().expect("the server starts");
        if let Some(addr) = line.strip_prefix("textid listening on ") {
            break addr.to_string();
        }
    };
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base)
}

#[cfg(unix)]
fn mode(p: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p)
        .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
        .permissions()
        .mode()
        & 0o777
}

#[cfg(unix)]
#[tokio::test]
async fn the_data_directory_is_created_0700_and_the_database_files_0600_whatever_the_umask() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("new").join("data");
    let (mut child, base) = serve_open_umask(&data, &[]).await;
    // A write, so that the WAL exists.
    let (status, _) = post(&base, "", json!({"phoneNumber": "+14255550101"})).await;
    assert_eq!(status, 202);
    assert_eq!(mode(&data), 0o700, "data directory");
    for file in [
        "textid.db",
        "textid.db-wal",
        "textid.db-shm",
        "secret.key",
        "kek.key",
    ] {
        assert_eq!(mode(&data.join(file)), 0o600, "{file}");
    }
    child.kill().await.unwrap();
}

#[cfg(unix)]
#[tokio::test]
async fn sigterm_stops_the_server_within_the_deadline_although_a_client_holds_half_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base) = serve_open_umask(
        dir.path(),
        &[
            ("TEXTID_HTTP_SHUTDOWN_DEADLINE_SECONDS", "1"),
            // Long enough that the header timeout does not end the connection first.
            ("TEXTID_HTTP_HEADER_READ_TIMEOUT_SECONDS", "120"),
        ],
    )
    .await;
    let mut half = tokio::net::TcpStream::connect(base.trim_start_matches("http://"))
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(
        &mut half,
        b"POST /default/api/v1/sign-in/sms HTTP/1.1\r\nHost: x\r\nContent-Le",
    )
    .await
    .unwrap();
    // The connection is accepted (a full request on another one is answered after it).
    assert_eq!(
        reqwest::get(format!("{base}/healthz"))
            .await
            .unwrap()
            .status(),
        200
    );
    let pid = child.id().unwrap().to_string();
    let started = std::time::Instant::now();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn the_cli_escapes_control_characters_in_everything_it_prints() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path();
    init(data);
    // Refused at the door, and the refusal does not print the name raw.
    let (code, out, err) = cli(
        data,
        &[
            "user",
            "create",
            "--upn",
            "eve@contoso.example",
            "--display-name",
            "Eve\u{1b}[2J",
        ],
    );
    assert_eq!(code, 1, "{out}{err}");
    assert!(
        !err.contains('\u{1b}') && !out.contains('\u{1b}'),
        "{err:?}"
    );
    cli_json(
        data,
        &[
            "user",
            "create",
            "--upn",
            "eve@contoso.example",
            "--display-name",
            "Eve",
        ],
    );
    // A row written before the rule (or by hand) still never reaches the terminal raw.
    let evil = "Eve\u{1b}]0;pwned\u{7}\u{1b}[2J\r\u{202e}nimda\u{200b}";
    let db = rusqlite::Connection::open(data.join("textid.db")).unwrap();
    db.execute("UPDATE users SET display_name = ?1", [evil])
        .unwrap();
    drop(db);
    for args in [
        &["user", "list"][..],
        &["user", "show", "eve@contoso.example"][..],
        &["logs", "audits"][..],
    ] {
        let (code, out, err) = cli(data, args);
        assert_eq!(code, 0, "{args:?}: {err}");
        for c in ['\u{1b}', '\u{7}', '\r', '\u{202e}', '\u{200b}'] {
            assert!(!out.contains(c), "{args:?} printed {c:?} raw: {out:?}");
        }
        if args[0] == "user" {
            assert!(out.contains("Eve\\u{1b}]0;pwned"), "{out:?}");
        }
    }
    // JSON output stays JSON with the same value, written with escapes only.
    let (code, out, _) = cli(data, &["user", "list", "--json"]);
    assert_eq!(code, 0);
    for c in ['\u{1b}', '\u{7}', '\r', '\u{202e}', '\u{200b}'] {
        assert!(!out.contains(c), "--json printed {c:?} raw");
    }
    let v: Value = serde_json::from_str(&out).unwrap();
    let users = v.get("value").unwrap_or(&v);
    assert!(users.to_string().contains("pwned"));
    assert!(
        users
            .as_array()
            .unwrap()
            .iter()
            .any(|u| u["displayName"] == evil),
        "{v}"
    );
}

/// The samples of an OpenMetrics exposition: `name{labels}` (as written) → value.
fn samples(text: &str) -> std::collections::BTreeMap<String, f64> {
    assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (series, value) = l.rsplit_once(' ').expect("a sample has a value");
            (series.to_string(), value.parse().expect("a number"))
        })
        .collect()
}

/// Starts `textid serve` with `env`; returns the child, its base URL, and the base URL
/// it prints for `/metrics`.
async fn serve_with_metrics(data: &Path, env: &[(&str, &str)]) -> (Child, String, String) {
    let mut child = Command::new(BIN)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .arg("--data-dir")
        .arg(data)
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let (mut base, mut metrics) = (None, None);
    while base.is_none() || metrics.is_none() {
        let line = lines.next_line().await.unwrap().expect("the server starts");
        if let Some(addr) = line.strip_prefix("textid listening on ") {
            base = Some(addr.to_string());
        }
        if let Some(url) = line.strip_prefix("metrics: ") {
            metrics = Some(url.trim_end_matches("/metrics").to_string());
        }
    }
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    (child, base.unwrap(), metrics.unwrap())
}

#[cfg(unix)]
#[tokio::test]
async fn with_metrics_listen_metrics_are_served_only_on_that_address() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, metrics) =
        serve_with_metrics(dir.path(), &[("TEXTID_METRICS_LISTEN", "127.0.0.1:0")]).await;
    assert_ne!(base, metrics);
    let (status, _) = post(&base, "", json!({"phoneNumber": "+14255550101"})).await;
    assert_eq!(status, 202);
    let main = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(main.status(), 404);
    let scraped = reqwest::get(format!("{metrics}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    let s = samples(&scraped.text().await.unwrap());
    assert_eq!(
        s.get(r#"textid_sms_codes_requested_total{country="US"}"#),
        Some(&1.0)
    );
    assert_eq!(s.get("textid_outbox_depth"), Some(&0.0));
    // One SIGTERM stops both listeners.
    let pid = child.id().unwrap().to_string();
    let killed = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("the server exits")
        .unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn without_metrics_listen_metrics_are_on_the_main_listener() {
    let dir = tempfile::tempdir().unwrap();
    let (mut child, base, metrics) = serve_with_metrics(dir.path(), &[]).await;
    assert_eq!(base, metrics);
    let scraped = reqwest::get(format!("{base}/metrics")).await.unwrap();
    assert_eq!(scraped.status(), 200);
    let s = samples(&scraped.text().await.unwrap());
    assert!(s.contains_key("textid_outbox_oldest_age_seconds"), "{s:?}");
    child.kill().await.unwrap();
}

#[test]
fn a_tenant_cannot_be_named_like_one_of_textids_routes() {
    // Issue #19: a tenant called `static` was shadowed by the page assets.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    for name in ["static", "healthz", "metrics"] {
        let (code, out, err) = cli(d, &["tenant", "create", name]);
        assert_eq!(code, 2, "{name}: {out}{err}");
        assert!(err.contains("reserved"), "{err}");
    }
    let (code, _, err) = cli(d, &["user", "list", "--tenant", "static"]);
    assert_eq!(code, 2, "nothing was created: {err}");
    cli_json(d, &["tenant", "create", "static-site"]);
}

#[test]
fn allowed_origins_are_set_on_create_and_replaced_on_update() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let created = cli_json(
        d,
        &[
            "client",
            "create",
            "--name",
            "Shifts",
            "--type",
            "public",
            "--redirect-uri",
            "https://shifts.contoso.example/cb",
            "--allowed-origin",
            "https://admin.contoso.example/",
        ],
    );
    assert_eq!(
        created["allowedOrigins"],
        serde_json::json!(["https://admin.contoso.example"])
    );
    assert_eq!(
        created["webOrigins"],
        serde_json::json!([
            "https://admin.contoso.example",
            "https://shifts.contoso.example"
        ])
    );
    let id = created["clientId"].as_str().unwrap();
    let (code, out, err) = cli(
        d,
        &[
            "client",
            "update",
            id,
            "--allowed-origin",
            "http://evil.example",
        ],
    );
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("http origins are allowed only"), "{err}");
    let updated = cli_json(
        d,
        &[
            "client",
            "update",
            id,
            "--allowed-origin",
            "https://other.example",
        ],
    );
    assert_eq!(
        updated["allowedOrigins"],
        serde_json::json!(["https://other.example"])
    );
    let cleared = cli_json(d, &["client", "update", id, "--clear-allowed-origins"]);
    assert_eq!(
        cleared["webOrigins"],
        serde_json::json!(["https://shifts.contoso.example"])
    );
}

#[test]
fn the_sign_in_api_origins_of_a_tenant_are_set_checked_and_cleared() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    init(d);
    let set = cli_json(
        d,
        &[
            "tenant",
            "set-sign-in-origins",
            "default",
            "https://Kiosk.contoso.example:443",
            "http://127.0.0.1:5173",
        ],
    );
    assert_eq!(
        set["signInOrigins"],
        serde_json::json!(["http://127.0.0.1:5173", "https://kiosk.contoso.example"])
    );
    let (code, _, err) = cli(
        d,
        &[
            "tenant",
            "set-sign-in-origins",
            "default",
            "https://a.example/path",
        ],
    );
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("origin 'https://a.example/path'"), "{err}");
    let cleared = cli_json(d, &["tenant", "set-sign-in-origins", "default"]);
    assert_eq!(cleared["signInOrigins"], serde_json::json!([]));
}
