//! Directory use cases shared by the CLI and the HTTP admin surfaces: users, groups,
//! phone methods with their derived `smsSignInState`, and the authentication methods
//! policy (DESIGN.md §1).

use rand::rngs::OsRng;
use textid_core::directory::group::GroupProfile;
use textid_core::directory::synced::{check_cloud_change, SyncedUserError};
use textid_core::directory::{Group, Upn, User};
use textid_core::methods::PhoneMethodError;
use textid_core::methods::{PhoneMethod, PhoneType};
use textid_core::phone::PhoneNumber;
use textid_core::policy::PolicyError;
use textid_core::policy::{AuthenticationMethodsPolicy, SmsPermission, Subject};
use textid_core::sign_in_state::{derive, SignInStateFacts, SmsSignInState};
use textid_core::tenant::Tenant;
use textid_core::{GroupId, SessionId, UserId};
use textid_store::{
    Actor, PhoneMethodChange, PhoneMethodOp, PhoneMethodRecord, SharedNumberHolder, StoreError,
};

use crate::Context as App;

/// Why a directory use case refused or failed. Surfaces map it by variant.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// Malformed or out-of-range input; nothing was changed.
    #[error("{field}: {message}")]
    Invalid {
        /// The field (Graph's name).
        field: &'static str,
        /// What to fix.
        message: String,
    },
    /// No such user, group or method.
    #[error("{what} '{key}' not found")]
    NotFound {
        /// `user`, `group`.
        what: &'static str,
        /// The id or name asked for.
        key: String,
    },
    /// Another user has this userPrincipalName.
    #[error("another user already has userPrincipalName '{0}'")]
    UpnInUse(String),
    /// The user is already a member of the group.
    #[error("the user is already a member of the group")]
    MemberExists,
    /// `enableSmsSignIn` for a user the policy does not allow to sign in with SMS.
    #[error("SMS sign-in cannot be enabled: the authentication methods policy does not allow this user to use SMS for sign-in")]
    SmsSignInNotAllowedByPolicy,
    /// A user removing, by themselves, the only method they can sign in with.
    #[error("this is the only phone you can sign in with: add or enable another one before you remove it")]
    LastSignInMethod,
    /// A phone method rule (DESIGN.md §1).
    #[error(transparent)]
    PhoneMethod(#[from] PhoneMethodError),
    /// The policy document breaks a rule.
    #[error(transparent)]
    Policy(#[from] PolicyError),
    /// The change touches what a synced user's source directory owns, or the sync flag.
    #[error(transparent)]
    Synced(#[from] SyncedUserError),
    /// No Temporary Access Pass on these terms, or for this user.
    #[error(transparent)]
    Pass(#[from] textid_core::tap::PassError),
    /// The store failed (unavailable, busy, corrupt).
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for DirectoryError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::PhoneMethod(p) => Self::PhoneMethod(p),
            StoreError::NotFound(what) => Self::NotFound {
                what,
                key: String::new(),
            },
            other => Self::Store(other),
        }
    }
}

fn invalid(field: &'static str, why: impl std::fmt::Display) -> DirectoryError {
    DirectoryError::Invalid {
        field,
        message: why.to_string(),
    }
}

/// A phone method with its derived state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneMethodView {
    /// The method.
    pub method: PhoneMethod,
    /// Its `smsSignInState`.
    pub sms_sign_in_state: SmsSignInState,
}

fn not_found(what: &'static str, key: &str) -> DirectoryError {
    DirectoryError::NotFound {
        what,
        key: key.to_string(),
    }
}

/// Creates a user.
pub async fn create_user(
    app: &App,
    tenant: &Tenant,
    upn: &str,
    display_name: &str,
    actor: &Actor,
) -> Result<User, DirectoryError> {
    let upn = Upn::parse(upn).map_err(|e| invalid("userPrincipalName", e))?;
    let display_name = textid_core::directory::display_name(display_name)
        .map_err(|e| invalid("displayName", e))?;
    let user = User {
        id: UserId::random(&mut OsRng),
        tenant_id: tenant.id,
        upn,
        display_name: display_name.to_string(),
        account_enabled: true,
        mobile_phone: None,
        business_phones: Vec::new(),
        on_premises_sync_enabled: false,
        profile: Default::default(),
    };
    match app
        .store()
        .create_user(&user, actor, app.clock().now())
        .await
    {
        Err(StoreError::Conflict(c)) if c == "users_upn_unique" => {
            Err(DirectoryError::UpnInUse(user.upn.to_string()))
        }
        other => other.map(|()| user).map_err(DirectoryError::from),
    }
}

