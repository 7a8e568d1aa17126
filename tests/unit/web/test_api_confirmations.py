"""Confirmation cases through the API (regulation 8.2, SEED-MAP V3): registered from a
multipart/form-data request (RFC 7578) and checked at once by the CA's automatic check
(server/confirmation/checker.py), assigned by an officer, answered by the assigned expert,
read back as JSON and PDF; each role only where it may, refused with the exact answer; a
request over `confirmation.max_upload_bytes` 413; overdue cases listed and counted on
/metrics.

The signature is `openssl cms -sign` over a document, detached, by a tls-client certificate
of the seeded CA: its extended key usage (clientAuth) does not allow signing documents, so
the check says invalid, and names that cause."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from server.accounts import Role
from server.web.api.common import time_text
from tests.local_ca import Clock
from tests.pdf_reading import pdf_text
from tests.unit.server.test_confirmation_cases import FINDINGS
from tests.unit.web.api_home import ClientFactory, Seed, Served, serve

BOUNDARY = "conf1rmation"
DOCUMENT = "Договор № 17\r\n".encode() + b"\x00\xff"
FORM = {"Content-Type": f"multipart/form-data; boundary={BOUNDARY}"}


def form(*parts: tuple[str, str | None, bytes]) -> bytes:
    """A multipart/form-data body of (name, file name or None, content)."""
    body = b""
    for name, filename, content in parts:
        disposition = f'form-data; name="{name}"' + (f'; filename="{filename}"' if filename else "")
        body += f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + content
        body += b"\r\n"
    return body + f"--{BOUNDARY}--\r\n".encode()


async def certificate_der(served: Served, serial: str) -> bytes:
    record = await served.ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    return record.der


async def signature(served: Served, folder: Path) -> bytes:
    """`openssl cms -sign` over DOCUMENT, detached, DER, with the seeded client key."""
    der = await certificate_der(served, served.seed.serials[-1])
    (folder / "signer.crt").write_bytes(
        x509.load_der_x509_certificate(der).public_bytes(Encoding.PEM)
    )
    (folder / "signer.key").write_bytes(served.seed.client_key_pem)
    (folder / "document.bin").write_bytes(DOCUMENT)
    subprocess.run(["openssl", "cms", "-sign", "-binary", "-in", str(folder / "document.bin"),
                    "-signer", str(folder / "signer.crt"), "-inkey", str(folder / "signer.key"),
                    "-outform", "DER", "-out", str(folder / "signature.p7s")],
                   check=True, capture_output=True, timeout=30)  # fmt: skip
    return (folder / "signature.p7s").read_bytes()


def request(signed: bytes) -> bytes:
    return form(
        ("submitter", None, "ООО «Ромашка», вх. № 17".encode()),
        ("questions", None, "Действительна ли подпись под договором?".encode()),
        ("document", "договор.pdf", DOCUMENT),
        ("signature", "договор.pdf.sig", signed),
    )


@pytest.fixture
def clock() -> Clock:
    return Clock(datetime.now(UTC).replace(microsecond=0))


@pytest.fixture
async def desk(seed: Seed, aiohttp_client: ClientFactory, clock: Clock) -> AsyncIterator[Served]:
    async with serve(seed, aiohttp_client, signing=False, clock=clock) as running:
        yield running


async def test_v3_a_case_through_the_api_from_request_to_the_experts_report(
    desk: Served, clock: Clock, tmp_path: Path
) -> None:
    api, tokens = desk.api, desk.seed.tokens
    signed = await signature(desk, tmp_path)
    made = await api.call("POST", "/confirmations", 201, token=tokens[Role.OPERATOR],
                          data=request(signed), headers=FORM)  # fmt: skip
    case, check = made["case"], made["check"]
    assert (check["kind"], check["verdict"]) == ("signature", "invalid")
    assert [cause["code"] for cause in check["causes"]] == ["wrong_extended_key_usage"]
    assert (check["document"], check["signature"]) == (
        {"size": len(DOCUMENT), "sha256": hashlib.sha256(DOCUMENT).hexdigest()},
        {"size": len(signed), "sha256": hashlib.sha256(signed).hexdigest()},
    )  # the checker was given the files as sent
    assert case["check"] == check
    assert (case["kind"], case["state"], case["submitter"], case["received_by"]) == (
        "signature", "registered", "ООО «Ромашка», вх. № 17", "api:operator")  # fmt: skip
    due = desk.ca.confirmation_cases.due_date(clock.now)
    assert (case["received_at"], case["due_at"], case["overdue"]) == (
        time_text(clock.now), time_text(due), False)  # fmt: skip
    assert case["files"] == [
        {"role": "document", "name": "договор.pdf", "size": len(DOCUMENT),
         "sha256": hashlib.sha256(DOCUMENT).hexdigest()},
        {"role": "signature", "name": "договор.pdf.sig", "size": len(signed),
         "sha256": hashlib.sha256(signed).hexdigest()},
    ]  # fmt: skip
    kept = desk.home / "confirmations" / case["id"]
    assert (kept / "document").read_bytes() == DOCUMENT
    assert (kept / "signature").read_bytes() == signed
    path = f"/confirmations/{case['id']}"

    for role in (Role.OPERATOR, Role.OFFICER, Role.EXPERT):
        assert await api.call("GET", path, 200, token=tokens[role]) == case
    # the auditor, who may not read personal data: who asks, what, the files' names and the
    # check's facts (they name the signer) withheld
    audited = await api.call("GET", path, 200, token=tokens[Role.AUDITOR])
    assert (audited["submitter"], audited["questions"]) == ("***", "***")
    assert [f["name"] for f in audited["files"]] == ["***", "***"]
    assert audited["check"] == {
        key: check[key] for key in ("kind", "verdict", "checked_at", "causes")
    }
    assert {**audited, "submitter": case["submitter"], "questions": case["questions"],
            "files": case["files"], "check": check} == case  # fmt: skip
    refused = {"error": "unauthorized", "message": "the admin role may not do this"}
    assert await api.call("GET", path, 403, token=tokens[Role.ADMIN]) == refused
    for role in (Role.OFFICER, Role.AUDITOR, Role.ADMIN):
        answer = await api.call("POST", "/confirmations", 403, token=tokens[role],
                                data=request(signed), headers=FORM)  # fmt: skip
        assert answer["message"] == f"the {role} role may not do this"
    for role in (Role.OPERATOR, Role.EXPERT):
        answer = await api.call("POST", f"{path}/assign", 403, token=tokens[role],
                                body={"expert": "expert"})  # fmt: skip
        assert answer["message"] == f"the {role} role may not do this"
    await api.call("GET", "/applications", 403, token=tokens[Role.EXPERT])  # cases only

    second = await api.call("POST", "/accounts", 201, token=tokens[Role.ADMIN],
                            body={"name": "expert-2", "role": "expert"})  # fmt: skip
    assigned = await api.call("POST", f"{path}/assign", 200, token=tokens[Role.OFFICER],
                              body={"expert": "expert-2"})  # fmt: skip
    assert (assigned["state"], assigned["expert"], assigned["assigned_by"]) == (
        "assigned", "expert-2", "api:officer")  # fmt: skip
    answer = await api.call("POST", f"{path}/assign", 409, token=tokens[Role.OFFICER],
                            body={"expert": "operator"})  # fmt: skip
    assert answer == {"error": "rejected",
                      "message": "account 'operator' is not an enabled expert"}  # fmt: skip
    findings = {**FINDINGS, "started_at": time_text(clock.now),
                "finished_at": time_text(clock.now + timedelta(days=1))}  # fmt: skip
    clock.advance(days=5)
    answer = await api.call("POST", f"{path}/report", 403, token=tokens[Role.EXPERT],
                            body=findings)  # fmt: skip
    assert answer == {"error": "unauthorized",
                      "message": f"case {case['id']} is assigned to another expert"}  # fmt: skip
    answer = await api.call("GET", f"{path}/report", 404, token=tokens[Role.EXPERT])
    assert answer == {"error": "not-found",
                      "message": f"confirmation case {case['id']} has no report yet"}  # fmt: skip
    answer = await api.call("POST", f"{path}/report", 400, token=second["token"],
                            body={**findings, "place": ""})  # fmt: skip
    assert answer == {"error": "malformed", "message": "body.place: must not be empty"}

    answered = await api.call("POST", f"{path}/report", 200, token=second["token"], body=findings)
    assert answered["case"]["state"] == "answered"
    report = answered["report"]
    assert report["expert"] == {"account": "expert-2", "name": FINDINGS["expert_name"],
                                "position": FINDINGS["expert_position"]}  # fmt: skip
    assert report["results"]["automatic_check"] == check
    assert report["objects"] == case["files"]
    assert await api.call("GET", f"{path}/report", 200, token=tokens[Role.OFFICER]) == report
    for suffix in ("", ".pdf", ".p7s"):  # the report names the submitter and the signer
        answer = await api.call("GET", f"{path}/report{suffix}", 403, token=tokens[Role.AUDITOR])
        assert answer["message"] == "the auditor role may not do this"
    pdf = await api.call("GET", f"{path}/report.pdf", 200, token=tokens[Role.OFFICER])
    assert desk.api.last_headers["Content-Type"] == "application/pdf"
    (tmp_path / "report.pdf").write_bytes(pdf)
    text = pdf_text(tmp_path / "report.pdf")
    for value in (f"Дело / Case № {case['id']}", "8. Выводы", FINDINGS["conclusion"],
                  hashlib.sha256(signed).hexdigest(), "wrong_extended_key_usage"):  # fmt: skip
        assert value in text, value
    listed = await api.call("GET", "/confirmations", 200, token=tokens[Role.EXPERT],
                            params={"state": "answered"})  # fmt: skip
    assert [c["id"] for c in listed["cases"]] == [case["id"]]


async def test_rfc7578_a_request_not_of_a_case_is_refused_with_nothing_registered(
    desk: Served,
) -> None:
    operator = desk.seed.tokens[Role.OPERATOR]
    texts = (("submitter", None, b"A"), ("questions", None, b"Q?"))
    ours = await certificate_der(desk, desk.seed.serials[0])
    certificate = ("certificate", "device-0.cer", ours)
    signed = ("signature", "s", b"0\x80 not quite CMS")
    for data, message in (
        (form(*texts), "body: a signature file (and perhaps the document), or a certificate file"),
        (form(*texts, certificate, signed),
         "body: a signature file (and perhaps the document), or a certificate file"),
        (form(texts[0], signed), "body: questions is missing"),
        (form(*texts, signed, ("x", None, b"")), "body: unknown field 'x'"),
        (form(("submitter", None, b"\xff"), texts[1], signed), "body.submitter: not UTF-8 text"),
        (form(*texts, ("document", "d", DOCUMENT)),
         "body: a signature file (and perhaps the document), or a certificate file"),
        (form(*texts, signed)[:-20], "multipart/form-data: no closing boundary"),
    ):  # fmt: skip
        answer = await desk.api.call("POST", "/confirmations", 400, token=operator, data=data,
                                     headers=FORM)  # fmt: skip
        assert answer == {"error": "malformed", "message": message}
    answer = await desk.api.call("POST", "/confirmations", 400, token=operator, data=b"{}",
                                 headers={"Content-Type": "application/json"})  # fmt: skip
    assert answer["message"] == (
        "multipart/form-data: the request is not multipart/form-data with a boundary"
    )
    assert await desk.api.call("GET", "/confirmations", 200, token=operator) == {"cases": []}
    assert not (desk.home / "confirmations").exists()
    s11 = await desk.api.call("POST", "/confirmations", 201, token=desk.seed.tokens[Role.EXPERT],
                              data=form(*texts, certificate), headers=FORM)  # fmt: skip
    assert (s11["case"]["kind"], s11["check"]["verdict"]) == ("certificate", "valid")
    assert s11["case"]["files"][0]["sha256"] == hashlib.sha256(ours).hexdigest()


async def test_v3_a_request_over_the_upload_limit_is_refused_413(
    seed: Seed, aiohttp_client: ClientFactory, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CA_CONFIRMATION__MAX_UPLOAD_BYTES", "2048")
    async with serve(seed, aiohttp_client, signing=False, clock=clock) as small:
        operator = small.seed.tokens[Role.OPERATOR]
        texts = (("submitter", None, b"A"), ("questions", None, b"Q"))
        big = form(*texts, ("certificate", "c", b"c" * 2048))
        answer = await small.api.call("POST", "/confirmations", 413, token=operator, data=big,
                                      headers=FORM)  # fmt: skip
        assert answer == {"error": "malformed", "message": "the request is larger than 2048 bytes"}
        assert await small.api.call("GET", "/confirmations", 200, token=operator) == {"cases": []}
        fits = form(*texts, ("certificate", "c", b"c" * 1800))
        await small.api.call("POST", "/confirmations", 201, token=operator, data=fits,
                             headers=FORM)  # fmt: skip


async def test_v3_overdue_cases_are_listed_and_counted_on_metrics(
    desk: Served, clock: Clock
) -> None:
    operator, officer = desk.seed.tokens[Role.OPERATOR], desk.seed.tokens[Role.OFFICER]
    certificate = await certificate_der(desk, desk.seed.serials[0])
    data = form(("submitter", None, b"A"), ("questions", None, b"Q"),
                ("certificate", "device-0.cer", certificate))  # fmt: skip
    made = await desk.api.call("POST", "/confirmations", 201, token=operator, data=data,
                               headers=FORM)  # fmt: skip
    overdue = {"overdue": "true"}
    listed = await desk.api.call("GET", "/confirmations", 200, token=officer, params=overdue)
    assert listed == {"cases": []}
    clock.now = desk.ca.confirmation_cases.due_date(clock.now)  # the last working day is over
    listed = await desk.api.call("GET", "/confirmations", 200, token=officer, params=overdue)
    assert [(c["id"], c["overdue"]) for c in listed["cases"]] == [(made["case"]["id"], True)]
    metrics = await (await desk.api.client.get("/metrics")).text()
    assert "ca_confirmation_cases_overdue 1.0" in metrics.splitlines()
    answer = await desk.api.call("GET", "/confirmations", 400, token=officer,
                                 params={**overdue, "state": "registered"})  # fmt: skip
    assert answer["message"] == "state and overdue=true: one or the other"


async def test_v3_the_reports_pdf_is_signed_by_the_confirmation_certificate(
    seed: Seed, aiohttp_client: ClientFactory, tmp_path: Path
) -> None:
    """report.p7s: a detached CMS over exactly the bytes of report.pdf, by the CA's
    confirmation certificate; `openssl cms -verify` and the confirmation service itself
    accept it, and neither does over other bytes (issue #17: "so the report itself can be
    verified by the same service")."""
    clock = Clock(datetime.now(UTC).replace(microsecond=0))
    async with serve(seed, aiohttp_client, signing=True, clock=clock) as signing:
        api, tokens = signing.api, seed.tokens
        certificate = await certificate_der(signing, seed.serials[0])
        data = form(("submitter", None, b"A"), ("questions", None, b"Q"),
                    ("certificate", "device-0.cer", certificate))  # fmt: skip
        made = await api.call("POST", "/confirmations", 201, token=tokens[Role.OPERATOR],
                              data=data, headers=FORM)  # fmt: skip
        path = f"/confirmations/{made['case']['id']}"
        await api.call("POST", f"{path}/assign", 200, token=tokens[Role.OFFICER],
                       body={"expert": "expert"})  # fmt: skip
        findings = {**FINDINGS, "started_at": time_text(clock.now),
                    "finished_at": time_text(clock.now + timedelta(hours=1))}  # fmt: skip
        clock.advance(hours=2)
        await api.call("POST", f"{path}/report", 200, token=tokens[Role.EXPERT], body=findings)
        pdf = await api.call("GET", f"{path}/report.pdf", 200, token=tokens[Role.EXPERT])
        signature = await api.call("GET", f"{path}/report.p7s", 200, token=tokens[Role.OPERATOR])
        assert api.last_headers["Content-Type"] == "application/pkcs7-signature"
        clock.advance(minutes=1)
        confirmed = await signing.ca.confirmations.check_signature(pdf, signature)
        assert confirmed.verdict == "valid", confirmed.as_dict()
        changed = await signing.ca.confirmations.check_signature(pdf + b"\n", signature)
        assert [cause.code for cause in changed.causes] == ["bad_digest"]
        generation = await signing.ca.authority.generation()
    ca_pem = x509.load_der_x509_certificate(generation.certificate_der).public_bytes(Encoding.PEM)
    (tmp_path / "ca.pem").write_bytes(ca_pem)
    (tmp_path / "report.pdf").write_bytes(pdf)
    (tmp_path / "report.p7s").write_bytes(signature)
    verified = subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in",
                               "report.p7s", "-content", "report.pdf", "-CAfile", "ca.pem",
                               "-purpose", "any", "-attime", str(int(clock.now.timestamp())),
                               "-out", "/dev/null"],
                              cwd=tmp_path, capture_output=True, timeout=30)  # fmt: skip
    assert verified.returncode == 0, verified.stderr
