"""The API's request bodies (server/web/api/common.py): any octets are a JSON value or
CAError(MALFORMED), and any JSON value either meets a route's request schema or is
refused with CAError(MALFORMED) (RFC 8259; 9 lets a parser limit nesting). Seeded with
bodies the API tests send: a credential request and a revocation."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from server.errors import CAError, ErrorKind
from server.web.api import openapi
from server.web.api.common import check, json_body
from tests.fuzz.mutations import FUZZ, hostile

SEEDS = [
    json.dumps({"profile": "tls-client", "subject": "CN=device,O=Plant", "valid_hours": 24,
                "dns": ["a.example"], "ip": ["192.0.2.1"], "email": []}).encode(),
    json.dumps({"reason": "keyCompromise", "grounds": "lost laptop",
                "invalidity_date": "2026-01-01T00:00:00Z"}).encode(),
]  # fmt: skip
NESTED = st.builds(
    lambda depth, open_, close: open_ * depth + close * depth,
    st.integers(1, 100_000), st.sampled_from([b"[", b'{"a":']), st.sampled_from([b"]", b"}", b""]),
)  # fmt: skip


def test_rfc8259_any_body_is_json_or_malformed() -> None:
    @FUZZ
    @given(st.one_of(hostile(SEEDS), NESTED), st.sampled_from(sorted(openapi.SCHEMAS)))
    def check_body(raw: bytes, schema: str) -> None:
        try:
            check(openapi.SCHEMAS[schema], json_body(raw), "body")
        except CAError as refusal:
            assert refusal.kind is ErrorKind.MALFORMED

    check_body()
