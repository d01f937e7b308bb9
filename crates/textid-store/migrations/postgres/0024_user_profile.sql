-- Graph's user profile properties (issue #17): names, job and contact information,
-- usageLocation, employeeId, otherMails, as one JSON document per user with Graph's names
-- (textid_core::directory::profile). Expression indexes serve the equality filters admins'
-- scripts use most.
ALTER TABLE users ADD COLUMN profile JSONB NOT NULL DEFAULT '{}';
CREATE INDEX users_given_name ON users (tenant_id, lower(profile ->> 'givenName'));
CREATE INDEX users_surname ON users (tenant_id, lower(profile ->> 'surname'));
CREATE INDEX users_mail ON users (tenant_id, lower(profile ->> 'mail'));
CREATE INDEX users_employee_id ON users (tenant_id, lower(profile ->> 'employeeId'));
CREATE INDEX users_department ON users (tenant_id, lower(profile ->> 'department'));
