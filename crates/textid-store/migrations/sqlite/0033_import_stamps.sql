-- A bulk import (`textid import`) reserves a block of change sequences with one update of
-- the tenant's `directory_versions` row and stamps its users itself (as PostgreSQL's 0032):
-- the per-row stamp ran three more statements for every imported user. An insert that
-- brings its own sequence keeps it; every other insert, and every update, is stamped as
-- before.
DROP TRIGGER users_stamp_insert;
CREATE TRIGGER users_stamp_insert AFTER INSERT ON users WHEN NEW.change_seq = 0 BEGIN
    INSERT OR IGNORE INTO directory_versions (tenant_id, seq) VALUES (NEW.tenant_id, 0);
    UPDATE directory_versions SET seq = seq + 1 WHERE tenant_id = NEW.tenant_id;
    UPDATE users SET change_seq = (SELECT seq FROM directory_versions WHERE tenant_id = NEW.tenant_id) WHERE id = NEW.id;
END;
