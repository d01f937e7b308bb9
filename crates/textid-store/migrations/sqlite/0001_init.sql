-- textid schema, version 1. Forward-only; the PostgreSQL set will use the same numbering.
-- Times are INTEGER unix milliseconds (UTC); ids are UUID text.

CREATE TABLE tenants (
    id             TEXT PRIMARY KEY,
    name           TEXT NOT NULL UNIQUE,
    default_region TEXT,
    policy         TEXT NOT NULL,          -- authenticationMethodsPolicy, Graph-named JSON
    created_at     INTEGER NOT NULL
);

CREATE TABLE users (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    upn                TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    account_enabled    INTEGER NOT NULL,
    mobile_phone       TEXT,
    business_phones    TEXT NOT NULL DEFAULT '[]',
    password_hash      TEXT,
    on_premises_sync   INTEGER NOT NULL DEFAULT 0,
    created_at         INTEGER NOT NULL,
    CONSTRAINT users_upn_unique UNIQUE (tenant_id, upn)
);

CREATE TABLE groups (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL
);

CREATE TABLE group_members (
    group_id TEXT NOT NULL REFERENCES groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;
CREATE INDEX group_members_user ON group_members(user_id);

CREATE TABLE phone_methods (
    tenant_id           TEXT NOT NULL REFERENCES tenants(id),
    user_id             TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    phone_type          TEXT NOT NULL CHECK (phone_type IN ('mobile', 'alternateMobile', 'office')),
    number              TEXT NOT NULL,     -- E.164, no extension
    extension           TEXT,
    sms_sign_in_enabled INTEGER NOT NULL,
    needs_confirmation  INTEGER NOT NULL DEFAULT 0,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (user_id, phone_type)
) WITHOUT ROWID;
CREATE INDEX phone_methods_number ON phone_methods(tenant_id, number);
-- The uniqueness rule's backstop: one SMS sign-in number per tenant. The full rule (no
-- other user may hold the number at all while it is enabled) is checked in the same
-- write transaction, which SQLite serialises.
CREATE UNIQUE INDEX phone_methods_sms_sign_in_unique
    ON phone_methods(tenant_id, number) WHERE sms_sign_in_enabled = 1;

CREATE TABLE sms_sign_in_flows (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    phone           TEXT NOT NULL,
    user_id         TEXT,
    code_hash       BLOB,
    code_expires_at INTEGER NOT NULL,
    attempts        INTEGER NOT NULL,
    sends           INTEGER NOT NULL,
    last_sent_at    INTEGER NOT NULL,
    created_at      INTEGER NOT NULL,
    state           TEXT NOT NULL CHECK (state IN ('pending', 'completed'))
);
CREATE INDEX sms_sign_in_flows_created ON sms_sign_in_flows(created_at);

CREATE TABLE phone_counters (
    tenant_id            TEXT NOT NULL,
    phone                TEXT NOT NULL,
    consecutive_failures INTEGER NOT NULL,
    locked_until         INTEGER,
    window_started_at    INTEGER,
    window_sends         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, phone)
) WITHOUT ROWID;

CREATE TABLE sessions (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    user_id    TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token_hash BLOB NOT NULL UNIQUE,
    amr        TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    revoked_at INTEGER
);

CREATE TABLE outbox (
    id              TEXT PRIMARY KEY,
    tenant_id       TEXT NOT NULL REFERENCES tenants(id),
    kind            TEXT NOT NULL,
    channel         TEXT NOT NULL,
    recipient       TEXT NOT NULL,
    sealed_body     BLOB,                  -- encrypted by the server; NULL once finished
    locale          TEXT NOT NULL,
    flow_id         TEXT,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    next_attempt_at INTEGER NOT NULL,      -- also the lease: a claimed message is pushed ahead
    created_at      INTEGER NOT NULL,
    finished_at     INTEGER,
    last_error      TEXT
);
CREATE INDEX outbox_due ON outbox(status, next_attempt_at);

CREATE TABLE sign_in_logs (
    id             TEXT PRIMARY KEY,
    tenant_id      TEXT NOT NULL,
    created_at     INTEGER NOT NULL,
    method         TEXT NOT NULL,
    event          TEXT NOT NULL,
    phone          TEXT,
    user_id        TEXT,
    flow_id        TEXT,
    result         TEXT NOT NULL,
    failure_reason TEXT,
    client_ip      TEXT,
    app_id         TEXT
);
CREATE INDEX sign_in_logs_time ON sign_in_logs(tenant_id, created_at);

CREATE TABLE directory_audits (
    id          TEXT PRIMARY KEY,
    tenant_id   TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    actor_type  TEXT NOT NULL,
    actor_id    TEXT NOT NULL,
    activity    TEXT NOT NULL,
    target_type TEXT NOT NULL,
    target_id   TEXT NOT NULL,
    before      TEXT,
    after       TEXT
);
CREATE INDEX directory_audits_time ON directory_audits(tenant_id, created_at);
