"""CRLs end to end: entries made with `revoked_entry`, the TBSCertList built, signed here
with `cryptography` (as the signer process would), assembled, then read by three
independent readers: `cryptography` (`load_der_x509_crl`, `is_signature_valid`), the
OpenSSL 3 CLI (`openssl crl`, `openssl verify -crl_check[_all] [-use_deltas]`) and
pkilint's RFC 5280 CRL linter (tests/lint.py). CA and leaf certificates are made in the
tests with `cryptography`'s builders; time is fixed, and OpenSSL is told it with -attime.
"""

import contextlib
import random
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import parser
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.serialization import Encoding
from cryptography.x509.oid import NameOID

from protocols.crl import (
    CRLReason,
    CRLTemplate,
    ParsedCRL,
    assemble_crl,
    build_tbs_cert_list,
    crl_shard,
    parse_crl,
    revoked_entry,
)
from tests.lint import lint_crl

NOW = datetime(2025, 6, 1, 9, 30, tzinfo=UTC)
NEXT = NOW + timedelta(days=7)
BASE = "http://ca.example/crl"

KEYS = {
    "ec-p256": lambda: ec.generate_private_key(ec.SECP256R1()),
    "ec-p384": lambda: ec.generate_private_key(ec.SECP384R1()),
    "rsa-2048": lambda: rsa.generate_private_key(65537, 2048),
    "ed25519": ed25519.Ed25519PrivateKey.generate,
}
ALGORITHMS = {
    "ec-p256": "sha256_ecdsa",
    "ec-p384": "sha384_ecdsa",
    "rsa-2048": "sha256_rsa",
    "ed25519": "ed25519",
}


