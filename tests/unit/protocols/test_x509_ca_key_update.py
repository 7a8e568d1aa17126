"""protocols/x509/ca_key_update.py: the templates of a root CA key update (RFC 9810 4.4),
from an old self-signed certificate made here with pyca/cryptography and a new P-384 key
(so the signature algorithm follows the signing key, not the certified one)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID

from protocols.x509 import extensions as ext
from protocols.x509.ca_key_update import KeyUpdateCertificate, key_update_template
from protocols.x509.certificate import CertificateTemplate

START = datetime(2026, 1, 1, tzinfo=UTC)
NOW = datetime(2030, 6, 1, tzinfo=UTC)
OLD_END = datetime(2036, 1, 1, tzinfo=UTC)
NEW_END = datetime(2040, 6, 1, tzinfo=UTC)
NEW_WITH_NEW, NEW_WITH_OLD, OLD_WITH_NEW = KeyUpdateCertificate
NAME = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Root CA")])


def spki_der(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


OLD_KEY = ec.generate_private_key(ec.SECP256R1())
NEW_KEY = ec.generate_private_key(ec.SECP384R1())
OLD_ID, NEW_ID = ext.key_identifier(spki_der(OLD_KEY)), ext.key_identifier(spki_der(NEW_KEY))
POLICIES = x509.CertificatePolicies(
    [x509.PolicyInformation(x509.ObjectIdentifier("1.2.643.100.113.1"), None)]
)


def old_with_old(issuer: x509.Name = NAME) -> bytes:
    builder = (
        x509.CertificateBuilder()
        .subject_name(NAME)
        .issuer_name(issuer)
        .public_key(OLD_KEY.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(OLD_END)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier(OLD_ID), critical=False)
        .add_extension(x509.AuthorityKeyIdentifier(OLD_ID, None, None), critical=False)
        .add_extension(POLICIES, critical=False)
    )
    return builder.sign(OLD_KEY, hashes.SHA256()).public_bytes(Encoding.DER)


def template(
    kind: KeyUpdateCertificate, now: datetime = NOW, new_end: datetime = NEW_END
) -> CertificateTemplate:
    return key_update_template(kind, old_with_old(), spki_der(NEW_KEY), 7, now, new_end)


def key_ids(extensions: tuple[asn1_x509.Extension, ...]) -> tuple[bytes, bytes]:
    by_name = {e["extn_id"].native: e["extn_value"].native for e in extensions}
    return by_name["key_identifier"], by_name["authority_key_identifier"]["key_identifier"]


@pytest.mark.parametrize(
    ("kind", "spki", "ids", "validity", "algorithm"),
    [
        (NEW_WITH_NEW, "new", (NEW_ID, NEW_ID), (NOW, NEW_END), "sha384_ecdsa"),
        (NEW_WITH_OLD, "new", (NEW_ID, OLD_ID), (NOW, OLD_END), "sha256_ecdsa"),
        (OLD_WITH_NEW, "old", (OLD_ID, NEW_ID), (START, OLD_END), "sha384_ecdsa"),
    ],
)  # fmt: skip
def test_rfc9810_4_4_each_certificate_of_a_key_update(
    kind: KeyUpdateCertificate,
    spki: str,
    ids: tuple[bytes, bytes],
    validity: tuple[datetime, datetime],
    algorithm: str,
) -> None:
    made = template(kind)
    name = asn1_x509.Certificate.load(old_with_old()).subject.dump()
    assert made.subject.dump() == made.issuer.dump() == name
    assert made.spki_der == spki_der(NEW_KEY if spki == "new" else OLD_KEY)
    assert key_ids(made.extensions) == ids
    assert (made.not_before, made.not_after) == validity
    assert made.signature_algorithm == algorithm
    # OldWithOld's other extensions, critical flags and order kept.
    assert [(e["extn_id"].native, e["critical"].native) for e in made.extensions] == [
        ("basic_constraints", True), ("key_identifier", False),
        ("authority_key_identifier", False), ("certificate_policies", False)]  # fmt: skip


def test_rfc9810_4_4_new_with_old_ends_with_new_with_new_when_that_is_sooner() -> None:
    soon = NOW + timedelta(days=30)
    assert template(KeyUpdateCertificate.NEW_WITH_OLD, new_end=soon).not_after == soon


def test_a_key_update_needs_a_self_issued_certificate_valid_now() -> None:
    other = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Another CA")])
    with pytest.raises(ValueError, match="not self-issued"):
        key_update_template(KeyUpdateCertificate.NEW_WITH_OLD, old_with_old(other),
                            spki_der(NEW_KEY), 7, NOW, NEW_END)  # fmt: skip
    with pytest.raises(ValueError, match="not valid now"):
        template(KeyUpdateCertificate.NEW_WITH_NEW, now=OLD_END)


OLD_USAGE_END = datetime(2033, 1, 1, tzinfo=UTC)
NEW_USAGE_END = datetime(2037, 6, 1, tzinfo=UTC)


def old_with_old_stating_its_key_usage() -> bytes:
    old = x509.load_der_x509_certificate(old_with_old())
    builder = (
        x509.CertificateBuilder()
        .subject_name(old.subject)
        .issuer_name(old.issuer)
        .public_key(OLD_KEY.public_key())
        .serial_number(1)
        .not_valid_before(START)
        .not_valid_after(OLD_END)
    )
    for extension in old.extensions:
        builder = builder.add_extension(extension.value, extension.critical)
    usage = x509.PrivateKeyUsagePeriod(
        START.replace(tzinfo=None), OLD_USAGE_END.replace(tzinfo=None)
    )
    builder = builder.add_extension(usage, critical=False)
    return builder.sign(OLD_KEY, hashes.SHA256()).public_bytes(Encoding.DER)


@pytest.mark.parametrize(
    ("kind", "period"),
    [
        (NEW_WITH_NEW, (NOW, NEW_USAGE_END)),
        (NEW_WITH_OLD, (NOW, NEW_USAGE_END)),
        (OLD_WITH_NEW, (START, OLD_USAGE_END)),
    ],
)  # fmt: skip
def test_k2_each_certificate_states_the_key_usage_period_of_the_key_it_certifies(
    kind: KeyUpdateCertificate, period: tuple[datetime, datetime]
) -> None:
    """The certificates of the new key carry its privateKeyUsagePeriod, never the old
    key's; OldWithNew keeps the old key's (2.5.29.16, not critical)."""
    made = key_update_template(kind, old_with_old_stating_its_key_usage(), spki_der(NEW_KEY), 7,
                               NOW, NEW_END, NEW_USAGE_END)  # fmt: skip
    stated = [e for e in made.extensions if e["extn_id"].native == "private_key_usage_period"]
    assert len(stated) == 1 and stated[0]["critical"].native is False
    value = stated[0]["extn_value"].native
    assert (value["not_before"], value["not_after"]) == period


def test_k2_without_a_new_key_usage_period_the_new_key_states_none() -> None:
    made = key_update_template(NEW_WITH_NEW, old_with_old_stating_its_key_usage(),
                               spki_der(NEW_KEY), 7, NOW, NEW_END)  # fmt: skip
    assert "private_key_usage_period" not in [e["extn_id"].native for e in made.extensions]


# The content a CA's settings now give a new CA certificate, changed since OldWithOld.
NEW_CONTENT = (
    ext.basic_constraints(ca=True),
    ext.key_usage({"key_cert_sign", "crl_sign"}),
    ext.subject_key_identifier(spki_der(NEW_KEY)),
    ext.authority_key_identifier(NEW_ID),
    ext.subject_sign_tool("new tool"),
    ext.private_key_usage_period(START, OLD_USAGE_END),  # never the new key's
)


OLD_CONTENT_NAMES = [
    ("basic_constraints", True),
    ("key_identifier", False),
    ("authority_key_identifier", False),
    ("certificate_policies", False),
]
NEW_CONTENT_NAMES = [("basic_constraints", True), ("key_usage", True), ("key_identifier", False),
                     ("authority_key_identifier", False), ("1.2.643.100.111", False),
                     ("private_key_usage_period", False)]  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "names", "ids"),
    [
        (NEW_WITH_NEW, NEW_CONTENT_NAMES, (NEW_ID, NEW_ID)),
        (NEW_WITH_OLD, NEW_CONTENT_NAMES, (NEW_ID, OLD_ID)),
        (OLD_WITH_NEW, OLD_CONTENT_NAMES, (OLD_ID, NEW_ID)),
    ],
)
def test_rfc9810_4_4_the_new_key_carries_the_given_content_the_old_key_its_own(
    kind: KeyUpdateCertificate, names: list[tuple[str, bool]], ids: tuple[bytes, bytes]
) -> None:
    """NewWithNew and NewWithOld certify the new key with the content given for it (a CA
    whose settings changed since OldWithOld), its key identifiers set per certificate and
    its privateKeyUsagePeriod replaced by the new key's; OldWithNew certifies what
    OldWithOld does."""
    made = key_update_template(kind, old_with_old(), spki_der(NEW_KEY), 7, NOW, NEW_END,
                               NEW_USAGE_END, NEW_CONTENT)  # fmt: skip
    assert key_ids(made.extensions) == ids
    assert [(e["extn_id"].native, e["critical"].native) for e in made.extensions] == names
    by_name = {e["extn_id"].native: e for e in made.extensions}
    if kind is not OLD_WITH_NEW:
        assert by_name["1.2.643.100.111"].dump() == NEW_CONTENT[4].dump()
        period = by_name["private_key_usage_period"]["extn_value"].native
        assert (period["not_before"], period["not_after"]) == (NOW, NEW_USAGE_END)
