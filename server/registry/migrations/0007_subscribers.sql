-- The registration authority (S1, P2, P3, D1, D2, R2, R8): subscribers, how their identity
-- was established, their acknowledgement of the conditions notice, and applications that
-- an operator makes for them. Personal data (SNILS, document numbers) live only here (C1).

CREATE TABLE subscribers (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('individual', 'legal_entity', 'sole_proprietor')),
    name          TEXT NOT NULL,      -- full name of a person, or the organisation's name
    surname       TEXT,
    given_names   TEXT,               -- first name and patronymic
    email         TEXT,
    snils         TEXT,
    inn           TEXT,               -- 12 digits (person, sole proprietor) or 10 (legal entity)
    ogrn          TEXT,
    ogrnip        TEXT,
    country       TEXT NOT NULL,
    region        TEXT,
    locality      TEXT,
    street        TEXT,
    registered_by TEXT NOT NULL,
    registered_at TIMESTAMP_TEXT NOT NULL
);
CREATE UNIQUE INDEX subscribers_by_snils ON subscribers (snils) WHERE snils IS NOT NULL;
CREATE UNIQUE INDEX subscribers_by_ogrn ON subscribers (ogrn) WHERE ogrn IS NOT NULL;
CREATE UNIQUE INDEX subscribers_by_ogrnip ON subscribers (ogrnip) WHERE ogrnip IS NOT NULL;

-- How the operator established who the applicant is (P3): the identity document, and
-- whether the person came in person or through a proxy with a power of attorney.
CREATE TABLE identity_records (
    id              TEXT PRIMARY KEY,
    subscriber_id   TEXT NOT NULL REFERENCES subscribers(id),
    document_type   TEXT NOT NULL CHECK (document_type IN ('passport_rf', 'foreign_passport', 'other')),
    document_number TEXT NOT NULL,
    document_issuer TEXT NOT NULL,
    document_date   TEXT NOT NULL,    -- YYYY-MM-DD
    presence        TEXT NOT NULL CHECK (presence IN ('in_person', 'proxy')),
    proxy_name      TEXT,
    poa_number      TEXT,             -- the power of attorney of a proxy
    poa_date        TEXT,
    verified_by     TEXT NOT NULL,
    verified_at     TIMESTAMP_TEXT NOT NULL,
    CHECK (presence = 'in_person' OR (proxy_name IS NOT NULL AND poa_number IS NOT NULL
                                      AND poa_date IS NOT NULL))
);
CREATE INDEX identity_records_by_subscriber ON identity_records (subscriber_id);

-- The applicant was told in writing of the conditions and risks of using e-signatures (D1).
CREATE TABLE notice_acknowledgements (
    subscriber_id   TEXT NOT NULL REFERENCES subscribers(id),
    notice_version  TEXT NOT NULL,
    acknowledged_at TIMESTAMP_TEXT NOT NULL,
    recorded_by     TEXT NOT NULL,
    PRIMARY KEY (subscriber_id, notice_version)
);

-- Applications now also come from operators, for a registered subscriber, with or
-- without a request: one without is approved by handing out an enrollment credential, and
-- is issued when the holder enrolls with it. SQLite cannot change a CHECK, so the table
-- is made anew.
CREATE TABLE applications_v2 (
    id             TEXT PRIMARY KEY,
    subscriber_id  TEXT REFERENCES subscribers(id),
    profile        TEXT NOT NULL,
    subject        TEXT NOT NULL,
    request_der    BLOB,
    request_format TEXT CHECK (request_format IN ('pkcs10', 'cmp')),
    request_sha256 BLOB,
    credential_id  TEXT REFERENCES enrollment_credentials(id),
    state          TEXT NOT NULL CHECK (state IN ('submitted', 'approved', 'rejected', 'issued')),
    submitted_by   TEXT NOT NULL,
    submitted_at   TIMESTAMP_TEXT NOT NULL,
    complete_at    TIMESTAMP_TEXT,              -- when every document was in: the due date counts from it
    due_at         TIMESTAMP_TEXT,              -- 5 working days after complete_at (P4)
    register_check TEXT NOT NULL DEFAULT '',  -- what the state-register check said (R2)
    decided_by     TEXT,
    decided_at     TIMESTAMP_TEXT,
    reason         TEXT,
    serial         TEXT REFERENCES certificates(serial),
    received_by    TEXT CHECK (received_by IN ('holder', 'proxy')),  -- who took it (P2)
    received_proxy TEXT,
    received_poa   TEXT,              -- number and date of the proxy's power of attorney
    received_at    TIMESTAMP_TEXT,
    CHECK ((request_der IS NULL) = (request_format IS NULL)),
    UNIQUE (credential_id, request_sha256)
);
INSERT INTO applications_v2 (id, profile, subject, request_der, request_format, request_sha256,
    credential_id, state, submitted_by, submitted_at, complete_at, decided_by, decided_at,
    reason, serial)
SELECT id, profile, subject, request_der, request_format, request_sha256, credential_id, state,
    submitted_by, submitted_at, submitted_at, decided_by, decided_at, reason, serial
FROM applications;
-- only sqlite
DROP TABLE applications;
-- end only
-- only postgresql
-- A foreign key names its table by identity there, not by name: the one of cmp_transactions
-- goes with the old table and is made again for the new one.
DROP TABLE applications CASCADE;
-- end only
ALTER TABLE applications_v2 RENAME TO applications;
-- only postgresql
ALTER TABLE cmp_transactions ADD FOREIGN KEY (application_id) REFERENCES applications (id);
-- end only
CREATE INDEX applications_by_state ON applications (state, submitted_at);
CREATE INDEX applications_by_due ON applications (state, due_at);

-- Attachments of an application (R1): the documents' names and SHA-256, not their content.
CREATE TABLE application_attachments (
    application_id TEXT NOT NULL REFERENCES applications(id),
    name           TEXT NOT NULL,
    sha256         BLOB NOT NULL,
    PRIMARY KEY (application_id, name)
);

-- A credential handed out for an approved application, or for a subscriber: the
-- certificate it enrolls for is issued from the subscriber's registered data (D2).
ALTER TABLE enrollment_credentials ADD COLUMN subscriber_id TEXT REFERENCES subscribers(id);
ALTER TABLE enrollment_credentials ADD COLUMN application_id TEXT REFERENCES applications(id);

-- Why a status changed (R8): on the holder's request or by the CA's own decision, and the
-- grounds (the holder's application, the compromise report, the unpaid invoice...).
ALTER TABLE status_changes ADD COLUMN basis TEXT
    CHECK (basis IS NULL OR basis IN ('holder_request', 'ca_decision'));
ALTER TABLE status_changes ADD COLUMN grounds TEXT;
