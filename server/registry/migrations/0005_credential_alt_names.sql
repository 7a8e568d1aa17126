-- The subjectAltName entries an enrollment credential allows (JSON: {"dns": [...],
-- "ip": [...], "email": [...]}); a request naming any other is refused (D2).
ALTER TABLE enrollment_credentials ADD COLUMN alt_names TEXT NOT NULL DEFAULT '{}';
