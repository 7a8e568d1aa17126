"""The compromise of a CA under a parent outside through the command line (regulation K4;
issue 15: "for a subordinate, reported to the parent as a request"): `compromise --csr FILE
--revocation-request FILE` makes the generation 'compromised' at once, revokes what its key
issued (OCSP and its own CRL say so), abandons the pending request, writes the request for
a new key and a CMP revocation request (RFC 9483 4.2) signed with the compromised key; the
CA then issues nothing until the parent's certificate for the new key is imported with
`import-ca-cert`, after which it issues under the new generation and its certificates
verify with `openssl verify -crl_check` up to the parent's root. The refusals by their
exact text, with nothing changed. The parent is made with `cryptography`
(tests/subordinate_ca.py)."""

from __future__ import annotations

import asyncio
import base64
import http.client
import re
import socket
import subprocess
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from config import load_settings
from protocols import cmp
from protocols.crl import CRLReason
from protocols.der import tlv
from server.authority import der_to_pem
from server.context import backend_spec, open_ca, open_registry
from server.errors import CAError, ErrorKind
from server.node.health import Health
from server.node.tls import load_server_identity, server_context
from server.registry import CertificateStatus, GenerationRequest
from server.registry.records import AuditEntry
from server.web.app import build_app
from tests.cmp_client import BODY, Answer, cert_req_messages, cert_request, read_answer
from tests.csr_factory import make_csr
from tests.lint import lint_crl
from tests.subordinate_ca import Parent, new_intermediate, new_root, pem
from tests.unit.server.test_cli_import_ca import import_ca, registry_url
from tests.unit.server.test_cli_subordinate import _rows
from tests.unit.server.test_cli_subordinate_rollover import (
    NOW,
    SUBJECT,
    crl_of,
    generations,
    key_files,
    leaf,
    openssl_verify,
    run,
    signed_by,
)
from tests.unit.web.edge import registry_state
from tests.unit.web.test_error_policy_cmp import CT, mac_request

GROUNDS = "the CA key's backup was found copied (incident report 7)"
WAITING = (
    "the CA key of generation 1 was declared compromised: the CA waits for its parent CA's "
    "certificate for its new key (import-ca-cert); nothing is issued until then"
)


def subordinate_home(
    folder: Path, url: str | None, capsys: pytest.CaptureFixture[str], signing: bool = False
) -> tuple[Path, Parent, Parent]:
    """A CA under a parent outside (`init --csr`, the parent's answer imported): its home,
    the parent's root and intermediate. `signing`: the parent gives the CA certificate
    keyUsage digitalSignature, as its request asks."""
    home = folder / "ca"
    root = new_root(NOW)
    intermediate = new_intermediate(root)
    registry = ["--registry-url", url] if url else []
    code, _, err = run(capsys, "init", "--home", str(home), "--subject", SUBJECT, "--csr",
                       str(folder / "g1.csr"), *registry)  # fmt: skip
    assert code == 0, err
    request = x509.load_pem_x509_csr((folder / "g1.csr").read_bytes())
    public_key = request.public_key()
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    first = intermediate.sign(request.subject, public_key, digital_signature=signing)
    assert import_ca(home, pem(first), pem(intermediate.certificate, root.certificate)) == 0
    capsys.readouterr()
    return home, root, intermediate


async def registry_view(home: Path) -> tuple[list[GenerationRequest], list[AuditEntry]]:
    registry = await open_registry(load_settings(home))
    try:
        requests = await registry.ca_requests.requests("demo")
        return requests, await registry.search.audit_entries(1000, None)
    finally:
        await registry.close()


async def certificate_state(home: Path, serial: str) -> tuple[CertificateStatus, str | None, bytes]:
    """A certificate's status, revocation reason and its stored OCSP response."""
    registry = await open_registry(load_settings(home))
    try:
        record = await registry.get_certificate(serial)
        answer = await registry.status.ocsp_response(serial)
        history = await registry.status_history(serial)
    finally:
        await registry.close()
    assert record is not None and answer is not None
    return record.status, history[-1].reason if history else None, answer.der


