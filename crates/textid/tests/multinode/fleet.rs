//! A fleet of `textid serve` processes on one PostgreSQL database, as an operator runs
//! them behind a load balancer: the same server secret and key-encryption key on every
//! node, the webhook SMS provider pointed at a loopback receiver in the test (so a test
//! reads the codes every node sends, and can hold or fail deliveries), and the CLI
//! provisioning users on the same database.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::{HeaderMap, StatusCode};
use serde_json::{json, Value};
use tokio::sync::{watch, Notify};

use crate::harness::{spawn_node, Node, NodeOptions, DEADLINE};

const BIN: &str = env!("CARGO_BIN_EXE_textid");
/// Every node shares these (DESIGN.md §4: codes are keyed hashes, bodies and signing keys
/// sealed; a node with another secret could not check another node's codes).
pub const SECRET_KEY: &str = "c2VjcmV0LWtleS1zaGFyZWQtYnktZXZlcnktbm9kZSE=";
pub const KEY_ENCRYPTION_KEY: &str = "a2V5LWVuY3J5cHRpb24ta2V5LXNoYXJlZC1ieS1hbGw=";
pub const PUBLIC_URL: &str = "https://id.contoso.example";

/// One SMS as the receiver saw it.
#[derive(Debug, Clone)]
pub struct Sms {
    /// `webhook-id` (the message id, the same across retries).
    pub id: String,
    /// The recipient (E.164).
    pub to: String,
    /// The code at the end of the text.
    pub code: String,
}

#[derive(Default)]
struct ReceiverState {
    seen: Vec<Sms>,
}

/// A loopback webhook receiver. It can hold deliveries (answer nothing until released).
#[derive(Clone)]
pub struct Receiver {
    pub url: String,
    state: Arc<Mutex<ReceiverState>>,
    arrived: Arc<Notify>,
    hold: watch::Sender<bool>,
}