def sign(key, data: bytes) -> bytes:
    """The signer's schemes: P-256 ECDSA/SHA-256, P-384 ECDSA/SHA-384, RSA PKCS#1 v1.5
    SHA-256, Ed25519 raw."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        digest = hashes.SHA384() if key.curve.key_size == 384 else hashes.SHA256()
        return key.sign(data, ec.ECDSA(digest))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(data, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(data)


def digest_for(key):
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return None
    if isinstance(key, ec.EllipticCurvePrivateKey) and key.curve.key_size == 384:
        return hashes.SHA384()
    return hashes.SHA256()


class CA:
    """A root CA with keyUsage keyCertSign + cRLSign, and leaves it issues."""

    def __init__(self, key_type: str = "ec-p256") -> None:
        self.key = KEYS[key_type]()
        self.algorithm = ALGORITHMS[key_type]
        self.name = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "Demo CA"),
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Demo"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "RU"),
            ]
        )
        ski = x509.SubjectKeyIdentifier.from_public_key(self.key.public_key())
        self.key_id = ski.digest
        usage = dict.fromkeys(
            (
                "content_commitment",
                "key_encipherment",
                "data_encipherment",
                "key_agreement",
                "encipher_only",
                "decipher_only",
            ),
            False,
        )
        self.cert = (
            self._builder(self.name, self.key.public_key(), 1, timedelta(days=3650))
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .add_extension(
                x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True, **usage),
                critical=True,
            )
            .add_extension(ski, critical=False)
            .sign(self.key, digest_for(self.key))
        )

    def _builder(self, subject, public_key, serial, days):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(self.name)
            .public_key(public_key)
            .serial_number(serial)
            .not_valid_before(NOW - timedelta(days=1))
            .not_valid_after(NOW + days)
            .add_extension(x509.AuthorityKeyIdentifier(self.key_id, None, None), critical=False)
        )

    def leaf(self, serial: int, cdp: str | None = None) -> x509.Certificate:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"leaf {serial:x}")])
        builder = self._builder(subject, key.public_key(), serial, timedelta(days=365))
        builder = builder.add_extension(
            x509.BasicConstraints(ca=False, path_length=None), critical=True
        )
        if cdp is not None:
            point = x509.DistributionPoint([x509.UniformResourceIdentifier(cdp)], None, None, None)
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        return builder.sign(self.key, digest_for(self.key))

    def crl(self, entries, number: int = 10, **options) -> bytes:
        template = CRLTemplate(
            issuer_name_der=self.name.public_bytes(),
            authority_key_id=self.key_id,
            crl_number=number,
            this_update=options.pop("this_update", NOW),
            next_update=options.pop("next_update", NEXT),
            entries=entries,
            signature_algorithm=self.algorithm,
            **options,
        )
        tbs = build_tbs_cert_list(template)
        return assemble_crl(tbs, self.algorithm, sign(self.key, tbs))


# Serials of the test leaves, by what happens to them.
KEY_COMPROMISE = 0x1001
HELD = 0x1002
HELD_NO_DATE = 0x1003
SUPERSEDED_UNSPECIFIED = 0x1004
NO_REASON = 0x1005
GOOD = 0x2001
REVOKED_IN_DELTA = 0x3001
COMPROMISED_AT = NOW - timedelta(days=3)


def full_entries() -> list[bytes]:
    return [
        revoked_entry(KEY_COMPROMISE, NOW - timedelta(hours=2), 1, COMPROMISED_AT),
        revoked_entry(HELD, NOW - timedelta(hours=1), CRLReason.certificateHold, COMPROMISED_AT),
        revoked_entry(HELD_NO_DATE, NOW - timedelta(hours=1), CRLReason.certificateHold),
        revoked_entry(SUPERSEDED_UNSPECIFIED, NOW - timedelta(minutes=5), CRLReason.unspecified),
        revoked_entry(NO_REASON, NOW - timedelta(minutes=1)),
    ]


def delta_entries() -> list[bytes]:
    return [
        revoked_entry(REVOKED_IN_DELTA, NOW + timedelta(hours=1), CRLReason.superseded),
        revoked_entry(HELD, NOW + timedelta(hours=1), CRLReason.removeFromCRL),
    ]


@pytest.fixture(scope="module", params=["ec-p256", "rsa-2048"])
def ca(request) -> CA:
    return CA(request.param)


# --- cryptography reads what we build -------------------------------------------------


def test_full_crl_as_cryptography_reads_it(ca):
    crl = x509.load_der_x509_crl(ca.crl(full_entries(), number=10))
    assert crl.is_signature_valid(ca.key.public_key())
    assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == 10
    aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier)
    assert aki.value.key_identifier == ca.key_id and not aki.critical
    assert crl.last_update_utc == NOW and crl.next_update_utc == NEXT
    assert crl.issuer == ca.name
    assert len(crl) == 5

    def entry(serial):
        revoked = crl.get_revoked_certificate_by_serial_number(serial)
        assert revoked is not None
        extensions = {e.oid.dotted_string: e.value for e in revoked.extensions}
        reason = extensions.get("2.5.29.21")
        invalidity = extensions.get("2.5.29.24")
        return (
            revoked.revocation_date_utc,
            reason and reason.reason,
            invalidity and invalidity.invalidity_date_utc,
        )

    flags = x509.ReasonFlags
    assert entry(KEY_COMPROMISE) == (NOW - timedelta(hours=2), flags.key_compromise, COMPROMISED_AT)
    assert entry(HELD) == (NOW - timedelta(hours=1), flags.certificate_hold, COMPROMISED_AT)
    assert entry(HELD_NO_DATE) == (NOW - timedelta(hours=1), flags.certificate_hold, None)
    # RFC 5280 5.3.1: unspecified is written as no reasonCode at all.
    assert entry(SUPERSEDED_UNSPECIFIED) == (NOW - timedelta(minutes=5), None, None)
    assert entry(NO_REASON)[1:] == (None, None)
    assert crl.get_revoked_certificate_by_serial_number(GOOD) is None


@pytest.mark.parametrize("key_type", ["ec-p384", "ed25519"])
def test_other_signature_algorithms_verify(key_type):
    other = CA(key_type)
    crl = x509.load_der_x509_crl(other.crl(full_entries()))
    assert crl.is_signature_valid(other.key.public_key())


def test_delta_crl_carries_a_critical_delta_indicator(ca):
    crl = x509.load_der_x509_crl(ca.crl(delta_entries(), number=11, delta_base=10))
    indicator = crl.extensions.get_extension_for_class(x509.DeltaCRLIndicator)
    assert indicator.critical and indicator.value.crl_number == 10
    removed = crl.get_revoked_certificate_by_serial_number(HELD)
    reason = removed.extensions.get_extension_for_class(x509.CRLReason).value.reason
    assert reason == x509.ReasonFlags.remove_from_crl


def test_full_crl_points_at_its_deltas_with_freshest_crl(ca):
    crl = x509.load_der_x509_crl(ca.crl(full_entries(), freshest_crl=f"{BASE}/delta.crl"))
    freshest = crl.extensions.get_extension_for_class(x509.FreshestCRL)
    assert not freshest.critical
    assert freshest.value[0].full_name == [x509.UniformResourceIdentifier(f"{BASE}/delta.crl")]


def test_shard_crl_carries_its_issuing_distribution_point(ca):
    url = f"{BASE}/shard-1.crl"
    crl = x509.load_der_x509_crl(ca.crl(full_entries(), distribution_point=url))
    idp = crl.extensions.get_extension_for_class(x509.IssuingDistributionPoint)
    assert idp.critical
    assert idp.value.full_name == [x509.UniformResourceIdentifier(url)]
    assert not idp.value.only_contains_user_certs and not idp.value.indirect_crl
    assert crl.is_signature_valid(ca.key.public_key())


def top_level_tags(der: bytes) -> list[int]:
    """(class << 6 | tag) of each field directly inside the outer SEQUENCE."""
    body = parser.parse(der)[4]
    tags = []
    while body:
        class_, _, tag, header, contents, trailer = parser.parse(body)
        tags.append(class_ << 6 | tag)
        body = body[len(header) + len(contents) + len(trailer) :]
    return tags


def test_empty_crl_has_no_revoked_certificates_field(ca):
    der = ca.crl([])
    tbs = x509.load_der_x509_crl(der).tbs_certlist_bytes
    # version, signature, issuer, thisUpdate, nextUpdate, [0] crlExtensions; RFC 5280
    # 5.1.2.6: revokedCertificates is absent, not an empty SEQUENCE.
    assert top_level_tags(tbs) == [0x02, 0x10, 0x10, 0x17, 0x17, 0x80]
    full = x509.load_der_x509_crl(ca.crl(full_entries())).tbs_certlist_bytes
    assert top_level_tags(full) == [0x02, 0x10, 0x10, 0x17, 0x17, 0x10, 0x80]
    crl = x509.load_der_x509_crl(der)
    assert len(crl) == 0 and crl.is_signature_valid(ca.key.public_key())
    assert parse_crl(der).entries == {}


# --- pkilint -----------------------------------------------------------------------------


def test_pkilint_finds_nothing_in_full_delta_empty_and_shard_crls(ca):
    crls = {
        "full": ca.crl(full_entries(), freshest_crl=f"{BASE}/delta.crl"),
        "delta": ca.crl(delta_entries(), number=11, delta_base=10),
        "empty": ca.crl([]),
        "shard": ca.crl(full_entries()[:2], distribution_point=f"{BASE}/shard-0.crl"),
        "shard delta": ca.crl(
            delta_entries(), number=11, delta_base=10, distribution_point=f"{BASE}/shard-0.crl"
        ),
    }
    for kind, der in crls.items():
        assert lint_crl(der) == [], kind
        # Not even a warning or a notice (pkilint 0.13).
        assert lint_crl(der, "INFO") == [], kind


def test_pkilint_does_find_a_crl_without_number_or_aki(ca):
    """The empty lists above are not vacuous: a CRL built without the two MUST extensions
    (RFC 5280 5.2.1, 5.2.3) is reported."""
    bare = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.name)
        .last_update(NOW)
        .next_update(NEXT)
        .sign(ca.key, digest_for(ca.key))
    )
    findings = lint_crl(bare.public_bytes(Encoding.DER))
    assert any("pkix.crl_number_missing" in line for line in findings)
    assert any("pkix.authority_key_identifier_missing" in line for line in findings)


# --- round trip and parse ----------------------------------------------------------------


def test_parse_gives_back_what_went_in(ca):
    later = datetime(2051, 3, 4, 5, 6, 7, tzinfo=UTC)  # GeneralizedTime from 2050 (5.1.2.4)
    entries = {
        KEY_COMPROMISE: (NOW - timedelta(hours=2), 1, COMPROMISED_AT),
        HELD: (NOW, 6, None),
        NO_REASON: (NOW, None, None),
        (1 << 158) + 12345: (later, 10, later - timedelta(days=1)),
    }
    made = [revoked_entry(serial, *value) for serial, value in entries.items()]
    der = ca.crl(made, number=(1 << 158) - 1, next_update=later)
    assert parse_crl(der) == ParsedCRL(
        crl_number=(1 << 158) - 1,
        delta_base=None,
        this_update=NOW,
        next_update=later,
        entries=entries,
    )
    delta = parse_crl(ca.crl(delta_entries(), number=11, delta_base=10))
    assert (delta.crl_number, delta.delta_base) == (11, 10)
    assert delta.entries[HELD][1] == CRLReason.removeFromCRL


def test_parse_refuses_garbage_and_crls_without_a_number(ca):
    for garbage in (b"", b"\x30\x03\x02\x01\x01", ca.crl([])[:-3], b"\x00" * 40):
        with pytest.raises(ValueError):
            parse_crl(garbage)
    numberless = (
        x509.CertificateRevocationListBuilder()
        .issuer_name(ca.name)
        .last_update(NOW)
        .next_update(NEXT)
        .sign(ca.key, digest_for(ca.key))
    )
    with pytest.raises(ValueError, match="cRLNumber"):
        parse_crl(numberless.public_bytes(Encoding.DER))


def test_parse_answers_mangled_crls_or_raises_value_error(ca):
    """Any bytes either parse or raise ValueError (STYLE.md rule 8); seeded mutations of a
    real CRL: changed octets, and truncation."""
    der = ca.crl(full_entries(), freshest_crl=f"{BASE}/delta.crl")
    rng = random.Random(5280)
    for _ in range(2000):
        mangled = bytearray(der)
        for _ in range(rng.randint(1, 3)):
            mangled[rng.randrange(len(mangled))] = rng.randrange(256)
        if rng.random() < 0.2:
            del mangled[rng.randrange(len(mangled)) :]
        with contextlib.suppress(ValueError):
            parse_crl(bytes(mangled))


# --- entries -----------------------------------------------------------------------------


def test_entry_times_follow_5_1_2_4():
    utc = asn1_crl.RevokedCertificate.load(
        revoked_entry(5, datetime(2049, 12, 31, 23, 59, 59, 9, tzinfo=UTC), 1, NOW)
    )
    assert utc["revocation_date"].name == "utc_time"
    assert utc["revocation_date"].chosen.contents == b"491231235959Z"
    # 5.3.2: invalidityDate is GeneralizedTime whatever the year.
    assert utc["crl_entry_extensions"][1]["extn_value"].parsed.contents == b"20250601093000Z"
    general = asn1_crl.RevokedCertificate.load(revoked_entry(5, datetime(2050, 1, 1, tzinfo=UTC)))
    assert general["revocation_date"].name == "general_time"
    assert general["revocation_date"].chosen.contents == b"20500101000000Z"


def test_unspecified_and_none_write_no_extensions():
    for reason in (None, 0, CRLReason.unspecified):
        assert revoked_entry(7, NOW, reason) == revoked_entry(7, NOW)
    assert top_level_tags(revoked_entry(7, NOW)) == [0x02, 0x17]  # no crlEntryExtensions


@pytest.mark.parametrize(
    "args",
    [
        (0, NOW),
        (-1, NOW),
        (1 << 159, NOW),
        (5, NOW.replace(tzinfo=None)),
        (5, NOW, 7),
        (5, NOW, 11),
        (5, NOW, 1, NOW.replace(tzinfo=None)),
    ],
)
def test_bad_entries_are_refused(args):
    with pytest.raises(ValueError):
        revoked_entry(*args)


# --- template checks and assembly --------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {"number": -1},
        {"number": 1 << 159},
        {"number": 10, "delta_base": 10},
        {"number": 10, "delta_base": -1},
        {"number": 11, "delta_base": 10, "freshest_crl": f"{BASE}/delta.crl"},
        {"next_update": NOW - timedelta(seconds=1)},
        {"this_update": NOW.replace(tzinfo=None)},
    ],
)
def test_bad_templates_are_refused(ca, options):
    with pytest.raises(ValueError):
        ca.crl([], **options)


def test_remove_from_crl_is_refused_in_a_full_crl(ca):
    with pytest.raises(ValueError, match="delta CRLs only"):
        ca.crl(delta_entries())


def test_assemble_copies_the_tbs_and_checks_the_algorithm(ca):
    tbs = build_tbs_cert_list(
        CRLTemplate(ca.name.public_bytes(), ca.key_id, 1, NOW, NEXT, full_entries(), ca.algorithm)
    )
    der = assemble_crl(tbs, ca.algorithm, sign(ca.key, tbs))
    assert parser.parse(der)[4].startswith(tbs)  # the first field, byte for byte
    assert x509.load_der_x509_crl(der).tbs_certlist_bytes == tbs
    other = "sha256_rsa" if ca.algorithm != "sha256_rsa" else "sha256_ecdsa"
    with pytest.raises(ValueError, match="differs"):
        assemble_crl(tbs, other, b"\x01")
    with pytest.raises(ValueError, match="empty"):
        assemble_crl(tbs, ca.algorithm, b"")
    with pytest.raises(ValueError, match="TBSCertList"):
        assemble_crl(tbs[:-1], ca.algorithm, b"\x01")
    with pytest.raises(ValueError, match="unsupported"):
        assemble_crl(tbs, "md5_rsa", b"\x01")


def test_crl_shard_is_serial_modulo_shards():
    assert [crl_shard(serial, 4) for serial in range(1, 9)] == [1, 2, 3, 0, 1, 2, 3, 0]
    assert crl_shard(1 << 150, 1) == 0
    for bad in ((5, 0), (0, 4), (-3, 4)):
        with pytest.raises(ValueError):
            crl_shard(*bad)


# --- OpenSSL -----------------------------------------------------------------------------


def openssl(*args: str) -> str:
    result = subprocess.run(["openssl", *args], capture_output=True, text=True, check=False)
    return result.stdout + result.stderr


def pem(path: Path, der: bytes, kind: str) -> str:
    path.write_bytes(
        subprocess.run(
            ["openssl", kind, "-inform", "DER", "-outform", "PEM"],
            input=der,
            capture_output=True,
            check=True,
        ).stdout
    )
    return str(path)


class OpenSSL:
    """`openssl verify` of a leaf against the CA and the given CRLs, at NOW + 2 hours (after
    both the full CRL and the delta were issued)."""

    def __init__(self, tmp_path: Path, ca: CA) -> None:
        self.tmp = tmp_path
        self.ca = ca
        self.ca_pem = tmp_path / "ca.pem"
        self.ca_pem.write_bytes(ca.cert.public_bytes(Encoding.PEM))
        self.at = str(int((NOW + timedelta(hours=2)).timestamp()))

    def verify(self, leaf: x509.Certificate, crls: dict[str, bytes], *flags: str) -> str:
        leaf_pem = self.tmp / "leaf.pem"
        leaf_pem.write_bytes(leaf.public_bytes(Encoding.PEM))
        crl_args = []
        for name, der in crls.items():
            crl_args += ["-CRLfile", pem(self.tmp / f"{name}.pem", der, "crl")]
        return openssl(
            "verify", "-attime", self.at, *flags, "-CAfile", str(self.ca_pem), *crl_args,
            str(leaf_pem),
        )  # fmt: skip


def test_openssl_checks_the_crl_signature(tmp_path, ca):
    (tmp_path / "crl.der").write_bytes(ca.crl(full_entries()))
    (tmp_path / "ca.pem").write_bytes(ca.cert.public_bytes(Encoding.PEM))
    out = openssl(
        "crl", "-in", str(tmp_path / "crl.der"), "-inform", "DER",
        "-CAfile", str(tmp_path / "ca.pem"), "-noout",
    )  # fmt: skip
    assert "verify OK" in out


def test_openssl_rejects_revoked_and_held_leaves_and_accepts_a_good_one(tmp_path, ca):
    check = OpenSSL(tmp_path, ca)
    crls = {"full": ca.crl(full_entries())}
    for serial in (KEY_COMPROMISE, HELD, NO_REASON):
        assert "certificate revoked" in check.verify(ca.leaf(serial), crls, "-crl_check")
    assert check.verify(ca.leaf(GOOD), crls, "-crl_check").strip().endswith("OK")
    empty = {"empty": ca.crl([])}
    assert check.verify(ca.leaf(KEY_COMPROMISE), empty, "-crl_check").strip().endswith("OK")


DELTA_FLAGS = ("-extended_crl", "-crl_check_all", "-use_deltas")


def full_and_delta(ca: CA, freshest: bool = True) -> dict[str, bytes]:
    url = f"{BASE}/delta.crl" if freshest else None
    return {
        "full": ca.crl(full_entries(), number=10, freshest_crl=url),
        "delta": ca.crl(
            delta_entries(), number=11, delta_base=10, this_update=NOW + timedelta(hours=1)
        ),
    }


def test_openssl_applies_a_delta_crl(tmp_path, ca):
    """OpenSSL 3.0 with -extended_crl -use_deltas: a certificate revoked only in the delta
    is rejected, a removeFromCRL entry in the delta releases a certificate held in the full
    CRL (x509_vfy.c check_cert: removeFromCRL in the delta skips the full CRL), and what
    the full CRL alone revokes stays revoked."""
    check = OpenSSL(tmp_path, ca)
    both = full_and_delta(ca)
    assert "certificate revoked" in check.verify(ca.leaf(REVOKED_IN_DELTA), both, *DELTA_FLAGS)
    assert check.verify(ca.leaf(HELD), both, *DELTA_FLAGS).strip().endswith("OK")
    assert "certificate revoked" in check.verify(ca.leaf(KEY_COMPROMISE), both, *DELTA_FLAGS)
    assert check.verify(ca.leaf(GOOD), both, *DELTA_FLAGS).strip().endswith("OK")
    # The full CRL alone: the hold stands, the later revocation is not known yet.
    alone = {"full": both["full"]}
    assert check.verify(ca.leaf(REVOKED_IN_DELTA), alone, *DELTA_FLAGS).strip().endswith("OK")
    assert "certificate revoked" in check.verify(ca.leaf(HELD), alone, *DELTA_FLAGS)


def test_openssl_looks_for_deltas_only_after_a_freshest_crl(tmp_path, ca):
    """x509_vfy.c get_delta_sk: a delta is used only if the certificate or the full CRL
    carries freshestCRL (RFC 5280 5.2.6), so full CRLs must name their deltas."""
    check = OpenSSL(tmp_path, ca)
    both = full_and_delta(ca, freshest=False)
    assert check.verify(ca.leaf(REVOKED_IN_DELTA), both, *DELTA_FLAGS).strip().endswith("OK")
    assert "certificate revoked" in check.verify(ca.leaf(HELD), both, *DELTA_FLAGS)


def test_openssl_without_extended_crl_takes_the_delta_for_a_full_crl(tmp_path, ca):
    """Pinned OpenSSL 3.0 behaviour, not ours: without -extended_crl, get_crl_score never
    reaches its "don't process deltas at this stage" branch (it hangs off the
    extended-CRL else-if chain), so the delta scores like a full CRL and, being newer,
    replaces it. Revocations only in the full CRL are then missed. OpenSSL clients given
    delta CRLs need X509_V_FLAG_EXTENDED_CRL_SUPPORT with X509_V_FLAG_USE_DELTAS."""
    check = OpenSSL(tmp_path, ca)
    both = full_and_delta(ca)
    for flags in (("-crl_check",), ("-crl_check_all", "-use_deltas")):
        assert check.verify(ca.leaf(KEY_COMPROMISE), both, *flags).strip().endswith("OK")
        assert "certificate revoked" in check.verify(ca.leaf(REVOKED_IN_DELTA), both, *flags)


def test_openssl_matches_a_shard_to_the_leaf_cdp(tmp_path, ca):
    """Partitioned CRLs: each leaf names its shard in its CDP, and OpenSSL accepts a shard
    CRL for a leaf only when the IDP matches that CDP (x509_vfy.c check_crl_dp)."""
    check = OpenSSL(tmp_path, ca)
    shards = 2
    serials = (KEY_COMPROMISE, HELD, HELD_NO_DATE, NO_REASON)
    entries: dict[int, list[bytes]] = {n: [] for n in range(shards)}
    for serial in serials:
        entries[crl_shard(serial, shards)].append(revoked_entry(serial, NOW, 1))
    url = {n: f"{BASE}/shard-{n}.crl" for n in range(shards)}
    crl = {n: ca.crl(entries[n], distribution_point=url[n]) for n in range(shards)}
    for serial in serials:
        n = crl_shard(serial, shards)
        leaf = ca.leaf(serial, cdp=url[n])
        assert "certificate revoked" in check.verify(leaf, {"shard": crl[n]}, "-crl_check")
        # The other shard is not in scope for this leaf (error 44).
        other = check.verify(leaf, {"shard": crl[1 - n]}, "-crl_check")
        assert "different CRL scope" in other
