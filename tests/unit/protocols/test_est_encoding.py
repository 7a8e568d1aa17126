"""EST transfer encodings: base64 bodies in and out, multipart/mixed out and back.

Vectors and their origin:
- base64 bodies: "Man" / "TWFu" and the padding cases of RFC 4648 section 10 ("f", "fo",
  "foo" ...), wrapped as clients wrap them (64 and 76 columns, LF and CRLF, spaces, tabs);
- bad bodies written by hand, one per rule: empty, PEM armour, base64url, a byte outside the
  alphabet, missing or misplaced padding;
- random DER-sized octet strings (seeded) for round trips, and random octets for "decodes or
  raises ESTFormatError";
- multipart bodies written by :func:`multipart_mixed` and read by the standard library's
  MIME parser through :func:`parse_multipart_mixed`; broken ones cut or edited by hand.
"""

import base64
import contextlib
import random

import pytest

from protocols.est import (
    CERTS_ONLY_CT,
    CSRATTRS_CT,
    PKCS7_MIME,
    PKCS10_CT,
    ESTFormatError,
    base64_body,
    decode_base64_body,
    multipart_mixed,
    parse_multipart_mixed,
)

RFC4648_VECTORS = [  # RFC 4648 section 10
    (b"", b""),
    (b"f", b"Zg=="),
    (b"fo", b"Zm8="),
    (b"foo", b"Zm9v"),
    (b"foob", b"Zm9vYg=="),
    (b"fooba", b"Zm9vYmE="),
    (b"foobar", b"Zm9vYmFy"),
]


def wrapped(data: bytes, width: int, newline: bytes) -> bytes:
    text = base64.b64encode(data)
    return newline.join(text[i : i + width] for i in range(0, len(text), width)) + newline


def test_media_types_are_those_of_rfc_7030():
    assert PKCS7_MIME == "application/pkcs7-mime"
    assert CERTS_ONLY_CT == "application/pkcs7-mime; smime-type=certs-only"
    assert CSRATTRS_CT == "application/csrattrs"
    assert PKCS10_CT == "application/pkcs10"


@pytest.mark.parametrize(("data", "text"), RFC4648_VECTORS[1:])
def test_decodes_the_rfc_4648_vectors(data, text):
    assert decode_base64_body(text) == data


@pytest.mark.parametrize(
    "layout",
    [
        pytest.param(lambda d: base64.b64encode(d), id="one line"),
        pytest.param(lambda d: wrapped(d, 64, b"\n"), id="64 columns LF"),
        pytest.param(lambda d: wrapped(d, 76, b"\r\n"), id="76 columns CRLF"),
        pytest.param(lambda d: b"\r\n  " + wrapped(d, 10, b" \t\n") + b"\n\n", id="spaces"),
        pytest.param(lambda d: b" ".join(bytes([c]) for c in base64.b64encode(d)), id="spread"),
    ],
)
def test_whitespace_and_line_breaks_anywhere_are_ignored(layout):
    data = random.Random(7030).randbytes(500)
    assert decode_base64_body(layout(data)) == data


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "empty body"),
        (b" \r\n\t", "empty body"),
        (
            b"-----BEGIN CERTIFICATE REQUEST-----\nMIIB\n-----END CERTIFICATE REQUEST-----\n",
            "PEM is not accepted",
        ),
        (b"-----BEGIN PKCS7-----\nMIIB\n", "PEM is not accepted"),
        (b"Zm9v-_8=", "base64url"),
        (b"Zm9v!!!!", "byte 0x21 at offset 4"),
        (b"Zm9v\xffYmFy", "byte 0xff at offset 4"),
        (b"Zm9vYg", "not a multiple of 4"),
        (b"Zm9vYmE", "not a multiple of 4"),
        (b"Zg", "not a multiple of 4"),
        (b"Zm9", "not a multiple of 4"),
        (b"Z===", "not a multiple of 4"),
        (b"Zg==Zg==", "'=' before the end"),
        (b"Zm=v", "'=' before the end"),
        (b"hello, world", "not base64"),
    ],
)
def test_what_is_not_base64_is_refused_with_a_clear_message(body, message):
    with pytest.raises(ESTFormatError, match=message):
        decode_base64_body(body)


def test_random_octets_decode_or_raise_est_format_error():
    rng = random.Random(8951)
    alphabet = b"ABCxyz019+/= \r\n-_!\x00\xff"
    for _ in range(3000):
        body = bytes(rng.choice(alphabet) for _ in range(rng.randrange(0, 24)))
        with contextlib.suppress(ESTFormatError):
            decode_base64_body(body)


