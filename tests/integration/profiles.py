"""Profiles the integration tests add to a CA home's settings."""

from __future__ import annotations

# A profile whose requests wait for an operator (the shipped person and organisation
# profiles issue only through the registration authority's own applications).
APPROVED = "approved-device"
APPROVED_DEVICE = f"""
[profiles.{APPROVED}]
description = "A device approved by an operator"
requires_approval = true
subject_attributes = ["CN", "O"]
"""
