//! `auditLogs/signIns` (Graph `signIn`) and `auditLogs/directoryAudits` (Graph
//! `directoryAudit`), filterable by time and user:
//! `$filter=createdDateTime ge 2026-01-01T00:00:00Z and userId eq '...'`,
//! `$filter=activityDateTime ge ... and targetResources/any(t: t/id eq '...')`.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};
use textid_core::odata::schema;
use textid_store::{AuditEntry, LogQuery, SignInLogEntry};

use super::auth::Caller;
use super::base;
use super::error::GraphError;
use super::query;
use crate::app::App;

#[derive(Debug, Default)]
struct Filter {
    from: Option<DateTime<Utc>>,
    to: Option<DateTime<Utc>>,
    id: Option<String>,
    /// The property the id clause named.
    id_prop: Option<String>,
}

fn unquote(v: &str) -> &str {
    v.trim().trim_start_matches('\'').trim_end_matches('\'')
}

/// Parses `a and b and c` clauses; `time_prop` is `createdDateTime` or `activityDateTime`,
/// `id_props` the properties that name a user.
fn parse_filter(filter: &str, time_prop: &str, id_props: &[&str]) -> Result<Filter, GraphError> {
    let mut f = Filter::default();
    let bad = |_clause: &str| {
        GraphError::bad_request(format!(
            "a $filter clause is not supported; use {time_prop} ge|le <ISO 8601 time> and {} eq '<id>'",
            id_props[0]
        ))
    };
    for clause in filter.split(" and ") {
        let clause = clause.trim();
        let parts: Vec<&str> = clause.splitn(3, ' ').collect();
        if let [prop, op, value] = parts[..] {
            if prop == time_prop && (op == "ge" || op == "gt" || op == "le" || op == "lt") {
                let t = DateTime::parse_from_rfc3339(unquote(value))
                    .map_err(|_| bad(clause))?
                    .with_timezone(&Utc);
                if op.starts_with('g') {
                    f.from = Some(t)
                } else {
                    f.to = Some(t)
                }
                continue;
            }
            if id_props.contains(&prop) && op == "eq" {
                f.id = Some(unquote(value).to_string());
                f.id_prop = Some(prop.to_string());
                continue;
            }
        }
        // targetResources/any(t: t/id eq 'X')
        if let Some(inner) = clause
            .strip_prefix("targetResources/any(")
            .and_then(|r| r.strip_suffix(')'))
        {
            if let Some((_, cond)) = inner.split_once(':') {
                if let Some(v) = cond.trim().strip_prefix("t/id eq ") {
                    f.id = Some(unquote(v).to_string());
                    continue;
                }
            }
        }
        return Err(bad(clause));
    }
    Ok(f)
}

fn top(q: &HashMap<String, String>) -> Result<u32, GraphError> {
    match q.get("$top") {
        Some(t) => t
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=1000).contains(t))
            .ok_or_else(|| GraphError::bad_request("$top must be a number from 1 to 1000")),
        None => Ok(100),
    }
}

/// What a failure reason means, for `status.failureReason` and the step's detail.
fn failure_text(reason: &str) -> &'static str {
    match reason {
        "invalidCode" => "Invalid verification code entered by the user.",
        "codeExpired" => "The verification code has expired.",
        "tooManyAttempts" => "Too many wrong verification codes; the code is no longer valid.",
        "temporarilyLocked" | "numberLocked" | "clientLocked" => {
            "The account is locked after too many failed sign-in attempts."
        }
        "tooManyRequests" => "Too many requests; throttled.",
        "flowNotFound" => "The sign-in session has ended or does not exist.",
        "userNotFound" => "No user in the tenant has this phone number; no code was sent.",
        "accountDisabled" => "The user's account is disabled; no code was sent.",
        "notSupported" => "The number is the user's alternateMobile or office phone, which cannot be used for SMS sign-in; no code was sent.",
        "notAllowedByPolicy" => "The authentication methods policy does not allow this user SMS sign-in; no code was sent.",
        "phoneNumberNotUnique" => "More than one user in the tenant has this number, so it cannot be used for SMS sign-in; no code was sent.",
        "notEnabled" => "SMS sign-in is not enabled for this number; no code was sent.",
        "notConfigured" => "The user must still prove this number before signing in with it; no code was sent.",
        "numberCannotReceiveCodes" => "The number cannot receive codes (premium-rate or similar); no code was sent.",
        "noOwnerAtStart" => "No user could sign in with this number when the sign-in started; no code was sent.",
        r if r.ends_with("BudgetExceeded") || r.ends_with("CapExceeded") => {
            "An SMS send budget is spent; no code was sent."
        }
        "countryNotAllowed" => "The tenant does not send codes to this country; no code was sent.",
        "conversionPaused" => "Sending is paused for this route after too few codes were used; no code was sent.",
        _ => "Sign-in failed.",
    }
}