/// A user by id or userPrincipalName.
pub async fn find_user(app: &App, tenant: &Tenant, key: &str) -> Result<User, DirectoryError> {
    let found = if let Ok(id) = key.parse::<UserId>() {
        app.store().user(tenant.id, id).await?
    } else if let Ok(upn) = Upn::parse(key) {
        app.store().user_by_upn(tenant.id, &upn).await?
    } else {
        None
    };
    found.ok_or_else(|| not_found("user", key))
}

/// Users by UPN, paged.
pub async fn list_users(
    app: &App,
    tenant: &Tenant,
    after: Option<&Upn>,
    limit: u32,
) -> Result<Vec<User>, DirectoryError> {
    Ok(app.store().list_users(tenant.id, after, limit).await?)
}

/// Saves changed profile fields of a user, as an admin surface (Graph, the CLI) asks:
/// the fields a synced user's source owns, and the sync flag, are refused
/// ([`check_cloud_change`]).
pub async fn update_user(app: &App, user: &User, actor: &Actor) -> Result<(), DirectoryError> {
    let stored = app
        .store()
        .user(user.tenant_id, user.id)
        .await?
        .ok_or_else(|| not_found("user", &user.id.to_string()))?;
    check_cloud_change(&stored, user)?;
    match app
        .store()
        .update_user(user, actor, app.clock().now())
        .await
    {
        Err(StoreError::Conflict(c)) if c == "users_upn_unique" => {
            Err(DirectoryError::UpnInUse(user.upn.to_string()))
        }
        other => Ok(other?),
    }
}

/// Deletes a cloud user (Graph, the CLI): a synced user is refused
/// ([`SyncedUserError::DeletedAtSource`]), as Entra refuses to delete synced objects; its
/// source deletes it through [`crate::provisioning::delete_user`].
pub async fn delete_user(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    let u = app
        .store()
        .user(tenant.id, user)
        .await?
        .ok_or_else(|| DirectoryError::NotFound {
            what: "user",
            key: user.to_string(),
        })?;
    textid_core::directory::synced::check_cloud_delete(&u)?;
    Ok(app
        .store()
        .delete_user(tenant.id, user, actor, app.clock().now())
        .await?)
}

/// Creates a security group.
pub async fn create_group(
    app: &App,
    tenant: &Tenant,
    display_name: &str,
    actor: &Actor,
) -> Result<Group, DirectoryError> {
    create_group_with(app, tenant, display_name, GroupProfile::default(), actor).await
}

/// Creates a group with Graph's other group properties.
pub async fn create_group_with(
    app: &App,
    tenant: &Tenant,
    display_name: &str,
    profile: GroupProfile,
    actor: &Actor,
) -> Result<Group, DirectoryError> {
    let display_name = textid_core::directory::display_name(display_name)
        .map_err(|e| invalid("displayName", e))?;
    let profile = profile.checked().map_err(|e| invalid(e.property(), e))?;
    let group = Group {
        id: GroupId::random(&mut OsRng),
        tenant_id: tenant.id,
        display_name: display_name.to_string(),
        profile,
    };
    app.store()
        .create_group(&group, actor, app.clock().now())
        .await?;
    Ok(group)
}

/// Changes a group's name and other properties (Graph's PATCH): `display_name` when
/// given, and `profile` as the whole new set of properties. Audited as `Update group`.
pub async fn update_group(
    app: &App,
    tenant: &Tenant,
    group: GroupId,
    display_name: Option<&str>,
    profile: GroupProfile,
    actor: &Actor,
) -> Result<Group, DirectoryError> {
    let stored = app
        .store()
        .group(tenant.id, group)
        .await?
        .ok_or_else(|| not_found("group", &group.to_string()))?;
    let display_name = match display_name {
        Some(n) => textid_core::directory::display_name(n)
            .map_err(|e| invalid("displayName", e))?
            .to_string(),
        None => stored.display_name.clone(),
    };
    let profile = profile.checked().map_err(|e| invalid(e.property(), e))?;
    let updated = Group {
        display_name,
        profile,
        ..stored
    };
    app.store()
        .update_group(&updated, actor, app.clock().now())
        .await?;
    Ok(updated)
}

/// Sets (`Some`) or removes a user's manager (Graph's `manager`). A user is not their
/// own manager.
pub async fn set_manager(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    manager: Option<UserId>,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    if manager == Some(user) {
        return Err(invalid("manager", "a user cannot be their own manager"));
    }
    Ok(app
        .store()
        .set_manager(tenant.id, user, manager, actor, app.clock().now())
        .await?)
}

