"""The registry (S5): the one source of truth for CA generations, certificates, their
status history and the audit trail. `SQLiteRegistry` is the embedded implementation."""

from server.registry.records import (
    AuditEvent,
    CAGeneration,
    CertificateIntent,
    CertificateRecord,
    CertificateStatus,
    StatusChange,
    StatusChangeKind,
)
from server.registry.sqlite import SQLiteRegistry

__all__ = [
    "AuditEvent",
    "CAGeneration",
    "CertificateIntent",
    "CertificateRecord",
    "CertificateStatus",
    "SQLiteRegistry",
    "StatusChange",
    "StatusChangeKind",
]