/// Entra's error code (AADSTS number) closest to a failure reason, for `status.errorCode`
/// (the table is in the README, "Sign-in logs").
fn error_code(reason: &str) -> u32 {
    textid_core::sign_in_log::error_code(reason)
}

/// The step's result detail on success: SMS here is the first (and only) factor, so
/// never Entra's "MFA successfully completed".
fn success_text(event: &str) -> &'static str {
    match event {
        "codeVerified" => "SMS sign-in completed",
        _ => "SMS verification code sent",
    }
}

fn sign_in_json(e: &SignInLogEntry, user: Option<&textid_core::directory::User>) -> Value {
    let ok = e.result == "success";
    let reason = e.failure_reason.as_deref().filter(|_| !ok);
    json!({
        "id": e.id,
        "createdDateTime": e.created_at,
        "userId": e.user_id,
        "userDisplayName": user.map(|u| u.display_name.clone()),
        "userPrincipalName": user.map(|u| u.upn.to_string()),
        "appId": e.app_id,
        "appDisplayName": Value::Null,
        "ipAddress": e.client_ip,
        "clientAppUsed": "Browser",
        "isInteractive": true,
        "conditionalAccessStatus": "notApplied",
        "authenticationRequirement": "singleFactorAuthentication",
        "signInIdentifier": e.phone,
        "signInIdentifierType": "phoneNumber",
        "authenticationDetails": [{
            "authenticationMethod": "Text message",
            "authenticationMethodDetail": e.event,
            "authenticationStepRequirement": "SMS sign-in",
            "succeeded": ok,
            "authenticationStepResultDetail": match reason {
                Some(r) => failure_text(r),
                None if ok => success_text(&e.event),
                None => "Sign-in failed.",
            },
            "authenticationStepDateTime": e.created_at,
        }],
        "status": {
            "errorCode": if ok { 0 } else { reason.map_or(500121, error_code) },
            "failureReason": reason.map(failure_text),
            "additionalDetails": reason,
        },
    })
}

/// `GET /v1.0/auditLogs/signIns` with Graph's query options: `$filter` on `createdDateTime`
/// (`ge`, `le`, ...), `userId`, `userPrincipalName`, `userDisplayName`, `appId`,
/// `ipAddress`, `signInIdentifier`, `status/errorCode` (with `and`, `or`, `not`, `in`,
/// `startswith`), `$orderby=createdDateTime [asc|desc]` (newest first by default), `$top`,
/// and `@odata.nextLink` paging.
pub async fn sign_ins(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("AuditLog.Read.All")?;
    let c = query::log_collection(&schema::SIGN_IN, &q, "createdDateTime desc")?;
    let entries = app
        .store()
        .query_sign_ins(caller.tenant.id, &c.listing())
        .await?;
    let mut users = HashMap::new();
    for uid in entries.iter().filter_map(|e| e.user_id) {
        if let std::collections::hash_map::Entry::Vacant(v) = users.entry(uid) {
            v.insert(app.store().user(caller.tenant.id, uid).await?);
        }
    }
    Ok(Json(c.page(
        entries,
        format!("{}/$metadata#auditLogs/signIns", base(&app)),
        format!("{}/auditLogs/signIns", base(&app)),
        None,
        |e| {
            sign_in_json(
                e,
                e.user_id
                    .and_then(|u| users.get(&u))
                    .and_then(Option::as_ref),
            )
        },
        |e, _| (e.created_at.timestamp_millis().to_string(), e.id),
    )))
}

