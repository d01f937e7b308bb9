//! `POST /v1.0/$batch`: Graph's JSON batching. Up to 20 requests in one call, each run
//! through the same router as if it had come alone (same authentication, permissions and
//! answers), in an order that honours `dependsOn`; a request whose dependency failed is
//! answered `424 Failed Dependency` without running. The SDKs and PowerShell use batching
//! for bulk work.

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::{ConnectInfo, State};
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use tower::ServiceExt;

use super::auth::Caller;
use super::error::{GraphError, GraphJson};
use crate::app::App;

/// Graph's limit of requests in one batch.
pub const MAX_REQUESTS: usize = 20;

/// The batch body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Batch {
    requests: Vec<BatchRequest>,
}

/// One request of a batch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BatchRequest {
    id: String,
    method: String,
    url: String,
    #[serde(default)]
    headers: HashMap<String, String>,
    body: Option<Value>,
    #[serde(default)]
    depends_on: Vec<String>,
}

fn bad(message: &str) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The order to run the requests in: each after what it depends on; refuses unknown
/// dependencies, duplicate ids and cycles.
fn order(requests: &[BatchRequest]) -> Result<Vec<usize>, GraphError> {
    let index: HashMap<&str, usize> = requests
        .iter()
        .enumerate()
        .map(|(i, r)| (r.id.as_str(), i))
        .collect();
    if index.len() != requests.len() {
        return Err(bad("Batch request ids must be unique."));
    }
    for r in requests {
        if r.depends_on.iter().any(|d| !index.contains_key(d.as_str())) {
            return Err(bad(
                "dependsOn names a request id that is not in the batch.",
            ));
        }
    }
    let mut done: HashSet<usize> = HashSet::new();
    let mut out = Vec::with_capacity(requests.len());
    while out.len() < requests.len() {
        let next = (0..requests.len()).find(|i| {
            !done.contains(i)
                && requests[*i]
                    .depends_on
                    .iter()
                    .all(|d| done.contains(&index[d.as_str()]))
        });
        let Some(i) = next else {
            return Err(bad("The dependsOn of the batch's requests form a cycle."));
        };
        done.insert(i);
        out.push(i);
    }
    Ok(out)
}

/// The sub-request as an HTTP request to this server: `/v1.0` + its relative URL, the
/// batch's credentials, its own headers and JSON body.
fn sub_request(
    r: &BatchRequest,
    outer: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<Request<Body>, GraphError> {
    let method = Method::from_bytes(r.method.to_ascii_uppercase().as_bytes())
        .ok()
        .filter(|m| {
            [
                Method::GET,
                Method::POST,
                Method::PATCH,
                Method::PUT,
                Method::DELETE,
            ]
            .contains(m)
        })
        .ok_or_else(|| bad("A batch request's method must be GET, POST, PATCH, PUT or DELETE."))?;
    let path = r.url.trim_start_matches('/');
    if path.contains("://") || path.starts_with("v1.0/") || path.starts_with('$') || path.is_empty()
    {
        return Err(bad(
            "A batch request's url is relative to /v1.0 (e.g. /users?$top=5) and may not be another batch.",
        ));
    }
    let mut req = Request::builder()
        .method(method)
        .uri(format!("/v1.0/{path}"));
    for (k, v) in &r.headers {
        let name = HeaderName::from_bytes(k.as_bytes())
            .map_err(|_| bad("A batch request has an invalid header name."))?;
        if name == header::AUTHORIZATION || name == header::HOST {
            continue;
        }
        let value = HeaderValue::from_str(v)
            .map_err(|_| bad("A batch request has an invalid header value."))?;
        req = req.header(name, value);
    }
    // Every request of the batch acts with the batch's own credentials.
    if let Some(v) = outer.get(header::AUTHORIZATION) {
        req = req.header(header::AUTHORIZATION, v.clone());
    }
    let body = match &r.body {
        Some(b) => {
            if !r
                .headers
                .keys()
                .any(|k| k.eq_ignore_ascii_case("content-type"))
            {
                req = req.header(header::CONTENT_TYPE, "application/json");
            }
            Body::from(serde_json::to_vec(b).unwrap_or_default())
        }
        None => Body::empty(),
    };
    let mut req = req
        .body(body)
        .map_err(|_| bad("A batch request could not be formed."))?;
    if let Some(p) = peer {
        req.extensions_mut().insert(ConnectInfo(p));
    }
    Ok(req)
}

async fn run(app: &App, req: Request<Body>) -> Value {
    let res = match app.router().oneshot(req).await {
        Ok(res) => res,
        Err(never) => match never {},
    };
    let status = res.status().as_u16();
    let mut headers = Map::new();
    for name in [header::CONTENT_TYPE, header::LOCATION, header::RETRY_AFTER] {
        if let Some(v) = res.headers().get(&name).and_then(|v| v.to_str().ok()) {
            headers.insert(name.as_str().to_owned(), json!(v));
        }
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|c| c.contains("json"));
    let bytes = axum::body::to_bytes(res.into_body(), 4 * 1024 * 1024)
        .await
        .unwrap_or_default();
    let mut out = json!({"status": status, "headers": headers});
    if !bytes.is_empty() {
        out["body"] = if is_json {
            serde_json::from_slice(&bytes).unwrap_or(Value::Null)
        } else {
            json!(String::from_utf8_lossy(&bytes))
        };
    }
    out
}

/// `POST /v1.0/$batch`
pub async fn batch(
    State(app): State<App>,
    _caller: Caller,
    peer: Option<axum::Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    GraphJson(body): GraphJson<Batch>,
) -> Result<Json<Value>, GraphError> {
    if body.requests.is_empty() || body.requests.len() > MAX_REQUESTS {
        return Err(bad("A batch holds 1 to 20 requests."));
    }
    let order = order(&body.requests)?;
    let subs = body
        .requests
        .iter()
        .map(|r| sub_request(r, &headers, peer.as_ref().map(|p| p.0 .0)))
        .collect::<Result<Vec<_>, _>>()?;
    let mut subs: Vec<Option<Request<Body>>> = subs.into_iter().map(Some).collect();
    let mut ok: HashMap<&str, bool> = HashMap::new();
    let mut responses = Vec::with_capacity(order.len());
    for i in order {
        let r = &body.requests[i];
        let failed_dependency = r
            .depends_on
            .iter()
            .any(|d| !ok.get(d.as_str()).copied().unwrap_or(false));
        let mut answer = match (failed_dependency, subs[i].take()) {
            (false, Some(req)) => run(&app, req).await,
            _ => json!({
                "status": 424,
                "headers": {"content-type": "application/json"},
                "body": {"error": {"code": "FailedDependency", "message": "A request this one depends on failed."}},
            }),
        };
        let status = answer["status"].as_u64().unwrap_or(500);
        ok.insert(r.id.as_str(), (200..300).contains(&status));
        answer["id"] = json!(r.id);
        responses.push(answer);
    }
    Ok(Json(json!({"responses": responses})))
}
