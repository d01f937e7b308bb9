//! Bulk import of users with their phone numbers (`textid import`): every row is checked
//! (the same parsing as one user created by hand, then the batch rules of
//! [`textid_core::directory::import`]) and the batch is written in one transaction, or
//! refused whole with every problem by line.

use rand::rngs::OsRng;
use textid_core::directory::import::{ImportProblem, ImportedUser};
use textid_core::directory::{display_name, Upn, User};
use textid_core::methods::PhoneType;
use textid_core::phone::PhoneNumber;
use textid_core::policy::{SmsPermission, Subject};
use textid_core::tenant::Tenant;
use textid_core::UserId;
use textid_store::{Actor, StoreError};

use crate::Context as App;

/// One row as read from the input, before any rule.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ImportRecord {
    /// Its line in the input (1-based).
    pub line: u64,
    /// `userPrincipalName`.
    pub user_principal_name: String,
    /// `displayName`.
    pub display_name: String,
    /// `accountEnabled` (default true).
    pub account_enabled: bool,
    /// `onPremisesSyncEnabled` (default false): the user's profile is owned by another
    /// directory, so Graph and the CLI refuse to change it.
    pub on_premises_sync_enabled: bool,
    /// The `mobile` phone method's number, if any.
    pub mobile: Option<String>,
    /// The `alternateMobile` phone method's number, if any.
    pub alternate_mobile: Option<String>,
    /// The `office` phone method's number (an extension allowed), if any.
    pub office: Option<String>,
}

/// Why an import wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ImportError {
    /// The input holds no rows.
    #[error("the input holds no users")]
    Empty,
    /// Rows break rules: every problem, by line.
    #[error("{} row(s) refused; nothing was imported", .0.len())]
    Refused(Vec<ImportProblem>),
    /// A concurrent change took one of the userPrincipalNames after the check.
    #[error("another change created one of these userPrincipalNames meanwhile; nothing was imported, run the import again")]
    Concurrent,
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

/// Rows checked by one thread at a time: parsing numbers is the costly part of a large
/// import, so big inputs are checked on every core.
const CHECK_CHUNK: usize = 20_000;

/// Imports `records` into `tenant`; returns the number of users created.
pub async fn import_users(
    app: &App,
    tenant: &Tenant,
    records: Vec<ImportRecord>,
    actor: &Actor,
) -> Result<usize, ImportError> {
    if records.is_empty() {
        return Err(ImportError::Empty);
    }
    let region = tenant.default_region.clone();
    let tenant_id = tenant.id;
    let checked = tokio::task::spawn_blocking(move || check_all(&records, tenant_id, region))
        .await
        .map_err(|e| ImportError::Store(StoreError::Backend(Box::new(e))))??;
    // A new user belongs to no group and its fresh id cannot be a target of its own, so
    // the policy answers the same for every row.
    let policy = app
        .store()
        .policy(tenant.id)
        .await
        .map_err(ImportError::Store)?;
    let sms_sign_in = policy.sms.permission(Subject {
        user_id: UserId::random(&mut OsRng),
        groups: &[],
    }) == SmsPermission::SignIn;
    match app
        .store()
        .import_users(tenant.id, checked, sms_sign_in, actor, app.clock().now())
        .await
    {
        Ok(n) => Ok(n),
        Err(StoreError::Import(problems)) => Err(ImportError::Refused(problems)),
        Err(StoreError::Conflict(c)) if c == "users_upn_unique" => Err(ImportError::Concurrent),
        Err(e) => Err(ImportError::Store(e)),
    }
}

fn check_all(
    records: &[ImportRecord],
    tenant: textid_core::TenantId,
    region: Option<String>,
) -> Result<Vec<ImportedUser>, ImportError> {
    let threads = std::thread::available_parallelism().map_or(1, usize::from);
    let per = records.len().div_ceil(threads).max(CHECK_CHUNK);
    let results: Vec<Vec<Result<ImportedUser, ImportProblem>>> = std::thread::scope(|s| {
        let handles: Vec<_> = records
            .chunks(per)
            .map(|chunk| {
                let region = region.as_deref();
                s.spawn(move || {
                    let mut rng = OsRng;
                    chunk
                        .iter()
                        .map(|r| check(r, tenant, region, &mut rng))
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let (mut rows, mut problems) = (Vec::with_capacity(records.len()), Vec::new());
    for r in results.into_iter().flatten() {
        match r {
            Ok(row) => rows.push(row),
            Err(p) => problems.push(p),
        }
    }
    if rows.len() + problems.len() != records.len() {
        // A checking thread panicked: never import part of the input.
        return Err(ImportError::Store(StoreError::Corrupt(
            "a row could not be checked".into(),
        )));
    }
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(ImportError::Refused(problems))
    }
}

fn problem(line: u64, code: &'static str, message: impl std::fmt::Display) -> ImportProblem {
    ImportProblem {
        line,
        code,
        message: message.to_string(),
    }
}

fn check(
    r: &ImportRecord,
    tenant: textid_core::TenantId,
    region: Option<&str>,
    rng: &mut OsRng,
) -> Result<ImportedUser, ImportProblem> {
    let upn = Upn::parse(&r.user_principal_name)
        .map_err(|e| problem(r.line, "invalidUserPrincipalName", e))?;
    let name =
        display_name(&r.display_name).map_err(|e| problem(r.line, "invalidDisplayName", e))?;
    let mut numbers = Vec::new();
    for (phone_type, input) in [
        (PhoneType::Mobile, &r.mobile),
        (PhoneType::AlternateMobile, &r.alternate_mobile),
        (PhoneType::Office, &r.office),
    ] {
        let Some(input) = input.as_deref().filter(|s| !s.trim().is_empty()) else {
            continue;
        };
        let n = PhoneNumber::parse(input, region)
            .and_then(|n| phone_type.check_number(&n).map(|()| n))
            .map_err(|e| problem(r.line, e.code(), format!("{}: {e}", phone_type.as_str())))?;
        numbers.push((phone_type, n));
    }
    Ok(ImportedUser {
        line: r.line,
        user: User {
            id: UserId::random(rng),
            tenant_id: tenant,
            upn,
            display_name: name.to_string(),
            account_enabled: r.account_enabled,
            mobile_phone: None,
            business_phones: Vec::new(),
            on_premises_sync_enabled: r.on_premises_sync_enabled,
            profile: Default::default(),
        },
        numbers,
    })
}
