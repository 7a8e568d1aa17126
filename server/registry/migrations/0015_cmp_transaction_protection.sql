-- How the request that opened a CMP transaction was protected: "signature", or the OID of its
-- MAC algorithm (PasswordBasedMac, PBMAC1). A certConf or pollReq that continues it must be
-- protected the same way (RFC 9483 3.2, 4.1.1): wrongIntegrity for the other kind,
-- badMessageCheck for another MAC algorithm. NULL for transactions opened before.
ALTER TABLE cmp_transactions ADD COLUMN protection TEXT;
