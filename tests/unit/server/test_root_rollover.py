"""The key change of the root CA kept in the home (regulation K2 applied to the root, K3 for
the old root; `root rollover`, server/hierarchy/root_rollover.py): a new root key, the new
self-signed root certificate NewWithNew and the link certificates NewWithOld and
OldWithNew (RFC 9810 4.4), recorded as a new root that succeeds the old one. The newest
root certifies the issuing CA from then on; every live root signs its own CRL; OpenSSL
builds chains across the roots with the links, checking every CRL; EST and CMP hand the
new root and the links out."""

from __future__ import annotations

import asyncio
import dataclasses
import shutil
import subprocess
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat
from cryptography.x509.oid import NameOID
from prometheus_client import CollectorRegistry

from config import load_settings
from protocols import cmp
from server.cli.main import main
from server.context import open_ca, open_registry
from server.enrollment import root_distribution
from server.errors import CAError, ErrorKind
from server.hierarchy.offline_root import open_root_backend
from server.hierarchy.root_publication import RootPublication
from server.hierarchy.root_rollover import roll_over_root
from server.node.health import Health, Readiness
from server.registry import AuditEvent, Registry
from server.registry.records import RootCA, RootCRL, RootLink
from server.web.app import build_app
from server.web.pages.render import thumbprint
from tests.cmp_client import genm_content, genp_items, mac_client, tlv
from tests.lint import lint_certificate, lint_crl
from tests.local_ca import LocalCA
from tests.unit.server.test_cli_subordinate import _rows
from tests.unit.server.test_cmp_rfc9483_rr_genm import ID_IT_ROOT_CA_CERT
from tests.unit.server.test_health import hold_duties
from tests.unit.server.test_hierarchy import (  # noqa: F401 (fixtures)
    Hierarchy,
    _crl_of,
    _generation,
    _issue_leaf,
    _no_root_pin_in_environment,
    _pem,
    hierarchy,
)

OLD_ROOT = "demo-root"


@dataclass
class RootRolled:
    """A hierarchy home whose root rolled over: `old_leaf` issued under generation 1 (the
    old root's), then `root rollover`, then `rollover` (generation 2, the new root's) and
    `new_leaf` under it."""

    hierarchy: Hierarchy
    out: str
    new_name: str
    new_root: x509.Certificate
    new_with_old: x509.Certificate
    old_with_new: x509.Certificate
    old_leaf: Path
    new_leaf: Path
    second_issuing: x509.Certificate

    @property
    def home(self) -> Path:
        return self.hierarchy.home

    @property
    def folder(self) -> Path:
        return self.hierarchy.folder


async def _root_records(home: Path) -> tuple[list[RootCA], list[RootLink], dict[str, RootCRL]]:
    registry = await open_registry(load_settings(home))
    try:
        read = await registry.roots.roots()
        links = await registry.roots.links()
        return [r for r, _ in read], links, {r.name: c for r, c in read if c is not None}
    finally:
        await registry.close()


def _records(home: Path) -> tuple[list[RootCA], list[RootLink], dict[str, RootCRL]]:
    return asyncio.run(_root_records(home))


@pytest.fixture
def rolled(hierarchy: Hierarchy, capsys: pytest.CaptureFixture[str]) -> RootRolled:  # noqa: F811
    home, folder = hierarchy.home, hierarchy.folder
    old_leaf = folder / "old-leaf.pem"
    shutil.move(_issue_leaf(hierarchy, capsys), old_leaf)
    assert main(["root", "rollover", "--home", str(home), "--reason", "K2: 14 days left"]) == 0
    out = capsys.readouterr().out
    roots, links, _ = _records(home)
    new = roots[-1]
    by_kind = {link.kind: x509.load_der_x509_certificate(link.der) for link in links}
    assert main(["rollover", "--home", str(home)]) == 0
    # the issuing CA's new generation is the newest root's, and the output names it
    assert capsys.readouterr().out.startswith(
        f"CA 'demo' rolled over from generation 1 to 2, certified by the root CA {new.name!r}\n"
    )
    (folder / "leaf.csr").unlink()
    new_leaf = folder / "new-leaf.pem"
    shutil.move(_issue_leaf(hierarchy, capsys), new_leaf)
    return RootRolled(
        hierarchy=hierarchy,
        out=out,
        new_name=new.name,
        new_root=x509.load_der_x509_certificate(new.certificate_der),
        new_with_old=by_kind["new_with_old"],
        old_with_new=by_kind["old_with_new"],
        old_leaf=old_leaf,
        new_leaf=new_leaf,
        second_issuing=x509.load_der_x509_certificate(_generation(home).certificate_der),
    )


def _spki(certificate: x509.Certificate) -> bytes:
    return certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)


def _key_id(certificate: x509.Certificate) -> bytes:
    return certificate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest


def _authority_key_id(certificate: x509.Certificate) -> bytes | None:
    aki = certificate.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    return aki.key_identifier


