"""The fonts the CA's PDFs are drawn in: Debian's DejaVu (fonts-dejavu-core), embedded and
subset by fpdf2, for the Cyrillic of Russian text. One family of faces for every document
(the paper copy of a certificate, an expert's report)."""

from __future__ import annotations

from pathlib import Path

from fpdf import FPDF

from server.errors import CAError, ErrorKind

FONTS = Path("/usr/share/fonts/truetype/dejavu")
FACES = {("Sans", ""): "DejaVuSans.ttf", ("Sans", "B"): "DejaVuSans-Bold.ttf",
         ("Mono", ""): "DejaVuSansMono.ttf"}  # fmt: skip


def require_fonts() -> None:
    """Raises CAError(UNAVAILABLE) naming the first font file that is not installed."""
    missing = [name for name in FACES.values() if not (FONTS / name).is_file()]
    if missing:
        raise CAError(ErrorKind.UNAVAILABLE, f"font {FONTS / missing[0]} is not installed "
                      "(Debian package fonts-dejavu-core)")  # fmt: skip


def add_fonts(document: FPDF) -> None:
    """Make the faces of FACES known to `document` as "Sans", "Sans" bold and "Mono"."""
    for (family, style), name in FACES.items():
        document.add_font(family, style, str(FONTS / name))