def openssl(*argv: object) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["openssl", *map(str, argv)], capture_output=True, text=True)


def test_k4_rfc9483_4_2_a_subordinate_compromise_revokes_at_once_and_the_parent_answer_resumes(
    empty_registry: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """On both registry engines (the compromise and the import are the registry's)."""
    folder = tmp_path
    home, root, intermediate = subordinate_home(folder, empty_registry, capsys)
    [first_generation] = asyncio.run(generations(home))
    first = x509.load_der_x509_certificate(first_generation.certificate_der)
    leaf1 = leaf(home, folder, "one", capsys)
    leaf1_serial = format(x509.load_pem_x509_certificate(leaf1.read_bytes()).serial_number, "x")
    # the scheduled duty's request (or an operator's), pending when the compromise comes
    assert run(capsys, "rollover", "--home", str(home), "--csr", str(folder / "pre.csr"))[0] == 0
    keys = key_files(home)

    code, out, err = run(capsys, "compromise", "--home", str(home), "--generation", "1",
                         "--grounds", GROUNDS, "--csr", str(folder / "g2.csr"),
                         "--revocation-request", str(folder / "rr.der"))  # fmt: skip
    assert code == 0, err
    requests, audit = asyncio.run(registry_view(home))
    assert [(r.id, r.state, r.rolled_from) for r in requests] == [
        (1, "abandoned", 1), (2, "pending", 1)]  # fmt: skip
    revoked = re.fullmatch(r"CA 'demo': generation 1 compromised, its certificates (\d+) revoked\n"
                           r".*", out, re.DOTALL)  # fmt: skip
    assert revoked, out
    assert out == (
        f"CA 'demo': generation 1 compromised, its certificates {revoked[1]} revoked\n"
        "  request 1 for the next generation abandoned, its key destroyed\n"
        f"  request 2 for the new key ({requests[1].key_uri}) written to {folder / 'g2.csr'}: "
        "the parent CA is to certify it, then import-ca-cert --cert FILE --chain FILE\n"
        f"  revocation request (CMP rr, cACompromise) for CA certificate serial "
        f"{first_generation.serial} written to {folder / 'rr.der'}: send it to the parent CA\n"
        "  no certificate is issued until the parent's certificate is imported\n"
    )
    # the leaf, the OCSP responder, CMP protection and TLS certificates of generation 1
    assert int(revoked[1]) == 4
    assert [(g.id, g.state) for g in asyncio.run(generations(home))] == [(1, "compromised")]
    # the pending request's key destroyed, the new one made: as many key files as before
    assert len(key_files(home)) == len(keys) and key_files(home) != keys
    [entry] = [e for e in audit if e.action == "ca.generation.compromise"]
    assert entry.actor.startswith("cli:") and entry.target == "generation 1"
    assert entry.details == {"ca": "demo", "generation": 1, "grounds": GROUNDS, "request": 2,
                             "certificates": "revoke"}  # fmt: skip

    # the leaf revoked at once: in the registry, in its stored OCSP answer, in the CRL
    # generation 1 goes on signing with its own key (RFC 5280 5.3.1 cACompromise)
    status, reason, ocsp_der = asyncio.run(certificate_state(home, leaf1_serial))
    assert (status, reason) == (CertificateStatus.REVOKED, CRLReason.cACompromise.name)
    (folder / "ocsp.der").write_bytes(ocsp_der)
    (folder / "root.pem").write_bytes(pem(root.certificate))
    (folder / "g1.pem").write_bytes(pem(first))
    (folder / "untrusted1.pem").write_bytes(pem(first, intermediate.certificate))
    answered = openssl("ocsp", "-respin", folder / "ocsp.der", "-issuer", folder / "g1.pem",
                       "-CAfile", folder / "root.pem", "-verify_other",
                       folder / "untrusted1.pem", "-cert", leaf1)  # fmt: skip
    assert answered.returncode == 0, answered.stderr
    assert "Response verify OK" in answered.stderr
    assert f"{leaf1}: revoked\n" in answered.stdout
    assert "Reason: cACompromise" in answered.stdout
    crl1 = crl_of(home, folder, 1, capsys)
    first_key = first.public_key()
    assert isinstance(first_key, ec.EllipticCurvePublicKey)
    assert x509.load_pem_x509_crl(crl1.read_bytes()).is_signature_valid(first_key)
    assert lint_crl((folder / "g1.crl").read_bytes()) == []  # its cACompromise entries too
    assert "certificate revoked" in openssl_verify(folder / "root.pem", folder / "untrusted1.pem",
                                                   crl1, leaf1)  # fmt: skip

    # the revocation request: one rr of RFC 9483 4.2, signed by the compromised key
    rr = cmp.parse_pki_message((folder / "rr.der").read_bytes())
    assert rr.body_type == "rr"
    [details] = rr.revocations
    assert (details.serial, details.issuer) == (first.serial_number, first.issuer.public_bytes())
    assert details.template_fields == ("serialNumber", "issuer")
    assert details.reasons == (CRLReason.cACompromise,)
    assert details.entry_extensions == (cmp.ID_CE_CRL_REASONS,)
    parents = (intermediate.certificate, root.certificate)
    chain = tuple(c.public_bytes(Encoding.DER) for c in parents)
    assert rr.extra_certs == (first_generation.certificate_der, *chain)  # RFC 9483 3.3
    assert rr.header.sender_kid == first_generation.key_id
    assert cmp.verify_signature(rr, first_generation.certificate_der)
    assert not cmp.verify_signature(rr, intermediate.certificate.public_bytes(Encoding.DER))

    # refused while waiting, nothing recorded; a second compromise of generation 1 too
    rows = asyncio.run(_rows(empty_registry))
    code, _, err = run(capsys, "issue", "--home", str(home), "--profile", "tls-server", "--csr",
                       str(folder / "one.csr"))  # fmt: skip
    assert (code, err) == (1, f"error: {WAITING}\n")
    assert run(capsys, "compromise", "--home", str(home), "--generation", "1", "--grounds", "x",
               "--csr", str(folder / "x.csr"), "--revocation-request",
               str(folder / "x.der")) == (1, "", (
        "error: generation 1 of CA 'demo' is compromised, not active: only a live "
        "generation's key can be declared compromised; nothing was recorded\n"))  # fmt: skip
    assert not (folder / "x.csr").exists() and not (folder / "x.der").exists()
    assert asyncio.run(_rows(empty_registry)) == rows

    # the parent revokes (its business) and certifies the new key: generation 2 issues
    request = x509.load_pem_x509_csr((folder / "g2.csr").read_bytes())
    assert request.is_signature_valid and request.subject == first.subject
    second = signed_by(intermediate, folder / "g2.csr")
    (folder / "cert.pem").write_bytes(pem(second))
    (folder / "chain.pem").write_bytes(pem(intermediate.certificate, root.certificate))
    code, out, err = run(capsys, "import-ca-cert", "--home", str(home), "--cert",
                         str(folder / "cert.pem"), "--chain",
                         str(folder / "chain.pem"))  # fmt: skip
    assert code == 0, err
    assert out.startswith(
        "CA 'demo' generation 2 made after the compromise of generation 1: the parent's "
        f"certificate for request 2 imported\n  CA certificate serial {second.serial_number:x}, "
    )
    assert [(g.id, g.state) for g in asyncio.run(generations(home))] == [
        (1, "compromised"), (2, "active")]  # fmt: skip
    leaf2 = leaf(home, folder, "two", capsys)
    issued = x509.load_pem_x509_certificate(leaf2.read_bytes())
    assert issued.issuer == second.subject
    (folder / "untrusted2.pem").write_bytes(pem(second, intermediate.certificate))
    assert openssl_verify(folder / "root.pem", folder / "untrusted2.pem",
                          crl_of(home, folder, 2, capsys), leaf2) == f"{leaf2}: OK\n"  # fmt: skip


def test_k4_subordinate_compromise_refusals_change_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home, _, _ = subordinate_home(tmp_path, None, capsys)
    url = registry_url(home)
    (tmp_path / "kept.csr").write_bytes(b"the operator's file")
    keys, rows = key_files(home), asyncio.run(_rows(url))
    files = {"--csr": str(tmp_path / "n.csr"), "--revocation-request": str(tmp_path / "n.der")}

    def compromise(*extra: str, generation: str = "1") -> tuple[int, str, str]:
        return run(capsys, "compromise", "--home", str(home), "--generation", generation,
                   "--grounds", GROUNDS, *extra)  # fmt: skip

    both = [item for pair in files.items() for item in pair]
    refusals = [
        (compromise(), "error: generation 1 was certified by a parent CA outside: its "
         "compromise hands the parent a request for a new key and a revocation request, files "
         "only the command line writes: run `python -m server compromise --home HOME "
         "--generation 1 --grounds TEXT --csr FILE --revocation-request FILE`; nothing was "
         "changed\n"),
        (compromise("--csr", files["--csr"]), "error: --csr and --revocation-request go "
         "together (a CA under a parent outside: the request for the new key and the "
         "revocation request for the parent); nothing was changed\n"),
        (compromise(*both, generation="9"), "error: no generation 9 of CA 'demo'\n"),
        (compromise("--csr", str(tmp_path / "kept.csr"), "--revocation-request",
                    files["--revocation-request"]),
         f"error: cannot write {tmp_path / 'kept.csr'}: File exists; nothing was changed\n"),
    ]  # fmt: skip
    for (code, out, err), expected in refusals:
        assert (code, out, err) == (1, "", expected)
    assert (key_files(home), asyncio.run(_rows(url))) == (keys, rows)
    assert not any(Path(path).exists() for path in files.values())
    assert (tmp_path / "kept.csr").read_bytes() == b"the operator's file"

    async def through_the_service() -> CAError:  # what the API's officer route calls
        async with open_ca(load_settings(home), signing=False) as ca:
            with pytest.raises(CAError) as refused:
                await ca.compromise(1, GROUNDS, "api:officer")
            return refused.value

    refusal = asyncio.run(through_the_service())
    assert (refusal.kind, str(refusal)) == (ErrorKind.REJECTED, refusals[0][1][7:-1])
    assert (key_files(home), asyncio.run(_rows(url))) == (keys, rows)


def test_k4_compromise_csr_is_refused_for_a_self_signed_ca_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = tmp_path / "ca"
    assert run(capsys, "init", "--home", str(home))[0] == 0
    keys, rows = key_files(home), asyncio.run(_rows(registry_url(home)))
    assert run(capsys, "compromise", "--home", str(home), "--generation", "1", "--grounds",
               GROUNDS, "--csr", str(tmp_path / "x.csr"), "--revocation-request",
               str(tmp_path / "x.der")) == (1, "", (
        "error: generation 1 of CA 'demo' is self-signed: its compromise makes a new "
        "self-signed CA certificate at once (compromise without --csr and "
        "--revocation-request), no request to a parent; nothing was changed\n"))  # fmt: skip
    assert (key_files(home), asyncio.run(_rows(registry_url(home)))) == (keys, rows)
    assert not (tmp_path / "x.csr").exists() and not (tmp_path / "x.der").exists()


def waiting_home(
    folder: Path, capsys: pytest.CaptureFixture[str], signing: bool = False
) -> tuple[Path, Parent, Parent]:
    """A CA under a parent outside whose only generation was declared compromised: it waits
    for the parent's certificate for its new key. Its home, the parent's root and
    intermediate (`signing`: as subordinate_home)."""
    home, root, intermediate = subordinate_home(folder, None, capsys, signing)
    code, _, err = run(capsys, "compromise", "--home", str(home), "--generation", "1",
                       "--grounds", GROUNDS, "--csr", str(folder / "g2.csr"),
                       "--revocation-request", str(folder / "rr.der"))  # fmt: skip
    assert code == 0, err
    return home, root, intermediate


async def test_k4_rfc7030_4_2_3_rfc9483_3_6_4_a_waiting_ca_answers_unavailable_and_records_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], aiohttp_server: Any
) -> None:
    """While the CA waits for its parent's certificate, EST enrollment is HTTP 503 with
    Retry-After and the reason (RFC 7030 4.2.3), a CMP ir an error message with failInfo
    systemUnavail and the reason (RFC 9810 5.2.3, RFC 9483 3.6.4), EST cacerts 503 (it had
    no certificate to hand out: it answered 500) and /healthz 503 with the reason: the CA
    cannot issue. Nothing is recorded, the enrollment code stays unspent."""
    home, _, _ = await asyncio.to_thread(waiting_home, tmp_path, capsys)
    settings = load_settings(home)
    secret = backend_spec(settings).read_secret()
    async with open_ca(settings, signing=False) as ca:
        [compromised] = await ca.registry.generations("demo")
        ca_pem = der_to_pem(compromised.certificate_der)
        ca.health = Health(settings, ca.registry, ca.authority, lambda: 1, ca.clock)
        app = build_app(ca, load_server_identity(settings, secret))
        server = await aiohttp_server(app, ssl=server_context(settings, secret, ca_pem))
        credential, code = await ca.credentials.create(
            "tls-client", "CN=device", timedelta(hours=1), "test"
        )
        key = ec.generate_private_key(ec.SECP256R1())
        ir = tlv(BODY["ir"], cert_req_messages(cert_request(key=key)))
        request = await mac_request(ca, ir)  # its enrollment code made here
        before = await registry_state(ca)
        basic = base64.b64encode(f"{credential.id}:{code}".encode()).decode()
        base = f"https://127.0.0.1:{server.port}"
        async with aiohttp.ClientSession() as session:
            async with session.post(
                f"{base}/.well-known/est/simpleenroll",
                data=base64.encodebytes(make_csr([("CN", "device")])),
                headers={"Content-Type": "application/pkcs10", "Authorization": f"Basic {basic}"},
                ssl=False,
            ) as response:
                assert (response.status, response.content_type) == (503, "text/plain")
                assert response.headers["Retry-After"] == "5"
                assert await response.text() == WAITING + "\n"
            async with session.post(
                f"{base}/.well-known/cmp", data=request, headers={"Content-Type": CT}, ssl=False
            ) as response:
                assert (response.status, response.content_type) == (200, CT)
                answer = read_answer(await response.read())
            assert answer.body_type == "error", answer
            assert (answer.status, answer.fail_info, answer.text) == (
                cmp.PKIStatus.rejection, {"systemUnavail"}, WAITING)  # fmt: skip
            assert answer.protected  # as the request was (MAC, RFC 9483 3.6.4)
            async with session.get(f"{base}/.well-known/est/cacerts", ssl=False) as response:
                assert (response.status, response.content_type) == (503, "text/plain")
                assert await response.text() == WAITING + "\n"  # no generation to hand out
            async with session.get(f"{base}/healthz", ssl=False) as response:
                assert response.status == 503
                assert await response.text() == f"unhealthy: {WAITING}\n"
        assert await registry_state(ca) == before
        assert not (await ca.credentials.find_each([credential.id]))[credential.id].spent


