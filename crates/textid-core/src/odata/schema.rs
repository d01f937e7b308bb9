//! Which property of a Graph resource supports which query operator, and the checked
//! condition ([`Cond`]) a `$filter` becomes once it passed that table.
//!
//! Graph splits operators in two: those a property supports by default, and the "advanced"
//! ones (`ne`, `not`, `endsWith`, comparisons with `null`) that need the request header
//! `ConsistencyLevel: eventual` and `$count=true`. textid keeps exactly that split, with
//! Graph's error codes, so that a script written for Entra gets the same answer here.
//! A [`Cond`] names columns only through the static [`Property`] table: no text of the
//! request ever reaches SQL except as a bound value.

use super::filter::{CompareOp, Expr, Function, Literal};

/// A set of operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ops(u16);

impl Ops {
    /// `eq`
    pub const EQ: Ops = Ops(1);
    /// `ne`
    pub const NE: Ops = Ops(2);
    /// `not`
    pub const NOT: Ops = Ops(4);
    /// `in`
    pub const IN: Ops = Ops(8);
    /// `ge`, `le` (and `gt`, `lt`)
    pub const RANGE: Ops = Ops(16);
    /// `startswith`
    pub const STARTS: Ops = Ops(32);
    /// `endswith`
    pub const ENDS: Ops = Ops(64);
    /// `eq null`, `ne null`
    pub const NULL: Ops = Ops(128);
    /// No operator.
    pub const NONE: Ops = Ops(0);

    /// Both sets.
    pub const fn with(self, other: Ops) -> Ops {
        Ops(self.0 | other.0)
    }

    fn has(self, op: Ops) -> bool {
        self.0 & op.0 == op.0
    }
}

/// The type of a property, as stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Type {
    /// Text compared case-insensitively.
    Text,
    /// Text stored lower-case (userPrincipalName): the value is lower-cased before it is
    /// compared, so the column's own index serves.
    FoldedText,
    /// A boolean.
    Bool,
    /// A GUID.
    Guid,
    /// A date-time, stored as milliseconds since the epoch.
    Time,
    /// A collection of text (a JSON array), filtered with `any`.
    TextList,
    /// An integer.
    Int,
}

/// One filterable, selectable property of a resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Property {
    /// Graph's name (`displayName`).
    pub name: &'static str,
    /// The SQL column (same name in both backends), qualified by the backend; or
    /// `profile.<key>`: a key of the user's JSON profile document
    /// ([`crate::directory::profile`]).
    pub column: &'static str,
    /// Its type.
    pub ty: Type,
    /// Operators supported by default.
    pub default: Ops,
    /// Operators supported only as advanced queries.
    pub advanced: Ops,
    /// Whether `$orderby` may name it (by default).
    pub orderable: bool,
    /// Whether `$search` may name it (tokenised).
    pub searchable: bool,
}

/// A resource's query table.
#[derive(Debug, PartialEq, Eq)]
pub struct Resource {
    /// Graph's name in messages (`User`).
    pub name: &'static str,
    /// Graph's type (`microsoft.graph.user`).
    pub type_name: &'static str,
    /// Its properties.
    pub properties: &'static [Property],
}

impl Resource {
    /// Graph's names of its properties, for messages.
    pub fn names(&self) -> String {
        self.properties
            .iter()
            .map(|p| p.name)
            .collect::<Vec<_>>()
            .join(", ")
    }

    /// A property by Graph's name (case-insensitive, as Graph).
    pub fn property(&self, name: &str) -> Option<&'static Property> {
        self.properties
            .iter()
            .find(|p| p.name.eq_ignore_ascii_case(name))
    }
}

const TEXT_DEFAULT: Ops = Ops::EQ.with(Ops::IN).with(Ops::RANGE).with(Ops::STARTS);
const TEXT_ADVANCED: Ops = Ops::NE.with(Ops::NOT).with(Ops::ENDS).with(Ops::NULL);
const FLAG_ADVANCED: Ops = Ops::NE.with(Ops::NOT).with(Ops::NULL);

