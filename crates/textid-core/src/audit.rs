//! The directory audit log (DESIGN.md §2 "Logs"): who changed what, with the state before
//! and after. Every record is composed here, so every backend writes the same record for
//! the same change, and a backend only inserts it in the transaction of the change.

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::{json, Value};

use crate::directory::{Group, User};
use crate::ids::{GroupId, TenantId, UserId};
use crate::methods::PhoneMethod;

/// The activity of [`AuditRecord::number_copy_skipped`], stored forever.
pub const NUMBER_COPY_SKIPPED: &str = "Copy public phone number skipped";

/// Who made a change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Actor {
    /// `cli`, `app`, `user`, `system`, `sync`. Stored by name.
    pub kind: String,
    /// The app id, user id or OS user.
    pub id: String,
}

impl Actor {
    /// The command line on this machine.
    pub fn cli() -> Self {
        Self {
            kind: "cli".into(),
            id: "local".into(),
        }
    }
    /// A user acting on their own account (security info, `/me`).
    pub fn user(user: crate::UserId) -> Self {
        Self {
            kind: "user".into(),
            id: user.to_string(),
        }
    }
    /// textid itself (start-up, maintenance).
    pub fn system() -> Self {
        Self {
            kind: "system".into(),
            id: "textid".into(),
        }
    }
}

/// One directory change, ready to store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditRecord {
    /// Its id (time-ordered).
    pub id: uuid::Uuid,
    /// The tenant.
    #[serde(skip)]
    pub tenant_id: TenantId,
    /// When.
    pub created_at: DateTime<Utc>,
    /// Who.
    pub actor: Actor,
    /// What, e.g. `Add phone method`.
    pub activity: String,
    /// `user`, `group`, `policy`, `tenant`.
    pub target_type: String,
    /// The target's id.
    pub target_id: String,
    /// Before, if it existed.
    pub before: Option<Value>,
    /// After, if it still exists.
    pub after: Option<Value>,
}

/// What changed, with its before and after states.
struct Change<'a> {
    tenant: TenantId,
    activity: &'a str,
    target_type: &'a str,
    target_id: String,
    before: Option<Value>,
    after: Option<Value>,
}

impl AuditRecord {
    fn of(c: Change<'_>, actor: &Actor, at: DateTime<Utc>) -> Self {
        Self {
            // Process-monotonic within a millisecond, so the newest record sorts first even
            // when several share a time.
            id: uuid::Uuid::now_v7(),
            tenant_id: c.tenant,
            created_at: at,
            actor: actor.clone(),
            activity: c.activity.into(),
            target_type: c.target_type.into(),
            target_id: c.target_id,
            before: c.before,
            after: c.after,
        }
    }

