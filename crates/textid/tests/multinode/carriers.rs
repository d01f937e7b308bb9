//! Two nodes' delivery workers racing on one PostgreSQL database with a real carrier
//! provider (issue #18): every message reaches the carrier exactly once, and every message
//! keeps the carrier's id for its receipt.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use tokio::sync::Notify;

use crate::fleet::{self, Fleet};
use crate::harness::{fresh_database, missing, wait_until, Need, DEADLINE};

const SID: &str = "AC00000000000000000000000000000042";
const TOKEN: &str = "multinode-twilio-auth-token";

/// What the loopback Twilio saw: per recipient, the SIDs it issued (one per request).
#[derive(Clone, Default)]
struct Twilio {
    issued: Arc<Mutex<HashMap<String, Vec<String>>>>,
    arrived: Arc<Notify>,
}

impl Twilio {
    fn requests(&self) -> usize {
        self.issued.lock().unwrap().values().map(Vec::len).sum()
    }
}

async fn messages_json(
    State(t): State<Twilio>,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> (StatusCode, String) {
    assert_eq!(
        uri.path(),
        format!("/2010-04-01/Accounts/{SID}/Messages.json")
    );
    assert!(headers.contains_key("authorization"));
    let form: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let to = form["To"].clone();
    let sid = {
        let mut issued = t.issued.lock().unwrap();
        let n: usize = issued.values().map(Vec::len).sum();
        let sid = format!("SM{n:032}");
        issued.entry(to).or_default().push(sid.clone());
        sid
    };
    t.arrived.notify_waiters();
    (
        StatusCode::CREATED,
        format!(r#"{{"sid":"{sid}","status":"accepted"}}"#),
    )
}

async fn spawn_twilio() -> (String, Twilio) {
    let twilio = Twilio::default();
    let app = axum::Router::new()
        .fallback(messages_json)
        .with_state(twilio.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, twilio)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_nodes_racing_hand_each_message_to_twilio_exactly_once_and_keep_its_sid() {
    if missing(&[Need::SystemPostgres]) {
        return;
    }
    let (base, twilio) = spawn_twilio().await;
    let db = fresh_database();
    let fleet = Fleet::start_with(
        db.url(),
        2,
        &[
            ("TEXTID_SMS_PROVIDER", "twilio"),
            ("TEXTID_SMS_TWILIO_ACCOUNT_SID", SID),
            ("TEXTID_SMS_TWILIO_AUTH_TOKEN", TOKEN),
            ("TEXTID_SMS_TWILIO_FROM", "+15005550006"),
            ("TEXTID_SMS_TWILIO_BASE_URL", &base),
        ],
    )
    .await;
    let numbers = fleet.provision_many("t", 600, 24);
    let client = reqwest::Client::new();
    let starts: Vec<_> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (client, base, n) = (client.clone(), fleet.url(i % 2).to_string(), n.clone());
            tokio::spawn(async move { fleet::start(&client, &base, &n).await })
        })
        .collect();
    for s in starts {
        s.await.unwrap();
    }
    let deadline = tokio::time::Instant::now() + DEADLINE;
    while twilio.requests() < numbers.len() {
        let arrived = twilio.arrived.notified();
        if twilio.requests() >= numbers.len() {
            break;
        }
        assert!(
            tokio::time::timeout_at(deadline, arrived).await.is_ok(),
            "{} of {} messages reached twilio",
            twilio.requests(),
            numbers.len()
        );
    }
    // Every message finished: nothing is still claimed that could go a second time.
    let mut rows = Vec::new();
    wait_until("every message recorded as delivered", DEADLINE, || {
        let listed = fleet.cli(&["outbox", "list", "--limit", "100"]);
        rows = listed["value"].as_array().unwrap().clone();
        rows.len() == numbers.len() && rows.iter().all(|r| r["status"] == "delivered")
    });

    let issued = twilio.issued.lock().unwrap().clone();
    for number in &numbers {
        assert_eq!(
            issued.get(number).map(Vec::len),
            Some(1),
            "{number} reached twilio once: {issued:?}"
        );
    }
    assert_eq!(issued.len(), numbers.len(), "{issued:?}");
    // Each row keeps exactly the SID twilio issued for its number.
    for row in &rows {
        let to = row["to"].as_str().unwrap();
        assert_eq!(row["provider"], "twilio", "{row}");
        assert_eq!(
            row["providerMessageId"].as_str(),
            Some(issued[to][0].as_str()),
            "{row}"
        );
    }
}
