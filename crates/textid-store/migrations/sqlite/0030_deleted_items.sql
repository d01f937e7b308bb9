-- Soft delete (issue #17): Entra's deleted items. A deleted user or group leaves the live
-- tables, so every listing, count, filter, SCIM list and sign-in lookup stops seeing it
-- without a clause of its own, and is kept here as it was until it is restored, deleted
-- for good, or purged 30 days after its deletion (purge::ENDED). The phone methods of a
-- deleted user are kept too, and the uniqueness rule reads them as holders: a number
-- stays reserved until the user is purged (as in Entra). The column lists are those of
-- the live tables (crate::deleted copies rows with explicit lists).
CREATE TABLE deleted_users (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    upn                TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    account_enabled    INTEGER NOT NULL,
    mobile_phone       TEXT,
    business_phones    TEXT NOT NULL,
    password_hash      TEXT,
    on_premises_sync   INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    profile            TEXT NOT NULL,
    deleted_at         INTEGER NOT NULL
);
CREATE INDEX deleted_users_tenant ON deleted_users(tenant_id, id);
CREATE INDEX deleted_users_deleted ON deleted_users(deleted_at);

CREATE TABLE deleted_phone_methods (
    tenant_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    phone_type          TEXT NOT NULL,
    number              TEXT NOT NULL,
    extension           TEXT,
    sms_sign_in_enabled INTEGER NOT NULL,
    needs_confirmation  INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (user_id, phone_type)
) WITHOUT ROWID;
CREATE INDEX deleted_phone_methods_number ON deleted_phone_methods(tenant_id, number);

CREATE TABLE deleted_user_memberships (
    user_id  TEXT NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;

CREATE TABLE deleted_scim_users (
    user_id     TEXT PRIMARY KEY REFERENCES deleted_users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    external_id TEXT,
    attributes  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);

CREATE TABLE deleted_groups (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    deleted_at   INTEGER NOT NULL
);
CREATE INDEX deleted_groups_tenant ON deleted_groups(tenant_id, id);
CREATE INDEX deleted_groups_deleted ON deleted_groups(deleted_at);

CREATE TABLE deleted_group_members (
    group_id TEXT NOT NULL REFERENCES deleted_groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE TABLE deleted_scim_groups (
    group_id    TEXT PRIMARY KEY REFERENCES deleted_groups(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    external_id TEXT,
    attributes  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);
