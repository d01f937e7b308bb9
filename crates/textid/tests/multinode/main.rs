//! Process-level tests across several processes: real PostgreSQL servers (a fresh database
//! on the system server, private clusters, a primary with a synchronous standby), network
//! namespaces whose link a test can cut, and `textid serve` children reached through a
//! relay. `harness` is the toolkit; the tests here check the toolkit itself, independent of
//! textid's database backend.
//!
//! Run: `cargo test -p textid --test multinode`. A test whose machine lacks PostgreSQL,
//! root (for namespaces) or socat prints `SKIPPED <test>: <reason>` and passes, except under
//! CI, where it fails.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod carriers;
mod faults;
mod fleet;
mod harness;
mod nodes;

use std::io::Read as _;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::unix::process::ExitStatusExt as _;
use std::process::Command;
use std::time::{Duration, Instant};

use harness::{
    free_port, fresh_database, missing, must, psql, spawn_node, wait_until, Background, Need,
    NetNs, NodeOptions, NsRelay, PgCluster, PgClusterOptions, ReplicatedPair, VethLink, DEADLINE,
    STANDBY_NAME, SYSTEM_PG_HOST, SYSTEM_PG_PORT,
};

/// Everything `addr` sends before closing ("" when nothing answers).
fn read_all(addr: SocketAddr) -> String {
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_secs(2)) else {
        return String::new();
    };
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut out = String::new();
    let _ = stream.read_to_string(&mut out);
    out
}

#[test]
fn a_fresh_database_exists_until_its_handle_is_dropped_even_with_a_session_open() {
    if missing(&[Need::SystemPostgres]) {
        return;
    }
    let admin = format!("postgres://postgres@{SYSTEM_PG_HOST}:{SYSTEM_PG_PORT}/postgres");
    let exists = |name: &str| {
        psql(
            &admin,
            &format!("SELECT count(*) FROM pg_database WHERE datname = '{name}'"),
        )
        .unwrap()
            == "1"
    };
    let db = fresh_database();
    let name = db.name().to_string();
    assert!(
        name.starts_with("textid_test_") && name.len() == 12 + 32,
        "{name}"
    );
    assert_eq!(
        db.url(),
        format!("postgres://postgres@127.0.0.1:5432/{name}")
    );
    assert_eq!(psql(db.url(), "SELECT current_database()").unwrap(), name);
    assert!(exists(&name));
    let dir = tempfile::tempdir().unwrap();
    let mut session = Command::new("psql");
    session.args(["-X", "-d", db.url(), "-c", "SELECT pg_sleep(600)"]);
    let _session = Background::spawn(session, &dir.path().join("session.log"));
    let active = format!("SELECT count(*) FROM pg_stat_activity WHERE datname = '{name}'");
    wait_until("the open session", DEADLINE, || {
        psql(&admin, &active).unwrap() == "1"
    });

    drop(db);
    assert!(
        !exists(&name),
        "dropped WITH (FORCE) despite the open session"
    );
}

#[test]
fn a_standby_promoted_after_the_primary_crashes_has_every_committed_row_and_accepts_writes() {
    if missing(&[Need::PostgresServer]) {
        return;
    }
    let pair = ReplicatedPair::new();
    let (primary, standby) = (&pair.primary, &pair.standby);
    assert_eq!(primary.psql("SHOW synchronous_standby_names"), STANDBY_NAME);
    assert_eq!(primary.psql("SHOW synchronous_commit"), "on");
    assert!(standby.is_in_recovery());
    assert_ne!(primary.port(), standby.port());

    primary.psql("CREATE TABLE t (id int PRIMARY KEY, note text NOT NULL)");
    primary.psql("INSERT INTO t VALUES (1, 'replicated')");
    // A synchronous commit is flushed on the standby; replay follows a moment later.
    wait_until("row 1 on the standby", DEADLINE, || {
        standby
            .try_psql("postgres", "SELECT note FROM t WHERE id = 1")
            .is_ok_and(|n| n == "replicated")
    });
    let refused = standby
        .try_psql("postgres", "INSERT INTO t VALUES (9, 'on a standby')")
        .unwrap_err();
    assert!(refused.contains("read-only transaction"), "{refused}");

    primary.psql("INSERT INTO t VALUES (2, 'acknowledged just before the crash')");
    pair.kill_primary(); // no shutdown checkpoint, no last WAL shipped: only sync rep saves row 2
    pair.promote_standby();

    assert!(!standby.is_in_recovery());
    assert_eq!(
        standby.psql("SELECT string_agg(id::text, ',' ORDER BY id) FROM t"),
        "1,2"
    );
    standby.psql("INSERT INTO t VALUES (3, 'written on the promoted standby')");
    assert_eq!(standby.psql("SELECT count(*) FROM t"), "3");
}