/// A text property of the user's profile: Graph's default and advanced text operators.
const fn profile_text(name: &'static str, column: &'static str, searchable: bool) -> Property {
    Property {
        name,
        column,
        ty: Type::Text,
        default: TEXT_DEFAULT,
        advanced: TEXT_ADVANCED,
        orderable: false,
        searchable,
    }
}

/// The properties of [`USER`].
const USER_PROPERTIES: [Property; 27] = [
    Property {
        name: "id",
        column: "id",
        ty: Type::Guid,
        default: Ops::EQ.with(Ops::IN),
        advanced: Ops::NE.with(Ops::NOT),
        orderable: false,
        searchable: false,
    },
    Property {
        name: "userPrincipalName",
        column: "upn",
        ty: Type::FoldedText,
        default: TEXT_DEFAULT,
        advanced: Ops::NE.with(Ops::NOT).with(Ops::ENDS),
        orderable: true,
        searchable: true,
    },
    Property {
        name: "displayName",
        column: "display_name",
        ty: Type::Text,
        default: TEXT_DEFAULT,
        advanced: TEXT_ADVANCED,
        orderable: true,
        searchable: true,
    },
    Property {
        name: "accountEnabled",
        column: "account_enabled",
        ty: Type::Bool,
        default: Ops::EQ.with(Ops::IN),
        advanced: FLAG_ADVANCED,
        orderable: false,
        searchable: false,
    },
    Property {
        name: "mobilePhone",
        column: "mobile_phone",
        ty: Type::Text,
        default: TEXT_DEFAULT,
        advanced: TEXT_ADVANCED,
        orderable: false,
        searchable: false,
    },
    Property {
        name: "businessPhones",
        column: "business_phones",
        ty: Type::TextList,
        default: Ops::EQ.with(Ops::STARTS).with(Ops::RANGE),
        advanced: Ops::NOT,
        orderable: false,
        searchable: false,
    },
    Property {
        name: "onPremisesSyncEnabled",
        column: "on_premises_sync",
        ty: Type::Bool,
        default: Ops::EQ.with(Ops::IN),
        advanced: FLAG_ADVANCED,
        orderable: false,
        searchable: false,
    },
    Property {
        name: "createdDateTime",
        column: "created_at",
        ty: Type::Time,
        default: Ops::RANGE.with(Ops::EQ).with(Ops::IN),
        advanced: Ops::NE.with(Ops::NOT),
        orderable: false,
        searchable: false,
    },
    profile_text("givenName", "profile.givenName", true),
    profile_text("surname", "profile.surname", true),
    profile_text("jobTitle", "profile.jobTitle", false),
    profile_text("department", "profile.department", false),
    profile_text("companyName", "profile.companyName", false),
    profile_text("officeLocation", "profile.officeLocation", false),
    profile_text("employeeId", "profile.employeeId", false),
    profile_text("employeeType", "profile.employeeType", false),
    profile_text("usageLocation", "profile.usageLocation", false),
    profile_text("preferredLanguage", "profile.preferredLanguage", false),
    profile_text("mail", "profile.mail", true),
    profile_text("mailNickname", "profile.mailNickname", false),
    profile_text("streetAddress", "profile.streetAddress", false),
    profile_text("city", "profile.city", false),
    profile_text("state", "profile.state", false),
    profile_text("postalCode", "profile.postalCode", false),
    profile_text("country", "profile.country", false),
    profile_text("faxNumber", "profile.faxNumber", false),
    Property {
        name: "otherMails",
        column: "profile.otherMails",
        ty: Type::TextList,
        default: Ops::EQ.with(Ops::STARTS).with(Ops::RANGE),
        advanced: Ops::NOT,
        orderable: false,
        searchable: false,
    },
];

