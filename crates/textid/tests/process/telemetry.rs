//! OpenTelemetry through the real binary (issue #19): a loopback OTLP/HTTP collector
//! decodes what `textid serve` exports during a sign-in; the spans carry the route
//! template, the tenant and the flow id, continue the caller's `traceparent`, and hold
//! no number, code or token; log lines name the same trace ids. Off, nothing is sent and
//! log lines still name a trace. Shutdown is the step that flushes: no sleeps.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::http::{header, StatusCode};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::common::v1::{any_value, AnyValue, KeyValue};
use prost::Message as _;
use serde_json::{json, Value};

use super::{code_of, post, provision, receiver, serve_with, Server, BIN};

/// The caller's trace and span (W3C Trace Context's own example ids).
const CALLER_TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const CALLER_SPAN: &str = "00f067aa0ba902b7";

/// Every way the test number could be written, and its distinctive digits.
const NUMBER_FORMS: &[&str] = &["5550101", "555-0101", "555 0101"];

/// A loopback OTLP/HTTP collector: keeps every export request it decodes.
struct Collector {
    base: String,
    got: Arc<Mutex<Vec<ExportTraceServiceRequest>>>,
}

async fn collector() -> Collector {
    collector_answering(StatusCode::OK).await
}

/// A collector that keeps what it decodes and answers `status`.
async fn collector_answering(status: StatusCode) -> Collector {
    let got = Arc::new(Mutex::new(Vec::new()));
    let kept = got.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: Bytes| {
            let kept = kept.clone();
            async move {
                assert_eq!(headers[header::CONTENT_TYPE], "application/x-protobuf");
                let request = ExportTraceServiceRequest::decode(body).unwrap();
                kept.lock().unwrap().push(request);
                (
                    status,
                    [(header::CONTENT_TYPE, "application/x-protobuf")],
                    ExportTraceServiceResponse::default().encode_to_vec(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Collector { base, got }
}

/// One exported span, flattened.
#[derive(Debug)]
struct Seen {
    name: String,
    trace_id: String,
    span_id: String,
    parent: String,
    attrs: BTreeMap<String, String>,
    resource: BTreeMap<String, String>,
}

impl Seen {
    fn attr(&self, key: &str) -> &str {
        self.attrs.get(key).map_or("", String::as_str)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Every scalar of a value, as text (nested lists and maps included).
fn texts(v: Option<&AnyValue>, out: &mut Vec<String>) {
    match v.and_then(|v| v.value.as_ref()) {
        Some(any_value::Value::StringValue(s)) => out.push(s.clone()),
        Some(any_value::Value::IntValue(i)) => out.push(i.to_string()),
        Some(any_value::Value::DoubleValue(d)) => out.push(d.to_string()),
        Some(any_value::Value::BoolValue(b)) => out.push(b.to_string()),
        Some(any_value::Value::BytesValue(b)) => out.push(hex(b)),
        Some(any_value::Value::ArrayValue(a)) => a.values.iter().for_each(|v| texts(Some(v), out)),
        Some(any_value::Value::KvlistValue(l)) => kv_texts(&l.values, out),
        None => {}
    }
}

fn kv_texts(kvs: &[KeyValue], out: &mut Vec<String>) {
    for kv in kvs {
        out.push(kv.key.clone());
        texts(kv.value.as_ref(), out);
    }
}

fn attr_map(kvs: &[KeyValue]) -> BTreeMap<String, String> {
    kvs.iter()
        .map(|kv| {
            let mut v = Vec::new();
            texts(kv.value.as_ref(), &mut v);
            (kv.key.clone(), v.join(","))
        })
        .collect()
}

/// The spans, and every text anywhere in the export (names, keys, values, events,
/// links, statuses, resource and scope).
fn decode(requests: &[ExportTraceServiceRequest]) -> (Vec<Seen>, Vec<String>) {
    let (mut spans, mut all) = (Vec::new(), Vec::new());
    for rs in requests.iter().flat_map(|r| &r.resource_spans) {
        let resource = rs
            .resource
            .as_ref()
            .map(|r| attr_map(&r.attributes))
            .unwrap_or_default();
        if let Some(r) = &rs.resource {
            kv_texts(&r.attributes, &mut all);
        }
        for ss in &rs.scope_spans {
            if let Some(scope) = &ss.scope {
                all.extend([scope.name.clone(), scope.version.clone()]);
                kv_texts(&scope.attributes, &mut all);
            }
            for s in &ss.spans {
                all.extend([s.name.clone(), s.trace_state.clone()]);
                kv_texts(&s.attributes, &mut all);
                for e in &s.events {
                    all.push(e.name.clone());
                    kv_texts(&e.attributes, &mut all);
                }
                for l in &s.links {
                    all.push(l.trace_state.clone());
                    kv_texts(&l.attributes, &mut all);
                }
                if let Some(st) = &s.status {
                    all.push(st.message.clone());
                }
                spans.push(Seen {
                    name: s.name.clone(),
                    trace_id: hex(&s.trace_id),
                    span_id: hex(&s.span_id),
                    parent: hex(&s.parent_span_id),
                    attrs: attr_map(&s.attributes),
                    resource: resource.clone(),
                });
            }
        }
    }
    (spans, all)
}

fn one<'a>(spans: &'a [Seen], name: &str) -> &'a Seen {
    let found: Vec<_> = spans.iter().filter(|s| s.name == name).collect();
    assert_eq!(found.len(), 1, "one {name} in {spans:#?}");
    found[0]
}

/// A sign-in start that sends `traceparent`.
async fn start_traced(base: &str) -> Value {
    let res = reqwest::Client::new()
        .post(format!("{base}/default/api/v1/sign-in/sms"))
        .header("traceparent", format!("00-{CALLER_TRACE}-{CALLER_SPAN}-01"))
        .json(&json!({"phoneNumber": "+1 (425) 555-0101"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 202);
    res.json().await.unwrap()
}

/// A graceful stop (SIGTERM): the server flushes its spans before it exits 0.
async fn stop(mut server: Server) {
    let pid = server.child.id().unwrap().to_string();
    assert!(std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap()
        .success());
    assert!(server.child.wait().await.unwrap().success());
}

/// The server's log lines that name `trace_id`.
fn lines_of_trace(data: &Path, trace_id: &str) -> Vec<String> {
    let log = std::fs::read_to_string(data.join("server.log")).unwrap();
    let mark = format!("trace_id={trace_id}");
    log.lines()
        .filter(|l| l.contains(&mark))
        .map(str::to_string)
        .collect()
}

/// The trace id a log line names.
fn trace_of(line: &str) -> String {
    let at = line.find("trace_id=").expect("a trace id") + "trace_id=".len();
    let id: String = line[at..]
        .chars()
        .take_while(char::is_ascii_hexdigit)
        .collect();
    assert_eq!(id.len(), 32, "{line}");
    id
}

/// Runs a sign-in: a traced start, the code from the webhook, a verify. Returns the flow
/// id, the code and the session token.
async fn sign_in(server: &Server, sms: &mut super::Receiver) -> (String, String, String) {
    let started = start_traced(&server.base).await;
    let flow = started["flowId"].as_str().unwrap().to_string();
    let (_, message) = sms.next().await;
    let code = code_of(&message);
    let (status, session) = post(
        &server.base,
        "/verify",
        json!({"flowId": flow, "code": code}),
    )
    .await;
    assert_eq!(status, 200, "{session}");
    let token = session["sessionToken"].as_str().unwrap().to_string();
    (flow, code, token)
}

const ACCESS_LOG: (&str, &str) = ("RUST_LOG", "info,textid_server::trace=debug");

#[tokio::test]
async fn a_sign_in_is_traced_with_route_tenant_and_flow_and_never_the_number_code_or_token() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let mut sms = receiver(StatusCode::OK).await;
    let otlp = collector().await;
    let server = serve_with(
        dir.path(),
        &sms.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp.base),
            ("OTEL_SERVICE_NAME", "textid-under-test"),
            ACCESS_LOG,
        ],
    )
    .await;
    let (flow, code, token) = sign_in(&server, &mut sms).await;
    stop(server).await;

    let (spans, texts) = decode(&otlp.got.lock().unwrap());
    // The start continues the caller's trace, under the caller's span.
    let start = one(&spans, "POST /{tenant}/api/v1/sign-in/sms");
    assert_eq!(start.trace_id, CALLER_TRACE);
    assert_eq!(start.parent, CALLER_SPAN);
    assert_eq!(start.attr("http.route"), "/{tenant}/api/v1/sign-in/sms");
    assert_eq!(start.attr("http.request.method"), "POST");
    assert_eq!(start.attr("http.response.status_code"), "202");
    assert_eq!(start.attr("textid.tenant"), "default");
    assert_eq!(start.resource["service.name"], "textid-under-test");
    let step = one(&spans, "sign_in.start");
    assert_eq!(
        (step.trace_id.as_str(), step.parent.as_str()),
        (CALLER_TRACE, start.span_id.as_str())
    );
    assert_eq!(step.attr("textid.flow_id"), flow);
    // The verify starts a trace of its own (no traceparent).
    let verify = one(&spans, "POST /{tenant}/api/v1/sign-in/sms/verify");
    assert_ne!(verify.trace_id, CALLER_TRACE);
    assert_eq!(verify.parent, "");
    assert_eq!(verify.attr("http.response.status_code"), "200");
    assert_eq!(verify.attr("textid.tenant"), "default");
    let step = one(&spans, "sign_in.verify");
    assert_eq!(
        (step.trace_id.as_str(), step.parent.as_str()),
        (verify.trace_id.as_str(), verify.span_id.as_str())
    );
    assert_eq!(step.attr("textid.flow_id"), flow);
    // The delivery: a root span in the worker.
    let delivery = one(&spans, "outbox.deliver");
    assert_eq!(delivery.parent, "");
    assert_ne!(delivery.trace_id, CALLER_TRACE);
    assert_eq!(delivery.attr("textid.flow_id"), flow);
    assert_eq!(delivery.attr("textid.tenant"), "default");
    assert_eq!(delivery.attr("textid.message.kind"), "signInCode");
    assert_eq!(delivery.attr("textid.message.channel"), "sms");
    assert_eq!(delivery.attr("textid.sms.provider"), "webhook");
    assert_eq!(delivery.attr("textid.delivery.outcome"), "delivered");
    assert!(!delivery.attr("textid.message_id").is_empty());

    // Nothing anywhere in the export holds the number, the code or the token.
    assert!(!texts.is_empty());
    for text in &texts {
        for secret in NUMBER_FORMS
            .iter()
            .copied()
            .chain([code.as_str(), token.as_str()])
        {
            assert!(!text.contains(secret), "{secret:?} in exported {text:?}");
        }
    }

    // Log lines name the same traces.
    let started = lines_of_trace(dir.path(), CALLER_TRACE);
    assert!(
        started
            .iter()
            .any(|l| l.contains("http: answered") && l.contains("status=202")),
        "{started:#?}"
    );
    let verified = lines_of_trace(dir.path(), &verify.trace_id);
    assert!(
        verified.iter().any(|l| l.contains("status=200")),
        "{verified:#?}"
    );
    let delivered = lines_of_trace(dir.path(), &delivery.trace_id);
    assert!(
        delivered.iter().any(|l| l.contains("outbox: delivered")),
        "{delivered:#?}"
    );
}

#[tokio::test]
async fn disabled_nothing_is_exported_and_log_lines_still_name_a_trace() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let mut sms = receiver(StatusCode::OK).await;
    let otlp = collector().await;
    // An endpoint that would work, switched off by the SDK's own variable.
    let server = serve_with(
        dir.path(),
        &sms.url,
        &[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp.base),
            ("OTEL_SDK_DISABLED", "true"),
            ACCESS_LOG,
        ],
    )
    .await;
    sign_in(&server, &mut sms).await;
    stop(server).await;
    assert_eq!(otlp.got.lock().unwrap().len(), 0, "nothing exported");

    // The caller's trace id still names the start's log lines; the others get one each.
    let started = lines_of_trace(dir.path(), CALLER_TRACE);
    assert!(
        started.iter().any(|l| l.contains("status=202")),
        "{started:#?}"
    );
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    let verified = log
        .lines()
        .find(|l| l.contains("sign-in/sms/verify") && l.contains("http: answered"))
        .expect("the verify's access log line");
    let delivered = log
        .lines()
        .find(|l| l.contains("outbox: delivered"))
        .expect("the delivery's log line");
    let (v, d) = (trace_of(verified), trace_of(delivered));
    assert!(v != d && v != CALLER_TRACE && d != CALLER_TRACE, "{v} {d}");
}

#[tokio::test]
async fn a_collector_that_refuses_the_export_is_logged_and_sign_in_goes_on() {
    let dir = tempfile::tempdir().unwrap();
    provision(dir.path());
    let mut sms = receiver(StatusCode::OK).await;
    let otlp = collector_answering(StatusCode::SERVICE_UNAVAILABLE).await;
    let server = serve_with(
        dir.path(),
        &sms.url,
        &[(
            "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
            &format!("{}/v1/traces", otlp.base),
        )],
    )
    .await;
    sign_in(&server, &mut sms).await;
    stop(server).await;
    assert!(!otlp.got.lock().unwrap().is_empty(), "an export was tried");
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap();
    assert!(
        log.lines()
            .any(|l| l.contains("ERROR") && l.contains("BatchSpanProcessor.ExportError")),
        "{log}"
    );
}

#[test]
fn config_check_shows_the_telemetry_state_and_serve_refuses_grpc() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().display().to_string();
    let textid = |args: &[&str], env: &[(&str, &str)]| {
        let mut cmd = std::process::Command::new(BIN);
        for (k, _) in std::env::vars() {
            if k.starts_with("OTEL_") || k.starts_with("TEXTID_") {
                cmd.env_remove(k);
            }
        }
        let out = cmd
            .args(args)
            .args(["--data-dir", &data])
            .envs(env.iter().copied())
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).to_string(),
            String::from_utf8_lossy(&out.stderr).to_string(),
        )
    };
    let check = |env: &[(&str, &str)]| {
        let (code, out, err) = textid(&["config", "check", "--json"], env);
        assert_eq!(code, Some(0), "{err}");
        serde_json::from_str::<Value>(&out).unwrap()["telemetry"].clone()
    };
    assert_eq!(check(&[]), json!({"value": "off", "source": "default"}));
    assert_eq!(
        check(&[
            ("OTEL_EXPORTER_OTLP_ENDPOINT", "https://otlp.example:4318"),
            ("OTEL_EXPORTER_OTLP_HEADERS", "api-key=s3cr3t"),
        ]),
        json!({
            "value": "otlp http/protobuf https://otlp.example:4318/v1/traces service=textid headers=api-key",
            "source": "env OTEL_EXPORTER_OTLP_ENDPOINT",
        })
    );
    let grpc = [
        ("OTEL_EXPORTER_OTLP_ENDPOINT", "http://127.0.0.1:4317"),
        ("OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"),
    ];
    let (code, _, err) = textid(&["config", "check"], &grpc);
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc"), "{err}");
    let (code, out, err) = textid(&["serve", "--listen", "127.0.0.1:0"], &grpc);
    assert_eq!(code, Some(1), "{out} {err}");
    assert!(
        err.contains("OTEL_EXPORTER_OTLP_PROTOCOL=grpc") && err.contains("http/protobuf"),
        "{err}"
    );
    assert!(
        !dir.path().join("textid.db").exists(),
        "nothing was created"
    );
}
