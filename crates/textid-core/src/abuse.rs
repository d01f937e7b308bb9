//! Abuse budgets of SMS sending (issue #14 §2, §3): what stops SMS pumping (toll fraud
//! by texting many numbers of one range or country) and aimed lockouts. Pure decisions
//! over counters the store loads and writes in the sign-in step's own transaction, so
//! every budget holds across nodes (DESIGN.md §3 "kept in the shared database").
//!
//! Counters are sliding-window estimates over fixed time buckets: a budget of `limit`
//! per `window` keeps one counter per window-long bucket, and the estimate at time `t` is
//! `current + previous × (remaining part of the window)` (the approximation Cloudflare
//! and nginx use): two indexed rows per budget instead of one row per request. Budgets
//! that every start charges (per tenant, global) are split into [`SHARDS`] rows per
//! bucket, each start incrementing one chosen at random and reads summing them, so no
//! single row serialises all starts on PostgreSQL.

use std::collections::HashMap;

use chrono::{DateTime, Duration, Utc};
use rand::RngCore;

use crate::TenantId;

/// Rows per bucket of the budgets that every start of a tenant (or of every tenant)
/// charges: the writers of one bucket spread over this many rows.
pub const SHARDS: u32 = 8;

/// A budget: at most `limit` sends per sliding `window`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Budget {
    /// Sends allowed per window (0 refuses every send).
    pub limit: u32,
    /// The window.
    pub window: Duration,
}

impl Budget {
    const fn per_hour(limit: u32) -> Self {
        Self {
            limit,
            window: Duration::hours(1),
        }
    }
}

/// Every abuse limit, with DESIGN.md §3's defaults. Each one has a config key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbuseLimits {
    /// Starts and resends per client IP (an IPv6 client counts per /64), all tenants: a
    /// spent budget answers 429 `tooManyRequests`.
    pub ip: Budget,
    /// Sends per number prefix (the E.164 number without its last 4 digits), per tenant.
    pub prefix: Budget,
    /// Sends per country calling code, per tenant.
    pub country: Budget,
    /// Sends per tenant.
    pub tenant: Budget,
    /// Sends per tenant per UTC day.
    pub tenant_daily: u32,
    /// Sends of all tenants together.
    pub global: Budget,
    /// The window in which the conversion watch compares codes sent and verified.
    pub watch_window: Duration,
    /// Codes sent to a prefix in the watch window before its conversion is judged.
    pub watch_min_sends_prefix: u32,
    /// Codes sent to a country in the watch window before its conversion is judged.
    pub watch_min_sends_country: u32,
    /// Sending pauses when codes sent exceed this many times the codes verified.
    pub watch_max_sent_per_verified: u32,
    /// How long a paused prefix or country gets no SMS.
    pub watch_pause: Duration,
    /// Wrong codes for one number from one client IP before that IP is stopped for it.
    pub ip_failures_before_lock: u32,
    /// How long a (number, client IP) pair stays stopped.
    pub ip_lock: Duration,
}

impl Default for AbuseLimits {
    fn default() -> Self {
        Self {
            ip: Budget::per_hour(30),
            prefix: Budget::per_hour(10),
            country: Budget::per_hour(500),
            tenant: Budget::per_hour(2_000),
            tenant_daily: 10_000,
            global: Budget::per_hour(10_000),
            watch_window: Duration::hours(1),
            watch_min_sends_prefix: 8,
            watch_min_sends_country: 50,
            watch_max_sent_per_verified: 4,
            watch_pause: Duration::hours(1),
            ip_failures_before_lock: 10,
            ip_lock: Duration::minutes(15),
        }
    }
}

/// The kinds of counters, their names in keys and in the sign-in log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    /// Per client IP.
    Ip,
    /// Per tenant and number prefix.
    Prefix,
    /// Per tenant and country calling code.
    Country,
    /// Per tenant.
    Tenant,
    /// Per tenant and UTC day.
    TenantDay,
    /// All tenants.
    Global,
    /// Codes sent, per tenant and prefix (conversion watch).
    SentPrefix,
    /// Codes verified, per tenant and prefix (conversion watch).
    VerifiedPrefix,
    /// Codes sent, per tenant and country (conversion watch).
    SentCountry,
    /// Codes verified, per tenant and country (conversion watch).
    VerifiedCountry,
    /// Codes a carrier reported undelivered, per tenant and prefix (conversion watch:
    /// not counted as sent, so a carrier outage is not taken for pumping).
    UndeliveredPrefix,
    /// Codes a carrier reported undelivered, per tenant and country (conversion watch).
    UndeliveredCountry,
}

