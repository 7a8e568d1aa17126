"""`confirm`: the confirmation checks from the command line (S10, S11), the same as
`POST /api/v1/confirmations` answers, without registering a case. Prints the report as
JSON; exits 0 when it is "valid", 3 when "invalid", 4 when "indeterminate"."""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from config import load_settings
from server.context import open_ca
from server.errors import CAError, ErrorKind

Command = Callable[[str, Any, str], argparse.ArgumentParser]
EXIT_CODES = {"valid": 0, "invalid": 3, "indeterminate": 4}


def add_commands(command: Command) -> None:
    confirm = command("confirm", run_confirm, "confirm a signed document's signature (S10) or "
                      "that a certificate is this CA's (S11); prints the report as JSON, exits "
                      "0 valid, 3 invalid, 4 indeterminate")  # fmt: skip
    what = confirm.add_mutually_exclusive_group(required=True)
    what.add_argument("--signature", type=Path, help="CMS/PKCS#7 signature, DER or PEM, "
                      "detached (with --document) or attached")  # fmt: skip
    what.add_argument("--certificate", type=Path, help="a certificate, PEM or DER (S11)")
    confirm.add_argument("--document", type=Path, help="the signed document (detached signature)")


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
