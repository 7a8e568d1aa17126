"""The facts a paper copy states (regulation 8.3, SEED-MAP V4), read from a certificate:
an ECDSA certificate of a person with SNILS and INN and the Russian extensions, a GOST
R 34.10-2012 one of a legal entity, and a sole proprietor's."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from protocols.x509 import extensions as ext
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.certificate_facts import certificate_facts
from protocols.x509.extensions import IdentificationKind
from protocols.x509.names import build_name
from tests.gost_support import GostCA, require_engine

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
ISSUER = [("CN", "УЦ Пример"), ("O", "ООО Пример"), ("C", "RU")]
PERSON = [("CN", "Иванов Иван Иванович"), ("SN", "Иванов"), ("GN", "Иван Иванович"),
          ("title", "инженер"), ("SNILS", "11223344595"), ("INN", "500100732259"),
          ("C", "RU")]  # fmt: skip
RU_EXTENSIONS = [
    ext.key_usage({"digital_signature", "non_repudiation"}),
    ext.extended_key_usage(["client_auth", "email_protection"]),
    ext.certificate_policies(["1.2.643.100.113.1", "1.2.643.100.113.2"]),
    ext.private_key_usage_period(NOW, NOW + timedelta(days=455)),
    ext.subject_sign_tool("СКЗИ «КриптоПро CSP» (версия 5.0)"),
    ext.issuer_sign_tool("СКЗИ «Пример»", "ПАК «УЦ Пример»", "СФ/124-1", "СФ/128-2"),
    ext.identification_kind(IdentificationKind.PERSONAL),
]


def ec_certificate(
    subject: list[tuple[str, str]], serial: int, spki: bytes | None = None
) -> tuple[bytes, bytes]:
    """A certificate of `subject` with RU_EXTENSIONS signed by an ECDSA P-256 issuer, and
    the subject's SubjectPublicKeyInfo (`spki`, or a new P-256 key's)."""
    issuer_key = ec.generate_private_key(ec.SECP256R1())
    issuer_spki = issuer_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    if spki is None:
        spki = (
            ec.generate_private_key(ec.SECP256R1())
            .public_key()
            .public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    template = CertificateTemplate(
        serial=serial, issuer=build_name(ISSUER), subject=build_name(subject), spki_der=spki,
        not_before=NOW, not_after=NOW + timedelta(days=365),
        extensions=(*RU_EXTENSIONS, ext.authority_key_identifier(b"\x01" * 20)),
        signature_algorithm=signature_algorithm_for(issuer_spki),
    )  # fmt: skip
    tbs = build_tbs_certificate(template)
    signature = issuer_key.sign(tbs, ec.ECDSA(hashes.SHA256()))
    return assemble_certificate(tbs, template.signature_algorithm, signature), spki


def test_8_3_facts_of_an_ecdsa_certificate_of_a_person() -> None:
    der, spki = ec_certificate(PERSON, 0x1A2B3C)
    facts = certificate_facts(der)
    assert facts.serial == 0x1A2B3C
    assert (facts.not_before, facts.not_after) == (NOW, NOW + timedelta(days=365))
    assert facts.holder_kind == "individual"
    assert facts.full_name == "Иванов Иван Иванович"
    assert (facts.snils, facts.inn, facts.innle, facts.ogrn, facts.ogrnip) == (
        "11223344595", "500100732259", None, None, None,
    )  # fmt: skip
    assert facts.other_subject == (("title", "инженер"),)
    assert facts.issuer == tuple(ISSUER)
    assert facts.authority_key_id == b"\x01" * 20
    assert facts.key.algorithm == "EC" and facts.key.algorithm_oid == "1.2.840.10045.2.1"
    assert (facts.key.parameters, facts.key.parameters_oid) == ("secp256r1", "1.2.840.10045.3.1.7")
    assert (facts.key.size_bits, facts.key.short_name) == (256, "ec-p256")
    assert facts.key.value == spki[-65:] and facts.key.value[0] == 0x04  # uncompressed point
    assert facts.key_usage == ("digital_signature", "non_repudiation")
    assert facts.extended_key_usage == ("1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4")
    assert facts.policies == ("1.2.643.100.113.1", "1.2.643.100.113.2")
    assert facts.private_key_not_before == NOW
    assert facts.private_key_not_after == NOW + timedelta(days=455)
    assert facts.subject_sign_tool == "СКЗИ «КриптоПро CSP» (версия 5.0)"
    assert facts.issuer_sign_tool == ("СКЗИ «Пример»", "ПАК «УЦ Пример»", "СФ/124-1", "СФ/128-2")
    assert facts.identification_kind is IdentificationKind.PERSONAL
    assert facts.sha1 == hashlib.sha1(der).digest()
    assert facts.sha256 == hashlib.sha256(der).digest()


def test_8_3_facts_of_a_sole_proprietor() -> None:
    subject = [("CN", "ИП Петров"), ("SN", "Петров"), ("GN", "Пётр"),
               ("SNILS", "11223344595"), ("OGRNIP", "304500116000157"), ("C", "RU")]  # fmt: skip
    facts = certificate_facts(ec_certificate(subject, 7)[0])
    assert facts.holder_kind == "sole_proprietor"
    assert (facts.full_name, facts.ogrnip) == ("Петров Пётр", "304500116000157")


def test_8_3_facts_of_a_gost_certificate_of_a_legal_entity() -> None:
    require_engine()
    ca = GostCA.make(256, "A", NOW)
    subject = [("CN", "ООО Ромашка"), ("O", "ООО Ромашка"), ("street", "ул. Ленина, д. 1"),
               ("L", "Москва"), ("ST", "77 г. Москва"), ("C", "RU"),
               ("OGRN", "1027700132195"), ("INNLE", "7707083893")]  # fmt: skip
    der = ca.issue(build_name(subject), ca.spki, [ext.key_usage({"digital_signature"})], 42)
    facts = certificate_facts(der)
    assert facts.holder_kind == "legal_entity"
    assert (facts.organisation, facts.ogrn, facts.innle) == (
        "ООО Ромашка", "1027700132195", "7707083893",
    )  # fmt: skip
    assert facts.address == "ул. Ленина, д. 1, Москва, 77 г. Москва, RU"
    assert facts.issuer == (("CN", "GOST 256 A CA"), ("O", "Example"), ("C", "RU"))
    key = facts.key
    assert (key.algorithm, key.algorithm_oid) == ("GOST R 34.10-2012", "1.2.643.7.1.1.1.1")
    assert (key.parameters, key.parameters_oid) == ("CryptoPro-A", "1.2.643.2.2.35.1")
    assert (key.size_bits, key.short_name) == (256, "gost2012-256-a")
    assert key.value[:2] == b"\x04\x40" and len(key.value) == 66  # OCTET STRING of X ‖ Y
    assert facts.signature_algorithm == "1.2.643.7.1.1.3.2"
    assert facts.key_usage == ("digital_signature",) and facts.policies == ()
    assert facts.identification_kind is None and facts.subject_sign_tool is None


def test_8_3_facts_of_an_ed25519_key() -> None:
    spki = (
        ed25519.Ed25519PrivateKey.generate()
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    key = certificate_facts(ec_certificate(PERSON, 8, spki)[0]).key
    assert (key.algorithm, key.algorithm_oid, key.parameters) == ("Ed25519", "1.3.101.112", None)
    assert (key.size_bits, key.short_name, key.value) == (256, "ed25519", spki[-32:])


def test_garbage_is_not_a_certificate() -> None:
    with pytest.raises(ValueError):
        certificate_facts(b"\x30\x03\x02\x01\x01")
