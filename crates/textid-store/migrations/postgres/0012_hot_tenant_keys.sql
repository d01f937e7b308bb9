-- Every sign-in inserts a flow, a session and an outbox message. A foreign key to tenants
-- on these tables makes each insert take a KEY SHARE lock on the tenant's one row: under
-- load thousands of lockers per second on a single row, each new one writing a new
-- MultiXact into that row (WAL, and a hot buffer every sign-in contends on). Tenants are
-- never deleted, and every write to these tables comes from a step or a use case that has
-- just loaded the tenant (its policy), so the keys guard nothing the code does not; they go.
-- (SQLite keeps them: a single writer has nothing to contend on.)
ALTER TABLE sms_sign_in_flows DROP CONSTRAINT IF EXISTS sms_sign_in_flows_tenant_id_fkey;
ALTER TABLE sessions DROP CONSTRAINT IF EXISTS sessions_tenant_id_fkey;
ALTER TABLE outbox DROP CONSTRAINT IF EXISTS outbox_tenant_id_fkey;
