-- What the sweeper reads every round (server/node/intent_sweeper.py) in a registry of a
-- million certificates: open intents, and credentials claimed but not used. Without these
-- it read the whole certificates table each time (about 0.13 s for 300,000 rows, on the
-- duty holder's reader connection); each index holds only the few rows in flight, so
-- keeping it costs an issuance next to nothing.
CREATE INDEX certificates_open_intents ON certificates (created_at, serial)
    WHERE state = 'intent';
CREATE INDEX enrollment_credentials_claimed ON enrollment_credentials (claimed_at)
    WHERE used_serial IS NULL AND claimed_at IS NOT NULL;
