//! PATCH (RFC 7644 §3.5.2) applied to a resource's JSON: `add`, `replace` and `remove`,
//! with or without a path, paths with value filters (`emails[type eq "work"].value`) and
//! schema URNs. The result is then checked and written like a PUT, so a PATCH can never
//! store what a PUT would refuse.
//!
//! Entra's provisioning service is a SCIM client with documented habits, accepted here:
//! operation names in any case (`Replace`); `replace` or `add` without a path with an
//! object value; `add` of a value a multi-valued attribute already has (no error, no
//! duplicate); a path with a value filter that matches nothing (`emails[type eq
//! "work"].value` for a user with no work email) creates the element from the filter's
//! `eq` comparisons; `remove` of `members` with a value listing the members to remove.
//! `active` as the string `"False"` is accepted where the value is read (see `users`).

use serde::Deserialize;
use serde_json::{Map, Value};

use super::error::ScimError;
use super::filter::{self, get_ci, matches, AttrPath, Filter, Op, PatchPath};

/// A PATCH request body.
#[derive(Debug, Deserialize)]
pub struct PatchRequest {
    /// Must name `urn:ietf:params:scim:api:messages:2.0:PatchOp`.
    #[serde(default)]
    pub schemas: Vec<String>,
    /// The operations, applied in order.
    #[serde(rename = "Operations", alias = "operations")]
    pub operations: Vec<Operation>,
}

/// One operation.
#[derive(Debug, Deserialize)]
pub struct Operation {
    /// `add`, `replace`, `remove` (any case).
    pub op: String,
    /// The target; optional for `add` and `replace`.
    pub path: Option<String>,
    /// The value.
    pub value: Option<Value>,
}

/// The URN of a PATCH body.
pub const PATCH_OP: &str = "urn:ietf:params:scim:api:messages:2.0:PatchOp";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Add,
    Replace,
    Remove,
}

/// Applies every operation to `resource` (a JSON object), or says which one is wrong.
pub fn apply(resource: &mut Value, req: &PatchRequest, core: &str) -> Result<(), ScimError> {
    if !req.schemas.iter().any(|s| s == PATCH_OP) {
        return Err(ScimError::bad(
            "invalidSyntax",
            format!("schemas must contain {PATCH_OP}"),
        ));
    }
    if req.operations.is_empty() {
        return Err(ScimError::bad(
            "invalidValue",
            "Operations must not be empty",
        ));
    }
    for (i, op) in req.operations.iter().enumerate() {
        apply_one(resource, op, core).map_err(|detail| {
            ScimError::new(
                axum::http::StatusCode::BAD_REQUEST,
                Some(detail.0),
                format!("Operations[{i}]: {}", detail.1),
            )
        })?;
    }
    Ok(())
}

