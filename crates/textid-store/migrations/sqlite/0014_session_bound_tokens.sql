-- The browser session an access token was issued in, when it is bound to it (a grant
-- without offline_access, issue #19): ending the session revokes the token. NULL: not
-- bound (offline_access, client credentials, tokens from before this file).
ALTER TABLE issued_access_tokens ADD COLUMN session_id TEXT;
CREATE INDEX issued_access_tokens_session ON issued_access_tokens(session_id);
