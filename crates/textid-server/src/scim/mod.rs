//! SCIM 2.0 inbound provisioning (RFC 7643, RFC 7644; issue #16) at
//! `{public_url}/{tenant}/scim/v2`: a source directory (an HR system, Entra's
//! provisioning service) creates, changes and deletes the tenant's users and groups.
//! Users written here are synced users; seed 003's rules for their phone numbers, the
//! directory writes and the audit records are the use cases' (`textid_usecases::provisioning`).
//! This module owns the wire: resources as SCIM JSON, filters, PATCH, paging, ETags and
//! SCIM's error shape, all as `application/scim+json`.
//!
//! ETags: a resource's `meta.version` is a weak ETag over its SCIM document, so any change
//! (through SCIM, Graph or the CLI) changes it; `If-Match` on PUT, PATCH and DELETE
//! answers 412 when it does not match.

pub mod auth;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod groups;
pub mod patch;
pub mod query;
pub mod resource;
pub mod users;

use axum::extract::{FromRequest, Request};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use textid_store::ScimRecord;

use crate::app::App;
use error::{ScimError, SCIM_JSON};

/// The SCIM routes.
pub fn routes() -> Router<App> {
    Router::new()
        .route(
            "/{tenant}/scim/v2/ServiceProviderConfig",
            get(discovery::service_provider_config),
        )
        .route(
            "/{tenant}/scim/v2/ResourceTypes",
            get(discovery::list_resource_types),
        )
        .route(
            "/{tenant}/scim/v2/ResourceTypes/{id}",
            get(discovery::resource_type),
        )
        .route("/{tenant}/scim/v2/Schemas", get(discovery::list_schemas))
        .route("/{tenant}/scim/v2/Schemas/{id}", get(discovery::schema))
        .merge(resource_routes::<users::Users>("Users"))
        .merge(resource_routes::<groups::Groups>("Groups"))
        .route("/{tenant}/scim/v2/.search", post(search_everything))
        .route("/{tenant}/scim/v2", axum::routing::any(not_found))
        .route("/{tenant}/scim/v2/{*rest}", axum::routing::any(not_found))
}

/// The operations of one resource type under `/{tenant}/scim/v2/{endpoint}`.
fn resource_routes<R: resource::Resource + Send + Sync + 'static>(endpoint: &str) -> Router<App> {
    let base = format!("/{{tenant}}/scim/v2/{endpoint}");
    Router::new()
        .route(&base, get(resource::list::<R>).post(resource::create::<R>))
        .route(&format!("{base}/.search"), post(resource::search::<R>))
        .route(
            &format!("{base}/{{id}}"),
            get(resource::get::<R>)
                .put(resource::replace::<R>)
                .patch(resource::patch::<R>)
                .delete(resource::delete::<R>),
        )
}

/// Searching several resource types at once is not offered (RFC 7644 §3.4.3: 501).
async fn search_everything(_: auth::Provisioner) -> ScimError {
    ScimError::new(
        StatusCode::NOT_IMPLEMENTED,
        None,
        "searching several resource types at once is not supported; use /Users/.search or /Groups/.search",
    )
}

async fn not_found() -> ScimError {
    ScimError::not_found("endpoint")
}

/// `{public_url}/{tenant}/scim/v2`.
pub fn base(app: &App, tenant: &str) -> String {
    format!(
        "{}/{tenant}/scim/v2",
        app.config().public_url.trim_end_matches('/')
    )
}

/// `{base}/{endpoint}/{id}`.
pub fn location(app: &App, tenant: &str, endpoint: &str, id: &str) -> String {
    format!("{}/{endpoint}/{id}", base(app, tenant))
}

/// A SCIM JSON answer.
pub fn scim_json(status: StatusCode, body: Value) -> Response {
    let mut res = (status, axum::Json(body)).into_response();
    res.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(SCIM_JSON));
    res.headers_mut()
        .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    res
}

/// The weak ETag of a SCIM document: a digest of its canonical JSON.
fn version(doc: &Value) -> String {
    let digest = Sha256::digest(doc.to_string().as_bytes());
    let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
    format!("W/\"{hex}\"")
}

/// A resource's `meta` (times from its SCIM record; none for a resource no client wrote).
pub fn meta(app: &App, tenant: &str, kind: &str, doc: &Value, rec: Option<&ScimRecord>) -> Value {
    let endpoint = if kind == "User" { "Users" } else { "Groups" };
    let id = doc["id"].as_str().unwrap_or_default();
    let mut m = json!({
        "resourceType": kind,
        "location": location(app, tenant, endpoint, id),
        "version": version(doc),
    });
    if let Some(r) = rec {
        m["created"] = json!(r
            .created_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
        m["lastModified"] = json!(r
            .modified_at
            .to_rfc3339_opts(chrono::SecondsFormat::Millis, true));
    }
    m
}

/// `If-Match` (RFC 7644 §3.14): absent or `*` passes; otherwise one of its tags must be
/// the resource's version, else 412 and nothing changes.
pub fn check_version(headers: &HeaderMap, meta: &Value) -> Result<(), ScimError> {
    let Some(wanted) = headers.get(header::IF_MATCH) else {
        return Ok(());
    };
    let current = meta["version"].as_str().unwrap_or_default();
    let strip = |t: &str| t.trim().trim_start_matches("W/").to_string();
    let ok = wanted.to_str().is_ok_and(|w| {
        w.split(',')
            .any(|t| t.trim() == "*" || strip(t) == strip(current))
    });
    if ok {
        Ok(())
    } else {
        Err(ScimError::new(
            StatusCode::PRECONDITION_FAILED,
            None,
            "the resource changed since the version in If-Match; read it again and retry",
        ))
    }
}

/// A single resource: its document with `meta`, shaped, with `ETag` and (for 201)
/// `Location`.
pub fn resource_answer(
    doc: Value,
    meta: Value,
    status: StatusCode,
    shape: &query::Shape,
    core: &str,
) -> Response {
    let mut doc = doc;
    let (etag, loc) = (
        meta["version"].as_str().unwrap_or_default().to_string(),
        meta["location"].as_str().unwrap_or_default().to_string(),
    );
    doc["meta"] = meta;
    let mut res = scim_json(status, shape.apply(doc, core));
    if let Ok(v) = HeaderValue::from_str(&etag) {
        res.headers_mut().insert(header::ETAG, v);
    }
    if status == StatusCode::CREATED {
        if let Ok(v) = HeaderValue::from_str(&loc) {
            res.headers_mut().insert(header::LOCATION, v);
        }
    }
    res
}

/// A SCIM request body: `application/scim+json` (or `application/json`), a JSON object,
/// at most 64 KiB; refusals in SCIM's error shape.
#[derive(Debug)]
pub struct ScimBody(pub Value);

impl<S: Send + Sync> FromRequest<S> for ScimBody {
    type Rejection = ScimError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        crate::api::json::JsonBody::<Value>::from_request(req, state)
            .await
            .map(|b| Self(b.0))
            .map_err(|e| {
                let mut s = ScimError::from(e);
                if s.status == StatusCode::BAD_REQUEST {
                    s.scim_type = Some("invalidSyntax");
                }
                if s.status == StatusCode::UNSUPPORTED_MEDIA_TYPE {
                    s.detail = format!("send the body with Content-Type: {SCIM_JSON}");
                }
                s
            })
    }
}
