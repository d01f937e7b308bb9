-- Abuse budgets of SMS sending and per-client lockout (issue #14 §2, §3).
-- send_counters: one row per (counter, time bucket, shard); a budget sums the rows of its
-- current and previous bucket. Shards spread the writers of the per-tenant and global
-- budgets over several rows. expires_at lets the purge drop old buckets.
CREATE TABLE send_counters (
    key        TEXT NOT NULL,
    bucket     BIGINT NOT NULL,
    shard      INTEGER NOT NULL,
    count      BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    PRIMARY KEY (key, bucket, shard)
);
CREATE INDEX send_counters_expiry ON send_counters (expires_at);

-- Pauses set by the conversion watch, per prefix or country key.
CREATE TABLE send_pauses (
    key        TEXT PRIMARY KEY,
    tenant_id  UUID NOT NULL,
    until      BIGINT NOT NULL,
    reason     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);

-- Wrong codes per (number, client IP).
CREATE TABLE client_counters (
    tenant_id    UUID NOT NULL,
    phone        TEXT NOT NULL,
    client_ip    TEXT NOT NULL,
    failures     INTEGER NOT NULL,
    locked_until BIGINT,
    PRIMARY KEY (tenant_id, phone, client_ip)
);

-- Test numbers with a fixed code (no SMS), used only when the operator enables them.
CREATE TABLE test_numbers (
    tenant_id  UUID NOT NULL,
    phone      TEXT NOT NULL,
    code       TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, phone)
);