impl Scope {
    /// Stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ip => "ip",
            Self::Prefix => "prefix",
            Self::Country => "country",
            Self::Tenant => "tenant",
            Self::TenantDay => "tenantDay",
            Self::Global => "global",
            Self::SentPrefix => "sentPrefix",
            Self::VerifiedPrefix => "verifiedPrefix",
            Self::SentCountry => "sentCountry",
            Self::VerifiedCountry => "verifiedCountry",
            Self::UndeliveredPrefix => "undeliveredPrefix",
            Self::UndeliveredCountry => "undeliveredCountry",
        }
    }

    fn sharded(self) -> bool {
        matches!(self, Self::Tenant | Self::TenantDay | Self::Global)
    }
}

/// Why a send was refused: the sign-in log's `failureReason`, and a metric label.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Refusal {
    /// The client IP's budget (answered 429).
    IpBudget,
    /// The number prefix's budget.
    PrefixBudget,
    /// The country's budget.
    CountryBudget,
    /// The tenant's budget.
    TenantBudget,
    /// The tenant's daily cap.
    TenantDailyCap,
    /// The global budget.
    GlobalBudget,
    /// The country is not on the tenant's allow-list.
    CountryNotAllowed,
    /// The prefix or country is paused by the conversion watch.
    ConversionPause,
    /// The number is locked after too many wrong codes.
    NumberLocked,
    /// This client IP is stopped for this number after too many wrong codes.
    ClientLocked,
}

impl Refusal {
    /// The stable name (sign-in log `failureReason`, metric label).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::IpBudget => "ipBudgetExceeded",
            Self::PrefixBudget => "prefixBudgetExceeded",
            Self::CountryBudget => "countryBudgetExceeded",
            Self::TenantBudget => "tenantBudgetExceeded",
            Self::TenantDailyCap => "tenantDailyCapExceeded",
            Self::GlobalBudget => "globalBudgetExceeded",
            Self::CountryNotAllowed => "countryNotAllowed",
            Self::ConversionPause => "conversionPaused",
            Self::NumberLocked => "numberLocked",
            Self::ClientLocked => "clientLocked",
        }
    }

    /// The refusal named `s` by [`Refusal::as_str`] (as a sign-in log records it).
    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|r| r.as_str() == s)
    }

    /// Every refusal, for metrics.
    pub const ALL: [Refusal; 10] = [
        Self::IpBudget,
        Self::PrefixBudget,
        Self::CountryBudget,
        Self::TenantBudget,
        Self::TenantDailyCap,
        Self::GlobalBudget,
        Self::CountryNotAllowed,
        Self::ConversionPause,
        Self::NumberLocked,
        Self::ClientLocked,
    ];
}

/// One bucket of one counter: `key` names the scope and what it counts, `bucket` is the
/// start of the bucket in unix milliseconds.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CounterRef {
    /// `{scope}:{subject}`, e.g. `prefix:{tenant}:+1425555`.
    pub key: String,
    /// Bucket start, unix ms.
    pub bucket: i64,
}

/// An increment to write: `by` added to the row `(key, bucket, shard)`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Increment {
    /// The counter's key.
    pub key: String,
    /// Bucket start, unix ms.
    pub bucket: i64,
    /// The row of the bucket (0 for unsharded counters).
    pub shard: u32,
    /// How much to add.
    pub by: u32,
    /// When the bucket can be purged (unix ms): two windows after its start.
    pub expires_at: i64,
}

/// A pause of sending to a prefix or a country, set by the conversion watch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pause {
    /// The paused key (`prefix:{tenant}:{prefix}` or `country:{tenant}:{code}`).
    pub key: String,
    /// Until when.
    pub until: DateTime<Utc>,
    /// Why, for the operator.
    pub reason: String,
    /// When it was set.
    pub created_at: DateTime<Utc>,
}

/// Wrong codes for one number from one client IP.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ClientCounter {
    /// Wrong codes since the last lock (or ever).
    pub failures: u32,
    /// Until when this client is stopped for this number.
    pub locked_until: Option<DateTime<Utc>>,
}

impl ClientCounter {
    /// The rest of a running lock, if any.
    pub fn lock_remaining(&self, now: DateTime<Utc>) -> Option<Duration> {
        self.locked_until
            .filter(|until| *until > now)
            .map(|until| until - now)
    }

