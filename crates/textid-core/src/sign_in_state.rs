//! `smsSignInState` of a phone method: derived from the method, the policy and the
//! tenant's other methods; never stored (DESIGN.md §1).
//!
//! When several states apply, the first of this order wins:
//! `notSupported` → `notAllowedByPolicy` → `phoneNumberNotUnique` → `notEnabled` →
//! `notConfigured` → `ready`. A shared number that is also switched off shows
//! `phoneNumberNotUnique`, because that is what the admin must fix first.

use serde::{Deserialize, Serialize};

use crate::methods::PhoneType;
use crate::policy::SmsPermission;

/// Graph's `smsSignInState` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum SmsSignInState {
    /// The phone type cannot be used for SMS sign-in.
    NotSupported,
    /// The policy does not allow this user SMS as a first factor.
    NotAllowedByPolicy,
    /// SMS sign-in was not switched on for this number.
    NotEnabled,
    /// Allowed, but the user must still act (prove the number).
    NotConfigured,
    /// Another user in the tenant has this number.
    PhoneNumberNotUnique,
    /// The user can sign in with this number.
    Ready,
}

impl SmsSignInState {
    /// The Graph name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotSupported => "notSupported",
            Self::NotAllowedByPolicy => "notAllowedByPolicy",
            Self::NotEnabled => "notEnabled",
            Self::NotConfigured => "notConfigured",
            Self::PhoneNumberNotUnique => "phoneNumberNotUnique",
            Self::Ready => "ready",
        }
    }
}

/// Everything the state depends on.
#[derive(Debug, Clone, Copy)]
pub struct SignInStateFacts {
    /// The method's type.
    pub phone_type: PhoneType,
    /// What the policy allows the method's owner.
    pub permission: SmsPermission,
    /// Another user in the tenant has the same number on any phone method.
    pub number_shared_with_another_user: bool,
    /// SMS sign-in switched on for the number.
    pub sms_sign_in_enabled: bool,
    /// The owner must still prove the number.
    pub needs_confirmation: bool,
}

/// Derives the state; see the module docs for the order.
pub fn derive(f: SignInStateFacts) -> SmsSignInState {
    if !f.phone_type.supports_sms_sign_in() {
        SmsSignInState::NotSupported
    } else if f.permission != SmsPermission::SignIn {
        SmsSignInState::NotAllowedByPolicy
    } else if f.number_shared_with_another_user {
        SmsSignInState::PhoneNumberNotUnique
    } else if !f.sms_sign_in_enabled {
        SmsSignInState::NotEnabled
    } else if f.needs_confirmation {
        SmsSignInState::NotConfigured
    } else {
        SmsSignInState::Ready
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn facts() -> SignInStateFacts {
        SignInStateFacts {
            phone_type: PhoneType::Mobile,
            permission: SmsPermission::SignIn,
            number_shared_with_another_user: false,
            sms_sign_in_enabled: true,
            needs_confirmation: false,
        }
    }

    #[test]
    fn a_unique_enabled_mobile_in_scope_is_ready() {
        assert_eq!(derive(facts()), SmsSignInState::Ready);
    }

    #[test]
    fn a_shared_number_that_is_also_off_shows_not_unique() {
        let f = SignInStateFacts {
            number_shared_with_another_user: true,
            sms_sign_in_enabled: false,
            ..facts()
        };
        assert_eq!(derive(f), SmsSignInState::PhoneNumberNotUnique);
    }

    #[test]
    fn second_factor_only_is_not_allowed_by_policy() {
        let f = SignInStateFacts {
            permission: SmsPermission::SecondFactorOnly,
            ..facts()
        };
        assert_eq!(derive(f), SmsSignInState::NotAllowedByPolicy);
    }

    fn any_permission() -> impl Strategy<Value = SmsPermission> {
        prop_oneof![
            Just(SmsPermission::NotAllowed),
            Just(SmsPermission::SecondFactorOnly),
            Just(SmsPermission::SignIn)
        ]
    }

    fn any_type() -> impl Strategy<Value = PhoneType> {
        prop_oneof![
            Just(PhoneType::Mobile),
            Just(PhoneType::AlternateMobile),
            Just(PhoneType::Office)
        ]
    }

    proptest! {
        // Ready exactly when every condition holds; each state only when its condition
        // holds and every earlier one does not.
        #[test]
        fn state_follows_the_documented_order(
            phone_type in any_type(),
            permission in any_permission(),
            shared: bool, enabled: bool, needs: bool,
        ) {
            let f = SignInStateFacts { phone_type, permission, number_shared_with_another_user: shared, sms_sign_in_enabled: enabled, needs_confirmation: needs };
            let s = derive(f);
            let supported = phone_type == PhoneType::Mobile;
            let allowed = permission == SmsPermission::SignIn;
            prop_assert_eq!(s == SmsSignInState::Ready, supported && allowed && !shared && enabled && !needs);
            prop_assert_eq!(s == SmsSignInState::NotSupported, !supported);
            if s == SmsSignInState::NotAllowedByPolicy { prop_assert!(supported && !allowed); }
            if s == SmsSignInState::PhoneNumberNotUnique { prop_assert!(supported && allowed && shared); }
            if s == SmsSignInState::NotEnabled { prop_assert!(supported && allowed && !shared && !enabled); }
            if s == SmsSignInState::NotConfigured { prop_assert!(supported && allowed && !shared && enabled && needs); }
        }
    }
}
