-- Receipts by text message are limited per phone number: the messages queued for a destination
-- in the last hour are counted.
CREATE INDEX outbox_destination ON outbox (destination, created_at);
