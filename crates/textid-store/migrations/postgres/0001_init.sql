-- textid schema, version 1 (PostgreSQL). The same numbering and meaning as the SQLite
-- set. Times are BIGINT unix milliseconds (UTC), as in SQLite, so the row mapping is the
-- same; ids are UUID; JSON documents are JSONB; secrets and hashes are BYTEA.
-- Constraint names the server relies on are the same as SQLite's (users_upn_unique,
-- phone_methods_sms_sign_in_unique, phone_methods_pkey); the primary keys of
-- group_members and oauth_clients are reported under the table's name by the backend
-- (an index may not share its table's name in PostgreSQL).

CREATE TABLE tenants (
    id             UUID PRIMARY KEY,
    name           TEXT NOT NULL CONSTRAINT tenants_name_unique UNIQUE,
    default_region TEXT,
    policy         JSONB NOT NULL,         -- authenticationMethodsPolicy, Graph-named JSON
    created_at     BIGINT NOT NULL
);

CREATE TABLE users (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id),
    upn                TEXT COLLATE "C" NOT NULL,   -- byte order, as in SQLite (paging)
    display_name       TEXT NOT NULL,
    account_enabled    BOOLEAN NOT NULL,
    mobile_phone       TEXT,
    business_phones    JSONB NOT NULL DEFAULT '[]',
    password_hash      TEXT,
    on_premises_sync   BOOLEAN NOT NULL DEFAULT FALSE,
    created_at         BIGINT NOT NULL,
    CONSTRAINT users_upn_unique UNIQUE (tenant_id, upn)
);

CREATE TABLE groups (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL
);
CREATE INDEX groups_tenant ON groups(tenant_id);

CREATE TABLE group_members (
    group_id UUID NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    CONSTRAINT group_members_pkey PRIMARY KEY (group_id, user_id)
);
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE phone_methods (
    tenant_id           UUID NOT NULL REFERENCES tenants(id),
    user_id             UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    phone_type          TEXT NOT NULL CHECK (phone_type IN ('mobile', 'alternateMobile', 'office')),
    number              TEXT NOT NULL,     -- E.164, no extension
    extension           TEXT,
    sms_sign_in_enabled BOOLEAN NOT NULL,
    needs_confirmation  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT phone_methods_pkey PRIMARY KEY (user_id, phone_type)
);
CREATE INDEX phone_methods_number ON phone_methods(tenant_id, number);
-- The uniqueness rule's backstop: one SMS sign-in number per tenant. The full rule (no
-- other user may hold the number at all while it is enabled) is checked in the write
-- transaction, under an advisory lock on (tenant, number) taken by every change of it.
CREATE UNIQUE INDEX phone_methods_sms_sign_in_unique
    ON phone_methods(tenant_id, number) WHERE sms_sign_in_enabled;

CREATE TABLE sms_sign_in_flows (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants(id),
    phone           TEXT NOT NULL,
    user_id         UUID,
    code_hash       BYTEA,
    code_expires_at BIGINT NOT NULL,
    attempts        INTEGER NOT NULL,
    sends           INTEGER NOT NULL,
    last_sent_at    BIGINT NOT NULL,
    created_at      BIGINT NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'completed'))
);
CREATE INDEX sms_sign_in_flows_created ON sms_sign_in_flows(created_at);

CREATE TABLE phone_counters (
    tenant_id            UUID NOT NULL,
    phone                TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    locked_until         BIGINT,
    window_started_at    BIGINT,
    window_sends         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);

CREATE TABLE sessions (
    id         UUID PRIMARY KEY,
    tenant_id  UUID NOT NULL REFERENCES tenants(id),
    user_id    UUID NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash BYTEA NOT NULL CONSTRAINT sessions_token_hash_unique UNIQUE,
    amr        TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    revoked_at BIGINT
);
CREATE INDEX sessions_user ON sessions(user_id);
CREATE INDEX sessions_expires ON sessions(expires_at);

CREATE TABLE outbox (
    id              UUID PRIMARY KEY,
    tenant_id       UUID NOT NULL REFERENCES tenants(id),
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    sealed_body     BYTEA,                 -- encrypted by the server; NULL once finished
    locale          TEXT NOT NULL,
    flow_id         UUID,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at BIGINT NOT NULL,       -- also the lease: a claimed message is pushed ahead
    created_at      BIGINT NOT NULL,
    finished_at     BIGINT,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(next_attempt_at, created_at) WHERE status = 'queued';
CREATE INDEX outbox_flow ON outbox(flow_id) WHERE status = 'queued';
CREATE INDEX outbox_tenant ON outbox(tenant_id, created_at);

CREATE TABLE sign_in_logs (
    id             UUID PRIMARY KEY,
    tenant_id      UUID NOT NULL,
    created_at     BIGINT NOT NULL,
    method         TEXT NOT NULL,
    event          TEXT NOT NULL,
    phone          TEXT,
    user_id        UUID,
    flow_id        UUID,
    result         TEXT NOT NULL,
    failure_reason TEXT,
    client_ip      TEXT,
    app_id         TEXT
);
CREATE INDEX sign_in_logs_time ON sign_in_logs(tenant_id, created_at);

CREATE TABLE directory_audits (
    id          UUID PRIMARY KEY,
    tenant_id   UUID NOT NULL,
    created_at  BIGINT NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    activity    TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      JSONB,
    after       JSONB
);
CREATE INDEX directory_audits_time ON directory_audits(tenant_id, created_at);
