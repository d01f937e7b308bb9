//! Prometheus metrics at `/metrics` (issue #14 §8): every series of the README's list,
//! raised by the real server over loopback HTTP and read back by parsing the
//! exposition text (OpenMetrics), never by matching substrings.

use std::collections::BTreeMap;

use chrono::Duration;
use serde_json::json;
use tokio::net::TcpListener;

use crate::helpers::{
    behind_loopback_proxy, expect_error, flow_id, spawn_app, spawn_app_with, wrong, TestApp,
};

/// One parsed exposition: (metric name, labels) → value.
#[derive(Debug)]
struct Samples(BTreeMap<(String, BTreeMap<String, String>), f64>);

impl Samples {
    /// Parses the text format: `# ...` lines are metadata; every other line is
    /// `name{label="value",...} value` or `name value`. Panics on anything else.
    fn parse(text: &str) -> Self {
        assert_eq!(text.lines().last(), Some("# EOF"), "{text}");
        let mut out = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let (series, value) = line.rsplit_once(' ').expect("a sample has a value");
            let value: f64 = value.parse().unwrap_or_else(|_| panic!("value in {line}"));
            let (name, labels) = match series.split_once('{') {
                None => (series, BTreeMap::new()),
                Some((name, rest)) => (
                    name,
                    labels(rest.strip_suffix('}').expect("labels end with }")),
                ),
            };
            let fresh = out.insert((name.to_string(), labels), value).is_none();
            assert!(fresh, "a series appears once: {line}");
        }
        Self(out)
    }

    /// The value of a series; 0 when it is absent (a counter not yet raised).
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        let labels = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        self.0
            .get(&(name.to_string(), labels))
            .copied()
            .unwrap_or(0.0)
    }

    /// Every label value of every series.
    fn label_values(&self) -> impl Iterator<Item = &str> {
        self.0
            .keys()
            .flat_map(|(_, labels)| labels.values().map(String::as_str))
    }

    /// The series of `name`, by their labels.
    fn series(&self, name: &str) -> Vec<&BTreeMap<String, String>> {
        self.0
            .keys()
            .filter(|(n, _)| n == name)
            .map(|(_, l)| l)
            .collect()
    }
}

/// `k="v",k2="v2"`, with `\"`, `\\` and `\n` escapes in values.
fn labels(mut rest: &str) -> BTreeMap<String, String> {
    let mut out = BTreeMap::new();
    while !rest.is_empty() {
        let (key, after) = rest.split_once("=\"").expect("label=\"value\"");
        let mut value = String::new();
        let mut chars = after.char_indices();
        let end = loop {
            match chars.next().expect("a label value ends with a quote") {
                (_, '\\') => match chars.next().expect("an escape has a character") {
                    (_, 'n') => value.push('\n'),
                    (_, c) => value.push(c),
                },
                (i, '"') => break i,
                (_, c) => value.push(c),
            }
        };
        out.insert(key.to_string(), value);
        rest = after[end + 1..].trim_start_matches(',');
    }
    out
}

async fn scrape_at(t: &TestApp, base: &str) -> Samples {
    let r = t.http.get(format!("{base}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text; version=1.0.0"),
        "{content_type}"
    );
    Samples::parse(&r.text().await.unwrap())
}

async fn scrape(t: &TestApp) -> Samples {
    scrape_at(t, &t.base).await
}

const ANA: &str = "+14255550101";
const US: (&str, &str) = ("country", "US");

#[tokio::test]
async fn a_sign_in_counts_a_code_requested_sent_and_verified_by_country_never_by_number() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let before = scrape(&t).await;
    assert_eq!(before.get("textid_sms_codes_requested_total", &[US]), 1.0);
    assert_eq!(before.get("textid_sms_codes_sent_total", &[US]), 0.0);
    let code = t.last_code().await;
    let ok = t.verify(&flow, &code).await;
    assert_eq!(ok.status(), 200);
    let m = scrape(&t).await;
    assert_eq!(m.get("textid_sms_codes_requested_total", &[US]), 1.0);
    assert_eq!(m.get("textid_sms_codes_sent_total", &[US]), 1.0);
    assert_eq!(m.get("textid_sms_codes_verified_total", &[US]), 1.0);
    assert!(m.series("textid_sms_codes_failed_total").is_empty());
    assert!(m.series("textid_sms_codes_refused_total").is_empty());
    for value in m.label_values() {
        assert!(!value.contains("5550101"), "a number in a label: {value}");
    }
}

#[tokio::test]
async fn a_wrong_code_counts_as_failed_with_its_reason() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    let code = t.last_code().await;
    expect_error(t.verify(&flow, &wrong(&code)).await, 400, "invalidCode").await;
    let m = scrape(&t).await;
    let invalid = [US, ("reason", "invalidCode")];
    assert_eq!(m.get("textid_sms_codes_failed_total", &invalid), 1.0);
    assert_eq!(m.get("textid_sms_codes_verified_total", &[US]), 0.0);
    assert_eq!(t.verify(&flow, &code).await.status(), 200);
    let m = scrape(&t).await;
    assert_eq!(m.get("textid_sms_codes_failed_total", &invalid), 1.0);
    assert_eq!(m.get("textid_sms_codes_verified_total", &[US]), 1.0);
}

