"""multipart/form-data (RFC 7578) read from a whole body (server/web/form_data.py): files come
back octet for octet, CRs and boundary look-alikes included; file names as browsers,
aiohttp and RFC 2231 write them; everything else refused as MALFORMED, whatever the octets.
The bodies are written here by hand, as RFC 7578 4.1 and RFC 2046 5.1.1 frame them."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from server.errors import CAError, ErrorKind
from server.web.form_data import MAX_PARTS, FormField, form_fields

FORM = "multipart/form-data; boundary=XyZ"


def part(headers: str, content: bytes) -> bytes:
    return b"--XyZ\r\n" + headers.encode() + b"\r\n\r\n" + content + b"\r\n"


def refusal(content_type: str, body: bytes) -> str:
    with pytest.raises(CAError) as refused:
        form_fields(content_type, body)
    assert refused.value.kind is ErrorKind.MALFORMED
    return refused.value.message


def test_rfc7578_4_1_each_part_comes_back_as_sent() -> None:
    # RFC 2046 5.1.1: the delimiter is CRLF "--XyZ"; "--XyZ" after other octets is content
    binary = b"\x00\r\n--XyY\r\n\xff--XyZ\r"
    body = (
        b"a preamble, ignored\r\n"
        + part('Content-Disposition: form-data; name="signature"; filename="s.p7s"\r\n'
               "Content-Type: application/pkcs7-signature", binary)
        + part('Content-Disposition: form-data; name="submitter"', "Иванов".encode())
        + b"--XyZ--\r\nan epilogue, ignored"
    )  # fmt: skip
    assert form_fields(FORM, body) == {
        "signature": FormField("signature", "s.p7s", binary),
        "submitter": FormField("submitter", None, "Иванов".encode()),
    }


def test_rfc7578_4_2_file_names_raw_utf8_percent_encoded_or_rfc2231() -> None:
    body = (
        part('Content-Disposition: form-data; name="a"; filename="подпись.sig"', b"1")  # UTF-8
        + part('Content-Disposition: form-data; name="b"; filename="%D0%B4%D0%BE%D0%BA.pdf"', b"2")
        + part("Content-Disposition: form-data; name=\"c\"; filename*=utf-8''%D1%8F.cer", b"3")
        + b"--XyZ--"
    )  # fmt: skip
    names = {name: field.filename for name, field in form_fields(FORM, body).items()}
    assert names == {"a": "подпись.sig", "b": "док.pdf", "c": "я.cer"}


@pytest.mark.parametrize(
    ("content_type", "body", "message"),
    [
        ("application/json", b"{}", "the request is not multipart/form-data with a boundary"),
        ("multipart/form-data", b"--XyZ--",
         "the request is not multipart/form-data with a boundary"),
        (FORM, part('Content-Disposition: form-data; name="a"', b"1"), "no closing boundary"),
        (FORM, b"--XyZ junk\r\n\r\n1\r\n--XyZ--", "a boundary line with more after it"),
        (FORM, b"--XyZ\r\nContent-Disposition: form-data\r\n--XyZ--",
         "a part's header fields do not end"),
        (FORM, part("Content-Disposition: attachment; name=\"a\"", b"1") + b"--XyZ--",
         "a part is not Content-Disposition: form-data"),
        (FORM, part("Content-Disposition: form-data", b"1") + b"--XyZ--", "a part has no name"),
        (FORM, part('Content-Disposition: form-data; name="a"', b"1") * 2 + b"--XyZ--",
         "the field 'a' is given twice"),
        (FORM, part('Content-Disposition: form-data; name*="a"; name*1="b"', b"1") + b"--XyZ--",
         "the content-disposition parameter 'name' does not parse"),  # RFC 2231 3, unjoinable
        ('multipart/form-data; boundary*="a"; boundary*1="b"', b"--a--",
         "the request is not multipart/form-data with a boundary"),
        (FORM, b"".join(part(f'Content-Disposition: form-data; name="f{n}"', b"")
                        for n in range(MAX_PARTS + 1)) + b"--XyZ--",
         f"more than {MAX_PARTS} parts"),
    ],
)  # fmt: skip
def test_rfc7578_what_is_not_form_data_is_refused_by_name(
    content_type: str, body: bytes, message: str
) -> None:
    assert refusal(content_type, body) == f"multipart/form-data: {message}"


@given(st.binary(max_size=300))
def test_any_body_either_reads_or_is_refused_as_malformed(body: bytes) -> None:
    try:
        form_fields(FORM, b"--XyZ\r\n" + body)
    except CAError as refused:
        assert refused.kind is ErrorKind.MALFORMED
