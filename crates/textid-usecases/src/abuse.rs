//! The operator's side of the abuse defences (issue #14): list and clear locks, see the
//! send budgets in use and the conversion-watch pauses, resume a paused prefix or
//! country, keep test numbers, edit the country allow-list, and say why no code goes to
//! a phone method's number. One implementation under the CLI (and a later HTTP or Graph
//! surface); each refusal is an [`AbuseError`] variant with a stable code.

use chrono::{DateTime, Utc};
use rand::rngs::OsRng;
use textid_core::abuse::Pause;
use textid_core::abuse_view::{self, AbuseInputError, BudgetUsage, PauseSubject, Withheld};
use textid_core::code::OtpCode;
use textid_core::phone::PhoneNumber;
use textid_core::tenant::Tenant;
use textid_store::{Actor, LockRecord, StoreError, TestNumber};

use crate::directory::{DirectoryError, PhoneMethodView};
use crate::Context as App;

/// Why an abuse operation refused or failed. Nothing was changed.
#[derive(Debug, thiserror::Error)]
pub enum AbuseError {
    /// Not a phone number.
    #[error("not a phone number: {0}")]
    InvalidNumber(String),
    /// A test code of the wrong form.
    #[error("the test code must be exactly {digits} digits (TEXTID_CODE_DIGITS)")]
    InvalidCode {
        /// The configured code length.
        digits: u8,
    },
    /// A country or pause key that does not parse.
    #[error(transparent)]
    Input(#[from] AbuseInputError),
    /// Nothing to clear or remove: no lock on the number, no such pause, no such test
    /// number, a country not on the list.
    #[error("{what} '{key}' not found")]
    NotFound {
        /// `lock`, `pause`, `test number`, `country`.
        what: &'static str,
        /// What was asked for.
        key: String,
    },
    /// The allow-list edit would leave the tenant sending to no country.
    #[error("the allow-list cannot be empty: use `clear` to go back to the default (the tenant's region, or every geographic country)")]
    EmptyAllowList,
    /// The policy could not be replaced.
    #[error(transparent)]
    Policy(#[from] DirectoryError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl AbuseError {
    /// The stable error code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidNumber(_) => "invalidPhoneNumber",
            Self::InvalidCode { .. } => "invalidCode",
            Self::Input(e) => e.code(),
            Self::NotFound { .. } => "notFound",
            Self::EmptyAllowList => "emptyAllowList",
            Self::Policy(_) => "invalidPolicy",
            Self::Store(_) => "storeError",
        }
    }

    /// Whether the caller's input is at fault (a usage error), not the system.
    pub fn is_input(&self) -> bool {
        !matches!(
            self,
            Self::Store(_) | Self::Policy(DirectoryError::Store(_))
        )
    }
}

fn e164(tenant: &Tenant, input: &str) -> Result<String, AbuseError> {
    PhoneNumber::parse(input, tenant.default_region.as_deref())
        .map(|n| n.e164())
        .map_err(|e| AbuseError::InvalidNumber(e.to_string()))
}

/// Numbers locked after too many wrong codes, and (number, client IP) pairs stopped, now.
pub async fn locks(app: &App, tenant: &Tenant) -> Result<Vec<LockRecord>, AbuseError> {
    Ok(app.store().locks(tenant.id, app.clock().now()).await?)
}

/// Clears a number's lock and its failure counts (every client IP), audited; returns the
/// number cleared (E.164). `NotFound` when nothing was there to clear.
pub async fn clear_lock(
    app: &App,
    tenant: &Tenant,
    number: &str,
    actor: &Actor,
) -> Result<String, AbuseError> {
    // A user name's password and pass failures are counted under `upn:NAME` (issue #15).
    let phone = match number.strip_prefix("upn:") {
        Some(name) => crate::password::counter_key(name),
        None => e164(tenant, number)?,
    };
    let cleared = app
        .store()
        .clear_lock(tenant.id, &phone, actor, app.clock().now())
        .await?;
    if !cleared {
        return Err(AbuseError::NotFound {
            what: "lock",
            key: phone,
        });
    }
    Ok(phone)
}

/// A running pause, named as an operator types it back to `resume`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PauseView {
    /// What is paused (`None` for a key of a form this version does not know).
    pub subject: Option<PauseSubject>,
    /// The stored pause.
    pub pause: Pause,
}

