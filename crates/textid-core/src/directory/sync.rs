//! Seed 003: a synced user's public profile numbers (`mobilePhone`, `businessPhones[0]`)
//! and their authentication numbers (the `mobile` and `office` phone methods). For users
//! synced from a source directory (over SCIM), each write of a public number is followed
//! by exactly one of these outcomes for the matching authentication number:
//!
//! 1. a public number arrives while the authentication number is empty: copy it;
//! 2. the two were equal and the public number changes: change both;
//! 3. they differ: a change of the public number leaves the authentication number alone;
//! 4. the public number is deleted: the authentication number stays (admins delete it).
//!
//! "Arrives" means the sync wrote a public number different from the one it held before:
//! a sync that repeats an unchanged public number never re-adds an authentication number
//! an admin deleted. Cloud (non-synced) users never get copies; nothing is ever texted to
//! a public number. The plan is pure; the use case applies it with the uniqueness rule of
//! DESIGN.md §1 (a conflict leaves the method as it was and is audited, never failing the
//! sync).

/// What to write to an authentication number after a sync wrote its public number.
/// There is no "delete": rule 4 holds by construction.
#[must_use = "the plan must be applied to the authentication number"]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumberCopy<N> {
    /// Leave the authentication number as it is (rules 3 and 4, or nothing changed).
    Keep,
    /// The authentication number is empty and a public number arrived: add it (rule 1).
    Add(N),
    /// The two were equal and the public number changed: change it too (rule 2).
    Update(N),
}

/// Seed 003's decision for one pair of numbers, from the public number the user had
/// (`old_public`), the one the sync writes (`new_public`) and the authentication number
/// the user has now.
pub fn plan_number_copy<N: PartialEq + Clone>(
    old_public: Option<&N>,
    new_public: Option<&N>,
    authentication: Option<&N>,
) -> NumberCopy<N> {
    let Some(new) = new_public else {
        return NumberCopy::Keep;
    };
    if old_public == Some(new) {
        return NumberCopy::Keep;
    }
    match authentication {
        None => NumberCopy::Add(new.clone()),
        Some(current) if Some(current) == old_public => NumberCopy::Update(new.clone()),
        Some(_) => NumberCopy::Keep,
    }
}

/// Why a copy a phone rule refused was skipped: the rule's stable code and, for the
/// uniqueness rule, the user who holds the number (the report of skipped copies).
pub fn skip_reason(
    refusal: &crate::methods::PhoneMethodError,
) -> (&'static str, Option<crate::ids::UserId>) {
    use crate::methods::PhoneMethodError as E;
    let other = match refusal {
        E::NumberNotUnique { other_user }
        | E::NumberUsedForSignIn { other_user }
        | E::NumberHeldByDeletedUser { other_user } => Some(*other_user),
        _ => None,
    };
    (refusal.code(), other)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn number() -> impl Strategy<Value = Option<u8>> {
        // A small alphabet, so that equal numbers are frequent.
        proptest::option::of(0u8..4)
    }

    #[test]
    fn the_four_rules_of_seed_003() {
        assert_eq!(plan_number_copy(None, Some(&1), None), NumberCopy::Add(1));
        assert_eq!(
            plan_number_copy(Some(&1), Some(&2), Some(&1)),
            NumberCopy::Update(2)
        );
        assert_eq!(
            plan_number_copy(Some(&1), Some(&2), Some(&3)),
            NumberCopy::Keep
        );
        assert_eq!(plan_number_copy(Some(&1), None, Some(&1)), NumberCopy::Keep);
        // An unchanged public number does not re-add a number an admin deleted.
        assert_eq!(plan_number_copy(Some(&1), Some(&1), None), NumberCopy::Keep);
    }

    proptest! {
        #[test]
        fn a_deleted_public_number_never_touches_the_authentication_number(old in number(), auth in number()) {
            prop_assert_eq!(plan_number_copy(old.as_ref(), None, auth.as_ref()), NumberCopy::Keep);
        }

        #[test]
        fn only_an_empty_authentication_number_is_added(old in number(), new in number(), auth in number()) {
            if let NumberCopy::Add(n) = plan_number_copy(old.as_ref(), new.as_ref(), auth.as_ref()) {
                prop_assert!(auth.is_none());
                prop_assert_eq!(Some(n), new);
                prop_assert_ne!(old, new);
            }
        }

        #[test]
        fn only_an_authentication_number_equal_to_the_old_public_one_follows_it(old in number(), new in number(), auth in number()) {
            if let NumberCopy::Update(n) = plan_number_copy(old.as_ref(), new.as_ref(), auth.as_ref()) {
                prop_assert!(auth.is_some());
                prop_assert_eq!(&auth, &old);
                prop_assert_eq!(Some(n), new);
            }
        }

        #[test]
        fn a_differing_authentication_number_is_left_alone(old in number(), new in number(), auth in 0u8..4) {
            prop_assume!(Some(auth) != old);
            prop_assert_eq!(plan_number_copy(old.as_ref(), new.as_ref(), Some(&auth)), NumberCopy::Keep);
        }

        #[test]
        fn applying_the_plan_and_syncing_again_changes_nothing(old in number(), new in number(), auth in number()) {
            let after = match plan_number_copy(old.as_ref(), new.as_ref(), auth.as_ref()) {
                NumberCopy::Keep => auth,
                NumberCopy::Add(n) | NumberCopy::Update(n) => Some(n),
            };
            prop_assert_eq!(plan_number_copy(new.as_ref(), new.as_ref(), after.as_ref()), NumberCopy::Keep);
        }
    }
}