/// Graph's `user`, as far as textid stores it (Graph's user resource documents the
/// operators per property; `ne`, `not`, `endsWith` and `null` are advanced for every
/// directory object).
pub static USER: Resource = Resource {
    name: "User",
    type_name: "microsoft.graph.user",
    properties: &USER_PROPERTIES,
};

/// The properties of [`GROUP`].
const GROUP_PROPERTIES: [Property; 7] = [
    Property {
        name: "id",
        column: "id",
        ty: Type::Guid,
        default: Ops::EQ.with(Ops::IN),
        advanced: Ops::NE.with(Ops::NOT),
        orderable: false,
        searchable: false,
    },
    Property {
        name: "displayName",
        column: "display_name",
        ty: Type::Text,
        default: TEXT_DEFAULT,
        advanced: TEXT_ADVANCED,
        orderable: true,
        searchable: true,
    },
    Property {
        name: "description",
        column: "profile.description",
        ty: Type::Text,
        default: Ops::EQ.with(Ops::RANGE).with(Ops::STARTS),
        advanced: TEXT_ADVANCED,
        orderable: false,
        searchable: true,
    },
    profile_text("mailNickname", "profile.mailNickname", false),
    Property {
        name: "securityEnabled",
        column: "profile.securityEnabled",
        ty: Type::Bool,
        default: Ops::EQ.with(Ops::IN),
        advanced: FLAG_ADVANCED,
        orderable: false,
        searchable: false,
    },
    Property {
        name: "mailEnabled",
        column: "profile.mailEnabled",
        ty: Type::Bool,
        default: Ops::EQ,
        advanced: FLAG_ADVANCED,
        orderable: false,
        searchable: false,
    },
    Property {
        name: "groupTypes",
        column: "profile.groupTypes",
        ty: Type::TextList,
        default: Ops::EQ,
        advanced: Ops::NOT,
        orderable: false,
        searchable: false,
    },
];

/// Graph's `group`, as far as textid stores it.
pub static GROUP: Resource = Resource {
    name: "Group",
    type_name: "microsoft.graph.group",
    properties: &GROUP_PROPERTIES,
};

/// `deletedDateTime` of a deleted item (`/directory/deletedItems`): when it was deleted.
const DELETED_AT: Property = Property {
    name: "deletedDateTime",
    column: "deleted_at",
    ty: Type::Time,
    default: Ops::RANGE.with(Ops::EQ).with(Ops::IN),
    advanced: Ops::NE.with(Ops::NOT),
    orderable: true,
    searchable: false,
};

/// `properties` and `deletedDateTime` (`M` must be `N + 1`).
const fn with_deleted_at<const N: usize, const M: usize>(
    properties: [Property; N],
) -> [Property; M] {
    assert!(M == N + 1);
    let mut out = [DELETED_AT; M];
    let mut i = 0;
    while i < N {
        out[i] = properties[i];
        i += 1;
    }
    out
}

const DELETED_USER_PROPERTIES: [Property; 28] = with_deleted_at(USER_PROPERTIES);
const DELETED_GROUP_PROPERTIES: [Property; 8] = with_deleted_at(GROUP_PROPERTIES);

/// A deleted user (`/directory/deletedItems/microsoft.graph.user`): the user's properties
/// and `deletedDateTime`, which orders (Graph's `$orderby=deletedDateTime`).
pub static DELETED_USER: Resource = Resource {
    name: "User",
    type_name: "microsoft.graph.user",
    properties: &DELETED_USER_PROPERTIES,
};

/// A deleted group (`/directory/deletedItems/microsoft.graph.group`).
pub static DELETED_GROUP: Resource = Resource {
    name: "Group",
    type_name: "microsoft.graph.group",
    properties: &DELETED_GROUP_PROPERTIES,
};

