-- Issue #14 §4. A rotated client secret: the previous one stays valid until
-- previous_secret_expires_at (the overlap in which deployed apps switch), then is refused.
ALTER TABLE oauth_clients ADD COLUMN previous_secret_hash TEXT;
ALTER TABLE oauth_clients ADD COLUMN previous_secret_expires_at BIGINT;
