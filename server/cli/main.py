"""`python -m server <command>`: the operator's command line.

Every command has --help, prints results on stdout, and on failure prints one line
`error: <reason>` on stderr and exits 1 (2 for a usage error). No command prints a secret.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvloop

from config import SettingsError
from config.settings import key_algorithm_named
from server.cli import accounts as cli_accounts
from server.cli import backup as cli_backup
from server.cli import commands as cli_commands
from server.cli import confirm as cli_confirm
from server.cli import import_ca as cli_import_ca
from server.cli import init as cli_init
from server.cli import lifecycle as cli_lifecycle
from server.cli import ra as cli_ra
from server.cli import registry as cli_registry
from server.cli import root as cli_root
from server.errors import CAError

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]


def main(argv: Sequence[str] | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(argv)
    if args.command == "init":
        _check_init_options(parser, args)
    try:
        return uvloop.run(args.handler(args))
    except (CAError, SettingsError) as exc:
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


def _key_algorithm(text: str) -> str:
    try:
        return key_algorithm_named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _check_init_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    """A joining node takes its CA from the registry; a new CA has no cluster to join; the
    parent CA of `--csr` gives its certificate's validity."""
    if args.join:
        given = [option for option, value in (("--subject", args.subject),
                 ("--algorithm", args.algorithm), ("--validity-days", args.validity_days),
                 ("--registry-url", args.registry_url), ("--csr", args.csr),
                 ("--hierarchy", args.hierarchy))
                 if value is not None]  # fmt: skip
        if given:
            parser.error(f"init --join takes the CA from the registry: {given[0]} is not for it")
    else:
        given = [o for o, v in (("--pin-from", args.pin_from), ("--cmp-keys", args.cmp_keys)) if v]
        if given:
            parser.error(f"{given[0]} is an option of init --join")
        if args.hierarchy and args.csr:
            parser.error("init --hierarchy makes its own parent: --csr is not for it")
        if not args.hierarchy and (args.root_name or args.root_subject):
            option = "--root-name" if args.root_name else "--root-subject"
            parser.error(f"{option} is an option of init --hierarchy")
        if args.csr and args.validity_days is not None:
            parser.error(
                "init --csr: the parent CA sets the validity: --validity-days is not for it"
            )


