-- Status publication (RFC 6960 OCSP, RFC 5280 CRLs).

-- The pre-signed OCSP response of every issued certificate (SHA-1 CertID, RFC 5019), with
-- the status it states. `seq` grows with every write, so every server process can follow
-- the changes made by the others and apply them before the change is acknowledged.
CREATE TABLE ocsp_responses (
    serial        TEXT PRIMARY KEY REFERENCES certificates(serial),
    generation_id INTEGER NOT NULL REFERENCES ca_generations(id),
    status        TEXT NOT NULL CHECK (status IN ('good', 'revoked', 'hold')),
    revoked_at    TIMESTAMP_TEXT,
    reason        INTEGER,
    this_update   TIMESTAMP_TEXT NOT NULL,
    next_update   TIMESTAMP_TEXT NOT NULL,
    der           BLOB NOT NULL,
    seq           INTEGER NOT NULL
);
CREATE INDEX ocsp_responses_by_seq ON ocsp_responses (seq);
CREATE INDEX ocsp_responses_by_next_update ON ocsp_responses (next_update);

-- How far each running server process has applied `ocsp_responses` changes; a status
-- change waits until every live process has applied it.
CREATE TABLE status_watermarks (
    node    TEXT PRIMARY KEY,
    seq     INTEGER NOT NULL,
    seen_at TIMESTAMP_TEXT NOT NULL
);

-- The CRL entry (RFC 5280 5.1.2.6) of a revoked or held certificate, made when its status
-- changed, so that building a CRL is a join.
ALTER TABLE certificates ADD COLUMN crl_entry BLOB;
CREATE INDEX certificates_revoked ON certificates (generation_id) WHERE crl_entry IS NOT NULL;

-- Published CRLs. cRLNumber is shared by the full and delta CRLs of a generation
-- (RFC 5280 5.2.3); `base_change_id` is the last status change a full CRL includes.
CREATE TABLE crls (
    generation_id  INTEGER NOT NULL REFERENCES ca_generations(id),
    shard          INTEGER NOT NULL,
    number         INTEGER NOT NULL,
    delta_base     INTEGER,
    base_change_id INTEGER NOT NULL,
    this_update    TIMESTAMP_TEXT NOT NULL,
    next_update    TIMESTAMP_TEXT NOT NULL,
    der            BLOB NOT NULL,
    PRIMARY KEY (generation_id, shard, number)
);
CREATE TABLE crl_numbers (
    generation_id INTEGER PRIMARY KEY REFERENCES ca_generations(id),
    last_number   INTEGER NOT NULL
);
