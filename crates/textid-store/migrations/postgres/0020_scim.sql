-- SCIM 2.0 provisioning (issue #16): what a provisioning client keeps of a synced user or
-- group beyond the directory: its externalId and the SCIM attributes with no directory
-- column (name, emails, the enterprise extension, ...) as a JSON object, so that they
-- round-trip. A row goes with its user or group.
CREATE TABLE scim_users (
    user_id     UUID PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    external_id TEXT,
    attributes  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX scim_users_tenant ON scim_users(tenant_id);

CREATE TABLE scim_groups (
    group_id    UUID PRIMARY KEY REFERENCES groups(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    external_id TEXT,
    attributes  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);
CREATE INDEX scim_groups_tenant ON scim_groups(tenant_id);
