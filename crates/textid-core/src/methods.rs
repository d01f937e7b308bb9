//! Phone authentication methods: at most one per [`PhoneType`] per user, each with the
//! well-known id Graph gives it (DESIGN.md §1). A method's type never changes; a `mobile`
//! must exist before an `alternateMobile`.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::{uuid, Uuid};

use crate::ids::UserId;
use crate::phone::{PhoneError, PhoneNumber};

/// The three phone types of Entra. Stored by their Graph name, forever.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PhoneType {
    /// The primary mobile: SMS, voice and SMS sign-in.
    Mobile,
    /// A second mobile: voice only.
    AlternateMobile,
    /// An office phone: voice only, may carry an extension.
    Office,
}

impl PhoneType {
    /// All types, in Graph's order.
    pub const ALL: [PhoneType; 3] = [Self::Mobile, Self::AlternateMobile, Self::Office];

    /// The method id Graph uses for this type, the same for every user.
    pub fn method_id(self) -> Uuid {
        match self {
            Self::Mobile => uuid!("3179e48a-750b-4051-897c-87b9720928f7"),
            Self::AlternateMobile => uuid!("b6332ec1-7057-4abe-9331-3d72feddfe41"),
            Self::Office => uuid!("e37fc753-ff3b-4958-9484-eaa9425c82bc"),
        }
    }

    /// The type whose well-known id this is.
    pub fn from_method_id(id: Uuid) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.method_id() == id)
    }

    /// The stored and wire name (`mobile`, `alternateMobile`, `office`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Mobile => "mobile",
            Self::AlternateMobile => "alternateMobile",
            Self::Office => "office",
        }
    }

    /// Whether codes may be sent to this type by SMS.
    pub fn supports_sms(self) -> bool {
        self == Self::Mobile
    }

    /// Whether this type can ever be used for SMS sign-in.
    pub fn supports_sms_sign_in(self) -> bool {
        self == Self::Mobile
    }

    /// Checks that `number` may be stored as this type (only office numbers have extensions).
    pub fn check_number(self, number: &PhoneNumber) -> Result<(), PhoneError> {
        if number.extension().is_some() && self != Self::Office {
            return Err(PhoneError::ExtensionNotAllowed);
        }
        match (number.kind(), self) {
            // DESIGN.md §3: premium-rate and shared-cost numbers are refused (toll fraud).
            (crate::phone::NumberKind::Costly, _) => {
                Err(PhoneError::CostlyNumber(number.to_string()))
            }
            // An office line may be a company's universal number; a mobile must be a person's.
            (crate::phone::NumberKind::NotPersonal, Self::Mobile | Self::AlternateMobile) => {
                Err(PhoneError::NotForSms(number.to_string()))
            }
            _ => Ok(()),
        }
    }
}

impl fmt::Display for PhoneType {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// An unknown phone type name.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown phoneType; use mobile, alternateMobile or office")]
pub struct UnknownPhoneType(pub String);

impl FromStr for PhoneType {
    type Err = UnknownPhoneType;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "mobile" => Ok(Self::Mobile),
            "alternatemobile" | "alternate-mobile" => Ok(Self::AlternateMobile),
            "office" => Ok(Self::Office),
            _ => Err(UnknownPhoneType(s.to_string())),
        }
    }
}

/// A stored phone method of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneMethod {
    /// Whose method this is.
    pub user_id: UserId,
    /// Its type (and so its id).
    pub phone_type: PhoneType,
    /// The number.
    pub number: PhoneNumber,
    /// Whether SMS sign-in was switched on for this number (`enableSmsSignIn`).
    pub sms_sign_in_enabled: bool,
}

/// Another user's phone method with the same number, as the uniqueness rule sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NumberHolder {
    /// The other user.
    pub user_id: UserId,
    /// Their method's type.
    pub phone_type: PhoneType,
    /// Whether it is switched on for SMS sign-in.
    pub sms_sign_in_enabled: bool,
    /// The other user is deleted (restorable): the number stays theirs until they are
    /// purged or deleted for good (issue #17, as in Entra).
    pub deleted: bool,
}

impl NumberHolder {
    /// The refusal naming this holder: `live` for a live holder, or the deleted-user one.
    fn refusal(&self, live: fn(UserId) -> PhoneMethodError) -> PhoneMethodError {
        if self.deleted {
            PhoneMethodError::NumberHeldByDeletedUser {
                other_user: self.user_id,
            }
        } else {
            live(self.user_id)
        }
    }
}

