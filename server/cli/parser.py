"""The command line's arguments: every command, its options and its help. Each command's
handler is named as `module:function` of server/cli and imported only when that command
runs (:func:`lazy`), so that parsing, `--help` and a command that needs little start without
importing the web server, the PDF writer and the CMP codecs (`loadtests/bench_cli_start.py`
measures it). What each command does is in the module its handler names."""

from __future__ import annotations

import argparse
import functools
import importlib
from collections.abc import Callable, Coroutine
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from config.settings import key_algorithm_named

Handler = Callable[[argparse.Namespace], Coroutine[Any, Any, int]]
Command = Callable[[str, Handler, str], argparse.ArgumentParser]

HIERARCHIES = ("root+issuing",)  # init --hierarchy
# The values of server.ra.subscribers.SubscriberKind and DocumentType and of
# server.accounts.Role, spelled here so that parsing does not import the registry
# (tests/unit/server/test_cli_parser.py holds them equal).
SUBSCRIBER_KINDS = ("individual", "legal_entity", "sole_proprietor")
DOCUMENT_TYPES = ("passport_rf", "foreign_passport", "other")
ROLES = ("operator", "officer", "auditor", "admin", "expert")


def lazy(target: str) -> Handler:
    """The handler `module:function` of server.cli, imported when its command runs: the
    command line starts without the modules of the commands it does not run (the web
    server, the PDF writer, the CMP codecs)."""
    module, name = target.split(":")
    return functools.partial(run_handler, f"server.cli.{module}", name)


async def run_handler(module: str, name: str, args: argparse.Namespace) -> int:
    """Import `module` and run its handler `name` with the parsed `args`."""
    handler: Handler = getattr(importlib.import_module(module), name)
    return await handler(args)


def _home(text: str) -> Path:
    """The home folder made absolute: the settings resolve every path in it, the registry's
    SQLite file included, against it, and a file URL must be absolute."""
    return Path(text).absolute()


