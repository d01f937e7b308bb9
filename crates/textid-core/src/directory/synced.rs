//! Synced users (`onPremisesSyncEnabled`): their profile is owned by the directory that
//! pushes them (an on-premises directory, an HR system over SCIM), so the cloud surfaces
//! (Graph, the CLI) may not change the fields it owns, as Entra refuses to change synced
//! attributes. Their phone *methods* are cloud data and stay admin-managed (seed 003).
//! `onPremisesSyncEnabled` itself is read-only on every admin surface, and a synced user is
//! deleted at its source, never in the cloud: Entra refuses to delete synced objects (the
//! next sync would bring them back); the source's own delete (SCIM `DELETE`) still deletes.

use crate::directory::User;

/// The fields of textid's own that a synced user's source owns, by Graph name (and every
/// profile property of [`crate::directory::profile`]).
pub const SOURCE_OWNED: [&str; 5] = [
    "userPrincipalName",
    "displayName",
    "accountEnabled",
    "mobilePhone",
    "businessPhones",
];

/// A cloud change that touches what the source owns.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SyncedUserError {
    /// The user is synced and the change touches these source-owned fields.
    #[error("Unable to update the specified properties for on-premises mastered Directory Sync objects: {}. This user is synced (onPremisesSyncEnabled is true): change these properties in the source directory; the user's phone authentication methods can still be managed here.", .0.join(", "))]
    SourceOwned(Vec<&'static str>),
    /// `onPremisesSyncEnabled` cannot be set or changed by an admin surface.
    #[error("Property 'onPremisesSyncEnabled' is read-only: it is set by directory synchronization (SCIM provisioning or `textid import`), not by an admin change.")]
    ReadOnly,
    /// A cloud surface asked to delete a synced user.
    #[error("Unable to delete this user: it is synced (onPremisesSyncEnabled is true) and its source directory owns it. Delete it (or take it out of the sync's scope) in the source directory; the sync then deletes it here.")]
    DeletedAtSource,
}

impl SyncedUserError {
    /// The stable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::SourceOwned(_) => "syncedAttributeReadOnly",
            Self::ReadOnly => "readOnlyProperty",
            Self::DeletedAtSource => "syncedUserDeletedAtSource",
        }
    }
}

/// The source-owned fields whose values differ between `before` and `after`.
pub fn changed_source_fields(before: &User, after: &User) -> Vec<&'static str> {
    let changed = [
        before.upn != after.upn,
        before.display_name != after.display_name,
        before.account_enabled != after.account_enabled,
        before.mobile_phone != after.mobile_phone,
        before.business_phones != after.business_phones,
    ];
    let mut fields: Vec<&'static str> = SOURCE_OWNED
        .into_iter()
        .zip(changed)
        .filter_map(|(name, c)| c.then_some(name))
        .collect();
    // Graph's profile properties (names, job, contact) are the source's too.
    fields.extend(before.profile.changed(&after.profile));
    fields
}

/// Checks an admin (cloud) change of a user from `before` (as stored) to `after`: the
/// sync flag never changes, and a synced user's source-owned fields stay as they are.
pub fn check_cloud_change(before: &User, after: &User) -> Result<(), SyncedUserError> {
    if before.on_premises_sync_enabled != after.on_premises_sync_enabled {
        return Err(SyncedUserError::ReadOnly);
    }
    if !before.on_premises_sync_enabled {
        return Ok(());
    }
    let fields = changed_source_fields(before, after);
    if fields.is_empty() {
        Ok(())
    } else {
        Err(SyncedUserError::SourceOwned(fields))
    }
}

/// Checks an admin (cloud) delete of `user`: a synced user is deleted at its source.
pub fn check_cloud_delete(user: &User) -> Result<(), SyncedUserError> {
    if user.on_premises_sync_enabled {
        Err(SyncedUserError::DeletedAtSource)
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::directory::Upn;
    use crate::ids::{TenantId, UserId};

    fn user(synced: bool) -> User {
        User {
            id: UserId(uuid::Uuid::nil()),
            tenant_id: TenantId(uuid::Uuid::nil()),
            upn: Upn::parse("ana@contoso.example").unwrap(),
            display_name: "Ana".into(),
            account_enabled: true,
            mobile_phone: None,
            business_phones: vec![],
            on_premises_sync_enabled: synced,
            profile: Default::default(),
        }
    }

    #[test]
    fn a_synced_users_profile_properties_are_the_sources_too() {
        let before = user(true);
        let mut after = before.clone();
        after.profile.set("jobTitle", Some("Nurse")).unwrap();
        assert_eq!(
            check_cloud_change(&before, &after),
            Err(SyncedUserError::SourceOwned(vec!["jobTitle"]))
        );
        let cloud = user(false);
        let mut changed = cloud.clone();
        changed.profile.set("jobTitle", Some("Nurse")).unwrap();
        assert_eq!(check_cloud_change(&cloud, &changed), Ok(()));
    }

    #[test]
    fn a_synced_users_source_fields_are_refused_by_name() {
        let before = user(true);
        let mut after = before.clone();
        after.display_name = "Ana L".into();
        after.account_enabled = false;
        assert_eq!(
            check_cloud_change(&before, &after),
            Err(SyncedUserError::SourceOwned(vec![
                "displayName",
                "accountEnabled"
            ]))
        );
        // Writing the same values back (an SDK sending the whole object) is no change.
        assert_eq!(check_cloud_change(&before, &before.clone()), Ok(()));
    }

    #[test]
    fn a_cloud_user_may_change_and_the_flag_is_read_only() {
        let before = user(false);
        let mut after = before.clone();
        after.display_name = "Ana L".into();
        assert_eq!(check_cloud_change(&before, &after), Ok(()));
        after.on_premises_sync_enabled = true;
        assert_eq!(
            check_cloud_change(&before, &after),
            Err(SyncedUserError::ReadOnly)
        );
    }

    #[test]
    fn a_synced_user_is_deleted_at_its_source_and_a_cloud_user_here() {
        assert_eq!(
            check_cloud_delete(&user(true)),
            Err(SyncedUserError::DeletedAtSource)
        );
        assert_eq!(check_cloud_delete(&user(false)), Ok(()));
        assert_eq!(
            SyncedUserError::DeletedAtSource.code(),
            "syncedUserDeletedAtSource"
        );
    }
}
