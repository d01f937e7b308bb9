//! The authentication methods policy of a tenant (DESIGN.md §1): who may use SMS, voice
//! and Temporary Access Passes, and whether SMS is a first factor ("use for sign-in") or
//! only a second factor and for password reset.
//!
//! The policy is stored as one document per tenant; its serde names are Graph's, so the
//! stored form reads like `authenticationMethodsPolicy` and never needs a migration for a
//! renamed Rust field.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::ids::{GroupId, UserId};
use crate::message::Channel;
use crate::methods::PhoneType;

/// Whether a method is on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum MethodState {
    /// Usable by the targeted users.
    Enabled,
    /// Usable by nobody.
    Disabled,
}

/// What an include or exclude target points at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetType {
    /// One user.
    User,
    /// A group's members.
    Group,
}

/// The id of a target: every user, or one user or group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetId {
    /// Graph's `all_users`.
    AllUsers,
    /// A user or group id.
    Id(Uuid),
}

impl Serialize for TargetId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::AllUsers => s.serialize_str("all_users"),
            Self::Id(id) => s.collect_str(id),
        }
    }
}

impl<'de> Deserialize<'de> for TargetId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        Self::parse(&s)
            .ok_or_else(|| serde::de::Error::custom("a target id is neither all_users nor a UUID"))
    }
}

impl TargetId {
    /// `all_users` or a UUID.
    pub fn parse(s: &str) -> Option<Self> {
        if s.eq_ignore_ascii_case("all_users") {
            Some(Self::AllUsers)
        } else {
            Uuid::parse_str(s).ok().map(Self::Id)
        }
    }
}

/// An include target of the SMS method.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsIncludeTarget {
    /// User or group.
    pub target_type: TargetType,
    /// Which.
    pub id: TargetId,
    /// `true`: SMS is a first factor (SMS sign-in). `false`: only MFA and password reset.
    pub is_usable_for_sign_in: bool,
}

/// An include target of the voice and Temporary Access Pass methods.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IncludeTarget {
    /// User or group.
    pub target_type: TargetType,
    /// Which.
    pub id: TargetId,
}

/// An exclude target: always a group in Entra.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExcludeTarget {
    /// Group (Entra only allows groups; a user id is honoured too).
    pub target_type: TargetType,
    /// The group's (or user's) id.
    pub id: Uuid,
}

/// The SMS method's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SmsConfiguration {
    /// On or off.
    pub state: MethodState,
    /// Who may use it, and how.
    pub include_targets: Vec<SmsIncludeTarget>,
    /// Who may not, whatever the includes say.
    pub exclude_targets: Vec<ExcludeTarget>,
    /// textid extension: the country calling codes codes are texted to (issue #14 §2).
    /// `None`: the calling code of the tenant's region if it has one, otherwise every
    /// geographic code (not +881/+882/+883 and the other non-geographic codes).
    #[serde(
        default,
        rename = "textidAllowedCountryCodes",
        skip_serializing_if = "Option::is_none"
    )]
    pub allowed_country_codes: Option<Vec<u16>>,
}

/// The voice method's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VoiceConfiguration {
    /// On or off.
    pub state: MethodState,
    /// Who may use it.
    pub include_targets: Vec<IncludeTarget>,
    /// Who may not.
    pub exclude_targets: Vec<ExcludeTarget>,
    /// Whether office phones may receive calls.
    pub is_office_phone_allowed: bool,
}

/// The Temporary Access Pass method's configuration, with Entra's defaults.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TemporaryAccessPassConfiguration {
    /// On or off.
    pub state: MethodState,
    /// Who may use it.
    pub include_targets: Vec<IncludeTarget>,
    /// Who may not.
    pub exclude_targets: Vec<ExcludeTarget>,
    /// Lifetime when none is asked for (minutes).
    pub default_lifetime_in_minutes: u32,
    /// Shortest lifetime an admin may ask for (minutes).
    pub minimum_lifetime_in_minutes: u32,
    /// Longest lifetime an admin may ask for (minutes).
    pub maximum_lifetime_in_minutes: u32,
    /// Characters of a new pass.
    pub default_length: u32,
    /// Whether every pass is one-time.
    pub is_usable_once: bool,
}

