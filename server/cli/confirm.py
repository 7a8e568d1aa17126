"""`confirm`: the confirmation checks from the command line (S10, S11), the same as
`POST /api/v1/confirmations` answers, without registering a case. Prints the report as
JSON; exits 0 when it is "valid", 3 when "invalid", 4 when "indeterminate"."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from config import load_settings
from server.context import open_ca
from server.errors import CAError, ErrorKind

EXIT_CODES = {"valid": 0, "invalid": 3, "indeterminate": 4}


async def run_confirm(args: argparse.Namespace) -> int:
    if args.document is not None and args.signature is None:
        raise CAError(ErrorKind.MALFORMED, "--document goes with --signature")
    signature = _read(args.signature) if args.signature else None
    document = _read(args.document) if args.document else None
    certificate = _read(args.certificate) if args.certificate else None
    async with open_ca(load_settings(args.home), signing=False) as ca:
        if certificate is not None:
            report = await ca.confirmations.check_certificate(certificate)
        else:
            assert signature is not None
            report = await ca.confirmations.check_signature(document, signature)
    print(json.dumps(report.as_dict(), indent=2, ensure_ascii=False))
    return EXIT_CODES[report.verdict]


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise CAError(ErrorKind.MALFORMED, f"cannot read {path}: {exc.strerror}") from None
