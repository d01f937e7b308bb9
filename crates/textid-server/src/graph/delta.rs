//! `/users/delta` and `/groups/delta` (issue #17), as Graph answers them: a first round
//! returns every object, paged with `@odata.nextLink` (`$skiptoken`), and its last page
//! carries `@odata.deltaLink` (`$deltatoken`); a call with that token returns only what
//! changed since (created, updated, restored; for groups, with `members@delta`), deleted
//! objects as `{"id", "@removed": {"reason": "changed"}}` (restorable) or `"deleted"`
//! (gone for good), then a new deltaLink. `$deltatoken=latest` answers an empty page with
//! a deltaLink of now.
//!
//! Tokens are opaque to clients (base64url JSON of the tenant's change sequence, the round's
//! start and, in a skiptoken, the page's position) and checked: a malformed one is a 400
//! `badRequest`. A delta token is good for 30 days, as long as textid keeps tombstones and
//! membership changes; an older one is Graph's `410 syncStateNotFound`, which tells the
//! client to start a new round without a token.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use chrono::Duration;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use textid_core::odata::schema;
use textid_store::{DeletedKind, Removed};
use uuid::Uuid;

use super::auth::Caller;
use super::base;
use super::error::GraphError;
use super::users::{group_json, user_json};
use crate::app::App;

const PAGE: u32 = 100;
const MAX_PAGE: u32 = 999;
/// How long tombstones and membership changes are kept (`purge::ENDED`).
const TOKEN_LIFETIME_DAYS: i64 = 30;

/// Where a round is: the sequence it reports changes after (`-1`: the first round, every
/// object), the sequence its deltaLink will carry, and the page's position.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct Round {
    /// Changes after this sequence.
    s: i64,
    /// The sequence at the round's start (the next deltaLink's).
    h: i64,
    /// The round's start, unix seconds (a token's age).
    t: i64,
    /// The last id of the previous page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    a: Option<Uuid>,
    /// On the removed objects (after the changed ones).
    #[serde(default)]
    r: bool,
}

fn encode(r: &Round) -> String {
    URL_SAFE_NO_PAD.encode(serde_json::to_vec(r).unwrap_or_default())
}

fn decode(token: &str, what: &str) -> Result<Round, GraphError> {
    URL_SAFE_NO_PAD
        .decode(token)
        .ok()
        .and_then(|b| serde_json::from_slice::<Round>(&b).ok())
        .filter(|r| r.s >= -1 && r.h >= 0)
        .ok_or_else(|| {
            GraphError::bad_request(format!(
                "{what} is not valid: use the @odata.nextLink or @odata.deltaLink of the previous answer as it is, or start a new round without a token"
            ))
        })
}

#[derive(Clone, Copy)]
enum Kind {
    Users,
    Groups,
}

impl Kind {
    fn path(self) -> &'static str {
        match self {
            Kind::Users => "users",
            Kind::Groups => "groups",
        }
    }
}

/// The round this request continues or starts.
async fn round(
    app: &App,
    caller: &Caller,
    q: &HashMap<String, String>,
) -> Result<(Round, bool), GraphError> {
    let now = app.clock().now();
    if let Some(t) = q.get("$skiptoken") {
        return Ok((decode(t, "$skiptoken")?, false));
    }
    let version = app.store().directory_version(caller.tenant.id).await?;
    let fresh = |s| Round {
        s,
        h: version,
        t: now.timestamp(),
        a: None,
        r: false,
    };
    match q.get("$deltatoken").map(String::as_str) {
        None => Ok((fresh(-1), false)),
        Some("latest") => Ok((fresh(version), true)),
        Some(t) => {
            let token = decode(t, "$deltatoken")?;
            if now.timestamp() - token.t > Duration::days(TOKEN_LIFETIME_DAYS).num_seconds() {
                return Err(GraphError::new(
                    StatusCode::GONE,
                    "syncStateNotFound",
                    "The delta token is older than 30 days, the time textid keeps what it needs to answer it. Start a new round without a token.",
                ));
            }
            Ok((fresh(token.h), false))
        }
    }
}

fn page_size(headers: &HeaderMap) -> u32 {
    headers
        .get_all("prefer")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|p| p.trim().strip_prefix("odata.maxpagesize="))
        .filter_map(|n| n.trim().parse::<u32>().ok())
        .next()
        .map_or(PAGE, |n| n.clamp(1, MAX_PAGE))
}

/// The properties of `$select`, by their Graph names; `members` for groups (the
/// `members@delta` annotation). Anything else is a 400 that names it, so a link this
/// answer builds from them only ever holds property names.
fn selected(kind: Kind, list: &str) -> Result<Vec<String>, GraphError> {
    let resource = match kind {
        Kind::Users => &schema::USER,
        Kind::Groups => &schema::GROUP,
    };
    list.split(',')
        .map(|name| {
            let name = name.trim();
            if matches!(kind, Kind::Groups) && name.eq_ignore_ascii_case("members") {
                return Ok("members".to_owned());
            }
            resource
                .property(name)
                .map(|p| p.name.to_owned())
                .ok_or_else(|| {
                    GraphError::bad_request(format!(
                        "$select: '{}' is not a property of {} textid can select",
                        name.chars().take(64).collect::<String>(),
                        resource.name
                    ))
                })
        })
        .collect()
}