def test_rfc9810_4_4_root_rollover_makes_a_new_root_and_both_links(rolled: RootRolled) -> None:
    old, new = rolled.hierarchy.root, rolled.new_root
    new_with_old, old_with_new = rolled.new_with_old, rolled.old_with_new
    roots, links, _ = _records(rolled.home)
    assert [r.name for r in roots] == [OLD_ROOT, f"{OLD_ROOT}-{_key_id(new).hex()}"]
    assert (roots[0].succeeds, roots[1].succeeds) == (None, OLD_ROOT)
    assert rolled.new_name == roots[1].name
    # NewWithNew: the same subject, a new key, self-signed, what create_root gives a root
    assert new.subject == new.issuer == old.subject
    assert _spki(new) != _spki(old)
    new.verify_directly_issued_by(new)
    usage = new.extensions.get_extension_for_class(x509.KeyUsage).value
    assert (usage.key_cert_sign, usage.crl_sign, usage.digital_signature) == (True, True, False)
    constraints = new.extensions.get_extension_for_class(x509.BasicConstraints).value
    assert (constraints.ca, constraints.path_length) == (True, None)
    assert _authority_key_id(new) == _key_id(new)
    validity = new.not_valid_after_utc - new.not_valid_before_utc
    assert validity == timedelta(days=load_settings(rolled.home).root.validity_days)
    # NewWithOld: the new key signed by the old one, ending with the old root at the latest
    assert _spki(new_with_old) == _spki(new)
    new_with_old.verify_directly_issued_by(old)
    assert (_key_id(new_with_old), _authority_key_id(new_with_old)) == (_key_id(new), _key_id(old))
    assert new_with_old.not_valid_after_utc == min(old.not_valid_after_utc,
                                                   new.not_valid_after_utc)  # fmt: skip
    # OldWithNew: the old key signed by the new one, with the old root's validity
    assert _spki(old_with_new) == _spki(old)
    old_with_new.verify_directly_issued_by(new)
    assert (_key_id(old_with_new), _authority_key_id(old_with_new)) == (_key_id(old), _key_id(new))
    assert (old_with_new.not_valid_before_utc, old_with_new.not_valid_after_utc) == (
        old.not_valid_before_utc, old.not_valid_after_utc)  # fmt: skip
    assert {(link.kind, link.issuer_root, link.subject_root) for link in links} == {
        ("new_with_old", OLD_ROOT, rolled.new_name),
        ("old_with_new", rolled.new_name, OLD_ROOT),
    }
    out = rolled.out.splitlines()
    assert out[0] == f"root CA '{OLD_ROOT}' rolled over to '{rolled.new_name}'"
    assert out[1].startswith(f"  root certificate serial {new.serial_number:x}, key id "
                             f"{_key_id(new).hex()}, valid until ")  # fmt: skip
    assert out[2] == f"  NewWithOld link certificate serial {new_with_old.serial_number:x}"
    assert out[3] == f"  OldWithNew link certificate serial {old_with_new.serial_number:x}"
    assert out[4].startswith("  CRL number 2 published, next update ")


def test_rfc9810_4_4_the_new_root_its_links_and_every_root_crl_pass_pkilint(
    rolled: RootRolled,
) -> None:
    for certificate in (rolled.new_root, rolled.new_with_old, rolled.old_with_new,
                        rolled.second_issuing):  # fmt: skip
        assert lint_certificate(certificate.public_bytes(Encoding.DER)) == []
    _, _, crls = _records(rolled.home)
    assert set(crls) == {OLD_ROOT, rolled.new_name}
    for crl in crls.values():
        assert lint_crl(crl.der) == []


def test_k2_root_rollover_is_audited_with_its_reason(rolled: RootRolled) -> None:
    async def entries() -> list[Any]:
        registry = await open_registry(load_settings(rolled.home))
        try:
            assert (await registry.verify_audit_chain()).intact
            return [(e.target, e.details) for e in await registry.search.audit_entries(200, None)
                    if e.action == "ca.root.rollover"]  # fmt: skip
        finally:
            await registry.close()

    assert asyncio.run(entries()) == [(
        f"{rolled.new_root.serial_number:x}",
        {"from": OLD_ROOT, "to": rolled.new_name, "reason": "K2: 14 days left",
         "algorithm": "ec-p256", "new_with_old": f"{rolled.new_with_old.serial_number:x}",
         "old_with_new": f"{rolled.old_with_new.serial_number:x}", "crl_number": 2},
    )]  # fmt: skip


def test_k2_the_issuing_ca_rolled_over_after_the_root_is_certified_by_the_newest_root(
    rolled: RootRolled,
) -> None:
    """The next generation's chain is the new root, and its certificate names where the
    new root publishes (RFC 5280 4.2.1.13, 4.2.2.1); generation 1 keeps the old root."""
    issuing = rolled.second_issuing
    issuing.verify_directly_issued_by(rolled.new_root)
    assert _generation(rolled.home).parent_chain == (rolled.new_root.public_bytes(Encoding.DER),)
    (point,) = issuing.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    assert [n.value for n in point.full_name or []] == [
        f"http://127.0.0.1:8080/crl/{rolled.new_name}.crl"
    ]
    aia = issuing.extensions.get_extension_for_class(x509.AuthorityInformationAccess).value
    assert [d.access_location.value for d in aia] == [
        f"http://127.0.0.1:8080/ca/{rolled.new_name}.crt"
    ]
    rolled.hierarchy.issuing.verify_directly_issued_by(rolled.hierarchy.root)


