-- The request of an issuing CA under a parent outside for its next generation (regulation
-- K2 for a subordinate; server/generations/subordinate_rollover.py): the new key, made in the home's
-- backend, and the PKCS#10 request for the parent to certify, kept here so that any node
-- of a cluster can import the parent's answer. 'pending' until the answer is imported
-- ('imported', `generation_id` the generation it made) or the operator gives it up
-- ('abandoned'); at most one pending request per CA.
CREATE TABLE ca_requests (
    id            INTEGER PRIMARY KEY,
    ca_name       TEXT NOT NULL,
    rolled_from   INTEGER NOT NULL REFERENCES ca_generations(id),
    key_uri       TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    csr_der       BLOB NOT NULL,
    created_at    TIMESTAMP_TEXT NOT NULL,
    actor         TEXT NOT NULL,
    reason        TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('pending', 'imported', 'abandoned')),
    generation_id INTEGER REFERENCES ca_generations(id),
    closed_at     TIMESTAMP_TEXT
);
CREATE UNIQUE INDEX ca_requests_one_pending ON ca_requests (ca_name) WHERE state = 'pending';
