-- The registry of one CA (S5): CA generations, every certificate with its status history,
-- and the append-only audit trail. Serials are lowercase hex.
--
-- One history for both engines (server/registry/migrations.py): written for SQLite, its
-- types rewritten for PostgreSQL (INTEGER -> BIGINT, BLOB -> BYTEA, INTEGER PRIMARY KEY ->
-- an identity column), and the parts only one engine can say between `-- only <engine>`
-- and `-- end only` lines.
--
-- A time is declared TIMESTAMP_TEXT. On PostgreSQL that becomes TIMESTAMPTZ. On SQLite the
-- name contains "TEXT", so the column has TEXT affinity exactly like the TEXT these columns
-- were declared before: it stores the ISO 8601 UTC text (`records.to_text`) as it always did,
-- and a registry made under the old declaration reads and compares the same. (A name
-- without "TEXT", such as TIMESTAMP, would give NUMERIC affinity.) The stores pass and read
-- `to_text` strings on both engines; server/registry/postgres_engine.py converts.

CREATE TABLE ca_generations (
    id            INTEGER PRIMARY KEY,
    ca_name       TEXT NOT NULL,
    key_uri       TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    serial        TEXT NOT NULL UNIQUE,   -- the CA certificate's row in `certificates`
    key_id        BLOB NOT NULL,          -- subjectKeyIdentifier of the CA certificate
    not_before    TIMESTAMP_TEXT NOT NULL,
    not_after     TIMESTAMP_TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('active', 'retired', 'compromised')),
    created_at    TIMESTAMP_TEXT NOT NULL
);

-- A row is written as 'intent' (the to-be-signed bytes) before the signature is asked
-- for, and becomes 'issued' with the signed DER in the transaction that records its
-- first status. spki_sha256 is unique over every certificate of every generation (S13).
CREATE TABLE certificates (
    serial        TEXT PRIMARY KEY,
    generation_id INTEGER REFERENCES ca_generations(id),  -- NULL for a self-signed CA cert
    profile       TEXT NOT NULL,
    subject       TEXT NOT NULL,
    spki_sha256   BLOB NOT NULL UNIQUE,
    not_before    TIMESTAMP_TEXT NOT NULL,
    not_after     TIMESTAMP_TEXT NOT NULL,
    state         TEXT NOT NULL CHECK (state IN ('intent', 'issued')),
    status        TEXT NOT NULL DEFAULT 'good' CHECK (status IN ('good', 'revoked', 'hold')),
    tbs           BLOB NOT NULL,
    der           BLOB,
    created_at    TIMESTAMP_TEXT NOT NULL,
    CHECK (state = 'intent' OR der IS NOT NULL)
);
CREATE INDEX certificates_by_generation ON certificates (generation_id, status);
CREATE INDEX certificates_by_not_after ON certificates (not_after);

-- Every status change (issue, revoke, hold, release) with who, when and why.
CREATE TABLE status_changes (
    id              INTEGER PRIMARY KEY,
    serial          TEXT NOT NULL REFERENCES certificates(serial),
    change          TEXT NOT NULL CHECK (change IN ('issue', 'revoke', 'hold', 'release')),
    reason          TEXT,
    effective_at    TIMESTAMP_TEXT NOT NULL,
    invalidity_date TIMESTAMP_TEXT,
    actor           TEXT NOT NULL,
    recorded_at     TIMESTAMP_TEXT NOT NULL
);
CREATE INDEX status_changes_by_serial ON status_changes (serial);

-- Append-only, tamper-evident (D3): each entry carries the SHA-256 of the one before.
CREATE TABLE audit_log (
    seq        INTEGER PRIMARY KEY,
    at         TIMESTAMP_TEXT NOT NULL,
    actor      TEXT NOT NULL,
    action     TEXT NOT NULL,
    target     TEXT NOT NULL,
    details    TEXT NOT NULL,   -- canonical JSON
    prev_hash  BLOB NOT NULL,
    hash       BLOB NOT NULL
);
-- only sqlite
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
-- end only
-- only postgresql
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the audit log is append-only' USING ERRCODE = 'integrity_constraint_violation';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_delete BEFORE DELETE ON audit_log
FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
-- end only

-- The delegated OCSP responder certificate of each CA generation (RFC 6960 4.2.2.2) and
-- the key that signs with it.
CREATE TABLE ocsp_responders (
    serial        TEXT PRIMARY KEY REFERENCES certificates(serial),
    generation_id INTEGER NOT NULL REFERENCES ca_generations(id),
    key_uri       TEXT NOT NULL,
    key_algorithm TEXT NOT NULL,
    not_after     TIMESTAMP_TEXT NOT NULL
);
