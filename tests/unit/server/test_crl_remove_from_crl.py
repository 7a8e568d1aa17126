"""Delta CRLs list a resumed certificate as removeFromCRL when the base or any CRL made
after it listed the hold (RFC 5280 5.2.4, 5.3.1), so that a relying party combining the
delta with a newer full CRL it cached does not keep the certificate revoked (issue 12,
section 6). A real registry file, the clock injected, OpenSSL as the relying party."""

from __future__ import annotations

import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import crl as crl_codec
from server.status.crl_publisher import PublishedCRL
from server.status.publication import StatusPublication
from server.status.revocation import Revocation
from tests.csr_factory import make_csr
from tests.local_ca import LocalCA

REMOVE = crl_codec.CRLReason.removeFromCRL


@pytest.fixture
async def status(local_ca: LocalCA) -> StatusPublication:
    publication = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                                    local_ca.clock, serving=True, builder=True)  # fmt: skip
    await publication.ocsp.load_issuers()
    return publication


@pytest.fixture
def revocation(local_ca: LocalCA, status: StatusPublication) -> Revocation:
    """Status changes that carry their CRL entries (signed through the publication)."""
    return Revocation(local_ca.registry, local_ca.clock, status)


async def issue(local_ca: LocalCA, name: str) -> tuple[str, bytes]:
    issued = await local_ca.authority.issue("tls-client", make_csr([("CN", name)]), "t")
    return issued.serial, issued.der


async def rebuilt(
    status: StatusPublication, local_ca: LocalCA
) -> tuple[PublishedCRL, PublishedCRL]:
    local_ca.clock.advance(seconds=1)  # each rebuild a second later, all within one base
    await status.crls.rebuild()
    full, delta = status.crls.current(0, delta=False), status.crls.current(0, delta=True)
    assert full is not None and delta is not None
    return full, delta


def reasons(crl: PublishedCRL) -> dict[int, int | None]:
    return {serial: entry[1] for serial, entry in crl_codec.parse_crl(crl.der).entries.items()}


def pem(folder: Path, name: str, der: bytes, crl: bool = False) -> Path:
    loaded = x509.load_der_x509_crl(der) if crl else x509.load_der_x509_certificate(der)
    path = folder / f"{name}.pem"
    path.write_bytes(loaded.public_bytes(Encoding.PEM))
    return path


def openssl_verify(
    at: datetime, ca: Path, leaf: Path, *crls: Path
) -> subprocess.CompletedProcess[str]:
    """`openssl verify` as a relying party would at `at` (the injected clock's time)."""
    files = [arg for crl in crls for arg in ("-CRLfile", str(crl))]
    return subprocess.run(
        ["openssl", "verify", "-crl_check", "-extended_crl", "-use_deltas", "-attime",
         str(int(at.timestamp())), "-CAfile", str(ca),
         *files, str(leaf)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip


async def test_rfc5280_5_2_4_delta_removes_a_hold_only_a_newer_full_crl_listed(
    local_ca: LocalCA, status: StatusPublication, revocation: Revocation, tmp_path: Path
) -> None:
    serial, der = await issue(local_ca, "held-after-base")
    base, _ = await rebuilt(status, local_ca)  # the base of the deltas: no hold yet
    await revocation.suspend(serial, "o")
    cached, _ = await rebuilt(status, local_ca)  # a relying party caches this full CRL
    assert reasons(cached)[int(serial, 16)] == crl_codec.CRLReason.certificateHold
    await revocation.resume(serial, "o")
    full, delta = await rebuilt(status, local_ca)

    parsed = crl_codec.parse_crl(delta.der)
    assert parsed.delta_base == base.number < cached.number < full.number < delta.number
    assert int(serial, 16) not in reasons(full)
    assert reasons(delta)[int(serial, 16)] == REMOVE

    generation = await local_ca.registry.active_generation(local_ca.settings.ca.name)
    assert generation is not None
    ca = pem(tmp_path, "ca", generation.certificate_der)
    leaf = pem(tmp_path, "leaf", der)
    cached_pem, delta_pem = (
        pem(tmp_path, "cached", cached.der, True),
        pem(tmp_path, "delta", delta.der, True),
    )
    alone = openssl_verify(local_ca.clock.now, ca, leaf, cached_pem)
    assert alone.returncode != 0 and "certificate revoked" in alone.stdout + alone.stderr
    combined = openssl_verify(local_ca.clock.now, ca, leaf, cached_pem, delta_pem)
    assert combined.returncode == 0, combined.stdout + combined.stderr


async def test_rfc5280_5_2_4_a_hold_no_crl_listed_is_not_removed(
    local_ca: LocalCA, status: StatusPublication, revocation: Revocation
) -> None:
    """Held and resumed between two rebuilds: no CRL listed it, no delta names it."""
    serial, _ = await issue(local_ca, "held-between")
    await rebuilt(status, local_ca)
    await revocation.suspend(serial, "o")
    await revocation.resume(serial, "o")
    full, delta = await rebuilt(status, local_ca)
    assert int(serial, 16) not in reasons(full)
    assert int(serial, 16) not in reasons(delta)


async def test_rfc5280_5_2_4_a_hold_a_delta_listed_is_removed(
    local_ca: LocalCA, status: StatusPublication, revocation: Revocation
) -> None:
    """A delta after the base listed the hold: the next delta removes it, and keeps doing
    so while its base is that base."""
    serial, _ = await issue(local_ca, "held-in-delta")
    await rebuilt(status, local_ca)
    await revocation.suspend(serial, "o")
    _, listed = await rebuilt(status, local_ca)
    assert reasons(listed)[int(serial, 16)] == crl_codec.CRLReason.certificateHold
    await revocation.resume(serial, "o")
    for _ in range(2):
        _, delta = await rebuilt(status, local_ca)
        assert reasons(delta)[int(serial, 16)] == REMOVE
