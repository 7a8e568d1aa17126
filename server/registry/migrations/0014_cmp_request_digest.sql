-- The SHA-256 of what a CMP enrolment asked (the p10cr's PKCS#10, the ir/cr/kur's CertReqMsg),
-- so that the very same request sent again is told apart from another request for a key
-- already certified: duplicateCertReq, not badCertTemplate (RFC 9810 5.2.3).
ALTER TABLE cmp_transactions ADD COLUMN request_sha256 BLOB;
CREATE INDEX cmp_transactions_by_request ON cmp_transactions (request_sha256)
    WHERE request_sha256 IS NOT NULL;
