"""Enrollment with a one-time credential, shared by EST (Basic auth) and CMP (MAC).

The credential names the profile and the subject (D2); the request brings the key (with
its proof of possession, D8) and, as the profile allows, subjectAltName entries. A request
whose subject names anything other than the credential's subject is refused; an empty
request subject takes the credential's."""

from __future__ import annotations

from protocols.x509 import csr as csr_codec
from server.authority import Authority, IssuedCertificate
from server.enrollment_credentials import EnrollmentCredentials
from server.errors import CAError, ErrorKind


class Enrollment:
    def __init__(self, credentials: EnrollmentCredentials, authority: Authority) -> None:
        self._credentials = credentials
        self._authority = authority

    async def enroll(
        self, credential_id: str, secret: str, csr_data: bytes, actor: str
    ) -> IssuedCertificate:
        """Issue one certificate against the credential, which is then spent.

        Raises CAError: UNAUTHORIZED (credential), MALFORMED / BAD_POP (request),
        REJECTED (a subject the credential does not allow, profile rules), DUPLICATE, BUSY,
        UNAVAILABLE. On any failure the credential can be used again."""
        credential = await self._credentials.claim(credential_id, secret)
        try:
            requested = _requested_subject(csr_data)
            if requested and sorted(requested) != sorted(credential.subject):
                raise CAError(
                    ErrorKind.REJECTED,
                    "the request's subject differs from the one this credential allows",
                )
            issued = await self._authority.issue(
                credential.profile, csr_data, actor, subject=credential.subject
            )
        except BaseException:
            await self._credentials.release(credential_id)
            raise
        await self._credentials.consume(credential_id, issued.serial, actor)
        return issued


def _requested_subject(csr_data: bytes) -> list[tuple[str, str]]:
    try:
        return list(csr_codec.parse_csr(csr_data).subject)
    except csr_codec.BadProofOfPossession as exc:
        raise CAError(ErrorKind.BAD_POP, "the request's signature does not verify") from exc
    except csr_codec.MalformedCSR as exc:
        raise CAError(ErrorKind.MALFORMED, f"not a PKCS#10 request: {exc}") from exc
