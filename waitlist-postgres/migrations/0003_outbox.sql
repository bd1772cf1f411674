-- The transactional outbox: messages a host stages in its own transactions
-- (Outbox::stage), published by the relay (OutboxRelay), in order per key.

CREATE TABLE IF NOT EXISTS outbox (
    id              bigserial PRIMARY KEY,
    message_id      text NOT NULL,
    topic           text NOT NULL,
    key             text,
    headers         jsonb NOT NULL DEFAULT '{}',
    payload         bytea NOT NULL,
    staged_at       timestamptz NOT NULL DEFAULT now(),
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    last_error      text,
    sent_at         timestamptz
);

-- The relay's scan: pending rows in staging order.
CREATE INDEX IF NOT EXISTS outbox_pending ON outbox (id) WHERE sent_at IS NULL;
-- "Is an earlier row of this key still waiting?"
CREATE INDEX IF NOT EXISTS outbox_pending_key ON outbox (key, id) WHERE sent_at IS NULL;
-- The retention purge.
CREATE INDEX IF NOT EXISTS outbox_sent ON outbox (sent_at) WHERE sent_at IS NOT NULL;
