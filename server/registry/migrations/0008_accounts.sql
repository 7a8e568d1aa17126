-- Accounts of the operator API (/api/v1/): who may call it and with which role. A caller
-- proves who it is with a bearer token, of which only the SHA-256 is kept (the token is 32
-- random bytes, shown once), or with a TLS client certificate of this CA bound to the
-- account (the SHA-256 of its DER). A disabled account stays, for the audit trail's sake.
CREATE TABLE accounts (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    role               TEXT NOT NULL CHECK (role IN ('operator', 'officer', 'auditor', 'admin')),
    token_sha256       BLOB UNIQUE,
    client_cert_sha256 BLOB UNIQUE,
    created_at         TIMESTAMP_TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    disabled_at        TIMESTAMP_TEXT
);
