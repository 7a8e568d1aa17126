-- The OCSP refresh (server/status/ocsp_responder.py `refresh_due`) reads, for each
-- generation it signs for, the responses nearest their nextUpdate. Read by nextUpdate alone,
-- a retired generation's responses, never signed again and so always the oldest, filled
-- every batch: after a retirement of more than a batch of certificates the live ones were
-- no longer refreshed ahead of time. This index gives each generation one seek; it serves
-- every read the old one served.
CREATE INDEX ocsp_responses_by_generation_next_update
    ON ocsp_responses (generation_id, next_update);
DROP INDEX ocsp_responses_by_next_update;
