//! What an operator sees of the abuse defences (issue #14): how much of each send budget
//! is in use, the conversion-watch pauses named the way an operator types them, and why
//! no code goes to a given number. Pure functions over rows the store loaded; the CLI
//! (and later an HTTP surface) show them through `textid-usecases`.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};

use crate::abuse::{
    bucket_start, calling_code, country_allowed, estimate, is_non_geographic, key, prefix,
    AbuseLimits, AbuseState, CounterRef, Pause, Scope,
};
use crate::TenantId;

/// Why an operator's input is not what was asked for.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AbuseInputError {
    /// Not a country: a calling code (`44`, `+44`) or a region (`GB`) libphonenumber knows.
    #[error("'{0}' is not a country: give a calling code (44, +44) or a region (GB)")]
    Country(String),
    /// Not a pause: `prefix:+1425555`, `country:44`, a number prefix (`+1425555`) or a
    /// country.
    #[error("'{0}' is not a pause key: give a prefix (+1425555) or a country (44, GB)")]
    PauseKey(String),
}

impl AbuseInputError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Country(_) => "invalidCountry",
            Self::PauseKey(_) => "invalidPauseKey",
        }
    }
}

/// A country calling code from `44`, `+44` or a region (`GB`, `gb`).
pub fn parse_country(input: &str) -> Result<u16, AbuseInputError> {
    let t = input.trim();
    let digits = t.strip_prefix('+').unwrap_or(t);
    let code = if !digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()) {
        digits.parse::<u16>().ok().filter(|c| {
            phonenumber::metadata::DATABASE.by_code(c).is_some() || is_non_geographic(*c)
        })
    } else if t.len() == 2 && t.bytes().all(|b| b.is_ascii_alphabetic()) {
        crate::abuse::region_calling_code(t)
    } else {
        None
    };
    code.ok_or_else(|| AbuseInputError::Country(input.to_string()))
}

/// The main region of a calling code (`49` → `DE`, `1` → `US`), for display.
pub fn main_region(code: u16) -> Option<String> {
    let all = phonenumber::metadata::DATABASE.by_code(&code)?;
    let id = all
        .iter()
        .find(|m| m.is_main_country_for_code())
        .or_else(|| all.first())?
        .id();
    (id != "001").then(|| id.to_string())
}

/// A country for people: `DE (+49)`, or `+882` for a code of no country.
pub fn country_label(code: u16) -> String {
    match main_region(code) {
        Some(r) => format!("{r} (+{code})"),
        None => format!("+{code}"),
    }
}

/// What a pause stops: a number prefix or a country, of one tenant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PauseSubject {
    /// A number prefix (E.164 without the last 4 digits), e.g. `+1425555`.
    Prefix(String),
    /// A country calling code.
    Country(u16),
}

impl PauseSubject {
    /// From what an operator types: `prefix:+1425555`, `country:44`, `+1425555` (a
    /// prefix), `44`, `+44` or `GB` (a country).
    pub fn parse(input: &str) -> Result<Self, AbuseInputError> {
        let bad = || AbuseInputError::PauseKey(input.to_string());
        let t = input.trim();
        if let Some(p) = t.strip_prefix("prefix:") {
            return Self::prefix(p).ok_or_else(bad);
        }
        if let Some(c) = t.strip_prefix("country:") {
            return parse_country(c).map(Self::Country).map_err(|_| bad());
        }
        if let Ok(code) = parse_country(t) {
            return Ok(Self::Country(code));
        }
        Self::prefix(t).ok_or_else(bad)
    }

    fn prefix(p: &str) -> Option<Self> {
        let digits = p.strip_prefix('+')?;
        (!digits.is_empty() && digits.len() <= 15 && digits.bytes().all(|b| b.is_ascii_digit()))
            .then(|| Self::Prefix(p.to_string()))
    }

    /// The stored key of this pause in `tenant`.
    pub fn key(&self, tenant: TenantId) -> String {
        match self {
            Self::Prefix(p) => key(Scope::Prefix, tenant, p),
            Self::Country(c) => key(Scope::Country, tenant, &c.to_string()),
        }
    }

