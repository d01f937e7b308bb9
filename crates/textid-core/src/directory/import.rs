//! Bulk import of users with their phone methods (`textid import`).
//!
//! A batch is checked as a whole before anything is written: every row goes through the
//! same rules as one user created and given phone methods one by one (the UPN is free, the
//! phone method type rules, DESIGN.md §1's uniqueness rule through
//! [`plan_phone_change`]), against what the tenant already holds *and* against the rows
//! before it in the batch. Any problem rejects the whole batch with every problem found,
//! each naming its line, so a file is fixed in one pass and never half imported.

use std::collections::{HashMap, HashSet};

use crate::directory::User;
use crate::methods::{
    plan_phone_change, NumberHolder, NumberSharing, PhoneMethod, PhoneMethodChange, PhoneMethodOp,
    PhonePlan, PhoneType,
};
use crate::phone::PhoneNumber;

/// One parsed row: a new user and the numbers to give them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportedUser {
    /// The row's line in the input (1-based), for problems.
    pub line: u64,
    /// The user to create.
    pub user: User,
    /// The numbers, at most one per type; a `mobile` becomes enabled for SMS sign-in when
    /// `sms_sign_in` says the policy allows it, as when an admin adds one.
    pub numbers: Vec<(PhoneType, PhoneNumber)>,
}

/// Why a row cannot be imported. The message names the value's field, never its text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportProblem {
    /// The row's line in the input.
    pub line: u64,
    /// A stable code (`upnInUse`, `phoneNumberNotUnique`, ...).
    pub code: &'static str,
    /// What to fix.
    pub message: String,
}

/// What the tenant already holds of the batch's keys.
#[derive(Debug, Default)]
pub struct Existing {
    /// userPrincipalNames (normalised, as [`crate::directory::Upn`] stores them) already taken.
    pub upns: HashSet<String>,
    /// For each E.164 number of the batch, the users that already hold it.
    pub holders: HashMap<String, Vec<NumberHolder>>,
    /// The tenant's setting for numbers held by several users.
    pub sharing: NumberSharing,
}

/// What to write for an accepted batch: per user, the plans of its phone methods, in the
/// order the one-by-one path would have written them (for the audit log).
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct ImportPlan {
    /// Users with their phone method plans.
    pub users: Vec<(User, Vec<PhonePlan>)>,
}

impl ImportPlan {
    /// The phone methods to insert.
    pub fn methods(&self) -> impl Iterator<Item = &PhoneMethod> {
        self.users
            .iter()
            .flat_map(|(_, plans)| plans.iter().filter_map(|p| p.after.as_ref()))
    }
}

/// Checks a batch against `existing`; `sms_sign_in` says whether the policy lets a new user
/// (no group memberships yet) sign in with SMS, which decides whether a mobile is enabled.
pub fn plan_import(
    rows: &[ImportedUser],
    existing: &Existing,
    sms_sign_in: bool,
) -> Result<ImportPlan, Vec<ImportProblem>> {
    let mut problems = Vec::new();
    let mut upns: HashMap<String, u64> = HashMap::with_capacity(rows.len());
    // Holders of a number among the rows accepted so far.
    let mut batch_holders: HashMap<String, Vec<NumberHolder>> = HashMap::new();
    let mut users = Vec::with_capacity(rows.len());
    for row in rows {
        let key = row.user.upn.as_str().to_string();
        if existing.upns.contains(&key) {
            problems.push(ImportProblem {
                line: row.line,
                code: "upnInUse",
                message: "userPrincipalName: another user of the tenant already has it".into(),
            });
            continue;
        }
        if let Some(first) = upns.get(&key) {
            problems.push(ImportProblem {
                line: row.line,
                code: "upnInUse",
                message: format!("userPrincipalName: the same as on line {first}"),
            });
            continue;
        }
        upns.insert(key, row.line);
        match plan_row(row, existing, &batch_holders, sms_sign_in) {
            Ok(plans) => {
                for m in plans.iter().filter_map(|p| p.after.as_ref()) {
                    batch_holders
                        .entry(m.number.e164())
                        .or_default()
                        .push(NumberHolder {
                            user_id: m.user_id,
                            phone_type: m.phone_type,
                            sms_sign_in_enabled: m.sms_sign_in_enabled,
                            deleted: false,
                        });
                }
                users.push((row.user.clone(), plans));
            }
            Err(p) => problems.push(p),
        }
    }
    if problems.is_empty() {
        Ok(ImportPlan { users })
    } else {
        Err(problems)
    }
}

