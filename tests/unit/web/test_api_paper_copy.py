"""The paper copy of a certificate (regulation 8.3, SEED-MAP V4) of a person issued by a
real CA home through the RA: `GET /api/v1/certificates/{serial}/paper` and `python -m server
paper`, read back with poppler's pdftotext for every mandatory field, in Russian, with the
certificate's values; page 1 rendered to PNG by pdftoppm and kept as the test's artefact
for a person to look at."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from server.accounts import Role
from tests.pdf_reading import page_one_png, pdf_text
from tests.unit.web.api_home import Served
from tests.unit.web.test_api_personal_data import issued_person_certificate
from tests.unit.web.test_api_subscribers import PERSON, PERSON_INN, SNILS

ROOT = Path(__file__).resolve().parents[3]
CYRILLIC_PERSON = {**PERSON, "surname": "Иванов", "given_names": "Иван Иванович"}
# Every label the paper must carry, whatever the certificate (8.3; the thumbprints; lines
# for the two signatures).
LABELS = (
    "Копия сертификата ключа проверки электронной подписи", "Серийный номер",
    "Действителен с", "Действителен по", "Владелец сертификата", "Фамилия, имя, отчество",
    "СНИЛС", "ИНН", "Ключ проверки электронной подписи", "Алгоритм", "Параметры",
    "Длина ключа", "Значение ключа", "Издатель (удостоверяющий центр)",
    "Ограничения использования", "Использование ключа", "Расширенное использование",
    "Политики сертификата", "Срок действия ключа", "Иная информация", "Отпечатки сертификата",
    "SHA-1", "SHA-256", "Сотрудник удостоверяющего центра", "подпись / signature",
    "фамилия, инициалы / name", "Дата / Date",
)  # fmt: skip


async def person_certificate(signing: Served) -> x509.Certificate:
    _, serial = await issued_person_certificate(signing, CYRILLIC_PERSON)
    record = await signing.ca.registry.get_certificate(serial)
    assert record is not None and record.der is not None
    return x509.load_der_x509_certificate(record.der)


def assert_8_3_fields(text: str, certificate: x509.Certificate) -> None:
    for label in LABELS:
        assert label in text, label
    der = certificate.public_bytes(Encoding.DER)
    issuer_cn = certificate.issuer.get_attributes_for_oid(x509.NameOID.COMMON_NAME)[0].value
    for value in (
        format(certificate.serial_number, "x"),
        f"{certificate.not_valid_before_utc:%d.%m.%Y %H:%M:%S} UTC",
        f"{certificate.not_valid_after_utc:%d.%m.%Y %H:%M:%S} UTC",
        "Иванов Иван Иванович",
        SNILS,
        PERSON_INN,
        str(issuer_cn),
        hashlib.sha1(der).hexdigest().upper(),
        hashlib.sha256(der).hexdigest().upper(),
        "ECDSA, эллиптическая кривая",
        "P-256, secp256r1",
        "256 бит",
        "цифровая подпись (digitalSignature)",
    ):
        assert value in text, value


async def test_8_3_the_api_gives_the_staff_a_paper_copy(signing: Served, tmp_path: Path) -> None:
    certificate = await person_certificate(signing)
    serial = format(certificate.serial_number, "x")
    pdf = await signing.api.call("GET", f"/certificates/{serial}/paper", 200,
                                 token=signing.seed.tokens[Role.OPERATOR])  # fmt: skip
    assert signing.api.last_headers["Content-Type"] == "application/pdf"
    assert pdf.startswith(b"%PDF-")
    path = tmp_path / f"{serial}-api.pdf"
    path.write_bytes(pdf)
    assert_8_3_fields(pdf_text(path), certificate)
    assert page_one_png(path).stat().st_size > 10_000
    officer = await signing.api.call("GET", f"/certificates/{serial}/paper", 200,
                                     token=signing.seed.tokens[Role.OFFICER])  # fmt: skip
    assert officer.startswith(b"%PDF-")


async def test_8_3_the_command_line_writes_the_same_paper_copy(
    signing: Served, tmp_path: Path
) -> None:
    certificate = await person_certificate(signing)
    serial = format(certificate.serial_number, "x")
    out = tmp_path / f"{serial}-cli.pdf"
    done = subprocess.run(
        [sys.executable, "-m", "server", "paper", "--home", str(signing.home),
         "--serial", serial.upper(), "--out", str(out)],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (done.returncode, done.stdout, done.stderr) == (
        0, f"paper copy of {serial} written to {out}\n", "",
    )  # fmt: skip
    assert_8_3_fields(pdf_text(out), certificate)
    page_one_png(out)
    unknown = subprocess.run(
        [sys.executable, "-m", "server", "paper", "--home", str(signing.home),
         "--serial", "abcdef", "--out", str(tmp_path / "none.pdf")],
        cwd=ROOT, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert (unknown.returncode, unknown.stderr) == (1, "error: no certificate with serial abcdef\n")
    assert not (tmp_path / "none.pdf").exists()


async def test_the_paper_copy_is_refused_to_whom_may_not_read_personal_data(
    served: Served,
) -> None:
    serial = served.seed.serials[0]
    for role in (Role.AUDITOR, Role.ADMIN):
        answer = await served.api.call("GET", f"/certificates/{serial}/paper", 403,
                                       token=served.seed.tokens[role])  # fmt: skip
        assert answer == {"error": "unauthorized", "message": f"the {role} role may not do this"}
    await served.api.call("GET", f"/certificates/{serial}/paper", 401)
    operator = served.seed.tokens[Role.OPERATOR]
    unknown = await served.api.call("GET", "/certificates/abcdef/paper", 404, token=operator)
    assert unknown == {"error": "not-found", "message": "no certificate with serial abcdef"}
    bad = await served.api.call("GET", "/certificates/xyz/paper", 400, token=operator)
    assert bad["error"] == "malformed"
