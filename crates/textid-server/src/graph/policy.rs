//! `policies/authenticationMethodsPolicy` and its `authenticationMethodConfigurations`
//! (`Sms`, `Voice`, `TemporaryAccessPass`; ids matched case-insensitively). DELETE of a
//! configuration restores its defaults.

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use textid_core::policy::{
    AuthenticationMethodsPolicy, ExcludeTarget, IncludeTarget, MethodState, PolicyMigrationState,
    SmsConfiguration, SmsIncludeTarget, TargetId, TargetType, TemporaryAccessPassConfiguration,
    VoiceConfiguration,
};

use super::auth::Caller;
use super::base;
use super::error::{GraphError, GraphJson, GraphPath};
use crate::app::App;
use crate::directory as dir;

fn target_id(id: TargetId) -> String {
    match id {
        TargetId::AllUsers => "all_users".into(),
        TargetId::Id(u) => u.to_string(),
    }
}

fn excludes(list: &[ExcludeTarget]) -> Value {
    json!(list
        .iter()
        .map(|e| json!({"id": e.id, "targetType": e.target_type}))
        .collect::<Vec<_>>())
}

fn sms_json(c: &SmsConfiguration) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.smsAuthenticationMethodConfiguration",
        "id": "Sms",
        "state": c.state,
        "excludeTargets": excludes(&c.exclude_targets),
        "includeTargets": c.include_targets.iter().map(|t| json!({
            "targetType": t.target_type, "id": target_id(t.id), "isRegistrationRequired": false, "isUsableForSignIn": t.is_usable_for_sign_in,
        })).collect::<Vec<_>>(),
        // textid's own (issue #14 §2): the calling codes codes are sent to; null is the
        // default (the tenant's region, or every geographic country).
        "textidAllowedCountryCodes": c.allowed_country_codes.as_ref().map(|list| {
            list.iter().map(|code| format!("+{code}")).collect::<Vec<_>>()
        }),
    })
}

/// `textidAllowedCountryCodes` of a patch: absent (`None`), `null` (`Some(None)`: back
/// to the default) or a list.
fn present<'de, D: serde::Deserializer<'de>>(
    d: D,
) -> Result<Option<Option<Vec<String>>>, D::Error> {
    Option::<Vec<String>>::deserialize(d).map(Some)
}

/// The allow-list of a patch, checked as the CLI checks it. The message names the
/// property, never the submitted value (issue #14 §7).
fn allow_list(list: Option<&[String]>) -> Result<Option<Vec<u16>>, GraphError> {
    let Some(list) = list else {
        return Ok(None);
    };
    textid_usecases::abuse::parse_allow_list(list)
        .map(Some)
        .map_err(|e| match e {
            textid_usecases::abuse::AbuseError::EmptyAllowList => GraphError::bad_request(
                "textidAllowedCountryCodes cannot be empty: send null to go back to the default (the tenant's region, or every geographic country)",
            ),
            _ => GraphError::bad_request(
                "textidAllowedCountryCodes: each entry must be a country calling code (\"+44\") or a region (\"GB\")",
            ),
        })
}

fn plain_includes(list: &[IncludeTarget]) -> Value {
    json!(list.iter().map(|t| json!({"targetType": t.target_type, "id": target_id(t.id), "isRegistrationRequired": false})).collect::<Vec<_>>())
}

fn voice_json(c: &VoiceConfiguration) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.voiceAuthenticationMethodConfiguration",
        "id": "Voice",
        "state": c.state,
        "isOfficePhoneAllowed": c.is_office_phone_allowed,
        "excludeTargets": excludes(&c.exclude_targets),
        "includeTargets": plain_includes(&c.include_targets),
    })
}

fn tap_json(c: &TemporaryAccessPassConfiguration) -> Value {
    json!({
        "@odata.type": "#microsoft.graph.temporaryAccessPassAuthenticationMethodConfiguration",
        "id": "TemporaryAccessPass",
        "state": c.state,
        "defaultLifetimeInMinutes": c.default_lifetime_in_minutes,
        "defaultLength": c.default_length,
        "minimumLifetimeInMinutes": c.minimum_lifetime_in_minutes,
        "maximumLifetimeInMinutes": c.maximum_lifetime_in_minutes,
        "isUsableOnce": c.is_usable_once,
        "excludeTargets": excludes(&c.exclude_targets),
        "includeTargets": plain_includes(&c.include_targets),
    })
}

/// Which configuration an id names (case-insensitive, as Graph).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Which {
    Sms,
    Voice,
    Tap,
}

fn which(id: &str) -> Result<Which, GraphError> {
    match id.to_ascii_lowercase().as_str() {
        "sms" => Ok(Which::Sms),
        "voice" => Ok(Which::Voice),
        "temporaryaccesspass" => Ok(Which::Tap),
        _ => Err(GraphError::not_found(id)),
    }
}

