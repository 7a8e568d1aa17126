-- Applications: enrollment requests of profiles that require an operator's approval
-- (RFC 7030 4.2.3: the client repeats its request until the certificate is ready). The
-- request is kept as sent; the subject is the one the credential binds (D2). The client's
-- repeated request finds its application by credential and request hash.
CREATE TABLE applications (
    id             TEXT PRIMARY KEY,
    profile        TEXT NOT NULL,
    subject        TEXT NOT NULL,
    request_der    BLOB NOT NULL,
    request_format TEXT NOT NULL CHECK (request_format IN ('pkcs10', 'cmp')),  -- 'cmp': the
                                 -- whole PKIMessage of an ir/cr (CRMF, its POP checked again)
    request_sha256 BLOB NOT NULL,
    credential_id  TEXT NOT NULL REFERENCES enrollment_credentials(id),
    state          TEXT NOT NULL CHECK (state IN ('submitted', 'rejected', 'issued')),
    submitted_by   TEXT NOT NULL,
    submitted_at   TIMESTAMP_TEXT NOT NULL,
    decided_by     TEXT,
    decided_at     TIMESTAMP_TEXT,
    reason         TEXT,       -- why it was rejected
    serial         TEXT REFERENCES certificates(serial),
    UNIQUE (credential_id, request_sha256)
);
CREATE INDEX applications_by_state ON applications (state, submitted_at);
