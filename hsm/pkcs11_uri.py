"""RFC 7512 `pkcs11:` URIs: parse and format, no I/O.

Grammar (RFC 7512 section 2.3), in short:

    pk11-URI   = "pkcs11:" pk11-path [ "?" pk11-query ]
    pk11-path  = [ pk11-pattr *(";" pk11-pattr) ]
    pk11-query = [ pk11-qattr *("&" pk11-qattr) ]

Rules kept here:
- Attribute values are percent-decoded (section 2.3); `id` is raw bytes, every other value
  is UTF-8 text.
- An attribute may appear at most once (section 2.3: "an attribute MUST NOT appear more
  than once in the path"; we hold the query to the same rule).
- Unknown standard attributes are refused rather than ignored, so that a typo in a key
  reference fails loudly. Vendor attributes (`x-...`, section 2.3) are refused too.
- `pin-value` (section 2.3) is refused: this CA never puts a secret in a URI, because URIs
  end up in settings files, logs and the registry. Use `pin-source` or the backend spec.
- Formatting percent-encodes every octet outside the RFC's unreserved set for values,
  and always percent-encodes `id` octet by octet, as section 2.3 recommends.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from urllib.parse import quote

SCHEME = "pkcs11:"

# RFC 7512 section 2.3: the object types.
OBJECT_TYPES = frozenset({"public", "private", "cert", "secret-key", "data"})

# Attribute name in the URI -> field name of PKCS11URI.
_PATH_ATTRS = {
    "token": "token",
    "manufacturer": "manufacturer",
    "serial": "serial",
    "model": "model",
    "object": "object",
    "id": "id",
    "type": "type",
    "slot-id": "slot_id",
}
_QUERY_ATTRS = {
    "module-name": "module_name",
    "module-path": "module_path",
    "pin-source": "pin_source",
}

# Section 2.3: pk11-res-avail / pk11-path-res-avail plus unreserved: characters that
# may appear unencoded in a path value. Query values may also hold "/" "?" "|" "+".
_SAFE_PATH = ":[]@!$'()*+,="
_SAFE_QUERY = "/?|+:[]@!$'()*,="
_PCT = re.compile(r"%(?![0-9A-Fa-f]{2})")
_UNRESERVED = r"A-Za-z0-9._~\-"
_PATH_CHARS = re.compile("[" + _UNRESERVED + re.escape(_SAFE_PATH) + "%]*")
_QUERY_CHARS = re.compile("[" + _UNRESERVED + re.escape(_SAFE_QUERY) + "%]*")


@dataclass(frozen=True)
class PKCS11URI:
    """A parsed `pkcs11:` URI. Every attribute is optional; `id` is raw bytes."""

    token: str | None = None
    manufacturer: str | None = None
    serial: str | None = None
    model: str | None = None
    object: str | None = None
    id: bytes | None = None
    type: str | None = None
    slot_id: int | None = None
    module_name: str | None = None
    module_path: str | None = None
    pin_source: str | None = None

    def __post_init__(self) -> None:
        if self.type is not None and self.type not in OBJECT_TYPES:
            raise ValueError(f"pkcs11 URI: unknown object type {self.type!r}")

    def format(self) -> str:
        return format_uri(self)


def parse_uri(uri: str) -> PKCS11URI:
    """Parse an RFC 7512 URI. Raises ValueError saying what is wrong (never echoing a PIN)."""
    if not isinstance(uri, str):
        raise ValueError("pkcs11 URI: not a string")
    if uri[: len(SCHEME)].lower() != SCHEME:
        raise ValueError("pkcs11 URI: does not start with 'pkcs11:'")
    rest = uri[len(SCHEME) :]
    if "#" in rest:
        raise ValueError("pkcs11 URI: fragments are not allowed")
    path, _, query = rest.partition("?")
    values: dict[str, object] = {}
    for part, separator, table in ((path, ";", _PATH_ATTRS), (query, "&", _QUERY_ATTRS)):
        if not part:
            continue
        for attr in part.split(separator):
            name, eq, raw = attr.partition("=")
            if name == "pin-value":
                raise ValueError(
                    "pkcs11 URI: pin-value is refused; secrets do not go in URIs "
                    "(use pin-source or the backend's secret setting)"
                )
            if not eq or not name:
                raise ValueError(f"pkcs11 URI: attribute without '=': {name or attr!r}")
            field = table.get(name)
            if field is None:
                where = "path" if table is _PATH_ATTRS else "query"
                raise ValueError(f"pkcs11 URI: unsupported {where} attribute {name!r}")
            if field in values:
                raise ValueError(f"pkcs11 URI: attribute {name!r} appears more than once")
            chars = _PATH_CHARS if table is _PATH_ATTRS else _QUERY_CHARS
            if not chars.fullmatch(raw):
                raise ValueError(f"pkcs11 URI: {name!r} has characters that must be %-encoded")
            values[field] = _decode_value(name, raw)
    return PKCS11URI(**values)  # type: ignore[arg-type]


def format_uri(uri: PKCS11URI) -> str:
    """The URI text for `uri`; parse_uri(format_uri(u)) == u."""
    path: list[str] = []
    query: list[str] = []
    for name, field in _PATH_ATTRS.items():
        value = getattr(uri, field)
        if value is not None:
            path.append(f"{name}={_encode_value(value, _SAFE_PATH)}")
    for name, field in _QUERY_ATTRS.items():
        value = getattr(uri, field)
        if value is not None:
            query.append(f"{name}={_encode_value(value, _SAFE_QUERY)}")
    text = SCHEME + ";".join(path)
    if query:
        text += "?" + "&".join(query)
    return text


def _decode_value(name: str, raw: str) -> str | bytes | int:
    if _PCT.search(raw):
        raise ValueError(f"pkcs11 URI: bad percent-encoding in {name!r}")
    octets = _unquote_bytes(raw)
    if name == "id":
        return octets
    try:
        text = octets.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError(f"pkcs11 URI: {name!r} is not UTF-8 after decoding") from None
    if name == "slot-id":
        if not text.isdigit():
            raise ValueError(f"pkcs11 URI: slot-id is not a decimal number: {text!r}")
        return int(text)
    if name == "type" and text not in OBJECT_TYPES:
        raise ValueError(f"pkcs11 URI: unknown object type {text!r}")
    return text


def _unquote_bytes(raw: str) -> bytes:
    out = bytearray()
    i = 0
    while i < len(raw):
        c = raw[i]
        if c == "%":
            out.append(int(raw[i + 1 : i + 3], 16))
            i += 3
        else:
            out += c.encode("utf-8")
            i += 1
    return bytes(out)


def _encode_value(value: str | bytes | int, safe: str) -> str:
    if isinstance(value, bytes):
        return "".join(f"%{b:02x}" for b in value)
    return quote(str(value), safe=safe)