fn three_per_prefix(c: &mut textid_server::AppConfig) {
    c.limits.abuse.prefix.limit = 3;
}

#[tokio::test]
async fn a_burst_beyond_the_prefix_budget_counts_refusals_by_reason() {
    let mut t = spawn_app_with(three_per_prefix).await;
    let numbers: Vec<String> = (0..5).map(|i| format!("+142555502{i:02}")).collect();
    for (i, n) in numbers.iter().enumerate() {
        t.user_with_mobile(&format!("u{i}@contoso.example"), n)
            .await;
    }
    for n in &numbers {
        // Withheld codes are answered like sent ones (DESIGN.md §3).
        t.start_flow(n).await;
    }
    assert_eq!(t.deliver().await.len(), 3);
    let m = scrape(&t).await;
    assert_eq!(m.get("textid_sms_codes_requested_total", &[US]), 5.0);
    assert_eq!(m.get("textid_sms_codes_sent_total", &[US]), 3.0);
    let refused = [US, ("reason", "prefixBudgetExceeded")];
    assert_eq!(m.get("textid_sms_codes_refused_total", &refused), 2.0);
    assert_eq!(m.series("textid_sms_codes_refused_total").len(), 1);
}

#[tokio::test]
async fn a_resend_counts_as_requested_and_one_too_soon_as_refused() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    let flow = t.start_flow(ANA).await;
    t.last_code().await;
    let early = t.resend(&flow).await;
    assert_eq!(early.status(), 429);
    t.advance(Duration::seconds(31));
    assert_eq!(t.resend(&flow).await.status(), 202);
    let m = scrape(&t).await;
    assert_eq!(m.get("textid_sms_codes_requested_total", &[US]), 3.0);
    let too_soon = [US, ("reason", "tooManyRequests")];
    assert_eq!(m.get("textid_sms_codes_refused_total", &too_soon), 1.0);
}

#[tokio::test]
async fn provider_errors_count_by_kind_and_the_outbox_shows_what_waits() {
    let mut t = spawn_app().await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    t.user_with_mobile("bo@contoso.example", "+358401234567")
        .await;
    let empty = scrape(&t).await;
    assert_eq!(empty.get("textid_outbox_depth", &[]), 0.0);
    assert_eq!(empty.get("textid_outbox_oldest_age_seconds", &[]), 0.0);
    t.start_flow(ANA).await;
    t.advance(Duration::seconds(5));
    t.start_flow("+358401234567").await;
    t.advance(Duration::seconds(40));
    let queued = scrape(&t).await;
    assert_eq!(queued.get("textid_outbox_depth", &[]), 2.0);
    assert_eq!(queued.get("textid_outbox_oldest_age_seconds", &[]), 45.0);

    // The first answer is 503 (retried later), the second 400 (given up).
    t.sms.answer_next(&[503, 400]);
    assert_eq!(t.deliver().await.len(), 2);
    let m = scrape(&t).await;
    let errors = |kind| {
        m.get(
            "textid_sms_provider_errors_total",
            &[("provider", "webhook"), ("kind", kind)],
        )
    };
    assert_eq!((errors("transient"), errors("permanent")), (1.0, 1.0));
    assert_eq!(m.get("textid_outbox_depth", &[]), 1.0, "the retry waits");
    assert!(m.series("textid_sms_codes_sent_total").is_empty());

    t.advance(Duration::seconds(120));
    assert_eq!(t.deliver().await.len(), 1);
    let m = scrape(&t).await;
    assert_eq!(m.get("textid_outbox_depth", &[]), 0.0);
    assert_eq!(m.get("textid_outbox_oldest_age_seconds", &[]), 0.0);
    let sent = m.get("textid_sms_codes_sent_total", &[US])
        + m.get("textid_sms_codes_sent_total", &[("country", "FI")]);
    assert_eq!(sent, 1.0);
}

#[tokio::test]
async fn request_latency_is_labelled_by_route_template_never_by_the_raw_path() {
    let t = spawn_app().await;
    let secret_tenant = "tenant-7f3a9c-secret";
    let missing = t
        .post_json(secret_tenant, "", &json!({ "phoneNumber": ANA }))
        .await;
    assert_eq!(missing.status(), 404);
    let unmatched = t
        .http
        .get(format!("{}/no/such/path-4b1d", t.base))
        .send()
        .await
        .unwrap();
    assert_eq!(unmatched.status(), 404);
    let m = scrape(&t).await;
    let count = |method, route, status| {
        m.get(
            "textid_http_request_duration_seconds_count",
            &[("method", method), ("route", route), ("status", status)],
        )
    };
    assert_eq!(count("POST", "/{tenant}/api/v1/sign-in/sms", "404"), 1.0);
    assert_eq!(count("GET", "unmatched", "404"), 1.0);
    // Every bucket series of the histogram is there, up to +Inf.
    let inf = m.get(
        "textid_http_request_duration_seconds_bucket",
        &[
            ("method", "GET"),
            ("route", "unmatched"),
            ("status", "404"),
            ("le", "+Inf"),
        ],
    );
    assert_eq!(inf, 1.0);
    for value in m.label_values() {
        assert!(
            !value.contains("7f3a9c") && !value.contains("4b1d"),
            "a raw path in a label: {value}"
        );
    }
}