/// A group by id or (unique) display name.
pub async fn find_group(app: &App, tenant: &Tenant, key: &str) -> Result<Group, DirectoryError> {
    if let Ok(id) = key.parse::<GroupId>() {
        return app
            .store()
            .group(tenant.id, id)
            .await?
            .ok_or_else(|| not_found("group", key));
    }
    let mut named: Vec<Group> = app
        .store()
        .list_groups(tenant.id)
        .await?
        .into_iter()
        .filter(|g| g.display_name.eq_ignore_ascii_case(key))
        .collect();
    match named.len() {
        0 => Err(not_found("group", key)),
        1 => Ok(named.remove(0)),
        _ => Err(invalid(
            "group",
            format!("several groups are named '{key}'; use the group id"),
        )),
    }
}

/// Adds a user to a group.
pub async fn add_member(
    app: &App,
    tenant: &Tenant,
    group: GroupId,
    user: UserId,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    match app
        .store()
        .add_member(tenant.id, group, user, actor, app.clock().now())
        .await
    {
        Err(StoreError::Conflict(_)) => Err(DirectoryError::MemberExists),
        other => Ok(other?),
    }
}

/// Removes a user from a group.
pub async fn remove_member(
    app: &App,
    tenant: &Tenant,
    group: GroupId,
    user: UserId,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    Ok(app
        .store()
        .remove_member(tenant.id, group, user, actor, app.clock().now())
        .await?)
}

/// What the policy allows a user for SMS.
pub async fn sms_permission(
    app: &App,
    tenant: &Tenant,
    user: UserId,
) -> Result<SmsPermission, DirectoryError> {
    let policy = app.store().policy(tenant.id).await?;
    let groups = app.store().groups_of(tenant.id, user).await?;
    Ok(policy.sms.permission(Subject {
        user_id: user,
        groups: &groups,
    }))
}

fn view(record: PhoneMethodRecord, permission: SmsPermission) -> PhoneMethodView {
    let state = derive(SignInStateFacts {
        phone_type: record.method.phone_type,
        permission,
        number_shared_with_another_user: record.number_shared,
        sms_sign_in_enabled: record.method.sms_sign_in_enabled,
        needs_confirmation: record.needs_confirmation,
    });
    PhoneMethodView {
        method: record.method,
        sms_sign_in_state: state,
    }
}

/// A user's phone methods with their `smsSignInState`.
pub async fn phone_methods(
    app: &App,
    tenant: &Tenant,
    user: UserId,
) -> Result<Vec<PhoneMethodView>, DirectoryError> {
    let permission = sms_permission(app, tenant, user).await?;
    let records = app.store().phone_methods(tenant.id, user).await?;
    Ok(records.into_iter().map(|r| view(r, permission)).collect())
}

/// One phone method with its state.
pub async fn phone_method(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
) -> Result<PhoneMethodView, DirectoryError> {
    phone_methods(app, tenant, user)
        .await?
        .into_iter()
        .find(|m| m.method.phone_type == phone_type)
        .ok_or_else(|| PhoneMethodError::NotFound(phone_type).into())
}

pub(crate) fn parse_number(
    tenant: &Tenant,
    input: &str,
    phone_type: PhoneType,
) -> Result<PhoneNumber, DirectoryError> {
    let n = PhoneNumber::parse(input, tenant.default_region.as_deref())
        .map_err(|e| invalid("phoneNumber", e))?;
    phone_type
        .check_number(&n)
        .map_err(|e| invalid("phoneNumber", e))?;
    Ok(n)
}

async fn change(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    op: PhoneMethodOp,
    (actor, made_in): (&Actor, Option<SessionId>),
) -> Result<(), DirectoryError> {
    let ch = PhoneMethodChange {
        made_in,
        tenant: tenant.id,
        user,
        phone_type,
        op,
    };
    Ok(app
        .store()
        .change_phone_method(ch, actor, app.clock().now())
        .await?)
}

/// Adds a phone method. A `mobile` of a user whom the policy allows to sign in with SMS
/// is switched on for SMS sign-in at once (and so must be unique in the tenant).
pub async fn add_phone_method(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    number: &str,
    actor: &Actor,
) -> Result<PhoneMethodView, DirectoryError> {
    add_phone_method_in(app, tenant, user, phone_type, number, (actor, None)).await
}

