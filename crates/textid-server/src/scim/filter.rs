//! SCIM filters and attribute paths (RFC 7644 §3.4.2.2, §3.5.2): a small parser and an
//! evaluator over a resource's JSON. No crate of the field covers the grammar for Rust
//! in a maintained form, and the grammar is small.
//!
//! ```text
//! FILTER    = attrExp / logExp / valuePath / "not" "(" FILTER ")" / "(" FILTER ")"
//! attrExp   = attrPath SP "pr" / attrPath SP compareOp SP compValue
//! valuePath = attrPath "[" FILTER "]"
//! logExp    = FILTER SP ("and" / "or") SP FILTER        ; "and" binds tighter
//! attrPath  = [URN ":"] ATTRNAME ["." subAttr]
//! PATH      = attrPath / valuePath ["." subAttr]         ; PATCH paths
//! ```
//! Attribute names and operators are case-insensitive; string comparisons are too,
//! except for `id`, `externalId` and `meta.version` (RFC 7643 `caseExact`).

use serde_json::Value;

/// An attribute path: an optional schema URN, an attribute and an optional sub-attribute.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttrPath {
    /// The schema URN, if written (`urn:...:enterprise:2.0:User`).
    pub urn: Option<String>,
    /// The attribute.
    pub attr: String,
    /// The sub-attribute.
    pub sub: Option<String>,
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// Equal.
    Eq,
    /// Not equal.
    Ne,
    /// Contains.
    Co,
    /// Starts with.
    Sw,
    /// Ends with.
    Ew,
    /// Greater than.
    Gt,
    /// Less than.
    Lt,
    /// Greater or equal.
    Ge,
    /// Less or equal.
    Le,
}

/// A parsed filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `attr op value`.
    Compare(AttrPath, Op, Value),
    /// `attr pr`.
    Present(AttrPath),
    /// Both.
    And(Box<Filter>, Box<Filter>),
    /// Either.
    Or(Box<Filter>, Box<Filter>),
    /// Negation.
    Not(Box<Filter>),
    /// `attr[filter]`: some element of the multi-valued `attr` matches `filter`.
    ValuePath(AttrPath, Box<Filter>),
}

/// A PATCH path: an attribute, optionally narrowed to the elements matching a filter,
/// optionally down to a sub-attribute of those elements.
#[derive(Debug, Clone, PartialEq)]
pub struct PatchPath {
    /// The attribute (with its sub-attribute when there is no filter).
    pub attr: AttrPath,
    /// `[filter]`.
    pub filter: Option<Filter>,
    /// `.sub` after `[filter]`.
    pub sub: Option<String>,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    OpenBracket,
    CloseBracket,
    Word(String),
    Literal(Value),
}

fn tokens(input: &str) -> Result<Vec<Token>, String> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(i, c)) = chars.peek() {
        match c {
            ' ' | '\t' | '\n' | '\r' => {
                chars.next();
            }
            '(' | ')' | '[' | ']' => {
                chars.next();
                out.push(match c {
                    '(' => Token::Open,
                    ')' => Token::Close,
                    '[' => Token::OpenBracket,
                    _ => Token::CloseBracket,
                });
            }
            '"' => {
                // A JSON string: find its closing quote, honouring escapes.
                let mut end = None;
                let mut escaped = false;
                for (j, d) in input[i + 1..].char_indices() {
                    match (escaped, d) {
                        (true, _) => escaped = false,
                        (false, '\\') => escaped = true,
                        (false, '"') => {
                            end = Some(i + 1 + j);
                            break;
                        }
                        _ => {}
                    }
                }
                let end = end.ok_or("a string is not closed with \"")?;
                let s: String = serde_json::from_str(&input[i..=end])
                    .map_err(|_| "a string has an invalid escape")?;
                out.push(Token::Literal(Value::String(s)));
                while chars.peek().is_some_and(|&(k, _)| k <= end) {
                    chars.next();
                }
            }
            _ => {
                let mut end = input.len();
                while let Some(&(k, d)) = chars.peek() {
                    if matches!(d, ' ' | '\t' | '\n' | '\r' | '(' | ')' | '[' | ']' | '"') {
                        end = k;
                        break;
                    }
                    chars.next();
                }
                out.push(Token::Word(input[i..end].to_string()));
            }
        }
    }
    Ok(out)
}

/// Schema extensions whose URN alone names an attribute (the extension's object).
pub const EXTENSIONS: &[&str] = &["urn:ietf:params:scim:schemas:extension:enterprise:2.0:User"];