fn behind_proxy_relaxed(c: &mut textid_server::AppConfig) {
    behind_loopback_proxy(c);
    c.limits.abuse.watch_min_sends_prefix = 1000;
    c.limits.abuse.watch_min_sends_country = 1000;
    c.limits.abuse.prefix.limit = 1000;
    c.limits.sends_per_window = 100;
}

/// `failures` wrong codes from `ip`, five per flow (a flow allows five tries).
async fn guess(t: &mut TestApp, ip: &str, failures: usize) {
    for _ in 0..failures / 5 {
        let r = t.post_from(ip, "", &json!({ "phoneNumber": ANA })).await;
        let flow = flow_id(r).await;
        let bad = wrong(&t.last_code().await);
        for _ in 0..5 {
            let body = json!({ "flowId": flow, "code": bad });
            expect_error(t.post_from(ip, "/verify", &body).await, 400, "invalidCode").await;
        }
        t.advance(Duration::seconds(31));
    }
}

#[tokio::test]
async fn a_start_withheld_by_a_client_lock_counts_as_refused_client_locked() {
    let mut t = spawn_app_with(behind_proxy_relaxed).await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    guess(&mut t, "198.51.100.66", 10).await;
    let start = t
        .post_from("198.51.100.66", "", &json!({ "phoneNumber": ANA }))
        .await;
    assert_eq!(start.status(), 202);
    assert!(t.deliver().await.is_empty());
    let m = scrape(&t).await;
    let locked = [US, ("reason", "clientLocked")];
    assert_eq!(m.get("textid_sms_codes_refused_total", &locked), 1.0);
    let number = [US, ("reason", "numberLocked")];
    assert_eq!(m.get("textid_sms_codes_refused_total", &number), 0.0);
}

#[tokio::test]
async fn a_start_withheld_by_a_number_lock_counts_as_refused_number_locked() {
    let mut t = spawn_app_with(behind_proxy_relaxed).await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    for i in 0..10 {
        guess(&mut t, &format!("198.51.100.{i}"), 5).await;
    }
    let start = t
        .post_from("203.0.113.7", "", &json!({ "phoneNumber": ANA }))
        .await;
    assert_eq!(start.status(), 202);
    assert!(t.deliver().await.is_empty());
    let m = scrape(&t).await;
    let number = [US, ("reason", "numberLocked")];
    assert_eq!(m.get("textid_sms_codes_refused_total", &number), 1.0);
    let client = [US, ("reason", "clientLocked")];
    assert_eq!(m.get("textid_sms_codes_refused_total", &client), 0.0);
}

fn metrics_elsewhere(c: &mut textid_server::AppConfig) {
    c.metrics_on_main_listener = false;
}

#[tokio::test]
async fn with_a_metrics_listener_metrics_are_served_there_and_not_on_the_main_one() {
    let mut t = spawn_app_with(metrics_elsewhere).await;
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let metrics_base = format!("http://{}", listener.local_addr().unwrap());
    let server = tokio::spawn(
        t.app
            .clone()
            .serve_metrics(listener, std::future::pending()),
    );
    expect_error(
        t.http
            .get(format!("{}/metrics", t.base))
            .send()
            .await
            .unwrap(),
        404,
        "notFound",
    )
    .await;
    t.user_with_mobile("ana@contoso.example", ANA).await;
    t.start_flow(ANA).await;
    t.last_code().await;
    let m = scrape_at(&t, &metrics_base).await;
    assert_eq!(m.get("textid_sms_codes_sent_total", &[US]), 1.0);
    // The metrics listener serves nothing else.
    let other = t
        .http
        .get(format!("{metrics_base}/health"))
        .send()
        .await
        .unwrap();
    assert_eq!(other.status(), 404);
    server.abort();
}

#[test]
fn the_parser_reads_labels_with_escapes() {
    let s = Samples::parse("# TYPE x counter\nx_total{a=\"1\",b=\"q\\\"uote\"} 2\ny 0.5\n# EOF");
    assert_eq!(s.get("x_total", &[("a", "1"), ("b", "q\"uote")]), 2.0);
    assert_eq!(s.get("y", &[]), 0.5);
    assert_eq!(s.get("x_total", &[("a", "1")]), 0.0);
}