    /// From a stored key of `tenant` (`None` for another tenant's or a malformed key).
    pub fn from_key(tenant: TenantId, stored: &str) -> Option<Self> {
        let t = tenant.to_string();
        if let Some(p) = stored
            .strip_prefix("prefix:")
            .and_then(|r| r.strip_prefix(t.as_str()))
            .and_then(|r| r.strip_prefix(':'))
        {
            return Some(Self::Prefix(p.to_string()));
        }
        stored
            .strip_prefix("country:")
            .and_then(|r| r.strip_prefix(t.as_str()))
            .and_then(|r| r.strip_prefix(':'))
            .and_then(|c| c.parse().ok())
            .map(Self::Country)
    }
}

impl std::fmt::Display for PauseSubject {
    /// The form an operator types back: `prefix:+1425555`, `country:44`.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Prefix(p) => write!(f, "prefix:{p}"),
            Self::Country(c) => write!(f, "country:{c}"),
        }
    }
}

/// Why no code is sent to a number, for the admin views of a phone method.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Withheld {
    /// Its country is not one the tenant sends codes to.
    CountryNotAllowed {
        /// The number's calling code.
        code: u16,
        /// Whether the tenant has an explicit allow-list (otherwise its region, or the
        /// geographic codes, decide).
        explicit: bool,
    },
    /// The conversion watch paused its prefix or country.
    Paused {
        /// What is paused.
        subject: PauseSubject,
        /// Until when.
        until: DateTime<Utc>,
    },
}

impl std::fmt::Display for Withheld {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::CountryNotAllowed {
                code,
                explicit: true,
            } => write!(
                f,
                "no codes are sent: country {} is not on this tenant's allow-list",
                country_label(*code)
            ),
            Self::CountryNotAllowed { code, .. } => write!(
                f,
                "no codes are sent: country {} is not one this tenant sends to (its region decides; set an allow-list to change it)",
                country_label(*code)
            ),
            Self::Paused { subject, until } => write!(
                f,
                "no codes are sent until {}: {subject} is paused by the conversion watch",
                until.format("%Y-%m-%d %H:%M UTC")
            ),
        }
    }
}

/// Why no code would be sent to `e164` now, if so: the allow-list first (as the sign-in
/// step decides), then a running pause of its prefix or country.
pub fn withheld(
    tenant: TenantId,
    e164: &str,
    allow_list: Option<&[u16]>,
    region: Option<&str>,
    pauses: &[Pause],
    now: DateTime<Utc>,
) -> Option<Withheld> {
    let code = calling_code(e164)?;
    if !country_allowed(allow_list, region, code) {
        return Some(Withheld::CountryNotAllowed {
            code,
            explicit: allow_list.is_some(),
        });
    }
    let mine = [
        PauseSubject::Prefix(prefix(e164).to_string()),
        PauseSubject::Country(code),
    ];
    pauses.iter().filter(|p| p.until > now).find_map(|p| {
        let subject = PauseSubject::from_key(tenant, &p.key)?;
        mine.contains(&subject).then_some(Withheld::Paused {
            subject,
            until: p.until,
        })
    })
}

/// The counter rows the budget view reads: keys starting with one of `prefixes`, in
/// buckets starting at or after `since` (unix ms).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageReads {
    /// Key prefixes.
    pub prefixes: Vec<String>,
    /// The oldest bucket start needed.
    pub since: i64,
}

/// How much of one budget is in use.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BudgetUsage {
    /// Which budget.
    pub scope: Scope,
    /// What it counts (a prefix, a calling code, a client IP; empty for tenant, daily and
    /// global).
    pub subject: String,
    /// Sends counted now (the sliding estimate the sign-in step compares).
    pub used: u64,
    /// The limit.
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

const BUDGETS: [Scope; 6] = [
    Scope::Ip,
    Scope::Prefix,
    Scope::Country,
    Scope::Tenant,
    Scope::TenantDay,
    Scope::Global,
];

