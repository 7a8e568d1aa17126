"""OCSP and CRLs end to end: a running server, the CLI changing statuses, and OpenSSL as
the relying party (`openssl ocsp`, `openssl verify -crl_check`), pkilint on what is served.

The certificates: `good`, `revoked` (keyCompromise), `held` (certificateHold), `resumed`
(held, then resumed), and a serial never issued."""

from __future__ import annotations

import base64
import os
import time
import urllib.parse
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from protocols import crl as crl_codec
from protocols import ocsp
from tests.integration.cli import openssl, run_cli
from tests.integration.conftest import ENGINES, CAHome, init_home
from tests.integration.server_process import ServerProcess, http
from tests.lint import lint_crl, lint_ocsp_response

NEVER_ISSUED = 0x1234567890ABCDEF


@dataclass
class World:
    ca: CAHome
    server: ServerProcess
    folder: Path
    ca_file: Path
    certs: dict[str, Path]
    changed: bool = False  # the status changes made (make_changes)

    def serial(self, name: str) -> int:
        return x509.load_pem_x509_certificate(self.certs[name].read_bytes()).serial_number

    def ocsp(self, *args: str | Path) -> str:
        """`openssl ocsp` against the server; returns what it printed, checked OK."""
        result = openssl("ocsp", "-issuer", self.ca_file, "-CAfile", self.ca_file,
                         "-url", self.server.url + "/ocsp", *args)  # fmt: skip
        out = (result.stdout + result.stderr).decode()
        assert result.returncode == 0, out
        assert "Response verify OK" in out, out
        return out


def issue(ca: CAHome, folder: Path, name: str) -> Path:
    key, csr, pem = folder / f"{name}.key", folder / f"{name}.csr", folder / f"{name}.pem"
    made = openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", key, "-out", csr, "-subj", f"/CN={name}")  # fmt: skip
    assert made.returncode == 0, made.stderr
    pem.write_text(ca.cli("issue", "--profile", "tls-client", "--csr", csr).stdout)
    return pem


def serial_hex(pem: Path) -> str:
    return format(x509.load_pem_x509_certificate(pem.read_bytes()).serial_number, "x")


def served_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, engine: str
) -> Iterator[World]:
    """A CA with its registry on `engine`, served, its certificates issued with the CLI."""
    folder = tmp_path_factory.mktemp(f"status-{engine}")
    ca = init_home(folder / "ca", request, engine, "--subject", "CN=Status CA,O=Test,C=RU")
    ca_file = folder / "ca.pem"
    ca_file.write_text(ca.cli("ca-cert").stdout)
    certs = {name: issue(ca, folder, name) for name in ("good", "revoked", "held", "resumed")}
    server = ServerProcess(ca)
    try:
        yield World(ca, server, folder, ca_file, certs)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def sqlite_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from served_world(request, tmp_path_factory, "sqlite")


@pytest.fixture(scope="module")
def postgresql_world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    yield from served_world(request, tmp_path_factory, "postgresql")


@pytest.fixture(scope="module")
def world(sqlite_world: World) -> World:
    """For what the registry's engine does not change (HTTP, request parsing)."""
    return sqlite_world


@pytest.fixture(scope="module", params=ENGINES)
def engine_world(request: pytest.FixtureRequest) -> World:
    """For what depends on storage: the CA with its registry on each engine in turn."""
    return request.getfixturevalue(f"{request.param}_world")


def make_changes(world: World) -> World:
    """The status changes, made once with the CLI while the server runs."""
    if not world.changed:
        world.ca.cli("revoke", "--serial", serial_hex(world.certs["revoked"]),
                     "--reason", "keyCompromise")  # fmt: skip
        world.ca.cli("suspend", "--serial", serial_hex(world.certs["held"]))
        world.ca.cli("suspend", "--serial", serial_hex(world.certs["resumed"]))
        world.ca.cli("resume", "--serial", serial_hex(world.certs["resumed"]))
        world.changed = True
    return world


@pytest.fixture(scope="module")
def changed(world: World) -> World:
    return make_changes(world)


@pytest.fixture(scope="module")
def engine_changed(engine_world: World) -> World:
    return make_changes(engine_world)


def status_lines(out: str) -> dict[str, str]:
    lines = {}
    for line in out.splitlines():
        name, _, status = line.partition(": ")
        if status in ("good", "revoked", "unknown"):
            lines[Path(name).stem if name.endswith(".pem") else name] = status
    return lines


def test_a_good_certificate_with_nonce(engine_world: World) -> None:
    out = engine_world.ocsp("-cert", engine_world.certs["good"], "-nonce")
    assert status_lines(out) == {"good": "good"}
    assert "WARNING" not in out  # the nonce came back (RFC 8954)


