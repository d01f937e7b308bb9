//! The query options of a Graph collection request (`$filter`, `$search`, `$orderby`,
//! `$top`, `$select`, `$count`) checked together into a [`ListQuery`], with Graph's rules
//! on which combinations need the advanced query parameters.

use super::filter::{self, CompareOp};
use super::schema::{self, Cond, Position, Property, QueryError, Resource, Type, Value};

/// The raw options of one request, as received.
#[derive(Debug, Default, Clone, Copy)]
pub struct Options<'a> {
    /// `$filter`
    pub filter: Option<&'a str>,
    /// `$search`
    pub search: Option<&'a str>,
    /// `$orderby`
    pub orderby: Option<&'a str>,
    /// `$top`
    pub top: Option<&'a str>,
    /// `$select`
    pub select: Option<&'a str>,
    /// `$count`
    pub count: Option<&'a str>,
    /// Whether the request has the header `ConsistencyLevel: eventual`.
    pub eventual: bool,
}

/// The sort order of a listing: a property, then the id (so that pages are stable).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Order {
    /// The property.
    pub prop: &'static Property,
    /// `desc`
    pub descending: bool,
}

/// A checked collection query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListQuery {
    /// `$filter` and `$search` together (both must hold).
    pub cond: Option<Cond>,
    /// The order.
    pub order: Order,
    /// Page size.
    pub top: u32,
    /// `$select`: Graph names to answer (plus `id`), or every property.
    pub select: Option<Vec<&'static str>>,
    /// `$count=true`
    pub count: bool,
}

/// Graph's page size when `$top` is absent, and its largest.
pub const DEFAULT_TOP: u32 = 100;
/// The largest `$top` Graph accepts on directory objects.
pub const MAX_TOP: u32 = 999;

/// Checks a request's options against `resource`, ordered by `default_order` when
/// `$orderby` is absent.
pub fn check(
    resource: &'static Resource,
    o: Options<'_>,
    default_order: &str,
) -> Result<ListQuery, QueryError> {
    let count = match o.count.map(str::to_ascii_lowercase).as_deref() {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => return Err(QueryError::Option("$count must be true or false".into())),
    };
    if count && !o.eventual {
        return Err(QueryError::Option(
            "$count is supported on directory objects only with the header ConsistencyLevel: eventual".into(),
        ));
    }
    let advanced = count && o.eventual;
    let top = match o.top {
        None => DEFAULT_TOP,
        Some(t) => t
            .trim()
            .parse::<u32>()
            .ok()
            .filter(|t| (1..=MAX_TOP).contains(t))
            .ok_or_else(|| {
                QueryError::Option(format!("$top must be a number from 1 to {MAX_TOP}"))
            })?,
    };
    let filter = o
        .filter
        .map(|f| schema::check(resource, &filter::parse(f)?, advanced))
        .transpose()?;
    let search = o
        .search
        .map(|s| {
            if !o.eventual {
                return Err(QueryError::Option(
                    "Request with $search query parameter only works through MSGraph with a special request header: 'ConsistencyLevel: eventual'".into(),
                ));
            }
            search(resource, s)
        })
        .transpose()?;
    let order = order(resource, o.orderby, default_order)?;
    if o.orderby.is_some() && (filter.is_some() || search.is_some()) && !advanced {
        // Graph sorts a filtered directory listing only as an advanced query.
        return Err(QueryError::NeedsAdvanced {
            operator: "orderby",
        });
    }
    let cond = match (filter, search) {
        (Some(f), Some(s)) => Some(Cond::And(vec![f, s])),
        (f, s) => f.or(s),
    };
    Ok(ListQuery {
        cond,
        order,
        top,
        select: o.select.map(|s| select(resource, s)).transpose()?,
        count,
    })
}

fn unknown(resource: &'static Resource, _name: &str) -> QueryError {
    QueryError::UnknownProperty { resource }
}

fn order(
    resource: &'static Resource,
    orderby: Option<&str>,
    default: &str,
) -> Result<Order, QueryError> {
    let spec = orderby.unwrap_or(default).trim();
    let mut words = spec.split_whitespace();
    let name = words.next().unwrap_or_default();
    let descending = match words.next().map(str::to_ascii_lowercase).as_deref() {
        None | Some("asc") => false,
        Some("desc") => true,
        Some(_) => {
            return Err(QueryError::Option(
                "$orderby takes one property, optionally followed by asc or desc".into(),
            ))
        }
    };
    if words.next().is_some() || name.contains(',') {
        return Err(QueryError::Option(
            "$orderby takes one property, optionally followed by asc or desc".into(),
        ));
    }
    let prop = resource
        .property(name)
        .ok_or_else(|| unknown(resource, name))?;
    if !prop.orderable {
        return Err(QueryError::Option(format!(
            "$orderby is not supported on property '{}' of resource '{}'",
            prop.name, resource.name
        )));
    }
    Ok(Order { prop, descending })
}

fn select(resource: &'static Resource, s: &str) -> Result<Vec<&'static str>, QueryError> {
    s.split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            resource
                .property(n)
                .map(|p| p.name)
                .ok_or_else(|| unknown(resource, n))
        })
        .collect()
}

/// Characters that split a value into the tokens `$search` matches (Graph tokenises
/// names on spaces and punctuation, and addresses on `.`, `@`, `_`, `-`).
const TOKEN_SEPARATORS: [char; 5] = [' ', '.', '@', '_', '-'];

