//! `$expand` and the relationships it expands: a user's `memberOf` and `manager`, a
//! group's `members` (Graph has these; textid refuses any other navigation property with
//! Graph's error rather than ignoring it). Like Graph, an expanded collection carries at
//! most [`MAX_EXPANDED`] objects, and an expansion may select its properties
//! (`$expand=manager($select=id,displayName)`).
//!
//! Also the `manager` endpoints: `GET /users/{id}/manager`, `PUT|DELETE
//! /users/{id}/manager/$ref`, `GET /users/{id}/directReports`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Map, Value};
use textid_core::odata::schema::{self, Resource};
use textid_core::tenant::Tenant;
use textid_core::{GroupId, UserId};

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson, GraphPath};
use super::users::{group_json, resolve_user, user_json};
use crate::app::App;
use crate::directory as dir;

/// Objects an expanded collection carries at most (Graph's limit for directory objects).
pub const MAX_EXPANDED: usize = 20;

/// A relationship textid can expand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Nav {
    /// A user's groups.
    MemberOf,
    /// A user's manager.
    Manager,
    /// A group's members.
    Members,
}

impl Nav {
    fn name(self) -> &'static str {
        match self {
            Self::MemberOf => "memberOf",
            Self::Manager => "manager",
            Self::Members => "members",
        }
    }

    /// The resource of the expanded objects (for their `$select`).
    fn target(self) -> &'static Resource {
        match self {
            Self::MemberOf => &schema::GROUP,
            Self::Manager | Self::Members => &schema::USER,
        }
    }
}

/// One `$expand` item: the relationship and the properties to keep (all when `None`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expand {
    nav: Nav,
    select: Option<Vec<&'static str>>,
}

fn bad(message: impl Into<String>) -> GraphError {
    GraphError::new(StatusCode::BAD_REQUEST, "BadRequest", message)
}

/// The `$expand` of a request on `resource` (`User` or `Group`), checked.
pub fn parse(
    q: &HashMap<String, String>,
    resource: &'static Resource,
) -> Result<Vec<Expand>, GraphError> {
    let Some(raw) = q.get("$expand") else {
        return Ok(Vec::new());
    };
    let allowed: &[Nav] = if std::ptr::eq(resource, &schema::USER) {
        &[Nav::MemberOf, Nav::Manager]
    } else {
        &[Nav::Members]
    };
    let names = allowed
        .iter()
        .map(|n| n.name())
        .collect::<Vec<_>>()
        .join(", ");
    let mut out: Vec<Expand> = Vec::new();
    for item in split_top_level(raw) {
        let item = item.trim();
        let (name, options) = match item.find('(') {
            Some(i) if item.ends_with(')') => (&item[..i], Some(&item[i + 1..item.len() - 1])),
            Some(_) => return Err(bad("$expand: unbalanced parentheses")),
            None => (item, None),
        };
        let nav = allowed
            .iter()
            .copied()
            .find(|n| n.name().eq_ignore_ascii_case(name.trim()))
            .ok_or_else(|| {
                bad(format!(
                    "$expand: {} can expand only {names}",
                    resource.name
                ))
            })?;
        let select = match options {
            None => None,
            Some(o) => Some(nested_select(o, nav.target())?),
        };
        if out.iter().any(|e| e.nav == nav) {
            return Err(bad(format!("$expand names {} twice", nav.name())));
        }
        out.push(Expand { nav, select });
    }
    Ok(out)
}

/// Splits at commas outside parentheses.
fn split_top_level(s: &str) -> Vec<&str> {
    let (mut depth, mut start, mut parts) = (0i32, 0, Vec::new());
    for (i, c) in s.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&s[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&s[start..]);
    parts
}

/// `$select=a,b` inside an expansion (the only nested option textid takes).
fn nested_select(
    options: &str,
    target: &'static Resource,
) -> Result<Vec<&'static str>, GraphError> {
    let Some(list) = options
        .trim()
        .strip_prefix("$select=")
        .or_else(|| options.trim().strip_prefix("$SELECT="))
    else {
        return Err(bad(
            "$expand takes only a nested $select, e.g. $expand=manager($select=id,displayName)",
        ));
    };
    list.split(',')
        .map(|name| {
            target.property(name.trim()).map(|p| p.name).ok_or_else(|| {
                bad(format!(
                    "$select in $expand: '{}' is not a property of {} textid can select",
                    name.trim().chars().take(64).collect::<String>(),
                    target.name
                ))
            })
        })
        .collect()
}

fn project(v: Value, select: Option<&Vec<&'static str>>) -> Value {
    match (select, v) {
        (Some(names), Value::Object(o)) => {
            let mut out = Map::new();
            for k in std::iter::once("@odata.type")
                .chain(std::iter::once("id"))
                .chain(names.iter().copied())
            {
                out.insert(k.to_owned(), o.get(k).cloned().unwrap_or(Value::Null));
            }
            Value::Object(out)
        }
        (_, v) => v,
    }
}

