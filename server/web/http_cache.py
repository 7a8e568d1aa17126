"""HTTP caching headers and conditional requests for OCSP responses and CRLs
(RFC 5019 section 6, RFC 9111, RFC 9110 13)."""

from __future__ import annotations

from datetime import datetime
from email.utils import format_datetime, parsedate_to_datetime

from aiohttp import web


def http_date(moment: datetime) -> str:
    return format_datetime(moment, usegmt=True)


def cache_headers(
    max_age: int, etag: str | None, last_modified: datetime | None, expires: datetime | None
) -> dict[str, str]:
    """`public, no-transform, must-revalidate` with max-age (RFC 5019 6.2); `no-store`
    when the answer must not be kept at all."""
    if max_age <= 0:
        return {"Cache-Control": "no-store"}
    headers = {"Cache-Control": f"max-age={max_age}, public, no-transform, must-revalidate"}
    if etag:
        headers["ETag"] = f'"{etag}"'
    if last_modified:
        headers["Last-Modified"] = http_date(last_modified)
    if expires:
        headers["Expires"] = http_date(expires)
    return headers


def not_modified(request: web.Request, etag: str | None, last_modified: datetime | None) -> bool:
    """RFC 9110 13.1.2 / 13.1.3: If-None-Match wins over If-Modified-Since."""
    if_none_match = request.headers.get("If-None-Match")
    if if_none_match is not None:
        tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
        return etag is not None and ("*" in tags or f'"{etag}"' in tags)
    if_modified_since = request.headers.get("If-Modified-Since")
    if if_modified_since and last_modified is not None:
        try:
            since = parsedate_to_datetime(if_modified_since)
        except (TypeError, ValueError):
            return False
        return since.tzinfo is not None and last_modified <= since
    return False
