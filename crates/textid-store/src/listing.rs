//! A Graph collection query ([`Listing`]) as SQL: one renderer for both backends, which
//! differ only in how they write a parameter, a null-safe inequality and "some element of
//! this JSON array". Column names come from core's static property tables; every value of
//! the request is a bound parameter.

use std::fmt::Write;

use textid_core::odata::filter::CompareOp;
use textid_core::odata::query::Order;
use textid_core::odata::schema::{Cond, Position, Property, Type, Value};

/// What a listing asks of the store: rows of one tenant that satisfy `cond`, in `order`
/// (then by id), at most `limit` of them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listing {
    /// The condition (`$filter`, `$search` and the page's keyset), if any.
    pub cond: Option<Cond>,
    /// The order.
    pub order: Order,
    /// At most this many rows.
    pub limit: u32,
}

/// The SQL dialect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// `?N` parameters, `IS NOT`, `json_each`.
    Sqlite,
    /// `$N` parameters, `IS DISTINCT FROM`, `jsonb_array_elements_text`.
    Postgres,
}

/// A `WHERE` fragment and its parameters, numbered after the ones the caller already has.
#[derive(Debug)]
pub(crate) struct Sql {
    dialect: Dialect,
    /// The fragment.
    pub text: String,
    /// The values, in parameter order.
    pub params: Vec<Value>,
    first: usize,
}

impl Sql {
    /// An empty fragment whose first parameter will be number `first`.
    pub(crate) fn new(dialect: Dialect, first: usize) -> Self {
        Self {
            dialect,
            text: String::new(),
            params: Vec::new(),
            first,
        }
    }

    fn param(&mut self, v: Value) -> String {
        self.params.push(v);
        let n = self.first + self.params.len() - 1;
        match self.dialect {
            Dialect::Sqlite => format!("?{n}"),
            Dialect::Postgres => format!("${n}"),
        }
    }

    /// ` AND (cond)` for the rows aliased `alias`.
    pub(crate) fn and(&mut self, alias: &str, cond: &Cond) {
        self.text.push_str(" AND ");
        let mut out = String::new();
        self.cond(&mut out, alias, cond, None);
        self.text.push_str(&out);
    }

    /// `ORDER BY .. LIMIT ..` for `order` (then the id).
    pub(crate) fn order_limit(&mut self, alias: &str, order: Order, limit: u32) {
        let dir = if order.descending { "DESC" } else { "ASC" };
        let key = self.column(alias, order.prop, None);
        let _ = write!(
            self.text,
            " ORDER BY {key} {dir}, {alias}.id {dir} LIMIT {limit}"
        );
    }

    /// Writes `cond`; inside `any`, `element` is the expression of the array's element.
    fn cond(&mut self, out: &mut String, alias: &str, cond: &Cond, element: Option<&str>) {
        match cond {
            Cond::And(cs) | Cond::Or(cs) => {
                let joiner = if matches!(cond, Cond::And(_)) {
                    " AND "
                } else {
                    " OR "
                };
                out.push('(');
                if cs.is_empty() {
                    out.push_str(if matches!(cond, Cond::And(_)) {
                        "1=1"
                    } else {
                        "1=0"
                    });
                }
                for (i, c) in cs.iter().enumerate() {
                    if i > 0 {
                        out.push_str(joiner);
                    }
                    self.cond(out, alias, c, element);
                }
                out.push(')');
            }
            Cond::Not(c) => {
                // A comparison with a null is unknown; `not` of unknown must be true, as
                // Graph answers objects without the property to `not startswith(..)`.
                out.push_str("NOT COALESCE(");
                self.cond(out, alias, c, element);
                out.push_str(", FALSE)");
            }
            Cond::Null { prop, is_null } => {
                let col = self.column(alias, prop, element);
                let _ = write!(out, "{col} IS {}NULL", if *is_null { "" } else { "NOT " });
            }
            Cond::Compare { prop, op, value } => {
                let col = self.column(alias, prop, element);
                let p = self.value(prop, value.clone());
                let op = match (op, self.dialect) {
                    (CompareOp::Eq, _) => "=",
                    (CompareOp::Ne, Dialect::Sqlite) => "IS NOT",
                    (CompareOp::Ne, Dialect::Postgres) => "IS DISTINCT FROM",
                    (CompareOp::Gt, _) => ">",
                    (CompareOp::Ge, _) => ">=",
                    (CompareOp::Lt, _) => "<",
                    (CompareOp::Le, _) => "<=",
                };
                let _ = write!(out, "{col} {op} {p}");
            }
            Cond::In { prop, values } => {
                let col = self.column(alias, prop, element);
                let ps: Vec<String> = values.iter().map(|v| self.value(prop, v.clone())).collect();
                let _ = write!(out, "{col} IN ({})", ps.join(", "));
            }
            Cond::Like {
                prop,
                position,
                text,
            } => {
                let col = self.column(alias, prop, element);
                let escaped = escape_like(text);
                let pattern = match position {
                    Position::Prefix => format!("{escaped}%"),
                    Position::Suffix => format!("%{escaped}"),
                    Position::Anywhere => format!("%{escaped}%"),
                };
                let p = self.value(prop, Value::Text(pattern));
                let _ = write!(out, "{col} LIKE {p} ESCAPE '\\'");
            }
            Cond::Any { prop, element: c } => {
                let source = match (prop.column.strip_prefix("profile."), self.dialect) {
                    (None, Dialect::Sqlite) => format!("json_each({alias}.{}) e", prop.column),
                    (Some(key), Dialect::Sqlite) => {
                        format!("json_each({alias}.profile, '$.{key}') e")
                    }
                    (None, Dialect::Postgres) => {
                        format!("jsonb_array_elements_text({alias}.{}) e(value)", prop.column)
                    }
                    (Some(key), Dialect::Postgres) => format!(
                        "jsonb_array_elements_text(COALESCE({alias}.profile -> '{key}', '[]')) e(value)"
                    ),
                };
                let _ = write!(out, "EXISTS (SELECT 1 FROM {source} WHERE ");
                self.cond(out, alias, c, Some("e.value"));
                out.push(')');
            }
        }
    }