/// Parses `[urn:]attr[.sub]`, or an extension's URN alone.
pub fn attr_path(word: &str) -> Result<AttrPath, String> {
    if let Some(ext) = EXTENSIONS.iter().find(|e| e.eq_ignore_ascii_case(word)) {
        return Ok(AttrPath {
            urn: None,
            attr: (*ext).to_string(),
            sub: None,
        });
    }
    let (urn, rest) = if word.len() > 4 && word[..4].eq_ignore_ascii_case("urn:") {
        let (urn, rest) = word
            .rsplit_once(':')
            .ok_or("an attribute path is not valid")?;
        (Some(urn.to_string()), rest)
    } else {
        (None, word)
    };
    let (attr, sub) = match rest.split_once('.') {
        Some((a, s)) => (a, Some(s.to_string())),
        None => (rest, None),
    };
    let name_ok = |s: &str| {
        // (an extension's URN, checked above, is the one name with colons and dots)
        s.chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '$')
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '$'))
    };
    if !name_ok(attr) || !sub.as_deref().is_none_or(name_ok) {
        return Err("an attribute path is not valid: use attribute or attribute.subAttribute, optionally after a schema URN".into());
    }
    Ok(AttrPath {
        urn,
        attr: attr.to_string(),
        sub,
    })
}

fn op(word: &str) -> Option<Op> {
    Some(match word.to_ascii_lowercase().as_str() {
        "eq" => Op::Eq,
        "ne" => Op::Ne,
        "co" => Op::Co,
        "sw" => Op::Sw,
        "ew" => Op::Ew,
        "gt" => Op::Gt,
        "lt" => Op::Lt,
        "ge" => Op::Ge,
        "le" => Op::Le,
        _ => return None,
    })
}

struct Parser {
    tokens: Vec<Token>,
    at: usize,
}

impl Parser {
    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.at)
    }
    fn next(&mut self) -> Option<Token> {
        let t = self.tokens.get(self.at).cloned();
        self.at += 1;
        t
    }
    fn keyword(&self, k: &str) -> bool {
        matches!(self.peek(), Some(Token::Word(w)) if w.eq_ignore_ascii_case(k))
    }
    fn expect(&mut self, t: Token, what: &str) -> Result<(), String> {
        if self.next() == Some(t) {
            Ok(())
        } else {
            Err(format!("expected {what}"))
        }
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.keyword("or") {
            self.at += 1;
            left = Filter::Or(Box::new(left), Box::new(self.and()?));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.keyword("and") {
            self.at += 1;
            left = Filter::And(Box::new(left), Box::new(self.unary()?));
        }
        Ok(left)
    }

    fn group(&mut self) -> Result<Filter, String> {
        self.expect(Token::Open, "(")?;
        let f = self.or()?;
        self.expect(Token::Close, ")")?;
        Ok(f)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.keyword("not") {
            self.at += 1;
            return Ok(Filter::Not(Box::new(self.group()?)));
        }
        if self.peek() == Some(&Token::Open) {
            return self.group();
        }
        let Some(Token::Word(word)) = self.next() else {
            return Err("expected an attribute path".into());
        };
        let path = attr_path(&word)?;
        if self.peek() == Some(&Token::OpenBracket) {
            self.at += 1;
            let inner = self.or()?;
            self.expect(Token::CloseBracket, "]")?;
            return Ok(Filter::ValuePath(path, Box::new(inner)));
        }
        let Some(Token::Word(o)) = self.next() else {
            return Err("expected an operator (eq, ne, co, sw, ew, gt, lt, ge, le, pr)".into());
        };
        if o.eq_ignore_ascii_case("pr") {
            return Ok(Filter::Present(path));
        }
        let o = op(&o).ok_or("unknown operator: use eq, ne, co, sw, ew, gt, lt, ge, le or pr")?;
        let value = match self.next() {
            Some(Token::Literal(v)) => v,
            Some(Token::Word(w)) => match w.to_ascii_lowercase().as_str() {
                "true" => Value::Bool(true),
                "false" => Value::Bool(false),
                "null" => Value::Null,
                _ => serde_json::from_str::<serde_json::Number>(&w)
                    .map(Value::Number)
                    .map_err(|_| {
                        "a comparison value must be a \"string\", a number, true, false or null"
                    })?,
            },
            _ => return Err("expected a comparison value".into()),
        };
        Ok(Filter::Compare(path, o, value))
    }
}

/// Parses a filter; the error says what to fix.
pub fn parse(input: &str) -> Result<Filter, String> {
    let mut p = Parser {
        tokens: tokens(input)?,
        at: 0,
    };
    let f = p.or()?;
    if p.at < p.tokens.len() {
        return Err("unexpected text after the filter".into());
    }
    Ok(f)
}