def _key_algorithm(text: str) -> str:
    try:
        return key_algorithm_named(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def check_init_options(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
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


def build_parser() -> argparse.ArgumentParser:
    """Every command's arguments; the handlers are imported when their command runs."""
    parser = argparse.ArgumentParser(
        prog="python -m server", description="A certificate authority server."
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--home", type=_home, required=True, help="the CA home folder")
        sub.set_defaults(handler=handler)
        return sub

    init = command("init", lazy("init:init"), "create a CA home: settings, registry, CA key "
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

    init.add_argument("--hierarchy", choices=HIERARCHIES, help="root+issuing: a root "
                      "CA in this home, its key and PIN of its own for offline use, and under "
                      "it the issuing CA the server runs")  # fmt: skip
    init.add_argument("--root-name", help="--hierarchy: the root's name in URLs (default: "
                      "<name>-root)")  # fmt: skip
    init.add_argument("--root-subject", help="--hierarchy: the root's subject DN")

    imports = command("import-ca-cert", lazy("import_ca:import_ca_cert"), "an issuing CA made by "
                      "init --csr: record the parent CA's certificate for its key and the "
                      "parent's chain, and issue what init issues; after rollover --csr: the "
                      "parent's certificate for the pending request becomes the CA's next "
                      "generation")  # fmt: skip
    imports.add_argument("--cert", type=Path, required=True, help="the certificate the parent "
                         "CA issued for the request, PEM or DER")  # fmt: skip
    imports.add_argument("--chain", type=Path, required=True, help="the parent's chain up to "
                         "its self-signed root, PEM")  # fmt: skip

    serve = command("serve", lazy("serve:serve"), "run the server")
    serve.add_argument("--http", help="HOST:PORT for plain HTTP (overrides settings)")
    serve.add_argument("--https", help="HOST:PORT for HTTPS (overrides settings)")

    command("ca-cert", lazy("reading:ca_cert"), "print the current CA certificate (PEM)")

    issue = command("issue", lazy("commands:issue"), "issue a certificate from a PKCS#10 file")
    issue.add_argument("--profile", required=True, help="certificate profile name")
    issue.add_argument("--csr", type=Path, required=True, help="PKCS#10 request, PEM or DER")
    issue.add_argument("--subject", help="subject DN to use instead of the request's")

    revoke = command("revoke", lazy("commands:revoke"), "revoke a certificate")
    revoke.add_argument("--serial", required=True, help="serial number, hexadecimal")
    revoke.add_argument("--reason", default="unspecified", help="RFC 5280 reason name")
    revoke.add_argument("--invalidity-date", type=_date, help="ISO 8601 time of compromise")

    suspend = command("suspend", lazy("commands:suspend"), "suspend (certificateHold)")
    suspend.add_argument("--serial", required=True, help="serial number, hexadecimal")
    resume = command("resume", lazy("commands:resume"), "lift a suspension")
    resume.add_argument("--serial", required=True, help="serial number, hexadecimal")
    for change in (revoke, suspend, resume):
        change.add_argument(
            "--basis",
            choices=("holder_request", "ca_decision"),
            help="the holder asked, or the CA decided (R8: then --grounds)",
        )
        change.add_argument("--grounds", help="what the change rests on: the holder's "
                            "application, the compromise report, ...")  # fmt: skip

    show = command("show", lazy("reading:show"), "show one certificate and its status history")
    show.add_argument("--serial", required=True, help="serial number, hexadecimal")
    show.add_argument("--pem", action="store_true", help="print only the certificate, PEM")

    paper = command("paper", lazy("paper:paper"), "write a certificate's paper copy (PDF): "
                    "the attributes of the regulation's section 8.3, its thumbprints, and "
                    "lines for the holder's and the CA employee's signatures")  # fmt: skip
    paper.add_argument("--serial", required=True, help="serial number, hexadecimal")
    paper.add_argument("--out", type=Path, required=True, help="the PDF file to write")

    listing = command("list", lazy("reading:list_certificates"), "list certificates")
    listing.add_argument("--status", choices=("good", "revoked", "hold"))
    listing.add_argument("--profile")
    listing.add_argument("--limit", type=int, default=100)

    crl = command("crl", lazy("commands:crl"), "print or write the current CRL (built if stale)")
    crl.add_argument("--delta", action="store_true", help="the delta CRL")
    crl.add_argument("--shard", type=int, default=0, help="the shard (when partitioned)")
    crl.add_argument(
        "--generation", type=int, help="the CA generation's CRL (default: the issuing one)"
    )
    crl.add_argument("--out", type=Path, help="write DER to this file instead of PEM on stdout")

    code = command(
        "enroll-code",
        lazy("commands:enroll_code"),
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
        "applications",
        lazy("reading:applications"),
        "list applications (by default the undecided)",
    )
    applications.add_argument(
        "--state",
        choices=("submitted", "approved", "rejected", "issued"),
        help="default: submitted",
    )
    applications.add_argument("--limit", type=int, default=100)
    approve = command("approve", lazy("commands:approve"), "approve an application: issue it")
    approve.add_argument("--id", required=True, help="the application id (ap-...)")
    reject = command("reject", lazy("commands:reject"), "reject an application, with a reason")
    reject.add_argument("--id", required=True, help="the application id (ap-...)")
    reject.add_argument("--reason", required=True, help="told to the client that asked")
    _ra_commands(command)
    _confirm_commands(command)
    _lifecycle_commands(command)
    _root_commands(command)
    command("profiles", lazy("reading:profiles"), "list the certificate profiles")
    audit = command("audit", lazy("commands:audit"), "the audit trail: `audit verify` checks its "
                    "hash chain and signed checkpoints and names the first broken, missing or "
                    "altered entry; `audit checkpoint` anchors its newest entry now")  # fmt: skip
    audit.add_argument("action", choices=("verify", "checkpoint"))
    _accounts_commands(command)
    _registry_commands(command)
    _backup_commands(command)
    _retention_commands(command)
    return parser


def _ra_commands(command: Command) -> None:
    register = command("register", lazy("ra:run_register"), "register a subscriber (S1)")
    register.add_argument("--kind", required=True, choices=SUBSCRIBER_KINDS)
    register.add_argument("--name", help="organisation name (default for a person: surname "
                          "and given names)")  # fmt: skip
    register.add_argument("--surname")
    register.add_argument("--given-names", help="first name and patronymic")
    for option in ("--email", "--snils", "--inn", "--ogrn", "--ogrnip", "--region",
                   "--locality", "--street"):  # fmt: skip
        register.add_argument(option)
    register.add_argument("--country", default="RU")

    show = command(
        "subscriber", lazy("ra:run_subscriber"), "show a subscriber and its identity records"
    )
    show.add_argument("--id", required=True)

    identify = command("identify", lazy("ra:run_identify"),
                       "record how a subscriber's identity was "
                       "established (P3)")  # fmt: skip
    identify.add_argument("--id", required=True, help="the subscriber (sb-...)")
    identify.add_argument("--document-type", required=True, choices=DOCUMENT_TYPES)
    identify.add_argument("--document-number", required=True)
    identify.add_argument("--document-issuer", required=True)
    identify.add_argument("--document-date", required=True, type=date.fromisoformat)
    identify.add_argument("--proxy-name", help="a proxy came, with a power of attorney")
    identify.add_argument("--poa-number", help="the power of attorney's number")
    identify.add_argument("--poa-date", type=date.fromisoformat)

    acknowledge = command("acknowledge", lazy("ra:run_acknowledge"), "record that the subscriber "
                          "acknowledged the conditions notice (D1)")  # fmt: skip
    acknowledge.add_argument("--id", required=True, help="the subscriber (sb-...)")

    apply = command("apply", lazy("ra:run_apply"), "make an application for a subscriber")
    apply.add_argument("--subscriber", required=True, help="the subscriber (sb-...)")
    apply.add_argument("--profile", required=True)
    apply.add_argument("--csr", type=Path, help="the holder's PKCS#10 request (else approval "
                       "hands out an enrollment code)")  # fmt: skip
    apply.add_argument("--attach", type=Path, action="append", default=[],
                       help="a document; its name and SHA-256 are kept (repeatable)")  # fmt: skip
    apply.add_argument("--incomplete", action="store_true",
                       help="documents are missing: due dates start at `complete`")  # fmt: skip

    complete = command("complete", lazy("ra:run_complete"), "mark an application complete (P4)")
    complete.add_argument("--id", required=True, help="the application (ap-...)")

    handover = command(
        "handover", lazy("ra:run_handover"), "record who received an issued certificate"
    )
    handover.add_argument("--id", required=True, help="the application (ap-...)")
    handover.add_argument("--proxy-name", help="a proxy received it")
    handover.add_argument("--power-of-attorney", help="the proxy's power of attorney: number "
                          "and date")  # fmt: skip

    overdue = command(
        "overdue", lazy("ra:run_overdue"), "list applications past their due date (P4)"
    )
    overdue.add_argument("--limit", type=int, default=100)

    credentials = command("credentials", lazy("ra:run_credentials"),
                          "list enrollment credentials (never "
                          "their secrets; `enroll-code` makes one)")  # fmt: skip
    credentials.add_argument("--all", action="store_true", help="also the used ones")
    credentials.add_argument("--limit", type=int, default=100)


def _confirm_commands(command: Command) -> None:
    confirm = command("confirm", lazy("confirm:run_confirm"),
                      "confirm a signed document's signature (S10) or "
                      "that a certificate is this CA's (S11); prints the report as JSON, exits "
                      "0 valid, 3 invalid, 4 indeterminate")  # fmt: skip
    what = confirm.add_mutually_exclusive_group(required=True)
    what.add_argument("--signature", type=Path, help="CMS/PKCS#7 signature, DER or PEM, "
                      "detached (with --document) or attached")  # fmt: skip
    what.add_argument("--certificate", type=Path, help="a certificate, PEM or DER (S11)")
    confirm.add_argument("--document", type=Path, help="the signed document (detached signature)")


def _lifecycle_commands(command: Command) -> None:
    roll = command(
        "rollover",
        lazy("lifecycle:run_rollover"),
        "roll the CA over to a new key: a new CA certificate and the link certificates "
        "NewWithOld and OldWithNew (RFC 9810 4.4); issuance moves to it at once, the old "
        "key keeps its CRLs and OCSP. A CA under a parent outside: --csr, a new key and its "
        "request to the parent, imported with import-ca-cert",
    )
    roll.add_argument("--reason", default="scheduled", help="recorded in the audit entry")
    parent = roll.add_mutually_exclusive_group()
    parent.add_argument("--csr", type=Path, metavar="FILE", help="a CA under a parent outside: "
                        "make the next key and write its PKCS#10 request to FILE for the "
                        "parent to certify (then import-ca-cert); while a request is pending, "
                        "write that one again")  # fmt: skip
    parent.add_argument("--abandon", action="store_true", help="a CA under a parent outside: "
                        "give up the pending request and destroy its key")  # fmt: skip
    declare = command(
        "compromise",
        lazy("lifecycle:run_compromise"),
        "declare a CA generation's key compromised (K4): a new key and CA certificate at "
        "once, without link certificates; the old CA certificate and its links revoked "
        "(cACompromise) in the new key's CRL; its certificates revoked or marked per "
        "ca.compromise_certificates",
    )
    declare.add_argument("--generation", type=int, required=True, help="the compromised one")
    declare.add_argument("--grounds", required=True, help="the compromise's grounds (audit)")
    declare.add_argument("--csr", type=Path, metavar="FILE", help="a CA under a parent "
                         "outside: write the PKCS#10 request for the new key to FILE, for the "
                         "parent to certify (then import-ca-cert)")  # fmt: skip
    declare.add_argument("--revocation-request", type=Path, metavar="FILE",
                         help="a CA under a parent outside: write the CMP revocation request "
                         "(rr, RFC 9483 4.2) of the compromised CA certificate to FILE, for "
                         "the parent")  # fmt: skip


def _root_commands(command: Command) -> None:
    root = command(
        "root",
        lazy("root:run_root"),
        "the root CA kept in this home (init --hierarchy root+issuing), with its own PIN: "
        "`show`; `crl` signs and publishes the next CRL of every live root; `revoke "
        "--serial --grounds` revokes an issuing CA certificate a root signed (cACompromise); "
        "`rollover` changes the root's key (a new root certificate and the link "
        "certificates, RFC 9810 4.4)",
    )
    root.add_argument("action", choices=("show", "crl", "revoke", "rollover"))
    root.add_argument("--serial", help="revoke: the certificate's serial, hexadecimal")
    root.add_argument("--grounds", help="revoke: what the revocation rests on (audit)")
    root.add_argument("--reason", help="rollover: why (audit; default scheduled)")


def _accounts_commands(command: Command) -> None:
    add = command("account-add", lazy("accounts:account_add"),
                  "make an API account; prints its id, then its "
                  "first bearer token (shown once)")  # fmt: skip
    add.add_argument("--name", required=True, help="the account's name")
    add.add_argument("--role", required=True, choices=ROLES)
    token = command("account-token", lazy("accounts:account_token"),
                    "a new bearer token for an account, "
                    "replacing its old one; printed once")  # fmt: skip
    token.add_argument("--name", required=True, help="the account's name")
    cert = command("account-cert", lazy("accounts:account_cert"),
                   "let an account sign in with a TLS client "
                   "certificate this CA issued")  # fmt: skip
    cert.add_argument("--name", required=True, help="the account's name")
    cert.add_argument("--cert", type=Path, required=True, help="the certificate, PEM or DER file")
    disable = command("account-disable", lazy("accounts:account_disable"), "disable an API account")
    disable.add_argument("--name", required=True, help="the account's name")
    command(
        "accounts", lazy("accounts:list_accounts"), "list the API accounts (never their tokens)"
    )


def _registry_commands(command: Command) -> None:
    registry = command("registry", lazy("registry:run_registry"),
                       "`registry copy --from URL --to URL`: copy "
                       "the registry into a new, empty one and check the copy (row counts, "
                       "audit verify, OCSP answers)")  # fmt: skip
    registry.add_argument("action", choices=("copy",))
    registry.add_argument("--from", dest="source", required=True, metavar="URL",
                          help="the registry to copy, usually the home's registry.url "
                          "(a relative sqlite path is relative to the home)")  # fmt: skip
    registry.add_argument("--to", dest="target", required=True, metavar="URL",
                          help="an empty registry: sqlite:///<file> or "
                          "postgresql://user@host/database (password in ~/.pgpass)")  # fmt: skip


def _retention_commands(command: Command) -> None:
    retention = command("retention", lazy("retention:run_retention"), "`retention run`: "
                        "remove the personal data kept as long as [retention] says "
                        "(attachments, subscribers' data, confirmation files) and print how "
                        "many of each")  # fmt: skip
    retention.add_argument("action", choices=("run",))
    retention.add_argument("--dry-run", action="store_true",
                           help="remove nothing: print how many of each are due")  # fmt: skip


def _backup_commands(command: Command) -> None:
    backup = command("backup", lazy("backup:run_backup"),
                     "save the CA home into one archive (mode 0600) "
                     "while its server runs: a snapshot of the registry, the settings, the "
                     "audit checkpoints and certificates, a manifest; never a PIN")  # fmt: skip
    backup.add_argument("--out", type=Path, required=True, metavar="FILE",
                        help="the archive to write (a new file)")  # fmt: skip
    backup.add_argument("--with-keys", action="store_true", help="add the key files, "
                        "encrypted as they are on disk (keys in a PKCS#11 token are not "
                        "files: back the token up with its own tools)")  # fmt: skip
    restore = command("restore", lazy("restore:run_restore"),
                      "put a backup into a new, empty home and "
                      "check it: member hashes, row counts, audit verify, OCSP answers "
                      "for a sample")  # fmt: skip
    restore.add_argument("--from", dest="archive", type=Path, required=True, metavar="FILE",
                         help="the archive `backup` wrote")  # fmt: skip
    restore.add_argument("--registry-url", metavar="URL", help="an empty registry for the "
                         "restored home: postgresql://user@host/database (password in "
                         "~/.pgpass) or sqlite:///<file> (default: registry.sqlite3 in the "
                         "new home)")  # fmt: skip
