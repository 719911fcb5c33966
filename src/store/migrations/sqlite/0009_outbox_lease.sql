-- Which queued messages are leased for a delivery attempt right now (until when). A daemon
-- killed mid-delivery leaves its leases behind; the next daemon releases them at start-up
-- instead of waiting for them to run out.
ALTER TABLE outbox ADD COLUMN leased_until TEXT;