type OpError = (&'static str, String);

fn err(scim_type: &'static str, s: impl Into<String>) -> OpError {
    (scim_type, s.into())
}

fn apply_one(resource: &mut Value, op: &Operation, core: &str) -> Result<(), OpError> {
    let kind = match op.op.to_ascii_lowercase().as_str() {
        "add" => Kind::Add,
        "replace" => Kind::Replace,
        "remove" => Kind::Remove,
        _ => return Err(err("invalidSyntax", "op must be add, replace or remove")),
    };
    let path = match op.path.as_deref().map(str::trim).filter(|p| !p.is_empty()) {
        Some(p) => Some(filter::parse_patch_path(p).map_err(|e| err("invalidPath", e))?),
        None => None,
    };
    match (kind, path, &op.value) {
        (Kind::Remove, None, _) => Err(err("noTarget", "remove needs a path")),
        (Kind::Remove, Some(p), value) => {
            remove(resource, &p, value.as_ref(), core);
            Ok(())
        }
        (_, _, None) => Err(err("invalidValue", "add and replace need a value")),
        (_, None, Some(Value::Object(attrs))) => {
            for (k, v) in attrs {
                let p = if k.len() > 4 && k[..4].eq_ignore_ascii_case("urn:") && v.is_object() {
                    // An extension's attributes, as an object under its URN.
                    let ext = slot(resource, k);
                    for (ek, ev) in v.as_object().into_iter().flatten() {
                        set(ext, ek, ev.clone(), kind);
                    }
                    continue;
                } else {
                    filter::attr_path(k).map_err(|e| err("invalidPath", e))?
                };
                write_path(resource, &p, v.clone(), kind, core);
            }
            Ok(())
        }
        (_, None, Some(_)) => Err(err(
            "invalidValue",
            "without a path, the value must be an object of attributes",
        )),
        (_, Some(p), Some(v)) => match &p.filter {
            None => {
                write_path(resource, &p.attr, v.clone(), kind, core);
                Ok(())
            }
            Some(f) => write_filtered(resource, &p, f, v.clone(), core),
        },
    }
}

/// The object a path's attribute lives in: the resource, or its extension's object
/// (created when missing).
fn container<'a>(resource: &'a mut Value, path: &AttrPath, core: &str) -> &'a mut Value {
    match &path.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(core) => slot(resource, urn),
        _ => resource,
    }
}

/// `obj[key]` matched case-insensitively, created as `{}` when missing.
fn slot<'a>(obj: &'a mut Value, key: &str) -> &'a mut Value {
    let Value::Object(map) = obj else {
        *obj = Value::Object(Map::new());
        return slot(obj, key);
    };
    let existing = map.keys().find(|k| k.eq_ignore_ascii_case(key)).cloned();
    let k = existing.unwrap_or_else(|| key.to_string());
    let v = map.entry(k).or_insert_with(|| Value::Object(Map::new()));
    if v.is_null() {
        *v = Value::Object(Map::new());
    }
    v
}

fn remove_key(obj: &mut Value, key: &str) {
    if let Some(map) = obj.as_object_mut() {
        map.retain(|k, _| !k.eq_ignore_ascii_case(key));
    }
}

/// Sets `obj[key]`: `add` appends to a multi-valued attribute (values it already has are
/// not added twice) and merges a complex one; `replace` replaces (a complex value's
/// sub-attributes are merged, as RFC 7644 §3.5.2.3 says of a replace without a path).
fn set(obj: &mut Value, key: &str, value: Value, kind: Kind) {
    let current = get_ci(obj, key).cloned();
    let merged = match (current, value, kind) {
        (Some(Value::Array(mut have)), Value::Array(more), Kind::Add) => {
            for v in more {
                if !have.contains(&v) {
                    have.push(v);
                }
            }
            Value::Array(have)
        }
        (Some(Value::Array(mut have)), single, Kind::Add) if !single.is_array() => {
            if !have.contains(&single) {
                have.push(single);
            }
            Value::Array(have)
        }
        (Some(Value::Object(mut have)), Value::Object(more), _) => {
            for (k, v) in more {
                have.retain(|hk, _| !hk.eq_ignore_ascii_case(&k));
                have.insert(k, v);
            }
            Value::Object(have)
        }
        (_, v, _) => v,
    };
    remove_key(obj, key);
    if let Some(map) = obj.as_object_mut() {
        map.insert(key.to_string(), merged);
    }
}

fn write_path(resource: &mut Value, path: &AttrPath, value: Value, kind: Kind, core: &str) {
    let c = container(resource, path, core);
    match &path.sub {
        None => set(c, &path.attr, value, kind),
        Some(sub) => set(slot(c, &path.attr), sub, value, kind),
    }
}

/// The element a value filter describes, from its `eq` comparisons (Entra's
/// `emails[type eq "work"].value` on a user with no work email).
fn element_from(f: &Filter) -> Option<Map<String, Value>> {
    match f {
        Filter::Compare(p, Op::Eq, v) if p.urn.is_none() && p.sub.is_none() => {
            let mut m = Map::new();
            m.insert(p.attr.clone(), v.clone());
            Some(m)
        }
        Filter::And(a, b) => {
            let mut m = element_from(a)?;
            m.extend(element_from(b)?);
            Some(m)
        }
        _ => None,
    }
}

