//! Prometheus metrics at `/metrics` (issue #14 §8, "observability of abuse"): one
//! [`Metrics`] registry per [`App`], encoded in the OpenMetrics text format by
//! `prometheus-client`, the Prometheus project's own Rust client.
//!
//! What is counted, and where:
//! - `textid_sms_codes_{requested,refused,verified,failed}_total`: the sign-in use cases
//!   report each committed step to [`Metrics`] as an [`Observer`] (`textid_usecases::observe`);
//! - `textid_sms_codes_sent_total` and `textid_sms_provider_errors_total`: the outbox
//!   worker ([`crate::delivery`]), when the provider accepts or refuses a message (the
//!   router counts each provider's refusal, also those it failed over from);
//! - `textid_sms_receipts_total{provider,status}`: carriers' delivery receipts
//!   ([`crate::receipts`]), each message's receipt once;
//! - `textid_outbox_depth` and `textid_outbox_oldest_age_seconds`: read from the store
//!   at scrape time (every node reports the same shared outbox);
//! - `textid_http_request_duration_seconds`: a middleware around every route;
//! - `textid_db_commits_total`: the store's own count of write transactions committed,
//!   read at scrape time (SQLite, where one commit carries a group of writes; absent on
//!   PostgreSQL, whose `pg_stat_database` counts them).
//!
//! Invariant: every label comes from a closed set, so that an attacker cannot grow the
//! series without bound, and no label carries a secret or a number: `country` is the
//! number's ISO region or `unknown`; `reason` a stable code; `route` the matched route
//! template (`/{tenant}/api/v1/sign-in/sms`), `unmatched` for anything else, never the
//! raw path (tenant names, tokens); `method` a standard method or `other`.

use std::sync::atomic::AtomicU64;
use std::time::Instant;

use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;
use textid_usecases::{Observer, SignInEvent, SignInEventKind};

use crate::app::App;
use crate::error::ApiError;

