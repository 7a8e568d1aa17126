"""Issuance's certificates are byte for byte the ones asn1crypto builds straightforwardly.

Issuance keeps what every certificate of a profile shares (the profile's extensions, read
back once; the signature algorithm; the subject it built to check it) and joins DER
(protocols/x509/certificate.py). Here each certificate's TBSCertificate is built again from
the same inputs (serial, times, subject, key) as one asn1crypto tree, every part made anew
(`asn1_x509.TbsCertificate({...})`, extensions from their builders, the subject key
identifier from `cryptography`), and the bytes must be the same: for each profile, for the
first certificate of a profile and for the next, which takes what was kept.
"""

from __future__ import annotations

from datetime import datetime

from asn1crypto import keys
from asn1crypto import x509 as asn1_x509
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_der_public_key

from protocols.crl import crl_shard
from protocols.x509 import extensions as ext
from protocols.x509.csr import key_description
from server.registry import CAGeneration
from server.request_checks import key_usage_for
from server.status.distribution_points import crl_url
from tests.asn1crypto_builds import name_der
from tests.csr_factory import ORGANISATION, PERSON, make_csr, new_key
from tests.local_ca import LocalCA, approved_application

CASES = [
    ("tls-server", "ec-p256", [("CN", "www.example.ru"), ("O", "Example"), ("C", "RU")],
     {"dns": ("www.example.ru", "example.ru"), "ips": ("192.0.2.7", "2001:db8::1")}),
    ("tls-server", "rsa-2048", [("CN", "rsa.example.ru")], {"dns": ("rsa.example.ru",)}),
    ("tls-client", "ec-p384", [("CN", "device-7"), ("emailAddress", "ops@example.ru")], {}),
    ("tls-client", "ec-p256", [("CN", "device-8")], {"emails": ("d8@example.ru",)}),
    ("person", "ec-p256", PERSON, {"emails": ("ivanov@example.ru",)}),
    ("organisation", "rsa-2048", ORGANISATION, {}),
]  # fmt: skip


def straightforward_tbs(
    ca: LocalCA,
    generation: CAGeneration,
    profile_name: str,
    requested: list[tuple[str, str]],
    san: dict[str, tuple[str, ...]],
    spki: bytes,
    serial: int,
    not_before: datetime,
    not_after: datetime,
) -> bytes:
    """The TBSCertificate of a certificate of `profile_name`, as one asn1crypto tree."""
    settings, profile = ca.settings, ca.settings.profile(profile_name)
    base, name = settings.ca.base_url.rstrip("/"), settings.ca.name
    shard, shards = crl_shard(serial, settings.crl.shards), settings.crl.shards
    public_key = load_der_public_key(spki)
    key_id = x509.SubjectKeyIdentifier.from_public_key(public_key).digest
    extensions = [
        asn1_x509.Extension({"extn_id": "key_identifier", "critical": False, "extn_value": key_id}),
        ext.basic_constraints(ca=False),
        ext.key_usage(key_usage_for(profile.key_usage, key_description(spki))),
        ext.authority_key_identifier(generation.key_id),
        ext.crl_distribution_points([crl_url(base, generation, shard, shards, delta=False)]),
        ext.authority_information_access(
            ocsp_urls=[f"{base}/ocsp"], ca_issuers_urls=[f"{base}/ca/{name}.crt"]
        ),
        ext.freshest_crl([crl_url(base, generation, shard, shards, delta=True)]),
        ext.extended_key_usage(list(profile.extended_key_usage)),
    ]
    if profile.policies:
        extensions.append(ext.certificate_policies(list(profile.policies)))
    if profile.subject_sign_tool:
        tool = settings.ca.issuer_sign_tool
        extensions.append(ext.subject_sign_tool(profile.subject_sign_tool))
        tools = (tool.sign_tool, tool.ca_tool, tool.sign_tool_cert, tool.ca_tool_cert)
        extensions.append(ext.issuer_sign_tool(*tools))
    if profile.identification_kind >= 0:
        extensions.append(ext.identification_kind(profile.identification_kind))
    given = dict(requested)
    subject = [(a, given[a]) for a in profile.subject_attributes if a in given]
    emails = list(san.get("emails", ())) + [v for a, v in subject if a == "emailAddress"]
    if san.get("dns") or san.get("ips") or emails:
        extensions.append(
            ext.subject_alt_name(dns=san.get("dns", ()), ips=san.get("ips", ()), emails=emails)
        )
    if profile.private_key_usage_days:
        extensions.append(ext.private_key_usage_period(not_before, not_after))
    issuer = asn1_x509.Certificate.load(generation.certificate_der)
    tbs = asn1_x509.TbsCertificate(
        {
            "version": "v3",
            "serial_number": serial,
            "signature": {"algorithm": "sha256_ecdsa"},
            "issuer": asn1_x509.Name.load(issuer.subject.dump()),
            "validity": {
                "not_before": asn1_x509.Time(name="utc_time", value=not_before),
                "not_after": asn1_x509.Time(name="utc_time", value=not_after),
            },
            "subject": asn1_x509.Name.load(name_der(subject)),
            "subject_public_key_info": keys.PublicKeyInfo.load(spki),
            "extensions": extensions,
        }
    )
    return tbs.dump(force=True)


async def test_issued_tbs_is_the_straightforward_build(local_ca: LocalCA) -> None:
    """All cases in one CA, twice over: the first certificate of a profile and key type
    builds what they share, the next ones take it, beside other profiles' and key types'."""
    generation = await local_ca.authority.generation()
    for profile, key_type, subject, san in CASES * 2:
        route = {}
        if local_ca.settings.profile(profile).registered_subscribers_only:
            route = await approved_application(local_ca, profile)
        issued = await local_ca.authority.issue(
            profile, make_csr(subject, key=new_key(key_type), **san), "test", **route
        )
        certificate = x509.load_der_x509_certificate(issued.der)
        expected = straightforward_tbs(
            local_ca,
            generation,
            profile,
            subject,
            san,
            asn1_x509.Certificate.load(issued.der).public_key.dump(),
            certificate.serial_number,
            certificate.not_valid_before_utc,
            certificate.not_valid_after_utc,
        )
        assert certificate.tbs_certificate_bytes == expected, (profile, key_type)
