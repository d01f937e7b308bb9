//! `/Groups`: the SCIM group (RFC 7643 §4.2) over a textid group. The directory owns
//! `displayName` and the membership; members are users (textid groups do not nest). The
//! member objects a client sends (`value`, `$ref`, `type`, `display`) are kept as sent
//! and returned while the user is a member, so that they round-trip.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use textid_core::directory::{Group, User};
use textid_core::{GroupId, UserId};
use textid_store::ScimRecord;
use textid_usecases::provisioning::{self, SyncedGroup};

use super::auth::Provisioner;
use super::error::ScimError;
use super::filter::get_ci;
use super::patch::{self, PatchRequest};
use super::query::{ListQuery, SearchRequest, Shape};
use super::users::user_location;
use super::{check_version, meta, resource_answer, ScimBody};
use crate::app::App;

/// The core group schema.
pub const GROUP: &str = "urn:ietf:params:scim:schemas:core:2.0:Group";

fn member_id(m: &Value) -> Result<UserId, ScimError> {
    let value = get_ci(m, "value").and_then(Value::as_str);
    if get_ci(m, "type")
        .and_then(Value::as_str)
        .is_some_and(|t| t.eq_ignore_ascii_case("Group"))
    {
        return Err(ScimError::bad(
            "invalidValue",
            "members: groups cannot be members of groups in textid",
        ));
    }
    value.and_then(|v| v.parse().ok()).ok_or_else(|| {
        ScimError::bad(
            "invalidValue",
            "members: each member needs the value of an existing user's id",
        )
    })
}

/// Reads a group document into what the sync writes.
pub fn ingest(doc: &Value) -> Result<SyncedGroup, ScimError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let (mut name, mut external_id, mut members) = (None, None, Vec::new());
    for (key, value) in obj {
        let is = |n: &str| key.eq_ignore_ascii_case(n);
        if is("displayName") {
            name = value.as_str().map(str::to_string);
        } else if is("externalId") {
            external_id = value.as_str().map(str::to_string);
        } else if is("members") {
            match value {
                Value::Null => {}
                Value::Array(items) => members.clone_from(items),
                _ => return Err(ScimError::bad("invalidValue", "members must be a list")),
            }
        } else if !["schemas", "id", "meta"].iter().any(|n| is(n)) {
            return Err(ScimError::bad(
                "invalidSyntax",
                "the body has an attribute that is not in the Group schema (see /Schemas)",
            ));
        }
    }
    let display_name =
        name.ok_or_else(|| ScimError::bad("invalidValue", "displayName is required"))?;
    let ids = members
        .iter()
        .map(member_id)
        .collect::<Result<Vec<_>, _>>()?;
    Ok(SyncedGroup {
        display_name,
        members: ids,
        external_id,
        attributes: json!({ "members": members }),
    })
}

