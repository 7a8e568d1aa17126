"""CMP (RFC 4210, CMPv3 of RFC 9480, the Lightweight CMP Profile of RFC 9483): pure codecs.

Requests come in as bytes (:func:`parse_pki_message`, ``messages.py``; the CRMF requests
inside with their proof of possession in ``crmf.py``); their protection is checked in
``protection.py`` (PasswordBasedMac and PBMAC1 of RFC 9481 section 6, signatures of its
section 3); replies are built in ``replies.py``: a body, a header, the ProtectedPart the
caller MACs or has signed, then the assembled PKIMessage. Nothing here does I/O, reads a
clock or signs; the only randomness is the fresh salt of a reply's MAC parameters. See each
module's docstring for its theory of operation.
"""

from protocols.cmp.crmf import CertRequest
from protocols.cmp.messages import (
    ID_CE_CRL_REASONS,
    ID_IT_CA_CERTS,
    ID_IT_CERT_REQ_TEMPLATE,
    ID_IT_CRL_STATUS_LIST,
    ID_IT_CRLS,
    ID_IT_IMPLICIT_CONFIRM,
    ID_IT_ROOT_CA_KEY_UPDATE,
    CertConfirm,
    CMPFormatError,
    CRLStatus,
    FailureInfo,
    GeneralInfo,
    Header,
    PKIMessage,
    PKIStatus,
    RevocationRequest,
    parse_pki_message,
)
from protocols.cmp.protection import (
    PASSWORD_BASED_MAC,
    PBMAC1,
    AlgorithmNotAllowed,
    MACError,
    mac,
    mac_parameters,
    new_mac_algorithm,
    protection_kind,
    signature_algorithm_der,
    verify_mac,
    verify_signature,
)
from protocols.cmp.replies import (
    ReplyHeader,
    assemble,
    assemble_unprotected,
    ca_certs_value,
    cert_hash,
    cert_rep_body,
    cert_req_template_value,
    crls_value,
    error_body,
    genp_body,
    parse_reply,
    pkiconf_body,
    poll_rep_body,
    protected_part,
    rp_body,
)

__all__ = [
    "ID_CE_CRL_REASONS",
    "ID_IT_CA_CERTS",
    "ID_IT_CERT_REQ_TEMPLATE",
    "ID_IT_CRLS",
    "ID_IT_CRL_STATUS_LIST",
    "ID_IT_IMPLICIT_CONFIRM",
    "ID_IT_ROOT_CA_KEY_UPDATE",
    "PASSWORD_BASED_MAC",
    "PBMAC1",
    "AlgorithmNotAllowed",
    "CMPFormatError",
    "CRLStatus",
    "CertConfirm",
    "CertRequest",
    "FailureInfo",
    "GeneralInfo",
    "Header",
    "MACError",
    "PKIMessage",
    "PKIStatus",
    "ReplyHeader",
    "RevocationRequest",
    "assemble",
    "assemble_unprotected",
    "ca_certs_value",
    "cert_hash",
    "cert_rep_body",
    "cert_req_template_value",
    "crls_value",
    "error_body",
    "genp_body",
    "mac",
    "mac_parameters",
    "new_mac_algorithm",
    "parse_pki_message",
    "parse_reply",
    "pkiconf_body",
    "poll_rep_body",
    "protected_part",
    "protection_kind",
    "rp_body",
    "signature_algorithm_der",
    "verify_mac",
    "verify_signature",
]
