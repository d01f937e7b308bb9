//! Inbound provisioning (issue #16): users and groups written by a source directory over
//! SCIM 2.0. Every user such a client creates or changes is a synced user
//! (`on_premises_sync_enabled`), keeps the client's `externalId` and the SCIM attributes
//! the directory has no column for, and after each write of its public numbers seed 003's
//! rules ([`textid_core::directory::sync`]) decide what happens to its authentication
//! numbers: `mobilePhone` → the `mobile` method, `businessPhones[0]` → the `office` method.
//! A copy the uniqueness rule refuses leaves the method as it was, is audited as
//! `Copy public phone number skipped` and never fails the sync. Nothing is texted.

use rand::rngs::OsRng;
use serde_json::{json, Value};
use textid_core::audit::AuditRecord;
use textid_core::directory::sync::{plan_number_copy, NumberCopy};
use textid_core::directory::UserProfile;
use textid_core::directory::{Group, Upn, User};
use textid_core::methods::PhoneType;
use textid_core::phone::PhoneNumber;
use textid_core::tenant::Tenant;
use textid_core::{GroupId, UserId};
use textid_store::{Actor, ScimKind, ScimRecord, StoreError};

use crate::directory::{self as dir, DirectoryError};
use crate::Context as App;

/// A user as the source directory describes it: what one SCIM write carries.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncedUser {
    /// `userName` → userPrincipalName.
    pub upn: String,
    /// `displayName`.
    pub display_name: String,
    /// `active` → accountEnabled; `None` (not sent): enabled for a new user, unchanged
    /// for an existing one (a removed `active` never enables a disabled user).
    pub account_enabled: Option<bool>,
    /// The `mobile` phone number → mobilePhone (public, directory data).
    pub mobile_phone: Option<String>,
    /// The `work` phone number → businessPhones (public, directory data).
    pub business_phones: Vec<String>,
    /// The client's id for the user.
    pub external_id: Option<String>,
    /// The SCIM attributes with no directory column, kept as sent.
    pub attributes: Value,
}

/// A group as the source directory describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncedGroup {
    /// `displayName`.
    pub display_name: String,
    /// The member users.
    pub members: Vec<UserId>,
    /// The client's id for the group.
    pub external_id: Option<String>,
    /// The SCIM attributes kept as sent (the member objects).
    pub attributes: Value,
}

fn invalid(field: &'static str, why: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Invalid {
        field,
        message: why.to_string(),
    }
}

fn record(
    external_id: Option<String>,
    attributes: Value,
    created: Option<&ScimRecord>,
    app: &App,
) -> ScimRecord {
    let now = app.clock().now();
    ScimRecord {
        external_id,
        attributes,
        created_at: created.map_or(now, |c| c.created_at),
        modified_at: now,
    }
}

/// The enterprise user extension's schema URN.
const ENTERPRISE: &str = "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User";

