-- Seed 003's rule 1 (issue #16): a synced user's public number that could not be copied
-- into its empty authentication number (another user holds it, the user holds a role, it
-- does not parse) "is logged in the audit log and shown in a report". The audit log keeps
-- every skip; this table keeps the ones still not copied, one per user and method type:
-- written in the sync's transaction, deleted when that method is stored (a later copy, an
-- admin setting it) or the public number goes away, and with its user.
CREATE TABLE skipped_number_copies (
    user_id       TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    phone_type    TEXT NOT NULL,
    tenant_id     TEXT NOT NULL REFERENCES tenants(id),
    phone_number  TEXT NOT NULL,
    reason        TEXT NOT NULL,
    other_user_id TEXT,
    skipped_at    INTEGER NOT NULL,
    PRIMARY KEY (user_id, phone_type)
);
CREATE INDEX skipped_number_copies_tenant ON skipped_number_copies(tenant_id, skipped_at);