fn write_filtered(
    resource: &mut Value,
    p: &PatchPath,
    f: &Filter,
    value: Value,
    core: &str,
) -> Result<(), OpError> {
    let c = container(resource, &p.attr, core);
    let list = slot(c, &p.attr.attr);
    if !list.is_array() {
        *list = Value::Array(Vec::new());
    }
    let Value::Array(items) = list else {
        return Err(err(
            "invalidPath",
            "a value filter needs a multi-valued attribute",
        ));
    };
    let mut hit = false;
    for item in items.iter_mut().filter(|i| matches(f, i, core)) {
        hit = true;
        match &p.sub {
            Some(sub) => set(item, sub, value.clone(), Kind::Replace),
            None => match (item.as_object_mut(), &value) {
                (Some(have), Value::Object(more)) => {
                    for (k, v) in more {
                        have.retain(|hk, _| !hk.eq_ignore_ascii_case(k));
                        have.insert(k.clone(), v.clone());
                    }
                }
                _ => *item = value.clone(),
            },
        }
    }
    if hit {
        return Ok(());
    }
    let mut element = element_from(f).ok_or_else(|| {
        err(
            "noTarget",
            "the value filter matches no element, and only a filter of eq comparisons joined by and can create one",
        )
    })?;
    match (&p.sub, value) {
        (Some(sub), v) => {
            element.insert(sub.clone(), v);
        }
        (None, Value::Object(more)) => element.extend(more),
        (None, _) => return Err(err("invalidValue", "the value must be an object")),
    }
    items.push(Value::Object(element));
    Ok(())
}

/// `obj[key]` matched case-insensitively, if present.
fn get_ci_mut<'a>(obj: &'a mut Value, key: &str) -> Option<&'a mut Value> {
    obj.as_object_mut()?
        .iter_mut()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