/// One row's phone methods, each planned as an admin's "add" would be.
fn plan_row(
    row: &ImportedUser,
    existing: &Existing,
    batch: &HashMap<String, Vec<NumberHolder>>,
    sms_sign_in: bool,
) -> Result<Vec<PhonePlan>, ImportProblem> {
    let mut numbers = row.numbers.clone();
    // Mobile first: an alternateMobile needs one.
    numbers.sort_by_key(|(t, _)| *t);
    let mut current: Vec<PhoneMethod> = Vec::new();
    let mut plans = Vec::with_capacity(numbers.len());
    for (phone_type, number) in numbers {
        let e164 = number.e164();
        let holders: Vec<NumberHolder> = existing
            .holders
            .get(&e164)
            .into_iter()
            .chain(batch.get(&e164))
            .flatten()
            .copied()
            .collect();
        let change = PhoneMethodChange {
            made_in: None,
            tenant: row.user.tenant_id,
            user: row.user.id,
            phone_type,
            op: PhoneMethodOp::Add {
                number,
                enable_sms_sign_in: sms_sign_in && phone_type.supports_sms_sign_in(),
            },
        };
        let plan =
            plan_phone_change(&current, &holders, &change, existing.sharing).map_err(|e| {
                ImportProblem {
                    line: row.line,
                    code: e.code(),
                    message: format!("{}: {e}", phone_type.as_str()),
                }
            })?;
        current.extend(plan.after.clone());
        plans.push(plan);
    }
    Ok(plans)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Upn;
    use crate::ids::{TenantId, UserId};

    fn row(line: u64, upn: &str, numbers: &[(PhoneType, &str)]) -> ImportedUser {
        ImportedUser {
            line,
            user: User {
                id: UserId(uuid::Uuid::new_v4()),
                tenant_id: TenantId(uuid::Uuid::nil()),
                upn: Upn::parse(upn).unwrap(),
                display_name: upn.into(),
                account_enabled: true,
                mobile_phone: None,
                business_phones: Vec::new(),
                on_premises_sync_enabled: false,
                profile: Default::default(),
            },
            numbers: numbers
                .iter()
                .map(|(t, n)| (*t, PhoneNumber::parse(n, None).unwrap()))
                .collect(),
        }
    }

    fn codes(e: Vec<ImportProblem>) -> Vec<(u64, &'static str)> {
        e.into_iter().map(|p| (p.line, p.code)).collect()
    }

    #[test]
    fn an_accepted_batch_enables_mobiles_as_the_policy_says() {
        let rows = vec![
            row(
                2,
                "a@x.example",
                &[
                    (PhoneType::AlternateMobile, "+14255550102"),
                    (PhoneType::Mobile, "+14255550101"),
                ],
            ),
            row(3, "b@x.example", &[(PhoneType::Office, "+14255550103")]),
        ];
        for sms in [true, false] {
            let plan = plan_import(&rows, &Existing::default(), sms).unwrap();
            let enabled: Vec<_> = plan
                .methods()
                .map(|m| (m.phone_type, m.sms_sign_in_enabled))
                .collect();
            assert_eq!(
                enabled,
                [
                    (PhoneType::Mobile, sms),
                    (PhoneType::AlternateMobile, false),
                    (PhoneType::Office, false)
                ]
            );
        }
    }

    #[test]
    fn every_problem_of_the_batch_is_reported_by_line() {
        let mut existing = Existing::default();
        existing.upns.insert("taken@x.example".into());
        existing.holders.insert(
            "+14255550199".into(),
            vec![NumberHolder {
                user_id: UserId(uuid::Uuid::new_v4()),
                phone_type: PhoneType::Mobile,
                sms_sign_in_enabled: true,
                deleted: false,
            }],
        );
        let rows = vec![
            row(2, "Taken@x.example", &[]),
            row(3, "a@x.example", &[(PhoneType::Mobile, "+14255550101")]),
            row(4, "A@X.example", &[]),
            // The number a row above enabled for sign-in.
            row(5, "b@x.example", &[(PhoneType::Office, "+14255550101")]),
            // A number an existing user signs in with.
            row(6, "c@x.example", &[(PhoneType::Mobile, "+14255550199")]),
            row(
                7,
                "d@x.example",
                &[(PhoneType::AlternateMobile, "+14255550107")],
            ),
            row(8, "e@x.example", &[(PhoneType::Mobile, "+14255550108")]),
        ];
        let e = plan_import(&rows, &existing, true).unwrap_err();
        assert_eq!(
            codes(e),
            [
                (2, "upnInUse"),
                (4, "upnInUse"),
                (5, "phoneNumberNotUnique"),
                (6, "phoneNumberNotUnique"),
                (7, "mobileRequired"),
            ]
        );
    }

    #[test]
    fn a_number_shared_outside_sign_in_is_accepted_when_sign_in_is_off() {
        // Entra allows shared numbers for MFA; only sign-in numbers are unique.
        let rows = vec![
            row(2, "a@x.example", &[(PhoneType::Mobile, "+14255550101")]),
            row(3, "b@x.example", &[(PhoneType::Mobile, "+14255550101")]),
        ];
        assert!(plan_import(&rows, &Existing::default(), false).is_ok());
        let e = plan_import(&rows, &Existing::default(), true).unwrap_err();
        assert_eq!(codes(e), [(3, "phoneNumberNotUnique")]);
    }
}
