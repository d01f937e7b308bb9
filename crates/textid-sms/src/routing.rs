//! Routing: which providers carry a message to a number, in which order (issue #18).
//!
//! A [`RouteTable`] maps a destination to an ordered failover list of provider names:
//!
//! ```text
//! +44=vonage,twilio; GB=vonage; +1=twilio; default=twilio,sns
//! ```
//!
//! - a key is a calling-code prefix (`+44`, `+1`, or a longer one such as `+1242`), an ISO
//!   region (`GB`, as [`textid_core::phone::region_of`] names the number's country), or
//!   `default` (required);
//! - the most specific key wins: a region before any calling code, a longer calling code
//!   before a shorter one, `default` last.
//!
//! The [`Router`] tries the list in order within one delivery attempt: a
//! [`SendError::Transient`] (5xx, 429, timeout, connection failure, auth the operator must
//! fix) moves on to the next provider; a [`SendError::Permanent`] (the number is invalid)
//! stops, since another carrier would refuse it too; success ends the attempt and names the
//! provider that took the message ([`Delivery::provider`]), so its receipt finds it. When
//! every provider failed transiently the attempt is transient and the outbox retries later.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::provider::console::LOG_TARGET;
use crate::{Delivery, OutgoingMessage, Provider, SendError};

/// Where a route applies.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub enum RouteKey {
    /// An ISO 3166 region, e.g. `GB`.
    Region(String),
    /// A calling-code prefix: its digits, e.g. `44`.
    CallingCode(String),
}

/// The parsed routes: provider names per destination, plus the default list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouteTable {
    routes: Vec<(RouteKey, Vec<String>)>,
    default: Vec<String>,
}

/// Why a route table does not parse. Each message says what to fix.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RouteError {
    /// A part is not `key=provider,provider`.
    #[error("route '{0}' must look like +44=vonage,twilio or default=twilio")]
    Malformed(String),
    /// A key is neither a calling code, a region nor `default`.
    #[error("route key '{0}' must be a calling code (+44), an ISO region (GB) or default")]
    BadKey(String),
    /// A key appears twice.
    #[error("route key '{0}' is given twice")]
    Duplicate(String),
    /// No `default` route.
    #[error("the routes need a default, e.g. default=twilio")]
    NoDefault,
    /// A provider name that is not configured.
    #[error("route names provider '{0}', which is not one of: {1}")]
    UnknownProvider(String, String),
}

impl RouteError {
    /// A stable, machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Malformed(_) => "malformedRoute",
            Self::BadKey(_) => "badRouteKey",
            Self::Duplicate(_) => "duplicateRoute",
            Self::NoDefault => "noDefaultRoute",
            Self::UnknownProvider(..) => "unknownRouteProvider",
        }
    }
}

impl RouteTable {
    /// One list for every destination.
    pub fn only(providers: Vec<String>) -> Self {
        Self {
            routes: Vec::new(),
            default: providers,
        }
    }

    /// Parses `key=p1,p2; key=p3; default=p4` (parts split by `;` or new lines).
    pub fn parse(text: &str) -> Result<Self, RouteError> {
        let mut routes: BTreeMap<RouteKey, Vec<String>> = BTreeMap::new();
        let mut default = None;
        for part in text
            .split([';', '\n'])
            .map(str::trim)
            .filter(|p| !p.is_empty())
        {
            let (key, list) = part
                .split_once('=')
                .ok_or_else(|| RouteError::Malformed(part.to_owned()))?;
            let names: Vec<String> = list
                .split(',')
                .map(|n| n.trim().to_ascii_lowercase())
                .collect();
            if names.iter().any(String::is_empty) {
                return Err(RouteError::Malformed(part.to_owned()));
            }
            let key = key.trim();
            if key.eq_ignore_ascii_case("default") {
                if default.replace(names).is_some() {
                    return Err(RouteError::Duplicate(key.to_owned()));
                }
                continue;
            }
            let parsed = parse_key(key)?;
            if routes.insert(parsed, names).is_some() {
                return Err(RouteError::Duplicate(key.to_owned()));
            }
        }
        Ok(Self {
            routes: routes.into_iter().collect(),
            default: default.ok_or(RouteError::NoDefault)?,
        })
    }

    /// Every provider name the table uses, each once, in first-use order.
    pub fn providers(&self) -> Vec<&str> {
        let mut out: Vec<&str> = Vec::new();
        for name in self.routes.iter().flat_map(|(_, l)| l).chain(&self.default) {
            if !out.contains(&name.as_str()) {
                out.push(name);
            }
        }
        out
    }

    /// The failover list for `to` (E.164): its region's, else the longest matching calling
    /// code's, else the default.
    pub fn select(&self, to: &str) -> &[String] {
        let region = textid_core::phone::region_of(to);
        let digits = to.trim_start_matches('+');
        let by_region = self.routes.iter().find(|(k, _)| match k {
            RouteKey::Region(r) => region.as_deref() == Some(r.as_str()),
            RouteKey::CallingCode(_) => false,
        });
        let by_code = || {
            self.routes
                .iter()
                .filter_map(|(k, l)| match k {
                    RouteKey::CallingCode(c) if digits.starts_with(c.as_str()) => Some((c, l)),
                    _ => None,
                })
                .max_by_key(|(c, _)| c.len())
                .map(|(_, l)| l)
        };
        by_region
            .map(|(_, l)| l)
            .or_else(by_code)
            .unwrap_or(&self.default)
    }

