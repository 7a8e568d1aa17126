"""Which language a public page is written in: `?lang=ru|en` when given, else the first of
Russian and English the client's Accept-Language prefers (RFC 9110 12.5.4, by q-value,
then by order), else Russian: the CA is a Russian one and its subscribers read Russian."""

from __future__ import annotations

LANGUAGES = ("ru", "en")
DEFAULT = "ru"


def chosen_language(parameter: str | None, accept_language: str | None) -> str:
    if parameter in LANGUAGES:
        return parameter
    ranked: list[tuple[float, int, str]] = []
    for position, item in enumerate((accept_language or "").split(",")):
        tag, _, parameters = item.strip().partition(";")
        primary = tag.strip().lower().split("-")[0]
        if primary not in LANGUAGES:
            continue
        ranked.append((-_quality(parameters), position, primary))
    return min(ranked)[2] if ranked and min(ranked)[0] < 0 else DEFAULT


def _quality(parameters: str) -> float:
    """The q of `;q=0.8` (1 when absent; 0, "not acceptable", when unreadable)."""
    name, _, value = parameters.strip().partition("=")
    if name.strip().lower() != "q":
        return 1.0
    try:
        return max(0.0, min(1.0, float(value)))
    except ValueError:
        return 0.0