/// Where a tenant is in Entra's migration from legacy MFA/SSPR policies.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PolicyMigrationState {
    /// Legacy policies still apply.
    PreMigration,
    /// Both apply.
    MigrationInProgress,
    /// Only this policy applies.
    MigrationComplete,
}

/// A tenant's authentication methods policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationMethodsPolicy {
    /// Migration state, as in Entra.
    pub policy_migration_state: PolicyMigrationState,
    /// SMS.
    pub sms: SmsConfiguration,
    /// Voice call.
    pub voice: VoiceConfiguration,
    /// Temporary Access Pass.
    pub temporary_access_pass: TemporaryAccessPassConfiguration,
}

fn all_users() -> IncludeTarget {
    IncludeTarget {
        target_type: TargetType::Group,
        id: TargetId::AllUsers,
    }
}

impl Default for SmsConfiguration {
    /// Off until an admin turns it on; when on, everyone may use it for sign-in.
    fn default() -> Self {
        Self {
            state: MethodState::Disabled,
            include_targets: vec![SmsIncludeTarget {
                target_type: TargetType::Group,
                id: TargetId::AllUsers,
                is_usable_for_sign_in: true,
            }],
            exclude_targets: Vec::new(),
            allowed_country_codes: None,
        }
    }
}

impl Default for VoiceConfiguration {
    fn default() -> Self {
        Self {
            state: MethodState::Disabled,
            include_targets: vec![all_users()],
            exclude_targets: Vec::new(),
            is_office_phone_allowed: false,
        }
    }
}

impl Default for TemporaryAccessPassConfiguration {
    /// Entra's defaults: 60 minutes by default, 60–480 allowed, 8 characters, multi-use.
    fn default() -> Self {
        Self {
            state: MethodState::Disabled,
            include_targets: vec![all_users()],
            exclude_targets: Vec::new(),
            default_lifetime_in_minutes: 60,
            minimum_lifetime_in_minutes: 60,
            maximum_lifetime_in_minutes: 480,
            default_length: 8,
            is_usable_once: false,
        }
    }
}

impl Default for AuthenticationMethodsPolicy {
    fn default() -> Self {
        Self {
            policy_migration_state: PolicyMigrationState::PreMigration,
            sms: SmsConfiguration::default(),
            voice: VoiceConfiguration::default(),
            temporary_access_pass: TemporaryAccessPassConfiguration::default(),
        }
    }
}

/// A user as the policy sees them: their id and the groups they belong to.
#[derive(Debug, Clone, Copy)]
pub struct Subject<'a> {
    /// The user.
    pub user_id: UserId,
    /// Their groups.
    pub groups: &'a [GroupId],
}

impl Subject<'_> {
    pub(crate) fn matches(&self, target_type: TargetType, id: TargetId) -> bool {
        match (target_type, id) {
            (_, TargetId::AllUsers) => true,
            (TargetType::User, TargetId::Id(id)) => self.user_id.0 == id,
            (TargetType::Group, TargetId::Id(id)) => self.groups.iter().any(|g| g.0 == id),
        }
    }

    pub(crate) fn excluded_by(&self, excludes: &[ExcludeTarget]) -> bool {
        excludes
            .iter()
            .any(|e| self.matches(e.target_type, TargetId::Id(e.id)))
    }
}

/// What the SMS part of the policy allows one user.
#[must_use]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmsPermission {
    /// SMS is off for this user.
    NotAllowed,
    /// SMS as a second factor and for password reset only.
    SecondFactorOnly,
    /// SMS as a first factor too (SMS sign-in).
    SignIn,
}

impl SmsConfiguration {
    /// Decides what this user may do with SMS. Excludes win over includes; among includes,
    /// any target with "use for sign-in" that covers the user makes it a first factor.
    pub fn permission(&self, subject: Subject<'_>) -> SmsPermission {
        if self.state == MethodState::Disabled || subject.excluded_by(&self.exclude_targets) {
            return SmsPermission::NotAllowed;
        }
        let mut permission = SmsPermission::NotAllowed;
        for target in &self.include_targets {
            if subject.matches(target.target_type, target.id) {
                if target.is_usable_for_sign_in {
                    return SmsPermission::SignIn;
                }
                permission = SmsPermission::SecondFactorOnly;
            }
        }
        permission
    }
}

