//! Output: human lines by default, JSON with `--json` (the shapes are Graph's where Graph
//! has one, so scripts can share parsing with the admin API).

use serde_json::{json, Value};
use textid_core::directory::{Group, User};
use textid_usecases::directory::PhoneMethodView;

/// Prints JSON.
pub fn print_json(v: &Value) {
    println!("{}", serde_json::to_string_pretty(v).unwrap_or_default());
}

/// A user, Graph-shaped.
pub fn user_json(u: &User) -> Value {
    json!({
        "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
        "accountEnabled": u.account_enabled, "mobilePhone": u.mobile_phone, "businessPhones": u.business_phones,
    })
}

/// A user, one line.
pub fn user_line(u: &User) -> String {
    format!(
        "{}  {}  {}{}",
        u.id,
        u.upn,
        u.display_name,
        if u.account_enabled {
            ""
        } else {
            "  (disabled)"
        }
    )
}

/// A group, Graph-shaped.
pub fn group_json(g: &Group) -> Value {
    json!({"id": g.id, "displayName": g.display_name})
}

/// A phone method, Graph-shaped.
pub fn phone_json(m: &PhoneMethodView) -> Value {
    json!({
        "id": m.method.phone_type.method_id(),
        "phoneNumber": m.method.number.to_string(),
        "phoneType": m.method.phone_type,
        "smsSignInState": m.sms_sign_in_state,
    })
}

/// A phone method, one line.
pub fn phone_line(m: &PhoneMethodView) -> String {
    format!(
        "{:16} {:24} smsSignInState={}  (id {})",
        m.method.phone_type.as_str(),
        m.method.number.to_string(),
        m.sms_sign_in_state.as_str(),
        m.method.phone_type.method_id()
    )
}
