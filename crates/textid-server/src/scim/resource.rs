//! The HTTP operations every SCIM resource type has (RFC 7644 §3.3–§3.6), written once
//! over [`Resource`]: create, get, replace (PUT), PATCH, delete, list and `/.search`. A
//! resource type says how to read, write and delete its resources; the operations add the
//! versions (`If-Match`), the shaping (`attributes`) and the answers.

use std::collections::HashMap;
use std::future::Future;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::Value;

use super::auth::Provisioner;
use super::error::ScimError;
use super::filter::Filter;
use super::patch::{self, PatchRequest};
use super::query::{ListQuery, SearchRequest, Shape};
use super::{check_version, meta, resource_answer, scim_json, ScimBody};
use crate::app::App;

/// A resource as read: its SCIM document (without `meta`) and its `meta`.
pub struct Read {
    /// The document.
    pub doc: Value,
    /// Its `meta` (with the version).
    pub meta: Value,
}

/// A SCIM resource type.
pub trait Resource {
    /// The core schema URN.
    const CORE: &'static str;

    /// One resource by id (404 when there is none).
    fn read(
        app: &App,
        p: &Provisioner,
        id: &str,
    ) -> impl Future<Output = Result<Read, ScimError>> + Send;
    /// The resources a list may match: every one, or fewer when `filter` allows a shortcut
    /// (the filter is applied to what this returns).
    fn all(
        app: &App,
        p: &Provisioner,
        filter: Option<&Filter>,
    ) -> impl Future<Output = Result<Vec<Read>, ScimError>> + Send;
    /// Creates a resource from a document; returns its id.
    fn create(
        app: &App,
        p: &Provisioner,
        doc: &Value,
    ) -> impl Future<Output = Result<String, ScimError>> + Send;
    /// Replaces a resource with a document.
    fn write(
        app: &App,
        p: &Provisioner,
        id: &str,
        doc: &Value,
    ) -> impl Future<Output = Result<(), ScimError>> + Send;
    /// Deletes a resource.
    fn delete(
        app: &App,
        p: &Provisioner,
        id: &str,
    ) -> impl Future<Output = Result<(), ScimError>> + Send;
}

/// A [`Read`] of a document with the `meta` of its kind.
pub fn read(
    app: &App,
    p: &Provisioner,
    kind: &str,
    doc: Value,
    rec: Option<&textid_store::ScimRecord>,
) -> Read {
    let meta = meta(app, &p.tenant_name, kind, &doc, rec);
    Read { doc, meta }
}

async fn answer<R: Resource>(
    app: &App,
    p: &Provisioner,
    id: &str,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let r = R::read(app, p, id).await?;
    Ok(resource_answer(
        r.doc,
        r.meta,
        status,
        &Shape::default(),
        R::CORE,
    ))
}

fn param<'a>(q: &'a HashMap<String, String>, key: &str) -> Option<&'a str> {
    q.iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v.as_str())
}

/// `POST /{Resources}` → 201.
pub async fn create<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let id = R::create(&app, &p, &body).await?;
    answer::<R>(&app, &p, &id, StatusCode::CREATED).await
}

/// `GET /{Resources}/{id}` with `attributes` / `excludedAttributes`.
pub async fn get<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let shape = Shape::parse(param(&q, "attributes"), param(&q, "excludedAttributes"))?;
    let r = R::read(&app, &p, &id).await?;
    Ok(resource_answer(
        r.doc,
        r.meta,
        StatusCode::OK,
        &shape,
        R::CORE,
    ))
}

/// `PUT /{Resources}/{id}`: replaces every attribute (those not sent are cleared).
pub async fn replace<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    check_version(&headers, &R::read(&app, &p, &id).await?.meta)?;
    R::write(&app, &p, &id, &body).await?;
    answer::<R>(&app, &p, &id, StatusCode::OK).await
}

/// `PATCH /{Resources}/{id}` → 200 with the resource: the operations are applied to the
/// current document, which is then written like a PUT.
pub async fn patch<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let Read { mut doc, meta } = R::read(&app, &p, &id).await?;
    check_version(&headers, &meta)?;
    let req: PatchRequest = serde_json::from_value(body).map_err(|_| {
        ScimError::bad(
            "invalidSyntax",
            "the body must be a PatchOp: {\"schemas\": [...], \"Operations\": [{\"op\", \"path\", \"value\"}]}",
        )
    })?;
    patch::apply(&mut doc, &req, R::CORE)?;
    R::write(&app, &p, &id, &doc).await?;
    answer::<R>(&app, &p, &id, StatusCode::OK).await
}

/// `DELETE /{Resources}/{id}` → 204.
pub async fn delete<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    check_version(&headers, &R::read(&app, &p, &id).await?.meta)?;
    R::delete(&app, &p, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn respond<R: Resource>(
    app: &App,
    p: &Provisioner,
    query: ListQuery,
) -> Result<Response, ScimError> {
    let all = R::all(app, p, query.filter.as_ref()).await?;
    let docs = all
        .into_iter()
        .map(|Read { mut doc, meta }| {
            doc["meta"] = meta;
            doc
        })
        .collect();
    Ok(scim_json(StatusCode::OK, query.respond(docs, R::CORE)))
}

/// `GET /{Resources}?filter=&startIndex=&count=&attributes=&excludedAttributes=`.
pub async fn list<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    respond::<R>(&app, &p, ListQuery::from_params(&q)?).await
}

/// `POST /{Resources}/.search`.
pub async fn search<R: Resource>(
    State(app): State<App>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let s: SearchRequest = serde_json::from_value(body)
        .map_err(|_| ScimError::bad("invalidSyntax", "the body must be a SearchRequest"))?;
    respond::<R>(&app, &p, ListQuery::from_search(s)?).await
}
