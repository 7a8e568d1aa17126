-- The root CA kept in the home changes its key (regulation K2 for the root; `root
-- rollover`, server/hierarchy/root_rollover.py). A new root is a new row of root_cas, named
-- as a CA's later generations are (server/status/distribution_points.py): the first keeps
-- `root.name`, a later one `<root.name>-<key id hex>`; `succeeds` names the root it
-- replaced. A root is succeeded at most once (the unique index), so two rollovers from the
-- same root cannot both be recorded. Every root keeps its own CRLs in root_crls (K3).
ALTER TABLE root_cas ADD COLUMN succeeds TEXT REFERENCES root_cas(name);
CREATE UNIQUE INDEX root_cas_succeeds ON root_cas (succeeds);
-- The link certificates of a root key update (RFC 9810 4.4): NewWithOld (the new root's
-- key signed by the old one's) and OldWithNew (the old key signed by the new). The key of
-- `issuer_root` signed it; it certifies that of `subject_root`.
CREATE TABLE root_links (
    serial       TEXT PRIMARY KEY,
    kind         TEXT NOT NULL CHECK (kind IN ('new_with_old', 'old_with_new')),
    issuer_root  TEXT NOT NULL REFERENCES root_cas(name),
    subject_root TEXT NOT NULL REFERENCES root_cas(name),
    not_before   TIMESTAMP_TEXT NOT NULL,
    not_after    TIMESTAMP_TEXT NOT NULL,
    der          BLOB NOT NULL,
    created_at   TIMESTAMP_TEXT NOT NULL
);
