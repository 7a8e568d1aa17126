"""The paper copy of a certificate drawn as a PDF (A4, fpdf2): the sections of
server/paper/sheet.py as a two-column table, Russian labels in bold with the English
beneath in smaller grey type, then the lines the certificate's holder and the CA's
employee sign, kept together on one page. Debian's DejaVu fonts (server/paper/fonts.py) are
embedded, subset, for the Cyrillic."""

from __future__ import annotations

from datetime import datetime

from fpdf import FPDF
from fpdf.enums import MethodReturnValue, XPos, YPos

from protocols.x509.certificate_facts import certificate_facts
from server.errors import CAError, ErrorKind
from server.paper.fonts import add_fonts, require_fonts
from server.paper.sheet import TITLE, TITLE_EN, Row, Section, moment, sections
from server.serials import serial_text

_MARGIN = 15.0  # mm
_LABEL_WIDTH = 62.0
_LINE = 4.2  # mm per line of 9-point text
_SMALL_LINE = 3.2
_GREY = 110
_SIGNATURES_HEIGHT = 78.0  # the signature block's height, kept on one page


def paper_copy(certificate_der: bytes, printed_at: datetime) -> bytes:
    """The PDF of the certificate's paper copy, printed at `printed_at`. Raises
    CAError(UNAVAILABLE) when the fonts are not installed, CAError(INTERNAL) when the
    certificate does not decode."""
    try:
        facts = certificate_facts(certificate_der)
    except ValueError as exc:
        raise CAError(ErrorKind.INTERNAL, f"the certificate does not decode: {exc}") from None
    require_fonts()
    return _Document(serial_text(facts.serial), printed_at).render(sections(facts))


