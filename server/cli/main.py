"""`python -m server <command>`: the operator's command line.

Every command has --help, prints results on stdout, and on failure prints one line
`error: <reason>` on stderr and exits 1 (2 for a usage error). No command prints a secret.
The arguments are in server/cli/parser.py; each command's handler in the module it names.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

import uvloop

from config import SettingsError
from hsm.backend import HSMError
from server.cli.parser import build_parser, check_init_options
from server.errors import CAError


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "init":
        check_init_options(parser, args)
    try:
        return uvloop.run(args.handler(args))
    except (CAError, SettingsError, HSMError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `... | head -1`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no error at exit
        return 1
    except Exception as exc:  # one line, never a traceback with local values in it
        print(f"error: unexpected {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
