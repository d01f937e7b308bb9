-- A bulk import (`textid import`) reserves a block of change sequences with one update of
-- the tenant's `directory_versions` row per chunk and stamps its users itself: stamped row by
-- row, one transaction updated that row once per user, and each update walked the row's
-- growing chain of versions (75 s for 100,000 users). An INSERT that brings its own
-- sequence keeps it; every other insert, and every update, is stamped as before.
CREATE OR REPLACE FUNCTION directory_stamp() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'INSERT' AND NEW.change_seq > 0 THEN
        RETURN NEW;
    END IF;
    NEW.change_seq := directory_next_seq(NEW.tenant_id);
    RETURN NEW;
END $$;