    /// Counts a wrong code; at the threshold, stops this client for `ip_lock` and starts
    /// counting again.
    pub fn record_failure(&self, now: DateTime<Utc>, limits: &AbuseLimits) -> Self {
        let failures = self.failures.saturating_add(1);
        if failures >= limits.ip_failures_before_lock {
            Self {
                failures: 0,
                locked_until: Some(now + limits.ip_lock),
            }
        } else {
            Self {
                failures,
                locked_until: self.locked_until,
            }
        }
    }
}

/// What the step asks the store for, besides the flow: built by the use case.
#[derive(Debug, Clone)]
pub struct AbuseQuery {
    /// Now.
    pub now: DateTime<Utc>,
    /// The client IP, if known.
    pub client_ip: Option<String>,
    /// The limits in force.
    pub limits: AbuseLimits,
    /// Load the send budgets and pauses (start, resend); not for verify.
    pub budgets: bool,
    /// Load the number's fixed test code (only when the operator enabled test numbers).
    pub test_numbers: bool,
}

/// What the store must read for a step on `phone`: computed here so a backend only
/// loads rows.
#[derive(Debug, Clone, Default)]
pub struct AbuseReads {
    /// Counter buckets to sum (over shards).
    pub counters: Vec<CounterRef>,
    /// Pause keys to look up.
    pub pauses: Vec<String>,
    /// The client IP whose counter for the number to load.
    pub client_ip: Option<String>,
    /// Load the test code of the number.
    pub test_number: bool,
}

/// The rows the store loaded for [`AbuseReads`].
#[derive(Debug, Clone, Default)]
pub struct AbuseState {
    /// Sums per bucket (missing: 0).
    pub counts: HashMap<CounterRef, u64>,
    /// Pauses found (any `until`; the decision compares with now).
    pub pauses: Vec<Pause>,
    /// The (number, client IP) counter.
    pub client: ClientCounter,
    /// The number's fixed test code, if it is a test number.
    pub test_code: Option<String>,
}

/// What the step writes besides the flow.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AbuseWrite {
    /// Counters to increment.
    pub increments: Vec<Increment>,
    /// Pauses to set (replacing one of the same key).
    pub pauses: Vec<Pause>,
    /// The (number, client IP) counter to save (the IP is the query's).
    pub client: Option<ClientCounter>,
}

/// The prefix of a number: its E.164 form without the last 4 digits (a carrier's range,
/// the unit SMS pumping works in).
pub fn prefix(e164: &str) -> &str {
    let cut = e164.len().saturating_sub(4).max(1.min(e164.len()));
    &e164[..cut]
}

/// The country calling code of an E.164 number (calling codes are prefix-free, so the
/// first 1–3 digit code libphonenumber knows is the one).
pub fn calling_code(e164: &str) -> Option<u16> {
    let digits = e164.strip_prefix('+')?;
    (1..=3).find_map(|n| {
        let code: u16 = digits.get(..n)?.parse().ok()?;
        phonenumber::metadata::DATABASE
            .by_code(&code)
            .is_some()
            .then_some(code)
    })
}

/// The calling code of a region (`US` → 1), if libphonenumber knows it.
pub fn region_calling_code(region: &str) -> Option<u16> {
    phonenumber::metadata::DATABASE
        .by_id(region.to_ascii_uppercase().as_str())
        .map(|m| m.country_code())
}

/// Whether a calling code belongs to no country: the international networks (+881
/// satellite, +882/+883 international networks, the usual targets of pumping) and the
/// other codes ITU-T E.164 assigns globally (+800, +808, +870, +878, +888, +979).
pub fn is_non_geographic(code: u16) -> bool {
    matches!(code, 800 | 808 | 870 | 878 | 881 | 882 | 883 | 888 | 979)
        || phonenumber::metadata::DATABASE
            .by_code(&code)
            .is_some_and(|all| all.iter().all(|m| m.id() == "001"))
}

/// The countries a tenant sends codes to: its allow-list if set, otherwise the calling
/// code of its region if set, otherwise every geographic code.
pub fn country_allowed(allow_list: Option<&[u16]>, region: Option<&str>, code: u16) -> bool {
    match (allow_list, region.and_then(region_calling_code)) {
        (Some(list), _) => list.contains(&code),
        (None, Some(home)) => code == home,
        (None, None) => !is_non_geographic(code),
    }
}

fn ms(t: DateTime<Utc>) -> i64 {
    t.timestamp_millis()
}

pub(crate) fn bucket_start(now: DateTime<Utc>, window: Duration) -> i64 {
    let w = window.num_milliseconds().max(1);
    ms(now).div_euclid(w) * w
}

