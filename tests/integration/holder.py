"""The holder's side of the README's registration-authority walk-through, as its commands
do it: a key and request by `openssl req`, EST simpleenroll with an enrollment code by
curl, the certificate out of the PKCS#7 answer, its status by `openssl ocsp`.

`env` adds to the clients' environment: on a GOST CA, an OPENSSL_CONF that loads gost-engine
(tests/gost_support.py), so that openssl makes GOST keys and curl and openssl verify the
CA's GOST signatures."""

from __future__ import annotations

import base64
import os
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from tests.integration.cli import openssl
from tests.integration.server_process import ServerProcess

EC_P256 = ("-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256")
GOST_256_A = ("-newkey", "gost2012_256", "-pkeyopt", "paramset:A", "-md_gost12_256")


def make_request(
    folder: Path, name: str, new_key: tuple[str, ...], env: dict[str, str] | None = None
) -> Path:
    """`openssl req -new` with an empty subject (the registry gives it): `name`.key, and
    `name`.b64, the request as EST carries it."""
    request = folder / f"{name}.der"
    made = openssl("req", "-new", *new_key, "-nodes", "-keyout", folder / f"{name}.key",
                   "-subj", "/", "-outform", "DER", "-out", request, env=env)  # fmt: skip
    assert made.returncode == 0, made.stderr
    b64 = folder / f"{name}.b64"
    b64.write_bytes(base64.encodebytes(request.read_bytes()))
    return b64


def simpleenroll(
    server: ServerProcess,
    ca_file: Path,
    code: tuple[str, str],
    request: Path,
    profile: str,
    env: dict[str, str] | None = None,
) -> tuple[int, bytes]:
    """RFC 7030 4.2.1 by curl, authenticated by an enrollment code (id, secret) over HTTP
    Basic: (HTTP status, body)."""
    body = request.with_suffix(".answer")
    result = subprocess.run(
        ["curl", "-s", "-o", body, "-w", "%{http_code}", "--cacert", ca_file,
         "-u", ":".join(code), "-H", "Content-Type: application/pkcs10",
         "--data-binary", f"@{request}",
         f"{server.tls_url}/.well-known/est/{profile}/simpleenroll"],
        capture_output=True, timeout=60, env={**os.environ, **(env or {})},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return int(result.stdout), body.read_bytes()


def certificate_from(answer: bytes, leaf: Path) -> bytes:
    """The certificate of a simpleenroll answer (base64 PKCS#7), written to `leaf` as PEM
    by `openssl pkcs7 -print_certs`; returned as DER."""
    printed = openssl(
        "pkcs7", "-inform", "DER", "-print_certs", input_data=base64.b64decode(answer)
    )
    assert printed.returncode == 0, printed.stderr
    leaf.write_bytes(printed.stdout)
    return x509.load_pem_x509_certificate(printed.stdout).public_bytes(Encoding.DER)


def ocsp_status(ca_file: Path, leaf: Path, url: str, env: dict[str, str] | None = None) -> str:
    """`openssl ocsp` for `leaf`, the response verified against the CA: its text."""
    result = openssl("ocsp", "-issuer", ca_file, "-CAfile", ca_file, "-cert", leaf,
                     "-url", url, "-resp_text", env=env)  # fmt: skip
    out = (result.stdout + result.stderr).decode()
    assert result.returncode == 0 and "Response verify OK" in out, out
    return out