def test_statuses_after_changes_in_one_request(engine_changed: World) -> None:
    """No sleeping: each CLI change returned only once the server applied it."""
    w = engine_changed
    out = w.ocsp(*[a for name in ("good", "revoked", "held", "resumed")
                   for a in ("-cert", w.certs[name])],
                 "-serial", hex(NEVER_ISSUED), "-no_nonce")  # fmt: skip
    assert status_lines(out) == {
        "good": "good", "revoked": "revoked", "held": "revoked", "resumed": "good",
        hex(NEVER_ISSUED): "unknown",
    }  # fmt: skip
    assert "Reason: keyCompromise" in out and "Reason: certificateHold" in out


@pytest.mark.parametrize("name", ["good", "revoked", "held", "resumed"])
def test_pre_signed_answers_agree_with_the_registry(engine_changed: World, name: str) -> None:
    out = engine_changed.ocsp("-cert", engine_changed.certs[name], "-no_nonce")
    expected = {"good": "good", "revoked": "revoked", "held": "revoked", "resumed": "good"}
    assert status_lines(out) == {name: expected[name]}
    shown = engine_changed.ca.cli("show", "--serial", serial_hex(engine_changed.certs[name])).stdout
    registry_status = {"good": "good", "revoked": "revoked", "held": "hold", "resumed": "good"}
    assert f"status:     {registry_status[name]}" in shown


def test_sha256_cert_ids_are_matched(changed: World) -> None:
    out = changed.ocsp("-sha256", "-cert", changed.certs["revoked"], "-no_nonce")
    assert status_lines(out) == {"revoked": "revoked"}


def request_der(world: World, *args: str | Path) -> bytes:
    path = world.folder / "request.der"
    made = openssl("ocsp", "-issuer", world.ca_file, *args, "-reqout", path)
    assert made.returncode == 0, made.stderr
    return path.read_bytes()


def test_get_with_caching_headers_and_304(changed: World) -> None:
    der = request_der(changed, "-cert", changed.certs["good"], "-no_nonce")
    encoded = urllib.parse.quote(base64.b64encode(der).decode(), safe="")
    answer = http(f"{changed.server.url}/ocsp/{encoded}")
    assert answer.status == 200
    assert answer.headers["Content-Type"] == "application/ocsp-response"
    cache = answer.headers["Cache-Control"]
    assert cache.startswith("max-age=") and cache.endswith("public, no-transform, must-revalidate")
    assert 0 < int(cache.split(",")[0].removeprefix("max-age=")) <= 24 * 3600
    for header in ("ETag", "Last-Modified", "Expires"):
        assert header in answer.headers
    status, singles, _ = ocsp.parse_ocsp_response(answer.body)
    assert status is ocsp.OCSPResponseStatus.successful
    assert singles[0].status is ocsp.CertStatus.GOOD
    assert lint_ocsp_response(answer.body) == []
    again = http(f"{changed.server.url}/ocsp/{encoded}",
                 headers={"If-None-Match": answer.headers["ETag"]})  # fmt: skip
    assert again.status == 304
    # The unencoded form some clients send ('/' and '+' raw) finds the same response.
    raw = http(f"{changed.server.url}/ocsp/{base64.b64encode(der).decode()}")
    assert raw.body == answer.body
    # openssl agrees with what GET returned.
    (changed.folder / "get.der").write_bytes(answer.body)
    verified = openssl("ocsp", "-respin", changed.folder / "get.der", "-issuer",
                       changed.ca_file, "-CAfile", changed.ca_file,
                       "-cert", changed.certs["good"])  # fmt: skip
    assert b"good" in verified.stdout and b"Response verify OK" in verified.stderr


def test_nonce_responses_and_unknowns_are_not_cached_long(changed: World) -> None:
    der = request_der(changed, "-cert", changed.certs["good"], "-nonce")
    fresh = http(changed.server.url + "/ocsp", der, {"Content-Type": "application/ocsp-request"})
    assert fresh.headers["Cache-Control"] == "no-store"
    assert lint_ocsp_response(fresh.body) == []
    unknown = request_der(changed, "-serial", hex(NEVER_ISSUED), "-no_nonce")
    answer = http(changed.server.url + "/ocsp", unknown)
    assert answer.headers["Cache-Control"].startswith("max-age=60,")
    assert ocsp.parse_ocsp_response(answer.body)[1][0].status is ocsp.CertStatus.UNKNOWN


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b"", ocsp.OCSPResponseStatus.malformedRequest),
        (os.urandom(300), ocsp.OCSPResponseStatus.malformedRequest),
        (b"\x30\x82\x10\x00" + bytes(20), ocsp.OCSPResponseStatus.malformedRequest),
        (os.urandom(1024 * 1024), ocsp.OCSPResponseStatus.malformedRequest),
    ],
    ids=["empty", "random", "truncated", "1MiB"],
)
def test_bad_requests_get_malformed_and_the_server_keeps_serving(
    world: World, body: bytes, status: ocsp.OCSPResponseStatus
) -> None:
    answer = http(world.server.url + "/ocsp", body, {"Content-Type": "application/ocsp-request"})
    assert answer.status == 200
    assert ocsp.parse_ocsp_response(answer.body)[0] is status
    assert answer.headers["Cache-Control"] == "no-store"
    assert http(world.server.url + "/healthz").status == 200