pub(crate) fn key(scope: Scope, tenant: TenantId, subject: &str) -> String {
    // Joined, not formatted: a step makes some twenty of these.
    let mut buf = uuid::Uuid::encode_buffer();
    let tenant = &*tenant.0.hyphenated().encode_lower(&mut buf);
    match scope {
        Scope::Ip => ["ip:", subject].concat(),
        Scope::Global => "global".into(),
        Scope::Tenant | Scope::TenantDay => [scope.as_str(), ":", tenant].concat(),
        _ => [scope.as_str(), ":", tenant, ":", subject].concat(),
    }
}

/// The part of a client IP that one client controls: the address for IPv4, the /64 for
/// IPv6 (one subscriber's allocation).
pub fn ip_subject(ip: &str) -> String {
    match ip.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V6(v6)) if v6.to_ipv4_mapped().is_none() => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Ok(std::net::IpAddr::V6(v6)) => v6
            .to_ipv4_mapped()
            .map_or_else(|| ip.to_string(), |v4| v4.to_string()),
        _ => ip.to_string(),
    }
}

/// The budgets of a send, with their subjects.
struct Scoped {
    scope: Scope,
    key: String,
    window: Duration,
    limit: Option<u32>,
    refusal: Refusal,
}

fn scoped(tenant: TenantId, phone: &str, q: &AbuseQuery) -> Vec<Scoped> {
    let l = &q.limits;
    let pre = prefix(phone);
    let cc = calling_code(phone).map_or_else(|| "?".into(), |c| c.to_string());
    let mut out = Vec::with_capacity(10);
    let mut add = |scope, subject: &str, window, limit, refusal| {
        out.push(Scoped {
            scope,
            key: key(scope, tenant, subject),
            window,
            limit,
            refusal,
        });
    };
    if let Some(ip) = &q.client_ip {
        add(
            Scope::Ip,
            &ip_subject(ip),
            l.ip.window,
            Some(l.ip.limit),
            Refusal::IpBudget,
        );
    }
    add(
        Scope::Prefix,
        pre,
        l.prefix.window,
        Some(l.prefix.limit),
        Refusal::PrefixBudget,
    );
    add(
        Scope::Country,
        &cc,
        l.country.window,
        Some(l.country.limit),
        Refusal::CountryBudget,
    );
    add(
        Scope::Tenant,
        "",
        l.tenant.window,
        Some(l.tenant.limit),
        Refusal::TenantBudget,
    );
    add(
        Scope::TenantDay,
        "",
        Duration::days(1),
        Some(l.tenant_daily),
        Refusal::TenantDailyCap,
    );
    add(
        Scope::Global,
        "",
        l.global.window,
        Some(l.global.limit),
        Refusal::GlobalBudget,
    );
    for (scope, subject) in [
        (Scope::SentPrefix, pre),
        (Scope::VerifiedPrefix, pre),
        (Scope::UndeliveredPrefix, pre),
        (Scope::SentCountry, cc.as_str()),
        (Scope::VerifiedCountry, cc.as_str()),
        (Scope::UndeliveredCountry, cc.as_str()),
    ] {
        add(
            scope,
            subject,
            l.watch_window,
            None,
            Refusal::ConversionPause,
        );
    }
    out
}

fn pause_keys(tenant: TenantId, phone: &str) -> [String; 2] {
    let cc = calling_code(phone).map_or_else(|| "?".into(), |c| c.to_string());
    [
        key(Scope::Prefix, tenant, prefix(phone)),
        key(Scope::Country, tenant, &cc),
    ]
}

/// What the store reads for a step on `phone` in `tenant`.
pub fn reads(tenant: TenantId, phone: &str, q: &AbuseQuery) -> AbuseReads {
    let mut counters = Vec::new();
    if q.budgets {
        for s in scoped(tenant, phone, q) {
            let cur = bucket_start(q.now, s.window);
            let previous = cur - s.window.num_milliseconds().max(1);
            counters.push(CounterRef {
                key: s.key.clone(),
                bucket: cur,
            });
            // The daily cap is a calendar day: no sliding part.
            if s.scope != Scope::TenantDay {
                counters.push(CounterRef {
                    key: s.key,
                    bucket: previous,
                });
            }
        }
    }
    AbuseReads {
        counters,
        pauses: if q.budgets {
            pause_keys(tenant, phone).to_vec()
        } else {
            Vec::new()
        },
        client_ip: q.client_ip.as_deref().map(ip_subject),
        test_number: q.test_numbers,
    }
}