impl Receiver {
    pub async fn start() -> Self {
        let state = Arc::new(Mutex::new(ReceiverState::default()));
        let arrived = Arc::new(Notify::new());
        let (hold, held) = watch::channel(false);
        let (s, a) = (state.clone(), arrived.clone());
        let app = axum::Router::new().route(
            "/sms",
            axum::routing::post(move |headers: HeaderMap, body: Bytes| {
                let (s, a, mut held) = (s.clone(), a.clone(), held.clone());
                async move {
                    let v: Value = serde_json::from_slice(&body).unwrap();
                    let text = v["body"].as_str().unwrap_or_default();
                    let code = text
                        .rsplit('#')
                        .next()
                        .unwrap_or_default()
                        .trim()
                        .to_string();
                    let sms = Sms {
                        id: headers["webhook-id"].to_str().unwrap().to_string(),
                        to: v["to"].as_str().unwrap_or_default().to_string(),
                        code,
                    };
                    s.lock().unwrap().seen.push(sms);
                    a.notify_waiters();
                    // A held delivery never gets an answer while held: the node's try
                    // is still under way (and its claim leased) when the test kills it.
                    while *held.borrow() {
                        if held.changed().await.is_err() {
                            break;
                        }
                    }
                    StatusCode::OK
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/sms", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self {
            url,
            state,
            arrived,
            hold,
        }
    }

    /// Holds (`true`) or releases every delivery.
    pub fn hold(&self, on: bool) {
        self.hold.send_replace(on);
    }

    /// Everything received so far.
    pub fn seen(&self) -> Vec<Sms> {
        self.state.lock().unwrap().seen.clone()
    }

    /// Waits (bounded by the harness deadline) until `ready` holds for what was received.
    pub async fn wait_for(&self, what: &str, ready: impl Fn(&[Sms]) -> bool) -> Vec<Sms> {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let notified = self.arrived.notified();
            let seen = self.seen();
            if ready(&seen) {
                return seen;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!("{what}: not within {DEADLINE:?}; received {seen:?}");
            }
        }
    }

    /// The newest code sent to `to` (E.164), waiting for one.
    pub async fn code_for(&self, to: &str, after: usize) -> String {
        let seen = self
            .wait_for(&format!("a code for {to}"), |s| {
                s.iter().skip(after).any(|m| m.to == to)
            })
            .await;
        seen.iter()
            .skip(after)
            .rev()
            .find(|m| m.to == to)
            .unwrap()
            .code
            .clone()
    }
}

/// Nodes on one database.
pub struct Fleet {
    pub database_url: String,
    pub sms: Receiver,
    pub nodes: Vec<Node>,
    /// More environment for every node, after (so over) [`Fleet::env`]: another provider.
    extra_env: Vec<(String, String)>,
    dir: tempfile::TempDir,
}

impl Fleet {
    /// The environment of every node and CLI call.
    pub fn env(database_url: &str, sms_url: &str) -> Vec<(String, String)> {
        [
            ("TEXTID_DATABASE_URL", database_url),
            ("TEXTID_SECRET_KEY", SECRET_KEY),
            ("TEXTID_KEY_ENCRYPTION_KEY", KEY_ENCRYPTION_KEY),
            ("TEXTID_PUBLIC_URL", PUBLIC_URL),
            ("TEXTID_SMS_PROVIDER", "webhook"),
            ("TEXTID_SMS_WEBHOOK_URL", sms_url),
            ("TEXTID_SMS_WEBHOOK_TIMEOUT_SECONDS", "30"),
            // A load from one test process to numbers of one prefix: the abuse budgets are
            // raised (as an operator does for a load test), the per-number ones stay.
            ("TEXTID_IP_SENDS", "1000000"),
            ("TEXTID_PREFIX_SENDS", "1000000"),
            ("TEXTID_COUNTRY_SENDS", "1000000"),
            ("TEXTID_TENANT_SENDS", "1000000"),
            ("TEXTID_TENANT_DAILY_SENDS", "1000000"),
            ("TEXTID_GLOBAL_SENDS", "1000000"),
            ("TEXTID_CONVERSION_MIN_SENDS_PREFIX", "1000000"),
            ("TEXTID_CONVERSION_MIN_SENDS_COUNTRY", "1000000"),
            ("RUST_LOG", "info"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
    }

    /// Starts `n` nodes on `database_url`.
    pub async fn start(database_url: &str, n: usize) -> Self {
        Self::start_with(database_url, n, &[]).await
    }

    /// Starts `n` nodes on `database_url` with `extra_env` over the fleet's environment.
    pub async fn start_with(database_url: &str, n: usize, extra_env: &[(&str, &str)]) -> Self {
        let sms = Receiver::start().await;
        let dir = tempfile::tempdir().unwrap();
        let mut fleet = Self {
            database_url: database_url.to_string(),
            sms,
            nodes: Vec::new(),
            extra_env: extra_env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            dir,
        };
        for _ in 0..n {
            fleet.add_node().await;
        }
        fleet
    }

    /// Starts one more node.
    pub async fn add_node(&mut self) -> usize {
        let mut options = NodeOptions::new();
        for (k, v) in Self::env(&self.database_url, &self.sms.url)
            .into_iter()
            .chain(self.extra_env.clone())
        {
            options = options.env(&k, &v);
        }
        let node = spawn_node(options).await;
        node.wait_healthy().await;
        self.nodes.push(node);
        self.nodes.len() - 1
    }

    /// Runs the CLI against the fleet's database; returns its JSON answer.
    pub fn cli(&self, args: &[&str]) -> Value {
        let out = cli(self.dir.path(), &self.database_url, &self.sms.url, args);
        assert_eq!(out.0, 0, "textid {args:?}: {}", out.2);
        serde_json::from_str(&out.1).unwrap_or(Value::Null)
    }

    /// Enables SMS sign-in for everyone and gives each of `users` (name, E.164 number) a
    /// mobile, which is `ready`. Returns their ids by name.
    pub fn provision(&self, users: &[(&str, &str)]) -> HashMap<String, String> {
        self.cli(&["policy", "sms", "--state", "enabled"]);
        users
            .iter()
            .map(|(name, number)| {
                let upn = format!("{name}@contoso.example");
                let u = self.cli(&["user", "create", "--upn", &upn, "--display-name", name]);
                let m = self.cli(&["phone", "add", &upn, "--number", number]);
                assert_eq!(m["smsSignInState"], "ready", "{m}");
                (name.to_string(), u["id"].as_str().unwrap().to_string())
            })
            .collect()
    }

    /// Provisions `n` users `{stem}0`, `{stem}1`, … with the numbers +1 425 555 `first`,
    /// `first + 1`, …; returns the numbers (E.164).
    pub fn provision_many(&self, stem: &str, first: u32, n: u32) -> Vec<String> {
        let numbers: Vec<String> = (0..n)
            .map(|i| format!("+1425555{:04}", first + i))
            .collect();
        let names: Vec<String> = (0..n).map(|i| format!("{stem}{i}")).collect();
        let pairs: Vec<(&str, &str)> = names
            .iter()
            .zip(&numbers)
            .map(|(n, p)| (n.as_str(), p.as_str()))
            .collect();
        self.provision(&pairs);
        numbers
    }

    pub fn url(&self, node: usize) -> &str {
        self.nodes[node].url()
    }
}

/// Runs `textid --json ARGS` on `database_url` with the fleet's environment; returns
/// (exit code, stdout, stderr).
pub fn cli(data: &Path, database_url: &str, sms_url: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = std::process::Command::new(BIN);
    cmd.arg("--data-dir")
        .arg(PathBuf::from(data))
        .args(args)
        .arg("--json");
    for (k, v) in Fleet::env(database_url, sms_url) {
        cmd.env(k, v);
    }
    let out = cmd.env_remove("RUST_LOG").output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into(),
        String::from_utf8_lossy(&out.stderr).into(),
    )
}

/// `POST {base}/default/api/v1/sign-in/sms{path}`; (status, body). A transport error
/// (node gone) is status 0.
pub async fn sign_in(
    client: &reqwest::Client,
    base: &str,
    path: &str,
    body: Value,
) -> (u16, Value) {
    let sent = client
        .post(format!("{base}/default/api/v1/sign-in/sms{path}"))
        .json(&body)
        .timeout(Duration::from_secs(20))
        .send()
        .await;
    match sent {
        Ok(res) => (
            res.status().as_u16(),
            res.json().await.unwrap_or(Value::Null),
        ),
        Err(_) => (0, Value::Null),
    }
}

/// Starts a flow for `number` on `base`; the flow id.
pub async fn start(client: &reqwest::Client, base: &str, number: &str) -> String {
    let (status, body) = sign_in(client, base, "", json!({ "phoneNumber": number })).await;
    assert_eq!(status, 202, "{body}");
    body["flowId"].as_str().unwrap().to_string()
}

/// `GET {base}{path}`: the status (0 when the node does not answer).
pub async fn status_of(client: &reqwest::Client, base: &str, path: &str) -> u16 {
    client
        .get(format!("{base}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .map_or(0, |r| r.status().as_u16())
}
