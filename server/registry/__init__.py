"""The registry (S5): the one source of truth for CA generations, certificates, their
status history and the audit trail. `SQLiteRegistry` is the embedded implementation."""

from server.registry.records import (
    AuditEvent,
    CAGeneration,
    CertificateIntent,
    CertificateRecord,
    CertificateStatus,
    CRLRow,
    OCSPResponseRow,
    StatusBasis,
    StatusChange,
    StatusChangeKind,
    StatusDelta,
)
from server.registry.sqlite import SQLiteRegistry

__all__ = [
    "AuditEvent",
    "CAGeneration",
    "CRLRow",
    "CertificateIntent",
    "CertificateRecord",
    "CertificateStatus",
    "OCSPResponseRow",
    "SQLiteRegistry",
    "StatusBasis",
    "StatusChange",
    "StatusChangeKind",
    "StatusDelta",
]