    /// A user was added.
    pub fn user_added(u: &User, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: u.tenant_id,
            activity: "Add user",
            target_type: "user",
            target_id: u.id.to_string(),
            before: None,
            after: Some(user_json(u)),
        };
        Self::of(c, actor, at)
    }

    /// A user's profile changed.
    pub fn user_updated(before: &User, after: &User, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: after.tenant_id,
            activity: "Update user",
            target_type: "user",
            target_id: after.id.to_string(),
            before: Some(user_json(before)),
            after: Some(user_json(after)),
        };
        Self::of(c, actor, at)
    }

    /// A user was deleted.
    pub fn user_deleted(before: &User, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: before.tenant_id,
            activity: "Delete user",
            target_type: "user",
            target_id: before.id.to_string(),
            before: Some(user_json(before)),
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// A user's manager was set (`after` Some) or removed (`after` None).
    pub fn manager_changed(
        tenant: TenantId,
        user: UserId,
        (before, after): (Option<UserId>, Option<UserId>),
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: if after.is_some() {
                "Set user manager"
            } else {
                "Remove user manager"
            },
            target_type: "user",
            target_id: user.to_string(),
            before: before.map(|m| json!({"manager": m})),
            after: after.map(|m| json!({"manager": m})),
        };
        Self::of(c, actor, at)
    }

    /// A group was added.
    pub fn group_added(g: &Group, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: g.tenant_id,
            activity: "Add group",
            target_type: "group",
            target_id: g.id.to_string(),
            before: None,
            after: Some(group_json(g)),
        };
        Self::of(c, actor, at)
    }

    /// A group was renamed.
    pub fn group_updated(before: &Group, after: &Group, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: after.tenant_id,
            activity: "Update group",
            target_type: "group",
            target_id: after.id.to_string(),
            before: Some(group_json(before)),
            after: Some(group_json(after)),
        };
        Self::of(c, actor, at)
    }

    /// A deleted user was restored (issue #17).
    pub fn user_restored(u: &User, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: u.tenant_id,
            activity: "Restore user",
            target_type: "user",
            target_id: u.id.to_string(),
            before: None,
            after: Some(user_json(u)),
        };
        Self::of(c, actor, at)
    }

    /// A deleted user was deleted for good (Entra's "Hard Delete user").
    pub fn user_hard_deleted(before: &User, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: before.tenant_id,
            activity: "Hard delete user",
            target_type: "user",
            target_id: before.id.to_string(),
            before: Some(user_json(before)),
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// A deleted group was restored (issue #17).
    pub fn group_restored(g: &Group, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: g.tenant_id,
            activity: "Restore group",
            target_type: "group",
            target_id: g.id.to_string(),
            before: None,
            after: Some(group_json(g)),
        };
        Self::of(c, actor, at)
    }

    /// A deleted group was deleted for good.
    pub fn group_hard_deleted(g: &Group, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: g.tenant_id,
            activity: "Hard delete group",
            target_type: "group",
            target_id: g.id.to_string(),
            before: Some(group_json(g)),
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// A group was deleted.
    pub fn group_deleted(g: &Group, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant: g.tenant_id,
            activity: "Delete group",
            target_type: "group",
            target_id: g.id.to_string(),
            before: Some(group_json(g)),
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// A user joined (`member`) or left a group.
    pub fn membership(
        tenant: TenantId,
        group: GroupId,
        user: UserId,
        member: bool,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let pair = Some(json!({"groupId": group, "userId": user}));
        let (activity, before, after) = if member {
            ("Add member to group", None, pair)
        } else {
            ("Remove member from group", pair, None)
        };
        let c = Change {
            tenant,
            activity,
            target_type: "group",
            target_id: group.to_string(),
            before,
            after,
        };
        Self::of(c, actor, at)
    }

    /// Seed 003: a sync wrote a synced user's public number but its copy into the
    /// authentication number was refused (the uniqueness rule of DESIGN.md §1, or a number
    /// the method type does not accept). Nothing else changed; the sync went on.
    /// `skipped` names the method, the public number and why (`reason`: a stable code).
    pub fn number_copy_skipped(
        tenant: TenantId,
        user: UserId,
        skipped: Value,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: NUMBER_COPY_SKIPPED,
            target_type: "user",
            target_id: user.to_string(),
            before: None,
            after: Some(skipped),
        };
        Self::of(c, actor, at)
    }

    /// A phone method was added, changed, switched or deleted.
    pub fn phone_method(
        tenant: TenantId,
        plan: &crate::methods::PhonePlan,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: plan.activity(),
            target_type: "user",
            target_id: plan.user_id().to_string(),
            before: plan.before.as_ref().map(method_json),
            after: plan.after.as_ref().map(method_json),
        };
        Self::of(c, actor, at)
    }

    /// The authentication methods policy was replaced (both as stored JSON).
    pub fn policy(
        tenant: TenantId,
        before: Value,
        after: Value,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Update authentication methods policy",
            target_type: "policy",
            target_id: "authenticationMethodsPolicy".into(),
            before: Some(before),
            after: Some(after),
        };
        Self::of(c, actor, at)
    }

    /// The tenant's default region changed.
    pub fn tenant_region(
        tenant: TenantId,
        before: Option<&str>,
        after: Option<&str>,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Update tenant default region",
            target_type: "tenant",
            target_id: tenant.to_string(),
            before: Some(json!({"defaultRegion": before})),
            after: Some(json!({"defaultRegion": after})),
        };
        Self::of(c, actor, at)
    }

    /// Refuse-shared mode was switched.
    pub fn tenant_refuse_shared_phone_numbers(
        tenant: TenantId,
        before: bool,
        after: bool,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Update tenant phone number sharing",
            target_type: "tenant",
            target_id: tenant.to_string(),
            before: Some(json!({"refuseSharedPhoneNumbers": before})),
            after: Some(json!({"refuseSharedPhoneNumbers": after})),
        };
        Self::of(c, actor, at)
    }

    /// The web origins allowed to call the tenant's sign-in API changed.
    pub fn tenant_sign_in_origins(
        tenant: TenantId,
        before: &[String],
        after: &[String],
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Update tenant sign-in API origins",
            target_type: "tenant",
            target_id: tenant.to_string(),
            before: Some(json!({"signInOrigins": before})),
            after: Some(json!({"signInOrigins": after})),
        };
        Self::of(c, actor, at)
    }

    /// A directory role was assigned (`assigned`) or removed.
    pub fn role(
        tenant: TenantId,
        user: UserId,
        role: &str,
        assigned: bool,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let r = Some(json!({"role": role}));
        let (activity, before, after) = if assigned {
            ("Add member to role", None, r)
        } else {
            ("Remove member from role", r, None)
        };
        let c = Change {
            tenant,
            activity,
            target_type: "user",
            target_id: user.to_string(),
            before,
            after,
        };
        Self::of(c, actor, at)
    }

    /// An operator cleared the wrong-code lock of a number (and every client IP stopped
    /// for it). The number is the target, as in the phone method audits: the directory
    /// audit is an admin record, never a log line.
    pub fn lock_cleared(tenant: TenantId, phone: &str, actor: &Actor, at: DateTime<Utc>) -> Self {
        let c = Change {
            tenant,
            activity: "Clear sign-in lock",
            target_type: "phoneNumber",
            target_id: phone.to_string(),
            before: None,
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// An operator added or replaced (`added`) or removed a test number. Never its code:
    /// the fixed code signs in as the number's owner.
    pub fn test_number(
        tenant: TenantId,
        phone: &str,
        added: bool,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let n = Some(json!({ "phoneNumber": phone }));
        let (activity, before, after) = if added {
            ("Add test number", None, n)
        } else {
            ("Remove test number", n, None)
        };
        let c = Change {
            tenant,
            activity,
            target_type: "testNumber",
            target_id: phone.to_string(),
            before,
            after,
        };
        Self::of(c, actor, at)
    }

    /// An operator ended a conversion-watch pause early (`key` as stored).
    pub fn pause_cleared(
        tenant: TenantId,
        key: &str,
        until: DateTime<Utc>,
        reason: &str,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Resume SMS sending",
            target_type: "sendPause",
            target_id: key.to_string(),
            before: Some(json!({"until": until, "reason": reason})),
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// An admin ended every session and token family of a user (Graph's
    /// `revokeSignInSessions`).
    pub fn sessions_revoked(
        tenant: TenantId,
        user: UserId,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Revoke sign-in sessions",
            target_type: "user",
            target_id: user.to_string(),
            before: None,
            after: None,
        };
        Self::of(c, actor, at)
    }

    /// An app registration changed: `activity` names what (`Add application`, `Delete
    /// application`, `Disable application`, `Enable application`, `Rotate application
    /// secret`, `Update application roles`); `before`/`after` are the audit forms (never a
    /// secret or its hash).
    pub fn client(
        tenant: TenantId,
        client_id: &str,
        activity: &str,
        before: Option<Value>,
        after: Option<Value>,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity,
            target_type: "application",
            target_id: client_id.to_string(),
            before,
            after,
        };
        Self::of(c, actor, at)
    }

    /// A user's password was set, changed or reset (`change` says which and by whom);
    /// records whether they must change it at their next sign-in, never the password or
    /// its hash.
    pub fn password(
        tenant: TenantId,
        user: UserId,
        change: crate::password::PasswordChange,
        force_change_before: bool,
        force_change_after: bool,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: change.activity(),
            target_type: "user",
            target_id: user.to_string(),
            before: Some(json!({"forceChangePasswordNextSignIn": force_change_before})),
            after: Some(json!({"forceChangePasswordNextSignIn": force_change_after})),
        };
        Self::of(c, actor, at)
    }

    /// The tenant's "require MFA" setting changed.
    pub fn tenant_require_mfa(
        tenant: TenantId,
        before: bool,
        after: bool,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let c = Change {
            tenant,
            activity: "Update tenant MFA requirement",
            target_type: "tenant",
            target_id: tenant.to_string(),
            before: Some(json!({"requireMfa": before})),
            after: Some(json!({"requireMfa": after})),
        };
        Self::of(c, actor, at)
    }

    /// A Temporary Access Pass was issued (replacing `before`, if any) or deleted
    /// (`after` is `None`). The passes are given in their audit form ([`pass_json`]).
    pub fn pass(
        tenant: TenantId,
        user: UserId,
        before: Option<Value>,
        after: Option<Value>,
        actor: &Actor,
        at: DateTime<Utc>,
    ) -> Self {
        let activity = if after.is_some() {
            "Add Temporary Access Pass"
        } else {
            "Delete Temporary Access Pass"
        };
        let c = Change {
            tenant,
            activity,
            target_type: "user",
            target_id: user.to_string(),
            before,
            after,
        };
        Self::of(c, actor, at)
    }
}