/// [`add_phone_method`] by a user in their session `by.1`.
async fn add_phone_method_in(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    number: &str,
    by: (&Actor, Option<SessionId>),
) -> Result<PhoneMethodView, DirectoryError> {
    let number = parse_number(tenant, number, phone_type)?;
    let in_scope = sms_permission(app, tenant, user).await? == SmsPermission::SignIn;
    let op = PhoneMethodOp::Add {
        number,
        enable_sms_sign_in: in_scope && phone_type.supports_sms_sign_in(),
    };
    change(app, tenant, user, phone_type, op, by).await?;
    phone_method(app, tenant, user, phone_type).await
}

/// Changes the number of a phone method (its type never changes).
pub async fn update_phone_method(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    number: &str,
    actor: &Actor,
) -> Result<PhoneMethodView, DirectoryError> {
    update_phone_method_in(app, tenant, user, phone_type, number, (actor, None)).await
}

/// [`update_phone_method`] by a user in their session `by.1`.
async fn update_phone_method_in(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    number: &str,
    by: (&Actor, Option<SessionId>),
) -> Result<PhoneMethodView, DirectoryError> {
    let number = parse_number(tenant, number, phone_type)?;
    change(
        app,
        tenant,
        user,
        phone_type,
        PhoneMethodOp::Update { number },
        by,
    )
    .await?;
    phone_method(app, tenant, user, phone_type).await
}

/// Deletes a phone method.
pub async fn delete_phone_method(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    change(
        app,
        tenant,
        user,
        phone_type,
        PhoneMethodOp::Delete,
        (actor, None),
    )
    .await
}

/// How a user's own change of a phone method reached textid (their security info page,
/// or an app with their delegated token).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proof {
    /// The user entered a code sent to the number: it is theirs.
    CodeEntered,
    /// Nobody proved the number (an app said it, with the user's token): its
    /// `smsSignInState` is `notConfigured`, and nobody signs in with it, until the user
    /// proves it on their security info page. A stolen token cannot plant a number that
    /// then signs in as its owner.
    Unproven,
}

/// Whether a user's own number change adds a method or changes an existing one's number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Edit {
    /// Add a method of this type ([`add_phone_method`]'s rules).
    Add,
    /// Change the number of the existing method ([`update_phone_method`]'s rules).
    Change,
}

/// A user adds a phone method of their own or changes its number, under the same rules as
/// an admin; the number counts as theirs only once proven ([`Proof`]).
pub async fn set_own_phone_number(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    number: &str,
    edit: Edit,
    (proof, made_in): (Proof, Option<SessionId>),
) -> Result<PhoneMethodView, DirectoryError> {
    let actor = Actor::user(user);
    let by = (&actor, made_in);
    match edit {
        Edit::Add => add_phone_method_in(app, tenant, user, phone_type, number, by).await?,
        Edit::Change => update_phone_method_in(app, tenant, user, phone_type, number, by).await?,
    };
    mark_proof(app, tenant, user, phone_type, proof).await
}

/// The user proved the number of their method (a code sent to it came back): no longer
/// `notConfigured`.
pub async fn confirm_phone_method(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
) -> Result<PhoneMethodView, DirectoryError> {
    mark_proof(app, tenant, user, phone_type, Proof::CodeEntered).await
}

async fn mark_proof(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    proof: Proof,
) -> Result<PhoneMethodView, DirectoryError> {
    let needs = proof == Proof::Unproven;
    app.store()
        .set_needs_confirmation(tenant.id, user, phone_type, needs, app.clock().now())
        .await?;
    phone_method(app, tenant, user, phone_type).await
}

/// A user removes a phone method of their own; not the last one they can sign in with
/// (a `ready` mobile), which would lock them out. `made_in`: the session they did it in,
/// which stays when the removal revokes their sessions.
pub async fn remove_own_phone_method(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    made_in: Option<SessionId>,
) -> Result<(), DirectoryError> {
    let methods = phone_methods(app, tenant, user).await?;
    let signs_in = |m: &PhoneMethodView| m.sms_sign_in_state == SmsSignInState::Ready;
    let removed = methods.iter().find(|m| m.method.phone_type == phone_type);
    if removed.is_some_and(signs_in) && methods.iter().filter(|m| signs_in(m)).count() == 1 {
        return Err(DirectoryError::LastSignInMethod);
    }
    let actor = Actor::user(user);
    change(
        app,
        tenant,
        user,
        phone_type,
        PhoneMethodOp::Delete,
        (&actor, made_in),
    )
    .await
}

