//! Bounded resources (issue #14 §5): one slow or idle client never holds the server (a
//! half-sent head is cut at the header timeout, a body that never completes gets 408, an
//! idle keep-alive connection is closed), 1,100 idle sockets do not take it down, a
//! shutdown finishes within its deadline whatever a client holds, and anonymous traffic
//! leaves no rows behind once the purge has run.
//!
//! The HTTP timeouts are real time (the server's sockets, not the manual clock): each test
//! sets them to a second and waits for the server's own event (a closed socket, an
//! answer, the end of `serve`), bounded so that a failure cannot hang.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use textid_server::HttpLimits;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{spawn_app, spawn_app_with, TestApp};

/// Bounds a wait for the server's event; the event, not this, ends a passing test.
const BOUND: Duration = Duration::from_secs(30);

fn quick(limits: &mut HttpLimits) {
    limits.header_read_timeout = Duration::from_secs(1);
    limits.body_read_timeout = Duration::from_secs(1);
    limits.idle_timeout = Duration::from_secs(1);
    limits.shutdown_deadline = Duration::from_secs(1);
}

fn addr(t: &TestApp) -> String {
    t.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection; returns what it sent.
async fn read_to_close(s: &mut TcpStream) -> String {
    let mut all = Vec::new();
    tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => all.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await
    .expect("the server closes the connection");
    String::from_utf8_lossy(&all).into_owned()
}

const START: &str = "/default/api/v1/sign-in/sms";

#[tokio::test]
async fn a_half_sent_request_head_is_cut_off_at_the_header_timeout() {
    let t = spawn_app_with(|c| quick(&mut c.http)).await;
    let mut s = TcpStream::connect(addr(&t)).await.unwrap();
    s.write_all(format!("POST {START} HTTP/1.1\r\nHost: x\r\nContent-Type: app").as_bytes())
        .await
        .unwrap();
    let answered = read_to_close(&mut s).await;
    assert!(!answered.contains("202"), "{answered}");
    // A connection that never sends a byte is cut the same way.
    let mut silent = TcpStream::connect(addr(&t)).await.unwrap();
    assert_eq!(read_to_close(&mut silent).await, "");
    // The server still serves.
    assert_eq!(t.start("+14255550101").await.status(), 202);
}

#[tokio::test]
async fn a_body_that_never_completes_gets_408_and_changes_nothing() {
    let t = spawn_app_with(|c| quick(&mut c.http)).await;
    let mut s = TcpStream::connect(addr(&t)).await.unwrap();
    let body = json!({"phoneNumber": "+14255550101"}).to_string();
    s.write_all(
        format!(
            "POST {START} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            body.len() + 10,
            &body[..5]
        )
        .as_bytes(),
    )
    .await
    .unwrap();
    let answered = read_to_close(&mut s).await;
    assert!(answered.starts_with("HTTP/1.1 408"), "{answered}");
    assert!(answered.contains("requestTimeout"), "{answered}");
    assert!(
        answered
            .to_ascii_lowercase()
            .contains("x-content-type-options: nosniff"),
        "{answered}"
    );
    assert!(t.sign_in_logs().await.is_empty(), "nothing was started");
}

/// A header timeout far beyond [`BOUND`]: a close seen within the bound cannot be its.
const LONG: Duration = Duration::from_secs(600);

fn idle_only(c: &mut textid_server::AppConfig) {
    c.http.header_read_timeout = LONG;
    c.http.body_read_timeout = LONG;
    c.http.idle_timeout = Duration::from_secs(1);
}

/// Sends one keep-alive request and reads its whole answer (a `Content-Length` body),
/// leaving the connection open.
async fn round_trip(s: &mut TcpStream, path: &str) -> String {
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes())
        .await
        .unwrap();
    let mut all = Vec::new();
    tokio::time::timeout(BOUND, async {
        let mut buf = [0u8; 4096];
        loop {
            let n = s.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed before the answer");
            all.extend_from_slice(&buf[..n]);
            let text = String::from_utf8_lossy(&all).to_ascii_lowercase();
            if let Some((head, body)) = text.split_once("\r\n\r\n") {
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length: "))
                    .map_or(0, |v| v.trim().parse().unwrap());
                if body.len() >= length {
                    break;
                }
            }
        }
    })
    .await
    .expect("answered");
    String::from_utf8_lossy(&all).into_owned()
}

