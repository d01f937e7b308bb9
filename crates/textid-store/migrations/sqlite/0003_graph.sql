-- Directory roles of people (admin API) and Temporary Access Passes.

CREATE TABLE directory_role_assignments (
    tenant_id TEXT NOT NULL,
    user_id   TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role      TEXT NOT NULL,
    PRIMARY KEY (tenant_id, user_id, role)
) WITHOUT ROWID;

CREATE TABLE temporary_access_passes (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL,
    user_id            TEXT NOT NULL UNIQUE REFERENCES users(id) ON DELETE CASCADE,  -- one per user
    pass_hash          BLOB NOT NULL,
    created_at         INTEGER NOT NULL,
    start_at           INTEGER NOT NULL,
    lifetime_minutes   INTEGER NOT NULL,
    is_usable_once     INTEGER NOT NULL,
    used_at            INTEGER
);
