-- Retention (issue #18, C1; server/node/retention.py): personal data are kept no longer
-- than their purpose needs (152-FZ art. 5 part 7), while the registry of certificates and
-- the audit trail stay whole. Each marker says when the duty removed something, so that
-- "removed after its period" is told apart from "never there":
-- a subscriber whose personal data were erased (the row stays: certificates, applications
-- and audit entries name it by id); an application whose attachment records were removed;
-- a confirmation case whose files were removed from the home.
ALTER TABLE subscribers ADD COLUMN erased_at TIMESTAMP_TEXT;
ALTER TABLE applications ADD COLUMN attachments_removed_at TIMESTAMP_TEXT;
ALTER TABLE confirmation_cases ADD COLUMN files_removed_at TIMESTAMP_TEXT;
-- The duty's questions: a subscriber's applications and enrollment codes, confirmation
-- cases by files_until.
CREATE INDEX applications_by_subscriber ON applications (subscriber_id)
    WHERE subscriber_id IS NOT NULL;
CREATE INDEX enrollment_credentials_by_subscriber ON enrollment_credentials (subscriber_id)
    WHERE subscriber_id IS NOT NULL;
CREATE INDEX confirmation_cases_by_files_until ON confirmation_cases (files_until)
    WHERE files_removed_at IS NULL;
