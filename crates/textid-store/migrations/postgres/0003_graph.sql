-- Directory roles of people (admin API) and Temporary Access Passes.

CREATE TABLE directory_role_assignments (
    tenant_id UUID NOT NULL,
    user_id   UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role)
);
CREATE INDEX directory_role_assignments_user ON directory_role_assignments(user_id);

CREATE TABLE temporary_access_passes (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL,
    user_id            UUID NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,  -- one per user
    pass_hash          BYTEA NOT NULL,
    created_at         BIGINT NOT NULL,
    start_at           BIGINT NOT NULL,
    lifetime_minutes   INTEGER NOT NULL,
    is_usable_once     BOOLEAN NOT NULL,
    used_at            BIGINT
);
