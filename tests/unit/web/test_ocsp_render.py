"""The dedicated OCSP listener's HTTP rendering: a live answer (nonce, error) is written
from a head made once, byte for byte what the general rendering gives, and never cacheable
(RFC 5019 6.2: a nonce answer is for one request)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from server.status.ocsp_responder import OCSPAnswer
from server.web import ocsp_listener
from server.web.ocsp import CONTENT_TYPE, answer_headers
from server.web.ocsp_listener import RenderedAnswers, _head, render


@pytest.mark.parametrize("keep_alive", [True, False])
def test_a_live_answer_is_rendered_as_the_general_head_says(keep_alive: bool) -> None:
    answer = OCSPAnswer(der=b"\x30\x03\x0a\x01\x01")
    general = {"Content-Type": CONTENT_TYPE, **answer_headers(answer)}
    expected = _head("200 OK", general, len(answer.der), keep_alive) + answer.der
    assert render(answer, b'"anything"', keep_alive) == expected
    assert b"Cache-Control: no-store\r\n" in expected
    assert (b"Connection: close" in expected) is not keep_alive


def test_a_pre_signed_answer_still_gets_its_caching_headers() -> None:
    now = datetime.now(UTC)
    answer = OCSPAnswer(b"\x30\x00", 3600, now, now + timedelta(hours=2), "abc")
    rendered = render(answer, None, True)
    assert b'ETag: "abc"' in rendered and b"public, no-transform, must-revalidate" in rendered
    assert render(answer, b'"abc"', True).startswith(b"HTTP/1.1 304 Not Modified\r\n")


class Version:
    version = 1


def test_the_rendered_answers_kept_are_bounded_in_bytes_not_only_in_number(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Each POST key is a whole request body: distinct large bodies must not grow the
    cache beyond its byte bound; it starts again empty instead."""
    monkeypatch.setattr(ocsp_listener, "CACHED_BYTES", 100_000)
    now = datetime.now(UTC)
    answer = OCSPAnswer(b"\x30\x00", 3600, now, now + timedelta(hours=2), "abc")
    rendered = RenderedAnswers(Version())  # type: ignore[arg-type]
    keys = [b"/ocsp %d " % n + b"x" * 16_000 for n in range(20)]
    for key in keys:
        rendered.put(key, answer)
    kept = [key for key in keys if rendered.get(key) is not None]
    assert kept and kept == keys[-len(kept) :]
    assert sum(len(key) for key in kept) <= 100_000
    rendered.put(keys[-1], answer)  # put again: counted once
    assert rendered.get(keys[-1]) is not None and rendered.get(keys[-2]) is not None
