"""API accounts (server/accounts.py) on a real registry, and their CLI commands."""

from __future__ import annotations

import getpass
import hashlib
import sqlite3
from pathlib import Path

import pytest

from protocols.crl import CRLReason
from server.accounts import Accounts, Requester, Role
from server.cli import main as cli
from server.errors import CAError, ErrorKind
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA, settings_for

ADMIN = Requester("api:root", Role.ADMIN)


@pytest.fixture
def accounts(local_ca: LocalCA) -> Accounts:
    return Accounts(local_ca.registry, local_ca.clock)


async def refused(coroutine) -> ErrorKind:  # type: ignore[no-untyped-def]
    with pytest.raises(CAError) as caught:
        await coroutine
    return caught.value.kind


def table(local_ca: LocalCA, sql: str) -> list[tuple]:
    with sqlite3.connect(local_ca.settings.registry_file) as db:
        return db.execute(sql).fetchall()


@pytest.mark.parametrize("role", [Role.OPERATOR, Role.OFFICER, Role.AUDITOR])
async def test_only_an_admin_manages_accounts(accounts: Accounts, role: Role) -> None:
    await accounts.create("clerk", Role.OPERATOR, ADMIN)
    someone = Requester(f"api:{role}", role)
    for attempt in (
        accounts.create("other", Role.ADMIN, someone),
        accounts.issue_token("clerk", someone),
        accounts.bind_certificate("clerk", b"\x30\x00", someone),
        accounts.disable("clerk", someone),
        accounts.all(someone),
    ):
        assert await refused(attempt) is ErrorKind.UNAUTHORIZED


async def test_a_token_works_until_replaced_or_the_account_is_disabled(
    accounts: Accounts,
) -> None:
    _, first = await accounts.create("clerk", Role.OFFICER, ADMIN)
    assert len(first) == 43  # 32 random bytes, base64url
    found = await accounts.authenticate_token(first)
    assert found is not None and (found.name, found.role, found.actor) == (
        "clerk", Role.OFFICER, "api:clerk"
    )  # fmt: skip
    second = await accounts.issue_token("clerk", ADMIN)
    assert await accounts.authenticate_token(first) is None
    assert await accounts.authenticate_token(second) == found
    assert await accounts.authenticate_token("") is None
    disabled = await accounts.disable("clerk", ADMIN)
    assert disabled.disabled_at is not None
    assert await accounts.authenticate_token(second) is None
    assert await refused(accounts.disable("clerk", ADMIN)) is ErrorKind.REJECTED
    assert await refused(accounts.issue_token("clerk", ADMIN)) is ErrorKind.REJECTED
    assert await refused(accounts.issue_token("nobody", ADMIN)) is ErrorKind.NOT_FOUND
    assert await refused(accounts.create("clerk", Role.ADMIN, ADMIN)) is ErrorKind.DUPLICATE
    for name in ("", "a b", "-x", "x" * 65, "имя"):
        assert await refused(accounts.create(name, Role.ADMIN, ADMIN)) is ErrorKind.MALFORMED
    assert [a.name for a in await accounts.all(ADMIN)] == ["clerk"]


async def test_tokens_are_kept_as_sha256_and_never_audited(
    accounts: Accounts, local_ca: LocalCA
) -> None:
    _, first = await accounts.create("clerk", Role.AUDITOR, ADMIN)
    second = await accounts.issue_token("clerk", ADMIN)
    [(stored, certificate)] = table(local_ca, "SELECT token_sha256, client_cert_sha256 "
                                              "FROM accounts")  # fmt: skip
    assert stored == hashlib.sha256(second.encode()).digest() and certificate is None
    audit = table(local_ca, "SELECT actor, action, target, details FROM audit_log"
                            " WHERE action LIKE 'account.%'")  # fmt: skip
    assert [row[:3] for row in audit] == [
        ("api:root", "account.create", "clerk"),
        ("api:root", "account.token", "clerk"),
    ]
    text = repr(table(local_ca, "SELECT * FROM audit_log"))
    assert first not in text and second not in text
    assert first not in repr(table(local_ca, "SELECT * FROM accounts"))


async def test_a_bound_certificate_signs_in_while_it_is_good(
    accounts: Accounts, local_ca: LocalCA
) -> None:
    await accounts.create("device-admin", Role.ADMIN, ADMIN)
    await accounts.create("other", Role.OPERATOR, ADMIN)
    issued = await local_ca.authority.issue("tls-client", make_csr([("CN", "op")]), "t")
    bound = await accounts.bind_certificate("device-admin", issued.der, ADMIN)
    assert bound.certificate_sha256 == hashlib.sha256(issued.der).digest()
    found = await accounts.authenticate_certificate(issued.der)
    assert found is not None and found.name == "device-admin"
    duplicate = accounts.bind_certificate("other", issued.der, ADMIN)
    assert await refused(duplicate) is ErrorKind.DUPLICATE
    assert await refused(accounts.bind_certificate("other", b"junk", ADMIN)) is (
        ErrorKind.MALFORMED
    )
    ca_der = (await local_ca.authority.generation()).certificate_der
    assert await accounts.authenticate_certificate(ca_der) is None  # bound to nobody

    local_ca.clock.advance(days=400)  # past the certificate's notAfter
    assert await accounts.authenticate_certificate(issued.der) is None
    local_ca.clock.advance(days=-400)
    await local_ca.revocation.revoke(issued.serial, CRLReason.keyCompromise, "t")
    assert await accounts.authenticate_certificate(issued.der) is None
    refused_kind = await refused(accounts.bind_certificate("other", issued.der, ADMIN))
    assert refused_kind is ErrorKind.REJECTED  # revoked: no longer good

    fresh = await local_ca.authority.issue("tls-client", make_csr([("CN", "op2")]), "t")
    await accounts.bind_certificate("device-admin", fresh.der, ADMIN)  # replaces the old
    await accounts.disable("device-admin", ADMIN)
    assert await accounts.authenticate_certificate(fresh.der) is None


def test_the_cli_manages_accounts_and_prints_a_token_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    settings_for(tmp_path)
    home = ["--home", str(tmp_path)]

    def run(*args: str) -> list[str]:
        assert cli.main([args[0], *home, *args[1:]]) == 0
        return capsys.readouterr().out.splitlines()

    account_id, token = run("account-add", "--name", "root", "--role", "admin")
    assert account_id.startswith("ac-") and len(token) == 43
    [line] = run("accounts")
    assert line.split()[:4] == ["root", "admin", "enabled", "token"] and token not in line
    [renewed] = run("account-token", "--name", "root")
    assert renewed != token
    assert run("account-disable", "--name", "root") == ["disabled root"]
    assert run("accounts")[0].split()[2] == "disabled"
    assert cli.main(["account-token", *home, "--name", "root"]) == 1
    assert "is disabled" in capsys.readouterr().err
    with sqlite3.connect(tmp_path / "registry.sqlite3") as db:
        [(actor,)] = db.execute("SELECT created_by FROM accounts").fetchall()
    assert actor == f"cli:{getpass.getuser()}"
