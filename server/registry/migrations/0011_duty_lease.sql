-- Duties that run in one live process of the whole deployment (CRL rebuilds, OCSP refresh
-- and responder renewal, outbox delivery, sweepers) are held by an expiring lease
-- (server/registry/lease_store.py, server/duties.py). A holder renews its row well before
-- `expires_at`; once it has passed, any serving process may take the lease over.
CREATE TABLE duty_leases (
    name        TEXT PRIMARY KEY,     -- the lease, e.g. 'duties'
    holder      TEXT NOT NULL,        -- host:pid of the process holding it
    expires_at  TIMESTAMP_TEXT NOT NULL,        -- UTC
    acquired_at TIMESTAMP_TEXT NOT NULL         -- when this holder first took it
);