def test_a_foreign_issuer_is_unauthorized(world: World, tmp_path: Path) -> None:
    other = CAHome(tmp_path / "other")
    run_cli("init", "--home", other.path, "--subject", "CN=Other CA")
    other_ca = tmp_path / "other.pem"
    other_ca.write_text(other.cli("ca-cert").stdout)
    made = openssl("ocsp", "-issuer", other_ca, "-serial", "0x10", "-reqout", tmp_path / "r.der")
    assert made.returncode == 0
    answer = http(world.server.url + "/ocsp", (tmp_path / "r.der").read_bytes())
    assert ocsp.parse_ocsp_response(answer.body)[0] is ocsp.OCSPResponseStatus.unauthorized


def test_an_unsupported_hash_algorithm_is_unauthorized(world: World) -> None:
    der = request_der(world, "-md5", "-cert", world.certs["good"], "-no_nonce")
    answer = http(world.server.url + "/ocsp", der)
    assert ocsp.parse_ocsp_response(answer.body)[0] is ocsp.OCSPResponseStatus.unauthorized


def wait_for_crl(world: World, name: str, predicate) -> bytes:
    """CRLs are rebuilt shortly after a change (coalesced); follow the endpoint until the
    rebuild shows, bounded."""
    deadline = time.monotonic() + 20
    while True:
        answer = http(f"{world.server.url}/crl/{name}")
        if answer.status == 200 and predicate(crl_codec.parse_crl(answer.body)):
            return answer.body
        assert time.monotonic() < deadline, f"{name} did not catch up"
        time.sleep(0.1)


def test_crls_list_revoked_and_held_and_openssl_verify_agrees(engine_changed: World) -> None:
    w = engine_changed
    revoked, held, resumed = (w.serial(n) for n in ("revoked", "held", "resumed"))
    full = wait_for_crl(w, "demo.crl", lambda c: {revoked, held} <= set(c.entries))
    parsed = crl_codec.parse_crl(full)
    assert resumed not in parsed.entries
    assert parsed.entries[revoked][1] == crl_codec.CRLReason.keyCompromise
    assert parsed.entries[held][1] == crl_codec.CRLReason.certificateHold
    assert lint_crl(full) == []
    crl_pem = w.folder / "full.pem"
    crl_pem.write_bytes(x509.load_der_x509_crl(full).public_bytes(Encoding.PEM))
    for name, ok in (("good", True), ("resumed", True), ("revoked", False), ("held", False)):
        for mode in ("-crl_check", "-crl_check_all"):
            result = openssl("verify", mode, "-CAfile", w.ca_file, "-CRLfile", crl_pem,
                             w.certs[name])  # fmt: skip
            out = (result.stdout + result.stderr).decode()
            assert (result.returncode == 0) is ok, (name, mode, out)
            if not ok:
                assert "certificate revoked" in out


def test_delta_crl_against_the_first_base(engine_changed: World) -> None:
    """The base of the deltas is the first full CRL (made before any change: the CA is
    younger than crl.base_interval_hours), so the delta lists every change since; the
    resumed certificate was not on that base, so it is listed only as removeFromCRL, when
    a CRL made between its hold and its resume listed it (RFC 5280 5.2.4; see
    tests/unit/server/test_crl_remove_from_crl.py)."""
    w = engine_changed
    revoked, held, resumed = (w.serial(n) for n in ("revoked", "held", "resumed"))
    delta = wait_for_crl(w, "demo-delta.crl", lambda c: {revoked, held} <= set(c.entries))
    parsed = crl_codec.parse_crl(delta)
    assert parsed.entries.get(resumed, (None, crl_codec.CRLReason.removeFromCRL))[1] == (
        crl_codec.CRLReason.removeFromCRL
    )
    full = crl_codec.parse_crl(http(f"{w.server.url}/crl/demo.crl").body)
    assert parsed.delta_base is not None and parsed.delta_base < full.crl_number
    assert parsed.crl_number > full.crl_number  # one cRLNumber sequence, delta last
    assert lint_crl(delta) == []
    delta_pem, full_pem = w.folder / "delta.pem", w.folder / "full-d.pem"
    delta_pem.write_bytes(x509.load_der_x509_crl(delta).public_bytes(Encoding.PEM))
    full_pem.write_bytes(
        x509.load_der_x509_crl(http(f"{w.server.url}/crl/demo.crl").body).public_bytes(Encoding.PEM)
    )
    for name, ok in (("good", True), ("revoked", False)):
        result = openssl("verify", "-crl_check", "-use_deltas", "-CAfile", w.ca_file,
                         "-CRLfile", full_pem, "-CRLfile", delta_pem, w.certs[name])  # fmt: skip
        assert (result.returncode == 0) is ok, (result.stdout + result.stderr).decode()


