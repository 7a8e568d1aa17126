"""The status of another CA's certificate from its CRL (RFC 5280 5, 6.3): a CA made here with
`cryptography`, trusted by the operator, its CRL served over HTTP by a test server; the
signatures made by `openssl cms -sign`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from server.confirmation.checker import Confirmations
from server.confirmation.crl_status import CRLStatus
from server.confirmation.report import ConfirmationReport
from tests.local_ca import LocalCA, opened_local_ca
from tests.unit.server.test_confirmation import DOCUMENT, Holder

NOW = datetime.now(UTC).replace(microsecond=0)


class OtherCA:
    """A CA outside, its CRL served at `crl_url` (whatever `crl` holds, 404 when None)."""

    def __init__(self, crl_url: str) -> None:
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.name = x509.Name.from_rfc4514_string("CN=Other CA,O=Elsewhere,C=RU")
        builder = self._builder(self.name, self.key.public_key(), NOW - timedelta(days=10))
        builder = builder.add_extension(
            x509.BasicConstraints(ca=True, path_length=None), critical=True
        )
        self.certificate = builder.sign(self.key, hashes.SHA256())
        self.crl_url = crl_url
        self.crl: bytes | None = None

    def _builder(
        self, subject: x509.Name, public_key, not_before: datetime
    ) -> x509.CertificateBuilder:
        builder = x509.CertificateBuilder().subject_name(subject).issuer_name(self.name)
        builder = builder.public_key(public_key).serial_number(x509.random_serial_number())
        return builder.not_valid_before(not_before).not_valid_after(NOW + timedelta(days=30))

    def holder(self, folder: Path, with_crl_point: bool = True) -> Holder:
        key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name.from_rfc4514_string("CN=Signer elsewhere")
        builder = self._builder(subject, key.public_key(), NOW - timedelta(days=1))
        if with_crl_point:
            point = x509.DistributionPoint(
                [x509.UniformResourceIdentifier(self.crl_url)], None, None, None
            )
            builder = builder.add_extension(x509.CRLDistributionPoints([point]), critical=False)
        certificate = builder.sign(self.key, hashes.SHA256())
        return Holder(
            folder, "elsewhere", key, certificate.public_bytes(serialization.Encoding.DER)
        )

    def publish(
        self,
        revoked: dict[int, datetime] | None = None,
        next_update: datetime | None = None,
        key=None,
        extension: x509.ExtensionType | None = None,
    ) -> None:
        builder = (x509.CertificateRevocationListBuilder().issuer_name(self.name)
                   .last_update(NOW - timedelta(hours=2))
                   .next_update(next_update or NOW + timedelta(days=1)))  # fmt: skip
        if extension is not None:
            builder = builder.add_extension(extension, critical=True)
        for serial, when in (revoked or {}).items():
            entry = x509.RevokedCertificateBuilder().serial_number(serial).revocation_date(when)
            entry = entry.add_extension(x509.CRLReason(x509.ReasonFlags.superseded), critical=False)
            builder = builder.add_revoked_certificate(entry.build())
        crl = builder.sign(key or self.key, hashes.SHA256())
        self.crl = crl.public_bytes(serialization.Encoding.DER)


@pytest.fixture
async def other(aiohttp_server: Callable) -> OtherCA:
    holder: list[OtherCA] = []

    async def crl(request: web.Request) -> web.Response:
        body = holder[0].crl
        if body is None:
            raise web.HTTPNotFound()
        return web.Response(body=body, content_type="application/pkix-crl")

    app = web.Application()
    app.router.add_get("/other.crl", crl)
    server = await aiohttp_server(app)
    holder.append(OtherCA(str(server.make_url("/other.crl"))))
    return holder[0]


@pytest.fixture
async def ca(tmp_path: Path):
    (tmp_path / "ca").mkdir()
    async with opened_local_ca(tmp_path / "ca") as local_ca:
        local_ca.clock.now = datetime.now(UTC) + timedelta(minutes=1)
        yield local_ca


async def confirmed(
    ca: LocalCA, other: OtherCA, signature: bytes, crl_status: CRLStatus | None = None
) -> ConfirmationReport:
    trusted = [("other.pem", other.certificate.public_bytes(serialization.Encoding.DER))]
    confirmations = Confirmations(ca.registry, ca.settings.ca.name, trusted, ca.clock, crl_status)
    return await confirmations.check_signature(DOCUMENT, signature)


def verdict(report: ConfirmationReport) -> tuple[str, list[str]]:
    return report.verdict, [cause.code for cause in report.causes]


def status(report: ConfirmationReport) -> dict:
    return report.as_dict()["signers"][0]["status_at_signing"]  # type: ignore[index]


async def test_rfc5280_6_3_a_current_crl_without_the_serial_makes_it_good(
    ca: LocalCA, other: OtherCA, tmp_path: Path
) -> None:
    signature = other.holder(tmp_path).sign()
    other.publish()
    report = await confirmed(ca, other, signature)
    assert verdict(report) == ("valid", []), report.as_dict()
    assert status(report)["source"] == f"CRL {other.crl_url}"


async def test_rfc5280_5_3_revoked_before_signing_on_the_other_cas_crl(
    ca: LocalCA, other: OtherCA, tmp_path: Path
) -> None:
    signer = other.holder(tmp_path)
    signature = signer.sign()
    other.publish({int(signer.serial, 16): NOW - timedelta(hours=1)})
    report = await confirmed(ca, other, signature)
    assert verdict(report) == ("invalid", ["revoked_before_signing"])
    assert status(report)["reason"] == "superseded"


async def test_rfc5652_11_3_revoked_after_the_claimed_signing_time_is_indeterminate(
    ca: LocalCA, other: OtherCA, tmp_path: Path
) -> None:
    """Revoked on the other CA's CRL after the signingTime the signer wrote: without a
    signature timestamp that time is a claim, so the signature is not confirmed valid."""
    signer = other.holder(tmp_path)
    signature = signer.sign()
    other.publish({int(signer.serial, 16): datetime.now(UTC) + timedelta(seconds=30)})
    report = await confirmed(ca, other, signature)
    assert verdict(report) == ("indeterminate", ["signing_time_unproven"]), report.as_dict()
    assert (status(report)["status"], status(report)["later"]) == ("good", "revoked")


@pytest.mark.parametrize(
    "problem",
    [
        "crl signed by another key",
        "stale crl",
        "no crl published",
        "no distribution point",
        "crl too large",
        "a delta crl",
        "a crl of ca certificates only",
        "a crl of another distribution point",
    ],
)
async def test_rfc5280_6_3_3_without_a_usable_crl_the_status_is_unknown(
    ca: LocalCA, other: OtherCA, tmp_path: Path, problem: str
) -> None:
    signer = other.holder(tmp_path, with_crl_point=problem != "no distribution point")
    signature = signer.sign()
    limit = None
    if problem == "crl signed by another key":
        other.publish(key=ec.generate_private_key(ec.SECP256R1()))
    elif problem == "stale crl":
        other.publish(next_update=NOW - timedelta(minutes=1))
    elif problem == "crl too large":
        other.publish()
        limit = CRLStatus(max_bytes=64)
    elif problem == "no distribution point":
        other.publish()
    elif problem == "a delta crl":  # RFC 5280 5.2.4: not the complete list
        other.publish(extension=x509.DeltaCRLIndicator(1))
    elif problem == "a crl of ca certificates only":  # RFC 5280 5.2.5
        other.publish(extension=x509.IssuingDistributionPoint(
            None, None, False, True, None, False, False))  # fmt: skip
    elif problem == "a crl of another distribution point":  # RFC 5280 6.3.3 (b)(2)(i)
        elsewhere = [x509.UniformResourceIdentifier("http://elsewhere.example/crl")]
        other.publish(extension=x509.IssuingDistributionPoint(
            elsewhere, None, False, False, None, False, False))  # fmt: skip
    report = await confirmed(ca, other, signature, limit)
    assert verdict(report) == ("indeterminate", ["status_unknown"]), report.as_dict()
    assert status(report)["status"] == "unknown"


async def test_rfc5280_4_2_1_9_a_ca_certificate_does_not_sign_documents(
    ca: LocalCA, other: OtherCA, tmp_path: Path
) -> None:
    """The trusted CA's own key signs a document: its certificate is a CA's (cA TRUE)."""
    itself = Holder(tmp_path, "other-ca", other.key,
                    other.certificate.public_bytes(serialization.Encoding.DER))  # fmt: skip
    other.publish()
    report = await confirmed(ca, other, itself.sign())
    assert verdict(report)[0] == "invalid"
    assert "ca_certificate_as_signer" in verdict(report)[1]


async def test_rfc5280_6_1_4_n_an_intermediate_without_key_cert_sign_breaks_the_path(
    ca: LocalCA, other: OtherCA, tmp_path: Path
) -> None:
    """An intermediate the operator lists beside the other CA's root (only a self-signed
    certificate is an anchor) whose keyUsage lacks keyCertSign: no valid path."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name.from_rfc4514_string("CN=Other Intermediate,O=Elsewhere,C=RU")
    builder = other._builder(name, key.public_key(), NOW - timedelta(days=5))
    builder = builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    usage = x509.KeyUsage(True, False, False, False, False, False, False, False, False)
    intermediate = builder.add_extension(usage, critical=True).sign(other.key, hashes.SHA256())
    signer_key = ec.generate_private_key(ec.SECP256R1())
    leaf = (x509.CertificateBuilder().subject_name(x509.Name.from_rfc4514_string("CN=Leaf"))
            .issuer_name(name).public_key(signer_key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(NOW - timedelta(days=1)).not_valid_after(NOW + timedelta(days=3))
            .sign(key, hashes.SHA256()))  # fmt: skip
    signer = Holder(tmp_path, "leaf", signer_key, leaf.public_bytes(serialization.Encoding.DER))
    files = (("root.pem", other.certificate), ("sub.pem", intermediate))
    trusted = [(file, c.public_bytes(serialization.Encoding.DER)) for file, c in files]
    confirmations = Confirmations(ca.registry, ca.settings.ca.name, trusted, ca.clock)
    report = await confirmations.check_signature(DOCUMENT, signer.sign())
    assert verdict(report)[0] == "invalid"
    causes = [cause.text for cause in report.causes if cause.code == "untrusted_chain"]
    assert causes == [
        "signer 1: CN=Other Intermediate,O=Elsewhere,C=RU's keyUsage lacks keyCertSign"
    ]