fn modified(before: Option<&Value>, after: Option<&Value>) -> Vec<Value> {
    let mut keys: Vec<String> = Vec::new();
    for v in [before, after].into_iter().flatten() {
        if let Some(o) = v.as_object() {
            for k in o.keys() {
                if !keys.contains(k) {
                    keys.push(k.clone());
                }
            }
        }
    }
    keys.iter()
        .map(|k| {
            let get = |v: Option<&Value>| v.and_then(|v| v.get(k)).map(|x| x.to_string());
            json!({"displayName": k, "oldValue": get(before), "newValue": get(after)})
        })
        .collect()
}

fn audit_json(e: &AuditEntry) -> Value {
    let operation = if e.before.is_none() {
        "Add"
    } else if e.after.is_none() {
        "Delete"
    } else {
        "Update"
    };
    let initiated = match e.actor.kind.as_str() {
        "user" => json!({"user": {"id": e.actor.id}, "app": null}),
        "app" => json!({"app": {"appId": e.actor.id}, "user": null}),
        other => {
            json!({"app": {"displayName": format!("textid {other}"), "appId": e.actor.id}, "user": null})
        }
    };
    json!({
        "id": e.id,
        "category": if e.target_type == "policy" { "Policy" } else if e.target_type == "group" { "GroupManagement" } else { "UserManagement" },
        "activityDisplayName": e.activity,
        "activityDateTime": e.created_at,
        "loggedByService": "Core Directory",
        "operationType": operation,
        "result": "success",
        "resultReason": "",
        "initiatedBy": initiated,
        "targetResources": [{
            "id": e.target_id,
            "type": e.target_type,
            "modifiedProperties": modified(e.before.as_ref(), e.after.as_ref()),
        }],
        "additionalDetails": [],
    })
}

/// `GET /v1.0/auditLogs/directoryAudits`
pub async fn directory_audits(
    State(app): State<App>,
    caller: Caller,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Value>, GraphError> {
    caller.require("AuditLog.Read.All")?;
    let f = match q.get("$filter") {
        Some(s) => parse_filter(
            s,
            "activityDateTime",
            &["initiatedBy/user/id", "targetResources/id"],
        )?,
        None => Filter::default(),
    };
    let entries = app
        .store()
        .directory_audits(
            caller.tenant.id,
            &LogQuery {
                from: f.from,
                to: f.to,
                about: f.id,
                limit: top(&q)?,
            },
        )
        .await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#auditLogs/directoryAudits", base(&app)),
        "value": entries.iter().map(audit_json).collect::<Vec<_>>(),
    })))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filters_by_time_and_user_and_refuses_the_rest() {
        let f = parse_filter(
            "createdDateTime ge 2026-01-01T00:00:00Z and userId eq 'abc'",
            "createdDateTime",
            &["userId"],
        )
        .unwrap();
        assert_eq!(f.from.unwrap().to_rfc3339(), "2026-01-01T00:00:00+00:00");
        assert_eq!(f.id.as_deref(), Some("abc"));
        let g = parse_filter(
            "targetResources/any(t: t/id eq 'x1')",
            "activityDateTime",
            &["initiatedBy/user/id"],
        )
        .unwrap();
        assert_eq!(g.id.as_deref(), Some("x1"));
        assert!(parse_filter("displayName eq 'x'", "createdDateTime", &["userId"]).is_err());
        assert!(parse_filter(
            "createdDateTime ge yesterday",
            "createdDateTime",
            &["userId"]
        )
        .is_err());
    }
}
