//! The `$filter` grammar of OData v4 as Microsoft Graph uses it, parsed into an [`Expr`].
//!
//! What Graph accepts on directory objects, and nothing more: comparisons (`eq`, `ne`, `gt`,
//! `ge`, `lt`, `le`), `in (..)`, the functions `startswith`, `endswith` and `contains`,
//! `not`, `and`, `or`, parentheses and the lambda `any` on collections
//! (`businessPhones/any(p:p eq '+1 425')`). Keywords are case-insensitive (Graph accepts
//! `startsWith` and `startswith`). Literals: strings in single quotes (`''` is a quote),
//! `true`, `false`, `null`, integers, GUIDs and `2024-01-31T00:00:00Z` date-times.
//!
//! The parser knows no property: whether `displayName` exists and supports `endswith` is
//! [`super::schema`]'s decision. Errors say where the expression went wrong, never echo the
//! whole input (it may be long), only the offending token's position.

use std::fmt;

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CompareOp {
    /// `eq`
    Eq,
    /// `ne`
    Ne,
    /// `gt`
    Gt,
    /// `ge`
    Ge,
    /// `lt`
    Lt,
    /// `le`
    Le,
}

impl CompareOp {
    fn from_keyword(k: &str) -> Option<Self> {
        Some(match k {
            "eq" => Self::Eq,
            "ne" => Self::Ne,
            "gt" => Self::Gt,
            "ge" => Self::Ge,
            "lt" => Self::Lt,
            "le" => Self::Le,
            _ => return None,
        })
    }

