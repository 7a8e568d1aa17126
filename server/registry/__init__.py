"""The registry (S5): the one source of truth for CA generations, certificates, their
status history and the audit trail.

Callers type what they are given with the uses in `interfaces` and import rows from
`records`; only the composition root (server/context.py) names `Registry`, which runs one
SQL on either engine (server/registry/engine.py)."""

from server.registry.group_commit import RegistryBusy
from server.registry.records import (
    NO_HOLDS,
    AuditEvent,
    CAGeneration,
    CALink,
    CertificateIntent,
    CertificateRecord,
    CertificateStatus,
    CMPDelivery,
    CMPOpening,
    CRLRow,
    GenerationRequest,
    HoldRefused,
    IntentHolds,
    OCSPResponseRow,
    OpenIntent,
    Rollover,
    StatusBasis,
    StatusChange,
    StatusChangeKind,
    StatusDelta,
    StrandedClaim,
    TransactionIdInUse,
    Unanswered,
)
from server.registry.registry import Registry

__all__ = [
    "NO_HOLDS",
    "AuditEvent",
    "CAGeneration",
    "CALink",
    "CMPDelivery",
    "CMPOpening",
    "CRLRow",
    "CertificateIntent",
    "CertificateRecord",
    "CertificateStatus",
    "GenerationRequest",
    "HoldRefused",
    "IntentHolds",
    "OCSPResponseRow",
    "OpenIntent",
    "Registry",
    "RegistryBusy",
    "Rollover",
    "StatusBasis",
    "StatusChange",
    "StatusChangeKind",
    "StatusDelta",
    "StrandedClaim",
    "TransactionIdInUse",
    "Unanswered",
]
