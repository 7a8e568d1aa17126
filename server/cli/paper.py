"""`paper`: a certificate's paper copy (regulation 8.3) written as PDF
(server/paper/pdf.py)."""

from __future__ import annotations

import argparse

from config import load_settings
from server.context import open_ca
from server.errors import CAError, ErrorKind
from server.paper.pdf import paper_copy
from server.serials import parse_serial


async def paper(args: argparse.Namespace) -> int:
    """The certificate's paper copy (regulation 8.3) written to --out as PDF."""
    serial = parse_serial(args.serial)
    async with open_ca(load_settings(args.home), signing=False) as ca:
        record = await ca.registry.get_certificate(serial)
        printed_at = ca.clock()
    if record is None or record.der is None:
        raise CAError(ErrorKind.NOT_FOUND, f"no certificate with serial {serial}")
    document = paper_copy(record.der, printed_at)
    try:
        args.out.write_bytes(document)
    except OSError as exc:
        raise CAError(ErrorKind.MALFORMED, f"cannot write {args.out}: {exc.strerror}") from None
    print(f"paper copy of {serial} written to {args.out}")
    return 0