    /// The table as the same syntax [`RouteTable::parse`] reads.
    pub fn to_text(&self) -> String {
        let mut parts: Vec<String> = self
            .routes
            .iter()
            .map(|(k, l)| {
                let key = match k {
                    RouteKey::Region(r) => r.clone(),
                    RouteKey::CallingCode(c) => format!("+{c}"),
                };
                format!("{key}={}", l.join(","))
            })
            .collect();
        parts.push(format!("default={}", self.default.join(",")));
        parts.join("; ")
    }
}

fn parse_key(key: &str) -> Result<RouteKey, RouteError> {
    if let Some(digits) = key.strip_prefix('+') {
        let ok = (1..=6).contains(&digits.len())
            && digits.bytes().all(|b| b.is_ascii_digit())
            && !digits.starts_with('0');
        return ok
            .then(|| RouteKey::CallingCode(digits.to_owned()))
            .ok_or_else(|| RouteError::BadKey(key.to_owned()));
    }
    if key.len() == 2 && key.bytes().all(|b| b.is_ascii_alphabetic()) {
        return Ok(RouteKey::Region(key.to_ascii_uppercase()));
    }
    Err(RouteError::BadKey(key.to_owned()))
}

/// Called for every refusal of every provider the router tries: the metrics.
pub type RefusalObserver = Arc<dyn Fn(&'static str, &SendError) + Send + Sync>;

/// A provider over other providers: picks the failover list for the number and tries it in
/// order (see the module docs).
pub struct Router {
    table: RouteTable,
    providers: BTreeMap<String, Arc<dyn Provider>>,
    observer: Option<RefusalObserver>,
}

impl std::fmt::Debug for Router {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Router")
            .field("routes", &self.table.to_text())
            .field("providers", &self.providers)
            .finish_non_exhaustive()
    }
}

impl Router {
    /// Routes by `table` over `providers`, keyed by the names the table uses. Every name in
    /// the table must be one of them.
    pub fn new(
        table: RouteTable,
        providers: BTreeMap<String, Arc<dyn Provider>>,
    ) -> Result<Self, RouteError> {
        for name in table.providers() {
            if !providers.contains_key(name) {
                let known: Vec<&str> = providers.keys().map(String::as_str).collect();
                return Err(RouteError::UnknownProvider(
                    name.to_owned(),
                    known.join(", "),
                ));
            }
        }
        Ok(Self {
            table,
            providers,
            observer: None,
        })
    }

    /// One provider for every number, through the same path (refusals observed alike).
    pub fn single(provider: Arc<dyn Provider>) -> Self {
        let name = provider.name().to_owned();
        Self {
            table: RouteTable::only(vec![name.clone()]),
            providers: BTreeMap::from([(name, provider)]),
            observer: None,
        }
    }

    /// Reports every refusal to `observer` (each provider's, also those failed over).
    #[must_use]
    pub fn observed(mut self, observer: RefusalObserver) -> Self {
        self.observer = Some(observer);
        self
    }
}

#[async_trait::async_trait]
impl Provider for Router {
    fn name(&self) -> &'static str {
        "route"
    }

    /// Some provider of the table places calls (a voice message fails over to it like a
    /// text to the next provider).
    fn places_calls(&self) -> bool {
        self.providers.values().any(|p| p.places_calls())
    }

    async fn send(&self, message: &OutgoingMessage) -> Result<Delivery, SendError> {
        let mut failures = Vec::new();
        for name in self.table.select(&message.to) {
            // `Router::new` checked every name; a missing one is skipped, not fatal.
            let Some(provider) = self.providers.get(name) else {
                continue;
            };
            match provider.send(message).await {
                Ok(delivery) => {
                    return Ok(Delivery {
                        provider: delivery.provider.or(Some(provider.name())),
                        ..delivery
                    })
                }
                Err(e) => {
                    if let Some(observe) = &self.observer {
                        observe(provider.name(), &e);
                    }
                    if !e.is_transient() {
                        return Err(SendError::Permanent(format!("{name}: {e}")));
                    }
                    tracing::warn!(target: LOG_TARGET, id = %message.id, provider = name, error = %e, "failing over to the next provider");
                    failures.push(format!("{name}: {e}"));
                }
            }
        }
        Err(SendError::Transient(failures.join("; ")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_parse_and_print_in_the_documented_syntax() {
        let t = RouteTable::parse(" +44=vonage, twilio ;GB=vonage\n+1=twilio;default=twilio,sns")
            .unwrap();
        assert_eq!(
            t.to_text(),
            "GB=vonage; +1=twilio; +44=vonage,twilio; default=twilio,sns"
        );
        assert_eq!(t.providers(), ["vonage", "twilio", "sns"]);
    }

    #[test]
    fn the_most_specific_route_wins() {
        let t = RouteTable::parse("+44=vonage,twilio; JE=sns; +1=twilio; +1242=smpp; default=sns")
            .unwrap();
        assert_eq!(t.select("+447700900123"), ["vonage", "twilio"]);
        // Jersey shares +44 but has a region of its own.
        assert_eq!(t.select("+447797712345"), ["sns"]);
        assert_eq!(t.select("+12425550123"), ["smpp"]);
        assert_eq!(t.select("+14255550101"), ["twilio"]);
        assert_eq!(t.select("+358401234567"), ["sns"]);
    }

    #[test]
    fn bad_routes_are_refused_with_a_code() {
        for (text, code) in [
            ("twilio", "malformedRoute"),
            ("+44=; default=x", "malformedRoute"),
            ("44=twilio; default=x", "badRouteKey"),
            ("+0=twilio; default=x", "badRouteKey"),
            ("GBR=twilio; default=x", "badRouteKey"),
            ("+44=a; +44=b; default=x", "duplicateRoute"),
            ("+44=twilio", "noDefaultRoute"),
        ] {
            assert_eq!(RouteTable::parse(text).unwrap_err().code(), code, "{text}");
        }
    }
}
