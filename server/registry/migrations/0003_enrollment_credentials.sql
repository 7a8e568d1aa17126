-- One-time enrollment credentials (EST HTTP Basic username/password, CMP MAC
-- reference/secret): bound to a profile and a subject, expiring, single use. Only a salted
-- SHA-256 of the (CA-made, 192-bit random) secret is kept.
CREATE TABLE enrollment_credentials (
    id          TEXT PRIMARY KEY,
    secret_hash BLOB NOT NULL,
    salt        BLOB NOT NULL,
    profile     TEXT NOT NULL,
    subject     TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  TIMESTAMP_TEXT NOT NULL,
    expires_at  TIMESTAMP_TEXT NOT NULL,
    claimed_at  TIMESTAMP_TEXT,   -- while an enrollment is using it
    used_serial TEXT REFERENCES certificates(serial)
);
