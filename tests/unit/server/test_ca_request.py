"""The request of an issuing CA to its parent outside (issue 15, Hierarchy, second bullet;
RFC 2986 4.1; PKCS#9 extensionRequest, RFC 2985 5.4.2): signed by the new CA key it names,
the subject from `ca.subject`, the CA extensions a CA certificate of these settings carries
but those only the issuer can say (authorityKeyIdentifier, issuerSignTool).

pkilint has no linter for PKCS#10 requests (pkilint.pkix lints certificates, CRLs and OCSP
responses), so the request is checked here field by field and by OpenSSL
(tests/integration/test_subordinate.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from asn1crypto import csr as asn1_csr
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from hsm.software import SoftwareBackend
from protocols.x509 import extensions as ext
from server.errors import CAError, ErrorKind
from server.generations.parent import request_ca_certificate
from tests.local_ca import settings_for
from tests.unit.server.test_ca_certificate_content import (
    KC2_PROFILE,
    RUSSIAN_ENV,
    SUBJECT_SIGN_TOOL,
)


def requested(der: bytes) -> list[asn1_x509.Extension]:
    """The extensions of the request's one extensionRequest attribute."""
    info = asn1_csr.CertificationRequest.load(der)["certification_request_info"]
    [attribute] = [a for a in info["attributes"] if a["type"].native == "extension_request"]
    [extensions] = attribute["values"]
    return list(extensions)


def outline(der: bytes) -> list[tuple[str, bool]]:
    return [(e["extn_id"].native, e["critical"].native) for e in requested(der)]


@pytest.fixture
def backend(tmp_path: Path) -> SoftwareBackend:
    (tmp_path / "keys").mkdir(mode=0o700)
    return SoftwareBackend(tmp_path / "keys", b"test passphrase")


def test_rfc2986_request_is_signed_by_the_new_ca_key_for_the_ca_subject(
    tmp_path: Path, backend: SoftwareBackend
) -> None:
    settings = settings_for(tmp_path, CA_CA__SUBJECT='"CN=Sub CA,O=Test,C=RU"')
    made = request_ca_certificate(settings, backend)
    request = x509.load_der_x509_csr(made.csr_der)
    assert request.is_signature_valid
    assert request.subject.rfc4514_string() == "CN=Sub CA,O=Test,C=RU"
    spki = request.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    assert spki == backend.public_key_der(made.key)
    assert made.key.uri.endswith("demo-ca-g1.pem")


def test_hierarchy_request_asks_for_the_ca_extensions(
    tmp_path: Path, backend: SoftwareBackend
) -> None:
    made = request_ca_certificate(settings_for(tmp_path), backend)
    assert outline(made.csr_der) == [
        ("basic_constraints", True),
        ("key_usage", True),
        ("key_identifier", False),
    ]
    constraints, usage, key_id = (e["extn_value"].parsed for e in requested(made.csr_der))
    assert constraints.native == {"ca": True, "path_len_constraint": None}
    assert {"key_cert_sign", "crl_sign"} <= usage.native
    assert key_id.native == ext.key_identifier(backend.public_key_der(made.key))


def test_hierarchy_request_asks_for_the_russian_content_the_settings_give(
    tmp_path: Path, backend: SoftwareBackend
) -> None:
    """With ca.subject_sign_tool set: subjectSignTool and the class policies the CA issues;
    not issuerSignTool, which names the parent's tools."""
    settings = settings_for(tmp_path, KC2_PROFILE, **RUSSIAN_ENV)
    made = request_ca_certificate(settings, backend)
    assert outline(made.csr_der) == [
        ("basic_constraints", True),
        ("key_usage", True),
        ("key_identifier", False),
        ("certificate_policies", False),
        ("1.2.643.100.111", False),
    ]
    policies, tool = requested(made.csr_der)[3:]
    assert [p["policy_identifier"].native for p in policies["extn_value"].parsed] == [
        "1.2.643.100.113.1",
        "1.2.643.100.113.2",
    ]
    assert tool["extn_value"] == ext.subject_sign_tool(SUBJECT_SIGN_TOOL)["extn_value"]


def test_a_bad_subject_is_refused_before_a_key_is_made(
    tmp_path: Path, backend: SoftwareBackend
) -> None:
    settings = settings_for(tmp_path, CA_CA__SUBJECT='"CN=Sub CA,XX=what"')
    with pytest.raises(CAError) as raised:
        request_ca_certificate(settings, backend)
    assert raised.value.kind is ErrorKind.REJECTED
    assert str(raised.value).startswith("ca.subject: ")
    assert list((tmp_path / "keys").iterdir()) == []
