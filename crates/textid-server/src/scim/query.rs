//! Listing and shaping resources (RFC 7644 §3.4.2, §3.9): `filter`, `startIndex`/`count`
//! paging, `attributes`/`excludedAttributes`, from query parameters or a `/.search` body,
//! and the `ListResponse` message.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{json, Map, Value};

use super::error::ScimError;
use super::filter::{self, attr_path, get_ci, AttrPath, Filter};

/// The most resources one page holds (`ServiceProviderConfig.filter.maxResults`).
pub const MAX_RESULTS: usize = 1000;

/// What a list or search asks for.
#[derive(Debug, Default)]
pub struct ListQuery {
    /// `filter`.
    pub filter: Option<Filter>,
    /// `startIndex` (1-based).
    pub start_index: usize,
    /// `count`.
    pub count: usize,
    /// `attributes` / `excludedAttributes`.
    pub shape: Shape,
}

/// `attributes` (only these, besides those always returned) or `excludedAttributes`.
#[derive(Debug, Default, Clone)]
pub struct Shape {
    only: Vec<AttrPath>,
    without: Vec<AttrPath>,
}

/// A `POST /.search` body (RFC 7644 §3.4.3).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SearchRequest {
    #[serde(default)]
    schemas: Vec<String>,
    filter: Option<String>,
    start_index: Option<i64>,
    count: Option<i64>,
    #[serde(default)]
    attributes: Vec<String>,
    #[serde(default)]
    excluded_attributes: Vec<String>,
    sort_by: Option<String>,
    sort_order: Option<String>,
}

fn paths(list: &[&str]) -> Result<Vec<AttrPath>, ScimError> {
    list.iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| attr_path(s).map_err(|e| ScimError::bad("invalidPath", e)))
        .collect()
}

impl Shape {
    /// From the two comma-separated parameters.
    pub fn parse(attributes: Option<&str>, excluded: Option<&str>) -> Result<Self, ScimError> {
        fn split(s: Option<&str>) -> Vec<&str> {
            s.map(|s| s.split(',').collect()).unwrap_or_default()
        }
        Ok(Self {
            only: paths(&split(attributes))?,
            without: paths(&split(excluded))?,
        })
    }

    /// `resource` with only what was asked for. `schemas`, `id` and `meta` are always
    /// returned (RFC 7643 `returned: always` for `id`; `meta` is kept so that a client
    /// can read the version it will send in `If-Match`).
    pub fn apply(&self, resource: Value, core: &str) -> Value {
        let mut v = resource;
        if !self.only.is_empty() {
            let mut kept = Map::new();
            for key in ["schemas", "id", "meta"] {
                if let Some(x) = v.get(key) {
                    kept.insert(key.into(), x.clone());
                }
            }
            for p in &self.only {
                copy(&v, &mut kept, p, core);
            }
            v = Value::Object(kept);
        }
        for p in &self.without {
            if p.urn.is_none()
                && ["schemas", "id"]
                    .iter()
                    .any(|k| p.attr.eq_ignore_ascii_case(k))
            {
                continue;
            }
            drop_path(&mut v, p, core);
        }
        v
    }
}

fn is_core(p: &AttrPath, core: &str) -> bool {
    p.urn
        .as_deref()
        .is_none_or(|u| u.eq_ignore_ascii_case(core))
}

fn key_in(obj: &Value, name: &str) -> Option<String> {
    obj.as_object()?
        .keys()
        .find(|k| k.eq_ignore_ascii_case(name))
        .cloned()
}

/// Copies the attribute (or sub-attribute) `p` names from `from` into `to`.
fn copy(from: &Value, to: &mut Map<String, Value>, p: &AttrPath, core: &str) {
    if !is_core(p, core) {
        let urn = p.urn.clone().unwrap_or_default();
        let Some(ext_key) = key_in(from, &urn) else {
            return;
        };
        let ext = &from[&ext_key];
        let target = to.entry(ext_key).or_insert_with(|| json!({}));
        if let Some(t) = target.as_object_mut() {
            copy(
                ext,
                t,
                &AttrPath {
                    urn: None,
                    ..p.clone()
                },
                core,
            );
        }
        return;
    }
    let Some(key) = key_in(from, &p.attr) else {
        return;
    };
    let value = &from[&key];
    match &p.sub {
        None => {
            to.insert(key, value.clone());
        }
        Some(sub) => {
            let pick = |item: &Value| -> Option<Value> {
                let k = key_in(item, sub)?;
                Some(json!({ k.clone(): item[&k].clone() }))
            };
            let picked = match value {
                Value::Array(items) => Some(Value::Array(items.iter().filter_map(pick).collect())),
                other => pick(other),
            };
            if let Some(v) = picked {
                let merged = match (to.remove(&key), v) {
                    (Some(Value::Object(mut a)), Value::Object(b)) => {
                        a.extend(b);
                        Value::Object(a)
                    }
                    (_, v) => v,
                };
                to.insert(key, merged);
            }
        }
    }
}

fn drop_path(v: &mut Value, p: &AttrPath, core: &str) {
    let target = if is_core(p, core) {
        Some(v)
    } else {
        let urn = p.urn.clone().unwrap_or_default();
        key_in(v, &urn).and_then(move |k| v.get_mut(k))
    };
    let Some(target) = target else { return };
    let Some(key) = key_in(target, &p.attr) else {
        return;
    };
    match &p.sub {
        None => {
            if let Some(m) = target.as_object_mut() {
                m.remove(&key);
            }
        }
        Some(sub) => {
            let strip = |item: &mut Value| {
                if let Some(k) = key_in(item, sub) {
                    item.as_object_mut().map(|m| m.remove(&k));
                }
            };
            match target.get_mut(&key) {
                Some(Value::Array(items)) => items.iter_mut().for_each(strip),
                Some(other) => strip(other),
                None => {}
            }
        }
    }
}

