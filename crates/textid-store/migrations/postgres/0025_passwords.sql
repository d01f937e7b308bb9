-- Passwords (issue #15): users.password_hash (argon2id, PHC string) exists since 0001;
-- this adds whether the user must choose a new password at their next sign-in (Graph's
-- passwordProfile.forceChangePasswordNextSignIn), the tenant's "require MFA" setting, and
-- what a code flow is for, so that a code sent as a second factor, for a password reset
-- or to prove a number never completes another kind of flow.
ALTER TABLE users ADD COLUMN force_change_password BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE tenants ADD COLUMN require_mfa BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE sms_sign_in_flows ADD COLUMN purpose TEXT NOT NULL DEFAULT 'signIn'
    CHECK (purpose IN ('signIn', 'proof', 'secondFactor', 'passwordReset'));