/// The sliding estimate of a counter at `now`: the current bucket plus the previous one
/// weighted by the part of the window not yet elapsed.
pub(crate) fn estimate(
    state: &AbuseState,
    key: &str,
    window: Duration,
    now: DateTime<Utc>,
    sliding: bool,
) -> u64 {
    let w = window.num_milliseconds().max(1);
    let cur = bucket_start(now, window);
    let get = |bucket| {
        state
            .counts
            .get(&CounterRef {
                key: key.to_string(),
                bucket,
            })
            .copied()
            .unwrap_or(0)
    };
    let current = get(cur);
    if !sliding {
        return current;
    }
    let remaining = u64::try_from(w - (ms(now) - cur)).unwrap_or(0);
    let w = u64::try_from(w).unwrap_or(1);
    current + get(cur - i64::try_from(w).unwrap_or(1)) * remaining / w
}

/// How long until a spent budget takes one more send, if nothing else is counted: the
/// estimate only falls with time, so the first moment found by bisection is exact, and
/// waiting that long succeeds.
fn wait_for(state: &AbuseState, s: &Scoped, limit: u32, now: DateTime<Utc>) -> Duration {
    let sliding = s.scope != Scope::TenantDay;
    let ok = |t: DateTime<Utc>| {
        // Counts move into "previous" at the bucket boundary: shift them.
        let cur_then = bucket_start(t, s.window);
        let cur_now = bucket_start(now, s.window);
        let w = s.window.num_milliseconds().max(1);
        let get = |bucket| {
            state
                .counts
                .get(&CounterRef {
                    key: s.key.clone(),
                    bucket,
                })
                .copied()
                .unwrap_or(0)
        };
        let (current, previous) = if cur_then == cur_now {
            (get(cur_now), get(cur_now - w))
        } else if cur_then == cur_now + w {
            (0, get(cur_now))
        } else {
            (0, 0)
        };
        let est = if sliding {
            let remaining = u64::try_from(w - (ms(t) - cur_then)).unwrap_or(0);
            current + previous * remaining / u64::try_from(w).unwrap_or(1)
        } else {
            current
        };
        est < u64::from(limit)
    };
    let (mut lo, mut hi) = (0i64, 2 * s.window.num_milliseconds().max(1));
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if ok(now + Duration::milliseconds(mid)) {
            hi = mid;
        } else {
            lo = mid + 1;
        }
    }
    Duration::milliseconds(lo)
}

/// The outcome of [`decide_send`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SendDecision {
    /// Send; write these counters.
    Send(AbuseWrite),
    /// Do not send. `retry_after` is set for the per-IP budget only (answered 429); every
    /// other refusal answers like a normal start. The write charges the IP budget (the
    /// request reached the other checks) and may set a pause.
    Refuse {
        /// Why.
        reason: Refusal,
        /// For a 429: how long to wait.
        retry_after: Option<Duration>,
        /// What to write anyway.
        write: AbuseWrite,
    },
}

