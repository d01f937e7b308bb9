-- OpenID Connect: signing keys (sealed with the key-encryption key), clients, pending
-- authorization requests, authorization codes, refresh tokens, revoked access tokens.
-- Every secret is stored only as a keyed hash.

CREATE TABLE signing_keys (
    kid        TEXT PRIMARY KEY,
    alg        TEXT NOT NULL,
    sealed     BYTEA NOT NULL,
    created_at BIGINT NOT NULL,
    retired_at BIGINT
);

CREATE TABLE oauth_clients (
    tenant_id   UUID NOT NULL REFERENCES tenants(id),
    client_id   TEXT NOT NULL,
    document    JSONB NOT NULL,            -- the registration
    secret_hash TEXT,
    created_at  BIGINT NOT NULL,
    CONSTRAINT oauth_clients_pkey PRIMARY KEY (tenant_id, client_id)
);

CREATE TABLE auth_requests (
    id         TEXT PRIMARY KEY,
    tenant_id  UUID NOT NULL,
    document   JSONB NOT NULL,             -- the validated request
    flow_id    UUID,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);

CREATE TABLE oauth_codes (
    code_hash  BYTEA PRIMARY KEY,
    tenant_id  UUID NOT NULL,
    client_id  TEXT NOT NULL,
    grant_doc  JSONB NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT
);

CREATE TABLE refresh_tokens (
    token_hash BYTEA PRIMARY KEY,
    family_id  TEXT NOT NULL,
    tenant_id  UUID NOT NULL,
    client_id  TEXT NOT NULL,
    grant_doc  JSONB NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    used_at    BIGINT,
    revoked_at BIGINT
);
CREATE INDEX refresh_tokens_family ON refresh_tokens(family_id);

CREATE TABLE revoked_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT,
    expires_at BIGINT NOT NULL
);

CREATE TABLE issued_access_tokens (
    jti        TEXT PRIMARY KEY,
    family_id  TEXT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX issued_access_tokens_family ON issued_access_tokens(family_id);
