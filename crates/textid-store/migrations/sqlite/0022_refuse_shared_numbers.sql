-- Refuse-shared mode (issue #16): when 1, no phone method may take a number that another
-- user of the tenant holds on any method. Off by default, as in Entra. The shared-number
-- report groups phone_methods by (tenant_id, number), which phone_methods_number (0001)
-- already indexes.
ALTER TABLE tenants ADD COLUMN refuse_shared_phone_numbers INTEGER NOT NULL DEFAULT 0;