/// Graph's profile properties from the SCIM attributes, as Entra's provisioning maps them
/// the other way (`name.givenName` ↔ `givenName`, `title` ↔ `jobTitle`, the enterprise
/// extension's `department` and `employeeNumber`, the primary or work e-mail ↔ `mail`,
/// `preferredLanguage`, `userType` ↔ `employeeType`, the work address). A value the
/// profile refuses is refused as the SCIM attribute it came from.
fn profile_from_scim(a: &Value) -> Result<UserProfile, DirectoryError> {
    let text = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    let mail = a
        .get("emails")
        .and_then(Value::as_array)
        .and_then(|emails| {
            emails
                .iter()
                .find(|e| e.get("primary").and_then(Value::as_bool) == Some(true))
                .or_else(|| {
                    emails
                        .iter()
                        .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                })
                .and_then(|e| text(e.get("value")))
        });
    let address = a
        .get("addresses")
        .and_then(Value::as_array)
        .and_then(|all| {
            all.iter()
                .find(|e| e.get("type").and_then(Value::as_str) == Some("work"))
                .or_else(|| all.first())
                .cloned()
        });
    let field = |k: &str| address.as_ref().and_then(|ad| text(ad.get(k)));
    let pairs: [(&str, &'static str, Option<String>); 13] = [
        (
            "givenName",
            "name.givenName",
            text(a.pointer("/name/givenName")),
        ),
        (
            "surname",
            "name.familyName",
            text(a.pointer("/name/familyName")),
        ),
        ("jobTitle", "title", text(a.get("title"))),
        (
            "department",
            "department",
            text(a.get(ENTERPRISE).and_then(|e| e.get("department"))),
        ),
        (
            "companyName",
            "organization",
            text(a.get(ENTERPRISE).and_then(|e| e.get("organization"))),
        ),
        (
            "employeeId",
            "employeeNumber",
            text(a.get(ENTERPRISE).and_then(|e| e.get("employeeNumber"))),
        ),
        ("employeeType", "userType", text(a.get("userType"))),
        (
            "preferredLanguage",
            "preferredLanguage",
            text(a.get("preferredLanguage")),
        ),
        ("mail", "emails", mail),
        (
            "streetAddress",
            "addresses.streetAddress",
            field("streetAddress"),
        ),
        ("city", "addresses.locality", field("locality")),
        ("state", "addresses.region", field("region")),
        ("postalCode", "addresses.postalCode", field("postalCode")),
    ];
    let mut profile = UserProfile::default();
    for (graph, scim, value) in pairs {
        profile
            .set(graph, value.as_deref())
            .map_err(|e| invalid(scim, e))?;
    }
    Ok(profile)
}

fn checked(
    tenant: &Tenant,
    id: UserId,
    input: &SyncedUser,
    enabled_now: bool,
) -> Result<User, DirectoryError> {
    let upn = Upn::parse(&input.upn).map_err(|e| invalid("userName", e))?;
    let display_name = textid_core::directory::display_name(&input.display_name)
        .map_err(|e| invalid("displayName", e))?;
    Ok(User {
        id,
        tenant_id: tenant.id,
        upn,
        display_name: display_name.to_string(),
        account_enabled: input.account_enabled.unwrap_or(enabled_now),
        mobile_phone: input.mobile_phone.clone(),
        business_phones: input.business_phones.clone(),
        on_premises_sync_enabled: true,
        profile: profile_from_scim(&input.attributes)?,
    })
}

fn upn_conflict(e: StoreError, upn: &Upn) -> DirectoryError {
    match e {
        StoreError::Conflict(c) if c == "users_upn_unique" => {
            DirectoryError::UpnInUse(upn.to_string())
        }
        other => other.into(),
    }
}

/// Creates a synced user, then applies seed 003 to its public numbers.
pub async fn create_user(
    app: &App,
    tenant: &Tenant,
    input: SyncedUser,
    actor: &Actor,
) -> Result<(User, ScimRecord), DirectoryError> {
    let user = checked(tenant, UserId::random(&mut OsRng), &input, true)?;
    app.store()
        .create_user(&user, actor, app.clock().now())
        .await
        .map_err(|e| upn_conflict(e, &user.upn))?;
    let rec = record(input.external_id, input.attributes, None, app);
    app.store()
        .put_scim_record(tenant.id, ScimKind::User, user.id.0, &rec)
        .await?;
    copy_public_numbers(app, tenant, None, &user, actor).await?;
    Ok((user, rec))
}

/// Replaces a user's synced fields (making it a synced user), then applies seed 003.
pub async fn replace_user(
    app: &App,
    tenant: &Tenant,
    id: UserId,
    input: SyncedUser,
    actor: &Actor,
) -> Result<(User, ScimRecord), DirectoryError> {
    let (before, old) = user(app, tenant, id).await?;
    let user = checked(tenant, id, &input, before.account_enabled)?;
    // Refused input changes nothing: the one conflict the profile write can meet is checked
    // before the numbers are copied (the store still enforces it, for a concurrent rename).
    if user.upn != before.upn {
        if let Some(other) = app.store().user_by_upn(tenant.id, &user.upn).await? {
            if other.id != id {
                return Err(DirectoryError::UpnInUse(user.upn.to_string()));
            }
        }
    }
    // The numbers first, then the profile: if the profile write fails after the copy, the
    // client's retry finds the copy made and plans nothing more (a copy after the profile
    // write would be lost with it, since the retry sees no public number arriving).
    copy_public_numbers(app, tenant, Some(&before), &user, actor).await?;
    if user != before {
        app.store()
            .update_user(&user, actor, app.clock().now())
            .await
            .map_err(|e| upn_conflict(e, &user.upn))?;
    }
    let rec = record(input.external_id, input.attributes, old.as_ref(), app);
    app.store()
        .put_scim_record(tenant.id, ScimKind::User, id.0, &rec)
        .await?;
    Ok((user, rec))
}

/// A user with its SCIM record (none for a user no client has written).
pub async fn user(
    app: &App,
    tenant: &Tenant,
    id: UserId,
) -> Result<(User, Option<ScimRecord>), DirectoryError> {
    let u = app
        .store()
        .user(tenant.id, id)
        .await?
        .ok_or_else(|| DirectoryError::NotFound {
            what: "user",
            key: id.to_string(),
        })?;
    let rec = app
        .store()
        .scim_record(tenant.id, ScimKind::User, id.0)
        .await?;
    Ok((u, rec))
}

/// Every user of the tenant, by userPrincipalName, with its SCIM record.
pub async fn users(
    app: &App,
    tenant: &Tenant,
) -> Result<Vec<(User, Option<ScimRecord>)>, DirectoryError> {
    const PAGE: u32 = 1000;
    let mut all: Vec<User> = Vec::new();
    loop {
        let page = app
            .store()
            .list_users(tenant.id, all.last().map(|u| &u.upn), PAGE)
            .await?;
        let done = page.len() < PAGE as usize;
        all.extend(page);
        if done {
            break;
        }
    }
    let mut records: std::collections::HashMap<uuid::Uuid, ScimRecord> = app
        .store()
        .scim_records(tenant.id, ScimKind::User)
        .await?
        .into_iter()
        .collect();
    Ok(all
        .into_iter()
        .map(|u| {
            let rec = records.remove(&u.id.0);
            (u, rec)
        })
        .collect())
}

/// Seed 003 for both pairs of numbers of a synced user whose public numbers went from
/// `before` to `after`.
async fn copy_public_numbers(
    app: &App,
    tenant: &Tenant,
    before: Option<&User>,
    after: &User,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    let methods = app.store().phone_methods(tenant.id, after.id).await?;
    let holds_role = !app
        .store()
        .user_roles(tenant.id, after.id)
        .await?
        .is_empty();
    let pairs = [
        (
            PhoneType::Mobile,
            before.and_then(|u| u.mobile_phone.as_deref()),
            after.mobile_phone.as_deref(),
        ),
        (
            PhoneType::Office,
            before.and_then(|u| u.business_phones.first().map(String::as_str)),
            after.business_phones.first().map(String::as_str),
        ),
    ];
    for (phone_type, old, new) in pairs {
        let current = methods
            .iter()
            .find(|m| m.method.phone_type == phone_type)
            .map(|m| m.method.number.to_string());
        // Compared in display form, so `+14255550101` and `+1 425 555 0101` are one number.
        let (old, new) = (
            old.map(|s| display(tenant, s)),
            new.map(|s| display(tenant, s)),
        );
        let (number, result) = match plan_number_copy(old.as_ref(), new.as_ref(), current.as_ref())
        {
            NumberCopy::Keep => continue,
            // A provisioning client must not choose the sign-in number of an admin: only a
            // Global Administrator changes the methods of a person who holds a directory
            // role (the rule of the Graph API), so the copy is skipped and audited.
            NumberCopy::Add(n) | NumberCopy::Update(n) if holds_role => {
                (n, Err(Refusal::new("userHoldsDirectoryRole", None)))
            }
            NumberCopy::Add(n) => {
                let r = dir::add_phone_method(app, tenant, after.id, phone_type, &n, actor).await;
                (n, Refusal::of(r.map(drop))?)
            }
            NumberCopy::Update(n) => {
                let r =
                    dir::update_phone_method(app, tenant, after.id, phone_type, &n, actor).await;
                (n, Refusal::of(r.map(drop))?)
            }
        };
        if let Err(refusal) = result {
            audit_skipped(app, tenant, after.id, (phone_type, &number), refusal, actor).await?;
        }
    }
    Ok(())
}

/// A public number in display form if it parses, else as given (public numbers are free
/// directory text; one that does not parse is never copied).
fn display(tenant: &Tenant, s: &str) -> String {
    PhoneNumber::parse(s, tenant.default_region.as_deref())
        .map_or_else(|_| s.trim().to_string(), |n| n.to_string())
}

/// Why a copy was not made.
struct Refusal {
    reason: &'static str,
    other_user: Option<UserId>,
}

impl Refusal {
    fn new(reason: &'static str, other_user: Option<UserId>) -> Self {
        Self { reason, other_user }
    }

    /// A copy refused by a phone rule is a refusal; a store failure fails the sync.
    fn of(result: Result<(), DirectoryError>) -> Result<Result<(), Refusal>, DirectoryError> {
        use textid_core::methods::PhoneMethodError as E;
        match result {
            Ok(()) => Ok(Ok(())),
            Err(DirectoryError::PhoneMethod(e)) => {
                let other = match &e {
                    E::NumberNotUnique { other_user }
                    | E::NumberUsedForSignIn { other_user }
                    | E::NumberHeldByDeletedUser { other_user } => Some(*other_user),
                    _ => None,
                };
                Ok(Err(Self::new(e.code(), other)))
            }
            Err(DirectoryError::Invalid { .. }) => Ok(Err(Self::new("phoneNumberNotValid", None))),
            Err(other) => Err(other),
        }
    }
}

/// Audits a copy that was not made; the sync goes on.
async fn audit_skipped(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    (phone_type, number): (PhoneType, &str),
    refusal: Refusal,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    let skipped = json!({
        "phoneType": phone_type,
        "phoneNumber": number,
        "reason": refusal.reason,
        "conflictingUserId": refusal.other_user,
    });
    let entry =
        AuditRecord::number_copy_skipped(tenant.id, user, skipped, actor, app.clock().now());
    Ok(app.store().record_audit(&entry).await?)
}

/// Creates a synced group with its members.
pub async fn create_group(
    app: &App,
    tenant: &Tenant,
    input: SyncedGroup,
    actor: &Actor,
) -> Result<(Group, ScimRecord), DirectoryError> {
    check_members(app, tenant, &input.members).await?;
    let g = dir::create_group(app, tenant, &input.display_name, actor).await?;
    let rec = record(input.external_id, input.attributes, None, app);
    app.store()
        .put_scim_record(tenant.id, ScimKind::Group, g.id.0, &rec)
        .await?;
    set_members(app, tenant, g.id, &input.members, actor).await?;
    Ok((g, rec))
}

/// A group with its members and SCIM record.
pub async fn group(
    app: &App,
    tenant: &Tenant,
    id: GroupId,
) -> Result<(Group, Vec<User>, Option<ScimRecord>), DirectoryError> {
    let g = app
        .store()
        .group(tenant.id, id)
        .await?
        .ok_or_else(|| DirectoryError::NotFound {
            what: "group",
            key: id.to_string(),
        })?;
    let members = app.store().members(tenant.id, id).await?;
    let rec = app
        .store()
        .scim_record(tenant.id, ScimKind::Group, id.0)
        .await?;
    Ok((g, members, rec))
}

/// Replaces a group's name, members and SCIM record.
pub async fn replace_group(
    app: &App,
    tenant: &Tenant,
    id: GroupId,
    input: SyncedGroup,
    actor: &Actor,
) -> Result<(Group, ScimRecord), DirectoryError> {
    let (mut g, _, old) = group(app, tenant, id).await?;
    check_members(app, tenant, &input.members).await?;
    let name = textid_core::directory::display_name(&input.display_name)
        .map_err(|e| invalid("displayName", e))?;
    if name != g.display_name {
        g.display_name = name.to_string();
        app.store()
            .rename_group(&g, actor, app.clock().now())
            .await?;
    }
    let rec = record(input.external_id, input.attributes, old.as_ref(), app);
    app.store()
        .put_scim_record(tenant.id, ScimKind::Group, id.0, &rec)
        .await?;
    set_members(app, tenant, id, &input.members, actor).await?;
    Ok((g, rec))
}

/// Every member must be a user of the tenant, checked before anything is written.
async fn check_members(
    app: &App,
    tenant: &Tenant,
    members: &[UserId],
) -> Result<(), DirectoryError> {
    for u in members {
        if app.store().user(tenant.id, *u).await?.is_none() {
            return Err(invalid("members", format!("no user with id {u}")));
        }
    }
    Ok(())
}

/// Makes a group's members exactly `wanted` (each change audited).
async fn set_members(
    app: &App,
    tenant: &Tenant,
    group: GroupId,
    wanted: &[UserId],
    actor: &Actor,
) -> Result<(), DirectoryError> {
    let current: Vec<UserId> = app
        .store()
        .members(tenant.id, group)
        .await?
        .iter()
        .map(|u| u.id)
        .collect();
    for u in wanted.iter().filter(|u| !current.contains(u)) {
        match dir::add_member(app, tenant, group, *u, actor).await {
            Ok(()) | Err(DirectoryError::MemberExists) => {}
            Err(e) => return Err(e),
        }
    }
    for u in current.iter().filter(|u| !wanted.contains(u)) {
        dir::remove_member(app, tenant, group, *u, actor).await?;
    }
    Ok(())
}

/// Deletes a group (its memberships and SCIM record go with it).
pub async fn delete_group(
    app: &App,
    tenant: &Tenant,
    id: GroupId,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    Ok(app
        .store()
        .delete_group(tenant.id, id, actor, app.clock().now())
        .await?)
}

/// Every group of the tenant with its members and SCIM record.
pub async fn groups(
    app: &App,
    tenant: &Tenant,
) -> Result<Vec<(Group, Vec<User>, Option<ScimRecord>)>, DirectoryError> {
    let mut records: std::collections::HashMap<uuid::Uuid, ScimRecord> = app
        .store()
        .scim_records(tenant.id, ScimKind::Group)
        .await?
        .into_iter()
        .collect();
    let mut out = Vec::new();
    for g in app.store().list_groups(tenant.id).await? {
        let members = app.store().members(tenant.id, g.id).await?;
        let rec = records.remove(&g.id.0);
        out.push((g, members, rec));
    }
    Ok(out)
}