impl VoiceConfiguration {
    /// Whether this user may get codes by voice call on a phone of `phone_type`. Excludes
    /// win over includes; an office phone also needs `isOfficePhoneAllowed` (Entra's
    /// voice settings).
    pub fn allows_call(&self, subject: Subject<'_>, phone_type: PhoneType) -> bool {
        self.state == MethodState::Enabled
            && !subject.excluded_by(&self.exclude_targets)
            && self
                .include_targets
                .iter()
                .any(|t| subject.matches(t.target_type, t.id))
            && (phone_type != PhoneType::Office || self.is_office_phone_allowed)
    }
}

impl TemporaryAccessPassConfiguration {
    /// Whether this user may sign in with a pass: the method is on, an include target
    /// covers them and no exclude target does (checked again at sign-in, so a pass stops
    /// working when the policy stops covering its user).
    pub fn allows(&self, subject: Subject<'_>) -> bool {
        self.state == MethodState::Enabled
            && !subject.excluded_by(&self.exclude_targets)
            && self
                .include_targets
                .iter()
                .any(|t| subject.matches(t.target_type, t.id))
    }
}

impl AuthenticationMethodsPolicy {
    /// Whether a code may go to this user's phone of `phone_type` over `channel`. A text
    /// goes only to a mobile, and only when the SMS method covers the user (as a first or
    /// a second factor); `alternateMobile` and `office` phones are voice only (DESIGN.md
    /// §1), and a call needs the voice method.
    pub fn allows_channel(
        &self,
        subject: Subject<'_>,
        phone_type: PhoneType,
        channel: Channel,
    ) -> bool {
        match channel {
            Channel::Sms => {
                phone_type == PhoneType::Mobile
                    && self.sms.permission(subject) != SmsPermission::NotAllowed
            }
            Channel::Voice => self.voice.allows_call(subject, phone_type),
        }
    }
}

/// A policy change that breaks a rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The TAP lifetimes are out of order or out of Entra's range.
    #[error("temporaryAccessPass lifetimes must satisfy 10 <= minimum <= default <= maximum <= 43200 minutes")]
    InvalidLifetimes,
    /// The TAP length is out of range.
    #[error("temporaryAccessPass defaultLength must be between 8 and 48")]
    InvalidLength,
}

impl PolicyError {
    /// The stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidLifetimes => "invalidLifetime",
            Self::InvalidLength => "invalidLength",
        }
    }
}

