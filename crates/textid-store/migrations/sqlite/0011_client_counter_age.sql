-- When a (number, client IP) counter was last written, so that the purge can drop one
-- that counts failures but never reached a lock (issue #14). Rows from before this
-- migration count as written at the epoch: the next purge forgets their failures.
ALTER TABLE client_counters ADD COLUMN updated_at INTEGER NOT NULL DEFAULT 0;
CREATE INDEX IF NOT EXISTS client_counters_updated ON client_counters(updated_at);