/// Graph's `signIn`, as textid logs it (the columns of the sign-in log joined with the
/// user's current name; `status/errorCode` derived from the stored reason by
/// [`crate::sign_in_log::ERROR_CODES`]).
pub static SIGN_IN: Resource = Resource {
    name: "SignIn",
    type_name: "microsoft.graph.signIn",
    properties: &[
        Property {
            name: "id",
            column: "id",
            ty: Type::Guid,
            default: Ops::EQ.with(Ops::IN),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "createdDateTime",
            column: "created_at",
            ty: Type::Time,
            default: Ops::EQ.with(Ops::RANGE),
            advanced: Ops::NONE,
            orderable: true,
            searchable: false,
        },
        Property {
            name: "userId",
            column: "user_id",
            ty: Type::Guid,
            default: Ops::EQ.with(Ops::IN).with(Ops::NE).with(Ops::NULL),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "userPrincipalName",
            column: "user_principal_name",
            ty: Type::Text,
            default: Ops::EQ.with(Ops::IN).with(Ops::STARTS).with(Ops::NE),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "userDisplayName",
            column: "user_display_name",
            ty: Type::Text,
            default: Ops::EQ.with(Ops::STARTS).with(Ops::NE),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "appId",
            column: "app_id",
            ty: Type::Text,
            default: Ops::EQ.with(Ops::IN).with(Ops::NE).with(Ops::NULL),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "ipAddress",
            column: "client_ip",
            ty: Type::Text,
            default: Ops::EQ.with(Ops::STARTS).with(Ops::NE),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "signInIdentifier",
            column: "phone",
            ty: Type::Text,
            default: Ops::EQ.with(Ops::STARTS).with(Ops::IN),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
        Property {
            name: "status/errorCode",
            column: "error_code",
            ty: Type::Int,
            default: Ops::EQ
                .with(Ops::NE)
                .with(Ops::IN)
                .with(Ops::RANGE)
                .with(Ops::NOT),
            advanced: Ops::NONE,
            orderable: false,
            searchable: false,
        },
    ],
};

/// A bound value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    /// Text.
    Text(String),
    /// A boolean.
    Bool(bool),
    /// A GUID.
    Guid(uuid::Uuid),
    /// Milliseconds since the epoch.
    Millis(i64),
    /// An integer.
    Int(i64),
}

/// Where a text pattern must occur.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Position {
    /// At the start.
    Prefix,
    /// At the end.
    Suffix,
    /// Anywhere (only `$search`'s tokenised match uses it).
    Anywhere,
}

/// A checked condition, ready to become SQL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cond {
    /// `column op value` (text case-insensitively).
    Compare {
        /// The property.
        prop: &'static Property,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: Value,
    },
    /// `column IS [NOT] NULL`.
    Null {
        /// The property.
        prop: &'static Property,
        /// `eq null` (true) or `ne null` (false).
        is_null: bool,
    },
    /// `column IN (..)`.
    In {
        /// The property.
        prop: &'static Property,
        /// The values.
        values: Vec<Value>,
    },
    /// A case-insensitive text match at a position.
    Like {
        /// The property.
        prop: &'static Property,
        /// Where.
        position: Position,
        /// The text (not a pattern: the backend escapes it).
        text: String,
    },
    /// Some element of a text collection satisfies the comparison or match.
    Any {
        /// The collection property.
        prop: &'static Property,
        /// The condition on one element (its `prop` is the collection's).
        element: Box<Cond>,
    },
    /// All of them.
    And(Vec<Cond>),
    /// Any of them.
    Or(Vec<Cond>),
    /// Not (a row where the condition is unknown, e.g. on a null, counts as false first).
    Not(Box<Cond>),
}