/// Why a phone method change is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PhoneMethodError {
    /// The user already has a method of this type.
    #[error("the user already has a {0} phone method; change or delete it instead")]
    AlreadyExists(PhoneType),
    /// No method of this type.
    #[error("the user has no {0} phone method")]
    NotFound(PhoneType),
    /// `alternateMobile` needs a `mobile` first.
    #[error("add a mobile phone method before an alternateMobile one")]
    MobileRequired,
    /// The mobile cannot go while an alternate mobile depends on it.
    #[error("delete the alternateMobile phone method before the mobile one")]
    AlternateMobileExists,
    /// SMS sign-in on a type that does not support it.
    #[error("SMS sign-in is not supported for {0} phone methods; only mobile numbers can be used")]
    NotSupported(PhoneType),
    /// The uniqueness rule (DESIGN.md §1): the number is enabled for SMS sign-in for, or
    /// (when enabling) present on a method of, another user.
    #[error("Phone number cannot be enabled for SMS sign-in because the number is not unique in your tenant. The provided phone number is conflicted with the target user ({other_user}).")]
    NumberNotUnique {
        /// The other user holding the number.
        other_user: UserId,
    },
    /// The number is someone else's SMS sign-in number, so it cannot be added elsewhere.
    #[error("Phone number cannot be added because it is enabled for SMS sign-in for another user in your tenant (the number must be unique for SMS sign-in). The provided phone number is conflicted with the target user ({other_user}).")]
    NumberUsedForSignIn {
        /// The user who signs in with the number.
        other_user: UserId,
    },
    /// The number is on a method of a deleted user, who can still be restored with it.
    #[error("Phone number cannot be added because it belongs to a deleted user ({other_user}) in your tenant, who can be restored with it. Restore that user and remove the number from them, or delete the user permanently (DELETE /directory/deletedItems/{other_user}) first.")]
    NumberHeldByDeletedUser {
        /// The deleted user.
        other_user: UserId,
    },
    /// The tenant refuses shared numbers (refuse-shared mode) and another user holds this
    /// number on a phone method of any type.
    #[error("Phone number cannot be added because another user in your tenant already has it on a phone method, and this tenant refuses shared phone numbers. Give this user a number of their own, or remove the number from the other user ({other_user}) first.")]
    NumberShared {
        /// A user who holds the number.
        other_user: UserId,
    },
    /// The number is not acceptable for the type.
    #[error(transparent)]
    Phone(#[from] PhoneError),
}

impl PhoneMethodError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::AlreadyExists(_) => "phoneMethodExists",
            Self::NotFound(_) => "phoneMethodNotFound",
            Self::MobileRequired => "mobileRequired",
            Self::AlternateMobileExists => "alternateMobileExists",
            Self::NotSupported(_) => "smsSignInNotSupported",
            Self::NumberNotUnique { .. }
            | Self::NumberUsedForSignIn { .. }
            | Self::NumberHeldByDeletedUser { .. } => "phoneNumberNotUnique",
            Self::NumberShared { .. } => "phoneNumberShared",
            Self::Phone(e) => e.code(),
        }
    }
}

/// The uniqueness rule for storing `number` on a method of a user, given the other users
/// who hold the same number. `enable_sms_sign_in`: the stored method will be switched on
/// for SMS sign-in (an add while in sign-in scope, an explicit enable, or a change of an
/// enabled number).
pub fn check_uniqueness(
    others: &[NumberHolder],
    enable_sms_sign_in: bool,
) -> Result<(), PhoneMethodError> {
    if let Some(h) = others.iter().find(|h| h.sms_sign_in_enabled) {
        return Err(h.refusal(|other_user| PhoneMethodError::NumberUsedForSignIn { other_user }));
    }
    if enable_sms_sign_in {
        if let Some(h) = others.first() {
            return Err(h.refusal(|other_user| PhoneMethodError::NumberNotUnique { other_user }));
        }
    }
    Ok(())
}

/// Whether a tenant lets several users hold one number outside SMS sign-in (a tenant
/// setting). Entra allows it (an MFA or reset number shared by a team), which is the
/// "SMS backdoor" of seed 000; `Refused` closes it for every method type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NumberSharing {
    /// Entra's default: shared numbers are allowed where the uniqueness rule allows them.
    #[default]
    Allowed,
    /// No number may be stored on a method if another user holds it on any method.
    Refused,
}

impl NumberSharing {
    /// From the stored flag (`refuse_shared_phone_numbers`).
    pub fn from_refused(refused: bool) -> Self {
        if refused {
            Self::Refused
        } else {
            Self::Allowed
        }
    }

    /// Whether shared numbers are refused.
    pub fn refuses(self) -> bool {
        self == Self::Refused
    }
}

/// The refuse-shared rule: with [`NumberSharing::Refused`], a number that another user
/// holds on any method cannot be stored. Checked after [`check_uniqueness`], whose
/// sign-in conflict is the more specific answer.
pub fn check_sharing(
    others: &[NumberHolder],
    sharing: NumberSharing,
) -> Result<(), PhoneMethodError> {
    match (sharing, others.first()) {
        (NumberSharing::Refused, Some(h)) => {
            Err(h.refusal(|other_user| PhoneMethodError::NumberShared { other_user }))
        }
        _ => Ok(()),
    }
}

