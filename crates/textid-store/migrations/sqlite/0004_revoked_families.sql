-- A revoked token family stays revoked: tokens saved after the revocation (a replay that
-- raced the first redemption) are refused, and access tokens of the family are refused.
CREATE TABLE revoked_families (
    family_id  TEXT PRIMARY KEY,
    revoked_at INTEGER NOT NULL
) WITHOUT ROWID;
