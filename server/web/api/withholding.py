"""Personal data withheld from the staff who may not read it (the auditor; the admin in
the audit trail): subject DNs keep their shape with the values of a natural person's
identifiers replaced by WITHHELD (C1).

Always withheld: SNILS, a person's INN, OGRNIP, surname, given names, e-mail address and
street. The common name too when the name is a person's (it carries SNILS, a surname, given
names or OGRNIP): in the person profile it is the holder's full name. A device's or an
organisation's name stays readable.
"""

from __future__ import annotations

from protocols.x509 import names

WITHHELD = "***"
_PERSONAL_ATTRIBUTES = frozenset({"SNILS", "INN", "OGRNIP", "SN", "GN", "emailAddress", "street"})
_PERSON_MARKERS = frozenset({"SNILS", "SN", "GN", "OGRNIP"})


def withheld_subject(subject: str) -> str:
    """The subject DN with the values of personal identifiers replaced by WITHHELD; all of
    it withheld when it does not parse."""
    try:
        pairs = names.parse_dn(subject)
    except ValueError:
        return WITHHELD
    person = any(attribute in _PERSON_MARKERS for attribute, _ in pairs)
    personal = _PERSONAL_ATTRIBUTES | ({"CN"} if person else set())
    return names.format_dn((a, WITHHELD if a in personal else v) for a, v in pairs)


def withheld_details(details: dict[str, object]) -> dict[str, object]:
    """An audit entry's details with personal data withheld. Entries written by this
    version carry none; older ones named the subject and the allowed e-mail addresses, and
    the hash chain forbids rewriting them, so they are masked when shown."""
    shown = dict(details)
    if isinstance(shown.get("subject"), str):
        shown["subject"] = withheld_subject(str(shown["subject"]))
    alt_names = shown.get("alt_names")
    if isinstance(alt_names, dict) and isinstance(alt_names.get("email"), list):
        shown["alt_names"] = {**alt_names, "email": [WITHHELD for _ in alt_names["email"]]}
    return shown
