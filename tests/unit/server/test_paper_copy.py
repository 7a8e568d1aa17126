"""The paper copy (regulation 8.3) of the certificates a Russian CA issues besides a
person's ECDSA one (tests/unit/web/test_api_paper_copy.py): a legal entity's on a GOST
R 34.10-2012 key, a sole proprietor's on an RSA key; read back with pdftotext."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from protocols.x509 import extensions as ext
from protocols.x509.certificate import (
    CertificateTemplate,
    assemble_certificate,
    build_tbs_certificate,
    signature_algorithm_for,
)
from protocols.x509.names import build_name
from server.errors import CAError, ErrorKind
from server.paper.pdf import paper_copy
from tests.gost_support import GostCA, require_engine
from tests.pdf_reading import page_one_png, pdf_text

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
PRINTED = datetime(2026, 12, 1, 9, 30, tzinfo=UTC)
ENTITY = [("CN", "ООО Ромашка"), ("O", "ООО Ромашка"), ("street", "ул. Ленина, д. 1"),
          ("L", "Москва"), ("ST", "77 г. Москва"), ("C", "RU"), ("OGRN", "1027700132195"),
          ("INNLE", "7707083893")]  # fmt: skip


def written(tmp_path: Path, name: str, der: bytes) -> str:
    path = tmp_path / f"{name}.pdf"
    path.write_bytes(paper_copy(der, PRINTED))
    page_one_png(path)
    return pdf_text(path)


def test_8_3_paper_copy_of_a_legal_entitys_gost_certificate(tmp_path: Path) -> None:
    require_engine()
    ca = GostCA.make(512, "A", NOW)
    extensions = [ext.key_usage({"digital_signature", "non_repudiation"}),
                  ext.certificate_policies(["1.2.643.100.113.1"]),
                  ext.subject_sign_tool("СКЗИ «КриптоПро CSP» (версия 5.0)")]  # fmt: skip
    text = written(tmp_path, "gost", ca.issue(build_name(ENTITY), ca.spki, extensions, 0x5A))
    for value in (
        "Серийный номер 5a", "Действителен с 28.11.2026 12:00:00 UTC",
        "Действителен по 28.11.2027 12:00:00 UTC", "Сформирована / Printed: 01.12.2026 09:30:00",
        "Наименование организации", "ООО Ромашка", "Адрес", "ул. Ленина, д. 1, Москва",
        "ОГРН 1027700132195", "ИНН юридического лица", "7707083893",
        "ГОСТ Р 34.10-2012 (1.2.643.7.1.1.1.2)", "TC26-A (1.2.643.7.1.2.1.2.1)", "512 бит",
        "ГОСТ Р 34.10-2012 с ГОСТ Р 34.11-2012, 512 бит", "GOST 512 A CA",
        "класс средства ЭП КС1 (1.2.643.100.113.1)", "СКЗИ «КриптоПро CSP» (версия 5.0)",
        "Сотрудник удостоверяющего центра",
    ):  # fmt: skip
        assert value in text, value
    assert "СНИЛС" not in text  # the entity alone: no person acts for it in this one


def test_8_3_paper_copy_of_a_sole_proprietors_rsa_certificate(tmp_path: Path) -> None:
    issuer_key = ec.generate_private_key(ec.SECP384R1())
    issuer_spki = issuer_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    spki = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    subject = [("CN", "ИП Петров П. П."), ("SN", "Петров"), ("GN", "Пётр Петрович"),
               ("SNILS", "11223344595"), ("INN", "500100732259"),
               ("OGRNIP", "304500116000157"), ("C", "RU")]  # fmt: skip
    template = CertificateTemplate(
        serial=0x0FEDCBA987654321, issuer=build_name([("CN", "УЦ Пример"), ("C", "RU")]),
        subject=build_name(subject), spki_der=spki, not_before=NOW,
        not_after=NOW + timedelta(days=30), extensions=(),
        signature_algorithm=signature_algorithm_for(issuer_spki),
    )  # fmt: skip
    tbs = build_tbs_certificate(template)
    der = assemble_certificate(tbs, template.signature_algorithm,
                               issuer_key.sign(tbs, ec.ECDSA(hashes.SHA384())))  # fmt: skip
    text = written(tmp_path, "rsa", der)
    for value in (
        "Серийный номер fedcba987654321", "Петров Пётр Петрович", "СНИЛС 112-233-445 95",
        "ИНН 500100732259", "ОГРНИП 304500116000157", "RSA (1.2.840.113549.1.1.1)",
        "2048 бит", "ECDSA с SHA-384", "Наименование УЦ Пример",
        "Использование ключа отсутствует / not present",
    ):  # fmt: skip
        assert value in text, value


def test_a_stored_certificate_that_does_not_decode_is_an_internal_error() -> None:
    with pytest.raises(CAError) as refused:
        paper_copy(b"\x30\x00", PRINTED)
    assert refused.value.kind is ErrorKind.INTERNAL