/// The content type of the exposition (OpenMetrics 1.0 text, which Prometheus asks for
/// and reads).
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CountryLabels {
    country: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabels {
    country: String,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ProviderLabels {
    provider: &'static str,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReceiptLabels {
    provider: &'static str,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct HttpLabels {
    method: &'static str,
    route: String,
    status: u16,
}

fn latency_histogram() -> Histogram {
    // 5 ms to about 10 s: a code check is a few ms; a store under load, seconds.
    Histogram::new(exponential_buckets(0.005, 2.0, 12))
}

/// Every metric of the server, registered once.
#[derive(Debug)]
pub struct Metrics {
    registry: Registry,
    requested: Family<CountryLabels, Counter>,
    sent: Family<CountryLabels, Counter>,
    verified: Family<CountryLabels, Counter>,
    failed: Family<ReasonLabels, Counter>,
    refused: Family<ReasonLabels, Counter>,
    provider_errors: Family<ProviderLabels, Counter>,
    receipts: Family<ReceiptLabels, Counter>,
    outbox_depth: Gauge,
    outbox_oldest_age: Gauge<f64, AtomicU64>,
    commits: Counter,
    http: Family<HttpLabels, Histogram, fn() -> Histogram>,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new(false)
    }
}

impl Metrics {
    /// A registry with every metric at zero; `textid_db_commits_total` only where the
    /// store counts its commits (`store_counts_commits`).
    pub fn new(store_counts_commits: bool) -> Self {
        let m = Self {
            registry: Registry::with_prefix("textid"),
            requested: Family::default(),
            sent: Family::default(),
            verified: Family::default(),
            failed: Family::default(),
            refused: Family::default(),
            provider_errors: Family::default(),
            receipts: Family::default(),
            outbox_depth: Gauge::default(),
            outbox_oldest_age: Gauge::default(),
            commits: Counter::default(),
            http: Family::new_with_constructor(latency_histogram as fn() -> Histogram),
        };
        m.registered(store_counts_commits)
    }

    /// Registers every metric under its documented name (counters get their `_total`
    /// suffix from the encoder). The registry holds clones: each shares its value.
    fn registered(mut self, commits: bool) -> Self {
        let r = &mut self.registry;
        r.register(
            "sms_codes_requested",
            "Sign-in codes asked for (starts and resends), by the number's country",
            self.requested.clone(),
        );
        r.register(
            "sms_codes_sent",
            "Sign-in codes the SMS provider accepted, by country",
            self.sent.clone(),
        );
        r.register(
            "sms_codes_verified",
            "Sign-in codes accepted, by country",
            self.verified.clone(),
        );
        r.register(
            "sms_codes_failed",
            "Code checks that failed, by country and reason (invalidCode, codeExpired, ...)",
            self.failed.clone(),
        );
        r.register(
            "sms_codes_refused",
            "Code requests that got no code, by country and reason (budgets, locks, ...)",
            self.refused.clone(),
        );
        r.register(
            "sms_provider_errors",
            "Messages the SMS provider refused, by provider and kind (transient, permanent)",
            self.provider_errors.clone(),
        );
        r.register(
            "sms_receipts",
            "Delivery receipts from carriers, by provider and status (delivered, failed)",
            self.receipts.clone(),
        );
        r.register(
            "outbox_depth",
            "Messages waiting in the outbox (due, being delivered, or waiting for a retry)",
            self.outbox_depth.clone(),
        );
        r.register(
            "outbox_oldest_age_seconds",
            "Age of the oldest message waiting in the outbox; 0 when none waits",
            self.outbox_oldest_age.clone(),
        );
        if commits {
            r.register(
                "db_commits",
                "Write transactions the store committed (SQLite: one per group commit)",
                self.commits.clone(),
            );
        }
        r.register(
            "http_request_duration_seconds",
            "Time to answer an HTTP request, by method, route template and status",
            self.http.clone(),
        );
        self
    }

    /// A code the provider accepted, to a number in `country` (its ISO region).
    pub fn code_sent(&self, country: &str) {
        self.sent
            .get_or_create(&CountryLabels {
                country: country.to_string(),
            })
            .inc();
    }

    /// A message the provider refused; `transient` when it will be tried again.
    pub fn provider_error(&self, provider: &'static str, transient: bool) {
        let kind = if transient { "transient" } else { "permanent" };
        self.provider_errors
            .get_or_create(&ProviderLabels { provider, kind })
            .inc();
    }

    /// A carrier's delivery receipt that changed a message.
    pub fn receipt(&self, provider: &'static str, status: &'static str) {
        self.receipts
            .get_or_create(&ReceiptLabels { provider, status })
            .inc();
    }

    fn request(&self, method: &Method, route: String, status: StatusCode, seconds: f64) {
        let labels = HttpLabels {
            method: method_label(method),
            route,
            status: status.as_u16(),
        };
        self.http.get_or_create(&labels).observe(seconds);
    }

    /// The exposition text, with the outbox gauges as of `stats` at `now`.
    fn encode(
        &self,
        stats: textid_store::OutboxStats,
        commits: Option<u64>,
        now: chrono::DateTime<chrono::Utc>,
    ) -> Result<String, std::fmt::Error> {
        if let Some(total) = commits {
            // The store's count only grows: concurrent scrapes catch the counter up to it.
            self.commits
                .inner()
                .fetch_max(total, std::sync::atomic::Ordering::Relaxed);
        }
        self.outbox_depth
            .set(i64::try_from(stats.queued).unwrap_or(i64::MAX));
        let age = stats.oldest_queued_at.map_or(0.0, |at| {
            // Milliseconds, so that a sub-second age is not rounded away.
            (now - at).num_milliseconds().max(0) as f64 / 1000.0
        });
        self.outbox_oldest_age.set(age);
        let mut out = String::new();
        prometheus_client::encoding::text::encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

impl Observer for Metrics {
    fn sign_in(&self, event: &SignInEvent) {
        let country = || CountryLabels {
            country: event.country.clone(),
        };
        let reason = |reason| ReasonLabels {
            country: event.country.clone(),
            reason,
        };
        match event.kind {
            SignInEventKind::CodeRequested => self.requested.get_or_create(&country()).inc(),
            SignInEventKind::CodeVerified => self.verified.get_or_create(&country()).inc(),
            SignInEventKind::CodeRefused(r) => self.refused.get_or_create(&reason(r)).inc(),
            SignInEventKind::CodeFailed(r) => self.failed.get_or_create(&reason(r)).inc(),
        };
    }
}

/// Arbitrary method tokens are legal HTTP; only the standard ones get a label of their own.
pub(crate) fn method_label(m: &Method) -> &'static str {
    match *m {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

/// Middleware: times every request, labelled with its route template.
pub(crate) async fn track(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = crate::trace::route_of(&req);
    let method = req.method().clone();
    let started = Instant::now();
    let res = next.run(req).await;
    app.metrics().request(
        &method,
        route,
        res.status(),
        started.elapsed().as_secs_f64(),
    );
    res
}

/// `GET /metrics`. A store that cannot be read answers 503 rather than stale outbox
/// gauges; the counters lose nothing by a failed scrape (they are cumulative).
pub(crate) async fn scrape(State(app): State<App>) -> Result<Response, ApiError> {
    let stats = app.store().outbox_stats().await?;
    let body = app
        .metrics()
        .encode(stats, app.store().commits(), app.clock().now())
        .map_err(|e| ApiError::internal(&e))?;
    let mut res = body.into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE));
    Ok(res)
}

/// The router of a separate metrics listener: `/metrics` and nothing else.
pub(crate) fn router(app: &App) -> axum::Router {
    axum::Router::new()
        .route("/metrics", axum::routing::get(scrape))
        .fallback(|| async { ApiError::new(StatusCode::NOT_FOUND, "notFound", "no such endpoint") })
        .with_state(app.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_commit_count_is_exposed_only_where_the_store_counts_commits() {
        let text = |counts: bool, commits: Option<u64>| {
            Metrics::new(counts)
                .encode(
                    textid_store::OutboxStats::default(),
                    commits,
                    chrono::DateTime::UNIX_EPOCH,
                )
                .unwrap()
        };
        assert!(text(true, Some(7)).contains("textid_db_commits_total 7\n"));
        assert!(!text(false, None).contains("textid_db_commits"));
    }

    #[test]
    fn names_are_the_documented_ones_and_labels_bounded() {
        let m = Metrics::new(true);
        m.sign_in(&SignInEvent {
            country: "US".into(),
            kind: SignInEventKind::CodeRefused("globalBudgetExceeded"),
        });
        m.code_sent("FI");
        m.provider_error("webhook", true);
        m.receipt("twilio", "failed");
        m.request(
            &Method::from_bytes(b"BREW").unwrap(),
            "unmatched".into(),
            StatusCode::NOT_FOUND,
            0.01,
        );
        let text = m
            .encode(
                textid_store::OutboxStats::default(),
                Some(42),
                chrono::DateTime::UNIX_EPOCH,
            )
            .unwrap();
        for line in [
            "textid_db_commits_total 42",
            r#"textid_sms_codes_refused_total{country="US",reason="globalBudgetExceeded"} 1"#,
            r#"textid_sms_codes_sent_total{country="FI"} 1"#,
            r#"textid_sms_provider_errors_total{provider="webhook",kind="transient"} 1"#,
            r#"textid_sms_receipts_total{provider="twilio",status="failed"} 1"#,
            "textid_outbox_depth 0",
            "textid_outbox_oldest_age_seconds 0.0",
            r#"textid_http_request_duration_seconds_count{method="other",route="unmatched",status="404"} 1"#,
        ] {
            assert!(text.lines().any(|l| l == line), "{line} in\n{text}");
        }
        assert!(text.ends_with("# EOF\n"), "{text}");
    }
}
