//! `/Users`: the SCIM user (RFC 7643 §4.1 with the enterprise extension, §4.3) over a
//! textid user. The directory owns `userName` (userPrincipalName), `displayName`,
//! `active` (accountEnabled) and the public numbers: the first `phoneNumbers` element of
//! type `mobile` is `mobilePhone`, those of type `work` are `businessPhones`. Everything
//! else the client sends (`name`, `emails`, `title`, the enterprise extension, other
//! phone numbers, ...) is kept as sent in the user's SCIM record and returned as sent, so
//! that it round-trips; `password` is never stored nor returned, `groups` is read-only.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde_json::{json, Map, Value};
use textid_core::directory::User;
use textid_core::UserId;
use textid_store::ScimRecord;
use textid_usecases::provisioning::{self, SyncedUser};

use super::auth::Provisioner;
use super::error::ScimError;
use super::filter::get_ci;
use super::patch::{self, PatchRequest};
use super::query::{ListQuery, SearchRequest, Shape};
use super::{check_version, location, meta, resource_answer, ScimBody};
use crate::app::App;

/// The core user schema.
pub const USER: &str = "urn:ietf:params:scim:schemas:core:2.0:User";
/// The enterprise user extension.
pub const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// The attributes kept as sent in the SCIM record, by their schema names.
const KEPT: &[&str] = &[
    "name",
    "nickName",
    "profileUrl",
    "title",
    "userType",
    "preferredLanguage",
    "locale",
    "timezone",
    "emails",
    "phoneNumbers",
    "ims",
    "photos",
    "addresses",
    "entitlements",
    "roles",
    "x509Certificates",
];

/// Attributes a client may send that are not kept (read-only, or never stored).
const IGNORED: &[&str] = &["schemas", "id", "meta", "groups", "password"];

fn text<'a>(v: &'a Value, field: &str) -> Result<Option<&'a str>, ScimError> {
    match v {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        _ => Err(ScimError::bad(
            "invalidValue",
            format!("{field} must be a string"),
        )),
    }
}

/// `active`: a boolean, or (Entra's habit) the string "True"/"False" in any case.
fn active(v: Option<&Value>) -> Result<bool, ScimError> {
    match v {
        None | Some(Value::Null) => Ok(true),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(ScimError::bad(
            "invalidValue",
            "active must be true or false",
        )),
    }
}

/// The public numbers a `phoneNumbers` list carries: the first `mobile` and every `work`.
fn public_numbers(list: Option<&Value>) -> Result<(Option<String>, Vec<String>), ScimError> {
    let items = match list {
        None | Some(Value::Null) => return Ok((None, Vec::new())),
        Some(Value::Array(items)) => items,
        Some(_) => {
            return Err(ScimError::bad(
                "invalidValue",
                "phoneNumbers must be a list",
            ))
        }
    };
    let (mut mobile, mut work) = (None, Vec::new());
    for item in items {
        let kind = get_ci(item, "type").and_then(Value::as_str).unwrap_or("");
        let value = text(
            get_ci(item, "value").unwrap_or(&Value::Null),
            "phoneNumbers.value",
        )?;
        let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
            continue;
        };
        if kind.eq_ignore_ascii_case("mobile") && mobile.is_none() {
            mobile = Some(value.to_string());
        } else if kind.eq_ignore_ascii_case("work") {
            work.push(value.to_string());
        }
    }
    Ok((mobile, work))
}

