"""How EST bodies travel: media types, base64 bodies, multipart/mixed (RFC 7030 4, RFC 8951 3).

Every EST payload is DER sent as base64 text (RFC 7030 4.1.3, 4.2.1, 4.2.3, 4.5.2). RFC 7030
named a ``Content-Transfer-Encoding: base64`` header for this, but that header is MIME, not
HTTP; RFC 8951 section 3 says to ignore it and to treat every body as base64 (RFC 4648
section 4) whatever the headers say. So :func:`decode_base64_body` always decodes, and
tolerates whitespace and line breaks anywhere, as clients wrap lines at 64 or 76 columns, or
not at all. It refuses what is not base64: base64url, a missing or misplaced ``=``, other
bytes, an empty body, and PEM (the armour lines are not base64; RFC 7030 asks for the DER's
base64, not a PEM file, so the client is told so rather than silently accepted).

:func:`base64_body` writes the other direction: lines of 64 characters, each ended by LF,
which ``base64 -d``, OpenSSL and curl users read as they are.

multipart/mixed (RFC 2046 5.1) is used only by /serverkeygen (RFC 7030 4.4.2): each part is
base64 with lines ended by CRLF, as MIME wants (RFC 2045 6.8). A delimiter line begins with
``--`` and no base64 line can, so no boundary can collide with part content.
:func:`parse_multipart_mixed` reads such a body back with the standard library's MIME parser
and refuses any defect it reports.
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Sequence
from email import policy
from email.message import Message
from email.parser import BytesParser

__all__ = [
    "CERTS_ONLY_CT",
    "CSRATTRS_CT",
    "MULTIPART_MIXED",
    "PKCS7_MIME",
    "PKCS8_CT",
    "PKCS10_CT",
    "SERVER_GENERATED_KEY_CT",
    "ESTFormatError",
    "base64_body",
    "decode_base64_body",
    "multipart_mixed",
    "parse_multipart_mixed",
]

# Media types of RFC 7030 (4.1.3, 4.2.1, 4.2.3, 4.4.2, 4.5.2) and RFC 5967 (pkcs10).
PKCS7_MIME = "application/pkcs7-mime"
CERTS_ONLY_CT = "application/pkcs7-mime; smime-type=certs-only"
CSRATTRS_CT = "application/csrattrs"
PKCS10_CT = "application/pkcs10"
PKCS8_CT = "application/pkcs8"
SERVER_GENERATED_KEY_CT = "application/pkcs7-mime; smime-type=server-generated-key"
MULTIPART_MIXED = "multipart/mixed"

_SPEC = "RFC 7030 4.2.1, RFC 8951 section 3"
_WHITESPACE = re.compile(rb"[ \t\r\n\v\f]+")
_NOT_BASE64 = re.compile(rb"[^A-Za-z0-9+/= \t\r\n\v\f]")
_LINE = 64
# RFC 2046 5.1.1: 1 to 70 bchars, the last not a space.
_BOUNDARY = re.compile(r"[0-9A-Za-z'()+_,\-./:=? ]{0,69}[0-9A-Za-z'()+_,\-./:=?]")
# A boundary made only of these is an RFC 2045 5.1 token and needs no quotes.
_TOKEN = re.compile(r"[0-9A-Za-z'+_\-.]+")


class ESTFormatError(ValueError):
    """The body is not what RFC 7030 says it must be; the answer is HTTP 400 with this
    exception's message."""


def decode_base64_body(body: bytes) -> bytes:
    """The DER carried by an EST request body (RFC 7030 4.2.1, RFC 8951 section 3).

    Whitespace and line breaks (LF or CRLF) anywhere are ignored. Raises ESTFormatError for
    an empty body, a PEM body, a byte outside the base64 alphabet of RFC 4648 section 4, an
    ``=`` before the end, or a length (without whitespace) that is not a multiple of 4,
    which is what missing padding looks like."""
    compact = _WHITESPACE.sub(b"", body)
    if not compact:
        raise ESTFormatError(f"empty body: expected the base64 of a DER value ({_SPEC})")
    if compact.startswith(b"-----BEGIN"):
        raise ESTFormatError(
            "PEM is not accepted: send the base64 of the DER alone, without the "
            f"'-----BEGIN ...-----' and '-----END ...-----' lines ({_SPEC})"
        )
    bad = _NOT_BASE64.search(body)
    if bad is not None:
        octet = body[bad.start()]
        hint = " (base64url; EST uses base64, RFC 4648 section 4)" if octet in b"-_" else ""
        raise ESTFormatError(
            f"not base64: byte {octet:#04x} at offset {bad.start()}{hint} ({_SPEC})"
        )
    data = compact.rstrip(b"=")
    if b"=" in data:
        raise ESTFormatError(f"not base64: '=' before the end of the data ({_SPEC})")
    if len(compact) % 4 or len(compact) - len(data) > 2:
        raise ESTFormatError(
            f"not base64: {len(compact)} characters without whitespace is not a multiple "
            f"of 4, so the padding is missing or the data is cut short (RFC 4648 section 4)"
        )
    try:
        return base64.b64decode(compact, validate=True)
    except binascii.Error as exc:  # pragma: no cover - the checks above leave nothing
        raise ESTFormatError(f"not base64: {exc} ({_SPEC})") from exc


