"""EST, Enrollment over Secure Transport (RFC 7030, with RFC 8951 and RFC 9908): pure codecs.

What the HTTP adapter calls, by operation (RFC 7030 3.2.2):

- every request body: :func:`decode_base64_body` (base64 whatever the headers say, RFC 8951
  section 3), then the CSR parser of ``protocols.x509.csr``;
- /cacerts, /simpleenroll, /simplereenroll: :func:`certs_only_response` (4.1.3, 4.2.3);
- /serverkeygen: :func:`server_keygen_response` (4.4.2);
- /csrattrs: :func:`csr_attributes` of :class:`CSRAttribute` values (4.5.2);
- proof that the CSR was made in this TLS session: :func:`tls_unique_matches` (3.5).

Input from clients that breaks the RFCs raises :class:`ESTFormatError` (HTTP 400 with its
message); a caller's own mistake (an empty certificate list, a bad boundary) raises
ValueError. Nothing here signs, reads a clock or does I/O. See each module's docstring for
its theory of operation.
"""

from protocols.est.certs_only import (
    certs_only,
    certs_only_response,
    encrypted_server_keygen_response,
    server_keygen_response,
)
from protocols.est.csrattrs import (
    CHALLENGE_PASSWORD,
    EXTENSION_REQUEST,
    ID_EC_PUBLIC_KEY,
    CSRAttribute,
    csr_attributes,
    oid_der,
    parse_csr_attributes,
    tls_unique_matches,
)
from protocols.est.encoding import (
    CERTS_ONLY_CT,
    CSRATTRS_CT,
    MULTIPART_MIXED,
    PKCS7_MIME,
    PKCS8_CT,
    PKCS10_CT,
    SERVER_GENERATED_KEY_CT,
    ESTFormatError,
    base64_body,
    decode_base64_body,
    multipart_mixed,
    parse_multipart_mixed,
)

__all__ = [
    "CERTS_ONLY_CT",
    "CHALLENGE_PASSWORD",
    "CSRATTRS_CT",
    "EXTENSION_REQUEST",
    "ID_EC_PUBLIC_KEY",
    "MULTIPART_MIXED",
    "PKCS7_MIME",
    "PKCS8_CT",
    "PKCS10_CT",
    "SERVER_GENERATED_KEY_CT",
    "CSRAttribute",
    "ESTFormatError",
    "base64_body",
    "certs_only",
    "certs_only_response",
    "csr_attributes",
    "decode_base64_body",
    "encrypted_server_keygen_response",
    "multipart_mixed",
    "oid_der",
    "parse_csr_attributes",
    "parse_multipart_mixed",
    "server_keygen_response",
    "tls_unique_matches",
]
