-- A version per cached topic (tenants, signing keys), bumped in the transaction of every
-- change, so that other processes on the same database (the CLI, another node) notice it.
CREATE TABLE cache_versions (
    topic   TEXT PRIMARY KEY,
    version INTEGER NOT NULL
) WITHOUT ROWID;