def test_base64_body_lines_are_64_characters_ended_by_lf():
    der = random.Random(1).randbytes(200)
    body = base64_body(der)
    lines = body.split(b"\n")
    assert lines[-1] == b""
    assert all(len(line) == 64 for line in lines[:-2])
    assert 0 < len(lines[-2]) <= 64
    assert base64.b64decode(body) == der
    assert base64_body(b"") == b""
    assert base64_body(bytes(48)) == b"A" * 64 + b"\n"
    assert base64_body(b"foo", b"\r\n") == b"Zm9v\r\n"


@pytest.mark.parametrize("size", [0, 1, 2, 3, 47, 48, 49, 1000])
@pytest.mark.parametrize("newline", [b"\n", b"\r\n"])
def test_decode_reads_what_base64_body_writes(size, newline):
    der = random.Random(size).randbytes(size)
    if size:
        assert decode_base64_body(base64_body(der, newline)) == der


def test_multipart_mixed_is_laid_out_as_rfc_2046_says():
    body, content_type = multipart_mixed(
        [("application/pkcs8", b"key"), (CERTS_ONLY_CT, b"cms")], "est-server-boundary"
    )
    assert content_type == "multipart/mixed; boundary=est-server-boundary"
    assert body == (
        b"--est-server-boundary\r\n"
        b"Content-Type: application/pkcs8\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"a2V5\r\n"
        b"--est-server-boundary\r\n"
        b"Content-Type: application/pkcs7-mime; smime-type=certs-only\r\n"
        b"Content-Transfer-Encoding: base64\r\n"
        b"\r\n"
        b"Y21z\r\n"
        b"--est-server-boundary--\r\n"
    )


@pytest.mark.parametrize(
    ("boundary", "header"),
    [
        ("simple", "multipart/mixed; boundary=simple"),
        ("a:b/c=d?", 'multipart/mixed; boundary="a:b/c=d?"'),
        ("with space", 'multipart/mixed; boundary="with space"'),
        ("x" * 70, "multipart/mixed; boundary=" + "x" * 70),
    ],
)
def test_boundaries_are_quoted_when_they_must_be_and_read_back(boundary, header):
    payloads = [random.Random(n).randbytes(100 * n) for n in (1, 2, 3)]
    body, content_type = multipart_mixed(
        [("application/octet-stream", p) for p in payloads], boundary
    )
    assert content_type == header
    parts = parse_multipart_mixed(body, content_type)
    assert [decode_base64_body(content) for _, content in parts] == payloads
    assert all(
        headers
        == {
            "content-type": "application/octet-stream",
            "content-transfer-encoding": "base64",
        }
        for headers, _ in parts
    )


@pytest.mark.parametrize("boundary", ["", "x" * 71, "trailing ", "semi;colon", "é", 'q"uote'])
def test_a_boundary_rfc_2046_forbids_is_refused(boundary):
    with pytest.raises(ValueError, match="RFC 2046"):
        multipart_mixed([("text/plain", b"x")], boundary)


def test_a_multipart_needs_parts_and_sane_content_types():
    with pytest.raises(ValueError, match="at least one part"):
        multipart_mixed([], "b")
    with pytest.raises(ValueError, match="break the header"):
        multipart_mixed([("text/plain\r\nX-Evil: 1", b"x")], "b")


GOOD, GOOD_CT = multipart_mixed([("application/pkcs8", b"key"), (PKCS7_MIME, b"cms")], "bnd")


@pytest.mark.parametrize(
    ("body", "content_type", "message"),
    [
        (GOOD, "text/plain", "expected multipart/mixed"),
        (GOOD, "multipart/mixed", "expected multipart/mixed with a boundary"),
        (GOOD, "multipart/alternative; boundary=bnd", "expected multipart/mixed"),
        (GOOD, "multipart/mixed; boundary=other", "malformed multipart"),
        (GOOD[: GOOD.rindex(b"--bnd--")], GOOD_CT, "CloseBoundaryNotFound"),
        (b"no delimiter at all\r\n", GOOD_CT, "malformed multipart"),
        (b"--bnd--\r\n", GOOD_CT, "no parts|malformed"),
        (GOOD, "multipart/mixed; boundary=bnd\r\nX: y", "line break"),
    ],
)
def test_broken_multipart_bodies_are_refused(body, content_type, message):
    with pytest.raises(ESTFormatError, match=message):
        parse_multipart_mixed(body, content_type)


def test_a_nested_multipart_is_refused():
    inner, inner_ct = multipart_mixed([("text/plain", b"x")], "inner")
    outer = (
        b"--outer\r\nContent-Type: "
        + inner_ct.encode()
        + b"\r\n\r\n"
        + inner
        + b"\r\n--outer--\r\n"
    )
    with pytest.raises(ESTFormatError, match="itself multipart"):
        parse_multipart_mixed(outer, "multipart/mixed; boundary=outer")