#[tokio::test]
async fn an_idle_keep_alive_connection_is_closed_by_the_idle_timeout_not_the_header_timeout() {
    let t = spawn_app_with(idle_only).await;
    // A connection that has sent nothing yet is a slow head: the (long) header timeout
    // is its bound, not the idle one.
    let mut silent = TcpStream::connect(addr(&t)).await.unwrap();
    let mut s = TcpStream::connect(addr(&t)).await.unwrap();
    let answered = round_trip(&mut s, "/healthz").await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
    let idle_from = std::time::Instant::now();
    // Then the connection waits for a next request until the idle timeout closes it.
    assert_eq!(read_to_close(&mut s).await, "");
    let waited = idle_from.elapsed();
    assert!(waited < BOUND, "closed after {waited:?}");
    assert!(waited < LONG, "before the header timeout could fire");
    assert!(
        waited >= Duration::from_millis(900),
        "not before the idle timeout: {waited:?}"
    );
    // The silent connection outlived the idle timeout, and is served.
    let answered = round_trip(&mut silent, "/healthz").await;
    assert!(answered.starts_with("HTTP/1.1 200"), "{answered}");
}

fn two_connections(c: &mut textid_server::AppConfig) {
    c.http.header_read_timeout = LONG;
    c.http.body_read_timeout = LONG;
    c.http.idle_timeout = LONG;
    c.http.max_connections = 2;
}

