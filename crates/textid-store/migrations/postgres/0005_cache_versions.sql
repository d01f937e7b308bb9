-- A version per cached topic (tenants, signing keys), bumped in the transaction of every
-- change, which also sends NOTIFY textid_changes '<topic>' (delivered at commit), so that
-- every node on the same database (and the CLI) drops its cached copy.
CREATE TABLE cache_versions (
    topic   TEXT PRIMARY KEY,
    version BIGINT NOT NULL
);