fn config_json(p: &AuthenticationMethodsPolicy, w: Which) -> Value {
    match w {
        Which::Sms => sms_json(&p.sms),
        Which::Voice => voice_json(&p.voice),
        Which::Tap => tap_json(&p.temporary_access_pass),
    }
}

/// `GET /v1.0/policies/authenticationMethodsPolicy`
pub async fn get(State(app): State<App>, caller: Caller) -> Result<Json<Value>, GraphError> {
    caller.require("Policy.Read.All")?;
    let p = dir::policy(&app, &caller.tenant).await?;
    Ok(Json(json!({
        "@odata.context": format!("{}/$metadata#policies/authenticationMethodsPolicy/$entity", base(&app)),
        "id": "authenticationMethodsPolicy",
        "displayName": "Authentication Methods Policy",
        "description": "The tenant-wide policy that controls which authentication methods are allowed in the tenant, authentication method registration requirements, and self-service password reset settings",
        "policyVersion": "1.5",
        "policyMigrationState": p.policy_migration_state,
        "authenticationMethodConfigurations": [sms_json(&p.sms), voice_json(&p.voice), tap_json(&p.temporary_access_pass)],
    })))
}

/// Body of a policy patch.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchPolicy {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    policy_migration_state: Option<PolicyMigrationState>,
}

