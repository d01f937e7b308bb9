//! Shared phone numbers (issue #16): the report `reports/sharedPhoneNumbers` (every number
//! held by more than one user, with the methods holding it and their `smsSignInState`) and
//! the tenant's refuse-shared mode, `policies/phoneNumberSharingPolicy`. Neither exists in
//! Entra (which lets numbers be shared outside SMS sign-in and has no view of them: the
//! "SMS backdoor" of seed 000), so both are textid resources in Graph's style. So is the
//! report of skipped copies, `reports/skippedPhoneNumberCopies`: the synced users' public
//! numbers seed 003's rule 1 could not copy and that are still not copied.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson};
use crate::app::App;
use crate::directory as dir;

fn holder_json(h: &dir::SharedNumberHolderView) -> Value {
    json!({
        "userId": h.holder.method.user_id,
        "userPrincipalName": h.holder.upn,
        "userDisplayName": h.holder.display_name,
        "accountEnabled": h.holder.account_enabled,
        "phoneMethodId": h.holder.method.phone_type.method_id(),
        "phoneType": h.holder.method.phone_type,
        "phoneNumber": h.holder.method.number.to_string(),
        "smsSignInState": h.sms_sign_in_state,
    })
}

/// `GET /v1.0/reports/sharedPhoneNumbers`: phone numbers are authentication method data
/// and the report is an audit read, so both `UserAuthenticationMethod.Read.All` and
/// `AuditLog.Read.All` are required (Global Administrator, Authentication Administrator,
/// Global Reader).
pub async fn shared_phone_numbers(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    caller.require("AuditLog.Read.All")?;
    let report = dir::shared_numbers(&app, &caller.tenant).await?;
    let value: Vec<Value> = report
        .iter()
        .map(|n| {
            json!({
                "phoneNumber": n.number.to_string(),
                "userCount": n.holders.iter().map(|h| h.holder.method.user_id).collect::<std::collections::BTreeSet<_>>().len(),
                "holders": n.holders.iter().map(holder_json).collect::<Vec<_>>(),
            })
        })
        .collect();
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#reports/sharedPhoneNumbers", base(&app)),
        "value": value,
    })))
}

/// One entry of the report of skipped copies.
pub fn skipped_copy_json(row: &textid_store::SkippedCopyRow) -> Value {
    let c = &row.copy;
    json!({
        "userId": c.user,
        "userPrincipalName": row.upn,
        "phoneMethodId": c.phone_type.method_id(),
        "phoneType": c.phone_type,
        "phoneNumber": c.phone_number,
        "reason": c.reason,
        "conflictingUserId": c.other_user,
        "conflictingUserPrincipalName": row.other_upn,
        "skippedDateTime": c.skipped_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

/// `GET /v1.0/reports/skippedPhoneNumberCopies`: seed 003's rule 1 conflicts (a copy "is
/// logged in the audit log and shown in a report"), newest first. Permissions as the
/// shared-number report: `UserAuthenticationMethod.Read.All` and `AuditLog.Read.All`.
pub async fn skipped_phone_number_copies(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    caller.require("UserAuthenticationMethod.Read.All")?;
    caller.require("AuditLog.Read.All")?;
    let report = textid_usecases::provisioning::skipped_number_copies(&app, &caller.tenant).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#reports/skippedPhoneNumberCopies", base(&app)),
        "value": report.iter().map(skipped_copy_json).collect::<Vec<_>>(),
    })))
}

fn sharing_json(app: &App, refuse: bool) -> Value {
    json!({
        "@odata.context": format!("{}/$metadata#policies/phoneNumberSharingPolicy/$entity", base(app)),
        "id": "phoneNumberSharingPolicy",
        "refuseSharedPhoneNumbers": refuse,
    })
}

/// `GET /v1.0/policies/phoneNumberSharingPolicy`
pub async fn get_sharing_policy(
    State(app): State<App>,
    caller: Caller,
) -> Result<Json<Value>, GraphError> {
    caller.require("Policy.Read.All")?;
    // Read fresh: the caller's tenant may come from a cache a moment old.
    let tenant = app
        .store()
        .tenant_by_id(caller.tenant.id)
        .await?
        .unwrap_or_else(|| caller.tenant.clone());
    Ok(Json(sharing_json(&app, tenant.refuse_shared_phone_numbers)))
}

/// Body of a sharing policy patch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchSharingPolicy {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    refuse_shared_phone_numbers: bool,
}

/// `PATCH /v1.0/policies/phoneNumberSharingPolicy` → 204. Numbers already shared stay;
/// only later adds and changes are refused.
pub async fn patch_sharing_policy(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<PatchSharingPolicy>,
) -> Result<StatusCode, GraphError> {
    caller.require("Policy.ReadWrite.AuthenticationMethod")?;
    dir::set_refuse_shared_phone_numbers(
        &app,
        &caller.tenant,
        body.refuse_shared_phone_numbers,
        &caller.actor(),
    )
    .await?;
    Ok(StatusCode::NO_CONTENT)
}
