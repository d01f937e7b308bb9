//! `textid user|group|phone|tenant|outbox|logs`.

use anyhow::Result;
use clap::Subcommand;
use serde_json::{json, Value};
use textid_core::abuse_view::Withheld;
use textid_core::methods::PhoneType;
use textid_server::App;
use textid_store::{Actor, DeletedKind, DeletedObject};
use textid_usecases::deleted_items;
use textid_usecases::directory as dir;

use super::output::{group_json, phone_json, phone_line, print_json, user_json, user_line};
use super::Context;

#[derive(Debug, Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Create {
        /// userPrincipalName, e.g. ana@contoso.example
        #[arg(long)]
        upn: String,
        /// Display name.
        #[arg(long)]
        display_name: String,
    },
    /// List users.
    List {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a user with their groups and phone methods.
    Show {
        /// Id or userPrincipalName.
        user: String,
    },
    /// Block sign-in.
    Disable {
        /// Id or userPrincipalName.
        user: String,
    },
    /// Allow sign-in again.
    Enable {
        /// Id or userPrincipalName.
        user: String,
    },
    /// Delete a user: kept with their methods for 30 days, restorable (`user restore`),
    /// their numbers reserved meanwhile (Entra's deleted items).
    Delete {
        /// Id or userPrincipalName.
        user: String,
    },
    /// List deleted users, restorable until 30 days after their deletion.
    Deleted {
        /// At most this many.
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Restore a deleted user with their phone methods and group memberships.
    Restore {
        /// Id of the deleted user.
        id: uuid::Uuid,
    },
    /// Delete a deleted user for good: their numbers are free again.
    Purge {
        /// Id of the deleted user.
        id: uuid::Uuid,
    },
    /// End every session of a user (API and browser) and revoke every refresh token and
    /// access token issued to them (Graph's revokeSignInSessions).
    RevokeSessions {
        /// Id or userPrincipalName.
        user: String,
    },
    /// Give a person a directory role for the admin API ("Global Administrator",
    /// "Authentication Administrator", "Authentication Policy Administrator", "Global Reader").
    GrantRole {
        /// Id or userPrincipalName.
        user: String,
        /// The role.
        role: String,
    },
    /// Take a directory role away.
    RevokeRole {
        /// Id or userPrincipalName.
        user: String,
        /// The role.
        role: String,
    },
    /// Set a user's password, read from standard input (one line), or generated with
    /// --generate and printed once. 8 to 256 characters, not one of the 10,000 most common
    /// passwords. Ends the user's sessions.
    SetPassword {
        /// Id or userPrincipalName.
        user: String,
        /// Generate a random password (16 characters) and print it.
        #[arg(long)]
        generate: bool,
        /// The user must choose a new password at their next sign-in.
        #[arg(long)]
        force_change: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum GroupCommand {
    /// Create a group.
    Create {
        /// Display name.
        name: String,
    },
    /// List groups.
    List,
    /// Show a group and its members.
    Show {
        /// Id or display name.
        group: String,
    },
    /// Add a member.
    AddMember {
        /// Id or display name.
        group: String,
        /// User id or userPrincipalName.
        user: String,
    },
    /// Remove a member.
    RemoveMember {
        /// Id or display name.
        group: String,
        /// User id or userPrincipalName.
        user: String,
    },
    /// Delete a group.
    Delete {
        /// Id or display name.
        group: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum PhoneCommand {
    /// List a user's phone methods with their smsSignInState.
    List {
        /// User id or userPrincipalName.
        user: String,
    },
    /// Add a phone method.
    Add {
        /// User id or userPrincipalName.
        user: String,
        /// mobile, alternateMobile or office.
        #[arg(long = "type", default_value = "mobile")]
        phone_type: PhoneType,
        /// The number, e.g. "+1 4255550101" (office: "+1 4255550101 x123").
        #[arg(long)]
        number: String,
    },
    /// Change the number of a phone method.
    Update {
        /// User id or userPrincipalName.
        user: String,
        /// mobile, alternateMobile or office.
        #[arg(long = "type", default_value = "mobile")]
        phone_type: PhoneType,
        /// The new number.
        #[arg(long)]
        number: String,
    },
    /// Delete a phone method.
    Delete {
        /// User id or userPrincipalName.
        user: String,
        /// mobile, alternateMobile or office.
        #[arg(long = "type", default_value = "mobile")]
        phone_type: PhoneType,
    },
    /// Switch SMS sign-in on for the user's mobile number.
    EnableSmsSignIn {
        /// User id or userPrincipalName.
        user: String,
    },
    /// Switch SMS sign-in off for the user's mobile number.
    DisableSmsSignIn {
        /// User id or userPrincipalName.
        user: String,
    },
    /// The shared-number report: every number held by more than one user (on any
    /// method types), with the users, method types and smsSignInStates.
    Shared,
    /// The report of skipped copies: synced users' public numbers seed 003's rule 1 could
    /// not copy into their empty authentication number (e.g. another user signs in with
    /// it) and that are still not copied, newest first.
    SkippedCopies,
}

#[derive(Debug, Subcommand)]
pub enum TenantCommand {
    /// Create a tenant (its SMS policy starts disabled).
    Create {
        /// Short name used in URLs: a-z, 0-9, '-' and '_'.
        name: String,
    },
    /// Set the region in which numbers without a country code are read (e.g. US, FI), or
    /// `none` to accept international numbers only (the default).
    SetRegion {
        /// The tenant.
        name: String,
        /// ISO 3166 alpha-2 region, or none.
        region: String,
    },
    /// Show a tenant's settings: region, sign-in API origins, refuse-shared mode.
    Show {
        /// The tenant.
        name: String,
    },
    /// Refuse-shared mode: `true` refuses any phone number another user of the tenant
    /// already holds on any method type (Graph, CLI and import alike); `false` (the
    /// default, as in Entra) allows sharing outside SMS sign-in. Numbers already shared
    /// stay: list them with `textid phone shared`.
    SetRefuseSharedPhoneNumbers {
        /// The tenant.
        name: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        refuse: bool,
    },
    /// Require a second factor (a code to the user's mobile) for every password sign-in
    /// to any app of the tenant (`true`), or only where the app requires it (`false`, the
    /// default).
    SetRequireMfa {
        /// The tenant.
        name: String,
        /// true or false.
        #[arg(action = clap::ArgAction::Set)]
        require: bool,
    },
    /// Set the web origins whose pages may call the tenant's JSON sign-in API directly
    /// (CORS), e.g. `https://app.contoso.example`; none (the default): no browser page of
    /// another origin may. The OpenID Connect endpoints take their origins from each app.
    SetSignInOrigins {
        /// The tenant.
        name: String,
        /// Origins (`scheme://host[:port]`); give none to remove them all.
        origins: Vec<String>,
    },
}

#[derive(Debug, Subcommand)]
pub enum OutboxCommand {
    /// Recent messages with their delivery status (never their text).
    List {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Debug, Subcommand)]
pub enum LogsCommand {
    /// Recent sign-in attempts.
    SignIns {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
    /// Recent directory changes.
    Audits {
        /// At most this many.
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

/// Phone methods, Graph-shaped, each with `textidNote` when no code goes to its number
/// (the admin view's note; Graph's own phone method stays Entra-shaped).
fn phones_json(methods: &[dir::PhoneMethodView], notes: &[Option<Withheld>]) -> Value {
    let all: Vec<Value> = methods
        .iter()
        .zip(notes)
        .map(|(m, note)| {
            let mut v = phone_json(m);
            if let Some(n) = note {
                v["textidNote"] = json!(n.to_string());
            }
            v
        })
        .collect();
    json!(all)
}

fn print_phones(methods: &[dir::PhoneMethodView], notes: &[Option<Withheld>], indent: &str) {
    for (m, note) in methods.iter().zip(notes) {
        crate::out!("{indent}{}", phone_line(m));
        if let Some(n) = note {
            crate::out!("{indent}    {n}");
        }
    }
}

fn emit(cx: &Context, value: Value, human: impl FnOnce()) {
    if cx.json {
        print_json(&value);
    } else {
        human();
    }
}

pub async fn user(cx: &Context, cmd: UserCommand) -> Result<()> {
    let (app, t, actor) = (&cx.app, &cx.tenant, Actor::cli());
    match cmd {
        UserCommand::Create { upn, display_name } => {
            let u = dir::create_user(app, t, &upn, &display_name, &actor).await?;
            emit(cx, user_json(&u), || {
                crate::out!("created user {}", user_line(&u))
            });
        }
        UserCommand::List { limit } => {
            let users = dir::list_users(app, t, None, limit).await?;
            emit(
                cx,
                json!({"value": users.iter().map(user_json).collect::<Vec<_>>()}),
                || {
                    users.iter().for_each(|u| crate::out!("{}", user_line(u)));
                },
            );
        }
        UserCommand::Show { user } => {
            let u = dir::find_user(app, t, &user).await?;
            let methods = dir::phone_methods(app, t, u.id).await?;
            let groups = app.store().groups_of(t.id, u.id).await?;
            let notes = super::abuse::notes(cx, &methods).await?;
            let mut v = user_json(&u);
            v["groups"] = json!(groups);
            v["phoneMethods"] = phones_json(&methods, &notes);
            emit(cx, v, || {
                crate::out!("{}", user_line(&u));
                groups.iter().for_each(|g| crate::out!("  group {g}"));
                print_phones(&methods, &notes, "  ");
            });
        }
        UserCommand::Disable { user } => set_enabled(cx, &user, false).await?,
        UserCommand::Enable { user } => set_enabled(cx, &user, true).await?,
        UserCommand::GrantRole { user, role } | UserCommand::RevokeRole { user, role }
            if !textid_server::graph::auth::ROLES
                .iter()
                .any(|(r, _)| *r == role) =>
        {
            let known: Vec<&str> = textid_server::graph::auth::ROLES
                .iter()
                .map(|(r, _)| *r)
                .collect();
            return Err(super::UsageError(format!(
                "unknown role '{role}' (for {user}); use one of: {}",
                known.join(", ")
            ))
            .into());
        }
        UserCommand::GrantRole { user, role } => {
            let u = dir::find_user(app, t, &user).await?;
            app.store()
                .set_user_role(t.id, u.id, &role, true, &actor, app.clock().now())
                .await?;
            emit(cx, json!({"userId": u.id, "role": role}), || {
                crate::out!("{} is now {role}", u.upn)
            });
        }
        UserCommand::RevokeRole { user, role } => {
            let u = dir::find_user(app, t, &user).await?;
            app.store()
                .set_user_role(t.id, u.id, &role, false, &actor, app.clock().now())
                .await?;
            emit(cx, json!({"userId": u.id, "role": role}), || {
                crate::out!("{} is no longer {role}", u.upn)
            });
        }
        UserCommand::RevokeSessions { user } => {
            let u = dir::find_user(app, t, &user).await?;
            textid_server::session::revoke_user_sessions(app, t, u.id, &actor).await?;
            emit(cx, json!({"userId": u.id, "value": true}), || {
                crate::out!("ended every session of {}", u.upn)
            });
        }
        UserCommand::SetPassword {
            user,
            generate,
            force_change,
        } => set_password(cx, &user, generate, force_change).await?,
        UserCommand::Delete { user } => {
            let u = dir::find_user(app, t, &user).await?;
            dir::delete_user(app, t, u.id, &actor).await?;
            emit(cx, json!({"deleted": u.id}), || {
                crate::out!(
                    "deleted user {} (restorable for 30 days: textid user restore {})",
                    u.upn,
                    u.id
                )
            });
        }
        UserCommand::Deleted { limit } => deleted_users(cx, limit).await?,
        UserCommand::Restore { id } => {
            let item = deleted_items::restore(app, t, id, &actor).await?;
            if let DeletedObject::User(u) = &item.object {
                emit(cx, user_json(u), || crate::out!("restored user {}", u.upn));
            }
        }
        UserCommand::Purge { id } => {
            deleted_items::purge(app, t, id, &actor).await?;
            emit(cx, json!({"purged": id}), || {
                crate::out!("deleted user {id} for good")
            });
        }
    }
    Ok(())
}

async fn set_password(cx: &Context, key: &str, generate: bool, force_change: bool) -> Result<()> {
    use textid_core::password::Password;
    let u = dir::find_user(&cx.app, &cx.tenant, key).await?;
    let password = if generate {
        Password::generate(&mut rand::rngs::OsRng)
    } else {
        let mut line = String::new();
        std::io::stdin()
            .read_line(&mut line)
            .map_err(|e| anyhow::anyhow!("reading the password from standard input: {e}"))?;
        let line = line.strip_suffix('\n').unwrap_or(&line);
        let line = line.strip_suffix('\r').unwrap_or(line);
        Password::parse(line).map_err(|e| super::UsageError(e.to_string()))?
    };
    textid_usecases::password::set_by_admin(
        &cx.app,
        &cx.tenant,
        u.id,
        Some(&password),
        force_change,
        &Actor::cli(),
    )
    .await
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    let shown = generate.then(|| password.expose().to_owned());
    emit(
        cx,
        json!({"userId": u.id, "password": shown, "forceChangePasswordNextSignIn": force_change}),
        || {
            crate::out!("set the password of {}", u.upn);
            if let Some(p) = &shown {
                crate::out!("password: {p}");
            }
        },
    );
    Ok(())
}

async fn deleted_users(cx: &Context, limit: u32) -> Result<()> {
    let items = deleted_items::list(&cx.app, &cx.tenant, DeletedKind::User, None, limit).await?;
    let rows: Vec<(textid_core::directory::User, String)> = items
        .into_iter()
        .filter_map(|i| match i.object {
            DeletedObject::User(u) => Some((u, i.deleted_at.to_rfc3339())),
            DeletedObject::Group(_) => None,
        })
        .collect();
    let json_rows: Vec<Value> = rows
        .iter()
        .map(|(u, at)| {
            let mut v = user_json(u);
            v["deletedDateTime"] = json!(at);
            v
        })
        .collect();
    emit(cx, json!({"value": json_rows}), || {
        for (u, at) in &rows {
            crate::out!("{}  deleted {at}", user_line(u));
        }
    });
    Ok(())
}

async fn set_enabled(cx: &Context, key: &str, enabled: bool) -> Result<()> {
    let mut u = dir::find_user(&cx.app, &cx.tenant, key).await?;
    u.account_enabled = enabled;
    dir::update_user(&cx.app, &u, &Actor::cli()).await?;
    emit(cx, user_json(&u), || {
        crate::out!(
            "{} user {}",
            if enabled { "enabled" } else { "disabled" },
            u.upn
        )
    });
    Ok(())
}

pub async fn group(cx: &Context, cmd: GroupCommand) -> Result<()> {
    let (app, t, actor) = (&cx.app, &cx.tenant, Actor::cli());
    match cmd {
        GroupCommand::Create { name } => {
            let g = dir::create_group(app, t, &name, &actor).await?;
            emit(cx, group_json(&g), || {
                crate::out!("created group {}  {}", g.id, g.display_name)
            });
        }
        GroupCommand::List => {
            let groups = app.store().list_groups(t.id).await?;
            emit(
                cx,
                json!({"value": groups.iter().map(group_json).collect::<Vec<_>>()}),
                || {
                    groups
                        .iter()
                        .for_each(|g| crate::out!("{}  {}", g.id, g.display_name));
                },
            );
        }
        GroupCommand::Show { group } => {
            let g = dir::find_group(app, t, &group).await?;
            let members = app.store().members(t.id, g.id).await?;
            let mut v = group_json(&g);
            v["members"] = json!(members.iter().map(user_json).collect::<Vec<_>>());
            emit(cx, v, || {
                crate::out!("{}  {}", g.id, g.display_name);
                members
                    .iter()
                    .for_each(|u| crate::out!("  {}", user_line(u)));
            });
        }
        GroupCommand::AddMember { group, user } => {
            let (g, u) = (
                dir::find_group(app, t, &group).await?,
                dir::find_user(app, t, &user).await?,
            );
            dir::add_member(app, t, g.id, u.id, &actor).await?;
            emit(cx, json!({"groupId": g.id, "userId": u.id}), || {
                crate::out!("added {} to {}", u.upn, g.display_name)
            });
        }
        GroupCommand::RemoveMember { group, user } => {
            let (g, u) = (
                dir::find_group(app, t, &group).await?,
                dir::find_user(app, t, &user).await?,
            );
            dir::remove_member(app, t, g.id, u.id, &actor).await?;
            emit(cx, json!({"groupId": g.id, "userId": u.id}), || {
                crate::out!("removed {} from {}", u.upn, g.display_name)
            });
        }
        GroupCommand::Delete { group } => {
            let g = dir::find_group(app, t, &group).await?;
            app.store()
                .delete_group(t.id, g.id, &actor, app.clock().now())
                .await?;
            emit(cx, json!({"deleted": g.id}), || {
                crate::out!("deleted group {}", g.display_name)
            });
        }
    }
    Ok(())
}

pub async fn phone(cx: &Context, cmd: PhoneCommand) -> Result<()> {
    let (app, t, actor) = (&cx.app, &cx.tenant, Actor::cli());
    let show = |m: &dir::PhoneMethodView, verb: &str| {
        emit(cx, phone_json(m), || {
            crate::out!("{verb} {}", phone_line(m))
        })
    };
    match cmd {
        PhoneCommand::List { user } => {
            let u = dir::find_user(app, t, &user).await?;
            let methods = dir::phone_methods(app, t, u.id).await?;
            let notes = super::abuse::notes(cx, &methods).await?;
            emit(cx, json!({"value": phones_json(&methods, &notes)}), || {
                if methods.is_empty() {
                    crate::out!("{} has no phone methods", u.upn);
                }
                print_phones(&methods, &notes, "");
            });
        }
        PhoneCommand::Add {
            user,
            phone_type,
            number,
        } => {
            let u = dir::find_user(app, t, &user).await?;
            show(
                &dir::add_phone_method(app, t, u.id, phone_type, &number, &actor).await?,
                "added",
            );
        }
        PhoneCommand::Update {
            user,
            phone_type,
            number,
        } => {
            let u = dir::find_user(app, t, &user).await?;
            show(
                &dir::update_phone_method(app, t, u.id, phone_type, &number, &actor).await?,
                "updated",
            );
        }
        PhoneCommand::Delete { user, phone_type } => {
            let u = dir::find_user(app, t, &user).await?;
            dir::delete_phone_method(app, t, u.id, phone_type, &actor).await?;
            emit(cx, json!({"deleted": phone_type.method_id()}), || {
                crate::out!("deleted {phone_type} of {}", u.upn)
            });
        }
        PhoneCommand::EnableSmsSignIn { user } => {
            let u = dir::find_user(app, t, &user).await?;
            show(
                &dir::set_sms_sign_in(app, t, u.id, PhoneType::Mobile, true, &actor).await?,
                "enabled SMS sign-in:",
            );
        }
        PhoneCommand::Shared => {
            let report = dir::shared_numbers(app, t).await?;
            emit(
                cx,
                json!({"value": report.iter().map(shared_json).collect::<Vec<_>>()}),
                || {
                    if report.is_empty() {
                        crate::out!("no number is held by more than one user");
                    }
                    for n in &report {
                        crate::out!("{}  held by {} methods", n.number, n.holders.len());
                        for h in &n.holders {
                            crate::out!(
                                "  {:32} {:16} {:24} smsSignInState={}",
                                h.holder.upn.as_str(),
                                h.holder.method.phone_type.as_str(),
                                h.holder.method.number.to_string(),
                                h.sms_sign_in_state.as_str()
                            );
                        }
                    }
                },
            );
        }
        PhoneCommand::SkippedCopies => {
            let report = textid_usecases::provisioning::skipped_number_copies(app, t).await?;
            emit(
                cx,
                json!({"value": report.iter().map(skipped_json).collect::<Vec<_>>()}),
                || {
                    if report.is_empty() {
                        crate::out!("no public number is waiting to be copied");
                    }
                    for r in &report {
                        crate::out!(
                            "{:32} {:8} {:20} {:24} held by {} at {}",
                            r.upn.as_str(),
                            r.copy.phone_type.as_str(),
                            r.copy.phone_number,
                            r.copy.reason,
                            r.other_upn.as_ref().map_or("-", |u| u.as_str()),
                            r.copy
                                .skipped_at
                                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
                        );
                    }
                },
            );
        }
        PhoneCommand::DisableSmsSignIn { user } => {
            let u = dir::find_user(app, t, &user).await?;
            show(
                &dir::set_sms_sign_in(app, t, u.id, PhoneType::Mobile, false, &actor).await?,
                "disabled SMS sign-in:",
            );
        }
    }
    Ok(())
}

/// One number of the shared-number report, shaped as the Graph report's entries.
fn shared_json(n: &dir::SharedNumberView) -> Value {
    json!({
        "phoneNumber": n.number.to_string(),
        "holders": n.holders.iter().map(|h| json!({
            "userId": h.holder.method.user_id,
            "userPrincipalName": h.holder.upn,
            "userDisplayName": h.holder.display_name,
            "phoneType": h.holder.method.phone_type,
            "phoneNumber": h.holder.method.number.to_string(),
            "smsSignInState": h.sms_sign_in_state,
        })).collect::<Vec<_>>(),
    })
}

/// One entry of the report of skipped copies, shaped as the Graph report's entries.
fn skipped_json(r: &textid_store::SkippedCopyRow) -> Value {
    json!({
        "userId": r.copy.user,
        "userPrincipalName": r.upn,
        "phoneType": r.copy.phone_type,
        "phoneNumber": r.copy.phone_number,
        "reason": r.copy.reason,
        "conflictingUserId": r.copy.other_user,
        "conflictingUserPrincipalName": r.other_upn,
        "skippedDateTime": r.copy.skipped_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
    })
}

pub async fn tenant(app: &App, cmd: TenantCommand, json_out: bool) -> Result<()> {
    match cmd {
        TenantCommand::Show { name } => {
            let t = app
                .store()
                .tenant_by_name(&name)
                .await?
                .ok_or_else(|| super::UsageError(format!("no tenant named '{name}'")))?;
            if json_out {
                print_json(&json!({
                    "id": t.id, "name": t.name, "defaultRegion": t.default_region,
                    "signInOrigins": t.sign_in_origins,
                    "refuseSharedPhoneNumbers": t.refuse_shared_phone_numbers,
                    "requireMfa": t.require_mfa,
                }));
            } else {
                crate::out!("tenant {}  {}", t.id, t.name);
                crate::out!(
                    "  default region: {}",
                    t.default_region.as_deref().unwrap_or("none")
                );
                crate::out!("  sign-in API origins: {}", t.sign_in_origins.join(" "));
                crate::out!(
                    "  refuse shared phone numbers: {}",
                    t.refuse_shared_phone_numbers
                );
                crate::out!("  require MFA: {}", t.require_mfa);
            }
        }
        TenantCommand::SetRefuseSharedPhoneNumbers { name, refuse } => {
            let t = app
                .store()
                .tenant_by_name(&name)
                .await?
                .ok_or_else(|| super::UsageError(format!("no tenant named '{name}'")))?;
            dir::set_refuse_shared_phone_numbers(app, &t, refuse, &Actor::cli()).await?;
            if json_out {
                print_json(
                    &json!({"id": t.id, "name": t.name, "refuseSharedPhoneNumbers": refuse}),
                );
            } else if refuse {
                crate::out!(
                    "tenant {}: a phone number another user holds is now refused",
                    t.name
                );
            } else {
                crate::out!(
                    "tenant {}: phone numbers may be shared outside SMS sign-in (Entra's default)",
                    t.name
                );
            }
        }
        TenantCommand::SetRequireMfa { name, require } => {
            let t = app
                .store()
                .tenant_by_name(&name)
                .await?
                .ok_or_else(|| super::UsageError(format!("no tenant named '{name}'")))?;
            textid_usecases::password::set_tenant_require_mfa(app, &t, require, &Actor::cli())
                .await?;
            if json_out {
                print_json(&json!({"id": t.id, "name": t.name, "requireMfa": require}));
            } else if require {
                crate::out!(
                    "tenant {}: every password sign-in needs a second factor",
                    t.name
                );
            } else {
                crate::out!(
                    "tenant {}: a password sign-in needs a second factor only where the app requires it",
                    t.name
                );
            }
        }
        TenantCommand::Create { name } => {
            if let Err(e) = textid_core::tenant::check_tenant_name(&name) {
                return Err(super::UsageError(e.to_string()).into());
            }
            let t = app.store().ensure_tenant(&name, app.clock().now()).await?;
            if json_out {
                print_json(&json!({"id": t.id, "name": t.name}));
            } else {
                crate::out!("tenant {}  {}", t.id, t.name);
            }
        }
        TenantCommand::SetSignInOrigins { name, origins } => {
            let t = app
                .store()
                .tenant_by_name(&name)
                .await?
                .ok_or_else(|| super::UsageError(format!("no tenant named '{name}'")))?;
            let mut parsed = origins
                .iter()
                .map(|o| {
                    textid_oidc::WebOrigin::parse(o)
                        .map(String::from)
                        .map_err(|e| super::UsageError(format!("origin '{o}': {e}")))
                })
                .collect::<Result<Vec<_>, _>>()?;
            parsed.sort();
            parsed.dedup();
            app.store()
                .set_tenant_sign_in_origins(t.id, &parsed, &Actor::cli(), app.clock().now())
                .await?;
            if json_out {
                print_json(&json!({"id": t.id, "name": t.name, "signInOrigins": parsed}));
            } else if parsed.is_empty() {
                crate::out!(
                    "tenant {}: no page of another origin may call the sign-in API",
                    t.name
                );
            } else {
                crate::out!(
                    "tenant {}: the sign-in API accepts pages of {}",
                    t.name,
                    parsed.join(", ")
                );
            }
        }
        TenantCommand::SetRegion { name, region } => {
            let t = app
                .store()
                .tenant_by_name(&name)
                .await?
                .ok_or_else(|| super::UsageError(format!("no tenant named '{name}'")))?;
            let region = match region.to_ascii_uppercase().as_str() {
                "NONE" => None,
                r if textid_core::phone::is_known_region(r) => Some(r.to_string()),
                _ => {
                    return Err(super::UsageError(format!(
                        "'{region}' is not a region; use an ISO 3166 code like US or FI, or none"
                    ))
                    .into())
                }
            };
            app.store()
                .set_tenant_region(t.id, region.as_deref(), &Actor::cli(), app.clock().now())
                .await?;
            if json_out {
                print_json(&json!({"id": t.id, "name": t.name, "defaultRegion": region}));
            } else {
                crate::out!(
                    "tenant {} reads national numbers in {}",
                    t.name,
                    region
                        .as_deref()
                        .unwrap_or("no region (international form only)")
                );
            }
        }
    }
    Ok(())
}

pub async fn outbox(cx: &Context, cmd: OutboxCommand) -> Result<()> {
    let OutboxCommand::List { limit } = cmd;
    let messages = cx.app.store().list_messages(cx.tenant.id, limit).await?;
    emit(cx, json!({"value": messages}), || {
        for m in &messages {
            // The carrier's receipt, when one came: `receipt=delivered` or
            // `receipt=failed(twilio error 30003)`.
            let receipt = match (&m.receipt_status, &m.receipt_reason) {
                (Some(s), Some(r)) => format!(" receipt={s}({r})"),
                (Some(s), None) => format!(" receipt={s}"),
                (None, _) => String::new(),
            };
            let via = m
                .provider
                .as_deref()
                .map_or(String::new(), |p| format!(" via={p}"));
            crate::out!(
                "{}  {}  {:10} {:9} tries={} {}{via}{receipt}",
                m.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                m.id,
                m.kind,
                m.status,
                m.attempts,
                m.to
            );
        }
    });
    Ok(())
}

pub async fn logs(cx: &Context, cmd: LogsCommand) -> Result<()> {
    match cmd {
        LogsCommand::SignIns { limit } => {
            let entries = cx
                .app
                .store()
                .sign_in_logs(cx.tenant.id, &textid_store::LogQuery::latest(limit))
                .await?;
            emit(cx, json!({"value": entries}), || {
                for e in &entries {
                    crate::out!(
                        "{}  {:13} {:7} {:18} phone={} user={} ip={}",
                        e.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        e.event,
                        e.result,
                        e.failure_reason.as_deref().unwrap_or("-"),
                        e.phone.as_deref().unwrap_or("-"),
                        e.user_id
                            .map(|u| u.to_string())
                            .unwrap_or_else(|| "-".into()),
                        e.client_ip.as_deref().unwrap_or("-")
                    );
                }
            });
        }
        LogsCommand::Audits { limit } => {
            let entries = cx
                .app
                .store()
                .directory_audits(cx.tenant.id, &textid_store::LogQuery::latest(limit))
                .await?;
            emit(cx, json!({"value": entries}), || {
                for e in &entries {
                    crate::out!(
                        "{}  {}:{}  {}  {} {}",
                        e.created_at.format("%Y-%m-%dT%H:%M:%SZ"),
                        e.actor.kind,
                        e.actor.id,
                        e.activity,
                        e.target_type,
                        e.target_id
                    );
                }
            });
        }
    }
    Ok(())
}