/// Reads a user document (a POST or PUT body, or a patched user) into what the sync
/// writes. Attribute names are matched case-insensitively; unknown ones are refused.
pub fn ingest(doc: &Value) -> Result<SyncedUser, ScimError> {
    let obj = doc
        .as_object()
        .ok_or_else(|| ScimError::bad("invalidSyntax", "the body must be a JSON object"))?;
    let mut attributes = Map::new();
    let (mut upn, mut display, mut external_id, mut enabled) = (None, None, None, None);
    for (key, value) in obj {
        let canonical =
            |names: &[&'static str]| names.iter().find(|n| n.eq_ignore_ascii_case(key)).copied();
        if key.eq_ignore_ascii_case(ENTERPRISE) {
            if !value.is_object() && !value.is_null() {
                return Err(ScimError::bad(
                    "invalidValue",
                    format!("{ENTERPRISE} must be an object"),
                ));
            }
            if value.as_object().is_some_and(|m| !m.is_empty()) {
                attributes.insert(ENTERPRISE.into(), value.clone());
            }
        } else if key.eq_ignore_ascii_case("userName") {
            upn = text(value, "userName")?;
        } else if key.eq_ignore_ascii_case("displayName") {
            display = text(value, "displayName")?;
        } else if key.eq_ignore_ascii_case("externalId") {
            external_id = text(value, "externalId")?;
        } else if key.eq_ignore_ascii_case("active") {
            enabled = Some(active(Some(value))?);
        } else if let Some(name) = canonical(KEPT) {
            if !value.is_null() {
                attributes.insert(name.into(), value.clone());
            }
        } else if canonical(IGNORED).is_none() {
            return Err(ScimError::bad(
                "invalidSyntax",
                "the body has an attribute that is not in the User schema or the enterprise extension (see /Schemas)",
            ));
        }
    }
    let upn = upn.ok_or_else(|| ScimError::bad("invalidValue", "userName is required"))?;
    let (mobile_phone, business_phones) = public_numbers(attributes.get("phoneNumbers"))?;
    let display_name = match display.filter(|d| !d.trim().is_empty()) {
        Some(d) => d.to_string(),
        None => fallback_display_name(&attributes).unwrap_or_else(|| upn.to_string()),
    };
    Ok(SyncedUser {
        upn: upn.to_string(),
        display_name,
        account_enabled: enabled.unwrap_or(true),
        mobile_phone,
        business_phones,
        external_id: external_id.map(str::to_string),
        attributes: Value::Object(attributes),
    })
}

/// textid needs a display name; SCIM does not: `name.formatted`, else given and family name.
fn fallback_display_name(attributes: &Map<String, Value>) -> Option<String> {
    let name = attributes.get("name")?;
    if let Some(f) = get_ci(name, "formatted").and_then(Value::as_str) {
        return Some(f.to_string());
    }
    let parts: Vec<&str> = ["givenName", "familyName"]
        .iter()
        .filter_map(|k| get_ci(name, k).and_then(Value::as_str))
        .collect();
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// The `phoneNumbers` list as sent, with the directory's current public numbers in it
/// (an admin may have changed them through Graph since).
fn phone_numbers(stored: Option<&Value>, u: &User) -> Vec<Value> {
    let mut list: Vec<Value> = stored
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    let is = |item: &Value, t: &str| {
        get_ci(item, "type")
            .and_then(Value::as_str)
            .is_some_and(|k| k.eq_ignore_ascii_case(t))
    };
    let set_value = |item: &mut Value, v: &str| {
        if let Some(m) = item.as_object_mut() {
            m.retain(|k, _| !k.eq_ignore_ascii_case("value"));
            m.insert("value".into(), json!(v));
        }
    };
    match (list.iter().position(|i| is(i, "mobile")), &u.mobile_phone) {
        (Some(at), Some(m)) => set_value(&mut list[at], m),
        (Some(at), None) => {
            list.remove(at);
        }
        (None, Some(m)) => list.push(json!({"value": m, "type": "mobile"})),
        (None, None) => {}
    }
    let mut work = u.business_phones.iter();
    let mut out = Vec::with_capacity(list.len());
    for mut item in list {
        if is(&item, "work") {
            match work.next() {
                Some(w) => set_value(&mut item, w),
                None => continue,
            }
        }
        out.push(item);
    }
    out.extend(work.map(|w| json!({"value": w, "type": "work"})));
    out
}

/// The SCIM document of a user (without `meta`).
pub fn document(u: &User, rec: Option<&ScimRecord>) -> Value {
    let mut doc = Map::new();
    let attrs = rec.and_then(|r| r.attributes.as_object());
    let mut schemas = vec![json!(USER)];
    if attrs.is_some_and(|a| a.contains_key(ENTERPRISE)) {
        schemas.push(json!(ENTERPRISE));
    }
    doc.insert("schemas".into(), Value::Array(schemas));
    doc.insert("id".into(), json!(u.id));
    if let Some(x) = rec.and_then(|r| r.external_id.as_deref()) {
        doc.insert("externalId".into(), json!(x));
    }
    doc.insert("userName".into(), json!(u.upn));
    doc.insert("displayName".into(), json!(u.display_name));
    doc.insert("active".into(), json!(u.account_enabled));
    for (k, v) in attrs.into_iter().flatten() {
        if k != "phoneNumbers" {
            doc.insert(k.clone(), v.clone());
        }
    }
    let phones = phone_numbers(attrs.and_then(|a| a.get("phoneNumbers")), u);
    if !phones.is_empty() {
        doc.insert("phoneNumbers".into(), Value::Array(phones));
    }
    Value::Object(doc)
}

fn user_id(id: &str) -> Result<UserId, ScimError> {
    id.parse().map_err(|_| ScimError::not_found("user"))
}

async fn current(app: &App, p: &Provisioner, id: &str) -> Result<(User, Value, Value), ScimError> {
    let (u, rec) = provisioning::user(app, &p.tenant, user_id(id)?).await?;
    let doc = document(&u, rec.as_ref());
    let m = meta(app, &p.tenant_name, "User", &doc, rec.as_ref());
    Ok((u, doc, m))
}

fn answer(app: &App, p: &Provisioner, u: &User, rec: &ScimRecord, status: StatusCode) -> Response {
    let doc = document(u, Some(rec));
    let m = meta(app, &p.tenant_name, "User", &doc, Some(rec));
    resource_answer(doc, m, status, &Shape::default(), USER)
}

/// `POST /Users` → 201.
pub async fn create(
    State(app): State<App>,
    p: Provisioner,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let input = ingest(&body)?;
    let (u, rec) = provisioning::create_user(&app, &p.tenant, input, &p.actor()).await?;
    Ok(answer(&app, &p, &u, &rec, StatusCode::CREATED))
}

/// `GET /Users/{id}`.
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
    Ok(resource_answer(doc, m, StatusCode::OK, &shape, USER))
}

/// `PUT /Users/{id}`: replaces every attribute (those not sent are cleared).
pub async fn replace(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (u, _, m) = current(&app, &p, &id).await?;
    check_version(&headers, &m)?;
    let input = ingest(&body)?;
    let (u, rec) = provisioning::replace_user(&app, &p.tenant, u.id, input, &p.actor()).await?;
    Ok(answer(&app, &p, &u, &rec, StatusCode::OK))
}

/// `PATCH /Users/{id}` → 200 with the user.
pub async fn patch(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
    ScimBody(body): ScimBody,
) -> Result<Response, ScimError> {
    let (u, mut doc, m) = current(&app, &p, &id).await?;
    check_version(&headers, &m)?;
    let req: PatchRequest = serde_json::from_value(body)
        .map_err(|_| ScimError::bad("invalidSyntax", "the body must be a PatchOp: {\"schemas\": [...], \"Operations\": [{\"op\", \"path\", \"value\"}]}"))?;
    patch::apply(&mut doc, &req, USER)?;
    let input = ingest(&doc)?;
    let (u, rec) = provisioning::replace_user(&app, &p.tenant, u.id, input, &p.actor()).await?;
    Ok(answer(&app, &p, &u, &rec, StatusCode::OK))
}

/// `DELETE /Users/{id}` → 204.
pub async fn delete(
    State(app): State<App>,
    p: Provisioner,
    Path((_, id)): Path<(String, String)>,
    headers: HeaderMap,
) -> Result<StatusCode, ScimError> {
    let (u, _, m) = current(&app, &p, &id).await?;
    check_version(&headers, &m)?;
    textid_usecases::directory::delete_user(&app, &p.tenant, u.id, &p.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn all(app: &App, p: &Provisioner) -> Result<Vec<Value>, ScimError> {
    Ok(provisioning::users(app, &p.tenant)
        .await?
        .iter()
        .map(|(u, rec)| {
            let mut doc = document(u, rec.as_ref());
            doc["meta"] = meta(app, &p.tenant_name, "User", &doc, rec.as_ref());
            doc
        })
        .collect())
}

/// `GET /Users?filter=...&startIndex=&count=&attributes=`.
pub async fn list(
    State(app): State<App>,
    p: Provisioner,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, ScimError> {
    let query = ListQuery::from_params(&q)?;
    Ok(super::scim_json(
        StatusCode::OK,
        query.respond(all(&app, &p).await?, USER),
    ))
}

/// `POST /Users/.search`.
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
        query.respond(all(&app, &p).await?, USER),
    ))
}

/// `{base}/Users/{id}`.
pub fn user_location(app: &App, tenant: &str, id: UserId) -> String {
    location(app, tenant, "Users", &id.to_string())
}