    /// The keyword, as Graph's messages name it.
    pub fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A string function of `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `startswith(prop, 'x')`
    StartsWith,
    /// `endswith(prop, 'x')`
    EndsWith,
    /// `contains(prop, 'x')` (Graph refuses it on directory objects; parsed to say so)
    Contains,
}

impl Function {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "startswith" => Self::StartsWith,
            "endswith" => Self::EndsWith,
            "contains" => Self::Contains,
            _ => return None,
        })
    }

    /// The function's name, as Graph's messages spell it.
    pub fn name(self) -> &'static str {
        match self {
            Self::StartsWith => "startsWith",
            Self::EndsWith => "endsWith",
            Self::Contains => "contains",
        }
    }
}

/// A literal value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Literal {
    /// `'text'`
    String(String),
    /// `true` / `false`
    Bool(bool),
    /// `null`
    Null,
    /// An integer.
    Int(i64),
    /// An unquoted GUID.
    Guid(uuid::Uuid),
    /// An unquoted date-time with an offset.
    DateTime(chrono::DateTime<chrono::Utc>),
}

/// A parsed `$filter` expression.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Expr {
    /// `path op literal`
    Compare {
        /// The property (or the lambda variable).
        path: String,
        /// The operator.
        op: CompareOp,
        /// The value.
        value: Literal,
    },
    /// `path in (a, b)`
    In {
        /// The property.
        path: String,
        /// The values (at least one).
        values: Vec<Literal>,
    },
    /// `startswith(path, 'x')` and the like.
    Call {
        /// The function.
        function: Function,
        /// The property (or the lambda variable).
        path: String,
        /// The second argument.
        arg: Literal,
    },
    /// `collection/any(v: predicate)`
    Any {
        /// The collection property.
        collection: String,
        /// The lambda variable.
        var: String,
        /// The predicate over the variable.
        predicate: Box<Expr>,
    },
    /// `a and b`
    And(Box<Expr>, Box<Expr>),
    /// `a or b`
    Or(Box<Expr>, Box<Expr>),
    /// `not a`
    Not(Box<Expr>),
}

/// Why a `$filter` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("Invalid filter clause: {what} at position {at}")]
pub struct SyntaxError {
    /// What was expected or found.
    pub what: &'static str,
    /// The character offset.
    pub at: usize,
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Word(String),
    Str(String),
    Open,
    Close,
    Comma,
    Colon,
    Slash,
}

impl fmt::Display for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Word(w) => f.write_str(w),
            Self::Str(_) => f.write_str("string"),
            Self::Open => f.write_str("("),
            Self::Close => f.write_str(")"),
            Self::Comma => f.write_str(","),
            Self::Colon => f.write_str(":"),
            Self::Slash => f.write_str("/"),
        }
    }
}

/// At most this many tokens: a filter is a line of a URL, not a program (bounds the work
/// and the recursion depth of an attacker's expression).
const MAX_TOKENS: usize = 400;
/// At most this nesting of parentheses and `not`.
const MAX_DEPTH: usize = 32;

fn lex(input: &str) -> Result<Vec<(Token, usize)>, SyntaxError> {
    let mut out = Vec::new();
    let mut chars = input.char_indices().peekable();
    while let Some(&(at, c)) = chars.peek() {
        if out.len() > MAX_TOKENS {
            return Err(SyntaxError {
                what: "too many terms",
                at,
            });
        }
        let simple = match c {
            '(' => Some(Token::Open),
            ')' => Some(Token::Close),
            ',' => Some(Token::Comma),
            ':' => Some(Token::Colon),
            '/' => Some(Token::Slash),
            _ => None,
        };
        if let Some(t) = simple {
            chars.next();
            out.push((t, at));
        } else if c.is_whitespace() {
            chars.next();
        } else if c == '\'' {
            chars.next();
            let mut s = String::new();
            loop {
                match chars.next() {
                    Some((_, '\'')) if chars.peek().map(|p| p.1) == Some('\'') => {
                        chars.next();
                        s.push('\'');
                    }
                    Some((_, '\'')) => break,
                    Some((_, ch)) => s.push(ch),
                    None => {
                        return Err(SyntaxError {
                            what: "unterminated string",
                            at,
                        })
                    }
                }
            }
            out.push((Token::Str(s), at));
        } else if c.is_alphanumeric() || matches!(c, '_' | '-' | '+' | '.' | '@' | '$') {
            let mut w = String::new();
            while let Some(&(_, ch)) = chars.peek() {
                // A date-time literal carries colons (`2024-01-31T08:00:00Z`): a colon
                // continues a word that started with a digit.
                let in_time = ch == ':' && w.starts_with(|d: char| d.is_ascii_digit());
                if ch.is_alphanumeric()
                    || matches!(ch, '_' | '-' | '+' | '.' | '@' | '$')
                    || in_time
                {
                    w.push(ch);
                    chars.next();
                } else {
                    break;
                }
            }
            out.push((Token::Word(w), at));
        } else {
            return Err(SyntaxError {
                what: "unexpected character",
                at,
            });
        }
    }
    Ok(out)
}

struct Parser {
    tokens: Vec<(Token, usize)>,
    pos: usize,
    end: usize,
    depth: usize,
}

/// Parses a `$filter` expression.
pub fn parse(input: &str) -> Result<Expr, SyntaxError> {
    let tokens = lex(input)?;
    let mut p = Parser {
        tokens,
        pos: 0,
        end: input.chars().count(),
        depth: 0,
    };
    let e = p.or()?;
    if p.pos < p.tokens.len() {
        return Err(p.error("unexpected term"));
    }
    Ok(e)
}

impl Parser {
    fn at(&self) -> usize {
        self.tokens.get(self.pos).map_or(self.end, |t| t.1)
    }

    fn error(&self, what: &'static str) -> SyntaxError {
        SyntaxError {
            what,
            at: self.at(),
        }
    }

    fn peek(&self) -> Option<&Token> {
        self.tokens.get(self.pos).map(|t| &t.0)
    }

    fn keyword(&self) -> Option<String> {
        match self.peek() {
            Some(Token::Word(w)) => Some(w.to_ascii_lowercase()),
            _ => None,
        }
    }

    fn expect(&mut self, t: &Token, what: &'static str) -> Result<(), SyntaxError> {
        if self.peek() == Some(t) {
            self.pos += 1;
            Ok(())
        } else {
            Err(self.error(what))
        }
    }

    fn nested<T>(
        &mut self,
        f: impl FnOnce(&mut Self) -> Result<T, SyntaxError>,
    ) -> Result<T, SyntaxError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(self.error("expression nested too deeply"));
        }
        let r = f(self);
        self.depth -= 1;
        r
    }

    fn or(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.and()?;
        while self.keyword().as_deref() == Some("or") {
            self.pos += 1;
            e = Expr::Or(Box::new(e), Box::new(self.and()?));
        }
        Ok(e)
    }

    fn and(&mut self) -> Result<Expr, SyntaxError> {
        let mut e = self.unary()?;
        while self.keyword().as_deref() == Some("and") {
            self.pos += 1;
            e = Expr::And(Box::new(e), Box::new(self.unary()?));
        }
        Ok(e)
    }

    fn unary(&mut self) -> Result<Expr, SyntaxError> {
        if self.keyword().as_deref() == Some("not") {
            self.pos += 1;
            return self.nested(|p| Ok(Expr::Not(Box::new(p.unary()?))));
        }
        self.primary()
    }

    fn primary(&mut self) -> Result<Expr, SyntaxError> {
        match self.peek() {
            Some(Token::Open) => {
                self.pos += 1;
                let e = self.nested(Self::or)?;
                self.expect(&Token::Close, "expected ')'")?;
                Ok(e)
            }
            Some(Token::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                if self.peek() == Some(&Token::Open) {
                    if let Some(function) = Function::from_name(&w) {
                        return self.call(function);
                    }
                    return Err(self.error("unknown function"));
                }
                self.after_path(w)
            }
            _ => Err(self.error("expected a property, a function, 'not' or '('")),
        }
    }

    fn call(&mut self, function: Function) -> Result<Expr, SyntaxError> {
        self.expect(&Token::Open, "expected '('")?;
        let path = self.path()?;
        self.expect(&Token::Comma, "expected ','")?;
        let arg = self.literal()?;
        self.expect(&Token::Close, "expected ')'")?;
        Ok(Expr::Call {
            function,
            path,
            arg,
        })
    }

    fn path(&mut self) -> Result<String, SyntaxError> {
        match self.peek() {
            Some(Token::Word(w)) => {
                let w = w.clone();
                self.pos += 1;
                Ok(w)
            }
            _ => Err(self.error("expected a property")),
        }
    }

    /// What follows a property: `/any(..)`, `in (..)` or a comparison.
    fn after_path(&mut self, path: String) -> Result<Expr, SyntaxError> {
        if self.peek() == Some(&Token::Slash) {
            self.pos += 1;
            // A property of a complex property (`status/errorCode`): a word not followed by
            // a parenthesis.
            if let (Some(Token::Word(w)), next) = (
                self.peek().cloned(),
                self.tokens.get(self.pos + 1).map(|t| &t.0),
            ) {
                if !w.eq_ignore_ascii_case("any") && next != Some(&Token::Open) {
                    self.pos += 1;
                    return self.after_path(format!("{path}/{w}"));
                }
            }
            if self.keyword().as_deref() != Some("any") {
                return Err(self.error("expected 'any' after '/'"));
            }
            self.pos += 1;
            self.expect(&Token::Open, "expected '(' after any")?;
            let var = self.path()?;
            self.expect(&Token::Colon, "expected ':' after the lambda variable")?;
            let predicate = self.nested(Self::or)?;
            self.expect(&Token::Close, "expected ')'")?;
            return Ok(Expr::Any {
                collection: path,
                var,
                predicate: Box::new(predicate),
            });
        }
        let Some(k) = self.keyword() else {
            return Err(self.error("expected an operator"));
        };
        self.pos += 1;
        if k == "in" {
            self.expect(&Token::Open, "expected '(' after in")?;
            let mut values = vec![self.literal()?];
            while self.peek() == Some(&Token::Comma) {
                self.pos += 1;
                values.push(self.literal()?);
            }
            self.expect(&Token::Close, "expected ')'")?;
            return Ok(Expr::In { path, values });
        }
        let op = CompareOp::from_keyword(&k).ok_or(SyntaxError {
            what: "unknown operator",
            at: self.tokens[self.pos - 1].1,
        })?;
        let value = self.literal()?;
        Ok(Expr::Compare { path, op, value })
    }

    fn literal(&mut self) -> Result<Literal, SyntaxError> {
        let lit = match self.peek() {
            Some(Token::Str(s)) => Literal::String(s.clone()),
            Some(Token::Word(w)) => {
                word_literal(w).ok_or_else(|| self.error("expected a value"))?
            }
            _ => return Err(self.error("expected a value")),
        };
        self.pos += 1;
        Ok(lit)
    }
}

fn word_literal(w: &str) -> Option<Literal> {
    match w.to_ascii_lowercase().as_str() {
        "true" => return Some(Literal::Bool(true)),
        "false" => return Some(Literal::Bool(false)),
        "null" => return Some(Literal::Null),
        _ => {}
    }
    if let Ok(i) = w.parse::<i64>() {
        return Some(Literal::Int(i));
    }
    if w.len() == 36 {
        if let Ok(u) = uuid::Uuid::parse_str(w) {
            return Some(Literal::Guid(u));
        }
    }
    chrono::DateTime::parse_from_rfc3339(w)
        .ok()
        .map(|d| Literal::DateTime(d.with_timezone(&chrono::Utc)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(path: &str, op: CompareOp, value: Literal) -> Expr {
        Expr::Compare {
            path: path.into(),
            op,
            value,
        }
    }

    fn s(v: &str) -> Literal {
        Literal::String(v.into())
    }

    #[test]
    fn comparisons_and_precedence_of_and_over_or() {
        let e = parse(
            "accountEnabled eq false or displayName eq 'A' and userPrincipalName ne 'b@x.io'",
        )
        .unwrap();
        assert_eq!(
            e,
            Expr::Or(
                Box::new(cmp("accountEnabled", CompareOp::Eq, Literal::Bool(false))),
                Box::new(Expr::And(
                    Box::new(cmp("displayName", CompareOp::Eq, s("A"))),
                    Box::new(cmp("userPrincipalName", CompareOp::Ne, s("b@x.io"))),
                )),
            )
        );
    }

    #[test]
    fn parentheses_not_in_functions_and_lambda() {
        let e = parse(
            "not (startsWith(displayName, 'Ann') or endswith(mail,'@x.io')) and id in ('a', 'b') and businessPhones/any(p:p eq '+1 425')",
        )
        .unwrap();
        let Expr::And(left, lambda) = e else {
            panic!("and expected")
        };
        assert_eq!(
            *lambda,
            Expr::Any {
                collection: "businessPhones".into(),
                var: "p".into(),
                predicate: Box::new(cmp("p", CompareOp::Eq, s("+1 425"))),
            }
        );
        let Expr::And(not, inn) = *left else {
            panic!("and expected")
        };
        assert_eq!(
            *inn,
            Expr::In {
                path: "id".into(),
                values: vec![s("a"), s("b")]
            }
        );
        assert!(matches!(*not, Expr::Not(ref inner) if matches!(**inner, Expr::Or(..))));
    }

    #[test]
    fn literals_quote_escapes_guids_dates_and_null() {
        assert_eq!(
            parse("displayName eq 'O''Brien'").unwrap(),
            cmp("displayName", CompareOp::Eq, s("O'Brien"))
        );
        let g = "8e4a1f4c-98d0-4bd4-8a41-4bbbd0d2fc27";
        assert_eq!(
            parse(&format!("id eq {g}")).unwrap(),
            cmp("id", CompareOp::Eq, Literal::Guid(g.parse().unwrap()))
        );
        let e = parse("createdDateTime ge 2024-01-31T08:00:00Z").unwrap();
        assert!(matches!(
            e,
            Expr::Compare {
                value: Literal::DateTime(_),
                op: CompareOp::Ge,
                ..
            }
        ));
        assert_eq!(
            parse("mobilePhone eq null").unwrap(),
            cmp("mobilePhone", CompareOp::Eq, Literal::Null)
        );
    }

    #[test]
    fn malformed_filters_say_where() {
        for (input, what) in [
            ("displayName eq", "expected a value"),
            ("displayName like 'a'", "unknown operator"),
            ("displayName eq 'a", "unterminated string"),
            ("(displayName eq 'a'", "expected ')'"),
            ("displayName eq 'a' 'b'", "unexpected term"),
            ("lower(displayName) eq 'a'", "unknown function"),
            ("p/all(x:x eq 'a')", "expected 'any' after '/'"),
            ("displayName eq 'a' ; drop", "unexpected character"),
        ] {
            assert_eq!(parse(input).unwrap_err().what, what, "{input}");
        }
    }

    #[test]
    fn depth_and_length_are_bounded() {
        let deep = format!("{}a eq 'b'{}", "(".repeat(40), ")".repeat(40));
        assert_eq!(
            parse(&deep).unwrap_err().what,
            "expression nested too deeply"
        );
        let nots = format!("{}a eq 'b'", "not ".repeat(40));
        assert_eq!(
            parse(&nots).unwrap_err().what,
            "expression nested too deeply"
        );
        let long = vec!["a eq 'b'"; 200].join(" or ");
        assert_eq!(parse(&long).unwrap_err().what, "too many terms");
    }
}
