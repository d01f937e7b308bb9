//! `textid lock|abuse|test-number` and `textid policy sms allowed-countries`: the
//! operator's side of the abuse defences (issue #14), over `textid_usecases::abuse`.
//!
//! Numbers are shown in full: an operator needs the number to clear its lock, and this is
//! an admin tool whose output goes to the operator's terminal, never to a log.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};
use textid_core::abuse::Scope;
use textid_core::abuse_view::{country_label, BudgetUsage, Withheld};
use textid_store::Actor;
use textid_usecases::abuse::{self as ab, AbuseError, AllowListChange};
use textid_usecases::directory::PhoneMethodView;

use super::output::print_json;
use super::Context;

#[derive(Debug, Subcommand)]
pub enum LockCommand {
    /// Numbers locked after too many wrong codes, and client IPs stopped for a number,
    /// with when each lock ends.
    List,
    /// Clear a number's lock and its wrong-code counts (every client IP); audited.
    Clear {
        /// The number, e.g. "+1 4255550101", or `upn:NAME` for a user name locked after
        /// wrong passwords or passes.
        number: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum AbuseCommand {
    /// Send budgets in use against their limits, conversion-watch pauses, locks.
    Status,
    /// End a conversion-watch pause early; audited.
    Resume {
        /// What to resume, as `abuse status` shows it: prefix:+1425555 or country:44
        /// (also +1425555, 44, GB).
        key: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum TestNumberCommand {
    /// Add (or replace) a test number: sign-ins to it send no SMS and take its fixed
    /// code. Works only while the server runs with TEXTID_TEST_NUMBERS_ENABLED=true.
    Add {
        /// The number, e.g. "+1 4255550100".
        number: String,
        /// The fixed code (TEXTID_CODE_DIGITS digits); random if not given.
        #[arg(long)]
        code: Option<String>,
    },
    /// Remove a test number.
    Remove {
        /// The number.
        number: String,
    },
    /// List the tenant's test numbers with their codes.
    List,
}

#[derive(Debug, Subcommand)]
pub enum AllowedCountriesCommand {
    /// Show the countries codes are sent to.
    Show,
    /// Replace the list (calling codes or regions: 44 +1 DE, or 44,1,DE).
    Set {
        /// Countries.
        #[arg(required = true)]
        countries: Vec<String>,
    },
    /// Add countries (to the tenant's default when there is no list yet).
    Add {
        /// Countries.
        #[arg(required = true)]
        countries: Vec<String>,
    },
    /// Remove countries.
    Remove {
        /// Countries.
        #[arg(required = true)]
        countries: Vec<String>,
    },
    /// Drop the list: the tenant's region decides, or every geographic country.
    Clear,
}

const TEST_NUMBERS_NOTE: &str =
    "note: test numbers work only while the server runs with TEXTID_TEST_NUMBERS_ENABLED=true";

/// A domain refusal: its message with its stable code; input errors exit 1 like the other
/// domain refusals of the CLI.
fn fail(e: AbuseError) -> anyhow::Error {
    if e.is_input() {
        anyhow::anyhow!("{e} ({})", e.code())
    } else {
        anyhow::Error::new(e)
    }
}

fn emit(cx: &Context, value: Value, human: impl FnOnce()) {
    if cx.json {
        print_json(&value);
    } else {
        human();
    }
}

pub async fn lock(cx: &Context, cmd: LockCommand) -> Result<()> {
    let (app, t) = (&cx.app, &cx.tenant);
    match cmd {
        LockCommand::List => {
            let locks = ab::locks(app, t).await.map_err(fail)?;
            let v: Vec<Value> = locks
                .iter()
                .map(|l| {
                    json!({
                        "phoneNumber": l.phone, "clientIp": l.client_ip,
                        "failures": l.failures, "lockedUntil": l.locked_until,
                    })
                })
                .collect();
            emit(cx, json!({ "value": v }), || {
                if locks.is_empty() {
                    crate::out!("no locks in tenant {}", t.name);
                }
                for l in &locks {
                    let who = l
                        .client_ip
                        .as_deref()
                        .map_or_else(|| "number".to_string(), |ip| format!("client {ip}"));
                    crate::out!(
                        "{:16} {:28} until {}  ({} wrong codes)",
                        l.phone,
                        who,
                        l.locked_until.format("%Y-%m-%d %H:%M:%S UTC"),
                        l.failures
                    );
                }
            });
        }
        LockCommand::Clear { number } => {
            let phone = ab::clear_lock(app, t, &number, &Actor::cli())
                .await
                .map_err(fail)?;
            emit(cx, json!({ "phoneNumber": phone, "cleared": true }), || {
                crate::out!("cleared the lock of {phone}")
            });
        }
    }
    Ok(())
}

fn scope_label(s: Scope) -> &'static str {
    match s {
        Scope::Ip => "client IP",
        Scope::Prefix => "prefix",
        Scope::Country => "country",
        Scope::Tenant => "tenant",
        Scope::TenantDay => "tenant, today",
        _ => "all tenants",
    }
}

fn budget_json(b: &BudgetUsage) -> Value {
    json!({
        "budget": b.scope.as_str(), "subject": b.subject, "used": b.used,
        "limit": b.limit, "windowSeconds": b.window.num_seconds(),
    })
}

fn budget_line(b: &BudgetUsage) -> String {
    let subject = match b.scope {
        Scope::Country => b
            .subject
            .parse()
            .map_or_else(|_| b.subject.clone(), country_label),
        _ => b.subject.clone(),
    };
    let window = if b.scope == Scope::TenantDay {
        "UTC day".to_string()
    } else {
        format!("{} min", b.window.num_minutes())
    };
    format!(
        "  {:14} {:24} {:>6} / {:<6} per {window}",
        scope_label(b.scope),
        subject,
        b.used,
        b.limit
    )
}

pub async fn abuse(cx: &Context, cmd: AbuseCommand) -> Result<()> {
    let (app, t) = (&cx.app, &cx.tenant);
    match cmd {
        AbuseCommand::Status => {
            let s = ab::status(app, t).await.map_err(fail)?;
            let pauses: Vec<Value> = s
                .pauses
                .iter()
                .map(|p| {
                    json!({
                        "key": p.subject.as_ref().map(ToString::to_string), "until": p.pause.until,
                        "reason": p.pause.reason, "createdAt": p.pause.created_at,
                    })
                })
                .collect();
            let v = json!({
                "at": s.at,
                "budgets": s.budgets.iter().map(budget_json).collect::<Vec<_>>(),
                "pauses": pauses,
                "locks": s.locks,
            });
            emit(cx, v, || {
                crate::out!(
                    "tenant {} at {}",
                    t.name,
                    s.at.format("%Y-%m-%d %H:%M:%S UTC")
                );
                crate::out!("budgets (sends counted / limit):");
                s.budgets
                    .iter()
                    .for_each(|b| crate::out!("{}", budget_line(b)));
                if s.pauses.is_empty() {
                    crate::out!("pauses: none");
                } else {
                    crate::out!("pauses (resume with `textid abuse resume KEY`):");
                }
                for p in &s.pauses {
                    let key = p
                        .subject
                        .as_ref()
                        .map_or_else(|| p.pause.key.clone(), ToString::to_string);
                    crate::out!(
                        "  {key:24} until {}  ({})",
                        p.pause.until.format("%Y-%m-%d %H:%M:%S UTC"),
                        p.pause.reason
                    );
                }
                crate::out!("locks: {} (see `textid lock list`)", s.locks);
            });
        }
        AbuseCommand::Resume { key } => {
            let subject = ab::resume(app, t, &key, &Actor::cli())
                .await
                .map_err(fail)?;
            emit(
                cx,
                json!({ "key": subject.to_string(), "resumed": true }),
                || crate::out!("resumed sending to {subject}"),
            );
        }
    }
    Ok(())
}

pub async fn test_number(cx: &Context, cmd: TestNumberCommand) -> Result<()> {
    let (app, t) = (&cx.app, &cx.tenant);
    let enabled = app.test_numbers_enabled();
    let n_json = |n: &textid_store::TestNumber| json!({"phoneNumber": n.phone, "code": n.code, "createdAt": n.created_at});
    match cmd {
        TestNumberCommand::Add { number, code } => {
            let n = ab::add_test_number(app, t, &number, code.as_deref(), &Actor::cli())
                .await
                .map_err(fail)?;
            let mut v = n_json(&n);
            v["testNumbersEnabled"] = json!(enabled);
            emit(cx, v, || {
                crate::out!("test number {} takes code {}", n.phone, n.code);
                if !enabled {
                    crate::out!("{TEST_NUMBERS_NOTE}");
                }
            });
        }
        TestNumberCommand::Remove { number } => {
            let phone = ab::remove_test_number(app, t, &number, &Actor::cli())
                .await
                .map_err(fail)?;
            emit(cx, json!({ "phoneNumber": phone, "removed": true }), || {
                crate::out!("removed test number {phone}")
            });
        }
        TestNumberCommand::List => {
            let all = ab::test_numbers(app, t).await.map_err(fail)?;
            let v = json!({
                "value": all.iter().map(n_json).collect::<Vec<_>>(),
                "testNumbersEnabled": enabled,
            });
            emit(cx, v, || {
                if all.is_empty() {
                    crate::out!("no test numbers in tenant {}", t.name);
                }
                all.iter()
                    .for_each(|n| crate::out!("{:16} code {}", n.phone, n.code));
                if !enabled {
                    crate::out!("{TEST_NUMBERS_NOTE}");
                }
            });
        }
    }
    Ok(())
}

fn list_json(list: Option<&[u16]>) -> Value {
    json!({ "textidAllowedCountryCodes": list })
}

fn list_line(cx: &Context, list: Option<&[u16]>) -> String {
    match list {
        Some(l) => {
            let names: Vec<String> = l.iter().map(|c| country_label(*c)).collect();
            format!("codes are sent to: {}", names.join(", "))
        }
        None => match cx.tenant.default_region.as_deref() {
            Some(r) => format!(
                "no allow-list: codes are sent to the tenant's region {r} only"
            ),
            None => "no allow-list: codes are sent to every geographic country (not +881/+882/+883 and the other non-geographic codes)".into(),
        },
    }
}

pub async fn allowed_countries(cx: &Context, cmd: AllowedCountriesCommand) -> Result<()> {
    let (app, t) = (&cx.app, &cx.tenant);
    let change = match cmd {
        AllowedCountriesCommand::Show => {
            let list = ab::allowed_countries(app, t).await.map_err(fail)?;
            emit(cx, list_json(list.as_deref()), || {
                crate::out!("{}", list_line(cx, list.as_deref()))
            });
            return Ok(());
        }
        AllowedCountriesCommand::Set { countries } => AllowListChange::Set(countries),
        AllowedCountriesCommand::Add { countries } => AllowListChange::Add(countries),
        AllowedCountriesCommand::Remove { countries } => AllowListChange::Remove(countries),
        AllowedCountriesCommand::Clear => AllowListChange::Clear,
    };
    let list = ab::change_allowed_countries(app, t, change, &Actor::cli())
        .await
        .map_err(fail)?;
    emit(cx, list_json(list.as_deref()), || {
        crate::out!("{}", list_line(cx, list.as_deref()))
    });
    Ok(())
}

/// The admin note of each phone method whose number gets no code, for `user show` and
/// `phone list`.
pub async fn notes(cx: &Context, methods: &[PhoneMethodView]) -> Result<Vec<Option<Withheld>>> {
    ab::withheld(&cx.app, &cx.tenant, methods)
        .await
        .map_err(fail)
}