/// The SCIM document of a group (without `meta`).
pub fn document(
    app: &App,
    tenant: &str,
    g: &Group,
    members: &[User],
    rec: Option<&ScimRecord>,
) -> Value {
    let stored: Vec<Value> = rec
        .and_then(|r| r.attributes.get("members"))
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is_member = |m: &Value| member_id(m).is_ok_and(|id| members.iter().any(|u| u.id == id));
    let mut listed: Vec<Value> = Vec::new();
    for m in stored.into_iter().filter(is_member) {
        if !listed
            .iter()
            .any(|l| get_ci(l, "value") == get_ci(&m, "value"))
        {
            listed.push(m);
        }
    }
    for u in members {
        let id = u.id.to_string();
        if !listed
            .iter()
            .any(|l| get_ci(l, "value").and_then(Value::as_str) == Some(id.as_str()))
        {
            listed.push(
                json!({"value": id, "$ref": user_location(app, tenant, u.id), "type": "User"}),
            );
        }
    }
    let mut doc = Map::new();
    doc.insert("schemas".into(), json!([GROUP]));
    doc.insert("id".into(), json!(g.id));
    if let Some(x) = rec.and_then(|r| r.external_id.as_deref()) {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("displayName".into(), json!(g.display_name));
    if !listed.is_empty() {
        doc.insert("members".into(), Value::Array(listed));
    }
    Value::Object(doc)
}

fn group_id(id: &str) -> Result<GroupId, ScimError> {
    id.parse().map_err(|_| ScimError::not_found("group"))
}

async fn current(app: &App, p: &Provisioner, id: &str) -> Result<(Group, Value, Value), ScimError> {
    let (g, members, rec) = provisioning::group(app, &p.tenant, group_id(id)?).await?;
    let doc = document(app, &p.tenant_name, &g, &members, rec.as_ref());
    let m = meta(app, &p.tenant_name, "Group", &doc, rec.as_ref());
    Ok((g, doc, m))
}

async fn answer(
    app: &App,
    p: &Provisioner,
    id: GroupId,
    status: StatusCode,
) -> Result<Response, ScimError> {
    let (_, doc, m) = current(app, p, &id.to_string()).await?;
    Ok(resource_answer(doc, m, status, &Shape::default(), GROUP))
}

/// `POST /Groups` → 201.
pub async fn create(
    State(app): State<App>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let input = ingest(&body)?;
    let (g, _) = provisioning::create_group(&app, &p.tenant, input, &p.actor()).await?;
    answer(&app, &p, g.id, StatusCode::CREATED).await
}

/// `GET /Groups/{id}`.
pub async fn get(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let shape = Shape::parse(
        q.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("attributes"))
            .map(|(_, v)| v.as_str()),
        q.iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("excludedAttributes"))
            .map(|(_, v)| v.as_str()),
    )?;
    let (_, doc, m) = current(&app, &p, &id).await?;
    Ok(resource_answer(doc, m, StatusCode::OK, &shape, GROUP))
}

/// `PUT /Groups/{id}`.
pub async fn replace(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (g, _, m) = current(&app, &p, &id).await?;
    check_version(&headers, &m)?;
    let input = ingest(&body)?;
    provisioning::replace_group(&app, &p.tenant, g.id, input, &p.actor()).await?;
    answer(&app, &p, g.id, StatusCode::OK).await
}

/// `PATCH /Groups/{id}` → 200 with the group.
pub async fn patch(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (g, mut doc, m) = current(&app, &p, &id).await?;
    check_version(&headers, &m)?;
    let req: PatchRequest = serde_json::from_value(body)
        .map_err(|_| ScimError::bad("invalidSyntax", "the body must be a PatchOp: {\"schemas\": [...], \"Operations\": [{\"op\", \"path\", \"value\"}]}"))?;
    patch::apply(&mut doc, &req, GROUP)?;
    let input = ingest(&doc)?;
    provisioning::replace_group(&app, &p.tenant, g.id, input, &p.actor()).await?;
    answer(&app, &p, g.id, StatusCode::OK).await
}

/// `DELETE /Groups/{id}` → 204.
pub async fn delete(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    let (g, _, m) = current(&app, &p, &id).await?;
    check_version(&headers, &m)?;
    app.store()
        .delete_group(p.tenant.id, g.id, &p.actor(), app.clock().now())
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn all(app: &App, p: &Provisioner) -> Result<Vec<Value>, ScimError> {
    Ok(provisioning::groups(app, &p.tenant)
        .await?
        .iter()
        .map(|(g, members, rec)| {
            let mut doc = document(app, &p.tenant_name, g, members, rec.as_ref());
            doc["meta"] = meta(app, &p.tenant_name, "Group", &doc, rec.as_ref());
            doc
        })
        .collect())
}

/// `GET /Groups`.
pub async fn list(
    State(app): State<App>,
    p: Provisioner,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let query = ListQuery::from_params(&q)?;
    Ok(super::scim_json(
        StatusCode::OK,
        query.respond(all(&app, &p).await?, GROUP),
    ))
}

/// `POST /Groups/.search`.
pub async fn search(
    State(app): State<App>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let s: SearchRequest = serde_json::from_value(body)
        .map_err(|_| ScimError::bad("invalidSyntax", "the body must be a SearchRequest"))?;
    let query = ListQuery::from_search(s)?;
    Ok(super::scim_json(
        StatusCode::OK,
        query.respond(all(&app, &p).await?, GROUP),
    ))
}
