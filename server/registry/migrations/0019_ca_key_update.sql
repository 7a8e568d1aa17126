-- A root CA key update (RFC 9810 4.4; server/lifecycle.py): the generation a rollover made
-- names the one it rolled from, and its link certificates are kept.
--
-- `rolled_from` is unique: a generation is rolled from once. Two rollovers racing from the
-- same active generation both pass their read of it, but only one insert lands; the other
-- finds the conflict and is refused, on either engine.
ALTER TABLE ca_generations ADD COLUMN rolled_from INTEGER REFERENCES ca_generations(id);
CREATE UNIQUE INDEX ca_generations_rolled_from ON ca_generations (rolled_from);

-- The link certificates NewWithOld and OldWithNew. Not in `certificates`: a link certifies
-- the public key of a CA certificate already there, and spki_sha256 is unique over that
-- table (S13). `issuer_generation_id` signed it, it certifies the key of
-- `subject_generation_id`.
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