/// Parses a PATCH path (`attr`, `attr.sub`, `attr[filter]`, `attr[filter].sub`).
pub fn parse_patch_path(input: &str) -> Result<PatchPath, String> {
    let input = input.trim();
    let Some(open) = input.find('[') else {
        return Ok(PatchPath {
            attr: attr_path(input)?,
            filter: None,
            sub: None,
        });
    };
    let close = input
        .rfind(']')
        .ok_or("a value filter is not closed with ]")?;
    let attr = attr_path(&input[..open])?;
    let filter = parse(&input[open + 1..close])?;
    let rest = &input[close + 1..];
    let sub = match rest.strip_prefix('.') {
        Some(s) => Some(attr_path(s)?.attr),
        None if rest.is_empty() => None,
        None => return Err("unexpected text after ]".into()),
    };
    Ok(PatchPath {
        attr,
        filter: Some(filter),
        sub,
    })
}

/// The value of `key` in `obj`, matched case-insensitively.
pub fn get_ci<'a>(obj: &'a Value, key: &str) -> Option<&'a Value> {
    obj.as_object()?
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case(key))
        .map(|(_, v)| v)
}

/// The object an attribute path starts from: the resource, or its extension's object.
fn scope<'a>(resource: &'a Value, path: &AttrPath, core: &str) -> Option<&'a Value> {
    match &path.urn {
        Some(urn) if !urn.eq_ignore_ascii_case(core) => get_ci(resource, urn),
        _ => Some(resource),
    }
}

/// Every value a path names in `resource` (the elements of a multi-valued attribute, or
/// their `value` when complex and no sub-attribute is named).
fn values<'a>(resource: &'a Value, path: &AttrPath, core: &str) -> Vec<&'a Value> {
    let Some(v) = scope(resource, path, core).and_then(|s| get_ci(s, &path.attr)) else {
        return Vec::new();
    };
    let items: Vec<&Value> = match v {
        Value::Array(a) => a.iter().collect(),
        other => vec![other],
    };
    items
        .into_iter()
        .filter_map(|item| match (&path.sub, item) {
            (Some(sub), _) => get_ci(item, sub),
            (None, Value::Object(_)) => get_ci(item, "value"),
            (None, other) => Some(other),
        })
        .filter(|v| !v.is_null())
        .collect()
}

fn case_exact(path: &AttrPath) -> bool {
    (path.sub.is_none() && (path.attr == "id" || path.attr.eq_ignore_ascii_case("externalId")))
        || (path.attr.eq_ignore_ascii_case("meta")
            && path
                .sub
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("version")))
}

fn compare(actual: &Value, op: Op, wanted: &Value, exact: bool) -> bool {
    use std::cmp::Ordering;
    let ordering = match (actual, wanted) {
        (Value::String(a), Value::String(w)) => {
            let (a, w) = if exact {
                (a.clone(), w.clone())
            } else {
                (a.to_lowercase(), w.to_lowercase())
            };
            match op {
                Op::Co => return a.contains(&w),
                Op::Sw => return a.starts_with(&w),
                Op::Ew => return a.ends_with(&w),
                _ => a.cmp(&w),
            }
        }
        (Value::Number(a), Value::Number(w)) => {
            let (a, w) = (a.as_f64().unwrap_or(0.0), w.as_f64().unwrap_or(0.0));
            a.partial_cmp(&w).unwrap_or(Ordering::Less)
        }
        (Value::Bool(a), Value::Bool(w)) => match op {
            Op::Eq => return a == w,
            Op::Ne => return a != w,
            _ => return false,
        },
        _ => return op == Op::Ne,
    };
    match op {
        Op::Eq => ordering == Ordering::Equal,
        Op::Ne => ordering != Ordering::Equal,
        Op::Gt => ordering == Ordering::Greater,
        Op::Lt => ordering == Ordering::Less,
        Op::Ge => ordering != Ordering::Less,
        Op::Le => ordering != Ordering::Greater,
        Op::Co | Op::Sw | Op::Ew => false,
    }
}