/// What to do with one phone method of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PhoneMethodOp {
    /// Add the method; `enable_sms_sign_in` when the owner is in sign-in scope.
    Add {
        /// The number.
        number: PhoneNumber,
        /// Switch SMS sign-in on at once.
        enable_sms_sign_in: bool,
    },
    /// Change the number (an enabled method stays enabled, so the rule is re-checked).
    Update {
        /// The new number.
        number: PhoneNumber,
    },
    /// Delete the method.
    Delete,
    /// Switch SMS sign-in on or off.
    SetSmsSignIn(bool),
}

/// A change to one phone method of a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PhoneMethodChange {
    /// The tenant.
    pub tenant: crate::ids::TenantId,
    /// The user.
    pub user: UserId,
    /// Which method.
    pub phone_type: PhoneType,
    /// What to do.
    pub op: PhoneMethodOp,
    /// The session the user made this change of their own in (security info): when the
    /// change revokes the user's sessions, this one stays. `None` for admin changes.
    pub made_in: Option<crate::ids::SessionId>,
}

/// What a backend writes for an accepted phone method change: the method as it was and
/// as it will be (`None`: absent). `before == None` is an insert, `after == None` a delete.
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct PhonePlan {
    /// The stored method before the change.
    pub before: Option<PhoneMethod>,
    /// The stored method after the change.
    pub after: Option<PhoneMethod>,
}

impl PhonePlan {
    /// The user whose method changes.
    pub fn user_id(&self) -> UserId {
        self.after
            .as_ref()
            .or(self.before.as_ref())
            .map_or(UserId(uuid::Uuid::nil()), |m| m.user_id)
    }

    /// The audit activity name (stored forever).
    pub fn activity(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, _) => "Add phone method",
            (Some(_), None) => "Delete phone method",
            (Some(b), Some(a)) if b.sms_sign_in_enabled != a.sms_sign_in_enabled => {
                if a.sms_sign_in_enabled {
                    "Enable SMS sign-in"
                } else {
                    "Disable SMS sign-in"
                }
            }
            (Some(_), Some(_)) => "Update phone method",
        }
    }
}

/// The number whose other holders [`plan_phone_change`] must see: the new number of an
/// add or change, the current number when SMS sign-in is switched on, none otherwise.
pub fn number_to_check<'a>(
    current: &'a [PhoneMethod],
    change: &'a PhoneMethodChange,
) -> Option<&'a PhoneNumber> {
    match &change.op {
        PhoneMethodOp::Add { number, .. } | PhoneMethodOp::Update { number } => Some(number),
        PhoneMethodOp::SetSmsSignIn(true) => current
            .iter()
            .find(|m| m.phone_type == change.phone_type)
            .map(|m| &m.number),
        PhoneMethodOp::SetSmsSignIn(false) | PhoneMethodOp::Delete => None,
    }
}

