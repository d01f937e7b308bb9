//! Sessions and what ends them (DESIGN.md §3 "Sessions"; issue #14 §1 and §4).
//!
//! Two kinds of session never stand in for each other: the API session that the JSON
//! sign-in API hands to the app that called it, and the browser (SSO) session behind
//! the `textid_session` cookie of the sign-in pages. A token is only ever looked up
//! together with the kind the endpoint accepts, so an API token presented as the SSO
//! cookie (which would hand out authorization codes for every app of the tenant, and
//! admin-scoped tokens for an admin) is as unknown as a random string.
//!
//! The decisions "this change ends the user's sessions" live here, as pure functions of
//! the change, so every backend and every surface revokes on the same changes: whatever
//! proved the user (their SMS sign-in number, their Temporary Access Pass, their enabled
//! account) changed, so what it proved no longer holds.
//!
//! A revocation and the issue of an authorization code can meet at one instant (the SSO
//! session was read live, then revoked, then the code stored). Comparing times cannot
//! order them (both carry the same `now`), so the order is the database's: a code
//! carries the id of the browser session that authorised it and is stored only while that
//! session is live, in the insert's own transaction; a revocation committed first makes the
//! insert fail, one committed after it finds the code and revokes its family (issue #14 §4).

use crate::directory::User;
use crate::methods::PhonePlan;

/// The kind of a session. Stored by name (`api`, `browser`); the names never change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SessionKind {
    /// Returned as `sessionToken` by `POST /{tenant}/api/v1/sign-in/sms/verify`, for the
    /// app that called it; checked with the session introspection endpoint.
    Api,
    /// The SSO session of the sign-in pages, held as the session cookie.
    Browser,
}

impl SessionKind {
    /// The stored name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::Browser => "browser",
        }
    }

    /// From the stored name.
    pub fn parse(s: &str) -> Option<Self> {
        [Self::Api, Self::Browser]
            .into_iter()
            .find(|k| k.as_str() == s)
    }
}

/// Whether a phone method change ends the user's sessions and token families: the number
/// changed, the method went, or SMS sign-in was switched off. What a code sent to the old
/// number proved (possession of that number) no longer identifies the user; an attacker
/// who signed in with a number the admin just took away must not stay signed in. Adding a
/// method or switching SMS sign-in on takes nothing away, so it revokes nothing.
pub fn phone_change_revokes(plan: &PhonePlan) -> bool {
    match (&plan.before, &plan.after) {
        (None, _) => false,
        (Some(_), None) => true,
        (Some(b), Some(a)) => {
            b.number != a.number || (b.sms_sign_in_enabled && !a.sms_sign_in_enabled)
        }
    }
}

/// Whether a user update ends the user's sessions and token families: the account was
/// disabled (Entra: a disabled account's refresh tokens stop working, and stay stopped
/// when the account is enabled again).
pub fn user_update_revokes(before: &User, after: &User) -> bool {
    before.account_enabled && !after.account_enabled
}

/// Deleting a user ends everything they held.
pub const USER_DELETE_REVOKES: bool = true;

/// Issuing a new Temporary Access Pass or deleting one ends the user's sessions: a pass is
/// issued when the user lost their phone (or someone else may hold it), so what was
/// signed in before must sign in again.
pub const PASS_CHANGE_REVOKES: bool = true;

/// Setting, changing or resetting a password ends the user's sessions and token families
/// (as Entra revokes refresh tokens on a password change): a password is reset because
/// someone else may know the old one, and what they signed in with must stop working.
pub const PASSWORD_CHANGE_REVOKES: bool = true;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::methods::{PhoneMethod, PhoneType};
    use crate::phone::PhoneNumber;
    use crate::UserId;

    fn method(number: &str, enabled: bool) -> PhoneMethod {
        PhoneMethod {
            user_id: UserId(uuid::Uuid::from_u128(1)),
            phone_type: PhoneType::Mobile,
            number: PhoneNumber::parse(number, None).unwrap(),
            sms_sign_in_enabled: enabled,
        }
    }

    fn plan(before: Option<PhoneMethod>, after: Option<PhoneMethod>) -> PhonePlan {
        PhonePlan { before, after }
    }

    #[test]
    fn kinds_round_trip_by_their_pinned_names() {
        assert_eq!(SessionKind::Api.as_str(), "api");
        assert_eq!(SessionKind::Browser.as_str(), "browser");
        for k in [SessionKind::Api, SessionKind::Browser] {
            assert_eq!(SessionKind::parse(k.as_str()), Some(k));
        }
        assert_eq!(SessionKind::parse("API"), None);
    }

    #[test]
    fn a_changed_removed_or_switched_off_number_revokes() {
        let a = || method("+14255550101", true);
        assert!(!phone_change_revokes(&plan(None, Some(a()))), "add");
        assert!(phone_change_revokes(&plan(Some(a()), None)), "delete");
        let other = method("+14255550102", true);
        assert!(
            phone_change_revokes(&plan(Some(a()), Some(other))),
            "update"
        );
        let off = method("+14255550101", false);
        assert!(phone_change_revokes(&plan(Some(a()), Some(off.clone()))));
        assert!(!phone_change_revokes(&plan(Some(off), Some(a()))), "enable");
        assert!(!phone_change_revokes(&plan(Some(a()), Some(a()))), "same");
    }
}