/// Whether `resource` (or an element of a multi-valued attribute, inside `[...]`)
/// matches. `core` is the resource's core schema URN (a path may name it).
pub fn matches(f: &Filter, resource: &Value, core: &str) -> bool {
    match f {
        Filter::And(a, b) => matches(a, resource, core) && matches(b, resource, core),
        Filter::Or(a, b) => matches(a, resource, core) || matches(b, resource, core),
        Filter::Not(a) => !matches(a, resource, core),
        Filter::Present(p) => values(resource, p, core)
            .iter()
            .any(|v| !matches!(v, Value::String(s) if s.is_empty())),
        Filter::Compare(p, op, wanted) => {
            let found = values(resource, p, core);
            if *op == Op::Ne {
                return !found
                    .iter()
                    .any(|v| compare(v, Op::Eq, wanted, case_exact(p)));
            }
            if wanted.is_null() {
                return *op == Op::Eq && found.is_empty();
            }
            found.iter().any(|v| compare(v, *op, wanted, case_exact(p)))
        }
        Filter::ValuePath(p, inner) => {
            let Some(v) = scope(resource, p, core).and_then(|s| get_ci(s, &p.attr)) else {
                return false;
            };
            match v {
                Value::Array(items) => items.iter().any(|item| matches(inner, item, core)),
                item => matches(inner, item, core),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const CORE: &str = "urn:ietf:params:scim:schemas:core:2.0:User";

    fn user() -> Value {
        json!({
            "id": "2819c223", "externalId": "HR-1", "userName": "Bjensen@example.com",
            "displayName": "Babs Jensen", "active": true,
            "emails": [{"value": "bjensen@example.com", "type": "work", "primary": true},
                       {"value": "babs@jensen.org", "type": "home"}],
            "phoneNumbers": [{"value": "+1 425-555-0101", "type": "mobile"}],
            "meta": {"lastModified": "2026-01-01T00:00:00Z"},
            "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"employeeNumber": "701984", "manager": {"value": "m-1"}}
        })
    }

    fn yes(f: &str) -> bool {
        matches(&parse(f).unwrap(), &user(), CORE)
    }

    #[test]
    fn comparisons_are_case_insensitive_except_for_case_exact_attributes() {
        assert!(yes(r#"userName eq "bjensen@example.com""#));
        assert!(yes(r#"USERNAME EQ "BJENSEN@EXAMPLE.COM""#));
        assert!(yes(r#"externalId eq "HR-1""#));
        assert!(!yes(r#"externalId eq "hr-1""#));
        assert!(yes(r#"displayName sw "babs""#));
        assert!(yes(r#"displayName co "S JEN""#));
        assert!(yes(r#"displayName ew "sen""#));
        assert!(yes(r#"displayName ne "Other""#));
        assert!(yes("active eq true"));
        assert!(!yes("active eq false"));
        assert!(yes(r#"meta.lastModified gt "2025-12-31T00:00:00Z""#));
        assert!(yes("title eq null"));
    }

    #[test]
    fn multi_valued_attributes_match_on_any_element() {
        assert!(yes(r#"emails eq "babs@jensen.org""#));
        assert!(yes(r#"emails.value co "jensen.org""#));
        assert!(yes(r#"emails[type eq "work" and value co "@example.com"]"#));
        assert!(!yes(
            r#"emails[type eq "home" and value co "@example.com"]"#
        ));
        assert!(yes(r#"phoneNumbers[type eq "mobile"]"#));
        assert!(yes(r#"phoneNumbers.value eq "+1 425-555-0101""#));
        assert!(yes("emails pr"));
        assert!(!yes("nickName pr"));
    }

    #[test]
    fn logic_has_precedence_and_parentheses_and_not() {
        assert!(yes(
            r#"userName eq "x" or displayName sw "Babs" and active eq true"#
        ));
        assert!(!yes(
            r#"(userName eq "x" or displayName sw "Babs") and active eq false"#
        ));
        assert!(yes(r#"not (userName eq "x")"#));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:employeeNumber eq "701984""#
        ));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager.value eq "m-1""#
        ));
        assert!(yes(
            r#"urn:ietf:params:scim:schemas:core:2.0:User:userName sw "bj""#
        ));
    }

    #[test]
    fn malformed_filters_say_what_is_wrong() {
        for bad in [
            "userName",
            r#"userName eq"#,
            r#"userName zz "x""#,
            r#"userName eq "x"#,
            r#"(userName eq "x""#,
            r#"userName eq "x" garbage"#,
            r#"emails[type eq "work""#,
            r#"user name eq "x""#,
            r#"userName eq unquoted"#,
            "",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn patch_paths_parse_with_filters_and_sub_attributes() {
        let p = parse_patch_path(r#"phoneNumbers[type eq "mobile"].value"#).unwrap();
        assert_eq!(p.attr.attr, "phoneNumbers");
        assert_eq!(p.sub.as_deref(), Some("value"));
        assert!(p.filter.is_some());
        let p = parse_patch_path("name.givenName").unwrap();
        assert_eq!(
            (p.attr.attr.as_str(), p.attr.sub.as_deref()),
            ("name", Some("givenName"))
        );
        let p =
            parse_patch_path("urn:ietf:params:scim:schemas:extension:enterprise:2.0:User:manager")
                .unwrap();
        assert_eq!(p.attr.attr, "manager");
        assert!(parse_patch_path("emails[type eq \"work\"]x").is_err());
    }
}
