-- The chain above a CA generation whose certificate a parent CA outside signed (issue 15,
-- Hierarchy; `import-ca-cert`): position 1 is the issuer of the generation's certificate,
-- the last the parent's self-signed root. None for a self-signed generation. Not in
-- `certificates`: this CA issued none of them.
CREATE TABLE ca_chains (
    generation_id INTEGER NOT NULL REFERENCES ca_generations(id),
    position      INTEGER NOT NULL CHECK (position >= 1),
    der           BLOB NOT NULL,
    PRIMARY KEY (generation_id, position)
);