/// Decides whether a code may be sent to `phone` for a start or resend, over the loaded
/// counters. Every request that passes the IP budget is charged to it; every request that
/// passes all budgets is charged to all of them, registered number or not (DESIGN.md §3:
/// budgets count requests the same way, so they reveal nothing). `real_send` says whether
/// a code would really go out (a `ready` owner): only those count for the conversion
/// watch, whose verified side is counted by [`on_verified`].
pub fn decide_send<R: RngCore>(
    tenant: TenantId,
    phone: &str,
    q: &AbuseQuery,
    state: &AbuseState,
    country_allowed: bool,
    real_send: bool,
    rng: &mut R,
) -> SendDecision {
    let now = q.now;
    let all = scoped(tenant, phone, q);
    let mut write = AbuseWrite::default();
    let shard = rng.next_u32() % SHARDS;
    let inc = |s: &Scoped| Increment {
        key: s.key.clone(),
        bucket: bucket_start(now, s.window),
        shard: if s.scope.sharded() { shard } else { 0 },
        by: 1,
        expires_at: bucket_start(now, s.window) + 2 * s.window.num_milliseconds(),
    };
    let refuse = |reason, retry_after, write| SendDecision::Refuse {
        reason,
        retry_after,
        write,
    };
    // 1. The client IP: answered 429, the only budget a client may see.
    if let Some(s) = all.iter().find(|s| s.scope == Scope::Ip) {
        let limit = s.limit.unwrap_or(0);
        if estimate(state, &s.key, s.window, now, true) >= u64::from(limit) {
            let wait = wait_for(state, s, limit, now);
            return refuse(Refusal::IpBudget, Some(wait), write);
        }
        write.increments.push(inc(s));
    }
    // 2. Countries the tenant does not send to.
    if !country_allowed {
        return refuse(Refusal::CountryNotAllowed, None, write);
    }
    // 3. A pause set by the conversion watch.
    let paused = pause_keys(tenant, phone);
    if state
        .pauses
        .iter()
        .any(|p| p.until > now && paused.contains(&p.key))
    {
        return refuse(Refusal::ConversionPause, None, write);
    }
    // 4. The shared budgets, narrowest first.
    for s in all
        .iter()
        .filter(|s| s.limit.is_some() && s.scope != Scope::Ip)
    {
        let limit = s.limit.unwrap_or(0);
        let sliding = s.scope != Scope::TenantDay;
        if estimate(state, &s.key, s.window, now, sliding) >= u64::from(limit) {
            return refuse(s.refusal, None, write);
        }
    }
    // 5. The conversion watch: codes delivered (sent, less those a carrier reported
    // undelivered) far outnumber codes verified.
    if real_send {
        let l = &q.limits;
        let judge = |[sent, verified, undelivered]: [Scope; 3], min: u32, pause_key: &str| {
            let find = |scope| all.iter().find(|s| s.scope == scope);
            let (Some(sent), Some(verified)) = (find(sent), find(verified)) else {
                return None;
            };
            let lost =
                find(undelivered).map_or(0, |u| estimate(state, &u.key, u.window, now, true));
            let s = estimate(state, &sent.key, sent.window, now, true).saturating_sub(lost);
            let v = estimate(state, &verified.key, verified.window, now, true);
            (s >= u64::from(min) && s > v * u64::from(l.watch_max_sent_per_verified)).then(|| {
                Pause {
                    key: pause_key.to_string(),
                    until: now + l.watch_pause,
                    reason: format!(
                        "{s} codes sent and {v} verified in the last {} minutes",
                        l.watch_window.num_minutes()
                    ),
                    created_at: now,
                }
            })
        };
        let pauses: Vec<Pause> = [
            judge(
                [
                    Scope::SentPrefix,
                    Scope::VerifiedPrefix,
                    Scope::UndeliveredPrefix,
                ],
                l.watch_min_sends_prefix,
                &paused[0],
            ),
            judge(
                [
                    Scope::SentCountry,
                    Scope::VerifiedCountry,
                    Scope::UndeliveredCountry,
                ],
                l.watch_min_sends_country,
                &paused[1],
            ),
        ]
        .into_iter()
        .flatten()
        .collect();
        if !pauses.is_empty() {
            write.pauses = pauses;
            return refuse(Refusal::ConversionPause, None, write);
        }
    }
    for s in all
        .iter()
        .filter(|s| s.limit.is_some() && s.scope != Scope::Ip)
    {
        write.increments.push(inc(s));
    }
    if real_send {
        for s in all
            .iter()
            .filter(|s| matches!(s.scope, Scope::SentPrefix | Scope::SentCountry))
        {
            write.increments.push(inc(s));
        }
    }
    SendDecision::Send(write)
}

/// The counters a verified code adds to the conversion watch.
pub fn on_verified(tenant: TenantId, phone: &str, q: &AbuseQuery) -> Vec<Increment> {
    watch_increments(
        tenant,
        phone,
        q,
        [Scope::VerifiedPrefix, Scope::VerifiedCountry],
    )
}

/// The counters a code reported undelivered by its carrier adds to the conversion watch:
/// the watch judges codes that reached phones, so an outage does not pause a country.
pub fn on_undelivered(tenant: TenantId, phone: &str, q: &AbuseQuery) -> Vec<Increment> {
    watch_increments(
        tenant,
        phone,
        q,
        [Scope::UndeliveredPrefix, Scope::UndeliveredCountry],
    )
}

fn watch_increments(
    tenant: TenantId,
    phone: &str,
    q: &AbuseQuery,
    scopes: [Scope; 2],
) -> Vec<Increment> {
    scoped(tenant, phone, q)
        .into_iter()
        .filter(|s| scopes.contains(&s.scope))
        .map(|s| Increment {
            bucket: bucket_start(q.now, s.window),
            expires_at: bucket_start(q.now, s.window) + 2 * s.window.num_milliseconds(),
            key: s.key,
            shard: 0,
            by: 1,
        })
        .collect()
}

