-- Soft delete (issue #17): Entra's deleted items. A deleted user or group leaves the live
-- tables, so every listing, count, filter, SCIM list and sign-in lookup stops seeing it
-- without a clause of its own, and is kept here as it was until it is restored, deleted
-- for good, or purged 30 days after its deletion (purge::ENDED). The phone methods of a
-- deleted user are kept too, and the uniqueness rule reads them as holders: a number
-- stays reserved until the user is purged (as in Entra). The column lists are those of
-- the live tables (crate::deleted copies rows with explicit lists).
CREATE TABLE deleted_users (
    id                 UUID PRIMARY KEY,
    tenant_id          UUID NOT NULL REFERENCES tenants(id),
    upn                TEXT COLLATE "C" NOT NULL,
    display_name       TEXT NOT NULL,
    account_enabled    BOOLEAN NOT NULL,
    mobile_phone       TEXT,
    business_phones    JSONB NOT NULL,
    password_hash      TEXT,
    on_premises_sync   BOOLEAN NOT NULL,
    created_at         BIGINT NOT NULL,
    profile            JSONB NOT NULL,
    force_change_password BOOLEAN NOT NULL DEFAULT FALSE,
    deleted_at         BIGINT NOT NULL
);
CREATE INDEX deleted_users_tenant ON deleted_users(tenant_id, id);
CREATE INDEX deleted_users_deleted ON deleted_users(deleted_at);

CREATE TABLE deleted_phone_methods (
    tenant_id           UUID NOT NULL,
    user_id             UUID NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    phone_type          TEXT NOT NULL,
    number              TEXT NOT NULL,
    extension           TEXT,
    sms_sign_in_enabled BOOLEAN NOT NULL,
    needs_confirmation  BOOLEAN NOT NULL,
    created_at          BIGINT NOT NULL,
    updated_at          BIGINT NOT NULL,
    CONSTRAINT deleted_phone_methods_pkey PRIMARY KEY (user_id, phone_type)
);
CREATE INDEX deleted_phone_methods_number ON deleted_phone_methods(tenant_id, number);

CREATE TABLE deleted_user_memberships (
    user_id  UUID NOT NULL REFERENCES deleted_users(id) ON DELETE CASCADE,
    group_id UUID NOT NULL,
    PRIMARY KEY (user_id, group_id)
);

CREATE TABLE deleted_scim_users (
    user_id     UUID PRIMARY KEY REFERENCES deleted_users(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL,
    external_id TEXT,
    attributes  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

CREATE TABLE deleted_groups (
    id           UUID PRIMARY KEY,
    tenant_id    UUID NOT NULL REFERENCES tenants(id),
    display_name TEXT NOT NULL,
    created_at   BIGINT NOT NULL,
    profile      JSONB NOT NULL DEFAULT '{}',
    deleted_at   BIGINT NOT NULL
);
CREATE INDEX deleted_groups_tenant ON deleted_groups(tenant_id, id);
CREATE INDEX deleted_groups_deleted ON deleted_groups(deleted_at);

CREATE TABLE deleted_group_members (
    group_id UUID NOT NULL REFERENCES deleted_groups(id) ON DELETE CASCADE,
    user_id  UUID NOT NULL,
    PRIMARY KEY (group_id, user_id)
);

CREATE TABLE deleted_scim_groups (
    group_id    UUID PRIMARY KEY REFERENCES deleted_groups(id) ON DELETE CASCADE,
    tenant_id   UUID NOT NULL,
    external_id TEXT,
    attributes  JSONB NOT NULL,
    created_at  BIGINT NOT NULL,
    modified_at BIGINT NOT NULL
);

-- Delta queries (issue #17): a per-tenant change sequence, stamped by triggers on every
-- write of a user, a group or a membership, in the writing transaction, so that no write
-- path can forget it. The tenant's `directory_versions` row is locked by the stamp until
-- commit, so sequences become visible in their order (a reader never sees 7 before 6).
-- Tombstones and membership changes are kept 30 days (their `at` is the database's
-- clock), so a delta token is good for 30 days. See the SQLite file for the rest.
CREATE TABLE directory_versions (
    tenant_id UUID PRIMARY KEY,
    seq       BIGINT NOT NULL
);
ALTER TABLE users ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE groups ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deleted_users ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
ALTER TABLE deleted_groups ADD COLUMN change_seq BIGINT NOT NULL DEFAULT 0;
CREATE INDEX users_change ON users(tenant_id, change_seq);
CREATE INDEX groups_change ON groups(tenant_id, change_seq);

CREATE TABLE directory_tombstones (
    tenant_id  UUID NOT NULL,
    id         UUID NOT NULL,
    kind       TEXT NOT NULL CHECK (kind IN ('user', 'group')),
    change_seq BIGINT NOT NULL,
    at         BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, id)
);
CREATE INDEX directory_tombstones_at ON directory_tombstones(at);

CREATE TABLE group_member_changes (
    tenant_id  UUID NOT NULL,
    group_id   UUID NOT NULL,
    user_id    UUID NOT NULL,
    added      BOOLEAN NOT NULL,
    change_seq BIGINT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX group_member_changes_group ON group_member_changes(group_id, change_seq);
CREATE INDEX group_member_changes_at ON group_member_changes(at);

CREATE FUNCTION directory_next_seq(t UUID) RETURNS BIGINT LANGUAGE plpgsql AS $$
DECLARE n BIGINT;
BEGIN
    INSERT INTO directory_versions (tenant_id, seq) VALUES (t, 1)
        ON CONFLICT (tenant_id) DO UPDATE SET seq = directory_versions.seq + 1
        RETURNING seq INTO n;
    RETURN n;
END $$;

CREATE FUNCTION directory_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.change_seq := directory_next_seq(NEW.tenant_id);
    RETURN NEW;
END $$;

CREATE TRIGGER users_stamp BEFORE INSERT OR UPDATE ON users
    FOR EACH ROW EXECUTE FUNCTION directory_stamp();
CREATE TRIGGER groups_stamp BEFORE INSERT OR UPDATE ON groups
    FOR EACH ROW EXECUTE FUNCTION directory_stamp();
CREATE TRIGGER deleted_users_stamp BEFORE INSERT ON deleted_users
    FOR EACH ROW EXECUTE FUNCTION directory_stamp();
CREATE TRIGGER deleted_groups_stamp BEFORE INSERT ON deleted_groups
    FOR EACH ROW EXECUTE FUNCTION directory_stamp();

CREATE FUNCTION group_members_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    r RECORD;
    added BOOLEAN := TG_OP = 'INSERT';
BEGIN
    IF added THEN r := NEW; ELSE r := OLD; END IF;
    -- The UPDATE takes a new sequence (groups_stamp); a group being deleted is gone already.
    UPDATE groups SET change_seq = 0 WHERE id = r.group_id;
    INSERT INTO group_member_changes (tenant_id, group_id, user_id, added, change_seq, at)
        SELECT g.tenant_id, g.id, r.user_id, added, g.change_seq,
               (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT
        FROM groups g WHERE g.id = r.group_id;
    RETURN NULL;
END $$;
CREATE TRIGGER group_members_stamp AFTER INSERT OR DELETE ON group_members
    FOR EACH ROW EXECUTE FUNCTION group_members_stamp();

-- Gone for good (hard delete or purge) unless it was restored (the live row is back).
CREATE FUNCTION deleted_tombstone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_ARGV[0] = 'user' AND EXISTS (SELECT 1 FROM users WHERE id = OLD.id) THEN RETURN NULL; END IF;
    IF TG_ARGV[0] = 'group' AND EXISTS (SELECT 1 FROM groups WHERE id = OLD.id) THEN RETURN NULL; END IF;
    INSERT INTO directory_tombstones (tenant_id, id, kind, change_seq, at)
        VALUES (OLD.tenant_id, OLD.id, TG_ARGV[0], directory_next_seq(OLD.tenant_id),
                (extract(epoch FROM clock_timestamp()) * 1000)::BIGINT)
        ON CONFLICT (tenant_id, id) DO UPDATE SET change_seq = EXCLUDED.change_seq, at = EXCLUDED.at;
    RETURN NULL;
END $$;
CREATE TRIGGER deleted_users_tombstone AFTER DELETE ON deleted_users
    FOR EACH ROW EXECUTE FUNCTION deleted_tombstone('user');
CREATE TRIGGER deleted_groups_tombstone AFTER DELETE ON deleted_groups
    FOR EACH ROW EXECUTE FUNCTION deleted_tombstone('group');