impl AuthenticationMethodsPolicy {
    /// Checks the bounds Entra puts on a policy.
    pub fn check(&self) -> Result<(), PolicyError> {
        let t = &self.temporary_access_pass;
        if !(10 <= t.minimum_lifetime_in_minutes
            && t.minimum_lifetime_in_minutes <= t.default_lifetime_in_minutes
            && t.default_lifetime_in_minutes <= t.maximum_lifetime_in_minutes
            && t.maximum_lifetime_in_minutes <= 43_200)
        {
            return Err(PolicyError::InvalidLifetimes);
        }
        if !(8..=48).contains(&t.default_length) {
            return Err(PolicyError::InvalidLength);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user() -> UserId {
        UserId(Uuid::from_u128(1))
    }
    fn group(n: u128) -> GroupId {
        GroupId(Uuid::from_u128(n))
    }

    fn sms(targets: Vec<SmsIncludeTarget>, excludes: Vec<ExcludeTarget>) -> SmsConfiguration {
        SmsConfiguration {
            allowed_country_codes: None,
            state: MethodState::Enabled,
            include_targets: targets,
            exclude_targets: excludes,
        }
    }

    fn group_target(n: u128, sign_in: bool) -> SmsIncludeTarget {
        SmsIncludeTarget {
            target_type: TargetType::Group,
            id: TargetId::Id(Uuid::from_u128(n)),
            is_usable_for_sign_in: sign_in,
        }
    }

    fn voice(office: bool) -> VoiceConfiguration {
        VoiceConfiguration {
            state: MethodState::Enabled,
            is_office_phone_allowed: office,
            ..VoiceConfiguration::default()
        }
    }

    #[test]
    fn voice_is_off_by_default_and_calls_office_phones_only_when_allowed() {
        let groups = [group(7)];
        let who = Subject {
            user_id: user(),
            groups: &groups,
        };
        let off = VoiceConfiguration::default();
        assert!(!off.allows_call(who, PhoneType::Mobile));
        assert!(voice(false).allows_call(who, PhoneType::Mobile));
        assert!(voice(false).allows_call(who, PhoneType::AlternateMobile));
        assert!(!voice(false).allows_call(who, PhoneType::Office));
        assert!(voice(true).allows_call(who, PhoneType::Office));
        let excluded = VoiceConfiguration {
            exclude_targets: vec![ExcludeTarget {
                target_type: TargetType::Group,
                id: Uuid::from_u128(7),
            }],
            ..voice(true)
        };
        assert!(!excluded.allows_call(who, PhoneType::Mobile));
        let others_only = VoiceConfiguration {
            include_targets: vec![IncludeTarget {
                target_type: TargetType::Group,
                id: TargetId::Id(Uuid::from_u128(8)),
            }],
            ..voice(true)
        };
        assert!(!others_only.allows_call(who, PhoneType::Mobile));
    }

    #[test]
    fn texts_go_only_to_mobiles_and_office_phones_are_voice_only() {
        let who = Subject {
            user_id: user(),
            groups: &[],
        };
        let mut p = AuthenticationMethodsPolicy::default();
        p.sms.state = MethodState::Enabled;
        p.voice = voice(true);
        assert!(p.allows_channel(who, PhoneType::Mobile, Channel::Sms));
        assert!(!p.allows_channel(who, PhoneType::AlternateMobile, Channel::Sms));
        assert!(!p.allows_channel(who, PhoneType::Office, Channel::Sms));
        assert!(p.allows_channel(who, PhoneType::Office, Channel::Voice));
        p.sms.state = MethodState::Disabled;
        assert!(!p.allows_channel(who, PhoneType::Mobile, Channel::Sms));
        assert!(p.allows_channel(who, PhoneType::Mobile, Channel::Voice));
    }

    #[test]
    fn defaults_are_entras() {
        let p = AuthenticationMethodsPolicy::default();
        let t = &p.temporary_access_pass;
        assert_eq!(
            (
                t.default_lifetime_in_minutes,
                t.minimum_lifetime_in_minutes,
                t.maximum_lifetime_in_minutes,
                t.default_length,
                t.is_usable_once
            ),
            (60, 60, 480, 8, false)
        );
        assert_eq!(p.sms.state, MethodState::Disabled);
        p.check().unwrap();
    }

    #[test]
    fn disabled_sms_allows_nobody() {
        let mut c = SmsConfiguration::default();
        let s = Subject {
            user_id: user(),
            groups: &[],
        };
        assert_eq!(c.permission(s), SmsPermission::NotAllowed);
        c.state = MethodState::Enabled;
        assert_eq!(c.permission(s), SmsPermission::SignIn);
    }

    #[test]
    fn group_target_covers_only_members_and_use_for_sign_in_decides_the_factor() {
        let c = sms(
            vec![group_target(10, false), group_target(11, true)],
            vec![],
        );
        let none = Subject {
            user_id: user(),
            groups: &[],
        };
        assert_eq!(c.permission(none), SmsPermission::NotAllowed);
        let g10 = [group(10)];
        assert_eq!(
            c.permission(Subject {
                user_id: user(),
                groups: &g10
            }),
            SmsPermission::SecondFactorOnly
        );
        let both = [group(10), group(11)];
        assert_eq!(
            c.permission(Subject {
                user_id: user(),
                groups: &both
            }),
            SmsPermission::SignIn
        );
    }

    #[test]
    fn an_exclude_group_wins_over_every_include() {
        let c = sms(
            vec![SmsIncludeTarget {
                target_type: TargetType::Group,
                id: TargetId::AllUsers,
                is_usable_for_sign_in: true,
            }],
            vec![ExcludeTarget {
                target_type: TargetType::Group,
                id: Uuid::from_u128(20),
            }],
        );
        let g = [group(20)];
        assert_eq!(
            c.permission(Subject {
                user_id: user(),
                groups: &g
            }),
            SmsPermission::NotAllowed
        );
    }

    #[test]
    fn stored_form_uses_graph_names() {
        let json = serde_json::to_string(&SmsConfiguration::default()).unwrap();
        assert!(json.contains("\"isUsableForSignIn\":true"), "{json}");
        assert!(json.contains("\"id\":\"all_users\""), "{json}");
        assert!(json.contains("\"state\":\"disabled\""), "{json}");
    }
}