/// `PATCH /v1.0/policies/authenticationMethodsPolicy` → 204
pub async fn patch(
    State(app): State<App>,
    caller: Caller,
    GraphJson(body): GraphJson<PatchPolicy>,
) -> Result<StatusCode, GraphError> {
    caller.require("Policy.ReadWrite.AuthenticationMethod")?;
    let mut p = dir::policy(&app, &caller.tenant).await?;
    if let Some(s) = body.policy_migration_state {
        p.policy_migration_state = s;
    }
    dir::put_policy(&app, &caller.tenant, &p, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET .../authenticationMethodConfigurations/{id}`
pub async fn get_configuration(
    State(app): State<App>,
    caller: Caller,
    GraphPath(id): GraphPath<String>,
) -> Result<Json<Value>, GraphError> {
    caller.require("Policy.Read.All")?;
    let w = which(&id)?;
    let p = dir::policy(&app, &caller.tenant).await?;
    let mut v = config_json(&p, w);
    v["@odata.context"] = json!(format!("{}/$metadata#policies/authenticationMethodsPolicy/authenticationMethodConfigurations/$entity", base(&app)));
    Ok(Json(v))
}

/// A target as Graph sends it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TargetBody {
    target_type: TargetType,
    id: String,
    is_usable_for_sign_in: Option<bool>,
    #[serde(rename = "isRegistrationRequired")]
    _is_registration_required: Option<bool>,
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
}

/// Body of a configuration patch (fields of every kind; those of another kind are refused).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PatchConfiguration {
    #[serde(rename = "@odata.type")]
    _odata_type: Option<String>,
    id: Option<String>,
    state: Option<MethodState>,
    include_targets: Option<Vec<TargetBody>>,
    exclude_targets: Option<Vec<TargetBody>>,
    is_office_phone_allowed: Option<bool>,
    default_lifetime_in_minutes: Option<u32>,
    default_length: Option<u32>,
    minimum_lifetime_in_minutes: Option<u32>,
    maximum_lifetime_in_minutes: Option<u32>,
    is_usable_once: Option<bool>,
    #[serde(default, deserialize_with = "present")]
    textid_allowed_country_codes: Option<Option<Vec<String>>>,
}

fn parse_target_id(t: &TargetBody) -> Result<TargetId, GraphError> {
    TargetId::parse(&t.id)
        .ok_or_else(|| GraphError::bad_request("a target id is neither all_users nor a GUID"))
}

fn parse_excludes(list: &[TargetBody]) -> Result<Vec<ExcludeTarget>, GraphError> {
    list.iter()
        .map(|t| match parse_target_id(t)? {
            TargetId::Id(id) => Ok(ExcludeTarget {
                target_type: t.target_type,
                id,
            }),
            TargetId::AllUsers => Err(GraphError::bad_request(
                "excludeTargets cannot contain all_users",
            )),
        })
        .collect()
}

fn parse_includes(list: &[TargetBody]) -> Result<Vec<IncludeTarget>, GraphError> {
    list.iter()
        .map(|t| {
            Ok(IncludeTarget {
                target_type: t.target_type,
                id: parse_target_id(t)?,
            })
        })
        .collect()
}

/// `PATCH .../authenticationMethodConfigurations/{id}` → 204
pub async fn patch_configuration(
    State(app): State<App>,
    caller: Caller,
    GraphPath(id): GraphPath<String>,
    GraphJson(b): GraphJson<PatchConfiguration>,
) -> Result<StatusCode, GraphError> {
    caller.require("Policy.ReadWrite.AuthenticationMethod")?;
    let w = which(&id)?;
    if b.id.as_deref().is_some_and(|i| which(i).ok() != Some(w)) {
        return Err(GraphError::bad_request(
            "the id in the body does not match the configuration in the URL",
        ));
    }
    let foreign = match w {
        Which::Sms => {
            b.is_office_phone_allowed.is_some()
                || b.default_length.is_some()
                || b.default_lifetime_in_minutes.is_some()
                || b.minimum_lifetime_in_minutes.is_some()
                || b.maximum_lifetime_in_minutes.is_some()
                || b.is_usable_once.is_some()
        }
        Which::Voice => {
            b.default_length.is_some()
                || b.default_lifetime_in_minutes.is_some()
                || b.minimum_lifetime_in_minutes.is_some()
                || b.maximum_lifetime_in_minutes.is_some()
                || b.is_usable_once.is_some()
        }
        Which::Tap => b.is_office_phone_allowed.is_some(),
    };
    // textidAllowedCountryCodes is the Sms configuration's alone.
    if foreign || (b.textid_allowed_country_codes.is_some() && w != Which::Sms) {
        return Err(GraphError::bad_request(
            "the body has properties of another authentication method configuration",
        ));
    }
    let mut p = dir::policy(&app, &caller.tenant).await?;
    match w {
        Which::Sms => {
            let c = &mut p.sms;
            if let Some(s) = b.state {
                c.state = s;
            }
            if let Some(list) = &b.include_targets {
                c.include_targets = list
                    .iter()
                    .map(|t| {
                        Ok(SmsIncludeTarget {
                            target_type: t.target_type,
                            id: parse_target_id(t)?,
                            is_usable_for_sign_in: t.is_usable_for_sign_in.unwrap_or(false),
                        })
                    })
                    .collect::<Result<_, GraphError>>()?;
            }
            if let Some(list) = &b.exclude_targets {
                c.exclude_targets = parse_excludes(list)?;
            }
            if let Some(list) = &b.textid_allowed_country_codes {
                c.allowed_country_codes = allow_list(list.as_deref())?;
            }
        }
        Which::Voice => {
            let c = &mut p.voice;
            if let Some(s) = b.state {
                // A policy that promises calls nobody can place would leave users waiting
                // for a code that never comes: refuse it while no provider places calls.
                if s == MethodState::Enabled && !app.places_calls() {
                    return Err(GraphError::bad_request(
                        "the Voice method cannot be enabled: the configured SMS provider does not place calls (use the webhook, Twilio with sms_twilio_from, or Vonage with an application, or route voice to one of them)",
                    ));
                }
                c.state = s;
            }
            if let Some(list) = &b.include_targets {
                c.include_targets = parse_includes(list)?;
            }
            if let Some(list) = &b.exclude_targets {
                c.exclude_targets = parse_excludes(list)?;
            }
            if let Some(o) = b.is_office_phone_allowed {
                c.is_office_phone_allowed = o;
            }
        }
        Which::Tap => {
            let c = &mut p.temporary_access_pass;
            if let Some(s) = b.state {
                c.state = s;
            }
            if let Some(list) = &b.include_targets {
                c.include_targets = parse_includes(list)?;
            }
            if let Some(list) = &b.exclude_targets {
                c.exclude_targets = parse_excludes(list)?;
            }
            c.default_lifetime_in_minutes = b
                .default_lifetime_in_minutes
                .unwrap_or(c.default_lifetime_in_minutes);
            c.default_length = b.default_length.unwrap_or(c.default_length);
            c.minimum_lifetime_in_minutes = b
                .minimum_lifetime_in_minutes
                .unwrap_or(c.minimum_lifetime_in_minutes);
            c.maximum_lifetime_in_minutes = b
                .maximum_lifetime_in_minutes
                .unwrap_or(c.maximum_lifetime_in_minutes);
            c.is_usable_once = b.is_usable_once.unwrap_or(c.is_usable_once);
        }
    }
    dir::put_policy(&app, &caller.tenant, &p, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE .../authenticationMethodConfigurations/{id}` → 204, defaults restored.
pub async fn delete_configuration(
    State(app): State<App>,
    caller: Caller,
    GraphPath(id): GraphPath<String>,
) -> Result<StatusCode, GraphError> {
    caller.require("Policy.ReadWrite.AuthenticationMethod")?;
    let w = which(&id)?;
    let mut p = dir::policy(&app, &caller.tenant).await?;
    match w {
        Which::Sms => p.sms = SmsConfiguration::default(),
        Which::Voice => p.voice = VoiceConfiguration::default(),
        Which::Tap => p.temporary_access_pass = TemporaryAccessPassConfiguration::default(),
    }
    dir::put_policy(&app, &caller.tenant, &p, &caller.actor()).await?;
    Ok(StatusCode::NO_CONTENT)
}