/// Where the abuse defences of a tenant stand now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AbuseStatus {
    /// When.
    pub at: DateTime<Utc>,
    /// The budgets against their limits: tenant, day and all tenants always; prefixes,
    /// countries and client IPs with something counted, busiest first.
    pub budgets: Vec<BudgetUsage>,
    /// Pauses set by the conversion watch, still running.
    pub pauses: Vec<PauseView>,
    /// Locks running (numbers and (number, client IP) pairs).
    pub locks: usize,
}

/// The budgets in use, running pauses and the number of locks of a tenant.
pub async fn status(app: &App, tenant: &Tenant) -> Result<AbuseStatus, AbuseError> {
    let now = app.clock().now();
    let limits = &app.limits().abuse;
    let reads = abuse_view::usage_reads(tenant.id, limits, now);
    let rows = app.store().budget_counters(&reads).await?;
    let pauses = app
        .store()
        .pauses(tenant.id, now)
        .await?
        .into_iter()
        .map(|pause| PauseView {
            subject: PauseSubject::from_key(tenant.id, &pause.key),
            pause,
        })
        .collect();
    Ok(AbuseStatus {
        at: now,
        budgets: abuse_view::usage(tenant.id, limits, &rows, now),
        pauses,
        locks: app.store().locks(tenant.id, now).await?.len(),
    })
}

/// Ends a conversion-watch pause early (`prefix:+1425555`, `country:44`, `+1425555`,
/// `44`, `GB`), audited; returns what was resumed.
pub async fn resume(
    app: &App,
    tenant: &Tenant,
    key: &str,
    actor: &Actor,
) -> Result<PauseSubject, AbuseError> {
    let subject = PauseSubject::parse(key)?;
    let cleared = app
        .store()
        .clear_pause(tenant.id, &subject.key(tenant.id), actor, app.clock().now())
        .await?;
    if !cleared {
        return Err(AbuseError::NotFound {
            what: "pause",
            key: subject.to_string(),
        });
    }
    Ok(subject)
}

/// Adds (or replaces) a test number with its fixed code, audited (never the code); a
/// random code when none is given. Test numbers get no SMS and work only while the operator enables them
/// (`TEXTID_TEST_NUMBERS_ENABLED`).
pub async fn add_test_number(
    app: &App,
    tenant: &Tenant,
    number: &str,
    code: Option<&str>,
    actor: &Actor,
) -> Result<TestNumber, AbuseError> {
    let digits = app.limits().code_digits;
    let phone = e164(tenant, number)?;
    let code = match code {
        Some(c) => OtpCode::parse(c, digits).map_err(|_| AbuseError::InvalidCode { digits })?,
        None => OtpCode::generate(&mut OsRng, digits),
    };
    let n = TestNumber {
        phone,
        code: code.expose().to_string(),
        created_at: app.clock().now(),
    };
    app.store().put_test_number(tenant.id, &n, actor).await?;
    Ok(n)
}

/// Removes a test number, audited; returns it (E.164).
pub async fn remove_test_number(
    app: &App,
    tenant: &Tenant,
    number: &str,
    actor: &Actor,
) -> Result<String, AbuseError> {
    let phone = e164(tenant, number)?;
    let now = app.clock().now();
    if !app
        .store()
        .delete_test_number(tenant.id, &phone, actor, now)
        .await?
    {
        return Err(AbuseError::NotFound {
            what: "test number",
            key: phone,
        });
    }
    Ok(phone)
}

/// The tenant's test numbers.
pub async fn test_numbers(app: &App, tenant: &Tenant) -> Result<Vec<TestNumber>, AbuseError> {
    Ok(app.store().test_numbers(tenant.id).await?)
}

/// A change of the country allow-list (`textidAllowedCountryCodes` of the SMS policy).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllowListChange {
    /// Replace the list with these countries.
    Set(Vec<String>),
    /// Add these countries (to the list; to the tenant's default if there is none).
    Add(Vec<String>),
    /// Remove these countries.
    Remove(Vec<String>),
    /// No explicit list: the tenant's region, or every geographic country.
    Clear,
}

