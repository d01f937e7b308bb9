//! Trace spans (issue #19, "OpenTelemetry"): one `tracing` span per HTTP request and one
//! per outbox delivery attempt. `main` decides whether they leave the process (an OTLP
//! exporter behind `tracing-opentelemetry`); this module only shapes them, so that the
//! server behaves the same with telemetry on or off.
//!
//! Invariants:
//! - A span's fields are an allow-list: method, route *template* (never the raw path,
//!   which holds ids), status, tenant name, flow id, message id and kind, channel,
//!   provider, outcome. Never a phone number, code, token, password or body: events
//!   (log lines) are not exported at all, only spans (see `textid::telemetry`).
//! - Every request and delivery span carries `trace_id` (32 hex digits), so each log
//!   line inside it names its trace: the OpenTelemetry trace when telemetry is on, else
//!   the caller's W3C `traceparent` trace, else a fresh random id.
//! - A request continues a valid `traceparent` (W3C Trace Context §3.2): same trace id,
//!   the caller's span as parent. A delivery has no parent: it runs in the worker,
//!   long after the request that queued it.

use axum::extract::{MatchedPath, Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use opentelemetry::propagation::{Extractor, TextMapPropagator};
use opentelemetry::trace::{TraceContextExt, TraceId};
use opentelemetry_sdk::propagation::TraceContextPropagator;
use textid_core::message::QueuedMessage;
use tracing::field::{display, Empty};
use tracing::Instrument;
use tracing_opentelemetry::OpenTelemetrySpanExt;

use crate::app::App;

/// The route label of a request that matched no route.
pub(crate) const UNMATCHED: &str = "unmatched";

/// Reads W3C Trace Context headers from a request.
struct Headers<'a>(&'a HeaderMap);

impl Extractor for Headers<'_> {
    fn get(&self, key: &str) -> Option<&str> {
        self.0.get(key).and_then(|v| v.to_str().ok())
    }
    fn keys(&self) -> Vec<&str> {
        self.0.keys().map(|k| k.as_str()).collect()
    }
}

/// The caller's trace, from `traceparent` (and `tracestate`); an empty context when the
/// header is missing or malformed (W3C Trace Context §3.2.2: then start a new trace).
pub fn caller_context(headers: &HeaderMap) -> opentelemetry::Context {
    TraceContextPropagator::new().extract(&Headers(headers))
}

/// Puts `span` in its trace and records that trace's id on it as `trace_id`: the
/// OpenTelemetry trace when an exporter is installed (continuing `parent` if it holds a
/// remote span); otherwise `parent`'s trace id; otherwise a fresh random one, so that
/// log lines still correlate without telemetry.
pub fn join_trace(span: &tracing::Span, parent: Option<&opentelemetry::Context>) {
    if let Some(cx) = parent.filter(|cx| cx.has_active_span()) {
        // `LayerNotFound` when telemetry is off: the id below is then taken from `cx`.
        let _ = span.set_parent(cx.clone());
    }
    let exported = span.context().span().span_context().trace_id();
    let id = if exported != TraceId::INVALID {
        exported
    } else {
        parent
            .map(|cx| cx.span().span_context().trace_id())
            .filter(|id| *id != TraceId::INVALID)
            .unwrap_or_else(|| TraceId::from_bytes(uuid::Uuid::new_v4().into_bytes()))
    };
    span.record("trace_id", display(id));
}

/// The route template of a request (`/{tenant}/api/v1/sign-in/sms`), or
/// [`UNMATCHED`]; never the raw path.
pub(crate) fn route_of(req: &Request) -> String {
    req.extensions()
        .get::<MatchedPath>()
        .map_or_else(|| UNMATCHED.to_string(), |p| p.as_str().to_string())
}

/// The `{tenant}` segment of `path` under `route`, if the route has one.
fn tenant_segment<'a>(route: &str, path: &'a str) -> Option<&'a str> {
    let at = route.split('/').position(|s| s == "{tenant}")?;
    path.split('/').nth(at)
}

/// Middleware: runs the request inside its span (`request`, OpenTelemetry kind
/// `server`, named `METHOD /route/template`).
pub(crate) async fn request_span(State(app): State<App>, req: Request, next: Next) -> Response {
    let route = route_of(&req);
    let method = crate::metrics::method_label(req.method());
    let span = tracing::info_span!(
        "request",
        otel.name = %format_args!("{method} {route}"),
        otel.kind = "server",
        otel.status_code = Empty,
        http.request.method = method,
        http.route = %route,
        http.response.status_code = Empty,
        textid.tenant = Empty,
        trace_id = Empty,
    );
    join_trace(&span, Some(&caller_context(req.headers())));
    let tenant = tenant_segment(&route, req.uri().path()).map(str::to_string);
    let started = std::time::Instant::now();
    let res = next.run(req).instrument(span.clone()).await;
    // Only a tenant that exists (the handler looked it up): a path segment is whatever
    // the caller typed.
    if let Some(name) = tenant.filter(|t| app.is_known_tenant(t)) {
        span.record("textid.tenant", name.as_str());
    }
    span.record("http.response.status_code", res.status().as_u16());
    if res.status().is_server_error() {
        span.record("otel.status_code", "ERROR");
    }
    // The access log, off by default (`RUST_LOG=textid_server::trace=debug`).
    span.in_scope(|| {
        tracing::debug!(
            status = res.status().as_u16(),
            ms = started.elapsed().as_millis(),
            "http: answered"
        );
    });
    res
}

/// The span of one delivery attempt (`outbox.deliver`, kind `client`): a root span, in a
/// trace of its own.
pub fn delivery_span(m: &QueuedMessage) -> tracing::Span {
    let span = tracing::info_span!(
        parent: None,
        "outbox.deliver",
        otel.kind = "client",
        otel.status_code = Empty,
        textid.message_id = %m.id,
        textid.tenant = %m.tenant_name,
        textid.flow_id = Empty,
        textid.message.kind = %m.kind,
        textid.message.channel = %m.channel,
        textid.sms.provider = Empty,
        textid.delivery.attempt = m.attempts,
        textid.delivery.outcome = Empty,
        trace_id = Empty,
    );
    if let Some(flow) = m.flow_id {
        span.record("textid.flow_id", display(flow));
    }
    join_trace(&span, None);
    span
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tenant_is_the_segment_under_the_template_placeholder() {
        assert_eq!(
            tenant_segment(
                "/{tenant}/api/v1/sign-in/sms",
                "/contoso/api/v1/sign-in/sms"
            ),
            Some("contoso")
        );
        assert_eq!(tenant_segment("/v1.0/users/{id}", "/v1.0/users/abc"), None);
        assert_eq!(tenant_segment(UNMATCHED, "/contoso/x"), None);
    }

    #[test]
    fn a_valid_traceparent_is_continued_and_a_malformed_one_ignored() {
        let mut h = HeaderMap::new();
        h.insert(
            "traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        let cx = caller_context(&h);
        assert_eq!(
            cx.span().span_context().trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert!(cx.span().span_context().is_remote());
        h.insert(
            "traceparent",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01"
                .parse()
                .unwrap(),
        );
        assert!(!caller_context(&h).has_active_span());
    }
}
