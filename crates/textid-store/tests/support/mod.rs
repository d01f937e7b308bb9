//! The PostgreSQL test harness shared by `tests/postgres*.rs`.
//!
//! Where: the server at `TEXTID_TEST_POSTGRES_URL` (default
//! `postgres://postgres@127.0.0.1:5432/postgres`). Unreachable, each test prints
//! `skipped: PostgreSQL not reachable at <url>: <reason>` and passes, unless
//! `TEXTID_REQUIRE_POSTGRES=1` (CI), where it fails.
//!
//! Databases: each test binary creates ONE database for its run, `textid_test_<uuid v7>`,
//! on first use (a `OnceCell`); every test then opens its own store(s) on it (a pool is
//! bound to its test's runtime) and works in tenants of its own. A test that needs an
//! empty database of its own (migrations, global outbox claims) gets another one the
//! same way.
//!
//! Cleaning up, in two layers:
//! 1. A janitor: the first database created starts a child process, this same test binary
//!    running only [`JANITOR_TEST`] with `TEXTID_TEST_JANITOR=1`. Each database created
//!    is written to the child's stdin; the child blocks reading it, and when the test
//!    binary exits (normally, on a panic or when killed) the pipe closes, and the child
//!    drops every database it was given (`DROP DATABASE ... WITH (FORCE)`).
//! 2. A sweep at the start of every run: databases named `textid_test_*` older than an
//!    hour (the time is in the UUID v7 of the name) with no connection are dropped, in
//!    case a janitor could not run (machine stopped, server down at the end).
//!
//! Identifiers cannot be bound parameters, so `CREATE/DROP DATABASE` are the only
//! formatted SQL: the name is checked against `textid_test_<32 hex digits>` first.

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

pub mod steps;

use std::io::{Read, Write};
use std::process::{ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, Once};
use std::time::Duration;

use textid_store::postgres::{PostgresOptions, PostgresStore};
use textid_store::Store;
use tokio::sync::OnceCell;

const DEFAULT_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const PREFIX: &str = "textid_test_";
const JANITOR_ENV: &str = "TEXTID_TEST_JANITOR";
/// The janitor's test name (the same in every binary that has `mod support;`).
pub const JANITOR_TEST: &str = "support::janitor_drops_this_runs_databases";

