"""Check digits of the Russian registration numbers carried in certificate subjects.

The rules are those of shared/reference/ru-profile.md section 2 (cross-checked there against
several public implementations):

=========  ======  ==========================================================================
INN (ЮЛ)   10      c10 = sum(d_i * w_i, i=1..9; w = 2,4,10,3,5,9,4,6,8) % 11 % 10
INN (ФЛ)   12      c11 over d1..d10 with w = 7,2,4,10,3,5,9,4,6,8; c12 over d1..d11 with
                   w = 3,7,2,4,10,3,5,9,4,6,8; each % 11 % 10
INNLE      10      as INN (ЮЛ): the legal entity's INN (1.2.643.100.4, Order 795 from 2021)
OGRN       13      c13 = int(d1..d12) % 11 % 10
OGRNIP     15      c15 = int(d1..d14) % 13 % 10 (the last digit of the remainder: a remainder
                   of 11 or 12 gives 1 or 2, which python-stdnum gets wrong)
SNILS      11      s = sum(d_i * (10 - i), i=1..9); s < 100 -> s; s in (100, 101) -> 00;
                   s > 101 -> s % 101, then 100 -> 00. Numbers <= 001-001-998 are not checked.
=========  ======  ==========================================================================

Each ``validate_*`` function returns the digits alone (the form the certificate carries as a
NumericString) or raises :class:`InvalidIdentifier`. Messages name the field and the reason
but never echo the value: these are personal data (Регламент section 7, rule C1).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

__all__ = [
    "VALIDATORS",
    "InvalidIdentifier",
    "validate_inn",
    "validate_inn_attribute",
    "validate_innle",
    "validate_ogrn",
    "validate_ogrnip",
    "validate_snils",
]

_INN10_WEIGHTS = (2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN11_WEIGHTS = (7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_INN12_WEIGHTS = (3, 7, 2, 4, 10, 3, 5, 9, 4, 6, 8)
_SNILS_UNCHECKED_MAX = 1001998  # 001-001-998: numbers up to this one carry no check digits


class InvalidIdentifier(ValueError):
    """A Russian registration number is malformed: wrong length, not digits, or a check
    digit that does not match. ``field`` is the identifier's name (``"SNILS"``...)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


def _digits(field: str, value: str, lengths: Sequence[int], separators: str = "") -> str:
    text = value.strip()
    for separator in separators:
        text = text.replace(separator, "")
    # str.isdigit() accepts other scripts' digits ("٣"); a NumericString takes ASCII only.
    if not text or not (text.isascii() and text.isdigit()):
        raise InvalidIdentifier(field, "must consist of the digits 0-9 only")
    if len(text) not in lengths:
        expected = " or ".join(str(n) for n in lengths)
        raise InvalidIdentifier(field, f"must have {expected} digits, not {len(text)}")
    return text


def _weighted(digits: str, weights: Sequence[int]) -> int:
    return sum(int(d) * w for d, w in zip(digits, weights, strict=False)) % 11 % 10


def _check_inn(field: str, digits: str) -> None:
    if len(digits) == 10:
        good = _weighted(digits, _INN10_WEIGHTS) == int(digits[9])
    else:
        good = _weighted(digits, _INN11_WEIGHTS) == int(digits[10]) and _weighted(
            digits, _INN12_WEIGHTS
        ) == int(digits[11])
    if not good:
        raise InvalidIdentifier(field, "check digit does not match")


def validate_inn(value: str) -> str:
    """An INN: 10 digits (legal entity) or 12 digits (person, sole proprietor).

    Raises InvalidIdentifier."""
    digits = _digits("INN", value, (10, 12))
    _check_inn("INN", digits)
    return digits


def validate_inn_attribute(value: str) -> str:
    """The value of the subject attribute INN (1.2.643.3.131.1.1): NumericString SIZE(12).

    A person's 12-digit INN; or, as certificates issued before 1 Sep 2021 did, a legal
    entity's 10-digit INN left-padded with "00" (region codes never start with 00, so the
    padding cannot be mistaken for a person's INN). Raises InvalidIdentifier."""
    digits = _digits("INN", value, (12,))
    _check_inn("INN", digits[2:] if digits.startswith("00") else digits)
    return digits


def validate_innle(value: str) -> str:
    """INNLE (1.2.643.100.4): a legal entity's INN, exactly 10 digits. Raises InvalidIdentifier."""
    digits = _digits("INNLE", value, (10,))
    _check_inn("INNLE", digits)
    return digits


def validate_ogrn(value: str) -> str:
    """OGRN (1.2.643.100.1): 13 digits, c13 = int(d1..d12) % 11 % 10. Raises InvalidIdentifier."""
    digits = _digits("OGRN", value, (13,))
    if int(digits[:12]) % 11 % 10 != int(digits[12]):
        raise InvalidIdentifier("OGRN", "check digit does not match")
    return digits


def validate_ogrnip(value: str) -> str:
    """OGRNIP (1.2.643.100.5): 15 digits, c15 = int(d1..d14) % 13 % 10.

    Raises InvalidIdentifier."""
    digits = _digits("OGRNIP", value, (15,))
    if int(digits[:14]) % 13 % 10 != int(digits[14]):
        raise InvalidIdentifier("OGRNIP", "check digit does not match")
    return digits


def validate_snils(value: str) -> str:
    """SNILS (1.2.643.100.3): 11 digits; dashes and spaces ("112-233-445 95") are dropped.

    Returns the 11 digits with no separators, as the NumericString must carry them.
    Raises InvalidIdentifier."""
    digits = _digits("SNILS", value, (11,), separators="- ")
    number = int(digits[:9])
    if number <= _SNILS_UNCHECKED_MAX:
        return digits
    total = sum(int(d) * w for d, w in zip(digits[:9], range(9, 0, -1), strict=True))
    if total > 101:
        total %= 101
    check = 0 if total in (100, 101) else total
    if check != int(digits[9:]):
        raise InvalidIdentifier("SNILS", "check digits do not match")
    return digits


#: The subject attribute (short name, as in names.py) -> its validator.
VALIDATORS: Mapping[str, Callable[[str], str]] = {
    "OGRN": validate_ogrn,
    "SNILS": validate_snils,
    "INNLE": validate_innle,
    "OGRNIP": validate_ogrnip,
    "INN": validate_inn_attribute,
}
