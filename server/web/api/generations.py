"""The CA's key generations for its officers: the CA key compromise procedure (regulation
K4, server/generations/compromise.py), as `python -m server compromise` declares it. A CA
under a parent outside is refused (409, compromise.SUBORDINATE_COMPROMISE, naming the
command to run): its compromise hands the operator two files for the parent, which an API
answer is no place for (server/generations/subordinate_compromise.py)."""

from __future__ import annotations

from aiohttp import web

from server.errors import CAError, ErrorKind
from server.web.api.certificates import OFFICER
from server.web.api.common import Call, Param, Route, json_response


async def declare_compromise(call: Call) -> web.Response:
    body = await call.body()
    try:
        generation = int(call.path("n"))
    except ValueError:
        raise CAError(ErrorKind.MALFORMED, "the generation must be an integer") from None
    done = await call.ca.compromise(generation, body["grounds"], call.requester.actor)
    return json_response(
        {
            "compromised_generation": done.old.id,
            "new_generation": done.new.id,
            "ca_certificate": done.new.serial,
            "revoked_ca_certificates": list(done.revoked),
            "certificates": done.certificates.mode,
            "certificates_count": done.certificates.count,
        }
    )


ROUTES = (
    Route("POST", "/ca/generations/{n}/compromise", declare_compromise, OFFICER,
          "declare a generation's CA key compromised (K4): a new key at once, the old CA "
          "certificate revoked in its CRL, the old certificates revoked or marked; a "
          "generation certified by a parent (outside, or the root kept in the home) is the "
          "command line's: 409 saying what to run",
          {200: "Compromise", 400: "Error", 404: "Error", 409: "Error"},
          body="CompromiseRequest",
          params=(Param("n", "path", {"type": "integer"}, "the generation"),)),
)  # fmt: skip