fn count(raw: Option<i64>) -> usize {
    // RFC 7644 §3.4.2.4: a negative count is 0; more than the maximum is the maximum.
    raw.map_or(100, |c| usize::try_from(c.max(0)).unwrap_or(0))
        .min(MAX_RESULTS)
}

fn start(raw: Option<i64>) -> usize {
    // RFC 7644 §3.4.2.4: a startIndex below 1 is 1.
    raw.map_or(1, |s| usize::try_from(s.max(1)).unwrap_or(1))
}

fn number(q: &HashMap<String, String>, key: &str) -> Result<Option<i64>, ScimError> {
    let found = q.iter().find(|(k, _)| k.eq_ignore_ascii_case(key));
    match found {
        None => Ok(None),
        Some((_, v)) => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| ScimError::bad("invalidValue", format!("{key} must be an integer"))),
    }
}

fn parse_filter(f: Option<&str>) -> Result<Option<Filter>, ScimError> {
    f.map(|f| filter::parse(f).map_err(|e| ScimError::bad("invalidFilter", e)))
        .transpose()
}

impl ListQuery {
    /// From `GET` query parameters (names case-insensitive).
    pub fn from_params(q: &HashMap<String, String>) -> Result<Self, ScimError> {
        let get = |key: &str| {
            q.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(key))
                .map(|(_, v)| v.as_str())
        };
        Ok(Self {
            filter: parse_filter(get("filter"))?,
            start_index: start(number(q, "startIndex")?),
            count: count(number(q, "count")?),
            shape: Shape::parse(get("attributes"), get("excludedAttributes"))?,
        })
    }

    /// From a `/.search` body.
    pub fn from_search(s: SearchRequest) -> Result<Self, ScimError> {
        const SEARCH: &str = "urn:ietf:params:scim:api:messages:2.0:SearchRequest";
        if !s.schemas.is_empty() && !s.schemas.iter().any(|x| x == SEARCH) {
            return Err(ScimError::bad(
                "invalidSyntax",
                format!("schemas must contain {SEARCH}"),
            ));
        }
        let _ = (&s.sort_by, &s.sort_order);
        let only: Vec<&str> = s.attributes.iter().map(String::as_str).collect();
        let without: Vec<&str> = s.excluded_attributes.iter().map(String::as_str).collect();
        Ok(Self {
            filter: parse_filter(s.filter.as_deref())?,
            start_index: start(s.start_index),
            count: count(s.count),
            shape: Shape {
                only: paths(&only)?,
                without: paths(&without)?,
            },
        })
    }

    /// The `ListResponse` of the page `resources` (every resource, in order) yields.
    pub fn respond(&self, resources: Vec<Value>, core: &str) -> Value {
        let matching: Vec<Value> = resources
            .into_iter()
            .filter(|r| {
                self.filter
                    .as_ref()
                    .is_none_or(|f| filter::matches(f, r, core))
            })
            .collect();
        let total = matching.len();
        let page: Vec<Value> = matching
            .into_iter()
            .skip(self.start_index - 1)
            .take(self.count)
            .map(|r| self.shape.apply(r, core))
            .collect();
        json!({
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": total,
            "startIndex": self.start_index,
            "itemsPerPage": page.len(),
            "Resources": page,
        })
    }
}

/// Whether `doc` has the attribute (case-insensitive).
pub fn has(doc: &Value, key: &str) -> bool {
    get_ci(doc, key).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn doc(i: usize) -> Value {
        json!({"schemas": [CORE], "id": i.to_string(), "userName": format!("u{i}@x.example"),
               "name": {"givenName": "G", "familyName": "F"}, "emails": [{"value": "e", "type": "work"}],
               "meta": {"version": "W/\"1\""}})
    }

    #[test]
    fn paging_counts_every_match_and_returns_one_page() {
        let q = ListQuery::from_params(&HashMap::from([
            ("startIndex".to_string(), "3".to_string()),
            ("COUNT".to_string(), "2".to_string()),
        ]))
        .unwrap();
        let page = q.respond((1..=5).map(doc).collect(), CORE);
        assert_eq!(page["totalResults"], 5);
        assert_eq!(page["itemsPerPage"], 2);
        assert_eq!(page["startIndex"], 3);
        assert_eq!(page["Resources"][0]["id"], "3");
        let q = ListQuery::from_params(&HashMap::from([("count".to_string(), "-1".to_string())]))
            .unwrap();
        assert_eq!(
            q.respond((1..=5).map(doc).collect(), CORE)["Resources"],
            json!([])
        );
        assert!(
            ListQuery::from_params(&HashMap::from([("count".to_string(), "x".to_string())]))
                .is_err()
        );
    }

    #[test]
    fn attributes_keep_only_what_is_asked_and_excluded_attributes_drop_it() {
        let s = Shape::parse(Some("userName,name.givenName,emails.value"), None).unwrap();
        let v = s.apply(doc(1), CORE);
        assert_eq!(v["userName"], "u1@x.example");
        assert_eq!(v["name"], json!({"givenName": "G"}));
        assert_eq!(v["emails"], json!([{"value": "e"}]));
        assert_eq!(v["id"], "1");
        let s = Shape::parse(None, Some("name,emails.type,id")).unwrap();
        let v = s.apply(doc(1), CORE);
        assert!(v.get("name").is_none());
        assert_eq!(v["emails"], json!([{"value": "e"}]));
        assert_eq!(v["id"], "1", "id is always returned");
    }
}
