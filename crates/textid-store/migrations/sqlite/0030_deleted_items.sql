-- Soft delete (issue #17): Entra's deleted items. A deleted user or group leaves the live
-- tables, so every listing, count, filter, SCIM list and sign-in lookup stops seeing it
-- without a clause of its own, and is kept here as it was until it is restored, deleted
-- for good, or purged 30 days after its deletion (purge::ENDED). The phone methods of a
-- deleted user are kept too, and the uniqueness rule reads them as holders: a number
-- stays reserved until the user is purged (as in Entra). The column lists are those of
-- the live tables (crate::deleted copies rows with explicit lists).
CREATE TABLE deleted_users (
    id                 TEXT PRIMARY KEY,
    tenant_id          TEXT NOT NULL REFERENCES tenants(id),
    upn                TEXT NOT NULL,
    display_name       TEXT NOT NULL,
    account_enabled    INTEGER NOT NULL,
    mobile_phone       TEXT,
    business_phones    TEXT NOT NULL,
    password_hash      TEXT,
    on_premises_sync   INTEGER NOT NULL,
    created_at         INTEGER NOT NULL,
    profile            TEXT NOT NULL,
    force_change_password INTEGER NOT NULL DEFAULT 0,
    deleted_at         INTEGER NOT NULL
);
CREATE INDEX deleted_users_tenant ON deleted_users(tenant_id, id);
CREATE INDEX deleted_users_deleted ON deleted_users(deleted_at);

CREATE TABLE deleted_phone_methods (
    tenant_id           TEXT NOT NULL,
    user_id             TEXT NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    phone_type          TEXT NOT NULL,
    number              TEXT NOT NULL,
    extension           TEXT,
    sms_sign_in_enabled INTEGER NOT NULL,
    needs_confirmation  INTEGER NOT NULL,
    created_at          INTEGER NOT NULL,
    updated_at          INTEGER NOT NULL,
    PRIMARY KEY (user_id, phone_type)
) WITHOUT ROWID;
CREATE INDEX deleted_phone_methods_number ON deleted_phone_methods(tenant_id, number);

CREATE TABLE deleted_user_memberships (
    user_id  TEXT NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    group_id TEXT NOT NULL,
    PRIMARY KEY (user_id, group_id)
) WITHOUT ROWID;

CREATE TABLE deleted_scim_users (
    user_id     TEXT PRIMARY KEY REFERENCES deleted_users(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    external_id TEXT,
    attributes  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);

CREATE TABLE deleted_groups (
    id           TEXT PRIMARY KEY,
    tenant_id    TEXT NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    created_at   INTEGER NOT NULL,
    profile      TEXT NOT NULL DEFAULT '{}',
    deleted_at   INTEGER NOT NULL
);
CREATE INDEX deleted_groups_tenant ON deleted_groups(tenant_id, id);
CREATE INDEX deleted_groups_deleted ON deleted_groups(deleted_at);

CREATE TABLE deleted_group_members (
    group_id TEXT NOT NULL REFERENCES deleted_groups(id) ON DELETE CASCADE,
    user_id  TEXT NOT NULL,
    PRIMARY KEY (group_id, user_id)
) WITHOUT ROWID;

CREATE TABLE deleted_scim_groups (
    group_id    TEXT PRIMARY KEY REFERENCES deleted_groups(id) ON DELETE CASCADE,
    tenant_id   TEXT NOT NULL,
    external_id TEXT,
    attributes  TEXT NOT NULL,
    created_at  INTEGER NOT NULL,
    modified_at INTEGER NOT NULL
);

-- Delta queries (issue #17): a per-tenant change sequence, stamped by triggers on every
-- write of a user, a group or a membership, in the writing transaction, so that no write
-- path can forget it. `/users/delta` reads what changed after a token's sequence: live
-- rows by `change_seq`, deleted ones from the deleted tables ("changed": restorable) and
-- from the tombstones ("deleted": purged or deleted for good), and a group's membership
-- changes. Tombstones and membership changes are kept 30 days (their `at` is the
-- database's clock: triggers have no other), so a delta token is good for 30 days.
CREATE TABLE directory_versions (
    tenant_id TEXT PRIMARY KEY,
    seq       INTEGER NOT NULL
) WITHOUT ROWID;
ALTER TABLE users ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deleted_users ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
ALTER TABLE deleted_groups ADD COLUMN change_seq INTEGER NOT NULL DEFAULT 0;
CREATE INDEX users_change ON users(tenant_id, change_seq);
CREATE INDEX groups_change ON groups(tenant_id, change_seq);

CREATE TABLE directory_tombstones (
    tenant_id  TEXT NOT NULL,
    id         TEXT NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    change_seq INTEGER NOT NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (tenant_id, id)
) WITHOUT ROWID;
CREATE INDEX directory_tombstones_at ON directory_tombstones(at);

CREATE TABLE group_member_changes (
    tenant_id  TEXT NOT NULL,
    group_id   TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    added      INTEGER NOT NULL,
    change_seq INTEGER NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX group_member_changes_group ON group_member_changes(group_id, change_seq);
CREATE INDEX group_member_changes_at ON group_member_changes(at);

CREATE TRIGGER users_stamp_insert AFTER INSERT ON users BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE users SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
CREATE TRIGGER users_stamp_update AFTER UPDATE ON users WHEN NEW.change_seq = OLD.change_seq BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE users SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
CREATE TRIGGER groups_stamp_insert AFTER INSERT ON groups BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE groups SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
CREATE TRIGGER groups_stamp_update AFTER UPDATE ON groups WHEN NEW.change_seq = OLD.change_seq BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE groups SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
CREATE TRIGGER group_members_stamp_insert AFTER INSERT ON group_members BEGIN
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = (SELECT tenant_id FROM groups WHERE id = NEW.group_id);
    UPDATE groups SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = groups.tenant_id) WHERE id = NEW.group_id;
    INSERT INTO group_member_changes (tenant_id, group_id, user_id, added, change_seq, at)
        SELECT g.tenant_id, g.id, NEW.user_id, 1, g.change_seq, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        FROM groups g WHERE g.id = NEW.group_id;
END;
CREATE TRIGGER group_members_stamp_delete AFTER DELETE ON group_members BEGIN
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = (SELECT tenant_id FROM groups WHERE id = OLD.group_id);
    UPDATE groups SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = groups.tenant_id) WHERE id = OLD.group_id;
    INSERT INTO group_member_changes (tenant_id, group_id, user_id, added, change_seq, at)
        SELECT g.tenant_id, g.id, OLD.user_id, 0, g.change_seq, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        FROM groups g WHERE g.id = OLD.group_id;
END;
CREATE TRIGGER deleted_users_stamp AFTER INSERT ON deleted_users BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE deleted_users SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
CREATE TRIGGER deleted_groups_stamp AFTER INSERT ON deleted_groups BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE deleted_groups SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
-- Gone for good (hard delete or purge) unless it was restored (the live row is back).
CREATE TRIGGER deleted_users_tombstone AFTER DELETE ON deleted_users
WHEN NOT EXISTS (SELECT 1 FROM users WHERE id = OLD.id) BEGIN
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = OLD.tenant_id;
    INSERT OR REPLACE INTO directory_tombstones (tenant_id, id, kind, change_seq, at)
        SELECT OLD.tenant_id, OLD.id, 'user', seq, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        FROM directory_versions WHERE tenant_id = OLD.tenant_id;
END;
CREATE TRIGGER deleted_groups_tombstone AFTER DELETE ON deleted_groups
WHEN NOT EXISTS (SELECT 1 FROM groups WHERE id = OLD.id) BEGIN
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = OLD.tenant_id;
    INSERT OR REPLACE INTO directory_tombstones (tenant_id, id, kind, change_seq, at)
        SELECT OLD.tenant_id, OLD.id, 'group', seq, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
        FROM directory_versions WHERE tenant_id = OLD.tenant_id;
END;
