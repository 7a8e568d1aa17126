"""Run pkilint's RFC 5280 certificate linter (``lint_pkix_cert``) from tests.

``lint_certificate(der)`` returns the ERROR and FATAL findings only: a test asserts the list
is empty. WARNING findings (RFC "SHOULD"s, such as a missing AIA in a self-signed CA, or
privateKeyUsagePeriod being discouraged) are not returned; use ``lint_findings(der,
"WARNING")`` to see them. The executable is the one installed beside the running Python
(``.venv/bin/lint_pkix_cert``), so the tests need no PATH set-up.
"""

from __future__ import annotations

import base64
import csv
import io
import subprocess
import sys
from pathlib import Path

__all__ = ["LINTER", "lint_certificate", "lint_findings"]

LINTER = Path(sys.executable).with_name("lint_pkix_cert")
_SEVERITIES = ("FATAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")


def _pem(der: bytes) -> bytes:
    body = base64.encodebytes(der).replace(b"\n", b"")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return b"-----BEGIN CERTIFICATE-----\n" + b"\n".join(lines) + b"\n-----END CERTIFICATE-----\n"


def lint_findings(der: bytes, severity: str = "WARNING") -> list[str]:
    """Every finding at ``severity`` or above, one line each:
    "SEVERITY code @ node.path (Validator)[: message]". Raises RuntimeError if pkilint
    fails to run or cannot load the certificate."""
    if severity not in _SEVERITIES:
        raise ValueError(f"severity must be one of {_SEVERITIES}")
    result = subprocess.run(
        [str(LINTER), "lint", "-s", severity, "-f", "CSV", "-"],
        input=_pem(der),
        capture_output=True,
        timeout=120,
        check=False,
    )
    output = result.stdout.decode("utf-8", "replace")
    if "Failed to load" in output or result.returncode not in (0, 1):
        raise RuntimeError(f"pkilint failed (rc={result.returncode}): {output}{result.stderr!r}")
    findings = []
    for row in csv.DictReader(io.StringIO(output)):
        line = f"{row['severity']} {row['code']} @ {row['node_path']} ({row['validator']})"
        findings.append(line + (f": {row['message']}" if row["message"] else ""))
    return findings


def lint_certificate(der: bytes) -> list[str]:
    """The ERROR and FATAL findings of pkilint's RFC 5280 linter for the DER certificate;
    an empty list means the certificate passes. Warnings are deliberately not returned
    (see :func:`lint_findings`)."""
    return [line for line in lint_findings(der, "ERROR") if line.startswith(("ERROR", "FATAL"))]