/// The server's URL.
pub fn admin_url() -> String {
    std::env::var("TEXTID_TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_URL.into())
}

fn required() -> bool {
    std::env::var("TEXTID_REQUIRE_POSTGRES").is_ok_and(|v| v == "1" || v == "true")
}

/// `url` with one more parameter (a URL's query, or a `key=value` string's last word;
/// the driver takes the last value of a key).
pub fn url_with(url: &str, key: &str, value: &str) -> String {
    if url.contains("://") {
        let sep = if url.contains('?') { '&' } else { '?' };
        format!("{url}{sep}{key}={value}")
    } else {
        format!("{url} {key}={value}")
    }
}

fn valid_name(name: &str) -> bool {
    name.strip_prefix(PREFIX)
        .is_some_and(|id| id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// A plain connection (its driver task spawned on the caller's runtime).
pub async fn raw(url: &str) -> Result<tokio_postgres::Client, String> {
    let mut config: tokio_postgres::Config = url.parse().map_err(|e| format!("{e}"))?;
    config.connect_timeout(Duration::from_secs(5));
    let (client, connection) = tokio::time::timeout(
        Duration::from_secs(10),
        config.connect(tokio_postgres::NoTls),
    )
    .await
    .map_err(|_| "no answer within 10 s".to_string())?
    .map_err(|e| match std::error::Error::source(&e) {
        Some(s) => format!("{e}: {s}"),
        None => e.to_string(),
    })?;
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

/// Drops the leftovers of earlier runs (older than an hour, unused).
async fn sweep(admin: &tokio_postgres::Client) {
    let Ok(rows) = admin
        .query(
            "SELECT d.datname FROM pg_database d WHERE d.datname LIKE 'textid\\_test\\_%'
               AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)",
            &[],
        )
        .await
    else {
        return;
    };
    // The database's clock, not this machine's (and no `SystemTime::now` in tests).
    let Ok(now) = admin
        .query_one("SELECT extract(epoch FROM now())::bigint", &[])
        .await
    else {
        return;
    };
    let now = u64::try_from(now.get::<_, i64>(0)).unwrap_or_default();
    let hour_ago = Duration::from_secs(now.saturating_sub(3600));
    for name in rows.iter().map(|r| r.get::<_, String>(0)) {
        let created = uuid::Uuid::parse_str(&name[PREFIX.len()..])
            .ok()
            .and_then(|u| u.get_timestamp())
            .map(|t| Duration::from_secs(t.to_unix().0));
        if valid_name(&name) && created.is_some_and(|c| c < hour_ago) {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\""))
                .await;
        }
    }
}

static JANITOR: Mutex<Option<ChildStdin>> = Mutex::new(None);

/// Hands `name` to the janitor, starting it first if needed.
fn drop_at_exit(name: &str) {
    let mut slot = JANITOR.lock().unwrap();
    if slot.is_none() {
        let child = Command::new(std::env::current_exe().unwrap())
            .args(["--exact", JANITOR_TEST, "--test-threads=1"])
            .env(JANITOR_ENV, "1")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        match child {
            // The child outlives this process by design: it is not waited for.
            Ok(mut child) => *slot = child.stdin.take(),
            Err(e) => eprintln!("janitor not started ({e}); the next run's sweep drops {name}"),
        }
    }
    if let Some(stdin) = slot.as_mut() {
        let _ = writeln!(stdin, "{name}").and_then(|()| stdin.flush());
    }
}

/// Creates a fresh database registered for dropping; its URL.
pub async fn new_database(admin: &tokio_postgres::Client) -> Result<String, String> {
    let name = format!("{PREFIX}{}", uuid::Uuid::now_v7().simple());
    assert!(valid_name(&name));
    admin
        .batch_execute(&format!("CREATE DATABASE \"{name}\""))
        .await
        .map_err(|e| format!("CREATE DATABASE: {e}"))?;
    drop_at_exit(&name);
    Ok(url_with(&admin_url(), "dbname", &name))
}

static RUN_DB: OnceCell<Result<String, String>> = OnceCell::const_new();

/// This run's database (created on first use), or why PostgreSQL is not reachable.
pub async fn run_database() -> Result<String, String> {
    RUN_DB
        .get_or_init(|| async {
            let admin = raw(&admin_url()).await?;
            sweep(&admin).await;
            new_database(&admin).await
        })
        .await
        .clone()
}

/// Another empty database of this run.
pub async fn extra_database() -> Result<String, String> {
    run_database().await?;
    let admin = raw(&admin_url()).await?;
    new_database(&admin).await
}

/// Says that a test is skipped, or fails it where PostgreSQL is required.
pub fn skip(reason: &str) {
    let line = format!(
        "skipped: PostgreSQL not reachable at {}: {reason}",
        admin_url()
    );
    assert!(
        !required(),
        "{line} (TEXTID_REQUIRE_POSTGRES=1 requires it)"
    );
    eprintln!("{line}");
    // Test output is captured; say it once where a person running the tests sees it.
    static SAID: Once = Once::new();
    SAID.call_once(|| {
        let _ = writeln!(std::io::stderr(), "{line}");
    });
}

/// A node (a store with its own pool) on `url`.
pub async fn node_on(url: &str) -> PostgresStore {
    PostgresStore::connect(url, PostgresOptions::default())
        .await
        .expect("the test database is reachable")
}

/// A node on this run's database; `None` (skipped) when PostgreSQL is not reachable.
pub async fn node() -> Option<PostgresStore> {
    match run_database().await {
        Ok(url) => Some(node_on(&url).await),
        Err(reason) => {
            skip(&reason);
            None
        }
    }
}

/// A node as the conformance suite takes it.
pub async fn fresh() -> Option<Arc<dyn Store>> {
    Some(Arc::new(node().await?))
}

/// Drops the databases named on stdin once stdin closes (the test binary exited). Run
/// only as the janitor child; in an ordinary run it does nothing.
#[test]
fn janitor_drops_this_runs_databases() {
    if std::env::var_os(JANITOR_ENV).is_none() {
        return;
    }
    let mut names = String::new();
    let _ = std::io::stdin().read_to_string(&mut names);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    runtime.block_on(async {
        let Ok(admin) = raw(&admin_url()).await else {
            return;
        };
        for name in names.lines().filter(|n| valid_name(n)) {
            let _ = admin
                .batch_execute(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                .await;
        }
    });
}