def test_k4_a_waiting_ca_whose_request_was_abandoned_makes_another_and_imports_its_answer(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`rollover --abandon` gives up the compromise's request (the parent lost it, say);
    `rollover --csr` then makes another from the compromised generation, the newest, and
    its answer is imported as the compromise's would have been."""
    home, root, intermediate = waiting_home(tmp_path, capsys)
    abandoned = "CA 'demo': request 1 for the next generation abandoned, its key destroyed\n"
    assert run(capsys, "rollover", "--home", str(home), "--abandon") == (0, abandoned, "")
    code, out, err = run(capsys, "rollover", "--home", str(home), "--csr",
                         str(tmp_path / "again.csr"))  # fmt: skip
    assert code == 0, err
    assert out.startswith("CA 'demo': request 2 for the next generation made, key ")
    requests, _ = asyncio.run(registry_view(home))
    assert [(r.id, r.state, r.rolled_from) for r in requests] == [
        (1, "abandoned", 1), (2, "pending", 1)]  # fmt: skip
    second = signed_by(intermediate, tmp_path / "again.csr")
    assert import_ca(home, pem(second), pem(intermediate.certificate, root.certificate)) == 0
    assert capsys.readouterr().out.startswith(
        "CA 'demo' generation 2 made after the compromise of generation 1: the parent's "
        "certificate for request 2 imported\n"
    )
    assert [(g.id, g.state) for g in asyncio.run(generations(home))] == [
        (1, "compromised"), (2, "active")]  # fmt: skip
    issued = x509.load_pem_x509_certificate(leaf(home, tmp_path, "after", capsys).read_bytes())
    issued.verify_directly_issued_by(second)


def post_cmp(port: int, der: bytes) -> Answer:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/", body=der, headers={"Content-Type": CT})
        response = connection.getresponse()
        assert (response.status, response.getheader("Content-Type")) == (200, CT)
        return read_answer(response.read())
    finally:
        connection.close()


def test_k4_rfc9483_4_2_openssl_cmp_as_the_parent_accepts_the_revocation_request(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """OpenSSL's CMP mock server plays the parent: it trusts the parent's root, checks the
    rr's signature protection under the CA certificate it finds in extraCerts (chained to
    that root, keyUsage digitalSignature as the CA's request asks) and that the rr names
    the certificate it was told of (issuer and serial), and answers rp accepted. The same rr
    with its signature altered is refused."""
    home, root, intermediate = waiting_home(tmp_path, capsys, signing=True)
    [compromised] = asyncio.run(generations(home))
    key = intermediate.key.private_bytes(Encoding.PEM, PrivateFormat.PKCS8, NoEncryption())
    ca_certificate = x509.load_der_x509_certificate(compromised.certificate_der)
    files = {"parent.pem": pem(intermediate.certificate), "parent.key": key,
             "root.pem": pem(root.certificate), "ca.pem": pem(ca_certificate)}  # fmt: skip
    for name, data in files.items():
        (tmp_path / name).write_bytes(data)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        ["openssl", "cmp", "-port", str(port), "-max_msgs", "2", "-srv_cert",
         tmp_path / "parent.pem", "-srv_key", tmp_path / "parent.key", "-srv_trusted",
         tmp_path / "root.pem", "-rsp_cert", tmp_path / "ca.pem"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    try:
        for _ in range(200):  # until it listens
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.05)
        rr = (tmp_path / "rr.der").read_bytes()
        signature = cmp.parse_pki_message(rr).protection
        assert signature is not None
        at = rr.index(signature) + len(signature) - 1  # its last octet: r, s of ECDSA-Sig-Value
        altered = post_cmp(port, rr[:at] + bytes([rr[at] ^ 1]) + rr[at + 1 :])
        assert (altered.body_type, altered.status) == ("error", cmp.PKIStatus.rejection)
        accepted = post_cmp(port, rr)
        assert (accepted.body_type, accepted.status) == ("rp", cmp.PKIStatus.accepted)
    finally:
        server.kill()
        server.communicate(timeout=10)


def test_k4_compromise_csr_is_refused_under_the_home_root_and_changes_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The root kept in the home certifies the new key itself (`compromise` without the
    files, the root's key at hand): no request to a parent outside."""
    home = tmp_path / "ca"
    assert run(capsys, "init", "--home", str(home), "--hierarchy", "root+issuing",
               "--root-subject", "CN=Test Root,O=Test,C=RU")[0] == 0  # fmt: skip
    keys, rows = key_files(home), asyncio.run(_rows(registry_url(home)))
    assert run(capsys, "compromise", "--home", str(home), "--generation", "1", "--grounds",
               GROUNDS, "--csr", str(tmp_path / "x.csr"), "--revocation-request",
               str(tmp_path / "x.der")) == (1, "", (
        "error: generation 1 of CA 'demo' was certified by the root CA kept in this home: its "
        "compromise is `compromise` without --csr and --revocation-request, with the root's "
        "key at hand; nothing was changed\n"))  # fmt: skip
    assert (key_files(home), asyncio.run(_rows(registry_url(home)))) == (keys, rows)
    assert not (tmp_path / "x.csr").exists() and not (tmp_path / "x.der").exists()
