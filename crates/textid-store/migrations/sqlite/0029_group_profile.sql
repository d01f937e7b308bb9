-- Graph's group properties (issue #17): description, mailNickname, securityEnabled,
-- mailEnabled, groupTypes, as one JSON document per group with Graph's names
-- (textid_core::directory::group::GroupProfile). Existing groups are security groups.
ALTER TABLE groups ADD COLUMN profile TEXT NOT NULL DEFAULT '{"securityEnabled":true,"mailEnabled":false,"groupTypes":[]}';
CREATE INDEX groups_mail_nickname ON groups (tenant_id, lower(json_extract(profile, '$.mailNickname')));
-- A user's manager (Graph's `manager` relationship, issue #17): at most one per user.
CREATE TABLE user_managers (
    user_id    TEXT PRIMARY KEY REFERENCES users(id) ON DELETE CASCADE,
    tenant_id  TEXT NOT NULL REFERENCES tenants(id),
    manager_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE
) WITHOUT ROWID;
CREATE INDEX user_managers_manager ON user_managers (manager_id);