/// Why a query is refused, in Graph's terms.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum QueryError {
    /// The expression does not parse (`BadRequest`).
    #[error("{0}")]
    Syntax(#[from] super::filter::SyntaxError),
    /// No such property (`BadRequest`). Graph quotes the name; textid never repeats a
    /// submitted value in an answer, and lists the properties there are instead.
    #[error("The query names a property that type '{}' does not have (or that textid cannot query); its properties are: {}.", .resource.type_name, .resource.names())]
    UnknownProperty {
        /// The resource.
        resource: &'static Resource,
    },
    /// The property does not support the operator at all (`Request_UnsupportedQuery`).
    #[error("Unsupported or invalid query filter clause specified for property '{property}' of resource '{resource}'.")]
    Unsupported {
        /// The property.
        property: &'static str,
        /// The resource.
        resource: &'static str,
    },
    /// Supported only as an advanced query (`Request_UnsupportedQuery`).
    #[error("Operator '{operator}' is not supported because the required parameters might be missing. Try adding $count=true query parameter and ConsistencyLevel:eventual header. Refer to https://aka.ms/graph-docs/advanced-queries for more information")]
    NeedsAdvanced {
        /// The operator's name.
        operator: &'static str,
    },
    /// A value of the wrong type for the property (`BadRequest`).
    #[error("A value of the wrong type was given for property '{property}'; expected {expected}.")]
    WrongType {
        /// The property.
        property: &'static str,
        /// What it takes.
        expected: &'static str,
    },
    /// Another query option is malformed (`BadRequest`); the message says which.
    #[error("{0}")]
    Option(String),
}

impl QueryError {
    /// Graph's error code for it.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsupported { .. } | Self::NeedsAdvanced { .. } => "Request_UnsupportedQuery",
            Self::Syntax(_) | Self::UnknownProperty { .. } | Self::WrongType { .. } => "BadRequest",
            Self::Option(_) => "BadRequest",
        }
    }
}

/// Turns a parsed filter into a [`Cond`] for `resource`. `advanced` says whether the request
/// carries the advanced query parameters (`ConsistencyLevel: eventual` and `$count=true`).
pub fn check(resource: &'static Resource, expr: &Expr, advanced: bool) -> Result<Cond, QueryError> {
    Checker { resource, advanced }.cond(expr, None)
}

struct Checker {
    resource: &'static Resource,
    advanced: bool,
}

/// Inside `coll/any(v: ..)`: the variable and its collection.
type Lambda<'a> = Option<(&'a str, &'static Property)>;

impl Checker {
    fn allow(
        &self,
        prop: &'static Property,
        op: Ops,
        name: &'static str,
    ) -> Result<(), QueryError> {
        if prop.default.has(op) {
            return Ok(());
        }
        if prop.advanced.has(op) {
            return if self.advanced {
                Ok(())
            } else {
                Err(QueryError::NeedsAdvanced { operator: name })
            };
        }
        Err(QueryError::Unsupported {
            property: prop.name,
            resource: self.resource.name,
        })
    }

    /// The property a path names: a property of the resource, or the lambda's variable
    /// (which stands for an element of its collection).
    fn prop(
        &self,
        path: &str,
        lambda: Lambda<'_>,
    ) -> Result<(&'static Property, bool), QueryError> {
        if let Some((var, coll)) = lambda {
            if path == var {
                return Ok((coll, true));
            }
        }
        let prop = self
            .resource
            .property(path)
            .ok_or(QueryError::UnknownProperty {
                resource: self.resource,
            })?;
        if prop.ty == Type::TextList {
            // A collection is filtered through `any`, never compared as a whole.
            return Err(QueryError::Unsupported {
                property: prop.name,
                resource: self.resource.name,
            });
        }
        Ok((prop, false))
    }

