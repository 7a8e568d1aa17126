-- The reporting outbox (D6, D7): events for the state identification system (a certificate
-- issued, a holder registered), written in the same transaction as the change they report
-- and delivered at least once by a sender (server/outbox.py). `seq` orders the events and
-- is the receiver's key for dropping a repeated delivery. `payload` is canonical JSON.
CREATE TABLE outbox_events (
    seq          INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    created_at   TIMESTAMP_TEXT NOT NULL,
    delivered_at TIMESTAMP_TEXT,            -- NULL until the sender has taken it
    attempts     INTEGER NOT NULL DEFAULT 0,
    last_error   TEXT             -- of the last failed attempt
);
CREATE INDEX outbox_events_undelivered ON outbox_events (seq) WHERE delivered_at IS NULL;
