//! `/Users`: the SCIM user (RFC 7643 §4.1 with the enterprise extension, §4.3) over a
//! textid user. The directory owns `userName` (userPrincipalName), `displayName`,
//! `active` (accountEnabled) and the public numbers: the first `phoneNumbers` element of
//! type `mobile` is `mobilePhone`, those of type `work` are `businessPhones`. Everything
//! else the client sends (`name`, `emails`, `title`, the enterprise extension, other
//! phone numbers, ...) is kept as sent in the user's SCIM record and returned as sent, so
//! that it round-trips; `password` is never stored nor returned, `groups` is read-only.

use serde_json::{json, Map, Value};
use textid_core::directory::User;
use textid_core::UserId;
use textid_store::ScimRecord;
use textid_usecases::provisioning::{self, SyncedUser};

use super::auth::Provisioner;
use super::error::ScimError;
use super::filter::{get_ci, Filter, Op};
use super::location;
use super::resource::{self, Read, Resource};
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
fn active(v: &Value) -> Result<bool, ScimError> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s.eq_ignore_ascii_case("true") => Ok(true),
        Value::String(s) if s.eq_ignore_ascii_case("false") => Ok(false),
        _ => Err(ScimError::bad(
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
            // Kept so that the answer has a displayName exactly when the client sent one.
            if let Some(d) = display {
                attributes.insert("displayName".into(), json!(d));
            }
        } else if key.eq_ignore_ascii_case("externalId") {
            external_id = text(value, "externalId")?;
        } else if key.eq_ignore_ascii_case("active") {
            enabled = match value {
                Value::Null => None,
                v => Some(active(v)?),
            };
            if let Some(e) = enabled {
                attributes.insert("active".into(), json!(e));
            }
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
        account_enabled: enabled,
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
    // The directory's values, where the client sent the attribute (or no client wrote
    // the user): they may have changed through Graph since.
    let sent = |k: &str| attrs.is_none_or(|a| a.contains_key(k));
    if sent("displayName") {
        doc.insert("displayName".into(), json!(u.display_name));
    }
    if sent("active") {
        doc.insert("active".into(), json!(u.account_enabled));
    }
    for (k, v) in attrs.into_iter().flatten() {
        if !["phoneNumbers", "displayName", "active"].contains(&k.as_str()) {
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

/// The user resource type.
pub struct Users;

/// `userName eq "..."`: the matching query every provisioning cycle sends per user, answered
/// from the index instead of a walk over the tenant.
fn user_name_eq(filter: Option<&Filter>) -> Option<&str> {
    match filter? {
        Filter::Compare(p, Op::Eq, Value::String(v))
            if p.attr.eq_ignore_ascii_case("userName")
                && p.sub.is_none()
                && p.urn
                    .as_deref()
                    .is_none_or(|u| u.eq_ignore_ascii_case(USER)) =>
        {
            Some(v)
        }
        _ => None,
    }
}

impl Resource for Users {
    const CORE: &'static str = USER;

    async fn read(app: &App, p: &Provisioner, id: &str) -> Result<Read, ScimError> {
        let (u, rec) = provisioning::user(app, &p.tenant, user_id(id)?).await?;
        Ok(resource::read(
            app,
            p,
            "User",
            document(&u, rec.as_ref()),
            rec.as_ref(),
        ))
    }

    async fn all(
        app: &App,
        p: &Provisioner,
        filter: Option<&Filter>,
    ) -> Result<Vec<Read>, ScimError> {
        let users = match user_name_eq(filter) {
            Some(name) => match textid_usecases::directory::find_user(app, &p.tenant, name).await {
                Ok(u) => vec![provisioning::user(app, &p.tenant, u.id).await?],
                Err(_) => Vec::new(),
            },
            None => provisioning::users(app, &p.tenant).await?,
        };
        Ok(users
            .iter()
            .map(|(u, rec)| resource::read(app, p, "User", document(u, rec.as_ref()), rec.as_ref()))
            .collect())
    }

    async fn create(app: &App, p: &Provisioner, doc: &Value) -> Result<String, ScimError> {
        let (u, _) = provisioning::create_user(app, &p.tenant, ingest(doc)?, &p.actor()).await?;
        Ok(u.id.to_string())
    }

    async fn write(app: &App, p: &Provisioner, id: &str, doc: &Value) -> Result<(), ScimError> {
        provisioning::replace_user(app, &p.tenant, user_id(id)?, ingest(doc)?, &p.actor()).await?;
        Ok(())
    }

    async fn delete(app: &App, p: &Provisioner, id: &str) -> Result<(), ScimError> {
        Ok(provisioning::delete_user(app, &p.tenant, user_id(id)?, &p.actor()).await?)
    }
}

/// `{base}/Users/{id}`.
pub fn user_location(app: &App, tenant: &str, id: UserId) -> String {
    location(app, tenant, "Users", &id.to_string())
}
