"""Distributing the new root after a rollover (issue 15, step 3): CMP genm caCerts (RFC 9483
4.3.1) and the certificates EST /cacerts serves (RFC 7030 4.1.3) carry every active root
and the link certificates; genm rootCaCert is answered by rootCaKeyUpdate (RFC 9483 4.3.2;
RFC 9810 5.3.19.15) with the new root and the links for a client with an older root, and
without a value for one with the newest. Real rollovers on the local CA, a real CMPServer
through tests/cmp_client.py; a fake registry for the generations no rollover makes yet."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from cryptography import x509
from pyasn1.codec.der import decoder
from pyasn1_alt_modules import rfc9480

from protocols import cmp
from protocols.der import contents as der_contents
from protocols.der import elements
from server.enrollment import root_distribution
from server.errors import CAError, ErrorKind
from server.generations.rollover import RolledOver
from server.registry import CAGeneration, CALink
from server.status.publication import StatusPublication
from tests.cmp_client import genm_content, genp_items, mac_client, registry_state, tlv
from tests.local_ca import LocalCA
from tests.unit.server.test_rollover import roll

ID_IT_ROOT_CA_CERT = "1.3.6.1.5.5.7.4.20"
AT = datetime(2026, 1, 1, tzinfo=UTC)  # the fakes below have no home root: any time will do


async def rolled_over(local_ca: LocalCA) -> RolledOver:
    status = StatusPublication(local_ca.settings, local_ca.registry, local_ca.signer,
                               local_ca.clock, builder=True)  # fmt: skip
    await status.ocsp.load_issuers()
    local_ca.clock.advance(days=30)
    return await roll(local_ca, status)


async def root_update(local_ca: LocalCA, root: bytes | None) -> bytes | None:
    client = await mac_client(local_ca)
    answer = await client.send("genm", genm_content((ID_IT_ROOT_CA_CERT, root)), new=True)
    [(info_type, value)] = genp_items(answer)
    assert info_type == cmp.ID_IT_ROOT_CA_KEY_UPDATE
    return value


def content(value: bytes | None) -> tuple[bytes, bytes | None, bytes | None]:
    """(newWithNew, newWithOld, oldWithNew) of a RootCaKeyUpdateContent, each as DER: it
    decodes under RFC 9810's ASN.1, and its fields are the certificate, then the
    certificates under the explicit tags [0] and [1]."""
    assert value is not None
    decoded, rest = decoder.decode(value, asn1Spec=rfc9480.RootCaKeyUpdateContent())
    assert rest == b"" and decoded["newWithNew"].isValue
    fields = dict(elements(value))
    assert [tag for tag, _ in elements(value)] in ([0x30], [0x30, 0xA0], [0x30, 0xA0, 0xA1])
    return (
        fields[0x30],
        der_contents(fields[0xA0]) if 0xA0 in fields else None,
        der_contents(fields[0xA1]) if 0xA1 in fields else None,
    )


# -- RFC 9483 4.3.1 and RFC 7030 4.1.3 ----------------------------------------------------


async def test_rfc7030_4_1_3_cacerts_carries_the_root_key_update_certificates(
    local_ca: LocalCA,
) -> None:
    """Before a rollover the one root; after it both roots, then NewWithOld and
    OldWithNew (OldWithOld is the old root itself)."""
    name = local_ca.settings.ca.name
    first = await local_ca.registry.active_generation(name)
    assert first is not None
    assert await root_distribution.ca_certificates(local_ca.registry, name, local_ca.clock()) == [
        first.certificate_der
    ]
    done = await rolled_over(local_ca)
    assert await root_distribution.ca_certificates(local_ca.registry, name, local_ca.clock()) == [
        done.old.certificate_der, done.new.certificate_der,
        done.new_with_old.der, done.old_with_new.der,
    ]  # fmt: skip


async def test_rfc9483_4_3_1_ca_certs_after_a_rollover_carries_both_roots_and_the_links(
    local_ca: LocalCA,
) -> None:
    done = await rolled_over(local_ca)
    client = await mac_client(local_ca)
    answer = await client.send("genm", genm_content((cmp.ID_IT_CA_CERTS, None)), new=True)
    expected = (done.old.certificate_der, done.new.certificate_der, done.new_with_old.der,
                done.old_with_new.der)  # fmt: skip
    assert genp_items(answer) == [(cmp.ID_IT_CA_CERTS, tlv(0x30, b"".join(expected)))]


# -- RFC 9483 4.3.2 ---------------------------------------------------------------------


async def test_rfc9483_4_3_2_root_ca_key_update_after_rollover(local_ca: LocalCA) -> None:
    """A client with the old root, or naming none, gets newWithNew (the new root),
    newWithOld (REQUIRED: the new key under the old root, which its root verifies) and
    oldWithNew, byte for byte as the rollover recorded them."""
    done = await rolled_over(local_ca)
    expected = (done.new.certificate_der, done.new_with_old.der, done.old_with_new.der)
    for root in (done.old.certificate_der, None):
        new_with_new, new_with_old, old_with_new = content(await root_update(local_ca, root))
        assert (new_with_new, new_with_old, old_with_new) == expected
    old_root = x509.load_der_x509_certificate(done.old.certificate_der)
    x509.load_der_x509_certificate(done.new_with_old.der).verify_directly_issued_by(old_root)


async def test_rfc9483_4_3_2_no_update_for_a_client_with_the_newest_root(
    local_ca: LocalCA,
) -> None:
    done = await rolled_over(local_ca)
    assert await root_update(local_ca, done.new.certificate_der) is None


async def test_rfc9483_4_3_2_each_root_is_led_to_the_next_until_the_newest(
    local_ca: LocalCA,
) -> None:
    """After two rollovers a link joins each generation to the next only: generation 1's
    client is given generation 2, generation 2's client generation 3, the newest nothing;
    a client naming no root is given the rollover into the issuing generation."""
    first = await rolled_over(local_ca)
    second = await rolled_over(local_ca)
    assert first.new.id == second.old.id
    steps = ((first.old, first), (first.new, second), (None, second))
    for root, done in steps:
        der = root.certificate_der if root is not None else None
        assert content(await root_update(local_ca, der)) == (
            done.new.certificate_der, done.new_with_old.der, done.old_with_new.der,
        )  # fmt: skip
    assert await root_update(local_ca, second.new.certificate_der) is None


async def test_rfc9483_4_3_2_a_root_that_is_not_ours_is_refused_bad_cert_id(
    local_ca: LocalCA,
) -> None:
    """RFC 9810 5.2.3 badCertId ("no certificate could be found matching the provided
    criteria"): a certificate, but none of this CA's roots (here a link certificate, the
    new key under the old: not a root). An error message, protected; nothing changed."""
    done = await rolled_over(local_ca)
    client = await mac_client(local_ca)
    before = await registry_state(local_ca.registry)
    content_ = genm_content((ID_IT_ROOT_CA_CERT, done.new_with_old.der))
    answer = await client.send("genm", content_, new=True)
    assert (answer.body_type, answer.status, answer.fail_info, answer.text) == (
        "error", cmp.PKIStatus.rejection, frozenset({"badCertId"}),
        "the rootCaCert is none of this CA's roots",
    )  # fmt: skip
    assert answer.protected
    assert await registry_state(local_ca.registry) == before


# -- what is handed out: active generations only ------------------------------------------


@dataclasses.dataclass
class FakeGenerations:
    """interfaces.Generations over fixed generations and links."""

    all: list[CAGeneration]
    all_links: list[CALink]

    async def active_generation(self, ca_name: str) -> CAGeneration | None:
        return [g for g in self.all if g.state == "active"][-1]

    async def generations(self, ca_name: str) -> list[CAGeneration]:
        return list(self.all)

    async def links(self, ca_name: str) -> list[CALink]:
        return list(self.all_links)

    @property
    def roots(self) -> NoRoots:
        return NoRoots()


class NoRoots:
    """The root records of a home without a root CA (the part root distribution reads)."""

    async def root_cas(self) -> list[object]:
        return []

    async def links(self) -> list[object]:
        return []


def generation(id_: int, state: str) -> CAGeneration:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return CAGeneration(id=id_, ca_name="demo", key_uri=f"k{id_}", key_algorithm="ec-p256",
                        serial=f"{id_:02x}", key_id=bytes([id_]), not_before=at, not_after=at,
                        state=state, certificate_der=f"root {id_}".encode(),
                        first=id_ == 1)  # fmt: skip


def link(kind: str, issuer: int, subject: int) -> CALink:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    return CALink(serial=f"{kind}{issuer}{subject}", kind=kind, issuer_generation_id=issuer,
                  subject_generation_id=subject, not_before=at, not_after=at,
                  der=f"{kind} {issuer}->{subject}".encode())  # fmt: skip


async def test_a_compromised_generation_and_its_links_are_not_handed_out() -> None:
    """A compromised root is no trust anchor to hand anyone (step 6 makes such a state):
    cacerts leaves it and the links that join it out, and a client that names it as its
    root is told it is none of this CA's roots."""
    registry = FakeGenerations(
        [generation(1, "active"), generation(2, "compromised"), generation(3, "active")],
        [link("new_with_old", 1, 2), link("old_with_new", 2, 1)],
    )
    assert await root_distribution.ca_certificates(registry, "demo", AT) == [b"root 1", b"root 3"]
    assert await root_distribution.root_key_update(registry, "demo", b"root 1", AT) is None
    assert await root_distribution.root_key_update(registry, "demo", None, AT) is None
    with pytest.raises(CAError) as refused:
        await root_distribution.root_key_update(registry, "demo", b"root 2", AT)
    assert refused.value.kind is ErrorKind.NOT_FOUND
