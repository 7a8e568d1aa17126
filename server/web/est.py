"""EST over HTTPS (RFC 7030, with RFC 8951's corrections): only translation between HTTP
and the enrollment services.

    /.well-known/est/[<label>/]cacerts         GET   the CA certificates, certs-only CMS
    /.well-known/est/[<label>/]csrattrs        GET   what the label's profile wants in a CSR
    /.well-known/est/[<label>/]simpleenroll    POST  HTTP Basic: an enrollment credential;
                                                     202 + Retry-After while a profile's
                                                     request awaits approval (4.2.3), the
                                                     application's id in EST-Application-Id
    /.well-known/est/[<label>/]simplereenroll  POST  TLS client certificate of this CA
    /.well-known/est/[<label>/]serverkeygen    POST  HTTP Basic; the CA makes the key
    /.well-known/est/[<label>/]fullcmc         *     501: Full CMC is not implemented

A label selects a profile (settings `[est.labels]`); no label means `est.default_profile`.
"""

from __future__ import annotations

import base64
import binascii
import secrets
import ssl
from collections.abc import Awaitable, Callable, Sequence

from aiohttp import web

from protocols import est, gost
from protocols.x509 import csr as csr_codec
from server.context import CA
from server.enrollment import root_distribution
from server.errors import CAError, ErrorKind
from server.ra.applications import ApplicationPending
from server.web.bodies import BodyTooLarge, read_body
from server.web.identity import SERVER_IDENTITY_KEY
from server.web.unexpected import UNEXPECTED_KEY

PREFIX = "/.well-known/est"
REALM = 'Basic realm="EST"'
RETRY_AFTER_S = "5"
APPLICATION_ID_HEADER = "EST-Application-Id"  # of a request awaiting approval (202)
Handler = Callable[[web.Request], Awaitable[web.Response]]

# One table from the core's refusals to EST answers (RFC 7030 4.2.3, 3.2.3).
STATUS = {
    ErrorKind.MALFORMED: 400,
    ErrorKind.BAD_POP: 400,
    ErrorKind.REJECTED: 403,
    ErrorKind.DUPLICATE: 403,
    ErrorKind.ALREADY_REVOKED: 403,
    ErrorKind.EXPIRED: 403,
    ErrorKind.UNAUTHORIZED: 401,
    ErrorKind.FORBIDDEN: 403,
    ErrorKind.NOT_FOUND: 404,
    ErrorKind.PENDING: 202,
    ErrorKind.BUSY: 503,
    ErrorKind.UNAVAILABLE: 503,
    ErrorKind.INTERNAL: 500,
}


def add_routes(app: web.Application, ca_key: web.AppKey[CA]) -> None:
    est_routes = EST(ca_key)
    for prefix in (PREFIX, PREFIX + "/{label}"):
        app.router.add_get(prefix + "/cacerts", _answered(est_routes.cacerts))
        app.router.add_get(prefix + "/csrattrs", _answered(est_routes.csrattrs))
        app.router.add_post(prefix + "/simpleenroll", _answered(est_routes.simpleenroll))
        app.router.add_post(prefix + "/simplereenroll", _answered(est_routes.simplereenroll))
        app.router.add_post(prefix + "/serverkeygen", _answered(est_routes.serverkeygen))
        app.router.add_route("*", prefix + "/fullcmc", est_routes.fullcmc)


def _answered(handler: Handler) -> Handler:
    """`handler` whose unexpected failures are logged and counted once and answered as
    the table says for INTERNAL, with no detail (STYLE.md rule 6)."""

    async def handle(request: web.Request) -> web.Response:
        try:
            return await handler(request)
        except web.HTTPException:
            raise
        except Exception as failure:
            request.app[UNEXPECTED_KEY].record("est", failure)
            return _refusal(CAError(ErrorKind.INTERNAL, "internal error"))

    return handle


