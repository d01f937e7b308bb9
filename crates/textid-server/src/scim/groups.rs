//! `/Groups`: the SCIM group (RFC 7643 §4.2) over a textid group. The directory owns
//! `displayName` and the membership; members are users (textid groups do not nest). The
//! member objects a client sends (`value`, `$ref`, `type`, `display`) are kept as sent
//! and returned while the user is a member, so that they round-trip.

use serde_json::{json, Map, Value};
use textid_core::directory::{Group, User};
use textid_core::{GroupId, UserId};
use textid_store::ScimRecord;
use textid_usecases::provisioning::{self, SyncedGroup};

use super::auth::Provisioner;
use super::error::ScimError;
use super::filter::{get_ci, Filter};
use super::resource::{self, Read, Resource};
use super::users::user_location;
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

/// The group resource type.
pub struct Groups;

fn read_group(
    app: &App,
    p: &Provisioner,
    g: &Group,
    members: &[User],
    rec: Option<&ScimRecord>,
) -> Read {
    resource::read(
        app,
        p,
        "Group",
        document(app, &p.tenant_name, g, members, rec),
        rec,
    )
}

impl Resource for Groups {
    const CORE: &'static str = GROUP;

    async fn read(app: &App, p: &Provisioner, id: &str) -> Result<Read, ScimError> {
        let (g, members, rec) = provisioning::group(app, &p.tenant, group_id(id)?).await?;
        Ok(read_group(app, p, &g, &members, rec.as_ref()))
    }

    async fn all(app: &App, p: &Provisioner, _: Option<&Filter>) -> Result<Vec<Read>, ScimError> {
        Ok(provisioning::groups(app, &p.tenant)
            .await?
            .iter()
            .map(|(g, members, rec)| read_group(app, p, g, members, rec.as_ref()))
            .collect())
    }

    async fn create(app: &App, p: &Provisioner, doc: &Value) -> Result<String, ScimError> {
        let (g, _) = provisioning::create_group(app, &p.tenant, ingest(doc)?, &p.actor()).await?;
        Ok(g.id.to_string())
    }

    async fn write(app: &App, p: &Provisioner, id: &str, doc: &Value) -> Result<(), ScimError> {
        provisioning::replace_group(app, &p.tenant, group_id(id)?, ingest(doc)?, &p.actor())
            .await?;
        Ok(())
    }

    async fn delete(app: &App, p: &Provisioner, id: &str) -> Result<(), ScimError> {
        Ok(provisioning::delete_group(app, &p.tenant, group_id(id)?, &p.actor()).await?)
    }
}
