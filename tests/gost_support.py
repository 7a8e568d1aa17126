"""What tests of GOST R 34.10-2012 share: the engine or a printed reason to skip, the
`openssl` command line with gost-engine loaded through an OPENSSL_CONF of the test's own
(reference/ru-profile.md 6.1: no dynamic_path, the system openssl.cnf untouched),
Streebog by gostcrypto (pure Python, apart from the engine; its signature check is
tests/gost_oracle.py), the example certificates of RFC 9215, and a small GOST CA."""

from __future__ import annotations

import base64
import os
import subprocess
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import gostcrypto.gosthash
import pytest
from asn1crypto import x509 as asn1_x509

from hsm import gost_engine
from protocols import der, gost
from protocols.x509 import extensions as ext
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.names import build_name
from protocols.x509.spki import certificate_spki
from tests import gost_oracle

# The example certificates of RFC 9215's appendix, as pyasn1-alt-modules' tests/test_rfc9215.py
# carries them: self-signed, a 256-bit key on TC26-A (no digestParamSet) and a 512-bit key on
# the 512-bit test parameter set 1.2.643.7.1.2.1.2.0.
RFC9215_256_TC26A_CERTIFICATE = base64.b64decode(
    "MIIBJTCB06ADAgECAgEKMAoGCCqFAwcBAQMCMBIxEDAOBgNVBAMTB0V4YW1wbGUw"
    "IBcNMDEwMTAxMDAwMDAwWhgPMjA1MDEyMzEwMDAwMDBaMBIxEDAOBgNVBAMTB0V4"
    "YW1wbGUwXjAXBggqhQMHAQEBATALBgkqhQMHAQIBAQEDQwAEQHQnldS+6ITd8oUP"
    "7APqP68YROAdnaYLZFCTpV4m38OZePWWz01NDGzx0YlD2UST0WuewKFtUS0uEnzE"
    "aRpjGOKjEzARMA8GA1UdEwEB/wQFMAMBAf8wCgYIKoUDBwEBAwIDQQAUC02pEksJ"
    "yw1c6Sjuh0JzoxASlJLsDik2njt5EkhXjB0OHaW+NHxvG1JWx66sIArWSsd6b1s6"
    "DglzGOeubudp"
)
RFC9215_512_TEST_SET_CERTIFICATE = base64.b64decode(
    "MIIBqjCCARagAwIBAgIBCzAKBggqhQMHAQEDAzASMRAwDgYDVQQDEwdFeGFtcGxl"
    "MCAXDTAxMDEwMTAwMDAwMFoYDzIwNTAxMjMxMDAwMDAwWjASMRAwDgYDVQQDEwdF"
    "eGFtcGxlMIGgMBcGCCqFAwcBAQECMAsGCSqFAwcBAgECAAOBhAAEgYDh7zDVLGEz"
    "3dmdHVxBRVz3302LTJJbvGmvFDPRVlhRWt0hRoUMMlxbgcEzvmVaqMTUQOe5io1Z"
    "SHsMdpa8xV0R7L53NqnsNX/y/TmTH04RTLjNo1knCsfw5/9D2UGUGeph/Sq3f12f"
    "Y1I9O1CgT2PioM9Rt8E63CFWDwvUDMnHN6MTMBEwDwYDVR0TAQH/BAUwAwEB/zAK"
    "BggqhQMHAQEDAwOBgQBBVwPYkvGl8/aMQ1MYmn7iB7gLVjHvnUlSmk1rVCws+hWq"
    "LqzxH0cP3n2VSFaQPDX9j5Ve8wDZXHdTSnJKDu5wL4b6YKCBCRoj3XleHjxonuUS"
    "o8gu4NzCZDx47qj8rNNUklWEhrIPHJ7Bl8kGmYUCYMk7y82cXDMX4ZNE4XOuNg=="
)


# ru-profile.md 6.1: the engine loaded by id from ENGINESDIR, default for what it implements;
# gost-engine's provider beside the default one, as `openssl cmp` fetches its -digest
# (md_gost12_256) through the provider API, which engines do not serve.
OPENSSL_CONF = """\
openssl_conf = openssl_init

[openssl_init]
engines = engines_section
providers = providers_section

[engines_section]
gost = gost_section

[gost_section]
engine_id = gost
default_algorithms = ALL

[providers_section]
default = default_provider
gostprov = gost_provider

[default_provider]
activate = 1

[gost_provider]
activate = 1
"""


def require_engine() -> None:
    """Skip, saying why, when OpenSSL's GOST engine cannot be used here (scripts/setup.sh
    installs it, so on a machine set up by the README nothing skips)."""
    reason = gost_engine.available()
    if reason is not None:
        print(f"GOST engine not usable: {reason}")
        pytest.skip(f"GOST engine not usable (run scripts/setup.sh): {reason}")


def openssl_conf(directory: Path) -> Path:
    """An OpenSSL configuration that loads gost-engine, written in ``directory``."""
    path = directory / "openssl-gost.cnf"
    path.write_text(OPENSSL_CONF, encoding="ascii")
    return path


