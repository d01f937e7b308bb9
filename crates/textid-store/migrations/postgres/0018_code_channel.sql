-- Voice codes (issue #15): how a flow's current code was delivered, 'sms' or 'voice'. It
-- decides the session's amr ('sms' or 'tel', RFC 8176). Flows started before this
-- migration were all texted.
ALTER TABLE sms_sign_in_flows ADD COLUMN channel TEXT NOT NULL DEFAULT 'sms' CHECK (channel IN ('sms', 'voice'));