def _write_root_crls(rolled: RootRolled) -> list[str]:
    _, _, crls = _records(rolled.home)
    files = []
    for name, crl in crls.items():
        path = rolled.folder / f"{name}.crl.pem"
        path.write_bytes(x509.load_der_x509_crl(crl.der).public_bytes(Encoding.PEM))
        files += ["-CRLfile", str(path)]
    return files


def _openssl_verify(
    rolled: RootRolled,
    trusted: x509.Certificate,
    leaf: Path,
    untrusted: list[x509.Certificate],
    generation: int,
    capsys: pytest.CaptureFixture[str],
) -> subprocess.CompletedProcess[str]:
    """`openssl verify -crl_check_all` of `leaf` from `trusted`, with every root's CRL and
    the leaf's generation's CRL."""
    folder = rolled.folder
    (folder / "anchor.pem").write_bytes(_pem(trusted))
    (folder / "untrusted.pem").write_bytes(_pem(*untrusted))
    (folder / "issuing-crl.pem").write_bytes(_crl_of(rolled.home, generation, capsys))
    return subprocess.run(["openssl", "verify", "-crl_check_all", "-CAfile", folder / "anchor.pem",
                           "-untrusted", folder / "untrusted.pem", *_write_root_crls(rolled),
                           "-CRLfile", folder / "issuing-crl.pem", leaf],
                          capture_output=True, text=True)  # fmt: skip


