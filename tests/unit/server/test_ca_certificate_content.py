"""What a new CA certificate carries (issue 15, Hierarchy; ru-profile.md 3; RFC 9215 5.2-5.4):
with `ca.subject_sign_tool` set, the Russian profile's content relying parties expect of a
CA certificate, made by `init` (create_generation) and by a rollover's NewWithNew and
NewWithOld; with the default settings exactly what it carried before. pkilint, taught the
Russian profile (tests/lint.py), as the relying party."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import x509 as asn1_x509

from protocols.x509 import extensions as ext
from server.authority import Authority
from server.generations.rollover import RolledOver, rollover
from tests.lint import lint_certificate
from tests.local_ca import LocalCA, opened_local_ca, settings_for

SUBJECT_SIGN_TOOL = "СКЗИ «Тест-УЦ» (версия 2.0)"
ISSUER_SIGN_TOOL = (
    "СКЗИ «Тест-УЦ» (версия 2.0)",
    "ПАК «Тест-Центр» (версия 1.5)",
    "Сертификат соответствия № СФ/124-0001 от 01.01.2026",
    "Сертификат соответствия № СФ/128-0002 от 01.01.2026",
)
RUSSIAN_ENV = {
    "CA_CA__SUBJECT_SIGN_TOOL": f'"{SUBJECT_SIGN_TOOL}"',
    "CA_CA__ISSUER_SIGN_TOOL": (
        f'{{sign_tool = "{ISSUER_SIGN_TOOL[0]}", ca_tool = "{ISSUER_SIGN_TOOL[1]}", '
        f'sign_tool_cert = "{ISSUER_SIGN_TOOL[2]}", ca_tool_cert = "{ISSUER_SIGN_TOOL[3]}"}}'
    ),
}
# A profile of class KC2 beside the default ones of class KC1: the CA issues KC1 and KC2.
KC2_PROFILE = (
    "[profiles.kc2]\nvalidity_days = 1\npolicies = ['1.2.643.100.113.1', '1.2.643.100.113.2']"
)
SECRET = "test home secret"
# The extensions of a CA certificate made by init with default settings before issue 15.
DEFAULT_CONTENT = [
    ("basic_constraints", True),
    ("key_usage", True),
    ("key_identifier", False),
    ("authority_key_identifier", False),
]

RUSSIAN_CONTENT = [
    *DEFAULT_CONTENT,
    ("certificate_policies", False),
    ("1.2.643.100.111", False),  # subjectSignTool
    ("1.2.643.100.112", False),  # issuerSignTool
]


@pytest.fixture
async def russian_ca(tmp_path: Path) -> AsyncIterator[LocalCA]:
    async with opened_local_ca(tmp_path, KC2_PROFILE, **RUSSIAN_ENV) as ca:
        yield ca


def extensions_of(der: bytes) -> list[asn1_x509.Extension]:
    return list(asn1_x509.Certificate.load(der)["tbs_certificate"]["extensions"])


def outline(der: bytes) -> list[tuple[str, bool]]:
    return [(e["extn_id"].native, e["critical"].native) for e in extensions_of(der)]


def value_of(der: bytes, oid: str) -> bytes:
    """The DER inside the extnValue of the one extension `oid`."""
    [found] = [e for e in extensions_of(der) if e["extn_id"].dotted == oid]
    return found["extn_value"].contents


async def ca_der(local_ca: LocalCA) -> bytes:
    generation = await local_ca.registry.active_generation("demo")
    assert generation is not None
    return generation.certificate_der


async def roll(local_ca: LocalCA, extra: str = "", **env: str) -> RolledOver:
    """A rollover 30 days on under the default settings changed by `extra` and `env`."""
    settings = settings_for(local_ca.settings.home, extra, **env)
    authority = Authority(settings, local_ca.registry, local_ca.signer, local_ca.clock)
    local_ca.clock.advance(days=30)
    return await rollover(settings, local_ca.registry, local_ca.backend, authority,
                          local_ca.clock(), SECRET, "t", "scheduled")  # fmt: skip


async def responder_der(local_ca: LocalCA, generation_id: int) -> bytes:
    found = await local_ca.registry.ocsp_responder(generation_id)
    assert found is not None
    record = await local_ca.registry.get_certificate(found[0])
    assert record is not None and record.der is not None
    return record.der


async def test_ru_profile_3_the_ca_certificate_carries_sign_tools_and_class_policies(
    russian_ca: LocalCA,
) -> None:
    """subjectSignTool (1.2.643.100.111, UTF8String), issuerSignTool (1.2.643.100.112, the
    CA's own tools and their conformance certificates: it is its own issuer) and
    certificatePolicies with the classes its profiles issue (KC1 and KC2, no qualifiers),
    all not critical, after the CA content of before."""
    der = await ca_der(russian_ca)
    assert outline(der) == RUSSIAN_CONTENT
    policies = asn1_x509.Certificate.load(der).certificate_policies_value.native
    assert policies == [
        {"policy_identifier": "1.2.643.100.113.1", "policy_qualifiers": None},
        {"policy_identifier": "1.2.643.100.113.2", "policy_qualifiers": None},
    ]
    assert core.UTF8String.load(value_of(der, "1.2.643.100.111")).native == SUBJECT_SIGN_TOOL
    tools = core.Sequence.load(value_of(der, "1.2.643.100.112"))
    assert [core.UTF8String.load(tools[i].dump()).native for i in range(4)] == list(
        ISSUER_SIGN_TOOL
    )
    assert (
        value_of(der, "1.2.643.100.112")
        == ext.issuer_sign_tool(*ISSUER_SIGN_TOOL)["extn_value"].contents
    )
    assert lint_certificate(der) == []


async def test_ru_profile_3_without_a_sign_tool_the_ca_certificate_is_as_before(
    local_ca: LocalCA,
) -> None:
    """Default settings ([ca.issuer_sign_tool] and class policies in the profiles, but no
    ca.subject_sign_tool): the CA certificate's extensions are exactly those of before."""
    der = await ca_der(local_ca)
    assert outline(der) == DEFAULT_CONTENT
    assert lint_certificate(der) == []


async def test_ru_profile_3_the_ca_the_links_and_the_responder_pass_pkilint(
    russian_ca: LocalCA,
) -> None:
    """pkilint with the Russian profile: the CA certificates of both generations, both link
    certificates (RFC 9810 4.4) and both responder certificates (unchanged: RFC 6960
    4.2.2.2)."""
    done = await roll(russian_ca, KC2_PROFILE, **RUSSIAN_ENV)
    links = {link.kind: link.der for link in await russian_ca.registry.links("demo")}
    russian = [done.old.certificate_der, done.new.certificate_der, *links.values()]
    assert len(russian) == 4
    for der in russian:  # linted with the Russian content in them
        assert outline(der)[-3:] == RUSSIAN_CONTENT[-3:]
        assert lint_certificate(der) == []
    for generation in (done.old, done.new):
        responder = await responder_der(russian_ca, generation.id)
        assert lint_certificate(responder) == []


async def test_rfc9810_4_4_a_rollover_carries_the_current_settings_content(
    local_ca: LocalCA,
) -> None:
    """A CA made with default settings, then given the Russian ones: NewWithNew and
    NewWithOld, which certify the new key, carry the new content; OldWithNew still certifies
    what OldWithOld does."""
    done = await roll(local_ca, **RUSSIAN_ENV)
    links = {link.kind: link.der for link in await local_ca.registry.links("demo")}
    assert outline(done.new.certificate_der) == RUSSIAN_CONTENT
    assert outline(links["new_with_old"]) == RUSSIAN_CONTENT
    assert outline(links["old_with_new"]) == outline(done.old.certificate_der) == DEFAULT_CONTENT
    for der in (done.new.certificate_der, *links.values()):
        assert lint_certificate(der) == []


async def test_rfc9810_4_4_a_rollover_to_default_settings_drops_the_russian_content(
    russian_ca: LocalCA,
) -> None:
    """The content follows the settings both ways: without ca.subject_sign_tool now, the new
    key's certificates carry none of it."""
    done = await roll(russian_ca, CA_CA__SUBJECT_SIGN_TOOL='""')
    links = {link.kind: link.der for link in await russian_ca.registry.links("demo")}
    assert outline(done.new.certificate_der) == outline(links["new_with_old"]) == DEFAULT_CONTENT
    assert "1.2.643.100.111" in [name for name, _ in outline(links["old_with_new"])]