def test_rfc5280_5_2_4_delta_removes_a_hold_a_cached_newer_full_crl_listed(
    changed: World,
) -> None:
    """Held after the deltas' base, listed by a newer full CRL a relying party caches,
    then resumed: the next delta lists it as removeFromCRL, so OpenSSL combining the cached
    full CRL with that delta agrees with OCSP that it is good."""
    w = changed
    cert = issue(w.ca, w.folder, "held-after-base")
    revoked = w.serial("revoked")
    held = x509.load_pem_x509_certificate(cert.read_bytes()).serial_number
    w.ca.cli("suspend", "--serial", format(held, "x"))
    cached = wait_for_crl(w, "demo.crl", lambda c: held in c.entries)
    w.ca.cli("resume", "--serial", format(held, "x"))
    removed = crl_codec.CRLReason.removeFromCRL
    delta = wait_for_crl(w, "demo-delta.crl",
                         lambda c: c.entries.get(held, (None, None))[1] == removed)  # fmt: skip
    parsed, full = crl_codec.parse_crl(delta), crl_codec.parse_crl(cached)
    assert parsed.delta_base is not None and parsed.delta_base < full.crl_number
    assert parsed.crl_number > full.crl_number
    assert lint_crl(delta) == []
    cached_pem, delta_pem = w.folder / "cached-full.pem", w.folder / "removing-delta.pem"
    cached_pem.write_bytes(x509.load_der_x509_crl(cached).public_bytes(Encoding.PEM))
    delta_pem.write_bytes(x509.load_der_x509_crl(delta).public_bytes(Encoding.PEM))
    assert "held-after-base.pem: good" in w.ocsp("-cert", cert, "-no_nonce")
    for name, pem, ok in (("held-after-base", cert, True), ("revoked", w.certs["revoked"], False)):
        for mode in ("-crl_check", "-crl_check_all"):
            result = openssl("verify", mode, "-extended_crl", "-use_deltas", "-CAfile", w.ca_file,
                             "-CRLfile", cached_pem, "-CRLfile", delta_pem, pem)  # fmt: skip
            out = (result.stdout + result.stderr).decode()
            assert (result.returncode == 0) is ok, (name, mode, out)
    assert revoked in full.entries


def test_crl_caching_headers_and_conditional_get(world: World) -> None:
    answer = http(f"{world.server.url}/crl/demo.crl")
    assert answer.status == 200 and answer.headers["Content-Type"] == "application/pkix-crl"
    assert "must-revalidate" in answer.headers["Cache-Control"]
    etag, modified = answer.headers["ETag"], answer.headers["Last-Modified"]
    assert http(f"{world.server.url}/crl/demo.crl", headers={"If-None-Match": etag}).status == 304
    since = http(f"{world.server.url}/crl/demo.crl", headers={"If-Modified-Since": modified})
    assert since.status == 304
    assert http(f"{world.server.url}/crl/nope.crl").status == 404


def test_issued_certificates_point_at_ocsp_crl_and_delta(world: World) -> None:
    certificate = x509.load_pem_x509_certificate(world.certs["good"].read_bytes())
    cdp = certificate.extensions.get_extension_for_class(x509.CRLDistributionPoints).value
    fresh = certificate.extensions.get_extension_for_class(x509.FreshestCRL).value
    assert cdp[0].full_name[0].value.endswith("/crl/demo.crl")
    assert fresh[0].full_name[0].value.endswith("/crl/demo-delta.crl")


def test_the_audit_trail_of_the_changes_verifies(engine_changed: World) -> None:
    """Issuance and status changes made by the CLI while the server ran, as the registry
    chained them (S6)."""
    report = engine_changed.ca.cli("audit", "verify").stdout
    assert report.startswith("audit trail intact"), report
