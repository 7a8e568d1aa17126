"""API accounts, managed by an admin: list, create (with a first token), a new token, a
client certificate to sign in with, disable. A token appears in the one answer that makes
it; listings say only whether there is one."""

from __future__ import annotations

from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from server.accounts import Account, Role, parse_role
from server.errors import CAError, ErrorKind
from server.web.api.common import Call, Param, Route, json_response, time_text

ADMIN = frozenset({Role.ADMIN})
_NAME = Param("name", "path", {"type": "string"}, "the account's name")


def account_view(account: Account) -> dict[str, object]:
    return {
        "id": account.id,
        "name": account.name,
        "role": account.role.value,
        "created_at": time_text(account.created_at),
        "created_by": account.created_by,
        "has_token": account.has_token,
        "certificate_sha256": account.certificate_sha256.hex()
        if account.certificate_sha256
        else None,
        "disabled_at": time_text(account.disabled_at),
    }


async def listing(call: Call) -> web.Response:
    accounts = await call.services.accounts.all(call.requester)
    return json_response({"accounts": [account_view(a) for a in accounts]})


async def create(call: Call) -> web.Response:
    body = await call.body()
    account, token = await call.services.accounts.create(
        body["name"], parse_role(body["role"]), call.requester
    )
    return json_response({"account": account_view(account), "token": token}, status=201)


async def new_token(call: Call) -> web.Response:
    name = call.path("name")
    token = await call.services.accounts.issue_token(name, call.requester)
    return json_response({"name": name, "token": token})


async def bind_certificate(call: Call) -> web.Response:
    body = await call.body()
    try:
        der = x509.load_pem_x509_certificate(body["certificate"].encode()).public_bytes(
            Encoding.DER
        )
    except ValueError:
        raise CAError(ErrorKind.MALFORMED, "certificate: not a PEM certificate") from None
    account = await call.services.accounts.bind_certificate(call.path("name"), der, call.requester)
    return json_response(account_view(account))


async def disable(call: Call) -> web.Response:
    account = await call.services.accounts.disable(call.path("name"), call.requester)
    return json_response(account_view(account))


_CHANGED = {200: "Account", 404: "Error", 409: "Error"}

ROUTES = (
    Route("GET", "/accounts", listing, ADMIN, "every account", {200: "AccountList"}),
    Route("POST", "/accounts", create, ADMIN, "a new account and its first token",
          {201: "AccountCreated", 400: "Error", 409: "Error"}, body="AccountRequest"),
    Route("POST", "/accounts/{name}/token", new_token, ADMIN,
          "a new token, replacing the old one", {200: "Token", 404: "Error", 409: "Error"},
          params=(_NAME,)),
    Route("POST", "/accounts/{name}/certificate", bind_certificate, ADMIN,
          "sign in with this TLS client certificate", {**_CHANGED, 400: "Error"},
          body="CertificateBinding", params=(_NAME,)),
    Route("POST", "/accounts/{name}/disable", disable, ADMIN,
          "disable: its token and certificate stop working", _CHANGED, params=(_NAME,)),
)  # fmt: skip