/// `$select`: the selected properties (and `id`, `@odata.type`, `@removed`) only.
fn project(mut v: Value, select: Option<&Vec<String>>) -> Value {
    if let (Some(keep), Some(obj)) = (select, v.as_object_mut()) {
        obj.retain(|k, _| {
            k == "id" || k.starts_with('@') || k == "members@delta" || keep.contains(k)
        });
    }
    v
}

fn removed_json(r: &Removed) -> Value {
    let reason = if r.purged { "deleted" } else { "changed" };
    json!({"id": r.id, "@removed": {"reason": reason}})
}

async fn group_delta(
    app: &App,
    caller: &Caller,
    g: &textid_core::directory::Group,
    since: i64,
) -> Result<Value, GraphError> {
    let store = app.store();
    let members: Vec<Value> = if since < 0 {
        store
            .members(caller.tenant.id, g.id)
            .await?
            .iter()
            .map(|u| json!({"@odata.type": "#microsoft.graph.user", "id": u.id}))
            .collect()
    } else {
        // The last change of each member wins.
        let mut last: Vec<(textid_core::UserId, bool)> = Vec::new();
        for c in store.member_changes(caller.tenant.id, g.id, since).await? {
            last.retain(|(u, _)| *u != c.user);
            last.push((c.user, c.added));
        }
        last.iter()
            .map(|(u, added)| {
                let mut m = json!({"@odata.type": "#microsoft.graph.user", "id": u});
                if !added {
                    m["@removed"] = json!({"reason": "deleted"});
                }
                m
            })
            .collect()
    };
    let mut v = group_json(g);
    v["members@delta"] = Value::Array(members);
    Ok(v)
}

async fn delta(
    app: &App,
    caller: &Caller,
    kind: Kind,
    headers: &HeaderMap,
    q: &HashMap<String, String>,
) -> Result<Json<Value>, GraphError> {
    if let Some(other) = q
        .keys()
        .find(|k| !matches!(k.as_str(), "$skiptoken" | "$deltatoken" | "$select"))
    {
        return Err(GraphError::bad_request(format!(
            "Query option {other} is not supported on delta: textid takes $select, $skiptoken and $deltatoken."
        )));
    }
    let select = q.get("$select").map(|s| selected(kind, s)).transpose()?;
    let (mut round, latest) = round(app, caller, q).await?;
    let size = page_size(headers);
    let tenant = caller.tenant.id;
    let mut value = Vec::new();
    let mut more = false;
    if !latest && !round.r {
        let ids: Vec<(Uuid, Value)> = match kind {
            Kind::Users => app
                .store()
                .changed_users(tenant, round.s, round.a, size + 1)
                .await?
                .iter()
                .map(|u| (u.id.0, user_json(u)))
                .collect(),
            Kind::Groups => {
                let groups = app
                    .store()
                    .changed_groups(tenant, round.s, round.a, size + 1)
                    .await?;
                let mut out = Vec::new();
                for g in groups.iter().take(size as usize) {
                    out.push((g.id.0, group_delta(app, caller, g, round.s).await?));
                }
                if groups.len() > size as usize {
                    out.push((groups[size as usize].id.0, Value::Null));
                }
                out
            }
        };
        more = ids.len() > size as usize;
        for (id, v) in ids.into_iter().take(size as usize) {
            round.a = Some(id);
            value.push(project(v, select.as_ref()));
        }
        if !more && round.s >= 0 {
            // On to the removed objects of this round.
            round.r = true;
            round.a = None;
        }
    }
    if !latest && round.r && !more {
        let room = size - value.len() as u32;
        let deleted = match kind {
            Kind::Users => DeletedKind::User,
            Kind::Groups => DeletedKind::Group,
        };
        let removed = app
            .store()
            .removed_objects(tenant, deleted, round.s, round.a, room + 1)
            .await?;
        more = removed.len() > room as usize;
        for r in removed.iter().take(room as usize) {
            round.a = Some(r.id);
            value.push(removed_json(r));
        }
    }
    let link = format!("{}/{}/delta", base(app), kind.path());
    let select_q = select
        .as_ref()
        .map(|s| format!("$select={}&", s.join(",")))
        .unwrap_or_default();
    let mut page = Map::new();
    page.insert(
        "@odata.context".into(),
        json!(format!("{}/$metadata#{}", base(app), kind.path())),
    );
    if more {
        page.insert(
            "@odata.nextLink".into(),
            json!(format!("{link}?{select_q}$skiptoken={}", encode(&round))),
        );
    } else {
        let next = Round {
            s: round.h,
            h: round.h,
            t: round.t,
            a: None,
            r: false,
        };
        page.insert(
            "@odata.deltaLink".into(),
            json!(format!("{link}?{select_q}$deltatoken={}", encode(&next))),
        );
    }
    page.insert("value".into(), Value::Array(value));
    Ok(Json(Value::Object(page)))
}

/// `GET /v1.0/users/delta` (also `/users/delta()`, the SDKs' form). Permission
/// `User.Read.All`.
pub async fn users(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("User.Read.All")?;
    delta(&app, &caller, Kind::Users, &headers, &q).await
}

/// `GET /v1.0/groups/delta` (also `/groups/delta()`). Permission `Group.Read.All`.
pub async fn groups(
    State(app): State<App>,
    caller: Caller,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("Group.Read.All")?;
    delta(&app, &caller, Kind::Groups, &headers, &q).await
}
