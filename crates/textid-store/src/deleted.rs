//! Soft delete (issue #17, Entra's deleted items): the statements that move a user or a
//! group with what hangs off it between the live tables and the `deleted_*` tables of
//! migration 0030, in ONE list shared by both backends (like `purge`): their dialects
//! agree on these statements, and each backend only rewrites the placeholders
//! ([`statement`]). `?1` is always the tenant, `?2` the object, `?3` the deletion time.
//!
//! The moves copy rows with explicit column lists, so a column added to a live table must
//! be added to its `deleted_*` twin and to the list here (the conformance round trip of
//! every profile property catches a miss).

const USER: &str = "id, tenant_id, upn, display_name, account_enabled, mobile_phone, business_phones, password_hash, on_premises_sync, created_at, profile, force_change_password";
const METHOD: &str = "tenant_id, user_id, phone_type, number, extension, sms_sign_in_enabled, needs_confirmation, created_at, updated_at";
const SCIM_USER: &str = "user_id, tenant_id, external_id, attributes, created_at, modified_at";
const GROUP: &str = "id, tenant_id, display_name, created_at, profile";
const SCIM_GROUP: &str = "group_id, tenant_id, external_id, attributes, created_at, modified_at";

/// Copies a user and what restore brings back into the deleted tables (before the user's
/// row is deleted, which cascades to the live rows).
pub(crate) fn archive_user() -> [String; 4] {
    [
        format!("INSERT INTO deleted_users ({USER}, deleted_at) SELECT {USER}, CAST(?3 AS BIGINT) FROM users WHERE tenant_id = ?1 AND id = ?2"),
        format!("INSERT INTO deleted_phone_methods ({METHOD}) SELECT {METHOD} FROM phone_methods WHERE tenant_id = ?1 AND user_id = ?2"),
        "INSERT INTO deleted_user_memberships (user_id, group_id) SELECT m.user_id, m.group_id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant_id = ?1 AND m.user_id = ?2".to_string(),
        format!("INSERT INTO deleted_scim_users ({SCIM_USER}) SELECT {SCIM_USER} FROM scim_users WHERE tenant_id = ?1 AND user_id = ?2"),
    ]
}

/// Puts a deleted user back (the user row first: a UPN taken meanwhile fails on
/// `users_upn_unique`, and nothing is written). Memberships come back for the groups that
/// still exist. The deleted rows are removed after with [`FORGET_USER`].
pub(crate) fn restore_user() -> [String; 4] {
    [
        format!("INSERT INTO users ({USER}) SELECT {USER} FROM deleted_users WHERE tenant_id = ?1 AND id = ?2"),
        format!("INSERT INTO phone_methods ({METHOD}) SELECT {METHOD} FROM deleted_phone_methods WHERE tenant_id = ?1 AND user_id = ?2"),
        "INSERT INTO group_members (group_id, user_id) SELECT d.group_id, d.user_id FROM deleted_user_memberships d JOIN groups g ON g.id = d.group_id WHERE g.tenant_id = ?1 AND d.user_id = ?2".to_string(),
        format!("INSERT INTO scim_users ({SCIM_USER}) SELECT {SCIM_USER} FROM deleted_scim_users WHERE tenant_id = ?1 AND user_id = ?2"),
    ]
}

/// Removes a deleted user for good (its methods, memberships and SCIM row cascade).
pub(crate) const FORGET_USER: &str = "DELETE FROM deleted_users WHERE tenant_id = ?1 AND id = ?2";

/// Copies a group and its members into the deleted tables.
pub(crate) fn archive_group() -> [String; 3] {
    [
        format!("INSERT INTO deleted_groups ({GROUP}, deleted_at) SELECT {GROUP}, CAST(?3 AS BIGINT) FROM groups WHERE tenant_id = ?1 AND id = ?2"),
        "INSERT INTO deleted_group_members (group_id, user_id) SELECT m.group_id, m.user_id FROM group_members m JOIN groups g ON g.id = m.group_id WHERE g.tenant_id = ?1 AND m.group_id = ?2".to_string(),
        format!("INSERT INTO deleted_scim_groups ({SCIM_GROUP}) SELECT {SCIM_GROUP} FROM scim_groups WHERE tenant_id = ?1 AND group_id = ?2"),
    ]
}

/// Puts a deleted group back, with its members that are still (or again) users.
pub(crate) fn restore_group() -> [String; 3] {
    [
        format!("INSERT INTO groups ({GROUP}) SELECT {GROUP} FROM deleted_groups WHERE tenant_id = ?1 AND id = ?2"),
        "INSERT INTO group_members (group_id, user_id) SELECT d.group_id, d.user_id FROM deleted_group_members d JOIN users u ON u.id = d.user_id WHERE u.tenant_id = ?1 AND d.group_id = ?2".to_string(),
        format!("INSERT INTO scim_groups ({SCIM_GROUP}) SELECT {SCIM_GROUP} FROM deleted_scim_groups WHERE tenant_id = ?1 AND group_id = ?2"),
    ]
}

/// Removes a deleted group for good.
pub(crate) const FORGET_GROUP: &str = "DELETE FROM deleted_groups WHERE tenant_id = ?1 AND id = ?2";

/// The columns of a deleted user as the backends' `to_user` read them, then `deleted_at`.
pub(crate) const DELETED_USER_COLUMNS: &str = "u.id, u.tenant_id, u.upn, u.display_name, u.account_enabled, u.mobile_phone, u.business_phones, u.on_premises_sync, u.profile, u.deleted_at";

/// `?1`-style placeholders as the backend wants them (`$1` for PostgreSQL).
pub(crate) fn statement(sql: &str, postgres: bool) -> String {
    if postgres {
        sql.replace('?', "$")
    } else {
        sql.to_string()
    }
}

/// Users or groups that left after `?2`, by id after `?3`, at most `?4`: deleted ones
/// (restorable, `0`) and tombstones (gone for good, `1`).
pub(crate) fn removed(kind: crate::DeletedKind) -> String {
    let (table, kind) = match kind {
        crate::DeletedKind::User => ("deleted_users", "user"),
        crate::DeletedKind::Group => ("deleted_groups", "group"),
    };
    format!(
        "SELECT id, 0 AS purged FROM {table} WHERE tenant_id = ?1 AND change_seq > ?2 AND id > ?3
         UNION ALL SELECT id, 1 FROM directory_tombstones WHERE tenant_id = ?1 AND kind = '{kind}' AND change_seq > ?2 AND id > ?3
         ORDER BY id LIMIT ?4"
    )
}

/// A group's membership changes after `?3`, oldest first.
pub(crate) const MEMBER_CHANGES: &str = "SELECT user_id, added FROM group_member_changes
     WHERE tenant_id = ?1 AND group_id = ?2 AND change_seq > ?3 ORDER BY change_seq";

/// The tenant's latest change sequence.
pub(crate) const VERSION: &str = "SELECT seq FROM directory_versions WHERE tenant_id = ?1";
