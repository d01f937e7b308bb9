-- Delivery receipts (issue #18): which provider accepted a message and under which id, so
-- that its receipt (a carrier's status callback) finds the message; and what the receipt
-- said. `status` stays the handover ('delivered' = a provider accepted it); the receipt is
-- the carrier's later word: 'delivered' or 'failed' with the carrier's reason.
ALTER TABLE outbox ADD COLUMN provider TEXT;
ALTER TABLE outbox ADD COLUMN provider_message_id TEXT;
ALTER TABLE outbox ADD COLUMN receipt_status TEXT CHECK (receipt_status IN ('delivered', 'failed'));
ALTER TABLE outbox ADD COLUMN receipt_reason TEXT;
ALTER TABLE outbox ADD COLUMN receipt_at BIGINT;
CREATE INDEX outbox_provider_message ON outbox(provider, provider_message_id)
    WHERE provider_message_id IS NOT NULL;