def base64_body(der: bytes, newline: bytes = b"\n") -> bytes:
    """``der`` in base64 (RFC 4648 section 4), in lines of 64 characters each ended by
    ``newline``: an EST response body (RFC 7030 4.1.3, 4.2.3, 4.5.2)."""
    text = base64.b64encode(der)
    return b"".join(text[i : i + _LINE] + newline for i in range(0, len(text), _LINE))


def multipart_mixed(parts: Sequence[tuple[str, bytes]], boundary: str) -> tuple[bytes, str]:
    """A multipart/mixed body (RFC 2046 5.1.1, 5.1.3) of ``(content type, DER)`` parts, each
    sent with ``Content-Transfer-Encoding: base64`` as RFC 7030 4.4.2 shows, and the
    Content-Type header value naming ``boundary``.

    Raises ValueError for no parts, or a boundary that RFC 2046 5.1.1 does not allow (1 to 70
    of its bchars, not ending in a space); the caller chooses a random one."""
    if not parts:
        raise ValueError("a multipart body needs at least one part (RFC 2046 5.1.1)")
    if not _BOUNDARY.fullmatch(boundary):
        raise ValueError(f"boundary {boundary!r} is not allowed by RFC 2046 5.1.1")
    for content_type, _ in parts:
        if "\r" in content_type or "\n" in content_type:
            raise ValueError(f"content type {content_type!r} would break the header")
    delimiter = b"--" + boundary.encode("ascii")
    body = bytearray()
    for content_type, der in parts:
        body += delimiter + b"\r\n"
        body += b"Content-Type: " + content_type.encode("ascii") + b"\r\n"
        body += b"Content-Transfer-Encoding: base64\r\n\r\n"
        # The CRLF before the next delimiter belongs to the delimiter (RFC 2046 5.1.1).
        body += base64_body(der, b"\r\n")
    body += delimiter + b"--\r\n"
    quoted = boundary if _TOKEN.fullmatch(boundary) else f'"{boundary}"'
    return bytes(body), f"{MULTIPART_MIXED}; boundary={quoted}"


def parse_multipart_mixed(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    """The parts of a multipart/mixed body (RFC 2046 5.1), in order: each part's headers,
    with names in lower case, and its content as sent (base64 text stays base64: decode it
    with :func:`decode_base64_body`).

    Raises ESTFormatError when ``content_type`` is not multipart/mixed with a boundary, or
    the body has no parts, a nested multipart, or any defect the MIME parser finds (no
    start or close delimiter, bad headers), whatever the input."""
    try:
        return _parse_multipart_mixed(body, content_type)
    except ESTFormatError:
        raise
    except Exception as exc:  # the MIME parser's own surprises (encodings, headers)
        raise ESTFormatError(f"malformed multipart body (RFC 2046 5.1): {exc}") from None


def _parse_multipart_mixed(body: bytes, content_type: str) -> list[tuple[dict[str, str], bytes]]:
    if "\r" in content_type or "\n" in content_type:
        raise ESTFormatError("the Content-Type value has a line break")
    head = b"Content-Type: " + content_type.encode("ascii", "replace") + b"\r\n\r\n"
    message = BytesParser(policy=policy.compat32).parsebytes(head + body)
    if message.get_content_type() != MULTIPART_MIXED or message.get_boundary() is None:
        raise ESTFormatError(f"expected {MULTIPART_MIXED} with a boundary, not {content_type!r}")
    _refuse_defects(message)
    payload = message.get_payload()
    if not isinstance(payload, list) or not payload:
        raise ESTFormatError("the multipart body has no parts (RFC 2046 5.1.1)")
    parts = []
    for part in payload:
        if not isinstance(part, Message):  # pragma: no cover - a list holds Messages
            raise ESTFormatError("malformed multipart body (RFC 2046 5.1)")
        _refuse_defects(part)
        content = part.get_payload()
        if part.is_multipart() or not isinstance(content, str):
            raise ESTFormatError("a part of the multipart body is itself multipart")
        headers = {name.lower(): str(value) for name, value in part.items()}
        parts.append((headers, content.encode("ascii", "surrogateescape")))
    return parts


def _refuse_defects(message: Message) -> None:
    if message.defects:
        found = ", ".join(type(defect).__name__ for defect in message.defects)
        raise ESTFormatError(f"malformed multipart body (RFC 2046 5.1): {found}")
