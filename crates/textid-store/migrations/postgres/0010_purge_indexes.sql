-- The purge job deletes by expiry or age across tenants; without these indexes each of
-- its statements would scan the whole table (and the logs grow with all traffic).
CREATE INDEX IF NOT EXISTS auth_requests_expires ON auth_requests(expires_at);
CREATE INDEX IF NOT EXISTS oauth_codes_expires ON oauth_codes(expires_at);
CREATE INDEX IF NOT EXISTS refresh_tokens_expires ON refresh_tokens(expires_at);
CREATE INDEX IF NOT EXISTS issued_access_tokens_expires ON issued_access_tokens(expires_at);
CREATE INDEX IF NOT EXISTS revoked_access_tokens_expires ON revoked_access_tokens(expires_at);
CREATE INDEX IF NOT EXISTS sign_in_logs_created ON sign_in_logs(created_at);
CREATE INDEX IF NOT EXISTS directory_audits_created ON directory_audits(created_at);
CREATE INDEX IF NOT EXISTS outbox_finished ON outbox(finished_at);
CREATE INDEX IF NOT EXISTS sessions_expires ON sessions(expires_at);
