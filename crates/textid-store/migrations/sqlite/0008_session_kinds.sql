-- Issue #14 §1 and §4. Sessions have a kind: 'api' (the sessionToken of the JSON sign-in
-- API) or 'browser' (the SSO cookie of the sign-in pages); every look-up names the kind,
-- so a token of one kind is unknown as the other. The API session records the app that
-- asked for it, when known.
ALTER TABLE sessions ADD COLUMN kind TEXT NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'browser'));
ALTER TABLE sessions ADD COLUMN client_id TEXT;
-- Sessions stored before this migration cannot be told apart (a browser cookie and an
-- API token were the same thing): end them; people sign in again.
UPDATE sessions SET revoked_at = CAST(strftime('%s', 'now') AS INTEGER) * 1000 WHERE revoked_at IS NULL;
CREATE INDEX sessions_user ON sessions(user_id);

-- Codes, refresh tokens and access tokens know their user, so that a change of what
-- proved the user (number, pass, account) revokes every family of that user at once.
ALTER TABLE oauth_codes ADD COLUMN user_id TEXT;
ALTER TABLE refresh_tokens ADD COLUMN user_id TEXT;
ALTER TABLE issued_access_tokens ADD COLUMN user_id TEXT;
UPDATE oauth_codes SET user_id = json_extract(grant_doc, '$.document.sub');
UPDATE refresh_tokens SET user_id = json_extract(grant_doc, '$.document.sub');
UPDATE issued_access_tokens SET user_id = (
    SELECT r.user_id FROM refresh_tokens r WHERE r.family_id = issued_access_tokens.family_id
    UNION ALL
    SELECT c.user_id FROM oauth_codes c WHERE json_extract(c.grant_doc, '$.family_id') = issued_access_tokens.family_id
    LIMIT 1);
CREATE INDEX oauth_codes_user ON oauth_codes(user_id);
CREATE INDEX refresh_tokens_user ON refresh_tokens(user_id);
CREATE INDEX issued_access_tokens_user ON issued_access_tokens(user_id);
CREATE INDEX refresh_tokens_client ON refresh_tokens(tenant_id, client_id);
CREATE INDEX oauth_codes_client ON oauth_codes(tenant_id, client_id);