fn remove(resource: &mut Value, p: &PatchPath, value: Option<&Value>, core: &str) {
    let c = container(resource, &p.attr, core);
    match (&p.filter, &p.attr.sub, value) {
        (None, None, Some(Value::Array(gone))) => {
            // Entra removes members by listing them: `{"path": "members", "value": [{"value": id}]}`.
            let same = |g: &Value, i: &Value| {
                g == i || (get_ci(g, "value").is_some() && get_ci(g, "value") == get_ci(i, "value"))
            };
            if let Some(Value::Array(items)) = get_ci_mut(c, &p.attr.attr) {
                items.retain(|i| !gone.iter().any(|g| same(g, i)));
            }
        }
        (None, None, _) => remove_key(c, &p.attr.attr),
        (None, Some(sub), _) => match get_ci_mut(c, &p.attr.attr) {
            Some(Value::Array(items)) => items.iter_mut().for_each(|i| remove_key(i, sub)),
            Some(other) => remove_key(other, sub),
            None => {}
        },
        (Some(f), _, _) => {
            if let Some(Value::Array(items)) = get_ci_mut(c, &p.attr.attr) {
                match &p.sub {
                    Some(s) => items
                        .iter_mut()
                        .filter(|i| matches(f, i, core))
                        .for_each(|i| remove_key(i, s)),
                    None => items.retain(|i| !matches(f, i, core)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn patch(mut r: Value, ops: Value) -> Result<Value, ScimError> {
        let req: PatchRequest =
            serde_json::from_value(json!({"schemas": [PATCH_OP], "Operations": ops})).unwrap();
        apply(&mut r, &req, CORE)?;
        Ok(r)
    }

    #[test]
    fn a_value_filter_path_changes_the_matching_element_or_creates_it() {
        let r = json!({"phoneNumbers": [{"value": "1", "type": "mobile"}, {"value": "2", "type": "work"}]});
        let r = patch(r, json!([{"op": "replace", "path": "phoneNumbers[type eq \"mobile\"].value", "value": "3"}])).unwrap();
        assert_eq!(
            r["phoneNumbers"][0],
            json!({"value": "3", "type": "mobile"})
        );
        assert_eq!(r["phoneNumbers"][1]["value"], "2");
        let r = patch(json!({}), json!([{"op": "Add", "path": "emails[type eq \"work\"].value", "value": "a@b.example"}])).unwrap();
        assert_eq!(
            r["emails"],
            json!([{"type": "work", "value": "a@b.example"}])
        );
        let r = patch(
            r,
            json!([{"op": "remove", "path": "emails[type eq \"work\"]"}]),
        )
        .unwrap();
        assert_eq!(r["emails"], json!([]));
    }

    #[test]
    fn entra_habits_are_accepted() {
        let r = json!({"userName": "a@b.example", "active": true, "emails": [{"value": "x"}], "name": {"givenName": "A"}});
        let r = patch(
            r,
            json!([
                {"op": "Replace", "value": {"active": "False", "name": {"familyName": "B"}}},
                {"op": "add", "path": "emails", "value": [{"value": "x"}]},
                {"op": "add", "path": "DisplayName", "value": "Ann"},
            ]),
        )
        .unwrap();
        assert_eq!(r["active"], "False");
        assert_eq!(r["name"], json!({"givenName": "A", "familyName": "B"}));
        assert_eq!(r["emails"], json!([{"value": "x"}]), "no duplicate");
        assert_eq!(r["DisplayName"], "Ann");
        let r = patch(
            json!({"members": [{"value": "1"}, {"value": "2"}]}),
            json!([{"op": "remove", "path": "members", "value": [{"value": "1"}]}]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([{"value": "2"}]));
        let r = patch(
            r,
            json!([{"op": "remove", "path": "members[value eq \"2\"]"}]),
        )
        .unwrap();
        assert_eq!(r["members"], json!([]));
    }

    #[test]
    fn extension_attributes_are_patched_under_their_urn() {
        let ext = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";
        let r = patch(
            json!({}),
            json!([
                {"op": "add", "path": format!("{ext}:employeeNumber"), "value": "7"},
                {"op": "replace", "path": format!("{ext}:manager"), "value": {"value": "m"}},
                {"op": "add", "value": {ext: {"department": "Ops"}}},
            ]),
        )
        .unwrap();
        assert_eq!(
            r[ext],
            json!({"employeeNumber": "7", "manager": {"value": "m"}, "department": "Ops"})
        );
        let r = patch(
            r,
            json!([{"op": "remove", "path": format!("{ext}:manager")}]),
        )
        .unwrap();
        assert!(r[ext].get("manager").is_none());
    }

    #[test]
    fn malformed_operations_are_refused_with_their_index() {
        for (ops, scim_type) in [
            (
                json!([{"op": "move", "path": "x", "value": 1}]),
                "invalidSyntax",
            ),
            (json!([{"op": "remove"}]), "noTarget"),
            (
                json!([{"op": "add", "path": "a[b eq", "value": 1}]),
                "invalidPath",
            ),
            (json!([{"op": "add", "value": "x"}]), "invalidValue"),
            (
                json!([{"op": "replace", "path": "emails[value co \"x\"]", "value": {"type": "work"}}]),
                "noTarget",
            ),
        ] {
            let e = patch(json!({}), ops).unwrap_err();
            assert_eq!(e.scim_type, Some(scim_type), "{}", e.detail);
            assert!(e.detail.starts_with("Operations[0]"));
        }
        let req: PatchRequest = serde_json::from_value(
            json!({"schemas": [], "Operations": [{"op": "add", "path": "a", "value": 1}]}),
        )
        .unwrap();
        assert_eq!(
            apply(&mut json!({}), &req, CORE).unwrap_err().scim_type,
            Some("invalidSyntax")
        );
    }
}
