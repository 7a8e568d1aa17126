"""OCSP (RFC 6960, with the RFC 8954 nonce and the RFC 5019 GET form): pure codecs.

Requests come in as bytes (:func:`decode_get_path`, :func:`parse_ocsp_request`); responses
go out as to-be-signed ResponseData (:func:`build_single_response`,
:func:`build_response_data`), signed by the caller, and are assembled here
(:func:`assemble_ocsp_response`), or are bare statuses (:func:`error_response`). See
``request.py`` and ``response.py`` for the theory of operation of each side.
"""

from protocols.ocsp.request import (
    HASH_ALGORITHMS,
    CertID,
    MalformedOCSPRequest,
    OCSPRequest,
    cert_id_for,
    cert_id_with_hashes,
    decode_get_path,
    issuer_key_hash,
    issuer_name_hash,
    parse_ocsp_request,
)
from protocols.ocsp.response import (
    CertStatus,
    OCSPResponseStatus,
    ParsedSingle,
    assemble_ocsp_response,
    build_response_data,
    build_single_response,
    error_response,
    parse_ocsp_response,
    signature_algorithm_for,
)

__all__ = [
    "HASH_ALGORITHMS",
    "CertID",
    "CertStatus",
    "MalformedOCSPRequest",
    "OCSPRequest",
    "OCSPResponseStatus",
    "ParsedSingle",
    "assemble_ocsp_response",
    "build_response_data",
    "build_single_response",
    "cert_id_for",
    "cert_id_with_hashes",
    "decode_get_path",
    "error_response",
    "issuer_key_hash",
    "issuer_name_hash",
    "parse_ocsp_request",
    "parse_ocsp_response",
    "signature_algorithm_for",
]