/// `$search="displayName:ann" OR "mail:ann"`: clauses of `"property:text"` joined by `AND`
/// or `OR` (left to right, `AND` binding tighter), each true when a token of the property
/// starts with the text.
fn search(resource: &'static Resource, s: &str) -> Result<Cond, QueryError> {
    let bad = || {
        QueryError::Option(
            "$search takes clauses of the form \"property:text\" joined by AND or OR".into(),
        )
    };
    let mut ors: Vec<Cond> = Vec::new();
    let mut ands: Vec<Cond> = Vec::new();
    let mut rest = s.trim();
    loop {
        let body = rest.strip_prefix('"').ok_or_else(bad)?;
        let end = body.find('"').ok_or_else(bad)?;
        let (name, text) = body[..end].split_once(':').ok_or_else(bad)?;
        let prop = resource
            .property(name.trim())
            .ok_or_else(|| unknown(resource, name.trim()))?;
        if !prop.searchable {
            return Err(QueryError::Option(format!(
                "$search is not supported on property '{}'",
                prop.name
            )));
        }
        ands.push(token_match(prop, text.trim()));
        rest = body[end + 1..].trim_start();
        if rest.is_empty() {
            break;
        }
        let (op, after) = rest.split_once(char::is_whitespace).ok_or_else(bad)?;
        match op {
            "AND" => {}
            "OR" => ors.push(Cond::And(std::mem::take(&mut ands))),
            _ => return Err(bad()),
        }
        rest = after.trim_start();
    }
    ors.push(Cond::And(ands));
    Ok(Cond::Or(ors))
}

fn token_match(prop: &'static Property, text: &str) -> Cond {
    let text = if prop.ty == Type::FoldedText {
        crate::directory::user::fold(text)
    } else {
        text.to_owned()
    };
    let mut any = vec![Cond::Like {
        prop,
        position: Position::Prefix,
        text: text.clone(),
    }];
    any.extend(TOKEN_SEPARATORS.iter().map(|sep| Cond::Like {
        prop,
        position: Position::Anywhere,
        text: format!("{sep}{text}"),
    }));
    Cond::Or(any)
}

/// The keyset condition of the page after the row whose sort value is `value` and id `id`.
pub fn after(order: Order, id: &'static Property, value: Value, last_id: Value) -> Cond {
    let op = if order.descending {
        CompareOp::Lt
    } else {
        CompareOp::Gt
    };
    Cond::Or(vec![
        Cond::Compare {
            prop: order.prop,
            op,
            value: value.clone(),
        },
        Cond::And(vec![
            Cond::Compare {
                prop: order.prop,
                op: CompareOp::Eq,
                value,
            },
            Cond::Compare {
                prop: id,
                op,
                value: last_id,
            },
        ]),
    ])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::odata::schema::USER;

    fn opts<'a>() -> Options<'a> {
        Options::default()
    }

    #[test]
    fn defaults_order_by_the_default_property() {
        let q = check(&USER, opts(), "userPrincipalName").unwrap();
        assert_eq!(q.order.prop.name, "userPrincipalName");
        assert_eq!(q.top, DEFAULT_TOP);
        assert!(q.cond.is_none() && q.select.is_none() && !q.count);
    }

    #[test]
    fn count_and_search_need_consistency_eventual() {
        let e = check(
            &USER,
            Options {
                count: Some("true"),
                ..opts()
            },
            "userPrincipalName",
        )
        .unwrap_err();
        assert!(e.to_string().contains("ConsistencyLevel"));
        let e = check(
            &USER,
            Options {
                search: Some("\"displayName:ann\""),
                ..opts()
            },
            "userPrincipalName",
        )
        .unwrap_err();
        assert!(e.to_string().contains("ConsistencyLevel"));
        let q = check(
            &USER,
            Options {
                search: Some("\"displayName:ann\" OR \"userPrincipalName:bo\""),
                eventual: true,
                ..opts()
            },
            "userPrincipalName",
        )
        .unwrap();
        let Some(Cond::Or(clauses)) = q.cond else {
            panic!("or expected")
        };
        assert_eq!(clauses.len(), 2);
    }

    #[test]
    fn orderby_with_filter_is_advanced() {
        let o = Options {
            filter: Some("accountEnabled eq true"),
            orderby: Some("displayName desc"),
            ..opts()
        };
        assert_eq!(
            check(&USER, o, "userPrincipalName").unwrap_err(),
            QueryError::NeedsAdvanced {
                operator: "orderby"
            }
        );
        let q = check(
            &USER,
            Options {
                count: Some("true"),
                eventual: true,
                ..o
            },
            "userPrincipalName",
        )
        .unwrap();
        assert!(q.order.descending && q.count);
    }

    #[test]
    fn bad_options_are_refused_with_what_to_fix() {
        for o in [
            Options {
                top: Some("0"),
                ..opts()
            },
            Options {
                top: Some("1000"),
                ..opts()
            },
            Options {
                orderby: Some("mobilePhone"),
                ..opts()
            },
            Options {
                orderby: Some("displayName sideways"),
                ..opts()
            },
            Options {
                select: Some("displayName,shoeSize"),
                ..opts()
            },
            Options {
                search: Some("ann"),
                eventual: true,
                ..opts()
            },
            Options {
                count: Some("maybe"),
                ..opts()
            },
        ] {
            assert_eq!(
                check(&USER, o, "userPrincipalName").unwrap_err().code(),
                "BadRequest",
                "{o:?}"
            );
        }
    }

    #[test]
    fn select_keeps_graph_names() {
        let q = check(
            &USER,
            Options {
                select: Some("DisplayName, mobilePhone"),
                ..opts()
            },
            "userPrincipalName",
        )
        .unwrap();
        assert_eq!(q.select.unwrap(), vec!["displayName", "mobilePhone"]);
    }
}