/// `enableSmsSignIn` / `disableSmsSignIn`.
pub async fn set_sms_sign_in(
    app: &App,
    tenant: &Tenant,
    user: UserId,
    phone_type: PhoneType,
    enabled: bool,
    actor: &Actor,
) -> Result<PhoneMethodView, DirectoryError> {
    // Graph: "The user must be enabled for SMS sign-in in the authentication methods policy."
    if enabled
        && phone_type.supports_sms_sign_in()
        && sms_permission(app, tenant, user).await? != SmsPermission::SignIn
    {
        return Err(DirectoryError::SmsSignInNotAllowedByPolicy);
    }
    change(
        app,
        tenant,
        user,
        phone_type,
        PhoneMethodOp::SetSmsSignIn(enabled),
        (actor, None),
    )
    .await?;
    phone_method(app, tenant, user, phone_type).await
}

/// Switches refuse-shared mode: no number may then be stored on a phone method if another
/// user of the tenant holds it on any method (numbers already shared stay, and the
/// shared-number report lists them).
pub async fn set_refuse_shared_phone_numbers(
    app: &App,
    tenant: &Tenant,
    refuse: bool,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    Ok(app
        .store()
        .set_tenant_refuse_shared_phone_numbers(tenant.id, refuse, actor, app.clock().now())
        .await?)
}

/// One method of a shared number in the report, with its `smsSignInState`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNumberHolderView {
    /// The holder, its method and profile.
    pub holder: SharedNumberHolder,
    /// The method's `smsSignInState` (never `ready`: the number is shared).
    pub sms_sign_in_state: SmsSignInState,
}

/// A number held by more than one user, with its holders.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SharedNumberView {
    /// The number (display form, without extension).
    pub number: PhoneNumber,
    /// Every method holding it, by userPrincipalName then type.
    pub holders: Vec<SharedNumberHolderView>,
}

/// The shared-number report: every number held by more than one user of the tenant, with
/// the methods holding it and their states (one grouped read and the policy).
pub async fn shared_numbers(
    app: &App,
    tenant: &Tenant,
) -> Result<Vec<SharedNumberView>, DirectoryError> {
    let policy = app.store().policy(tenant.id).await?;
    let shared = app.store().shared_numbers(tenant.id).await?;
    shared
        .into_iter()
        .map(|n| {
            let number = PhoneNumber::from_stored(&n.e164, None)
                .map_err(|e| DirectoryError::Store(StoreError::Corrupt(e.to_string())))?;
            let holders = n
                .holders
                .into_iter()
                .map(|h| {
                    let permission = policy.sms.permission(Subject {
                        user_id: h.method.user_id,
                        groups: &h.groups,
                    });
                    let sms_sign_in_state = derive(SignInStateFacts {
                        phone_type: h.method.phone_type,
                        permission,
                        number_shared_with_another_user: true,
                        sms_sign_in_enabled: h.method.sms_sign_in_enabled,
                        needs_confirmation: h.needs_confirmation,
                    });
                    SharedNumberHolderView {
                        holder: h,
                        sms_sign_in_state,
                    }
                })
                .collect();
            Ok(SharedNumberView { number, holders })
        })
        .collect()
}

/// The policy.
pub async fn policy(
    app: &App,
    tenant: &Tenant,
) -> Result<AuthenticationMethodsPolicy, DirectoryError> {
    Ok(app.store().policy(tenant.id).await?)
}

/// Replaces the policy after checking it; group targets must exist.
pub async fn put_policy(
    app: &App,
    tenant: &Tenant,
    policy: &AuthenticationMethodsPolicy,
    actor: &Actor,
) -> Result<(), DirectoryError> {
    policy.check()?;
    // Only targets this change adds must exist: a group deleted after it was targeted must
    // not block unrelated policy changes.
    let current = app.store().policy(tenant.id).await?;
    let known = |id: &uuid::Uuid| {
        current
            .sms
            .include_targets
            .iter()
            .any(|t| t.id == textid_core::policy::TargetId::Id(*id))
            || current.sms.exclude_targets.iter().any(|t| t.id == *id)
    };
    let groups = policy
        .sms
        .include_targets
        .iter()
        .filter(|t| t.target_type == textid_core::policy::TargetType::Group)
        .filter_map(|t| match t.id {
            textid_core::policy::TargetId::Id(id) => Some(id),
            textid_core::policy::TargetId::AllUsers => None,
        })
        .chain(
            policy
                .sms
                .exclude_targets
                .iter()
                .filter(|t| t.target_type == textid_core::policy::TargetType::Group)
                .map(|t| t.id),
        );
    for id in groups {
        if !known(&id) && app.store().group(tenant.id, GroupId(id)).await?.is_none() {
            return Err(invalid(
                "includeTargets",
                format!("group {id} does not exist"),
            ));
        }
    }
    Ok(app
        .store()
        .put_policy(tenant.id, policy, actor, app.clock().now())
        .await?)
}
