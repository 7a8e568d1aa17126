-- The CA's own certificates revoked by the CA key compromise procedure (regulation K4,
-- server/generations/compromise.py): the compromised generation's CA certificate and the
-- link certificates involving its key. Each is listed, with reason cACompromise, in the
-- CRLs of `listed_by_generation_id`, the generation made by the compromise: a CRL signed
-- by the compromised key would prove nothing. `certificates.crl_entry` cannot hold them:
-- a CA certificate has no issuing generation there, and links are not in that table.
CREATE TABLE ca_revocations (
    serial                  TEXT PRIMARY KEY,
    generation_id           INTEGER NOT NULL REFERENCES ca_generations(id),
    listed_by_generation_id INTEGER NOT NULL REFERENCES ca_generations(id),
    crl_entry               BLOB NOT NULL,
    revoked_at              TIMESTAMP_TEXT NOT NULL
);
CREATE INDEX ca_revocations_by_lister ON ca_revocations (listed_by_generation_id);
