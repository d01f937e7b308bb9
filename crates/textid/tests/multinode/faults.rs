//! Faults (issue #13): the database stops and comes back, a node is cut off from it by
//! the network, the primary fails over to a synchronous standby. Requests fail cleanly
//! (503 `databaseUnavailable`, nothing half-written) and succeed again without
//! restarting textid; nothing acknowledged is lost.

use std::time::Duration;

use serde_json::{json, Value};

use crate::fleet::{self, Fleet};
use crate::harness::{
    missing, spawn_node, Need, NetNs, NodeOptions, PgCluster, PgClusterOptions, ReplicatedPair,
    VethLink, DEADLINE,
};

const ANA: &str = "+14255550101";

/// Polls a sign-in start on `base` until it answers `want` (bounded by the deadline).
async fn wait_for_start(client: &reqwest::Client, base: &str, number: &str, want: u16) -> Value {
    let deadline = tokio::time::Instant::now() + DEADLINE;
    loop {
        let (status, body) =
            fleet::sign_in(client, base, "", json!({ "phoneNumber": number })).await;
        if status == want {
            return body;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "start on {base} never answered {want}; last {status} {body}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn requests_fail_cleanly_while_postgres_is_stopped_and_succeed_after_it_restarts() {
    if missing(&[Need::PostgresServer]) {
        return;
    }
    let pg = PgCluster::new();
    let url = format!("{}?connect_timeout=2", pg.create_database("textid"));
    let fleet = Fleet::start(&url, 1).await;
    fleet.provision(&[("ana", ANA)]);
    let client = reqwest::Client::new();
    let base = fleet.url(0).to_string();
    fleet::start(&client, &base, ANA).await;
    // Delivered before the database stops: delivered late, after the restart, this code
    // would be taken for the new flow's (a race seen under a loaded machine).
    fleet.sms.code_for("+14255550101", 0).await;
    assert_eq!(fleet::status_of(&client, &base, "/readyz").await, 200);

    pg.stop();
    let (status, body) = fleet::sign_in(&client, &base, "", json!({"phoneNumber": ANA})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "databaseUnavailable", "{body}");
    assert_eq!(fleet::status_of(&client, &base, "/readyz").await, 503);
    assert_eq!(
        fleet::status_of(&client, &base, "/healthz").await,
        200,
        "the process itself is alive"
    );

    pg.start();
    let before = fleet.sms.seen().len();
    let started = wait_for_start(&client, &base, ANA, 202).await;
    let code = fleet.sms.code_for("+14255550101", before).await;
    let (status, body) = fleet::sign_in(
        &client,
        &base,
        "/verify",
        json!({"flowId": started["flowId"], "code": code}),
    )
    .await;
    assert_eq!(status, 200, "signed in without restarting textid: {body}");
    assert_eq!(fleet::status_of(&client, &base, "/readyz").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_node_cut_off_from_the_database_by_the_network_answers_503_and_recovers() {
    if missing(&[Need::NetworkNamespaces, Need::PostgresServer, Need::Socat]) {
        return;
    }
    let (db_ns, node_ns) = (NetNs::new("db"), NetNs::new("node"));
    let link = VethLink::new(&db_ns, &node_ns);
    let db = PgCluster::with_options(PgClusterOptions::in_netns(&db_ns, link.addr_in(&db_ns)));
    let url = format!("{}?connect_timeout=2", db.create_database("textid"));
    // The console provider: the node inside its namespace reaches nothing but its database.
    let node = spawn_node(
        NodeOptions::new()
            .in_netns(&node_ns)
            .env("TEXTID_DATABASE_URL", &url)
            .env("TEXTID_SECRET_KEY", fleet::SECRET_KEY)
            .env("TEXTID_KEY_ENCRYPTION_KEY", fleet::KEY_ENCRYPTION_KEY),
    )
    .await;
    node.wait_healthy().await;
    let client = reqwest::Client::new();
    wait_for_start(&client, node.url(), ANA, 202).await;

    link.cut();
    let (status, body) = fleet::sign_in(&client, node.url(), "", json!({"phoneNumber": ANA})).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["code"], "databaseUnavailable", "{body}");
    assert_eq!(fleet::status_of(&client, node.url(), "/readyz").await, 503);
    assert_eq!(fleet::status_of(&client, node.url(), "/healthz").await, 200);

    link.restore();
    wait_for_start(&client, node.url(), ANA, 202).await;
    assert_eq!(fleet::status_of(&client, node.url(), "/readyz").await, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sign_ins_resume_on_a_promoted_standby_and_nothing_acknowledged_is_lost() {
    if missing(&[Need::PostgresServer]) {
        return;
    }
    let pair = ReplicatedPair::new();
    pair.primary.psql("CREATE DATABASE textid");
    pair.wait_sync();
    let url = format!("{}&connect_timeout=2", pair.multi_host_url("textid"));
    let fleet = Fleet::start(&url, 2).await;
    let numbers = fleet.provision_many("w", 500, 8);
    let client = reqwest::Client::new();

    // A load run: sign-ins one after another over both nodes, each acknowledged session
    // counted. The failover happens in the middle of it.
    let acknowledged = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let failover = std::sync::Arc::new(tokio::sync::Notify::new());
    let run = {
        let (client, sms, acknowledged) = (client.clone(), fleet.sms.clone(), acknowledged.clone());
        let bases: Vec<String> = (0..2).map(|i| fleet.url(i).to_string()).collect();
        let (numbers, failover) = (numbers.clone(), failover.clone());
        tokio::spawn(async move {
            let mut after_failover = 0;
            let mut promoted = false;
            for round in 0..200usize {
                let number = &numbers[round % numbers.len()];
                let base = &bases[round % 2];
                let before = sms.seen().len();
                let (status, started) =
                    fleet::sign_in(&client, base, "", json!({"phoneNumber": number})).await;
                if status != 202 {
                    continue; // 503 during the failover, 429 once a number's budget is spent
                }
                let code = sms.code_for(number, before).await;
                let (status, _) = fleet::sign_in(
                    &client,
                    &bases[(round + 1) % 2],
                    "/verify",
                    json!({"flowId": started["flowId"], "code": code}),
                )
                .await;
                if status == 200 {
                    acknowledged.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    if promoted {
                        after_failover += 1;
                    }
                }
                if round == 10 {
                    failover.notify_one();
                    promoted = true;
                }
                if after_failover >= 5 {
                    return after_failover;
                }
            }
            after_failover
        })
    };
    failover.notified().await;
    let acknowledged_before = acknowledged.load(std::sync::atomic::Ordering::SeqCst);
    pair.kill_primary();
    pair.promote_standby();
    let after = tokio::time::timeout(Duration::from_secs(120), run)
        .await
        .expect("the load run ends")
        .unwrap();
    assert!(
        after >= 5,
        "sign-ins resumed on the promoted standby: {after}"
    );
    assert!(acknowledged_before >= 1);
    // Every session acknowledged before the promotion is on the new primary.
    let sessions: usize = pair
        .standby
        .psql_db("textid", "SELECT count(*) FROM sessions")
        .parse()
        .unwrap();
    assert!(
        sessions >= acknowledged.load(std::sync::atomic::Ordering::SeqCst),
        "{sessions} sessions stored, {} acknowledged",
        acknowledged.load(std::sync::atomic::Ordering::SeqCst)
    );
}