    /// The expression of `prop` on the row (or of the array element inside `any`); a key
    /// of the JSON profile is extracted as text. Keys and columns come from core's static
    /// tables, never from the request.
    fn column(&self, alias: &str, prop: &Property, element: Option<&str>) -> String {
        let col = match (element, prop.column.strip_prefix("profile."), self.dialect) {
            (Some(e), _, _) => e.to_owned(),
            (None, None, _) => format!("{alias}.{}", prop.column),
            (None, Some(key), Dialect::Sqlite) => {
                format!("json_extract({alias}.profile, '$.{key}')")
            }
            (None, Some(key), Dialect::Postgres) if prop.ty == Type::Bool => {
                format!("(({alias}.profile ->> '{key}')::boolean)")
            }
            (None, Some(key), Dialect::Postgres) => format!("({alias}.profile ->> '{key}')"),
        };
        if matches!(prop.ty, Type::Text | Type::TextList) {
            format!("lower({col})")
        } else {
            col
        }
    }

    /// A parameter for `v` compared with `prop`: case-insensitive text is lowered on both
    /// sides, folded text was lowered when it was checked.
    fn value(&mut self, prop: &Property, v: Value) -> String {
        let p = self.param(v);
        if matches!(prop.ty, Type::Text | Type::TextList) {
            format!("lower({p})")
        } else {
            p
        }
    }
}

/// The rows [`textid_core::odata::schema::SIGN_IN`] filters (aliased `l`): the sign-in log
/// with the user's current name and the `error_code` Graph's `status/errorCode` shows,
/// derived from the stored reason by core's one table (reasons are static text, never a
/// request's). The same SQL in both dialects.
pub(crate) fn sign_ins_source() -> String {
    let mut case = String::from("CASE WHEN s.result = 'success' THEN 0");
    for (code, reasons) in textid_core::sign_in_log::ERROR_CODES {
        let list: Vec<String> = reasons.iter().map(|r| format!("'{r}'")).collect();
        let _ = write!(
            case,
            " WHEN s.failure_reason IN ({}) THEN {code}",
            list.join(", ")
        );
    }
    let _ = write!(
        case,
        " ELSE {} END",
        textid_core::sign_in_log::OTHER_FAILURE
    );
    format!(
        "SELECT l.id, l.created_at, l.method, l.event, l.phone, l.user_id, l.flow_id, l.result, \
         l.failure_reason, l.client_ip, l.app_id FROM (SELECT s.*, u.upn AS user_principal_name, \
         u.display_name AS user_display_name, CAST({case} AS BIGINT) AS error_code \
         FROM sign_in_logs s LEFT JOIN users u ON u.id = s.user_id) l"
    )
}

/// `text` with LIKE's wildcards and the escape character escaped.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use textid_core::odata::{filter, schema};

    fn render(dialect: Dialect, f: &str) -> Sql {
        let cond = schema::check(&schema::USER, &filter::parse(f).unwrap(), true).unwrap();
        let mut sql = Sql::new(dialect, 2);
        sql.and("u", &cond);
        sql
    }

    #[test]
    fn values_are_parameters_never_text() {
        let sql = render(
            Dialect::Sqlite,
            "displayName eq 'x'' OR 1=1 --' or startswith(mobilePhone,'50%_')",
        );
        assert_eq!(
            sql.text,
            " AND (lower(u.display_name) = lower(?2) OR lower(u.mobile_phone) LIKE lower(?3) ESCAPE '\\')"
        );
        assert_eq!(
            sql.params,
            vec![
                Value::Text("x' OR 1=1 --".into()),
                Value::Text("50\\%\\_%".into())
            ]
        );
    }

    #[test]
    fn dialects_differ_in_parameters_inequality_and_arrays() {
        let f = "displayName ne 'a' and businessPhones/any(p:p eq '+1 425')";
        assert_eq!(
            render(Dialect::Sqlite, f).text,
            " AND (lower(u.display_name) IS NOT lower(?2) AND EXISTS (SELECT 1 FROM json_each(u.business_phones) e WHERE lower(e.value) = lower(?3)))"
        );
        assert_eq!(
            render(Dialect::Postgres, f).text,
            " AND (lower(u.display_name) IS DISTINCT FROM lower($2) AND EXISTS (SELECT 1 FROM jsonb_array_elements_text(u.business_phones) e(value) WHERE lower(e.value) = lower($3)))"
        );
    }

    #[test]
    fn not_treats_unknown_as_false_first() {
        assert_eq!(
            render(Dialect::Postgres, "not startswith(mobilePhone,'+1')").text,
            " AND NOT COALESCE(lower(u.mobile_phone) LIKE lower($2) ESCAPE '\\', FALSE)"
        );
    }
}
