"""What the paper copy of a certificate says, in Russian with the English beneath: the
facts of protocols.x509.certificate_facts turned into titled sections of labelled rows, in
the order of the regulation's section 8.3 (SEED-MAP V4). No drawing here (server/paper/pdf.py
draws); every value is text as it is printed."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from protocols.x509.certificate_facts import CertificateFacts, KeyFacts
from protocols.x509.extensions import KEY_PURPOSES, IdentificationKind
from protocols.x509.names import format_dn
from server.serials import serial_text

TITLE = "Копия сертификата ключа проверки электронной подписи на бумажном носителе"
TITLE_EN = "Paper copy of a public key certificate"
ABSENT = "отсутствует / not present"


@dataclass(frozen=True)
class Row:
    label: str  # Russian
    label_en: str
    value: str
    mono: bool = False  # hexadecimal: a fixed-width font


@dataclass(frozen=True)
class Section:
    title: str
    title_en: str
    rows: tuple[Row, ...]


_KEY_USAGES = {
    "digital_signature": "цифровая подпись (digitalSignature)",
    "non_repudiation": "неотрекаемость (nonRepudiation)",
    "key_encipherment": "шифрование ключей (keyEncipherment)",
    "data_encipherment": "шифрование данных (dataEncipherment)",
    "key_agreement": "согласование ключей (keyAgreement)",
    "key_cert_sign": "подпись сертификатов (keyCertSign)",
    "crl_sign": "подпись списков отозванных сертификатов (cRLSign)",
    "encipher_only": "только шифрование (encipherOnly)",
    "decipher_only": "только расшифрование (decipherOnly)",
}
_PURPOSES = {
    "server_auth": "проверка подлинности сервера",
    "client_auth": "проверка подлинности клиента",
    "code_signing": "подпись программного кода",
    "email_protection": "защищённая электронная почта",
    "time_stamping": "штамп времени",
    "ocsp_signing": "подпись ответов OCSP",
}
_PURPOSE_BY_OID = {oid: _PURPOSES[name] for name, oid in KEY_PURPOSES.items()}
# RFC 9215 5.2: the classes of the signature tool.
_CLASSES = ("КС1", "КС2", "КС3", "КВ1", "КВ2", "КА1")
_POLICIES = {f"1.2.643.100.113.{n}": f"класс средства ЭП {name}"
             for n, name in enumerate(_CLASSES, start=1)}  # fmt: skip
_IDENTIFICATION = {
    IdentificationKind.PERSONAL: "при личном присутствии",
    IdentificationKind.REMOTE_CERT: "дистанционно, по действующей квалифицированной ЭП",
    IdentificationKind.REMOTE_PASSPORT: "дистанционно, по паспорту с биометрическими данными",
    IdentificationKind.REMOTE_SYSTEM: "дистанционно, через ЕСИА и ЕБС",
}
_SIGNATURES = {
    "1.2.643.7.1.1.3.2": "ГОСТ Р 34.10-2012 с ГОСТ Р 34.11-2012, 256 бит",
    "1.2.643.7.1.1.3.3": "ГОСТ Р 34.10-2012 с ГОСТ Р 34.11-2012, 512 бит",
    "1.2.840.10045.4.3.2": "ECDSA с SHA-256",
    "1.2.840.10045.4.3.3": "ECDSA с SHA-384",
    "1.2.840.10045.4.3.4": "ECDSA с SHA-512",
    "1.2.840.113549.1.1.11": "RSA PKCS#1 v1.5 с SHA-256",
    "1.2.840.113549.1.1.12": "RSA PKCS#1 v1.5 с SHA-384",
    "1.2.840.113549.1.1.13": "RSA PKCS#1 v1.5 с SHA-512",
    "1.2.840.113549.1.1.10": "RSASSA-PSS",
    "1.3.101.112": "Ed25519",
}
_CURVES = {"secp256r1": "P-256", "secp384r1": "P-384", "secp521r1": "P-521"}
_KEY_ALGORITHMS = {"GOST R 34.10-2012": "ГОСТ Р 34.10-2012", "EC": "ECDSA, эллиптическая кривая"}
_OTHER_ATTRIBUTES = {
    "title": ("Должность", "Title"),
    "OU": ("Подразделение", "Organisational unit"),
    "emailAddress": ("Адрес электронной почты", "E-mail address"),
    "serialNumber": ("Серийный номер (атрибут имени)", "serialNumber attribute"),
}


def moment(value: datetime) -> str:
    """ "28.11.2026 12:00:00 UTC", as Russian documents write a date."""
    return f"{value:%d.%m.%Y %H:%M:%S} UTC"


def snils(value: str) -> str:
    """ "112-233-445 95", as SNILS is written on documents."""
    return f"{value[:3]}-{value[3:6]}-{value[6:9]} {value[9:]}" if len(value) == 11 else value


def readable_dn(attributes: tuple[tuple[str, str], ...]) -> str:
    """RFC 4514 text with a space after each comma, so that a line breaks between
    attributes."""
    return ", ".join(format_dn([pair]) for pair in attributes)


def hex_octets(value: bytes, per_line: int = 16) -> str:
    """Upper-case octets separated by spaces, `per_line` to a line."""
    text = value.hex(" ").upper()
    step = per_line * 3
    return "\n".join(text[i : i + step].strip() for i in range(0, len(text), step))


def sections(facts: CertificateFacts) -> tuple[Section, ...]:
    return (
        Section("Сертификат", "Certificate", (
            Row("Серийный номер", "Serial number", serial_text(facts.serial), mono=True),
            Row("Действителен с", "Valid from", moment(facts.not_before)),
            Row("Действителен по", "Valid to", moment(facts.not_after)),
            Row("Алгоритм подписи", "Signature algorithm",
                _named(_SIGNATURES.get(facts.signature_algorithm), facts.signature_algorithm)),
        )),
        Section("Владелец сертификата", "Certificate holder", _holder(facts)),
        Section("Ключ проверки электронной подписи", "Public key", _key(facts.key)),
        Section("Издатель (удостоверяющий центр)", "Issuer (certification authority)", (
            Row("Наименование", "Name", dict(facts.issuer).get("CN", format_dn(facts.issuer))),
            Row("Различительное имя", "Distinguished name", readable_dn(facts.issuer)),
            Row("Идентификатор ключа издателя", "Authority key identifier",
                facts.authority_key_id.hex().upper() if facts.authority_key_id else ABSENT,
                mono=facts.authority_key_id is not None),
        )),
        Section("Ограничения использования", "Usage restrictions", _restrictions(facts)),
        Section("Иная информация", "Other information", _other(facts)),
        Section("Отпечатки сертификата", "Certificate thumbprints", (
            Row("SHA-1", "SHA-1", facts.sha1.hex().upper(), mono=True),
            Row("SHA-256", "SHA-256", facts.sha256.hex().upper(), mono=True),
        )),
    )  # fmt: skip


def _named(name: str | None, oid: str) -> str:
    return f"{name} ({oid})" if name else oid


def _holder(facts: CertificateFacts) -> tuple[Row, ...]:
    rows: list[Row] = []
    if facts.holder_kind == "legal_entity":
        rows += [
            Row("Наименование организации", "Organisation", facts.organisation or ABSENT),
            Row("Адрес", "Address", facts.address or ABSENT),
            Row("ОГРН", "OGRN", facts.ogrn or ABSENT),
            Row("ИНН юридического лица", "INN of the legal entity", facts.innle or ABSENT),
        ]
        if facts.snils:  # the person who acts for it
            rows.append(Row("Ф. И. О. представителя", "Representative", facts.full_name or ""))
    else:
        rows.append(Row("Фамилия, имя, отчество" if facts.holder_kind != "other" else "Имя",
                        "Full name" if facts.holder_kind != "other" else "Name",
                        facts.full_name or ABSENT))  # fmt: skip
    if facts.snils:
        rows.append(Row("СНИЛС", "SNILS", snils(facts.snils)))
    if facts.inn:
        rows.append(Row("ИНН", "INN", facts.inn))
    if facts.holder_kind == "sole_proprietor":
        rows.append(Row("ОГРНИП", "OGRNIP", facts.ogrnip or ABSENT))
    if facts.address and facts.holder_kind != "legal_entity":
        rows.append(Row("Адрес", "Address", facts.address))
    for name, value in facts.other_subject:
        label, label_en = _OTHER_ATTRIBUTES.get(name, (name, name))
        rows.append(Row(label, label_en, value))
    rows.append(Row("Различительное имя", "Distinguished name", readable_dn(facts.subject)))
    return tuple(rows)


def _key(key: KeyFacts) -> tuple[Row, ...]:
    parameters = ABSENT
    if key.parameters:
        title = _CURVES.get(key.parameters, key.parameters)
        text = title if title == key.parameters else f"{title}, {key.parameters}"
        parameters = _named(text, key.parameters_oid or "")
    return (
        Row("Алгоритм", "Algorithm",
            _named(_KEY_ALGORITHMS.get(key.algorithm, key.algorithm), key.algorithm_oid)),
        Row("Параметры", "Parameters", parameters),
        Row("Длина ключа", "Key size", f"{key.size_bits} бит / bits"),
        Row("Значение ключа", "Key value", hex_octets(key.value), mono=True),
    )  # fmt: skip


def _restrictions(facts: CertificateFacts) -> tuple[Row, ...]:
    usage_period = ABSENT
    if facts.private_key_not_before or facts.private_key_not_after:
        start, end = facts.private_key_not_before, facts.private_key_not_after
        usage_period = " ".join(
            part for part in (f"с {moment(start)}" if start else "",
                              f"по {moment(end)}" if end else "") if part
        )  # fmt: skip
    return (
        Row("Использование ключа", "Key usage",
            "\n".join(_KEY_USAGES.get(u, u) for u in facts.key_usage) or ABSENT),
        Row("Расширенное использование ключа", "Extended key usage",
            "\n".join(_named(_PURPOSE_BY_OID.get(o), o) for o in facts.extended_key_usage)
            or ABSENT),
        Row("Политики сертификата", "Certificate policies",
            "\n".join(_named(_POLICIES.get(o), o) for o in facts.policies) or ABSENT),
        Row("Срок действия ключа электронной подписи", "Private key usage period", usage_period),
    )  # fmt: skip


def _other(facts: CertificateFacts) -> tuple[Row, ...]:
    rows = []
    if facts.subject_sign_tool is not None:
        rows.append(Row("Средство электронной подписи владельца", "subjectSignTool",
                        facts.subject_sign_tool))  # fmt: skip
    if facts.issuer_sign_tool is not None:
        sign_tool, ca_tool, sign_cert, ca_cert = facts.issuer_sign_tool
        rows.append(Row("Средства электронной подписи и УЦ издателя", "issuerSignTool",
                        f"Средство ЭП: {sign_tool}\nСредство УЦ: {ca_tool}\n"
                        f"Заключение на средство ЭП: {sign_cert}\n"
                        f"Заключение на средство УЦ: {ca_cert}"))  # fmt: skip
    if facts.identification_kind is not None:
        kind = facts.identification_kind
        rows.append(Row("Способ идентификации заявителя", "identificationKind",
                        f"{int(kind)} — {_IDENTIFICATION[kind]}"))  # fmt: skip
    return tuple(rows) or (Row("Сведения", "Information", ABSENT),)
