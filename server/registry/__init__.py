"""The registry (S5): the one source of truth for CA generations, certificates, their
status history and the audit trail. `Registry` is the embedded implementation."""

from server.registry.records import (
    NO_HOLDS,
    AuditEvent,
    CAGeneration,
    CertificateIntent,
    CertificateRecord,
    CertificateStatus,
    CMPDelivery,
    CRLRow,
    HoldRefused,
    IntentHolds,
    OCSPResponseRow,
    OpenIntent,
    StatusBasis,
    StatusChange,
    StatusChangeKind,
    StatusDelta,
    StrandedClaim,
    Unanswered,
)
from server.registry.registry import Registry

__all__ = [
    "NO_HOLDS",
    "AuditEvent",
    "CAGeneration",
    "CMPDelivery",
    "CRLRow",
    "CertificateIntent",
    "CertificateRecord",
    "CertificateStatus",
    "HoldRefused",
    "IntentHolds",
    "OCSPResponseRow",
    "OpenIntent",
    "Registry",
    "StatusBasis",
    "StatusChange",
    "StatusChangeKind",
    "StatusDelta",
    "StrandedClaim",
    "Unanswered",
]