/// Adds the expanded relationships to each object of `objects` (users or groups, by
/// their `id`).
pub async fn apply(
    app: &App,
    caller: &Caller,
    expands: &[Expand],
    objects: &mut [Value],
) -> Result<(), GraphError> {
    if expands.iter().any(|e| e.nav == Nav::MemberOf) {
        caller.require("Group.Read.All")?;
    }
    if expands.iter().any(|e| e.nav == Nav::Members) {
        caller.require("User.Read.All")?;
    }
    let tenant = caller.tenant.id;
    for object in objects.iter_mut() {
        let Some(id) = object
            .get("id")
            .and_then(Value::as_str)
            .and_then(|s| s.parse::<uuid::Uuid>().ok())
        else {
            continue;
        };
        for e in expands {
            let select = e.select.as_ref();
            match e.nav {
                Nav::MemberOf => {
                    let mut groups = Vec::new();
                    for gid in app.store().groups_of(tenant, UserId(id)).await? {
                        if let Some(g) = app.store().group(tenant, gid).await? {
                            groups.push(g);
                        }
                    }
                    groups.sort_by(|a, b| a.display_name.cmp(&b.display_name));
                    let value: Vec<Value> = groups
                        .iter()
                        .take(MAX_EXPANDED)
                        .map(|g| project(group_json(g), select))
                        .collect();
                    object["memberOf"] = Value::Array(value);
                }
                Nav::Manager => {
                    // Graph leaves the property out when there is no manager.
                    if let Some(m) = app.store().manager(tenant, UserId(id)).await? {
                        object["manager"] = project(user_json(&m), select);
                    }
                }
                Nav::Members => {
                    let members = app.store().members(tenant, GroupId(id)).await?;
                    let value: Vec<Value> = members
                        .iter()
                        .take(MAX_EXPANDED)
                        .map(|u| project(user_json(u), select))
                        .collect();
                    object["members"] = Value::Array(value);
                }
            }
        }
    }
    Ok(())
}

/// Expands the objects of a collection page (its `value`).
pub async fn apply_to_page(
    app: &App,
    caller: &Caller,
    expands: &[Expand],
    page: &mut Value,
) -> Result<(), GraphError> {
    if expands.is_empty() {
        return Ok(());
    }
    if let Some(Value::Array(items)) = page.get_mut("value") {
        apply(app, caller, expands, items).await?;
    }
    Ok(())
}

/// `GET /v1.0/users/{id}/manager`: the user's manager; 404 when they have none.
pub async fn manager(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let m = app
        .store()
        .manager(caller.tenant.id, u.id)
        .await?
        .ok_or_else(|| GraphError::not_found("manager"))?;
    let mut v = user_json(&m);
    v["@odata.context"] = json!(format!("{}/$metadata#directoryObjects/$entity", base(&app)));
    Ok(Json(v))
}

/// `GET /v1.0/users/{id}/directReports`: the users whose manager this user is.
pub async fn direct_reports(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    if let Some(k) = q.keys().find(|k| k.starts_with('$')) {
        return Err(bad(format!(
            "{} is not supported on directReports",
            k.chars().take(32).collect::<String>()
        )));
    }
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let reports = app.store().direct_reports(caller.tenant.id, u.id).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#directoryObjects", base(&app)),
        "value": reports.iter().map(user_json).collect::<Vec<_>>(),
    })))
}

/// Body of `PUT .../manager/$ref`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Ref {
    #[serde(rename = "@odata.id")]
    odata_id: String,
}

/// `PUT /v1.0/users/{id}/manager/$ref` → 204: sets the user's manager, named by a
/// `users/{id}` or `directoryObjects/{id}` URL.
pub async fn set_manager(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
    GraphJson(body): GraphJson<Ref>,
) -> Result<StatusCode, GraphError> {
    caller.require("User.ReadWrite.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    let key = body
        .odata_id
        .trim_end_matches('/')
        .rsplit('/')
        .next()
        .unwrap_or_default()
        .to_owned();
    let m = manager_named(&app, &caller.tenant, &key).await?;
    dir::set_manager(&app, &caller.tenant, u.id, Some(m), &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

async fn manager_named(app: &App, tenant: &Tenant, key: &str) -> Result<UserId, GraphError> {
    resolve_user(app, tenant, key)
        .await
        .map(|m| m.id)
        .map_err(|_| {
            bad("@odata.id must name a user of the tenant, e.g. https://{host}/v1.0/users/{id}")
        })
}

/// `DELETE /v1.0/users/{id}/manager/$ref` → 204; 404 when the user has no manager.
pub async fn remove_manager(
    State(app): State<App>,
    caller: Caller,
    GraphPath(user): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    caller.require("User.ReadWrite.All")?;
    let u = resolve_user(&app, &caller.tenant, &user).await?;
    if app.store().manager(caller.tenant.id, u.id).await?.is_none() {
        return Err(GraphError::not_found("manager"));
    }
    dir::set_manager(&app, &caller.tenant, u.id, None, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(expand: &str) -> HashMap<String, String> {
        HashMap::from([("$expand".to_owned(), expand.to_owned())])
    }

    #[test]
    fn users_expand_member_of_and_manager_with_a_nested_select() {
        let e = parse(
            &q("memberOf,manager($select=id,displayName)"),
            &schema::USER,
        )
        .unwrap();
        assert_eq!(e.len(), 2);
        assert_eq!((e[0].nav, e[0].select.clone()), (Nav::MemberOf, None));
        assert_eq!(
            (e[1].nav, e[1].select.clone()),
            (Nav::Manager, Some(vec!["id", "displayName"]))
        );
        assert_eq!(
            parse(&q("members"), &schema::GROUP).unwrap()[0].nav,
            Nav::Members
        );
    }

    #[test]
    fn anything_else_is_refused_not_ignored() {
        for bad in [
            "directReports",
            "members",
            "manager($top=1)",
            "manager($select=nope)",
            "manager(",
            "manager,manager",
        ] {
            assert!(parse(&q(bad), &schema::USER).is_err(), "{bad}");
        }
        assert!(parse(&q("memberOf"), &schema::GROUP).is_err());
    }
}
