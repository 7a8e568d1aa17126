"""Check digits of INN, INNLE, OGRN, OGRNIP and SNILS.

Vectors: the known-good numbers of shared/reference/ru-profile.md section 2 (a public
company's INN 7707083893 and OGRN 1027700132195, the commonly cited person INN 500100732259,
OGRNIP 304500116000157, and 304500116000061 whose remainder mod 13 is 11); the SNILS
112-233-445 95 is the usual documentation example. Mutations change one digit, swap two
neighbours, or alter the length.
"""

import pytest

from protocols.x509.ru_identifiers import (
    InvalidIdentifier,
    validate_inn,
    validate_inn_attribute,
    validate_innle,
    validate_ogrn,
    validate_ogrnip,
    validate_snils,
)

GOOD = [
    (validate_inn, "7707083893"),
    (validate_inn, "500100732259"),
    (validate_innle, "7707083893"),
    (validate_inn_attribute, "500100732259"),
    (validate_inn_attribute, "007707083893"),  # legacy: a legal entity's INN padded with 00
    (validate_ogrn, "1027700132195"),
    (validate_ogrnip, "304500116000157"),
    (validate_ogrnip, "304500116000061"),
    (validate_snils, "11223344595"),
]


def mutations(digits: str) -> list[str]:
    """Every single-digit change, every swap of unequal neighbours."""
    out = []
    for i, d in enumerate(digits):
        for replacement in "0123456789":
            if replacement != d:
                out.append(digits[:i] + replacement + digits[i + 1 :])
    for i in range(len(digits) - 1):
        if digits[i] != digits[i + 1]:
            out.append(digits[:i] + digits[i + 1] + digits[i] + digits[i + 2 :])
    return out


@pytest.mark.parametrize(("validate", "value"), GOOD)
def test_known_good(validate, value):
    assert validate(value) == value


def test_remainder_11_case_is_the_last_digit():
    assert int("30450011600006") % 13 == 11
    assert validate_ogrnip("304500116000061") == "304500116000061"


@pytest.mark.parametrize(("validate", "value"), GOOD)
def test_mutations_mostly_rejected(validate, value):
    """A mod-11/mod-13 check digit misses some changes (the ones that keep the remainder),
    but must catch every change of the check digit itself and nearly all the others."""
    caught = 0
    candidates = mutations(value)
    for candidate in candidates:
        try:
            validate(candidate)
        except InvalidIdentifier:
            caught += 1
    assert caught / len(candidates) > 0.85
    check_position = len(value) - 1
    for replacement in "0123456789":
        if replacement != value[check_position]:
            with pytest.raises(InvalidIdentifier, match="check digit"):
                validate(value[:check_position] + replacement)


def test_snils_accepts_separators_and_returns_digits():
    assert validate_snils("112-233-445 95") == "11223344595"
    assert validate_snils(" 112 233 445 95 ") == "11223344595"


def test_snils_sum_below_100_is_the_check_number():
    number = _snils_with_sum(81)
    assert validate_snils(number + "81") == number + "81"
    with pytest.raises(InvalidIdentifier):
        validate_snils(number + "18")


@pytest.mark.parametrize("total", [100, 101])
def test_snils_sums_100_and_101_give_00(total):
    number = _snils_with_sum(total)
    assert validate_snils(number + "00") == number + "00"
    with pytest.raises(InvalidIdentifier):
        validate_snils(number + "01")


def test_snils_over_101_takes_mod_101_and_100_gives_00():
    number = _snils_with_sum(201)  # 201 % 101 = 100 -> 00
    assert validate_snils(number + "00") == number + "00"
    number = _snils_with_sum(150)  # 150 % 101 = 49
    assert validate_snils(number + "49") == number + "49"
    with pytest.raises(InvalidIdentifier):
        validate_snils(number + "50")


def test_snils_small_numbers_not_checked():
    assert validate_snils("00100199800") == "00100199800"
    assert validate_snils("00100199899") == "00100199899"
    with pytest.raises(InvalidIdentifier):
        validate_snils("00100199900")  # 001-001-999 is checked: sum 1*7 + 1*4 + 9*3+9*2+9 = 65


def _snils_with_sum(target: int) -> str:
    """Nine digits, above 001-001-998, whose weighted sum is `target` (greedy, weights 9..1)."""
    digits = []
    remaining = target
    for weight in range(9, 0, -1):
        digit = min(9, remaining // weight)
        digits.append(digit)
        remaining -= digit * weight
    assert remaining == 0
    number = "".join(str(d) for d in digits)
    assert int(number) > 1001998
    return number


@pytest.mark.parametrize(
    ("validate", "value", "reason"),
    [
        (validate_inn, "770708389", "10 or 12 digits"),
        (validate_inn, "77070838931", "10 or 12 digits"),
        (validate_inn, "77070838 3", "digits 0-9"),
        (validate_inn, "", "digits 0-9"),
        (validate_innle, "500100732259", "10 digits"),
        (validate_inn_attribute, "7707083893", "12 digits"),
        (validate_ogrn, "102770013219", "13 digits"),
        (validate_ogrn, "102770013219x", "digits 0-9"),
        (validate_ogrnip, "30450011600015", "15 digits"),
        (validate_snils, "1122334459", "11 digits"),
        (validate_snils, "112.233.445.95", "digits 0-9"),
        (validate_snils, "١١٢٢٣٣٤٤٥٩٥", "digits 0-9"),  # Arabic-Indic digits are not 0-9
    ],
)
def test_shape_errors_name_field_and_reason(validate, value, reason):
    with pytest.raises(InvalidIdentifier, match=reason) as info:
        validate(value)
    assert info.value.field in str(info.value)
    assert isinstance(info.value, ValueError)


def test_message_does_not_echo_the_value():
    with pytest.raises(InvalidIdentifier) as info:
        validate_snils("11223344596")
    assert info.value.field == "SNILS"
    assert "11223344596" not in str(info.value)
