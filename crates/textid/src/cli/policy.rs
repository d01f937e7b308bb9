//! `textid policy`: read and change the authentication methods policy.

use anyhow::Result;
use clap::{Subcommand, ValueEnum};
use textid_core::policy::{
    ExcludeTarget, MethodState, PolicyMigrationState, SmsIncludeTarget, TargetId, TargetType,
};
use textid_store::Actor;
use textid_usecases::directory as dir;

use super::output::print_json;
use super::{Context, UsageError};

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum State {
    Enabled,
    Disabled,
}

impl From<State> for MethodState {
    fn from(s: State) -> Self {
        match s {
            State::Enabled => MethodState::Enabled,
            State::Disabled => MethodState::Disabled,
        }
    }
}

#[derive(Debug, Clone, Copy, ValueEnum)]
#[allow(clippy::enum_variant_names)] // Graph's names.
pub enum Migration {
    PreMigration,
    MigrationInProgress,
    MigrationComplete,
}

#[derive(Debug, Subcommand)]
pub enum SmsCommand {
    /// The countries codes are sent to: show, set, add, remove, clear.
    #[command(subcommand)]
    AllowedCountries(super::abuse::AllowedCountriesCommand),
}

#[derive(Debug, Subcommand)]
pub enum PolicyCommand {
    /// Print the whole policy (JSON, Graph names).
    Show,
    /// Change the SMS method.
    Sms {
        /// enabled or disabled.
        #[arg(long)]
        state: Option<State>,
        /// Replace the include targets: `all_users` or a group (id or name); append
        /// `:mfa-only` to make SMS a second factor only for that target (no "use for sign-in").
        #[arg(long = "include")]
        include: Vec<String>,
        /// Replace the exclude targets with these groups (id or name); `--exclude none` clears.
        #[arg(long = "exclude")]
        exclude: Vec<String>,
        /// The countries codes are sent to (`textidAllowedCountryCodes`).
        #[command(subcommand)]
        countries: Option<SmsCommand>,
    },
    /// Change the voice method.
    Voice {
        /// enabled or disabled.
        #[arg(long)]
        state: Option<State>,
        /// Allow office phones.
        #[arg(long)]
        office_phone_allowed: Option<bool>,
    },
    /// Change the Temporary Access Pass method.
    Tap {
        /// enabled or disabled.
        #[arg(long)]
        state: Option<State>,
        /// Default lifetime in minutes.
        #[arg(long)]
        default_lifetime: Option<u32>,
        /// Minimum lifetime in minutes.
        #[arg(long)]
        minimum_lifetime: Option<u32>,
        /// Maximum lifetime in minutes.
        #[arg(long)]
        maximum_lifetime: Option<u32>,
        /// Default length of a pass.
        #[arg(long)]
        default_length: Option<u32>,
        /// Passes are one-time.
        #[arg(long)]
        usable_once: Option<bool>,
    },
    /// Set the policy migration state.
    MigrationState {
        /// The state.
        state: Migration,
    },
}

async fn group_id(cx: &Context, key: &str) -> Result<uuid::Uuid> {
    Ok(dir::find_group(&cx.app, &cx.tenant, key).await?.id.0)
}

pub async fn run(cx: &Context, cmd: PolicyCommand) -> Result<()> {
    if let PolicyCommand::Sms {
        countries: Some(SmsCommand::AllowedCountries(c)),
        state,
        include,
        exclude,
    } = cmd
    {
        if state.is_some() || !include.is_empty() || !exclude.is_empty() {
            return Err(UsageError(
                "change the allowed countries and the other SMS settings in two commands".into(),
            )
            .into());
        }
        return super::abuse::allowed_countries(cx, c).await;
    }
    let mut p = dir::policy(&cx.app, &cx.tenant).await?;
    match cmd {
        PolicyCommand::Show => {
            let v = serde_json::to_value(&p)?;
            if cx.json {
                print_json(&v);
            } else {
                crate::out!("{}", serde_json::to_string_pretty(&v)?);
                if p.sms.state == MethodState::Enabled {
                    crate::out!("\nnote: SMS is a \"restricted\" authenticator (NIST SP 800-63B); offer a stronger method beside it where you can.");
                }
            }
            return Ok(());
        }
        PolicyCommand::Sms {
            state,
            include,
            exclude,
            countries: _,
        } => {
            if let Some(s) = state {
                p.sms.state = s.into();
            }
            if !include.is_empty() {
                let mut targets = Vec::new();
                for spec in include {
                    let (key, mfa_only) = match spec.strip_suffix(":mfa-only") {
                        Some(k) => (k.to_string(), true),
                        None => (spec.clone(), false),
                    };
                    let id = if key.eq_ignore_ascii_case("all_users") {
                        TargetId::AllUsers
                    } else {
                        TargetId::Id(group_id(cx, &key).await?)
                    };
                    targets.push(SmsIncludeTarget {
                        target_type: TargetType::Group,
                        id,
                        is_usable_for_sign_in: !mfa_only,
                    });
                }
                p.sms.include_targets = targets;
            }
            if !exclude.is_empty() {
                let mut targets = Vec::new();
                for key in exclude.iter().filter(|k| !k.eq_ignore_ascii_case("none")) {
                    targets.push(ExcludeTarget {
                        target_type: TargetType::Group,
                        id: group_id(cx, key).await?,
                    });
                }
                p.sms.exclude_targets = targets;
            }
        }
        PolicyCommand::Voice {
            state,
            office_phone_allowed,
        } => {
            if let Some(s) = state {
                p.voice.state = s.into();
            }
            if let Some(o) = office_phone_allowed {
                p.voice.is_office_phone_allowed = o;
            }
        }
        PolicyCommand::Tap {
            state,
            default_lifetime,
            minimum_lifetime,
            maximum_lifetime,
            default_length,
            usable_once,
        } => {
            let t = &mut p.temporary_access_pass;
            if let Some(s) = state {
                t.state = s.into();
            }
            t.default_lifetime_in_minutes =
                default_lifetime.unwrap_or(t.default_lifetime_in_minutes);
            t.minimum_lifetime_in_minutes =
                minimum_lifetime.unwrap_or(t.minimum_lifetime_in_minutes);
            t.maximum_lifetime_in_minutes =
                maximum_lifetime.unwrap_or(t.maximum_lifetime_in_minutes);
            t.default_length = default_length.unwrap_or(t.default_length);
            t.is_usable_once = usable_once.unwrap_or(t.is_usable_once);
        }
        PolicyCommand::MigrationState { state } => {
            p.policy_migration_state = match state {
                Migration::PreMigration => PolicyMigrationState::PreMigration,
                Migration::MigrationInProgress => PolicyMigrationState::MigrationInProgress,
                Migration::MigrationComplete => PolicyMigrationState::MigrationComplete,
            };
        }
    }
    dir::put_policy(&cx.app, &cx.tenant, &p, &Actor::cli())
        .await
        .map_err(|e| UsageError(e.to_string()))?;
    let v = serde_json::to_value(&p)?;
    if cx.json {
        print_json(&v);
    } else {
        crate::out!("policy updated:\n{}", serde_json::to_string_pretty(&v)?);
    }
    Ok(())
}
