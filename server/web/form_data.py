"""A `multipart/form-data` body (RFC 7578) read whole, already bounded in size
(server/web/bodies.py), into its fields: files and texts alike, by name.

The body is split on its boundary exactly (RFC 2046 5.1.1: a delimiter is CRLF, "--" and
the boundary; the last is followed by "--"), so a file's octets come back as sent, CRs and
all. Each part's header fields are read by the standard library's parser of them; a field
named twice, a part without a name, or more than `MAX_PARTS` parts is refused.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.message import Message
from email.parser import HeaderParser
from email.utils import collapse_rfc2231_value
from urllib.parse import unquote

from server.errors import CAError, ErrorKind

MAX_PARTS = 16


@dataclass(frozen=True)
class FormField:
    name: str
    filename: str | None  # given for a file (RFC 7578 4.2)
    content: bytes


def _refused(what: str) -> CAError:
    return CAError(ErrorKind.MALFORMED, f"multipart/form-data: {what}")


def _param(message: Message, name: str, header: str, percent: bool = False) -> str | None:
    """A header parameter as text: RFC 2231's `name*=utf-8''...` decoded, and raw UTF-8
    octets in a quoted value (what browsers send; the header fields were read as Latin-1,
    one character an octet) read as UTF-8, then with `percent` its %XX decoded (RFC 7578
    4.2: some senders, aiohttp among them, percent-encode a file name)."""
    try:
        value = message.get_param(name, header=header)
    except (TypeError, ValueError):  # RFC 2231 continuations the standard library cannot join
        raise _refused(f"the {header} parameter {name!r} does not parse") from None
    if value is None:
        return None
    if isinstance(value, tuple):  # RFC 2231: decoded by the standard library
        return collapse_rfc2231_value(value)
    text = value.encode("latin-1").decode("utf-8", "replace")
    return unquote(text) if percent else text


def form_fields(content_type: str, body: bytes) -> dict[str, FormField]:
    """The fields of `body`, by name. Raises CAError(MALFORMED) for another media type, no
    boundary, a body not split by it, or the parts refused above."""
    head = Message()
    head["Content-Type"] = content_type
    try:
        boundary = head.get_param("boundary")
    except (TypeError, ValueError):
        raise _refused("the request is not multipart/form-data with a boundary") from None
    if (
        head.get_content_type() != "multipart/form-data"
        or not isinstance(boundary, str)
        or not 0 < len(boundary) <= 70  # RFC 2046 5.1.1, of US-ASCII characters
        or not boundary.isascii()
    ):
        raise _refused("the request is not multipart/form-data with a boundary")
    segments = (b"\r\n" + body).split(b"\r\n--" + boundary.encode("ascii"))
    if len(segments) < 2 or not segments[-1].startswith(b"--"):
        raise _refused("no closing boundary")
    fields: dict[str, FormField] = {}
    for segment in segments[1:-1]:  # [0] is the preamble, [-1] the closing delimiter on
        if len(fields) == MAX_PARTS:
            raise _refused(f"more than {MAX_PARTS} parts")
        part = _part(segment)
        if part.name in fields:
            raise _refused(f"the field {part.name!r} is given twice")
        fields[part.name] = part
    return fields


def _part(segment: bytes) -> FormField:
    line_end = segment.find(b"\r\n")
    if line_end < 0 or segment[:line_end].strip(b" \t"):  # transport padding only
        raise _refused("a boundary line with more after it")
    rest = segment[line_end + 2 :]
    if rest.startswith(b"\r\n"):
        raw_headers, content = b"", rest[2:]
    else:
        raw_headers, separator, content = rest.partition(b"\r\n\r\n")
        if not separator:
            raise _refused("a part's header fields do not end")
    headers = HeaderParser().parsestr(raw_headers.decode("latin-1") + "\r\n\r\n")
    if headers.get_content_disposition() != "form-data":
        raise _refused("a part is not Content-Disposition: form-data")
    name = _param(headers, "name", "content-disposition")
    if not name:
        raise _refused("a part has no name")
    return FormField(name, _param(headers, "filename", "content-disposition", True), content)