#[test]
fn a_multi_host_read_write_url_reaches_the_primary_and_after_failover_the_promoted_standby() {
    if missing(&[Need::PostgresServer]) {
        return;
    }
    let pair = ReplicatedPair::new();
    let url = format!("{}&connect_timeout=2", pair.multi_host_url("postgres"));
    assert_eq!(
        url,
        format!(
            "postgres://postgres@127.0.0.1:{},127.0.0.1:{}/postgres?target_session_attrs=read-write&connect_timeout=2",
            pair.primary.port(),
            pair.standby.port()
        )
    );
    let conninfo = format!("{} connect_timeout=2", pair.multi_host_conninfo("postgres"));
    let primary_port = pair.primary.port().to_string();
    assert_eq!(psql(&url, "SHOW port").unwrap(), primary_port);
    assert_eq!(psql(&conninfo, "SHOW port").unwrap(), primary_port);

    pair.stop_primary();
    // Refused by the first host, read-only on the second: no host qualifies.
    let none = psql(&url, "SHOW port").unwrap_err();
    assert!(none.contains("read-only"), "{none}");

    pair.promote_standby();
    let standby_port = pair.standby.port().to_string();
    assert_eq!(psql(&url, "SHOW port").unwrap(), standby_port);
    assert_eq!(psql(&conninfo, "SHOW port").unwrap(), standby_port);
}

#[test]
fn a_cluster_in_one_namespace_is_reachable_from_another_until_the_link_is_cut() {
    if missing(&[Need::NetworkNamespaces, Need::PostgresServer]) {
        return;
    }
    let db = NetNs::new("db");
    let node = NetNs::new("node");
    let link = VethLink::new(&db, &node);
    let db_addr = link.addr_in(&db);
    let cluster = PgCluster::with_options(PgClusterOptions::in_netns(&db, db_addr));
    assert_eq!(cluster.netns(), Some(db.name()));
    // The link's addresses exist only inside the namespaces.
    let root_addresses = must(Command::new(harness::program("ip").unwrap()).args(["-o", "addr"]));
    assert!(
        !root_addresses.contains(&db_addr.to_string()),
        "{root_addresses}"
    );
    assert!(
        !root_addresses.contains(&link.peer_of(&db).to_string()),
        "{root_addresses}"
    );

    let url = format!("{}?connect_timeout=2", cluster.url("postgres"));
    let server_addr = "SELECT host(inet_server_addr())";
    assert_eq!(node.psql(&url, server_addr).unwrap(), db_addr.to_string());

    link.cut();
    let started = Instant::now();
    let cut = node.psql(&url, "SELECT 1").unwrap_err();
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    assert!(
        cut.contains("unreachable") || cut.contains("timeout"),
        "{cut}"
    );
    // The server itself is fine: its Unix socket does not cross the link.
    assert_eq!(cluster.psql("SELECT 1"), "1");

    link.restore();
    assert_eq!(node.psql(&url, server_addr).unwrap(), db_addr.to_string());
}

#[test]
fn a_tcp_server_inside_a_namespace_answers_through_the_relay_also_while_its_link_is_cut() {
    if missing(&[Need::NetworkNamespaces, Need::Socat]) {
        return;
    }
    let ns = NetNs::new("node");
    let db = NetNs::new("db");
    let link = VethLink::new(&ns, &db);
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    // Answers each connection with the name of the namespace it runs in.
    let _server = ns.spawn(
        &[
            "socat",
            &format!("TCP-LISTEN:{port},bind=127.0.0.1,reuseaddr,fork"),
            "SYSTEM:ip netns identify",
        ],
        &dir.path().join("server.log"),
    );
    let relay = NsRelay::start(&ns, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    assert!(relay.url().starts_with("http://127.0.0.1:"));

    let mut answer = String::new();
    wait_until("an answer through the relay", DEADLINE, || {
        answer = read_all(relay.addr());
        !answer.is_empty()
    });
    assert_eq!(answer.trim(), ns.name());
    // The relay crosses no veth: the node stays reachable while it loses its database.
    link.cut();
    assert_eq!(read_all(relay.addr()).trim(), ns.name());
    let direct = read_all(SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    assert_ne!(
        direct.trim(),
        ns.name(),
        "the server is not in the test's namespace"
    );
}

#[tokio::test]
async fn a_node_inside_a_namespace_answers_through_the_relay_and_exits_cleanly_on_sigterm() {
    if missing(&[Need::NetworkNamespaces, Need::Socat]) {
        return;
    }
    let ns = NetNs::new("node");
    let mut node = spawn_node(NodeOptions::new().in_netns(&ns)).await;
    assert!(
        ns.pids().contains(&node.pid()),
        "the node runs inside {}",
        ns.name()
    );
    assert!(
        node.url().starts_with("http://127.0.0.1:"),
        "{}",
        node.url()
    );

    let health = reqwest::get(format!("{}/health", node.url()))
        .await
        .unwrap();
    assert_eq!(health.status(), 200);
    assert_eq!(health.text().await.unwrap(), "ok");

    let status = node.terminate().await;
    assert!(status.success(), "{status:?}\n{}", node.stderr());
    assert!(
        node.stdout().contains("textid stopped"),
        "{}",
        node.stdout()
    );
}

#[tokio::test]
async fn a_node_killed_with_sigkill_starts_again_on_the_same_data_directory() {
    let data = tempfile::tempdir().unwrap();
    let mut node = spawn_node(NodeOptions::new().data_dir(data.path())).await;
    node.wait_healthy().await;
    let status = node.kill().await;
    assert_eq!(status.signal(), Some(9), "{status:?}");

    let again = spawn_node(NodeOptions::new().data_dir(data.path())).await;
    assert_eq!(again.data_dir(), data.path());
    again.wait_healthy().await;
}