class _Document(FPDF):
    def __init__(self, serial: str, printed_at: datetime) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.serial, self.printed_at = serial, printed_at
        add_fonts(self)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(False, margin=_MARGIN)
        self.set_creation_date(printed_at)
        self.set_title(f"{TITLE}: {serial}")
        self.set_creator("pki-ca-server")
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-10)
        self._font("Sans", "", 7, _GREY)
        self.cell(0, 4, f"Сертификат / Certificate {self.serial}  ·  "
                  f"лист {self.page_no()} из {{nb}} / page {self.page_no()} of {{nb}}",
                  align="C")  # fmt: skip

    def render(self, parts: tuple[Section, ...]) -> bytes:
        self.add_page()
        self._font("Sans", "B", 13)
        self.multi_cell(0, 6, TITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._font("Sans", "", 9, _GREY)
        self.multi_cell(0, 5, TITLE_EN, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._font("Sans", "", 8, _GREY)
        self.multi_cell(0, 4, f"Сформирована / Printed: {moment(self.printed_at)}",
                        align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        self.ln(3)
        for part in parts:
            self._section(part)
        self._signatures()
        return bytes(self.output())

    def _font(self, family: str, style: str, size: float, grey: int = 0) -> None:
        self.set_font(family, style, size)
        self.set_text_color(grey)

    def _room(self, height: float) -> None:
        """A new page unless `height` mm fit above the bottom margin."""
        if self.get_y() + height > self.h - _MARGIN - 5:
            self.add_page()

    def _section(self, part: Section) -> None:
        self._room(9 + self._row_height(part.rows[0]))  # a title never ends a page
        self.ln(2)
        self.set_fill_color(232)
        self._font("Sans", "B", 10)
        self.cell(self.epw, 6, f"{part.title}  ", fill=True, new_x=XPos.END)
        self.set_x(self.l_margin + self.get_string_width(f"{part.title}  ") + 2)
        self._font("Sans", "", 8, _GREY)
        self.cell(0, 6, part.title_en, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        for row in part.rows:
            self._row(row)

    def _value_font(self, row: Row) -> None:
        if row.mono:
            self._font("Mono", "", 8.5)
        else:
            self._font("Sans", "", 9)

    def _height(self, width: float, line: float, text: str) -> float:
        """The height `text` takes in a column `width` mm wide, in the current font."""
        height = self.multi_cell(width, line, text, align="L", dry_run=True,
                                 output=MethodReturnValue.HEIGHT)  # fmt: skip
        assert isinstance(height, int | float)
        return float(height)

    def _row_height(self, row: Row) -> float:
        self._font("Sans", "B", 8.5)
        label = self._height(_LABEL_WIDTH - 2, _LINE, row.label)
        self._font("Sans", "", 7)
        label += self._height(_LABEL_WIDTH - 2, _SMALL_LINE, row.label_en)
        self._value_font(row)
        return max(label, self._height(self.epw - _LABEL_WIDTH, _LINE, row.value)) + 2.0

    def _row(self, row: Row) -> None:
        height = self._row_height(row)
        self._room(height)
        top, left = self.get_y() + 1.0, self.l_margin
        self.set_xy(left, top)
        self._font("Sans", "B", 8.5)
        self.multi_cell(_LABEL_WIDTH - 2, _LINE, row.label, align="L",
                        new_x=XPos.LEFT, new_y=YPos.NEXT)  # fmt: skip
        self._font("Sans", "", 7, _GREY)
        self.multi_cell(_LABEL_WIDTH - 2, _SMALL_LINE, row.label_en, align="L",
                        new_x=XPos.LEFT, new_y=YPos.NEXT)  # fmt: skip
        self.set_xy(left + _LABEL_WIDTH, top)
        self._value_font(row)
        self.multi_cell(self.epw - _LABEL_WIDTH, _LINE, row.value, align="L")
        bottom = top - 1.0 + height
        self.set_draw_color(200)
        self.line(left, bottom, left + self.epw, bottom)
        self.set_xy(left, bottom)

    def _signatures(self) -> None:
        self._room(_SIGNATURES_HEIGHT)
        self.ln(6)
        self._font("Sans", "", 8.5)
        self.multi_cell(0, _LINE, "Сведения, приведённые в копии, соответствуют сертификату "
                        "в электронной форме.", new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        self._font("Sans", "", 7, _GREY)
        self.multi_cell(0, _SMALL_LINE, "The information in this copy is that of the "
                        "certificate in electronic form.",
                        new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        self._signer("Владелец сертификата", "Certificate holder", position=False)
        self._signer("Сотрудник удостоверяющего центра", "CA employee", position=True)

    def _signer(self, who: str, who_en: str, position: bool) -> None:
        self.ln(5)
        self._font("Sans", "B", 9.5)
        self.cell(self.get_string_width(who) + 2, 5, who)
        self._font("Sans", "", 7.5, _GREY)
        self.cell(0, 5, who_en, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        if position:
            self.ln(5)
            self._blank(self.l_margin, self.epw, "должность / position")
        self.ln(9)
        signature_width, gap = 55.0, 8.0
        self._blank(self.l_margin, signature_width, "подпись / signature")
        self._blank(self.l_margin + signature_width + gap, self.epw - signature_width - gap,
                    "фамилия, инициалы / name")  # fmt: skip
        self.ln(9)
        self._font("Sans", "", 9)
        self.cell(0, 5, "Дата / Date:  «____» ________________ 20____ г.",
                  new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        if position:
            self._font("Sans", "", 9)
            self.set_x(self.l_margin + self.epw - 30)
            self.cell(30, 5, "М. П. / Seal", align="R", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _blank(self, x: float, width: float, caption: str) -> None:
        """A line to write on at the current height, its caption beneath."""
        y = self.get_y()
        self.set_draw_color(0)
        self.line(x, y, x + width, y)
        self._font("Sans", "", 6.5, _GREY)
        self.set_xy(x, y + 0.5)
        self.cell(width, 3, caption, align="C")
        self.set_xy(self.l_margin, y)
