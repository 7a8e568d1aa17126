-- The link certificates NewWithOld and OldWithNew of a root CA key update (RFC 9810 4.4;
-- a rollover, server/generations/rollover.py). Not in `certificates`: a link certifies the public key
-- of a CA certificate already there, and spki_sha256 is unique over that table (S13).
-- The key of `issuer_generation_id` signed it; it certifies that of `subject_generation_id`.
CREATE TABLE ca_links (
    serial                TEXT PRIMARY KEY,
    kind                  TEXT NOT NULL CHECK (kind IN ('new_with_old', 'old_with_new')),
    issuer_generation_id  INTEGER NOT NULL REFERENCES ca_generations(id),
    subject_generation_id INTEGER NOT NULL REFERENCES ca_generations(id),
    not_before            TIMESTAMP_TEXT NOT NULL,
    not_after             TIMESTAMP_TEXT NOT NULL,
    der                   BLOB NOT NULL,
    created_at            TIMESTAMP_TEXT NOT NULL
);
CREATE INDEX ca_links_by_subject ON ca_links (subject_generation_id);
