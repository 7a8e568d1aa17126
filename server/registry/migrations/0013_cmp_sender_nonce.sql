-- The client's last senderNonce in a CMP transaction: a message that continues it (certConf,
-- pollReq) must bring a fresh one (RFC 9483 3.1, 3.5: badSenderNonce otherwise).
ALTER TABLE cmp_transactions ADD COLUMN their_nonce BLOB;
