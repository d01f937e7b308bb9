-- OpenID Connect: signing keys (sealed with the key-encryption key), clients, pending
-- authorization requests, authorization codes, refresh tokens, revoked access tokens.
-- Every secret is stored only as a keyed hash.

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    alg        TEXT NOT NULL,
    sealed     BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    retired_at INTEGER
);

CREATE TABLE oauth_clients (
    tenant_id   TEXT NOT NULL REFERENCES tenants(id),
    client_id   TEXT NOT NULL,
    document    TEXT NOT NULL,             -- the registration, JSON
    secret_hash TEXT,
    created_at  INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, client_id)
) WITHOUT ROWID;

CREATE TABLE auth_requests (
    id         TEXT PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    document   TEXT NOT NULL,              -- the validated request, JSON
    flow_id    TEXT,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
);

CREATE TABLE oauth_codes (
    code_hash  BLOB PRIMARY KEY,
    tenant_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    grant_doc  TEXT NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER
);

CREATE TABLE refresh_tokens (
    token_hash BLOB PRIMARY KEY,
    family_id  TEXT NOT NULL,
    tenant_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    grant_doc  TEXT NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL,
    used_at    INTEGER,
    revoked_at INTEGER
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT,
    expires_at INTEGER NOT NULL
);

CREATE TABLE issued_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    expires_at INTEGER NOT NULL
);
CREATE INDEX issued_access_tokens_family ON issued_access_tokens(family_id);
