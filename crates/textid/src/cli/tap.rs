//! `textid tap create|show|delete`: a user's Temporary Access Pass, issued on the policy's
//! terms by the same use case as Graph's `temporaryAccessPassMethods`.

use anyhow::Result;
use chrono::{DateTime, Duration, Utc};
use clap::Subcommand;
use serde_json::{json, Value};
use textid_core::tap::PassRequest;
use textid_store::{Actor, TapRecord};
use textid_usecases::directory as dir;
use textid_usecases::passes;

use super::output::print_json;
use super::Context;

#[derive(Debug, Subcommand)]
pub enum TapCommand {
    /// Issue a pass (replacing the user's previous one) and print it: it is shown only
    /// now. Refused for a disabled account, a user the policy's Temporary Access Pass
    /// method does not cover, and terms outside the policy's bounds.
    Create {
        /// User id or userPrincipalName.
        user: String,
        /// Lifetime in minutes (default: the policy's defaultLifetimeInMinutes).
        #[arg(long)]
        lifetime: Option<u32>,
        /// When it starts to work, RFC 3339 (default: now).
        #[arg(long)]
        start: Option<DateTime<Utc>>,
        /// One-time: the first sign-in ends it.
        #[arg(long, conflicts_with = "multi_use")]
        once: bool,
        /// Usable until it expires (refused when the policy requires one-time passes).
        #[arg(long)]
        multi_use: bool,
    },
    /// Show the user's pass: its terms and whether it works now (never the pass).
    Show {
        /// User id or userPrincipalName.
        user: String,
    },
    /// Delete the user's pass.
    Delete {
        /// User id or userPrincipalName.
        user: String,
    },
}

fn pass_json(t: &TapRecord, pass: Option<&str>, now: DateTime<Utc>) -> Value {
    let usability = t.usability(now);
    json!({
        "id": t.id,
        "userId": t.user_id,
        "temporaryAccessPass": pass,
        "createdDateTime": t.created_at,
        "startDateTime": t.start_at,
        "lifetimeInMinutes": t.lifetime_minutes,
        "isUsableOnce": t.is_usable_once,
        "isUsable": usability.is_usable(),
        "methodUsabilityReason": usability.reason(),
    })
}

fn print_terms(t: &TapRecord, now: DateTime<Utc>) {
    let end = t.start_at + Duration::minutes(i64::from(t.lifetime_minutes));
    let once = if t.is_usable_once {
        "one-time"
    } else {
        "multi-use"
    };
    crate::out!(
        "  id {}\n  valid {} to {} ({} minutes, {once})\n  now {}",
        t.id,
        t.start_at.to_rfc3339(),
        end.to_rfc3339(),
        t.lifetime_minutes,
        t.usability(now).reason()
    );
}

pub async fn run(cx: &Context, cmd: TapCommand) -> Result<()> {
    let (app, t, actor) = (&cx.app, &cx.tenant, Actor::cli());
    let now = app.clock().now();
    match cmd {
        TapCommand::Create {
            user,
            lifetime,
            start,
            once,
            multi_use,
        } => {
            let u = dir::find_user(app, t, &user).await?;
            let request = PassRequest {
                start,
                lifetime_minutes: lifetime,
                is_usable_once: (once || multi_use).then_some(once),
            };
            let issued = passes::create_pass(app, t, u.id, request, &actor).await?;
            let (pass, at) = (issued.pass.expose(), issued.record.created_at);
            if cx.json {
                print_json(&pass_json(&issued.record, Some(pass), at));
            } else {
                crate::out!("Temporary Access Pass for {}: {pass}", u.upn);
                print_terms(&issued.record, at);
                crate::out!("  (shown only now; textid keeps only its hash)");
            }
        }
        TapCommand::Show { user } => {
            let u = dir::find_user(app, t, &user).await?;
            match passes::pass_of(app, t, u.id).await? {
                Some(p) if cx.json => print_json(&pass_json(&p, None, now)),
                Some(p) => {
                    crate::out!("Temporary Access Pass of {}", u.upn);
                    print_terms(&p, now);
                }
                None if cx.json => print_json(&Value::Null),
                None => crate::out!("{} has no Temporary Access Pass", u.upn),
            }
        }
        TapCommand::Delete { user } => {
            let u = dir::find_user(app, t, &user).await?;
            if !passes::delete_pass(app, t, u.id, None, &actor).await? {
                return Err(dir::DirectoryError::NotFound {
                    what: "Temporary Access Pass of user",
                    key: u.upn.to_string(),
                }
                .into());
            }
            if cx.json {
                print_json(&json!({"deleted": true, "userId": u.id}));
            } else {
                crate::out!("deleted the Temporary Access Pass of {}", u.upn);
            }
        }
    }
    Ok(())
}
