-- Soft delete (issue #17): Entra's deleted items. A deleted user or group leaves the live
-- tables, so every listing, count, filter, SCIM list and sign-in lookup stops seeing it
-- without a clause of its own, and is kept here as it was until it is restored, deleted
-- for good, or purged 30 days after its deletion (purge::ENDED). The phone methods of a
-- deleted user are kept too, and the uniqueness rule reads them as holders: a number
-- stays reserved until the user is purged (as in Entra). The column lists are those of
-- the live tables (crate::deleted copies rows with explicit lists).
CREATE TABLE deleted_users (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id),
    upn                TEXT COLLATE "C" NOT NULL,
    display_name       TEXT NOT NULL,
    account_enabled    BOOLEAN NOT NULL,
    mobile_phone       TEXT,
    business_phones    JSONB NOT NULL,
    password_hash      TEXT,
    on_premises_sync   BOOLEAN NOT NULL,
    created_at         BIGINT NOT NULL,
    profile            JSONB NOT NULL,
    deleted_at         BIGINT NOT NULL
);
CREATE INDEX deleted_users_tenant ON deleted_users(tenant_id, id);
CREATE INDEX deleted_users_deleted ON deleted_users(deleted_at);

CREATE TABLE deleted_phone_methods (
    tenant_id           UUID NOT NULL,
    user_id             UUID NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    phone_type          TEXT NOT NULL,
    number              TEXT NOT NULL,
    extension           TEXT,
    sms_sign_in_enabled BOOLEAN NOT NULL,
    needs_confirmation  BOOLEAN NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT deleted_phone_methods_pkey PRIMARY KEY (user_id, phone_type)
);
CREATE INDEX deleted_phone_methods_number ON deleted_phone_methods(tenant_id, number);

CREATE TABLE deleted_user_memberships (
    user_id  UUID NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    group_id UUID NOT NULL,
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE deleted_scim_users (
    user_id     UUID PRIMARY KEY REFERENCES deleted_users(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL,
    external_id TEXT,
    attributes  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

CREATE TABLE deleted_groups (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    deleted_at   BIGINT NOT NULL
);
CREATE INDEX deleted_groups_tenant ON deleted_groups(tenant_id, id);
CREATE INDEX deleted_groups_deleted ON deleted_groups(deleted_at);

CREATE TABLE deleted_group_members (
    group_id UUID NOT NULL REFERENCES deleted_groups(id) ON DELETE CASCADE,
    user_id  UUID NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE deleted_scim_groups (
    group_id    UUID PRIMARY KEY REFERENCES deleted_groups(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL,
    external_id TEXT,
    attributes  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
