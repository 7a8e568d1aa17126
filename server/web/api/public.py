"""Public, unauthenticated look-ups: a certificate by serial or by the SHA-256 of its
SubjectPublicKeyInfo DER, and the revoked certificates. Nothing here says more than the
certificates and the CRL already do: no actor, no profile, no history."""

from __future__ import annotations

from aiohttp import web

from server.authority import der_to_pem
from server.enrollment.public_search import key_hash
from server.errors import CAError, ErrorKind
from server.registry import CertificateRecord
from server.serials import parse_serial
from server.web.api.common import (
    PUBLIC,
    Call,
    Param,
    Route,
    json_response,
    page_params,
    time_text,
)
from server.web.api.openapi import SERIAL

_SERIAL = Param("serial", "path", {"type": "string"}, "hexadecimal; colons and 0x are accepted")
_SPKI = Param(
    "spki_sha256",
    "query",
    {"type": "string", "pattern": "^[0-9a-fA-F]{64}$"},
    "SHA-256 of the SubjectPublicKeyInfo DER, hexadecimal",
    required=True,
)


def public_certificate(record: CertificateRecord) -> dict[str, object]:
    assert record.der is not None  # an issued certificate
    return {
        "serial": record.serial,
        "status": record.status.value,
        "not_before": time_text(record.not_before),
        "not_after": time_text(record.not_after),
        "subject": record.subject,
        "issuer_generation": record.generation_id,
        "pem": der_to_pem(record.der),
    }


async def certificate_of(call: Call) -> CertificateRecord:
    """The issued certificate of the path's serial. Raises CAError: MALFORMED, NOT_FOUND."""
    serial = parse_serial(call.path("serial"))
    record = await call.ca.registry.get_certificate(serial)
    if record is None or record.der is None:
        raise CAError(ErrorKind.NOT_FOUND, f"no certificate with serial {serial}")
    return record


async def certificate(call: Call) -> web.Response:
    return json_response(public_certificate(await certificate_of(call)))


async def certificate_der(call: Call) -> web.Response:
    record = await certificate_of(call)
    return web.Response(
        body=record.der,
        content_type="application/pkix-cert",
        headers={"Content-Disposition": f'attachment; filename="{record.serial}.der"'},
    )


async def certificate_pem(call: Call) -> web.Response:
    record = await certificate_of(call)
    assert record.der is not None
    return web.Response(
        text=der_to_pem(record.der),
        content_type="application/x-pem-file",
        headers={"Content-Disposition": f'attachment; filename="{record.serial}.pem"'},
    )


async def by_public_key(call: Call) -> web.Response:
    digest = key_hash(call.query("spki_sha256") or "")
    record = await call.services.search.certificate_by_spki(digest)
    found = [public_certificate(record)] if record is not None else []
    return json_response({"certificates": found})


async def revoked(call: Call) -> web.Response:
    after, limit = call.query("after"), call.limit()
    entries = await call.services.search.revoked(limit, parse_serial(after) if after else None)
    page = [
        {
            "serial": entry.serial,
            "status": entry.status.value,
            "revoked_at": time_text(entry.revoked_at),
            "reason": entry.reason,
        }
        for entry in entries
    ]
    next_after = entries[-1].serial if len(entries) == limit else None
    return json_response({"revoked": page, "next": next_after})


ROUTES = (
    # The downloads come first: aiohttp tries routes in order, and {serial} alone would
    # take "1a2b.der" too.
    Route("GET", "/public/certificates/{serial}.der", certificate_der, PUBLIC,
          "a certificate, DER", {200: "application/pkix-cert", 400: "Error", 404: "Error"},
          params=(_SERIAL,)),
    Route("GET", "/public/certificates/{serial}.pem", certificate_pem, PUBLIC,
          "a certificate, PEM", {200: "application/x-pem-file", 400: "Error", 404: "Error"},
          params=(_SERIAL,)),
    Route("GET", "/public/certificates/{serial}", certificate, PUBLIC,
          "a certificate and its status", {200: "PublicCertificate", 400: "Error",
                                           404: "Error"},
          params=(_SERIAL,)),
    Route("GET", "/public/certificates", by_public_key, PUBLIC,
          "the certificate of a public key", {200: "PublicCertificateList", 400: "Error"},
          params=(_SPKI,)),
    Route("GET", "/public/revoked", revoked, PUBLIC,
          "revoked and suspended certificates, by serial", {200: "RevokedList", 400: "Error"},
          params=page_params(SERIAL)),
)  # fmt: skip