/// Decides a phone method change (DESIGN.md §1: one method per type, a mobile before an
/// alternate mobile, SMS sign-in only on mobiles, the uniqueness rule, and the tenant's
/// [`NumberSharing`]) on the user's current methods and the other holders of
/// [`number_to_check`], read in the backend's write transaction with the tenant's setting.
pub fn plan_phone_change(
    current: &[PhoneMethod],
    holders: &[NumberHolder],
    change: &PhoneMethodChange,
    sharing: NumberSharing,
) -> Result<PhonePlan, PhoneMethodError> {
    let t = change.phone_type;
    let has = |ty: PhoneType| current.iter().any(|m| m.phone_type == ty);
    let existing = current.iter().find(|m| m.phone_type == t).cloned();
    let after = match (&change.op, &existing) {
        (PhoneMethodOp::Add { .. }, Some(_)) => return Err(PhoneMethodError::AlreadyExists(t)),
        (
            PhoneMethodOp::Add {
                number,
                enable_sms_sign_in,
            },
            None,
        ) => {
            if t == PhoneType::AlternateMobile && !has(PhoneType::Mobile) {
                return Err(PhoneMethodError::MobileRequired);
            }
            t.check_number(number)?;
            let enable = *enable_sms_sign_in && t.supports_sms_sign_in();
            check_uniqueness(holders, enable)?;
            check_sharing(holders, sharing)?;
            Some(PhoneMethod {
                user_id: change.user,
                phone_type: t,
                number: number.clone(),
                sms_sign_in_enabled: enable,
            })
        }
        (_, None) => return Err(PhoneMethodError::NotFound(t)),
        (PhoneMethodOp::Update { number }, Some(old)) => {
            t.check_number(number)?;
            check_uniqueness(holders, old.sms_sign_in_enabled)?;
            check_sharing(holders, sharing)?;
            Some(PhoneMethod {
                number: number.clone(),
                ..old.clone()
            })
        }
        (PhoneMethodOp::Delete, Some(_)) => {
            if t == PhoneType::Mobile && has(PhoneType::AlternateMobile) {
                return Err(PhoneMethodError::AlternateMobileExists);
            }
            None
        }
        (PhoneMethodOp::SetSmsSignIn(enable), Some(old)) => {
            if !t.supports_sms_sign_in() {
                return Err(PhoneMethodError::NotSupported(t));
            }
            if *enable {
                check_uniqueness(holders, true)?;
            }
            Some(PhoneMethod {
                sms_sign_in_enabled: *enable,
                ..old.clone()
            })
        }
    };
    Ok(PhonePlan {
        before: existing,
        after,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use uuid::Uuid;

    fn holder(enabled: bool) -> NumberHolder {
        NumberHolder {
            deleted: false,
            user_id: UserId(Uuid::from_u128(2)),
            phone_type: PhoneType::Office,
            sms_sign_in_enabled: enabled,
        }
    }

    #[test]
    fn well_known_ids_round_trip() {
        for t in PhoneType::ALL {
            assert_eq!(PhoneType::from_method_id(t.method_id()), Some(t));
            assert_eq!(t.as_str().parse::<PhoneType>().unwrap(), t);
        }
    }

    #[test]
    fn the_three_uniqueness_cases() {
        // 1. N is someone's sign-in number: no one else may add it, in any way.
        assert!(matches!(
            check_uniqueness(&[holder(true)], false),
            Err(PhoneMethodError::NumberUsedForSignIn { .. })
        ));
        // 2./3. Switching sign-in on (by an add in scope or by enable) needs N on nobody else.
        assert!(matches!(
            check_uniqueness(&[holder(false)], true),
            Err(PhoneMethodError::NumberNotUnique { .. })
        ));
        // Outside sign-in scope, Entra lets several users share a number.
        assert_eq!(check_uniqueness(&[holder(false)], false), Ok(()));
        assert_eq!(check_uniqueness(&[], true), Ok(()));
    }

    #[test]
    fn a_deleted_holder_is_named_as_deleted_and_counts_like_a_live_one() {
        // Issue #17: a deleted user keeps their numbers until purged (Entra).
        let deleted = |enabled| NumberHolder {
            deleted: true,
            ..holder(enabled)
        };
        for (holders, enable) in [([deleted(true)], false), ([deleted(false)], true)] {
            assert!(matches!(
                check_uniqueness(&holders, enable),
                Err(PhoneMethodError::NumberHeldByDeletedUser { .. })
            ));
        }
        assert!(matches!(
            check_sharing(&[deleted(false)], NumberSharing::Refused),
            Err(PhoneMethodError::NumberHeldByDeletedUser { .. })
        ));
        assert_eq!(check_uniqueness(&[deleted(false)], false), Ok(()));
    }

    fn add(number: &str) -> PhoneMethodChange {
        PhoneMethodChange {
            made_in: None,
            tenant: crate::ids::TenantId(Uuid::nil()),
            user: UserId(Uuid::from_u128(1)),
            phone_type: PhoneType::Office,
            op: PhoneMethodOp::Add {
                number: PhoneNumber::parse(number, None).unwrap(),
                enable_sms_sign_in: false,
            },
        }
    }

    #[test]
    fn refuse_shared_mode_refuses_a_number_held_on_any_method() {
        let change = add("+1 4255550101");
        // Entra's default: an office number may be shared outside sign-in.
        assert!(plan_phone_change(&[], &[holder(false)], &change, NumberSharing::Allowed).is_ok());
        let e =
            plan_phone_change(&[], &[holder(false)], &change, NumberSharing::Refused).unwrap_err();
        assert_eq!(e.code(), "phoneNumberShared");
        // A sign-in conflict keeps its own, more specific answer.
        let e =
            plan_phone_change(&[], &[holder(true)], &change, NumberSharing::Refused).unwrap_err();
        assert_eq!(e.code(), "phoneNumberNotUnique");
        // A number nobody else holds is fine.
        assert!(plan_phone_change(&[], &[], &change, NumberSharing::Refused).is_ok());
    }

    #[test]
    fn only_office_numbers_take_extensions() {
        let n = PhoneNumber::parse("+1 4255550101 x12", None).unwrap();
        assert_eq!(
            PhoneType::Mobile.check_number(&n),
            Err(PhoneError::ExtensionNotAllowed)
        );
        assert_eq!(PhoneType::Office.check_number(&n), Ok(()));
    }
}