def _text(status: int, reason: str, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(status=status, text=reason + "\n", headers=headers)


def _refusal(error: CAError, pending_retry_after_s: int = 0) -> web.Response:
    status = STATUS[error.kind]
    headers = {}
    if status == 401:
        # The challenge alone, no body: Bouncy Castle's EST client (1.72) fails reading the
        # body of a 401 before it retries with credentials.
        return web.Response(status=401, headers={"WWW-Authenticate": REALM})
    if status == 202:
        return _pending(error, pending_retry_after_s)
    if status == 503:
        headers["Retry-After"] = RETRY_AFTER_S
    return _text(status, error.message if status != 500 else "internal error", headers)


def _pending(error: CAError, retry_after_s: int) -> web.Response:
    """RFC 7030 4.2.3: accepted, come back with the same request after Retry-After. No
    body: Bouncy Castle's EST client (1.72) closes a 202 without reading it, and closing
    fails ("Stream closed before limit fully read") unless Content-Length is 0; the
    application's id goes in a header instead, where curl and scripts still find it."""
    headers = {"Retry-After": str(retry_after_s)}
    if isinstance(error, ApplicationPending):
        headers[APPLICATION_ID_HEADER] = error.application_id
    return web.Response(status=202, headers=headers)


def _client_certificate(request: web.Request) -> bytes | None:
    """The TLS client certificate (DER), verified against the CA by the TLS layer."""
    ssl_object: ssl.SSLObject | None = (
        request.transport.get_extra_info("ssl_object") if request.transport else None
    )
    return ssl_object.getpeercert(binary_form=True) if ssl_object else None


def _certs_only(certificates: list[bytes]) -> web.Response:
    return web.Response(
        body=est.certs_only_response(certificates),
        headers={"Content-Type": est.CERTS_ONLY_CT, "Content-Transfer-Encoding": "base64"},
    )


class EST:
    def __init__(self, ca_key: web.AppKey[CA]) -> None:
        self._ca_key = ca_key

    def _ca(self, request: web.Request) -> CA:
        return request.app[self._ca_key]

    def _profile(self, request: web.Request) -> str:
        settings = self._ca(request).settings.est
        label = request.match_info.get("label")
        if label is None:
            return settings.default_profile
        if label not in settings.labels:
            raise web.HTTPNotFound(text="no such EST label\n")
        return settings.labels[label]

    @staticmethod
    def _require_tls(request: web.Request) -> None:
        if not request.secure:  # RFC 7030 3.3: EST runs over TLS
            raise web.HTTPForbidden(text="EST is served over HTTPS only\n")

    async def _csr(self, request: web.Request) -> bytes | csr_codec.CSR:
        """The base64 PKCS#10 body (RFC 7030 4.2.1, RFC 8951 3): its DER, or the request
        itself when the tls-unique check had to parse it (the services take either, so a
        request is parsed and its signature verified once)."""
        media = request.content_type
        if media != est.PKCS10_CT:
            raise web.HTTPUnsupportedMediaType(text=f"expected {est.PKCS10_CT}\n")
        limit = self._ca(request).settings.est.max_body_bytes
        try:
            body = await read_body(request, limit)
        except BodyTooLarge as exc:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=exc.size) from None
        try:
            der = est.decode_base64_body(body)
        except est.ESTFormatError as exc:
            raise web.HTTPBadRequest(text=f"{exc}\n") from None
        return self._check_tls_unique(request, der)

    @staticmethod
    def _check_tls_unique(request: web.Request, der: bytes) -> bytes | csr_codec.CSR:
        """RFC 7030 3.5: a CSR carrying the TLS session's tls-unique (TLS 1.2) must match.
        The request as parsed for the check, or `der` when there was nothing to check or
        it does not parse (the service then answers for it)."""
        ssl_object = request.transport.get_extra_info("ssl_object") if request.transport else None
        if ssl_object is None or ssl_object.version() != "TLSv1.2":
            return der  # tls-unique is not defined for TLS 1.3 (RFC 8446 C.5; RFC 9266)
        binding = ssl_object.get_channel_binding("tls-unique")
        if not binding:
            return der
        try:
            parsed = csr_codec.parse_csr(der)
        except ValueError:
            return der  # the service answers for a bad request
        password = parsed.challenge_password
        if password is not None and not est.tls_unique_matches(password, binding):
            raise web.HTTPBadRequest(text="the CSR's tls-unique does not match this session\n")
        return parsed

    @staticmethod
    def _basic(request: web.Request) -> tuple[str, str]:
        header = request.headers.get("Authorization", "")
        scheme, _, value = header.partition(" ")
        if scheme.lower() != "basic" or not value:
            raise CAError(ErrorKind.UNAUTHORIZED, "enrollment credentials required")
        try:
            user, _, password = base64.b64decode(value, validate=True).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            raise CAError(ErrorKind.UNAUTHORIZED, "malformed credentials") from None
        return user, password

    async def cacerts(self, request: web.Request) -> web.Response:
        """RFC 7030 4.1.3: the CA certificates and the root key update certificates."""
        self._require_tls(request)
        self._profile(request)
        ca = self._ca(request)
        certificates = await root_distribution.ca_certificates(
            ca.registry, ca.settings.ca.name, ca.clock()
        )
        if not certificates:  # no active generation: a CA under a parent waiting after a
            try:  # compromise (K4): 503 with the reason the core gives
                await ca.authority.generation()
            except CAError as exc:
                return _refusal(exc)
            return _refusal(CAError(ErrorKind.UNAVAILABLE, "no CA certificate to hand out"))
        return _certs_only(certificates)

    async def csrattrs(self, request: web.Request) -> web.Response:
        """RFC 7030 4.5 / RFC 8951 4: the key types the profile takes."""
        self._require_tls(request)
        profile = self._ca(request).settings.profile(self._profile(request))
        curves = {"ec-p256": "1.2.840.10045.3.1.7", "ec-p384": "1.3.132.0.34"}
        wanted = [curves[a] for a in profile.key_algorithms if a in curves]
        attributes = []
        if wanted:
            values = tuple(est.oid_der(oid) for oid in wanted)
            attributes.append(est.CSRAttribute(est.ID_EC_PUBLIC_KEY, values))
        if any(a.startswith("rsa-") for a in profile.key_algorithms):
            attributes.append(est.CSRAttribute("1.2.840.113549.1.1.1"))
        attributes.extend(_gost_key_types(profile.key_algorithms))
        if not attributes:
            return web.Response(status=204)
        return web.Response(
            body=est.csr_attributes(attributes),
            headers={"Content-Type": est.CSRATTRS_CT, "Content-Transfer-Encoding": "base64"},
        )

    async def simpleenroll(self, request: web.Request) -> web.Response:
        self._require_tls(request)
        profile = self._profile(request)
        label = request.match_info.get("label")
        by_certificate = label in self._ca(request).settings.est.client_certificate_labels
        try:
            csr = await self._csr(request)  # read first: answering 401 with the body unread
            holder = _client_certificate(request)  # makes the connection close under it
            if by_certificate and holder and "Authorization" not in request.headers:
                issued = await self._ca(request).holders.enroll_as_holder(
                    holder, csr, "est:client-certificate", profile
                )
                return _certs_only([issued.der])
            user, password = self._basic(request)
            issued = await self._ca(request).enrollment.enroll(
                user, password, csr, f"est:{user}", profile
            )
        except CAError as exc:
            return _refusal(exc, self._ca(request).settings.est.pending_retry_after_seconds)
        return _certs_only([issued.der])

    async def simplereenroll(self, request: web.Request) -> web.Response:
        self._require_tls(request)
        self._profile(request)
        current = _client_certificate(request)
        if not current:
            return _refusal(CAError(ErrorKind.UNAUTHORIZED, "a client certificate is required"))
        try:
            csr = await self._csr(request)
            issued = await self._ca(request).holders.reenroll(current, csr, "est:reenroll")
        except CAError as exc:
            return _refusal(exc)
        return _certs_only([issued.der])

    async def serverkeygen(self, request: web.Request) -> web.Response:
        """RFC 7030 4.4: the private key travels once, in this answer, over TLS, and encrypted
        to the client's certificate when the request asks for that (4.4.1.2)."""
        self._require_tls(request)
        profile = self._profile(request)
        try:
            csr = await self._csr(request)
            user, password = self._basic(request)
            key, issued = await self._ca(request).server_keygen.generate(
                user, password, csr, f"est:{user}", profile,
                client_certificate=_client_certificate(request),
                package_signer=request.app.get(SERVER_IDENTITY_KEY),
            )  # fmt: skip
        except CAError as exc:
            return _refusal(exc)
        boundary = f"est-{secrets.token_hex(12)}"
        if key.encrypted:
            body, content_type = est.encrypted_server_keygen_response(key.der, issued.der, boundary)
        else:
            body, content_type = est.server_keygen_response(key.der, issued.der, boundary)
        return web.Response(body=body, headers={"Content-Type": content_type,
                                                "Cache-Control": "no-store"})  # fmt: skip

    async def fullcmc(self, request: web.Request) -> web.Response:
        return _text(501, "Full CMC (RFC 7030 4.3) is not implemented; use simpleenroll")


def _gost_key_types(key_algorithms: Sequence[str]) -> list[est.CSRAttribute]:
    """RFC 8951 4: a GOST R 34.10-2012 key type as the key's OID with its parameter sets'
    OIDs as values (RFC 9215), one attribute per key size the profile takes."""
    found: dict[int, list[bytes]] = {}
    for algorithm in key_algorithms:
        parameter_set = gost.SETS_BY_KEY_TYPE.get(algorithm)
        if parameter_set is not None:
            values = found.setdefault(parameter_set.key_size, [])
            values.append(est.oid_der(parameter_set.oid))
    return [est.CSRAttribute(gost.KEY_OIDS[bits], tuple(v)) for bits, v in sorted(found.items())]
