-- The subscriber a certificate was issued to, when the registration authority knows one
-- (D2, D6, D7): its holder, reported with the certificate.
ALTER TABLE certificates ADD COLUMN subscriber_id TEXT REFERENCES subscribers(id);
CREATE INDEX certificates_by_subscriber ON certificates (subscriber_id)
    WHERE subscriber_id IS NOT NULL;
