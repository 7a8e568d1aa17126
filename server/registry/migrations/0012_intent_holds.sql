-- What an open intent (a `certificates` row in state 'intent') holds while its certificate
-- is being signed, and which process owns it. The hold is taken in the transaction that
-- records the intent, and ends in the transaction that records the certificate (the
-- credential is spent, the application issued) or in the one that settles the intent as
-- never issued (everything is given back): by the failing request itself, or by the
-- sweeper once the owner is gone (server/intent_sweeper.py).
CREATE TABLE intent_holds (
    serial             TEXT PRIMARY KEY REFERENCES certificates(serial),
    owner              TEXT NOT NULL,  -- host/boot id/pid/start time (server/process_identity.py)
    credential_id      TEXT UNIQUE REFERENCES enrollment_credentials(id),
    application_id     TEXT UNIQUE REFERENCES applications(id),
    cmp_transaction_id BLOB REFERENCES cmp_transactions(transaction_id),
    recorded_at        TIMESTAMP_TEXT NOT NULL
);
