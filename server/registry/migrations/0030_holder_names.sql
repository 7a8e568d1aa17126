-- The names a certificate's holder is looked up by on the public page (S6, issue #18): the
-- commonName and organizationName values of its subject, folded by Python's str.casefold
-- (server/registry/holder_names.py) when the certificate is issued. Folded here rather than
-- compared with lower(): SQLite's lower() folds ASCII only, and a Russian CA's holders are
-- named in Cyrillic. A prefix is looked up as a range of the primary key; PostgreSQL keeps
-- the names in code point order ("C"), so that the range is the prefix on both engines.
-- Certificates issued before this migration are named once, at the next opening (below).
-- only sqlite
CREATE TABLE certificate_holder_names (
    name   TEXT NOT NULL,
    serial TEXT NOT NULL REFERENCES certificates(serial),
    PRIMARY KEY (name, serial)
);
-- end only
-- only postgresql
CREATE TABLE certificate_holder_names (
    name   TEXT COLLATE "C" NOT NULL,
    serial TEXT NOT NULL REFERENCES certificates(serial),
    PRIMARY KEY (name, serial)
);
-- end only

-- The certificates issued before this migration, named by Python at the next opening of the
-- registry (server/registry/holder_names.py, name_earlier_certificates) and then removed
-- from here: empty from then on.
CREATE TABLE holder_names_pending (
    serial TEXT PRIMARY KEY REFERENCES certificates(serial)
);
INSERT INTO holder_names_pending (serial) SELECT serial FROM certificates WHERE state = 'issued';
