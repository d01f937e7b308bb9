//! Runs the conformance suite, unchanged, on PostgreSQL (one database for the run, a new
//! store per case; see `support` for where, skipping and cleaning up), plus what is
//! particular to this backend on one node: constraint names, lost connections, and an
//! unreachable server.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod support;

use std::time::{Duration, Instant};

use chrono::{TimeZone, Utc};
use textid_core::directory::{Group, Upn, User};
use textid_core::{GroupId, UserId};
use textid_store::postgres::{PostgresOptions, PostgresStore};
use textid_store::prelude::*;
use textid_store::{Actor, ClientRecord, StoreError};

textid_store::conformance_tests!(match support::fresh().await {
    Some(store) => store,
    None => return,
});

fn now() -> chrono::DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 3, 1, 12, 0, 0).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_named_after_their_table_conflict_under_the_interface_names() {
    let Some(s) = support::node().await else {
        return;
    };
    let t = s
        .ensure_tenant(&format!("t{}", uuid::Uuid::new_v4().simple()), now())
        .await
        .unwrap();
    let u = User {
        id: UserId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        upn: Upn::parse("ana@contoso.example").unwrap(),
        display_name: "Ana".into(),
        account_enabled: true,
        mobile_phone: None,
        business_phones: vec!["+14255550100".into()],
        on_premises_sync_enabled: false,
        profile: Default::default(),
    };
    s.create_user(&u, &Actor::cli(), now()).await.unwrap();
    assert_eq!(s.user(t.id, u.id).await.unwrap(), Some(u.clone()));
    let g = Group {
        id: GroupId(uuid::Uuid::new_v4()),
        tenant_id: t.id,
        display_name: "Frontline".into(),
        profile: Default::default(),
    };
    s.create_group(&g, &Actor::cli(), now()).await.unwrap();
    s.add_member(t.id, g.id, u.id, &Actor::cli(), now())
        .await
        .unwrap();
    match s.add_member(t.id, g.id, u.id, &Actor::cli(), now()).await {
        Err(StoreError::Conflict(c)) => assert_eq!(c, "group_members"),
        other => panic!("{other:?}"),
    }
    let client = ClientRecord {
        tenant_id: t.id,
        client_id: "app".into(),
        document: serde_json::json!({"redirect_uris": ["https://app.example/cb"]}),
        secret_hash: None,
        previous_secret_hash: None,
        previous_secret_expires_at: None,
    };
    s.create_client(&client, now()).await.unwrap();
    match s.create_client(&client, now()).await {
        Err(StoreError::Conflict(c)) => assert_eq!(c, "oauth_clients"),
        other => panic!("{other:?}"),
    }
    assert_eq!(s.client(t.id, "app").await.unwrap(), Some(client));
    // Missing rows are NotFound, not a foreign-key error.
    let ghost = UserId(uuid::Uuid::new_v4());
    assert!(matches!(
        s.add_member(t.id, g.id, ghost, &Actor::cli(), now()).await,
        Err(StoreError::NotFound("user"))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn terminated_connections_are_replaced_without_an_error() {
    let url = match support::run_database().await {
        Ok(url) => url,
        Err(reason) => return support::skip(&reason),
    };
    let name = format!("textid-test-{}", uuid::Uuid::new_v4().simple());
    let s = support::node_on(&support::url_with(&url, "application_name", &name)).await;
    let tenant = format!("t{}", uuid::Uuid::new_v4().simple());
    s.ensure_tenant(&tenant, now()).await.unwrap();
    s.ping().await.unwrap();
    let admin = support::raw(&url).await.unwrap();
    let killed = admin
        .query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
            &[&name],
        )
        .await
        .unwrap();
    assert!(!killed.is_empty(), "the node had connections to terminate");
    // Reads and writes go on, on new connections.
    let t = s.tenant_by_name(&tenant).await.unwrap().unwrap();
    s.set_tenant_region(t.id, Some("US"), &Actor::cli(), now())
        .await
        .unwrap();
    assert_eq!(
        s.tenant_by_id(t.id).await.unwrap().unwrap().default_region,
        Some("US".into())
    );
    s.ping().await.unwrap();
    let db_now = s.database_time().await.unwrap().unwrap();
    assert!(db_now.timestamp() > 1_700_000_000);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_database_is_an_error_not_a_hang() {
    let options = PostgresOptions {
        connect_timeout: Duration::from_millis(500),
        ..PostgresOptions::default()
    };
    // Refused at once (nothing listens on port 1).
    let started = Instant::now();
    let refused =
        PostgresStore::connect("postgres://postgres@127.0.0.1:1/x", options.clone()).await;
    assert!(
        matches!(refused, Err(StoreError::Unavailable(_))),
        "{refused:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    // A server that accepts connections and never answers.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let silent = tokio::spawn(async move {
        let mut held = Vec::new();
        while let Ok((socket, _)) = listener.accept().await {
            held.push(socket);
        }
    });
    let started = Instant::now();
    let url = format!("postgres://postgres@127.0.0.1:{port}/x");
    let outcome = tokio::time::timeout(
        Duration::from_secs(10),
        PostgresStore::connect(&url, options),
    )
    .await
    .expect("an error, not a hang");
    assert!(
        matches!(outcome, Err(StoreError::Unavailable(_))),
        "{outcome:?}"
    );
    assert!(started.elapsed() < Duration::from_secs(5));
    silent.abort();
}
