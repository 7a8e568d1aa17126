-- The CA's confirmation certificates (issue #17): the key an expert's confirmation report
-- is signed with (CMS detached, server/confirmation/report_signer.py), made in the signing
-- backend like an OCSP responder's and certified by a CA generation under the internal
-- profile `confirmation-signer`. A generation gets a new one when its last nears its end
-- (a renewal adds a row); the newest good one of the active generation signs.
CREATE TABLE confirmation_signers (
    serial        TEXT PRIMARY KEY REFERENCES certificates(serial),
    generation_id INTEGER NOT NULL REFERENCES ca_generations(id),
    key_uri       TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    not_after     TIMESTAMP_TEXT NOT NULL
);
CREATE INDEX confirmation_signers_generation ON confirmation_signers (generation_id, not_after);
