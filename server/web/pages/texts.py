"""The words of the public pages, in Russian and English (server/web/pages/language.py
picks one). Plain text: the renderer escapes every one of them."""

from __future__ import annotations

from collections.abc import Mapping

_TEXTS: Mapping[str, tuple[str, str]] = {
    # (Russian, English)
    "title": ("Удостоверяющий центр", "Certification authority"),
    "other_language": ("English", "Русский"),
    "certificates": ("Сертификаты удостоверяющего центра", "Certificates of the CA"),
    "certificates_note": (
        "Сверьте отпечаток SHA-256 загруженного сертификата с указанным здесь, прежде чем "
        "доверять ему.",
        "Compare the SHA-256 thumbprint of a downloaded certificate with the one shown "
        "here before you trust it.",
    ),
    "kind": ("Вид", "Kind"),
    "subject": ("Владелец (subject)", "Subject"),
    "serial": ("Серийный номер", "Serial number"),
    "validity": ("Срок действия", "Validity"),
    "state": ("Состояние", "State"),
    "thumbprint": ("Отпечаток SHA-256", "SHA-256 thumbprint"),
    "download": ("Загрузить", "Download"),
    "kind.generation": ("сертификат УЦ", "CA certificate"),
    "kind.root": ("корневой УЦ", "root CA"),
    "kind.link": ("связующий", "link"),
    "state.active": ("действует", "active"),
    "state.retired": ("выведен из работы", "retired"),
    "state.compromised": ("ключ скомпрометирован", "key compromised"),
    "state.expired": ("срок истёк", "expired"),
    "link_note": (
        "Связующие сертификаты (NewWithOld, OldWithNew) выдаются вместе с сертификатами УЦ "
        "по EST cacerts и CMP caCerts.",
        "Link certificates (NewWithOld, OldWithNew) are handed out with the CA certificates "
        "by EST cacerts and CMP caCerts.",
    ),
    "status": ("Проверка статуса сертификатов", "Certificate status"),
    "crl": ("Списки отозванных сертификатов (CRL)", "Certificate revocation lists (CRL)"),
    "ocsp": ("OCSP", "OCSP"),
    "enroll": ("Как получить сертификат", "How to enroll"),
    "enroll_note": (
        "Оператор УЦ выдаёт одноразовый код регистрации: идентификатор ($ID) и секрет "
        "($SECRET). Запрос подписывается вашим ключом; ключ не покидает ваш компьютер.",
        "The CA's operator gives you a one-time enrollment code: an id ($ID) and a secret "
        "($SECRET). Your key signs the request and never leaves your computer.",
    ),
    "est": ("EST (RFC 7030), по HTTPS", "EST (RFC 7030), over HTTPS"),
    "est_off": ("EST не включён: у сервера нет HTTPS.", "EST is off: the server has no HTTPS."),
    "cmp": ("CMP (RFC 9483)", "CMP (RFC 9483)"),
    "labels": ("Метки профилей", "Profile labels"),
    "step_ca": ("Загрузите сертификат УЦ и сверьте отпечаток:",
                "Download the CA certificate and check its thumbprint:"),
    "step_est": ("Создайте ключ и запрос, получите сертификат по EST:",
                 "Make a key and a request, and enroll over EST:"),
    "step_cmp": ("Или по CMP:", "Or over CMP:"),
    "search": ("Поиск выданных сертификатов", "Search issued certificates"),
    "search_note": (
        "По серийному номеру, по SHA-256 открытого ключа (SubjectPublicKeyInfo) или по имени "
        "владельца, как оно записано в сертификате (CN или O). Показывается не более {limit} "
        "сертификатов.",
        "By serial number, by the SHA-256 of the public key (SubjectPublicKeyInfo), or by the "
        "holder's name as the certificate gives it (CN or O). At most {limit} certificates "
        "are shown.",
    ),
    "by.name": ("имя владельца", "holder name"),
    "by.serial": ("серийный номер", "serial number"),
    "by.key": ("SHA-256 ключа", "key SHA-256"),
    "match.exact": ("точно", "exactly"),
    "match.prefix": ("начинается с", "starts with"),
    "find": ("Найти", "Search"),
    "query": ("Что искать", "Search for"),
    "found": ("Найдено: {count}", "Found: {count}"),
    "none_found": ("Ничего не найдено.", "Nothing found."),
    "limited": ("Показаны первые {limit}; уточните запрос.",
                "The first {limit} are shown; narrow the search."),
    "cert.status": ("Статус", "Status"),
    "cert.good": ("действует", "good"),
    "cert.revoked": ("отозван", "revoked"),
    "cert.hold": ("приостановлен", "suspended"),
    "too_many": ("Слишком много запросов поиска. Повторите через {seconds} с.",
                 "Too many searches. Try again in {seconds} s."),
    "malformed": ("Запрос не понят: {reason}", "The search was not understood: {reason}"),
    "home": ("На главную", "Back to the main page"),
}  # fmt: skip


def text(language: str, key: str, **values: object) -> str:
    """The text of `key` in `language` ("ru" or "en"), its {fields} filled."""
    russian, english = _TEXTS[key]
    chosen = russian if language == "ru" else english
    return chosen.format(**values) if values else chosen
