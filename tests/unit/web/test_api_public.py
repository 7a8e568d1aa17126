"""The public look-ups: by serial (JSON, DER, PEM), by public key hash, the revoked list;
no credential, and nothing beyond what the certificate carries."""

from __future__ import annotations

import hashlib

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from tests.unit.web.api_home import Served


async def test_a_certificate_by_serial_as_json_der_and_pem(served: Served) -> None:
    serial = served.seed.serials[0]
    record = await served.ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    answer = await served.api.call("GET", f"/public/certificates/{serial}", 200)
    assert answer["serial"] == serial and answer["status"] == "good"
    assert answer["subject"] == "CN=device-0,O=Plant"
    assert answer["issuer_generation"] == record.generation_id
    certificate = x509.load_pem_x509_certificate(answer["pem"].encode())
    assert certificate.public_bytes(Encoding.DER) == record.der
    assert answer["not_after"] == certificate.not_valid_after_utc.strftime("%Y-%m-%dT%H:%M:%SZ")
    der = await served.api.call("GET", f"/public/certificates/{serial}.der", 200)
    assert der == record.der
    pem = await served.api.call("GET", f"/public/certificates/{serial.upper()}.pem", 200)
    assert pem.decode() == answer["pem"]


async def test_an_unknown_or_malformed_serial(served: Served) -> None:
    for suffix in ("", ".der", ".pem"):
        missing = await served.api.call("GET", f"/public/certificates/abcdef{suffix}", 404)
        assert missing["error"] == "not-found"
        bad = await served.api.call("GET", f"/public/certificates/xyz{suffix}", 400)
        assert bad["error"] == "malformed"


async def test_a_certificate_by_public_key_hash(served: Served) -> None:
    serial = served.seed.serials[1]
    record = await served.ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    spki = (
        x509.load_der_x509_certificate(record.der)
        .public_key()
        .public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    )
    digest = hashlib.sha256(spki).hexdigest()
    found = await served.api.call(
        "GET", "/public/certificates", 200, params={"spki_sha256": digest.upper()}
    )
    assert [c["serial"] for c in found["certificates"]] == [serial]
    none = await served.api.call(
        "GET", "/public/certificates", 200, params={"spki_sha256": "00" * 32}
    )
    assert none == {"certificates": []}
    for bad in ({"spki_sha256": "abc"}, {"spki_sha256": "zz" * 32}, {}):
        refused = await served.api.call("GET", "/public/certificates", 400, params=bad)
        assert refused == {"error": "malformed",
                           "message": "a key hash is 64 hexadecimal digits (SHA-256)"}  # fmt: skip


async def test_public_answers_name_no_actor_and_no_account(signing: Served) -> None:
    serial = signing.seed.serials[0]
    await signing.ca.revocation.suspend(serial, "api:officer")
    listed = await signing.api.call("GET", "/public/revoked", 200)
    assert [(e["serial"], e["status"], e["reason"]) for e in listed["revoked"]] == [
        (serial, "hold", "certificateHold")
    ]
    for path in (f"/api/v1/public/certificates/{serial}", "/api/v1/public/revoked"):
        response = await signing.api.client.get(path)
        text = await response.text()
        assert response.status == 200
        for word in ("actor", "officer", "api:", "test", "profile", "history", "created"):
            assert word not in text, (path, word)