def _date(text: str) -> datetime:
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 date: {text!r}") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m server", description="A certificate authority server."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--home", type=Path, required=True, help="the CA home folder")
        sub.set_defaults(handler=handler)
        return sub

    init = command("init", cli_init.init, "create a CA home: settings, registry, CA key "
                   "and certificate, OCSP responder and CMP protection certificates")  # fmt: skip
    init.add_argument("--name", help="CA name used in URLs (default: demo)")
    init.add_argument("--subject", help="CA subject DN, e.g. 'CN=Demo CA,O=Demo,C=RU'")
    init.add_argument("--backend", choices=("soft", "pkcs11"), help="key backend")
    init.add_argument(
        "--algorithm",
        type=_key_algorithm,
        help="CA key algorithm: ec-p256 (default), ec-p384, rsa-2048, rsa-3072, rsa-4096, "
        "ed25519, gost2012-256[:PARAMSET] (A, the default, B, C, XA, XB, TCA..TCD) or "
        "gost2012-512[:PARAMSET] (A, B, C)",
    )
    init.add_argument("--validity-days", type=int, help="CA certificate validity")
    init.add_argument("--module", help="pkcs11: path of the PKCS#11 module")
    init.add_argument("--token-label", help="pkcs11: label of the token holding the keys")
    init.add_argument("--http", help="HOST:PORT to serve on (default 127.0.0.1:8080)")
    init.add_argument("--https", help="HOST:PORT for TLS, e.g. EST (default 127.0.0.1:8443)")
    init.add_argument("--base-url", help="public URL of this CA (default from --http)")
    init.add_argument("--registry-url", help="where the registry lives, an empty database: "
                      "postgresql://user@host/database (password in ~/.pgpass) or "
                      "sqlite:///<file> (default: registry.sqlite3 in the home)")  # fmt: skip
    init.add_argument("--join", metavar="URL", help="a further node of the CA this registry "
                      "holds (postgresql://...), not a new CA: the --name, --backend, --module "
                      "and --token-label of its first node")  # fmt: skip
    init.add_argument("--pin-from", type=Path, metavar="FILE", help="--join: a copy of the "
                      "first node's PIN file (unless the PIN is in hsm.pin_env)")  # fmt: skip
    init.add_argument("--cmp-keys", type=Path, metavar="DIR", help="--join: the shared "
                      "cmp-keys folder, linked into the home (unless mounted there)")  # fmt: skip

    init.add_argument("--csr", type=Path, metavar="FILE", help="an issuing CA under a parent "
                      "outside: write the CA key's PKCS#10 request to FILE for the parent to "
                      "certify; the home waits for that certificate")  # fmt: skip

    init.add_argument("--hierarchy", choices=cli_root.HIERARCHIES, help="root+issuing: a root "
                      "CA in this home, its key and PIN of its own for offline use, and under "
                      "it the issuing CA the server runs")  # fmt: skip
    init.add_argument("--root-name", help="--hierarchy: the root's name in URLs (default: "
                      "<name>-root)")  # fmt: skip
    init.add_argument("--root-subject", help="--hierarchy: the root's subject DN")

    imports = command("import-ca-cert", cli_import_ca.import_ca_cert, "an issuing CA made by "
                      "init --csr: record the parent CA's certificate for its key and the "
                      "parent's chain, and issue what init issues; after rollover --csr: the "
                      "parent's certificate for the pending request becomes the CA's next "
                      "generation")  # fmt: skip
    imports.add_argument("--cert", type=Path, required=True, help="the certificate the parent "
                         "CA issued for the request, PEM or DER")  # fmt: skip
    imports.add_argument("--chain", type=Path, required=True, help="the parent's chain up to "
                         "its self-signed root, PEM")  # fmt: skip

    serve = command("serve", cli_commands.serve, "run the server")
    serve.add_argument("--http", help="HOST:PORT for plain HTTP (overrides settings)")
    serve.add_argument("--https", help="HOST:PORT for HTTPS (overrides settings)")

    command("ca-cert", cli_commands.ca_cert, "print the current CA certificate (PEM)")

    issue = command("issue", cli_commands.issue, "issue a certificate from a PKCS#10 file")
    issue.add_argument("--profile", required=True, help="certificate profile name")
    issue.add_argument("--csr", type=Path, required=True, help="PKCS#10 request, PEM or DER")
    issue.add_argument("--subject", help="subject DN to use instead of the request's")

    revoke = command("revoke", cli_commands.revoke, "revoke a certificate")
    revoke.add_argument("--serial", required=True, help="serial number, hexadecimal")
    revoke.add_argument("--reason", default="unspecified", help="RFC 5280 reason name")
    revoke.add_argument("--invalidity-date", type=_date, help="ISO 8601 time of compromise")

    suspend = command("suspend", cli_commands.suspend, "suspend (certificateHold)")
    suspend.add_argument("--serial", required=True, help="serial number, hexadecimal")
    resume = command("resume", cli_commands.resume, "lift a suspension")
    resume.add_argument("--serial", required=True, help="serial number, hexadecimal")
    for change in (revoke, suspend, resume):
        change.add_argument(
            "--basis",
            choices=("holder_request", "ca_decision"),
            help="the holder asked, or the CA decided (R8: then --grounds)",
        )
        change.add_argument("--grounds", help="what the change rests on: the holder's "
                            "application, the compromise report, ...")  # fmt: skip

    show = command("show", cli_commands.show, "show one certificate and its status history")
    show.add_argument("--serial", required=True, help="serial number, hexadecimal")
    show.add_argument("--pem", action="store_true", help="print only the certificate, PEM")

    paper = command("paper", cli_commands.paper, "write a certificate's paper copy (PDF): "
                    "the attributes of the regulation's section 8.3, its thumbprints, and "
                    "lines for the holder's and the CA employee's signatures")  # fmt: skip
    paper.add_argument("--serial", required=True, help="serial number, hexadecimal")
    paper.add_argument("--out", type=Path, required=True, help="the PDF file to write")

    listing = command("list", cli_commands.list_certificates, "list certificates")
    listing.add_argument("--status", choices=("good", "revoked", "hold"))
    listing.add_argument("--profile")
    listing.add_argument("--limit", type=int, default=100)

    crl = command("crl", cli_commands.crl, "print or write the current CRL (built if stale)")
    crl.add_argument("--delta", action="store_true", help="the delta CRL")
    crl.add_argument("--shard", type=int, default=0, help="the shard (when partitioned)")
    crl.add_argument(
        "--generation", type=int, help="the CA generation's CRL (default: the issuing one)"
    )
    crl.add_argument("--out", type=Path, help="write DER to this file instead of PEM on stdout")

    code = command(
        "enroll-code",
        cli_commands.enroll_code,
        "make a one-time enrollment credential (EST Basic user/password, CMP MAC "
        "reference/secret); prints its id, then its secret",
    )
    code.add_argument("--profile", required=True, help="certificate profile name")
    whose = code.add_mutually_exclusive_group(required=True)
    whose.add_argument("--subject", help="the subject DN the certificate gets")
    whose.add_argument("--subscriber", help="a registered subscriber (sb-...): the subject is "
                       "made from its registered data (D2)")  # fmt: skip
    code.add_argument("--valid-hours", type=float, default=72.0, help="how long it can be used")
    for option, what in (("--dns", "DNS name"), ("--ip", "IP address"), ("--email", "e-mail")):
        help_text = f"a subjectAltName {what} the request may ask for (repeatable)"
        code.add_argument(option, action="append", default=[], help=help_text)

    applications = command(
        "applications", cli_commands.applications, "list applications (by default the undecided)"
    )
    applications.add_argument(
        "--state",
        choices=("submitted", "approved", "rejected", "issued"),
        help="default: submitted",
    )
    applications.add_argument("--limit", type=int, default=100)
    approve = command("approve", cli_commands.approve, "approve an application: issue it")
    approve.add_argument("--id", required=True, help="the application id (ap-...)")
    reject = command("reject", cli_commands.reject, "reject an application, with a reason")
    reject.add_argument("--id", required=True, help="the application id (ap-...)")
    reject.add_argument("--reason", required=True, help="told to the client that asked")
    cli_ra.add_commands(command)
    cli_confirm.add_commands(command)
    cli_lifecycle.add_commands(command)
    cli_root.add_commands(command)
    command("profiles", cli_commands.profiles, "list the certificate profiles")
    audit = command("audit", cli_commands.audit, "the audit trail: `audit verify` checks its "
                    "hash chain and signed checkpoints and names the first broken, missing or "
                    "altered entry; `audit checkpoint` anchors its newest entry now")  # fmt: skip
    audit.add_argument("action", choices=("verify", "checkpoint"))
    cli_accounts.add_commands(command)
    cli_registry.add_commands(command)
    cli_backup.add_commands(command)
    return parser