    fn cond(&self, expr: &Expr, lambda: Lambda<'_>) -> Result<Cond, QueryError> {
        match expr {
            Expr::And(a, b) => Ok(Cond::And(vec![
                self.cond(a, lambda)?,
                self.cond(b, lambda)?,
            ])),
            Expr::Or(a, b) => Ok(Cond::Or(vec![self.cond(a, lambda)?, self.cond(b, lambda)?])),
            Expr::Not(a) => {
                let inner = self.cond(a, lambda)?;
                for p in props_of(&inner) {
                    self.allow(p, Ops::NOT, "not")?;
                }
                Ok(Cond::Not(Box::new(inner)))
            }
            Expr::Compare { path, op, value } => self.compare(path, *op, value, lambda),
            Expr::In { path, values } => {
                let (prop, _) = self.prop(path, lambda)?;
                self.allow(prop, Ops::IN, "in")?;
                let values = values
                    .iter()
                    .map(|v| value_for(prop, v))
                    .collect::<Result<_, _>>()?;
                Ok(Cond::In { prop, values })
            }
            Expr::Call {
                function,
                path,
                arg,
            } => self.call(*function, path, arg, lambda),
            Expr::Any {
                collection,
                var,
                predicate,
            } => {
                let prop =
                    self.resource
                        .property(collection)
                        .ok_or(QueryError::UnknownProperty {
                            resource: self.resource,
                        })?;
                if prop.ty != Type::TextList || lambda.is_some() {
                    return Err(QueryError::Unsupported {
                        property: prop.name,
                        resource: self.resource.name,
                    });
                }
                let element = self.cond(predicate, Some((var, prop)))?;
                Ok(Cond::Any {
                    prop,
                    element: Box::new(element),
                })
            }
        }
    }

    fn compare(
        &self,
        path: &str,
        op: CompareOp,
        value: &Literal,
        lambda: Lambda<'_>,
    ) -> Result<Cond, QueryError> {
        let (prop, _) = self.prop(path, lambda)?;
        if *value == Literal::Null {
            if !matches!(op, CompareOp::Eq | CompareOp::Ne) {
                return Err(QueryError::Unsupported {
                    property: prop.name,
                    resource: self.resource.name,
                });
            }
            self.allow(prop, Ops::NULL, "null")?;
            return Ok(Cond::Null {
                prop,
                is_null: op == CompareOp::Eq,
            });
        }
        let (need, name) = match op {
            CompareOp::Eq => (Ops::EQ, "eq"),
            CompareOp::Ne => (Ops::NE, "ne"),
            CompareOp::Ge | CompareOp::Le | CompareOp::Gt | CompareOp::Lt => {
                (Ops::RANGE, op.keyword())
            }
        };
        self.allow(prop, need, name)?;
        Ok(Cond::Compare {
            prop,
            op,
            value: value_for(prop, value)?,
        })
    }

    fn call(
        &self,
        function: Function,
        path: &str,
        arg: &Literal,
        lambda: Lambda<'_>,
    ) -> Result<Cond, QueryError> {
        let (prop, _) = self.prop(path, lambda)?;
        let (need, position) = match function {
            Function::StartsWith => (Ops::STARTS, Position::Prefix),
            Function::EndsWith => (Ops::ENDS, Position::Suffix),
            // Graph refuses `contains` on directory objects.
            Function::Contains => {
                return Err(QueryError::Unsupported {
                    property: prop.name,
                    resource: self.resource.name,
                })
            }
        };
        self.allow(prop, need, function.name())?;
        let Value::Text(text) = value_for(prop, arg)? else {
            return Err(QueryError::WrongType {
                property: prop.name,
                expected: "a string",
            });
        };
        Ok(Cond::Like {
            prop,
            position,
            text,
        })
    }
}

/// The properties a condition reads (to check that each supports `not`).
fn props_of(c: &Cond) -> Vec<&'static Property> {
    match c {
        Cond::Compare { prop, .. }
        | Cond::Null { prop, .. }
        | Cond::In { prop, .. }
        | Cond::Like { prop, .. }
        | Cond::Any { prop, .. } => vec![prop],
        Cond::And(cs) | Cond::Or(cs) => cs.iter().flat_map(props_of).collect(),
        Cond::Not(c) => props_of(c),
    }
}

