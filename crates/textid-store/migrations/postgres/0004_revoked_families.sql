-- A revoked token family stays revoked: tokens saved after the revocation (a replay that
-- raced the first redemption) are refused, and access tokens of the family are refused.
-- Revocation and saving a token of a family are serialised by an advisory lock on the
-- family, so a token saved concurrently with the revocation is either revoked or refused.
CREATE TABLE revoked_families (
    family_id  TEXT PRIMARY KEY,
    revoked_at BIGINT NOT NULL
);
