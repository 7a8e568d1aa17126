-- CMP transactions (RFC 4210 5.1.1, RFC 9483 3.1): a transactionID is used once; an issued
-- certificate waits for the client's certConf until confirm_by (RFC 9483 4.1.1), after
-- which an unconfirmed certificate is revoked. A request of a profile that requires
-- approval waits (RFC 9483 4.4) while its application does; the client polls.
CREATE TABLE cmp_transactions (
    transaction_id BLOB PRIMARY KEY,
    requester      TEXT NOT NULL,   -- credential id (MAC) or serial of the protecting certificate
    state          TEXT NOT NULL
                   CHECK (state IN ('open', 'waiting', 'awaiting_confirm', 'done', 'expired')),
    our_nonce      BLOB,            -- the senderNonce of our last message: the next recipNonce
    serial         TEXT REFERENCES certificates(serial),
    cert_req_id    INTEGER,
    reply_kind     TEXT,            -- ip, cp, kup: what the certificate goes out in
    implicit_confirm INTEGER NOT NULL DEFAULT 0,  -- asked for and allowed
    application_id TEXT REFERENCES applications(id),
    created_at     TIMESTAMP_TEXT NOT NULL,
    confirm_by     TIMESTAMP_TEXT
);
CREATE INDEX cmp_transactions_unconfirmed ON cmp_transactions (state, confirm_by);
