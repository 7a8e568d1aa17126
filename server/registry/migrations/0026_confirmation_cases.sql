-- Confirmation cases (regulation 8.2, SEED-MAP V3; server/confirmation/cases.py): a request to
-- confirm an electronic signature (S10) or the CA's signature in a certificate (S11),
-- registered with who asked and what, the automatic check's report (JSON), and a due date
-- `confirmation.due_working_days` working days after it was received. An officer assigns it
-- to an expert, whose report (JSON, the fields V3 lists) answers it. The files are kept in
-- the CA home (confirmation.files) until `files_until`; the registry holds their names, sizes
-- and SHA-256, never their content.
CREATE TABLE confirmation_cases (
    id            TEXT PRIMARY KEY,
    kind          TEXT NOT NULL CHECK (kind IN ('signature', 'certificate')),
    submitter     TEXT NOT NULL,            -- who asked, as the operator wrote it (U7)
    questions     TEXT NOT NULL,
    received_by   TEXT NOT NULL,            -- the account that registered it
    received_at   TIMESTAMP_TEXT NOT NULL,
    due_at        TIMESTAMP_TEXT NOT NULL,
    files_until   TIMESTAMP_TEXT NOT NULL,  -- the files may be removed after this
    state         TEXT NOT NULL CHECK (state IN ('registered', 'assigned', 'answered')),
    check_report  TEXT NOT NULL,            -- the automatic check's report, JSON
    expert        TEXT,                     -- the assigned expert's account name
    assigned_by   TEXT,
    assigned_at   TIMESTAMP_TEXT,
    expert_report TEXT,                     -- the expert's report, JSON
    answered_at   TIMESTAMP_TEXT,
    CHECK ((state = 'registered') = (expert IS NULL)),
    CHECK ((state = 'answered') = (expert_report IS NOT NULL))
);
CREATE INDEX confirmation_cases_by_due ON confirmation_cases (state, due_at);

-- The files of a case, one of each role: the signed document and its signature (S10), or
-- the certificate (S11). `name` is the file name the submitter gave.
CREATE TABLE confirmation_files (
    case_id TEXT NOT NULL REFERENCES confirmation_cases(id),
    role    TEXT NOT NULL CHECK (role IN ('document', 'signature', 'certificate')),
    name    TEXT NOT NULL,
    size    INTEGER NOT NULL,
    sha256  BLOB NOT NULL,
    PRIMARY KEY (case_id, role)
);

-- The `expert` role (server/accounts.py) joins the accounts' roles. SQLite cannot change a
-- CHECK constraint: the table is made again (no table refers to it).
-- only sqlite
CREATE TABLE accounts_v2 (
    id                 TEXT PRIMARY KEY,
    name               TEXT NOT NULL UNIQUE,
    role               TEXT NOT NULL
                       CHECK (role IN ('operator', 'officer', 'auditor', 'admin', 'expert')),
    token_sha256       BLOB UNIQUE,
    client_cert_sha256 BLOB UNIQUE,
    created_at         TIMESTAMP_TEXT NOT NULL,
    created_by         TEXT NOT NULL,
    disabled_at        TIMESTAMP_TEXT
);
INSERT INTO accounts_v2 (id, name, role, token_sha256, client_cert_sha256, created_at,
    created_by, disabled_at)
SELECT id, name, role, token_sha256, client_cert_sha256, created_at, created_by, disabled_at
FROM accounts;
DROP TABLE accounts;
ALTER TABLE accounts_v2 RENAME TO accounts;
-- end only
-- only postgresql
ALTER TABLE accounts DROP CONSTRAINT accounts_role_check;
ALTER TABLE accounts ADD CONSTRAINT accounts_role_check
    CHECK (role IN ('operator', 'officer', 'auditor', 'admin', 'expert'));
-- end only