def test_rfc9810_4_4_openssl_verifies_under_the_old_root_from_the_new_root_with_old_with_new(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    """OldWithNew (the old root's key signed by the new) lets a relying party that trusts
    only the new root validate what the old root certified, the old root's CRL checked
    against the old key and the link against the new root's CRL; without it, no chain."""
    issuing = rolled.hierarchy.issuing
    verified = _openssl_verify(rolled, rolled.new_root, rolled.old_leaf,
                               [issuing, rolled.old_with_new], 1, capsys)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout == f"{rolled.old_leaf}: OK\n"
    without = _openssl_verify(rolled, rolled.new_root, rolled.old_leaf, [issuing], 1, capsys)
    assert without.returncode != 0
    assert "unable to get local issuer certificate" in without.stdout + without.stderr


def test_rfc9810_4_4_openssl_verifies_under_the_new_root_from_the_old_root_with_new_with_old(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    """NewWithOld (the new root's key signed by the old) lets a relying party that trusts
    only the old root reach the new one and what it certified; without it, no chain."""
    issuing = rolled.second_issuing
    verified = _openssl_verify(rolled, rolled.hierarchy.root, rolled.new_leaf,
                               [issuing, rolled.new_with_old], 2, capsys)  # fmt: skip
    assert verified.returncode == 0, verified.stdout + verified.stderr
    assert verified.stdout == f"{rolled.new_leaf}: OK\n"
    without = _openssl_verify(rolled, rolled.hierarchy.root, rolled.new_leaf, [issuing], 2,
                              capsys)  # fmt: skip
    assert without.returncode != 0
    # and each root's own certificates verify from it directly
    for anchor, leaf, chain, generation in (
        (rolled.hierarchy.root, rolled.old_leaf, [rolled.hierarchy.issuing], 1),
        (rolled.new_root, rolled.new_leaf, [issuing], 2),
    ):
        direct = _openssl_verify(rolled, anchor, leaf, chain, generation, capsys)
        assert direct.returncode == 0, direct.stdout + direct.stderr


def test_k3_root_crl_signs_a_crl_for_every_live_root_each_with_its_own_key(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["root", "crl", "--home", str(rolled.home)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert [line.split(", next update")[0] for line in out] == [
        f"root CA '{OLD_ROOT}': CRL number 3 published",
        f"root CA '{rolled.new_name}': CRL number 4 published",
    ]
    _, _, crls = _records(rolled.home)
    for name, root, number in ((OLD_ROOT, rolled.hierarchy.root, 3),
                               (rolled.new_name, rolled.new_root, 4)):  # fmt: skip
        crl = x509.load_der_x509_crl(crls[name].der)
        assert crl.is_signature_valid(root.public_key())  # type: ignore[arg-type]
        aki = crl.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
        assert aki.key_identifier == _key_id(root)
        assert crl.extensions.get_extension_for_class(x509.CRLNumber).value.crl_number == number
        assert lint_crl(crls[name].der) == []


def test_k3_root_revoke_finds_the_root_that_signed_the_serial_and_lists_it_in_its_crl(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generation 1 was certified by the old root: its revocation is in the old root's
    CRL, signed by the old key, not in the new root's; the chain through it fails."""
    issuing = rolled.hierarchy.issuing
    assert main(["root", "revoke", "--home", str(rolled.home), "--serial",
                 f"{issuing.serial_number:x}", "--grounds", "key copied"]) == 0  # fmt: skip
    assert capsys.readouterr().out == (
        f"root CA '{OLD_ROOT}': certificate {issuing.serial_number:x} revoked (cACompromise), "
        "CRL number 3 published\n"
    )
    _, _, crls = _records(rolled.home)
    old_crl = x509.load_der_x509_crl(crls[OLD_ROOT].der)
    assert old_crl.get_revoked_certificate_by_serial_number(issuing.serial_number) is not None
    assert old_crl.is_signature_valid(rolled.hierarchy.root.public_key())  # type: ignore[arg-type]
    new_crl = x509.load_der_x509_crl(crls[rolled.new_name].der)
    assert new_crl.get_revoked_certificate_by_serial_number(issuing.serial_number) is None
    verified = _openssl_verify(rolled, rolled.new_root, rolled.old_leaf,
                               [issuing, rolled.old_with_new], 1, capsys)  # fmt: skip
    assert verified.returncode != 0
    assert "certificate revoked" in verified.stdout + verified.stderr


def test_root_show_lists_every_root_what_it_signed_and_the_links(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["root", "show", "--home", str(rolled.home)]) == 0
    shown = capsys.readouterr().out.splitlines()
    first = shown.index(f"root CA '{OLD_ROOT}': CN=Test Root,O=Test,C=RU")
    second = shown.index(f"root CA '{rolled.new_name}': CN=Test Root,O=Test,C=RU")
    assert first == 0 < second
    assert f"  succeeds '{OLD_ROOT}': NewWithOld link {rolled.new_with_old.serial_number:x}, " \
           f"OldWithNew link {rolled.old_with_new.serial_number:x}" in shown[second:]  # fmt: skip
    signed_first = f"  signed {rolled.hierarchy.issuing.serial_number:x}: CN=Demo CA,O=Demo,C=RU"
    signed_second = f"  signed {rolled.second_issuing.serial_number:x}: CN=Demo CA,O=Demo,C=RU"
    assert any(line.startswith(signed_first) for line in shown[:second])
    assert any(line.startswith(signed_second) for line in shown[second:])


def test_rfc5280_4_2_2_1_the_server_publishes_every_root_by_its_name_and_their_metrics(
    rolled: RootRolled,
) -> None:
    home = rolled.home

    async def served() -> tuple[Any, ...]:
        async with (
            open_ca(load_settings(home), signing=False) as ca,
            TestClient(TestServer(build_app(ca))) as client,
        ):
            bodies = []
            for path in (f"/ca/{OLD_ROOT}.crt", f"/ca/{rolled.new_name}.crt",
                         f"/crl/{OLD_ROOT}.crl", f"/crl/{rolled.new_name}.crl"):  # fmt: skip
                answer = await client.get(path)
                bodies.append((answer.status, await answer.read()))
            metrics = await (await client.get("/metrics")).text()
            return bodies, metrics

    bodies, metrics = asyncio.run(served())
    _, _, crls = _records(home)
    assert bodies == [
        (200, rolled.hierarchy.root.public_bytes(Encoding.DER)),
        (200, rolled.new_root.public_bytes(Encoding.DER)),
        (200, crls[OLD_ROOT].der),
        (200, crls[rolled.new_name].der),
    ]
    samples = dict(m.split(" ") for m in metrics.splitlines() if m.startswith("ca_root_"))
    assert len(samples) == 4
    for name in (OLD_ROOT, rolled.new_name):
        next_update = samples[f'ca_root_crl_next_update_timestamp_seconds{{root="{name}"}}']
        assert float(next_update) == crls[name].next_update.timestamp()
        remaining = samples[f'ca_root_key_usage_remaining_seconds{{root="{name}"}}']
        assert 0 < float(remaining) <= timedelta(days=7300).total_seconds()


def test_rfc7030_4_1_3_cacerts_hands_out_the_new_root_and_the_root_links(
    rolled: RootRolled,
) -> None:
    async def handed() -> list[bytes]:
        async with open_ca(load_settings(rolled.home), signing=False) as ca:
            return await root_distribution.ca_certificates(ca.registry, "demo", ca.clock())

    certificates = asyncio.run(handed())
    der = [c.public_bytes(Encoding.DER) for c in (
        rolled.hierarchy.issuing, rolled.second_issuing, rolled.hierarchy.root, rolled.new_root,
        rolled.new_with_old, rolled.old_with_new)]  # fmt: skip
    assert certificates == der


def test_s12_the_public_page_lists_both_roots_their_links_and_both_generations(
    rolled: RootRolled,
) -> None:
    async def page() -> str:
        async with (
            open_ca(load_settings(rolled.home), signing=False) as ca,
            TestClient(TestServer(build_app(ca))) as client,
        ):
            answer = await client.get("/?lang=en")
            assert answer.status == 200
            return await answer.text()

    html = asyncio.run(page())
    for certificate in (rolled.hierarchy.issuing, rolled.second_issuing, rolled.hierarchy.root,
                        rolled.new_root, rolled.new_with_old, rolled.old_with_new):  # fmt: skip
        assert thumbprint(certificate.fingerprint(hashes.SHA256())) in html
    base = load_settings(rolled.home).ca.base_url
    for name in (OLD_ROOT, rolled.new_name):
        assert f'href="{base}/ca/{name}.crt"' in html and f'href="{base}/crl/{name}.crl"' in html
    assert html.count("<td>root CA</td>") == 2 and html.count("<td>link (") == 2


def test_rfc9483_4_3_2_root_ca_key_update_leads_a_client_of_the_old_home_root_to_the_new(
    rolled: RootRolled,
) -> None:
    old, new = rolled.hierarchy.root, rolled.new_root

    async def updates() -> tuple[Any, ...]:
        async with open_ca(load_settings(rolled.home), signing=False) as ca:
            registry = ca.registry
            from_old = await root_distribution.root_key_update(
                registry, "demo", old.public_bytes(Encoding.DER), ca.clock()
            )
            unnamed = await root_distribution.root_key_update(registry, "demo", None, ca.clock())
            from_new = await root_distribution.root_key_update(
                registry, "demo", new.public_bytes(Encoding.DER), ca.clock()
            )
            with pytest.raises(CAError) as refused:
                await root_distribution.root_key_update(
                    registry, "demo", rolled.new_with_old.public_bytes(Encoding.DER), ca.clock()
                )
            return from_old, unnamed, from_new, refused.value

    from_old, unnamed, from_new, refusal = asyncio.run(updates())
    expected = root_distribution.RootKeyUpdate(
        new_with_new=new.public_bytes(Encoding.DER),
        new_with_old=rolled.new_with_old.public_bytes(Encoding.DER),
        old_with_new=rolled.old_with_new.public_bytes(Encoding.DER),
    )
    assert from_old == expected
    assert unnamed == expected  # no root named: the update into the newest root
    assert from_new is None  # the newest root: nothing to update to
    assert refusal.kind is ErrorKind.NOT_FOUND
    assert str(refusal) == "the rootCaCert is none of this CA's roots"


def test_root_rollover_with_the_root_offline_is_refused_and_changes_nothing(
    hierarchy: Hierarchy,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
) -> None:
    home = hierarchy.home
    shutil.move(home / "root", hierarchy.folder / "offline-root")
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    keys = sorted(p.name for p in (hierarchy.folder / "offline-root" / "keys").iterdir())
    assert main(["root", "rollover", "--home", str(home)]) == 1
    assert capsys.readouterr().err == (
        "error: the root CA's key is not at hand: soft backend: no secret: environment "
        "variable CA_ROOT_PIN is not set or empty; cannot read secret file "
        f"{home / 'root' / 'pin.txt'}: No such file or directory\n"
    )
    assert asyncio.run(_rows(url)) == rows
    assert sorted(p.name for p in (hierarchy.folder / "offline-root" / "keys").iterdir()) == keys
    assert not (home / "root").exists()


@pytest.mark.parametrize(
    ("arguments", "error"),
    [
        (["rollover", "--serial", "ab"], "--serial and --grounds are options of root revoke"),
        (["crl", "--reason", "x"], "--reason is an option of root rollover"),
    ],
)
def test_root_rollover_option_refusals_are_exact_and_change_nothing(
    hierarchy: Hierarchy,  # noqa: F811
    capsys: pytest.CaptureFixture[str],
    arguments: list[str],
    error: str,
) -> None:
    url = f"sqlite:///{hierarchy.home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    keys = sorted(p.name for p in (hierarchy.home / "root" / "keys").iterdir())
    assert main(["root", arguments[0], "--home", str(hierarchy.home), *arguments[1:]]) == 1
    assert capsys.readouterr().err == f"error: {error}\n"
    assert asyncio.run(_rows(url)) == rows
    assert sorted(p.name for p in (hierarchy.home / "root" / "keys").iterdir()) == keys


def test_root_rollover_in_a_home_without_a_root_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home)]) == 0
    capsys.readouterr()
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    assert main(["root", "rollover", "--home", str(home)]) == 1
    assert capsys.readouterr().err == (
        "error: this home has no root CA (root.name is empty: it was not made by init "
        "--hierarchy)\n"
    )
    assert asyncio.run(_rows(url)) == rows


def test_root_rollover_on_either_engine_and_a_second_from_the_same_root_is_refused(
    empty_registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Migration 0025 on SQLite and PostgreSQL: the new root, its CRL and links recorded;
    a rollover from a root already succeeded (another command came first) is refused and
    changes nothing; the roots' CRL numbers stay one increasing sequence."""
    home = tmp_path / "ca"
    assert main(["init", "--home", str(home), "--hierarchy", "root+issuing",
                 "--registry-url", empty_registry]) == 0  # fmt: skip
    assert main(["root", "rollover", "--home", str(home)]) == 0
    capsys.readouterr()

    async def check() -> tuple[Any, ...]:
        registry = await Registry.open_url(empty_registry, pool_size=1)
        try:
            read = await registry.roots.roots()
            old, new = (root for root, _ in read)
            links = await registry.roots.links()
            before = await _rows(empty_registry)
            racing = dataclasses.replace(new, name=f"{OLD_ROOT}-racing", key_id=b"\x07" * 20)
            crl = RootCRL(await registry.roots.last_crl_number() + 1, new.not_after,
                          new.not_after, b"crl")  # fmt: skip
            with pytest.raises(CAError) as refused:
                await registry.roots.record_root_rollover(
                    racing, crl, (), AuditEvent("test", "ca.root.rollover", "x"), new.not_after
                )
            after = await _rows(empty_registry)
            return old, new, links, [c.number for _, c in read if c], refused.value, before, after
        finally:
            await registry.close()

    old, new, links, numbers, refusal, before, after = asyncio.run(check())
    assert (old.name, old.succeeds, new.succeeds) == (OLD_ROOT, None, OLD_ROOT)
    assert sorted((link.kind, link.issuer_root, link.subject_root) for link in links) == [
        ("new_with_old", OLD_ROOT, new.name), ("old_with_new", new.name, OLD_ROOT)]  # fmt: skip
    assert numbers == [1, 2]
    assert refusal.kind is ErrorKind.REJECTED
    assert str(refusal) == (
        f"root CA '{OLD_ROOT}' was rolled over by another command meanwhile: nothing was recorded"
    )
    assert before == after


async def test_k2_healthz_warns_inside_the_newest_roots_rollover_window_and_the_metric_shows_it(
    local_ca: LocalCA,
) -> None:
    """No duty can change an offline root's key: /healthz warns (never a 503) once the
    newest root is within ca.rollover_before_days of its end, and
    ca_root_key_usage_remaining_seconds shows the seconds left; a root rolled over is no
    longer the one warned about."""
    settings = dataclasses.replace(
        local_ca.settings, root=dataclasses.replace(local_ca.settings.root, name=OLD_ROOT)
    )
    now = local_ca.clock()
    end = now + timedelta(days=1000)  # before the issuing CA's end, which /healthz fails at
    root = RootCA(OLD_ROOT, b"\x01" * 20, "file:root", "ec-p256", b"root certificate", end)
    crl = RootCRL(1, end - timedelta(days=20), end, b"root crl")  # warned 10 days ahead
    await local_ca.registry.roots.record_root(root, crl, AuditEvent("t", "ca.root.create", "1"),
                                              now)  # fmt: skip
    metrics = CollectorRegistry()
    publication = RootPublication(local_ca.registry, metrics, local_ca.clock)
    checker = Health(settings, local_ca.registry, local_ca.signer, lambda: 1, local_ca.clock,
                     roots=publication)  # fmt: skip
    local_ca.clock.now = end - timedelta(days=14, seconds=1)
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(None)
    local_ca.clock.now = end - timedelta(days=14)
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(
        None,
        f"root CA '{OLD_ROOT}' is within its rollover window (14.0 days left): run root "
        "rollover with the root's key at hand",
    )
    await publication.refresh_metrics()
    remaining = metrics.get_sample_value("ca_root_key_usage_remaining_seconds", {"root": OLD_ROOT})
    assert remaining == timedelta(days=14).total_seconds()


async def test_healthz_warns_about_each_live_roots_crl_after_a_root_rollover(
    local_ca: LocalCA,
) -> None:
    """K3: the old root's CRL is to be renewed as long as the old root is live, the new
    root's too; once the old root's certificate ends, neither its CRL nor its metric
    is asked for."""
    settings = dataclasses.replace(
        local_ca.settings, root=dataclasses.replace(local_ca.settings.root, name=OLD_ROOT)
    )
    now = local_ca.clock()
    old_end, new_end = now + timedelta(days=400), now + timedelta(days=7300)
    old = RootCA(OLD_ROOT, b"\x01" * 20, "file:old", "ec-p256", b"old root", old_end)
    new = RootCA(f"{OLD_ROOT}-02", b"\x02" * 20, "file:new", "ec-p256", b"new root", new_end,
                 succeeds=OLD_ROOT)  # fmt: skip
    audit = AuditEvent("t", "ca.root.create", "1")
    await local_ca.registry.roots.record_root(old, RootCRL(1, now, old_end, b"1"), audit, now)
    await local_ca.registry.roots.record_root_rollover(
        new, RootCRL(2, now, now + timedelta(days=365), b"2"), (), audit, now
    )
    metrics = CollectorRegistry()
    publication = RootPublication(local_ca.registry, metrics, local_ca.clock)
    checker = Health(settings, local_ca.registry, local_ca.signer, lambda: 1, local_ca.clock,
                     roots=publication)  # fmt: skip
    local_ca.clock.now = now + timedelta(days=380)
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(
        None,
        f"root CA '{OLD_ROOT}''s CRL reaches its next update in 20.0 days: run root crl; "
        f"root CA '{OLD_ROOT}-02''s CRL passed its next update "
        f"({now + timedelta(days=365):%Y-%m-%d %H:%M} UTC): run root crl",
    )
    await publication.refresh_metrics()
    assert metrics.get_sample_value("ca_root_crl_next_update_timestamp_seconds",
                                    {"root": OLD_ROOT}) == old_end.timestamp()  # fmt: skip
    local_ca.clock.now = old_end + timedelta(seconds=1)  # notAfter itself is still valid
    await hold_duties(local_ca)
    assert await checker.readiness() == Readiness(
        None,
        f"root CA '{OLD_ROOT}-02''s CRL passed its next update "
        f"({now + timedelta(days=365):%Y-%m-%d %H:%M} UTC): run root crl",
    )
    await publication.refresh_metrics()
    for name in (
        "ca_root_crl_next_update_timestamp_seconds",
        "ca_root_key_usage_remaining_seconds",
    ):
        assert metrics.get_sample_value(name, {"root": OLD_ROOT}) is None
    assert metrics.get_sample_value("ca_root_key_usage_remaining_seconds",
                                    {"root": f"{OLD_ROOT}-02"}) == (
        new_end - local_ca.clock.now).total_seconds()  # fmt: skip


def test_k4_compromise_of_a_generation_under_the_old_root_is_revoked_by_the_old_root(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    """After a root rollover, generation 1 is still the old root's: its compromise is
    listed in the old root's CRL (K3: the old key answers for what it signed), and the new
    key is certified by the newest root."""
    issuing = rolled.hierarchy.issuing
    assert main(["compromise", "--home", str(rolled.home), "--generation", "1",
                 "--grounds", "key copied"]) == 0  # fmt: skip
    # the output names the root whose CRL lists it: the old one, which certified it
    assert capsys.readouterr().out.splitlines()[2] == (
        f"  revoked (cACompromise) in the root CA {OLD_ROOT!r}'s CRL: {issuing.serial_number:x}"
    )
    _, _, crls = _records(rolled.home)
    old_crl = x509.load_der_x509_crl(crls[OLD_ROOT].der)
    assert old_crl.get_revoked_certificate_by_serial_number(issuing.serial_number) is not None
    assert old_crl.is_signature_valid(rolled.hierarchy.root.public_key())  # type: ignore[arg-type]
    new_crl = x509.load_der_x509_crl(crls[rolled.new_name].der)
    assert new_crl.get_revoked_certificate_by_serial_number(issuing.serial_number) is None
    third = _generation(rolled.home)
    assert third.id == 3
    assert third.parent_chain == (rolled.new_root.public_bytes(Encoding.DER),)
    x509.load_der_x509_certificate(third.certificate_der).verify_directly_issued_by(rolled.new_root)


def _self_issued(name: str, key: ec.EllipticCurvePrivateKey, signer: ec.EllipticCurvePrivateKey,
                 now: datetime) -> bytes:  # fmt: skip
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    builder = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject)
        .public_key(key.public_key()).serial_number(x509.random_serial_number())
        .not_valid_before(now).not_valid_after(now + timedelta(days=7300))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
    )  # fmt: skip
    return builder.sign(signer, hashes.SHA256()).public_bytes(Encoding.DER)


async def test_rfc9483_4_3_1_and_4_3_2_cmp_hands_out_the_home_roots_and_leads_the_old_to_the_new(
    local_ca: LocalCA,
) -> None:
    """Through the CMP server: genm caCerts carries the CA's generation, then both home
    roots and the root links (RFC 9483 4.3.1); genm rootCaCert naming the old home root is
    answered with the new root, NewWithOld and OldWithNew (4.3.2)."""
    now = local_ca.clock()
    old_key, new_key = (
        ec.generate_private_key(ec.SECP256R1()),
        ec.generate_private_key(ec.SECP256R1()),
    )
    old_der = _self_issued("Root", old_key, old_key, now)
    new_der = _self_issued("Root", new_key, new_key, now)
    new_with_old = _self_issued("Root", new_key, old_key, now)
    old_with_new = _self_issued("Root", old_key, new_key, now)
    end = now + timedelta(days=7300)
    old = RootCA(OLD_ROOT, b"\x01" * 20, "file:old", "ec-p256", old_der, end)
    new = RootCA(f"{OLD_ROOT}-02", b"\x02" * 20, "file:new", "ec-p256", new_der, end,
                 succeeds=OLD_ROOT)  # fmt: skip
    audit = AuditEvent("t", "ca.root.create", "1")
    links = (
        RootLink("01", "new_with_old", old.name, new.name, now, end, new_with_old),
        RootLink("02", "old_with_new", new.name, old.name, now, end, old_with_new),
    )
    roots = local_ca.registry.roots
    await roots.record_root(old, RootCRL(1, now, end, b"1"), audit, now)
    await roots.record_root_rollover(new, RootCRL(2, now, end, b"2"), links, audit, now)
    generation = await local_ca.registry.active_generation("demo")
    assert generation is not None

    client = await mac_client(local_ca)
    answer = await client.send("genm", genm_content((cmp.ID_IT_CA_CERTS, None)), new=True)
    assert genp_items(answer) == [(cmp.ID_IT_CA_CERTS, tlv(0x30, b"".join(
        (generation.certificate_der, old_der, new_der, new_with_old, old_with_new))))]  # fmt: skip
    answer = await client.send("genm", genm_content((ID_IT_ROOT_CA_CERT, old_der)), new=True)
    assert genp_items(answer) == [(cmp.ID_IT_ROOT_CA_KEY_UPDATE,
                                   cmp.root_ca_key_update_value(new_der, new_with_old,
                                                                old_with_new))]  # fmt: skip
    answer = await client.send("genm", genm_content((ID_IT_ROOT_CA_CERT, new_der)), new=True)
    assert genp_items(answer) == [(cmp.ID_IT_ROOT_CA_KEY_UPDATE, None)]


class _StaleRoots:
    """The root records as a command that read them before another's rollover sees them:
    only the first root (the race `record_root_rollover` refuses)."""

    def __init__(self, records: Any) -> None:
        self._records = records

    def __getattr__(self, name: str) -> Any:
        return getattr(self._records, name)

    async def root_cas(self) -> list[RootCA]:
        return [root for root in await self._records.root_cas() if root.succeeds is None]


def test_k2_a_root_rollover_overtaken_by_another_records_nothing_and_destroys_its_key(
    rolled: RootRolled,
) -> None:
    home = rolled.home
    settings = load_settings(home)
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    keys = sorted(p.name for p in (home / "root" / "keys").iterdir())

    async def overtaken() -> CAError:
        registry = await open_registry(settings)
        backend = open_root_backend(settings)
        try:
            with pytest.raises(CAError) as refused:
                await roll_over_root(settings, _StaleRoots(registry.roots), backend,
                                     datetime.now(UTC), "test", "scheduled")  # fmt: skip
            return refused.value
        finally:
            backend.close()
            await registry.close()

    refusal = asyncio.run(overtaken())
    assert refusal.kind is ErrorKind.REJECTED
    assert str(refusal) == (
        f"root CA '{OLD_ROOT}' was rolled over by another command meanwhile: nothing was recorded"
    )
    assert asyncio.run(_rows(url)) == rows
    assert sorted(p.name for p in (home / "root" / "keys").iterdir()) == keys


def test_rfc9810_4_4_a_root_whose_certificate_ended_is_not_rolled_over_and_nothing_is_made(
    hierarchy: Hierarchy,  # noqa: F811
) -> None:
    """NewWithOld needs the old root's key while its certificate is valid: past its end
    the rollover is refused before any key is made."""
    home = hierarchy.home
    settings = load_settings(home)
    url = f"sqlite:///{home / 'registry.sqlite3'}"
    rows = asyncio.run(_rows(url))
    keys = sorted(p.name for p in (home / "root" / "keys").iterdir())
    end = hierarchy.root.not_valid_after_utc

    async def refused() -> CAError:
        registry = await open_registry(settings)
        backend = open_root_backend(settings)
        try:
            with pytest.raises(CAError) as refusal:
                await roll_over_root(settings, registry.roots, backend, end, "test", "scheduled")
            return refusal.value
        finally:
            backend.close()
            await registry.close()

    refusal = asyncio.run(refused())
    assert refusal.kind is ErrorKind.REJECTED
    assert str(refusal) == (
        f"the newest root CA '{OLD_ROOT}''s certificate ended {end:%Y-%m-%d %H:%M} UTC: it can "
        "certify no new key (RFC 9810 4.4 needs the old root valid); nothing was made"
    )
    assert asyncio.run(_rows(url)) == rows
    assert sorted(p.name for p in (home / "root" / "keys").iterdir()) == keys


def test_k4_compromise_of_a_generation_under_the_new_root_is_revoked_by_the_new_root(
    rolled: RootRolled, capsys: pytest.CaptureFixture[str]
) -> None:
    """Generation 2, certified by the newest root: the output and the CRL are that root's."""
    second = rolled.second_issuing
    assert main(["compromise", "--home", str(rolled.home), "--generation", "2",
                 "--grounds", "key copied"]) == 0  # fmt: skip
    assert capsys.readouterr().out.splitlines()[2] == (
        f"  revoked (cACompromise) in the root CA {rolled.new_name!r}'s CRL: "
        f"{second.serial_number:x}"
    )
    _, _, crls = _records(rolled.home)
    new_crl = x509.load_der_x509_crl(crls[rolled.new_name].der)
    assert new_crl.get_revoked_certificate_by_serial_number(second.serial_number) is not None
    old_crl = x509.load_der_x509_crl(crls[OLD_ROOT].der)
    assert old_crl.get_revoked_certificate_by_serial_number(second.serial_number) is None