fn window_and_limit(scope: Scope, l: &AbuseLimits) -> (Duration, u32) {
    match scope {
        Scope::Ip => (l.ip.window, l.ip.limit),
        Scope::Prefix => (l.prefix.window, l.prefix.limit),
        Scope::Country => (l.country.window, l.country.limit),
        Scope::Tenant => (l.tenant.window, l.tenant.limit),
        Scope::TenantDay => (Duration::days(1), l.tenant_daily),
        _ => (l.global.window, l.global.limit),
    }
}

/// The key prefix of a budget's counters: every subject of the scope (client IPs count
/// across tenants).
fn key_prefix(scope: Scope, tenant: TenantId) -> String {
    match scope {
        Scope::Ip => "ip:".into(),
        Scope::Global => "global".into(),
        _ => key(scope, tenant, ""),
    }
}

/// What to load for [`usage`].
pub fn usage_reads(tenant: TenantId, limits: &AbuseLimits, now: DateTime<Utc>) -> UsageReads {
    let since = BUDGETS
        .iter()
        .map(|s| {
            let (w, _) = window_and_limit(*s, limits);
            bucket_start(now, w) - w.num_milliseconds().max(1)
        })
        .min()
        .unwrap_or(0);
    UsageReads {
        prefixes: BUDGETS.iter().map(|s| key_prefix(*s, tenant)).collect(),
        since,
    }
}

