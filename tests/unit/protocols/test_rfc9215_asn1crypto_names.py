"""The GOST OIDs protocols/gost.py teaches asn1crypto must work whenever that happens: also
after asn1crypto has already used the classes it extends (its reverse name maps are built
once per class), as a program that parses a signature before importing `protocols` does."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
PROGRAM = """
from asn1crypto import algos
assert algos.DigestAlgorithmId("sha256").dotted == "2.16.840.1.101.3.4.2.1"  # class set up
import protocols  # registers the GOST names
assert algos.DigestAlgorithmId("sha256").dotted == "2.16.840.1.101.3.4.2.1"
assert algos.DigestAlgorithmId("streebog256").dotted == "1.2.643.7.1.1.2.2"
assert algos.DigestAlgorithmId("1.2.643.7.1.1.2.3").native == "streebog512"
print("ok")
"""


def test_rfc9215_gost_names_registered_after_asn1crypto_was_used() -> None:
    run = subprocess.run([sys.executable, "-c", PROGRAM], cwd=ROOT, capture_output=True,
                         text=True, timeout=60)  # fmt: skip
    assert (run.returncode, run.stdout) == (0, "ok\n"), run.stderr
