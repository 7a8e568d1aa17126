"""Reading a PDF the CA made as a person's tools do: poppler's pdftotext for its text and
pdftoppm for a picture of its first page (Debian's poppler-utils, scripts/setup.sh)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest


def pdf_text(pdf: Path) -> str:
    """The PDF's text as laid out (a label and its value on one line), its runs of white
    space made one space. Skips, saying why, when poppler-utils is not installed."""
    if shutil.which("pdftotext") is None or shutil.which("pdftoppm") is None:
        print("poppler-utils (pdftotext, pdftoppm) not installed: run scripts/setup.sh")
        pytest.skip("poppler-utils not installed (run scripts/setup.sh)")
    text = subprocess.run(["pdftotext", "-layout", str(pdf), "-"], capture_output=True, text=True,
                          check=True, timeout=60).stdout  # fmt: skip
    return " ".join(text.split())


def page_one_png(pdf: Path) -> Path:
    """Page 1 as PNG beside the PDF, its path printed: the artefact a person looks at."""
    stem = pdf.with_suffix("")
    subprocess.run(["pdftoppm", "-png", "-r", "100", "-f", "1", "-l", "1", "-singlefile",
                    str(pdf), str(stem)], check=True, timeout=60)  # fmt: skip
    png = stem.with_suffix(".png")
    print(f"paper copy page 1: {png}")
    return png