/// Sorts increments into one order, so that concurrent transactions take row locks in the
/// same order and cannot deadlock.
pub fn sorted(mut increments: Vec<Increment>) -> Vec<Increment> {
    increments.sort();
    increments
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::{Clock, ManualClock};

    /// The keys name stored rows: their form never changes (`scope:tenant:subject`, the
    /// tenant's hyphenated id), whatever builds them.
    #[test]
    fn abuse_keys_keep_their_stored_form() {
        let tenant =
            TenantId(uuid::Uuid::parse_str("0f8fad5b-d9cb-469f-a165-70867728950e").unwrap());
        let t = "0f8fad5b-d9cb-469f-a165-70867728950e";
        assert_eq!(key(Scope::Ip, tenant, "192.0.2.1"), "ip:192.0.2.1");
        assert_eq!(key(Scope::Global, tenant, "x"), "global");
        assert_eq!(key(Scope::Tenant, tenant, "x"), format!("tenant:{t}"));
        assert_eq!(key(Scope::TenantDay, tenant, "x"), format!("tenantDay:{t}"));
        for scope in [
            Scope::Prefix,
            Scope::Country,
            Scope::SentPrefix,
            Scope::VerifiedPrefix,
            Scope::SentCountry,
            Scope::VerifiedCountry,
            Scope::UndeliveredPrefix,
            Scope::UndeliveredCountry,
        ] {
            assert_eq!(
                key(scope, tenant, "+1425555"),
                format!("{}:{t}:+1425555", scope.as_str())
            );
        }
    }

    #[test]
    fn refusal_names_are_pinned_and_parse_back() {
        let names: Vec<_> = Refusal::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "ipBudgetExceeded",
                "prefixBudgetExceeded",
                "countryBudgetExceeded",
                "tenantBudgetExceeded",
                "tenantDailyCapExceeded",
                "globalBudgetExceeded",
                "countryNotAllowed",
                "conversionPaused",
                "numberLocked",
                "clientLocked",
            ]
        );
        for r in Refusal::ALL {
            assert_eq!(Refusal::parse(r.as_str()), Some(r));
        }
        assert_eq!(Refusal::parse("invalidCode"), None);
    }
    use rand::rngs::StdRng;
    use rand::SeedableRng;
    use uuid::Uuid;

    const T: TenantId = TenantId(Uuid::from_u128(1));

    fn query(now: DateTime<Utc>) -> AbuseQuery {
        AbuseQuery {
            now,
            client_ip: Some("203.0.113.9".into()),
            limits: AbuseLimits::default(),
            budgets: true,
            test_numbers: false,
        }
    }

    fn apply(state: &mut AbuseState, write: &AbuseWrite) {
        for i in &write.increments {
            *state
                .counts
                .entry(CounterRef {
                    key: i.key.clone(),
                    bucket: i.bucket,
                })
                .or_default() += u64::from(i.by);
        }
        state.pauses.extend(write.pauses.iter().cloned());
    }

    fn send(state: &mut AbuseState, q: &AbuseQuery, phone: &str) -> SendDecision {
        let d = decide_send(
            T,
            phone,
            q,
            state,
            true,
            true,
            &mut StdRng::seed_from_u64(1),
        );
        match &d {
            SendDecision::Send(w) | SendDecision::Refuse { write: w, .. } => apply(state, w),
        }
        d
    }

    #[test]
    fn prefix_and_calling_code() {
        assert_eq!(prefix("+14255550101"), "+1425555");
        assert_eq!(calling_code("+14255550101"), Some(1));
        assert_eq!(calling_code("+358401234567"), Some(358));
        assert_eq!(calling_code("+447700900123"), Some(44));
        assert_eq!(calling_code("+881612345678"), Some(881));
        assert!(is_non_geographic(881) && is_non_geographic(882) && is_non_geographic(883));
        assert!(!is_non_geographic(1) && !is_non_geographic(44));
        assert_eq!(region_calling_code("fi"), Some(358));
    }

    #[test]
    fn allow_list_defaults_to_the_home_country_or_every_geographic_code() {
        assert!(country_allowed(None, None, 44));
        assert!(!country_allowed(None, None, 882));
        assert!(country_allowed(None, Some("US"), 1));
        assert!(!country_allowed(None, Some("US"), 44));
        assert!(country_allowed(Some(&[44, 882]), Some("US"), 882));
        assert!(!country_allowed(Some(&[44]), None, 1));
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        assert_eq!(ip_subject("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(ip_subject("::ffff:192.0.2.1"), "192.0.2.1");
        assert_eq!(ip_subject("192.0.2.1"), "192.0.2.1");
    }

    #[test]
    fn the_prefix_budget_stops_a_burst_and_the_ip_budget_answers_with_a_wait_that_works() {
        let clock = ManualClock::at_epoch_2026();
        let mut state = AbuseState::default();
        let q = query(clock.now());
        let mut sent = 0;
        let mut ip_refusal = None;
        for n in 0..100 {
            match send(&mut state, &q, &format!("+1425555{n:04}")) {
                SendDecision::Send(_) => sent += 1,
                SendDecision::Refuse {
                    reason: Refusal::IpBudget,
                    retry_after,
                    ..
                } => {
                    ip_refusal = retry_after;
                    break;
                }
                SendDecision::Refuse { .. } => {}
            }
        }
        assert!(sent <= 10, "{sent}");
        let wait = ip_refusal.expect("the IP budget ran out");
        clock.advance(wait - Duration::milliseconds(1));
        let q = query(clock.now());
        assert!(matches!(
            send(&mut state.clone(), &q, "+442071838750"),
            SendDecision::Refuse {
                reason: Refusal::IpBudget,
                ..
            }
        ));
        clock.advance(Duration::milliseconds(1));
        let q = query(clock.now());
        assert!(matches!(
            send(&mut state, &q, "+442071838750"),
            SendDecision::Send(_)
        ));
    }

    #[test]
    fn codes_never_verified_pause_the_prefix() {
        let clock = ManualClock::at_epoch_2026();
        let mut state = AbuseState::default();
        let mut q = query(clock.now());
        q.limits.prefix.limit = 1000;
        q.limits.ip.limit = 1000;
        let mut outcomes = Vec::new();
        for n in 0..12 {
            outcomes.push(send(&mut state, &q, &format!("+1425555{n:04}")));
        }
        let sent = outcomes
            .iter()
            .filter(|d| matches!(d, SendDecision::Send(_)))
            .count();
        assert_eq!(sent, 8);
        assert!(state.pauses.iter().any(|p| p.key.starts_with("prefix:")));
        // Verified codes keep a prefix open.
        let mut state = AbuseState::default();
        for n in 0..20 {
            let d = send(&mut state, &q, &format!("+1425556{n:04}"));
            assert!(matches!(d, SendDecision::Send(_)), "{n}: {d:?}");
            for i in on_verified(T, &format!("+1425556{n:04}"), &q) {
                *state
                    .counts
                    .entry(CounterRef {
                        key: i.key,
                        bucket: i.bucket,
                    })
                    .or_default() += 1;
            }
        }
    }

    #[test]
    fn codes_reported_undelivered_do_not_count_as_sent_to_the_watch() {
        let clock = ManualClock::at_epoch_2026();
        let mut q = query(clock.now());
        q.limits.prefix.limit = 1000;
        q.limits.ip.limit = 1000;
        // A carrier outage: every code comes back undelivered, none is verified.
        let mut state = AbuseState::default();
        for n in 0..20 {
            let phone = format!("+1425555{n:04}");
            let d = send(&mut state, &q, &phone);
            assert!(matches!(d, SendDecision::Send(_)), "{n}: {d:?}");
            let lost = on_undelivered(T, &phone, &q);
            assert_eq!(lost.len(), 2, "prefix and country");
            apply(
                &mut state,
                &AbuseWrite {
                    increments: lost,
                    ..AbuseWrite::default()
                },
            );
        }
        assert!(state.pauses.is_empty(), "{:?}", state.pauses);
        // Delivered and never verified: the same traffic is paused (the watch still bites).
        let mut state = AbuseState::default();
        let paused = (0..20).any(|n| {
            matches!(
                send(&mut state, &q, &format!("+1425555{n:04}")),
                SendDecision::Refuse {
                    reason: Refusal::ConversionPause,
                    ..
                }
            )
        });
        assert!(paused);
    }

    #[test]
    fn a_client_is_stopped_after_its_failures() {
        let clock = ManualClock::at_epoch_2026();
        let l = AbuseLimits::default();
        let mut c = ClientCounter::default();
        for _ in 0..9 {
            c = c.record_failure(clock.now(), &l);
        }
        assert_eq!(c.lock_remaining(clock.now()), None);
        c = c.record_failure(clock.now(), &l);
        assert_eq!(c.lock_remaining(clock.now()), Some(Duration::minutes(15)));
    }
}