/// Every budget of the tenant with what it counts now: one row each for the tenant, its
/// day and all tenants (even when unused), and one per prefix, country and client IP
/// counted, busiest first.
pub fn usage(
    tenant: TenantId,
    limits: &AbuseLimits,
    rows: &[(CounterRef, u64)],
    now: DateTime<Utc>,
) -> Vec<BudgetUsage> {
    let state = AbuseState {
        counts: rows.iter().cloned().collect::<HashMap<_, _>>(),
        ..AbuseState::default()
    };
    let mut out = Vec::new();
    for scope in BUDGETS {
        let (window, limit) = window_and_limit(scope, limits);
        let sliding = scope != Scope::TenantDay;
        let prefix = key_prefix(scope, tenant);
        let one = |subject: String, key: &str| BudgetUsage {
            scope,
            subject,
            used: estimate(&state, key, window, now, sliding),
            limit,
            window,
        };
        if matches!(scope, Scope::Tenant | Scope::TenantDay | Scope::Global) {
            out.push(one(String::new(), &prefix));
            continue;
        }
        let mut keys: Vec<&str> = rows
            .iter()
            .map(|(r, _)| r.key.as_str())
            .filter(|k| k.starts_with(&prefix))
            .collect();
        keys.sort_unstable();
        keys.dedup();
        let mut found: Vec<BudgetUsage> = keys
            .into_iter()
            .map(|k| one(k[prefix.len()..].to_string(), k))
            .filter(|u| u.used > 0)
            .collect();
        found.sort_by(|a, b| b.used.cmp(&a.used).then(a.subject.cmp(&b.subject)));
        out.extend(found);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abuse::{decide_send, AbuseQuery, SendDecision};
    use crate::clock::{Clock, ManualClock};
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    const T: TenantId = TenantId(Uuid::from_u128(7));

    #[test]
    fn countries_parse_from_codes_and_regions() {
        assert_eq!(parse_country("44"), Ok(44));
        assert_eq!(parse_country("+49"), Ok(49));
        assert_eq!(parse_country("de"), Ok(49));
        assert_eq!(parse_country("882"), Ok(882));
        for bad in ["", "0", "999", "XX", "+", "4 4", "germany"] {
            assert!(parse_country(bad).is_err(), "{bad}");
        }
        assert_eq!(country_label(49), "DE (+49)");
        assert_eq!(country_label(1), "US (+1)");
        assert_eq!(country_label(882), "+882");
    }

    #[test]
    fn pause_subjects_round_trip_through_their_keys() {
        for (input, subject) in [
            ("prefix:+1425555", PauseSubject::Prefix("+1425555".into())),
            ("+1425555", PauseSubject::Prefix("+1425555".into())),
            ("country:44", PauseSubject::Country(44)),
            ("44", PauseSubject::Country(44)),
            ("GB", PauseSubject::Country(44)),
        ] {
            let parsed = PauseSubject::parse(input).unwrap();
            assert_eq!(parsed, subject, "{input}");
            assert_eq!(PauseSubject::from_key(T, &parsed.key(T)), Some(subject));
        }
        let other = TenantId(Uuid::from_u128(8));
        let k = PauseSubject::Country(44).key(other);
        assert_eq!(PauseSubject::from_key(T, &k), None, "another tenant's");
        for bad in ["prefix:1425", "prefix:+", "nonsense", "country:XX", ""] {
            assert!(PauseSubject::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_number_is_withheld_for_its_country_or_a_running_pause() {
        let now = ManualClock::at_epoch_2026().now();
        let de = "+4915123456789";
        let w = withheld(T, de, Some(&[44]), None, &[], now);
        assert_eq!(
            w,
            Some(Withheld::CountryNotAllowed {
                code: 49,
                explicit: true
            })
        );
        assert_eq!(
            w.unwrap().to_string(),
            "no codes are sent: country DE (+49) is not on this tenant's allow-list"
        );
        assert_eq!(withheld(T, de, Some(&[49]), None, &[], now), None);
        assert!(matches!(
            withheld(T, de, None, Some("US"), &[], now),
            Some(Withheld::CountryNotAllowed {
                explicit: false,
                ..
            })
        ));
        let pause = |subject: PauseSubject, until| Pause {
            key: subject.key(T),
            until,
            reason: "r".into(),
            created_at: now,
        };
        let later = now + Duration::minutes(30);
        let p = [pause(PauseSubject::Prefix(prefix(de).into()), later)];
        assert!(matches!(
            withheld(T, de, None, None, &p, now),
            Some(Withheld::Paused { until, .. }) if until == later
        ));
        assert_eq!(withheld(T, de, None, None, &p, later), None, "ended");
        let other = [pause(PauseSubject::Country(44), later)];
        assert_eq!(withheld(T, de, None, None, &other, now), None);
    }

    #[test]
    fn usage_counts_what_the_sign_in_step_counts() {
        let now = ManualClock::at_epoch_2026().now();
        let q = AbuseQuery {
            now,
            client_ip: Some("203.0.113.9".into()),
            limits: AbuseLimits::default(),
            budgets: true,
            test_numbers: false,
        };
        let mut counts: HashMap<CounterRef, u64> = HashMap::new();
        let mut rng = StdRng::seed_from_u64(3);
        for n in 0..3 {
            let state = AbuseState::default();
            let SendDecision::Send(w) = decide_send(
                T,
                &format!("+1425555{n:04}"),
                &q,
                &state,
                true,
                false,
                &mut rng,
            ) else {
                panic!("sent");
            };
            for i in w.increments {
                *counts
                    .entry(CounterRef {
                        key: i.key,
                        bucket: i.bucket,
                    })
                    .or_default() += u64::from(i.by);
            }
        }
        let reads = usage_reads(T, &q.limits, now);
        let rows: Vec<_> = counts
            .into_iter()
            .filter(|(r, _)| {
                r.bucket >= reads.since && reads.prefixes.iter().any(|p| r.key.starts_with(p))
            })
            .collect();
        let u = usage(T, &q.limits, &rows, now);
        let find = |scope, subject: &str| {
            u.iter()
                .find(|b| b.scope == scope && b.subject == subject)
                .map(|b| (b.used, b.limit))
        };
        assert_eq!(find(Scope::Prefix, "+1425555"), Some((3, 10)));
        assert_eq!(find(Scope::Country, "1"), Some((3, 500)));
        assert_eq!(find(Scope::Ip, "203.0.113.9"), Some((3, 30)));
        assert_eq!(find(Scope::Tenant, ""), Some((3, 2_000)));
        assert_eq!(find(Scope::TenantDay, ""), Some((3, 10_000)));
        assert_eq!(find(Scope::Global, ""), Some((3, 10_000)));
        let empty = usage(T, &q.limits, &[], now);
        assert_eq!(empty.len(), 3, "tenant, daily and global always shown");
    }
}