#[tokio::test]
async fn beyond_the_connection_cap_a_client_waits_until_a_connection_is_released() {
    let t = spawn_app_with(two_connections).await;
    let mut first = TcpStream::connect(addr(&t)).await.unwrap();
    let mut second = TcpStream::connect(addr(&t)).await.unwrap();
    round_trip(&mut first, "/healthz").await;
    round_trip(&mut second, "/healthz").await;
    // The third connects (the kernel's backlog) and asks; the server does not take it.
    let mut third = TcpStream::connect(addr(&t)).await.unwrap();
    third
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    // While the server keeps answering the two it holds, the third gets nothing.
    for _ in 0..20 {
        round_trip(&mut first, "/healthz").await;
        round_trip(&mut second, "/healthz").await;
    }
    let mut buf = [0u8; 64];
    let pending = third.try_read(&mut buf);
    assert!(
        matches!(&pending, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the third connection was served: {pending:?}"
    );
    // One released: the third is served.
    drop(first);
    let mut answer = Vec::new();
    tokio::time::timeout(BOUND, async {
        while !String::from_utf8_lossy(&answer).contains("\r\n\r\n") {
            let n = third.read(&mut buf).await.unwrap();
            assert!(n > 0, "closed unanswered");
            answer.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("served once a connection is released");
    assert!(answer.starts_with(b"HTTP/1.1 200"));
}

#[tokio::test]
async fn eleven_hundred_idle_sockets_do_not_take_the_server_down() {
    let t = spawn_app_with(|c| {
        quick(&mut c.http);
        c.http.max_connections = 256;
    })
    .await;
    let mut idle = Vec::new();
    for _ in 0..1100 {
        // Beyond the cap and the listen backlog a connect may wait; it is not needed.
        if let Ok(Ok(s)) =
            tokio::time::timeout(Duration::from_millis(200), TcpStream::connect(addr(&t))).await
        {
            idle.push(s);
        }
    }
    assert!(idle.len() > 1000, "{} sockets connected", idle.len());
    // A real client is served: the idle sockets are cut at the header timeout and the
    // cap keeps the server's descriptors bounded meanwhile.
    let res = tokio::time::timeout(BOUND, t.start("+14255550101"))
        .await
        .expect("served while 1,100 sockets sit idle");
    assert_eq!(res.status(), 202);
    // Every idle socket is closed by the server, none left hanging.
    let closed = tokio::time::timeout(BOUND * 2, async {
        for s in &mut idle {
            let mut buf = [0u8; 16];
            let _ = s.read(&mut buf).await;
        }
    })
    .await;
    assert!(closed.is_ok(), "every idle socket was closed");
}

#[tokio::test]
async fn shutdown_finishes_a_request_under_way_and_exits_at_the_deadline_despite_a_half_sent_one() {
    let t = spawn_app().await;
    // A second server on the same app, which this test shuts down.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = t.app.clone();
    let serving = tokio::spawn(async move {
        let limits = HttpLimits {
            shutdown_deadline: Duration::from_secs(1),
            ..HttpLimits::default()
        };
        // What `App::serve` runs, with this test's own shutdown signal.
        let service = tower::ServiceExt::<axum::extract::Request>::map_request(
            app.router(),
            textid_server::graph::normalize_path::<axum::body::Body>,
        );
        textid_server::http::serve(listener, service, limits, async {
            let _ = stopped.await;
        })
        .await
    });
    // A request under way: its head is in, its body is not complete yet.
    let body = json!({"phoneNumber": "+14255550101"}).to_string();
    let mut under_way = TcpStream::connect(addr).await.unwrap();
    under_way
        .write_all(
            format!(
                "POST {START} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
                body.len(),
                &body[..5]
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    // A client that holds half a head.
    let mut half = TcpStream::connect(addr).await.unwrap();
    half.write_all(format!("POST {START} HTTP/1.1\r\nHo").as_bytes())
        .await
        .unwrap();
    // Both connections are accepted before the signal (the server answers another
    // request on a third one first, in order).
    let mut probe = TcpStream::connect(addr).await.unwrap();
    probe
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .await
        .unwrap();
    read_to_close(&mut probe).await;

    let started = std::time::Instant::now();
    stop.send(()).unwrap();
    // The request under way may finish.
    under_way.write_all(&body.as_bytes()[5..]).await.unwrap();
    let answered = read_to_close(&mut under_way).await;
    assert!(answered.starts_with("HTTP/1.1 202"), "{answered}");
    // `serve` returns at the deadline, although a client still holds half a head.
    let result = tokio::time::timeout(BOUND, serving)
        .await
        .expect("serve returns after the deadline");
    result.unwrap().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(read_to_close(&mut half).await, "");
    // And no longer accepts.
    assert!(TcpStream::connect(addr).await.is_err());
}

/// Rows of every table the purge keeps bounded, read from the database file itself.
fn counts(t: &TestApp) -> Vec<(&'static str, i64)> {
    let db = rusqlite::Connection::open(t._dir.path().join("textid.db")).unwrap();
    [
        "sms_sign_in_flows",
        "phone_counters",
        "outbox",
        "sessions",
        "auth_requests",
        "oauth_codes",
        "refresh_tokens",
        "issued_access_tokens",
        "revoked_access_tokens",
        "revoked_families",
        "send_counters",
        "send_pauses",
        "client_counters",
        "sign_in_logs",
        "directory_audits",
    ]
    .into_iter()
    .map(|table| {
        let n = db
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| r.get(0))
            .unwrap();
        (table, n)
    })
    .collect()
}

#[tokio::test]
async fn five_thousand_anonymous_starts_leave_the_row_counts_at_baseline_after_the_purge() {
    // One test client speaks for 5,000 anonymous ones: its IP budget is raised (the other
    // budgets answer 202 and count rows like any start).
    let t = Arc::new(spawn_app_with(|c| c.limits.abuse.ip.limit = 1_000_000).await);
    // The baseline: what setting up left, once it has aged past every retention.
    t.advance(chrono::Duration::days(31));
    t.app.purge().await.unwrap();
    let baseline = counts(&t);
    let mut tasks = Vec::new();
    for worker in 0..8u32 {
        let t = t.clone();
        tasks.push(tokio::spawn(async move {
            for i in (worker..5000).step_by(8) {
                // Unknown numbers: no SMS, but a flow, a counter and a log line each.
                let res = t.start(&format!("+1425{:07}", 5_550_000 + i)).await;
                assert_eq!(res.status(), 202);
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let grown = counts(&t);
    let flows = grown
        .iter()
        .find(|(n, _)| *n == "sms_sign_in_flows")
        .unwrap()
        .1;
    assert!(flows >= 5000, "{grown:?}");
    // Nothing has ended yet: a purge now keeps everything.
    t.app.purge().await.unwrap();
    assert_eq!(counts(&t), grown);
    // Past the flows' and windows' ends and the log retention (30 days).
    t.advance(chrono::Duration::days(31));
    let purged = t.app.purge().await.unwrap();
    assert!(
        purged.expired >= 10_000 && purged.logs >= 5000,
        "{purged:?}"
    );
    assert_eq!(counts(&t), baseline);
}

#[tokio::test]
async fn the_purge_keeps_the_logs_for_their_retention() {
    let t = spawn_app().await;
    t.start("+14255550101").await;
    t.advance(chrono::Duration::days(29));
    t.app.purge().await.unwrap();
    assert_eq!(t.sign_in_logs().await.len(), 1, "kept for 30 days");
    t.advance(chrono::Duration::days(2));
    t.app.purge().await.unwrap();
    assert!(t.sign_in_logs().await.is_empty());
}

#[tokio::test]
async fn the_purge_job_runs_in_the_background_of_the_server() {
    let t = spawn_app_with(|c| c.retention.purge_every = Some(Duration::from_millis(20))).await;
    assert_eq!(t.start("+14255550101").await.status(), 202);
    t.advance(chrono::Duration::days(31));
    // Waits for the job's effect (bounded, so a failure cannot hang).
    let emptied = tokio::time::timeout(BOUND, async {
        while !t.sign_in_logs().await.is_empty() {
            tokio::task::yield_now().await;
        }
    })
    .await;
    assert!(emptied.is_ok(), "the job purged the old log");
    let left = counts(&t);
    assert!(
        left.iter()
            .all(|(table, n)| *n == 0 || *table == "directory_audits"),
        "{left:?}"
    );
}
