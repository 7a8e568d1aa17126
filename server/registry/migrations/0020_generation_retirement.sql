-- The retirement of a CA generation (regulation K3; server/node/generation_retirement.py):
-- once a day the duty asks whether any certificate a non-issuing generation signed is still
-- valid. These indexes answer that with one seek each instead of a read of every
-- certificate of the generation; keys_destroyed_at says its keys were destroyed in the
-- backend after it was retired (NULL until then, and for a generation not retired).
CREATE INDEX certificates_by_generation_expiry ON certificates (generation_id, not_after);
CREATE INDEX ca_links_by_issuer_expiry ON ca_links (issuer_generation_id, not_after);
ALTER TABLE ca_generations ADD COLUMN keys_destroyed_at TIMESTAMP_TEXT;