/// A literal as a value of the property's type.
fn value_for(prop: &'static Property, lit: &Literal) -> Result<Value, QueryError> {
    let wrong = |expected| QueryError::WrongType {
        property: prop.name,
        expected,
    };
    match (prop.ty, lit) {
        (Type::Text | Type::TextList, Literal::String(s)) => Ok(Value::Text(s.clone())),
        (Type::FoldedText, Literal::String(s)) => Ok(Value::Text(crate::directory::user::fold(s))),
        (Type::Text | Type::FoldedText | Type::TextList, _) => {
            Err(wrong("a string in single quotes"))
        }
        (Type::Bool, Literal::Bool(b)) => Ok(Value::Bool(*b)),
        (Type::Bool, _) => Err(wrong("true or false")),
        (Type::Guid, Literal::Guid(g)) => Ok(Value::Guid(*g)),
        (Type::Guid, Literal::String(s)) => uuid::Uuid::parse_str(s)
            .map(Value::Guid)
            .map_err(|_| wrong("a GUID")),
        (Type::Guid, _) => Err(wrong("a GUID")),
        (Type::Time, Literal::DateTime(t)) => Ok(Value::Millis(t.timestamp_millis())),
        (Type::Time, _) => Err(wrong("a date-time such as 2024-01-31T00:00:00Z")),
        (Type::Int, Literal::Int(n)) => Ok(Value::Int(*n)),
        (Type::Int, _) => Err(wrong("an integer")),
    }
}

#[cfg(test)]
mod tests {
    use super::super::filter::parse;
    use super::*;

    fn checked(filter: &str, advanced: bool) -> Result<Cond, QueryError> {
        check(&USER, &parse(filter).unwrap(), advanced)
    }

    #[test]
    fn default_operators_pass_without_the_advanced_parameters() {
        for f in [
            "accountEnabled eq false",
            "startswith(displayName,'Ann')",
            "userPrincipalName in ('a@x.io', 'b@x.io')",
            "displayName ge 'M' and displayName le 'N'",
            "businessPhones/any(p:startswith(p, '+1 425'))",
            "createdDateTime ge 2024-01-01T00:00:00Z",
            "id eq '8e4a1f4c-98d0-4bd4-8a41-4bbbd0d2fc27'",
        ] {
            checked(f, false).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    #[test]
    fn advanced_operators_need_the_advanced_parameters() {
        for (f, op) in [
            ("displayName ne 'A'", "ne"),
            ("not (accountEnabled eq true)", "not"),
            ("endswith(userPrincipalName,'@x.io')", "endsWith"),
            ("mobilePhone eq null", "null"),
        ] {
            assert_eq!(
                checked(f, false).unwrap_err(),
                QueryError::NeedsAdvanced { operator: op },
                "{f}"
            );
            checked(f, true).unwrap_or_else(|e| panic!("{f}: {e}"));
        }
    }

    #[test]
    fn unsupported_unknown_and_mistyped_are_told_apart() {
        assert_eq!(
            checked("contains(displayName,'a')", true)
                .unwrap_err()
                .code(),
            "Request_UnsupportedQuery"
        );
        assert_eq!(
            checked("startswith(accountEnabled,'t')", true).unwrap_err(),
            QueryError::Unsupported {
                property: "accountEnabled",
                resource: "User"
            }
        );
        assert!(matches!(
            checked("shoeSize eq 'x'", true).unwrap_err(),
            QueryError::UnknownProperty { .. }
        ));
        assert!(matches!(
            checked("accountEnabled eq 'yes'", true).unwrap_err(),
            QueryError::WrongType { .. }
        ));
        assert!(matches!(
            checked("businessPhones eq 'x'", true).unwrap_err(),
            QueryError::Unsupported { .. }
        ));
    }

    #[test]
    fn user_principal_names_are_lowercased_before_comparison() {
        let Cond::Compare { value, .. } =
            checked("userPrincipalName eq 'Ana@X.io'", false).unwrap()
        else {
            panic!("compare expected")
        };
        assert_eq!(value, Value::Text("ana@x.io".into()));
    }
}