def openssl(directory: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """`openssl *args` in ``directory`` with the GOST engine loaded by configuration."""
    env = {**os.environ, "OPENSSL_CONF": str(openssl_conf(directory))}
    return subprocess.run(
        ["openssl", *args], cwd=directory, env=env, capture_output=True, text=True, check=check
    )


def streebog(name: str, data: bytes) -> bytes:
    """Streebog by gostcrypto ("streebog256" or "streebog512"), apart from the engine."""
    return bytes(gostcrypto.gosthash.new(name, data=data).digest())


def pem(der: bytes, label: str) -> str:
    body = base64.encodebytes(der).decode()
    return f"-----BEGIN {label}-----\n{body}-----END {label}-----\n"


@dataclass
class GostCA:
    """A self-signed GOST CA whose key hsm.gost_engine holds; certificates built by
    protocols.x509.certificate, valid a year from ``now``."""

    key: gost_engine.PrivateKey
    spki: bytes
    name: asn1_x509.Name
    now: datetime
    certificate: bytes

    @classmethod
    def make(cls, bits: int, paramset: str, now: datetime) -> GostCA:
        key = gost_engine.generate_private_key(bits, paramset)
        spki = key.public_key_der()
        name = build_name([("CN", f"GOST {bits} {paramset} CA"), ("O", "Example"), ("C", "RU")])
        ca = cls(key, spki, name, now, b"")
        ca.certificate = ca.issue(
            name,
            spki,
            [
                ext.basic_constraints(ca=True),
                ext.key_usage({"key_cert_sign", "crl_sign", "digital_signature"}),
                ext.subject_key_identifier(spki),
            ],
            serial=1,
        )
        return ca

    def sign(self, tbs: bytes) -> bytes:
        return self.key.sign(tbs)

    def issue(
        self,
        subject: asn1_x509.Name,
        spki: bytes,
        extensions: list[asn1_x509.Extension],
        serial: int,
    ) -> bytes:
        template = CertificateTemplate(
            serial=serial,
            issuer=self.name,
            subject=subject,
            spki_der=spki,
            not_before=self.now,
            not_after=self.now + timedelta(days=365),
            extensions=tuple(extensions),
            signature_algorithm=signature_algorithm_for(self.spki),
        )
        tbs = build_tbs_certificate(template)
        return assemble_certificate(tbs, template.signature_algorithm, self.sign(tbs))


def pem_der(text: str | bytes | Path) -> bytes:
    """The first PEM block of `text` (or of the file), DER (openssl pkcs7 -print_certs
    writes subject and issuer lines before it)."""
    if isinstance(text, Path):
        text = text.read_text()
    if isinstance(text, bytes):
        text = text.decode("ascii")
    body = text.split("-----BEGIN ", 1)[1].split("-----END ", 1)[0]
    return base64.b64decode("".join(body.splitlines()[1:]))


def signed_parts(signed_der: bytes) -> tuple[bytes, str, bytes]:
    """(toBeSigned octets, signature algorithm OID, signature) of a SIGNED{} structure (a
    certificate, a CRL: RFC 5280 4.1.1, 5.1.1), cut out of the DER as signed."""
    (_, tbs), (_, algorithm), (_, bits) = der.elements(signed_der)
    oid = asn1_x509.AlgorithmIdentifier.load(algorithm)["algorithm"].dotted
    return tbs, oid, der.contents(bits)[1:]


def gostcrypto_verifies(signed_der: bytes, issuer_certificate_der: bytes) -> bool:
    """Whether the signature of a certificate or CRL is the issuer's, checked by gostcrypto
    (tests/gost_oracle.py), apart from the engine that made it."""
    tbs, _, signature = signed_parts(signed_der)
    return gost_oracle.verify(certificate_spki(issuer_certificate_der), signature, tbs)


# A profile that takes GOST keys (and EC ones) on any CA, as a GOST CA's TLS profiles take
# them (server/cli/settings_file.py), for tests of keys the CA makes (serverkeygen, CMP
# central key generation); and the environments of an EC CA and of a GOST CA to run them on.
GOST_DEVICE_PROFILE = """
[profiles.gost-device]
validity_days = 30
key_algorithms = ["gost2012-256-a", "gost2012-256-tca", "gost2012-512-c", "ec-p256"]
key_usage = ["digital_signature"]
subject_attributes = ["CN", "O"]
san_types = ["dns"]
"""
CA_ENVIRONMENTS: dict[str, dict[str, str]] = {
    "ec-ca": {},
    "gost-ca": {"CA_CA__ALGORITHM": '"gost2012-256-a"'},
}


def public_key_of_pkcs8(directory: Path, pkcs8: bytes) -> bytes:
    """The DER SubjectPublicKeyInfo `openssl pkey` with gost-engine derives from the DER
    PKCS#8 private key ``pkcs8`` (which holds no public key: it is computed)."""
    (directory / "generated.der").write_bytes(pkcs8)
    openssl(directory, "pkey", "-inform", "DER", "-in", "generated.der", "-pubout",
            "-outform", "DER", "-out", "generated-pub.der")  # fmt: skip
    return (directory / "generated-pub.der").read_bytes()


def assert_gost_key_of_certificate(
    directory: Path, pkcs8: bytes, certificate: bytes, bits: int, paramset: str
) -> None:
    """``pkcs8`` is a GOST key of ``bits`` on gost-engine's ``paramset``, read by openssl,
    and its public key is the certificate's: the same point on the same set, whichever
    digestParamSet form each writes (protocols/gost.py)."""
    public = public_key_of_pkcs8(directory, pkcs8)
    certified = certificate_spki(certificate)
    assert gost_engine.paramset_of(public) == (bits, paramset)
    assert gost_engine.paramset_of(certified) == (bits, paramset)
    assert gost.read_spki(public) == gost.read_spki(certified)
    private_key_algorithm = der.elements(pkcs8)[1][1]
    assert private_key_algorithm == der.elements(public)[0][1]
