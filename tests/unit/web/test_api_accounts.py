"""Accounts through the API: an admin creates them and gives them tokens and client
certificates; a replaced token, a disabled account, a revoked certificate no longer sign
in; tokens are never stored, logged or audited in clear."""

from __future__ import annotations

import argparse
import hashlib
import logging
import sqlite3
import ssl
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from server.accounts import Role
from server.authority import der_to_pem
from server.cli import accounts as cli_accounts
from server.context import backend_spec
from server.errors import CAError
from server.node.tls import server_context
from server.web.app import build_app
from tests.unit.web.api_home import Served


def registry_bytes(served: Served) -> bytes:
    """The registry file and its write-ahead log, as they are on disk."""
    path = served.ca.settings.registry_file
    wal = path.with_name(path.name + "-wal")
    return path.read_bytes() + (wal.read_bytes() if wal.exists() else b"")


def audit_text(served: Served) -> str:
    path = served.ca.settings.registry_file
    with sqlite3.connect(path) as db:
        rows = db.execute("SELECT actor, action, target, details FROM audit_log").fetchall()
    return "\n".join(" ".join(row) for row in rows)


async def test_create_use_replace_and_disable_an_account(
    served: Served, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    api, admin = served.api, served.seed.tokens[Role.ADMIN]
    listed = await api.call("GET", "/accounts", 200, token=admin)
    assert [(a["name"], a["role"], a["has_token"]) for a in listed["accounts"]] == [
        ("admin", "admin", True), ("auditor", "auditor", True), ("expert", "expert", True),
        ("officer", "officer", True), ("operator", "operator", True),
    ]  # fmt: skip

    created = await api.call(
        "POST", "/accounts", 201, token=admin, body={"name": "clerk", "role": "operator"}
    )
    first = created["token"]
    assert created["account"]["created_by"] == "api:admin"
    await api.call("GET", "/certificates", 200, token=first)
    await api.call("GET", "/accounts", 403, token=first)
    await api.call("POST", "/accounts", 409, token=admin, body={"name": "clerk", "role": "admin"})
    for bad in ({"name": "clerk"}, {"name": "a b", "role": "operator"},
                {"name": "x", "role": "root"}, {"name": "", "role": "admin"}):  # fmt: skip
        await api.call("POST", "/accounts", 400, token=admin, body=bad)

    renewed = await api.call("POST", "/accounts/clerk/token", 200, token=admin)
    second = renewed["token"]
    assert second != first
    await api.call("GET", "/certificates", 401, token=first)
    await api.call("GET", "/certificates", 200, token=second)

    disabled = await api.call("POST", "/accounts/clerk/disable", 200, token=admin)
    assert disabled["disabled_at"] is not None
    await api.call("GET", "/certificates", 401, token=second)
    await api.call("POST", "/accounts/clerk/disable", 409, token=admin)
    await api.call("POST", "/accounts/clerk/token", 409, token=admin)
    await api.call("POST", "/accounts/nobody/token", 404, token=admin)

    path = served.ca.settings.registry_file
    with sqlite3.connect(path) as db:
        (stored,) = db.execute("SELECT token_sha256 FROM accounts WHERE name = 'clerk'").fetchone()
    assert stored == hashlib.sha256(second.encode()).digest()
    on_disk = registry_bytes(served)
    for token in (first, second, *served.seed.tokens.values()):
        assert token.encode() not in on_disk
        assert token not in audit_text(served)
        assert token not in caplog.text
    assert "account.create clerk" in audit_text(served)
    assert "account.token clerk" in audit_text(served)
    assert "account.disable clerk" in audit_text(served)


async def test_binding_refuses_what_is_not_a_good_certificate_of_this_ca(served: Served) -> None:
    api, admin = served.api, served.seed.tokens[Role.ADMIN]
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "elsewhere")])
    now = datetime.now(UTC)
    foreign = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + timedelta(days=1))
        .sign(key, hashes.SHA256())
    )  # fmt: skip
    pem = foreign.public_bytes(Encoding.PEM).decode()
    path = "/accounts/auditor/certificate"
    await api.call("POST", path, 409, token=admin, body={"certificate": pem})
    await api.call("POST", path, 400, token=admin, body={"certificate": "not a PEM"})
    await api.call("POST", "/accounts/nobody/certificate", 404, token=admin,
                   body={"certificate": pem})  # fmt: skip


async def test_a_tls_client_certificate_signs_in_until_it_is_revoked(
    signing: Served, aiohttp_server, tmp_path: Path
) -> None:
    """A real TLS listener in this process, with the server's own TLS settings; the client
    presents a certificate this CA issued."""
    api, admin, seed = signing.api, signing.seed.tokens[Role.ADMIN], signing.seed
    serial = seed.serials[-1]
    record = await signing.ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    bound = await api.call("POST", "/accounts/auditor/certificate", 200, token=admin,
                           body={"certificate": der_to_pem(record.der)})  # fmt: skip
    assert bound["certificate_sha256"] == hashlib.sha256(record.der).hexdigest()
    await api.call("POST", "/accounts/officer/certificate", 409, token=admin,
                   body={"certificate": der_to_pem(record.der)})  # fmt: skip

    settings = signing.ca.settings
    ca_pem = der_to_pem((await signing.ca.authority.generation()).certificate_der)
    secret = backend_spec(settings).read_secret()
    server = await aiohttp_server(
        build_app(signing.ca), ssl=server_context(settings, secret, ca_pem)
    )
    (tmp_path / "client.pem").write_text(der_to_pem(record.der))
    (tmp_path / "client-key.pem").write_bytes(seed.client_key_pem)
    with_cert = ssl.create_default_context(cadata=ca_pem)
    with_cert.load_cert_chain(tmp_path / "client.pem", tmp_path / "client-key.pem")
    without_cert = ssl.create_default_context(cadata=ca_pem)
    base = f"https://127.0.0.1:{server.port}/api/v1"

    async def status(path: str, context: ssl.SSLContext, token: str | None = None) -> int:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with (
            aiohttp.ClientSession() as session,
            session.get(base + path, ssl=context, headers=headers) as response,
        ):
            return response.status

    assert await status("/audit/verify", with_cert) == 200
    assert await status("/accounts", with_cert) == 403  # an auditor's certificate
    assert await status("/audit/verify", without_cert) == 401
    assert await status("/audit/verify", with_cert, token="wrong") == 401  # the token decides
    await api.call("POST", f"/certificates/{serial}/revoke", 200,
                   token=seed.tokens[Role.OFFICER],
                   body={"reason": "keyCompromise", "grounds": "lost laptop"})  # fmt: skip
    assert await status("/audit/verify", with_cert) == 401


async def test_the_cli_binds_a_certificate_as_the_api_does(
    served: Served, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    record = await served.ca.registry.get_certificate(served.seed.serials[0])
    assert record is not None and record.der is not None
    (tmp_path / "op.pem").write_text(der_to_pem(record.der))
    args = argparse.Namespace(home=served.home, name="operator", cert=tmp_path / "op.pem")
    assert await cli_accounts.account_cert(args) == 0
    fingerprint = hashlib.sha256(record.der).hexdigest()
    assert fingerprint in capsys.readouterr().out
    listed = await served.api.call("GET", "/accounts", 200, token=served.seed.tokens[Role.ADMIN])
    assert {a["name"]: a["certificate_sha256"] for a in listed["accounts"]}["operator"] == (
        fingerprint
    )
    missing = argparse.Namespace(home=served.home, name="operator", cert=tmp_path / "none.pem")
    with pytest.raises(CAError):
        await cli_accounts.account_cert(missing)