/// The countries codes go to: the explicit list, or `None` (the default).
pub async fn allowed_countries(app: &App, tenant: &Tenant) -> Result<Option<Vec<u16>>, AbuseError> {
    Ok(app
        .store()
        .policy(tenant.id)
        .await?
        .sms
        .allowed_country_codes)
}

fn countries(inputs: &[String]) -> Result<Vec<u16>, AbuseError> {
    inputs
        .iter()
        .flat_map(|i| i.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| abuse_view::parse_country(s).map_err(AbuseError::from))
        .collect()
}

/// An allow-list as it is stored: sorted, each country once, never empty (an empty list
/// would silently stop every code; `None` is the way back to the default).
fn normalized_allow_list(mut list: Vec<u16>) -> Result<Vec<u16>, AbuseError> {
    list.sort_unstable();
    list.dedup();
    if list.is_empty() {
        return Err(AbuseError::EmptyAllowList);
    }
    Ok(list)
}

/// A whole allow-list as an admin API sends it (`textidAllowedCountryCodes` of the SMS
/// configuration over Graph): each entry a calling code (`+44`, `44`) or a region (`GB`),
/// checked exactly as `textid abuse countries set` checks its arguments. A caller that
/// replaces the policy in one piece (Graph's PATCH) stores the result itself, audited
/// with the rest of the policy.
pub fn parse_allow_list(inputs: &[String]) -> Result<Vec<u16>, AbuseError> {
    inputs
        .iter()
        .map(|s| abuse_view::parse_country(s).map_err(AbuseError::from))
        .collect::<Result<Vec<_>, _>>()
        .and_then(normalized_allow_list)
}

/// The tenant's default when it has no list: its region's calling code, if it has one.
fn default_list(tenant: &Tenant) -> Vec<u16> {
    tenant
        .default_region
        .as_deref()
        .and_then(textid_core::abuse::region_calling_code)
        .into_iter()
        .collect()
}

/// Changes the allow-list through the policy (checked and audited like every policy
/// change); returns the new list.
pub async fn change_allowed_countries(
    app: &App,
    tenant: &Tenant,
    change: AllowListChange,
    actor: &Actor,
) -> Result<Option<Vec<u16>>, AbuseError> {
    let mut policy = app.store().policy(tenant.id).await?;
    let current = policy.sms.allowed_country_codes.clone();
    let next = match change {
        AllowListChange::Clear => None,
        AllowListChange::Set(list) => Some(countries(&list)?),
        AllowListChange::Add(list) => {
            let mut all = current.unwrap_or_else(|| default_list(tenant));
            all.extend(countries(&list)?);
            Some(all)
        }
        AllowListChange::Remove(list) => {
            let gone = countries(&list)?;
            let mut all = current.unwrap_or_else(|| default_list(tenant));
            if let Some(missing) = gone.iter().find(|c| !all.contains(c)) {
                return Err(AbuseError::NotFound {
                    what: "country",
                    key: abuse_view::country_label(*missing),
                });
            }
            all.retain(|c| !gone.contains(c));
            Some(all)
        }
    };
    let next = next.map(normalized_allow_list).transpose()?;
    policy.sms.allowed_country_codes = next.clone();
    crate::directory::put_policy(app, tenant, &policy, actor).await?;
    Ok(next)
}

/// Why no code is sent to each of these phone methods' numbers, if so (office numbers get
/// no SMS and are skipped). For the admin views only: the Graph phone method stays
/// Entra-shaped.
pub async fn withheld(
    app: &App,
    tenant: &Tenant,
    methods: &[PhoneMethodView],
) -> Result<Vec<Option<Withheld>>, AbuseError> {
    let now = app.clock().now();
    let policy = app.store().policy(tenant.id).await?;
    let pauses = app.store().pauses(tenant.id, now).await?;
    Ok(methods
        .iter()
        .map(|m| {
            (m.method.phone_type != textid_core::methods::PhoneType::Office)
                .then(|| {
                    abuse_view::withheld(
                        tenant.id,
                        &m.method.number.e164(),
                        policy.sms.allowed_country_codes.as_deref(),
                        tenant.default_region.as_deref(),
                        &pauses,
                        now,
                    )
                })
                .flatten()
        })
        .collect())
}
