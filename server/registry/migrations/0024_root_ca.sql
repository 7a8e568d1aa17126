-- A root CA kept in the home above the issuing CA (issue 15, Hierarchy; `init --hierarchy
-- root+issuing`, server/hierarchy/offline_root.py). Its key is used only by commands; the
-- server reads these tables to publish what they made: the root's certificate at
-- /ca/<name>.crt and its newest CRL at /crl/<name>.crl (RFC 5280 4.2.1.13, 4.2.2.1).
CREATE TABLE root_cas (
    name          TEXT PRIMARY KEY,
    key_id        BLOB NOT NULL UNIQUE,
    key_uri       TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    certificate   BLOB NOT NULL,
    not_after     TIMESTAMP_TEXT NOT NULL,
    created_at    TIMESTAMP_TEXT NOT NULL
);
-- What the root signed: the issuing CA's certificates, one per generation it certified.
-- `crl_entry` is set when the root revokes one (a compromise of the issuing CA's key, K4):
-- its root CRLs from then on list it.
CREATE TABLE root_issued (
    serial     TEXT PRIMARY KEY,
    root_name  TEXT NOT NULL REFERENCES root_cas(name),
    subject    TEXT NOT NULL,
    not_after  TIMESTAMP_TEXT NOT NULL,
    der        BLOB NOT NULL,
    issued_at  TIMESTAMP_TEXT NOT NULL,
    revoked_at TIMESTAMP_TEXT,
    crl_entry  BLOB
);
CREATE INDEX root_issued_by_root ON root_issued (root_name);
-- The root's CRLs, numbered by one increasing cRLNumber (RFC 5280 5.2.3); the newest is
-- the one published.
CREATE TABLE root_crls (
    root_name   TEXT NOT NULL REFERENCES root_cas(name),
    number      INTEGER NOT NULL,
    this_update TIMESTAMP_TEXT NOT NULL,
    next_update TIMESTAMP_TEXT NOT NULL,
    der         BLOB NOT NULL,
    PRIMARY KEY (root_name, number)
);