/// The audit form of a user: its fields and the profile properties it has.
pub fn user_json(u: &User) -> Value {
    let mut v = json!({
        "id": u.id, "userPrincipalName": u.upn, "displayName": u.display_name,
        "accountEnabled": u.account_enabled, "mobilePhone": u.mobile_phone,
        "businessPhones": u.business_phones,
    });
    if let (Some(o), Ok(Value::Object(p))) = (v.as_object_mut(), serde_json::to_value(&u.profile)) {
        o.extend(p);
    }
    v
}

fn group_json(g: &Group) -> Value {
    let mut v = serde_json::to_value(&g.profile).unwrap_or_else(|_| json!({}));
    v["id"] = json!(g.id);
    v["displayName"] = json!(g.display_name);
    v
}

fn method_json(m: &PhoneMethod) -> Value {
    json!({
        "id": m.phone_type.method_id(), "phoneType": m.phone_type, "phoneNumber": m.number.to_string(),
        "smsSignInEnabled": m.sms_sign_in_enabled,
    })
}

/// The audit form of a Temporary Access Pass (never the pass itself).
pub fn pass_json(
    id: uuid::Uuid,
    start: DateTime<Utc>,
    lifetime_minutes: u32,
    is_usable_once: bool,
) -> Value {
    json!({"id": id, "startDateTime": start, "lifetimeInMinutes": lifetime_minutes, "isUsableOnce": is_usable_once})
}
