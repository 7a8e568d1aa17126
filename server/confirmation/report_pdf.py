"""The expert's report (server/confirmation/expert_report.py) drawn as a PDF (A4, fpdf2), from
the JSON the registry keeps, so the paper says exactly what the JSON does: a title, then the
sections of V3 in its order, numbered, their Russian headings in bold with the English
beside in grey, and the line the expert signs. The fonts are those of the paper copy
(server/paper/fonts.py). The same report draws the same bytes each time, so the detached
signature of one drawing (server/confirmation/report_signer.py, the API's report.p7s) holds
for the next."""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from fpdf import FPDF
from fpdf.enums import XPos, YPos

from server.paper.fonts import add_fonts, require_fonts
from server.paper.sheet import moment
from server.registry.records import from_text

TITLE = "Заключение эксперта по обращению о подтверждении подлинности электронной подписи"
TITLE_EN = "Expert's report on a request to confirm an electronic signature"
SUBJECTS = {
    "signature": "электронная подпись в электронном документе",
    "certificate": "электронная подпись удостоверяющего центра в сертификате",
}
VERDICTS = {
    "valid": "подпись действительна (valid)",
    "invalid": "подпись недействительна (invalid)",
    "indeterminate": "действительность не установлена (indeterminate)",
}
ROLES = {"document": "документ", "signature": "подпись", "certificate": "сертификат"}
_MARGIN = 18.0  # mm
_LINE = 4.6
_GREY = 110


def report_pdf(report: Mapping[str, Any]) -> bytes:
    """The PDF of an expert's report as `expert_report.assemble` made it. Raises
    CAError(UNAVAILABLE) when the fonts are not installed."""
    require_fonts()
    return _Report(report).render()


def _when(text: str) -> str:
    return moment(from_text(text))


def _when_iso(text: str) -> str:
    return moment(datetime.fromisoformat(text).astimezone(UTC))


def _value(value: object) -> str:
    return value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)


class _Report(FPDF):
    def __init__(self, report: Mapping[str, Any]) -> None:
        super().__init__(orientation="portrait", unit="mm", format="A4")
        self.report = report
        add_fonts(self)
        self.set_margins(_MARGIN, _MARGIN, _MARGIN)
        self.set_auto_page_break(True, margin=_MARGIN)
        self.set_creation_date(from_text(report["answered_at"]))
        self.set_title(f"{TITLE}: {report['case']}")
        self.set_creator("pki-ca-server")
        self.alias_nb_pages()

    def footer(self) -> None:
        self.set_y(-12)
        self._font("Sans", "", 7, _GREY)
        self.cell(0, 4, f"Дело / Case {self.report['case']}  ·  "
                  f"лист {self.page_no()} из {{nb}} / page {self.page_no()} of {{nb}}",
                  align="C")  # fmt: skip

    def render(self) -> bytes:
        report = self.report
        self.add_page()
        self._font("Sans", "B", 12.5)
        self.multi_cell(0, 6, TITLE, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._font("Sans", "", 9, _GREY)
        self.multi_cell(0, 5, TITLE_EN, align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._font("Sans", "", 9)
        self.multi_cell(0, 5, f"Дело / Case № {report['case']}; предмет / subject:"
                        f" {SUBJECTS[report['kind']]}. Заключение составлено / Answered:"
                        f" {_when(report['answered_at'])}",
                        align="C", new_x=XPos.LMARGIN, new_y=YPos.NEXT)  # fmt: skip
        place = report["time_and_place"]
        expert = report["expert"]
        results = report["results"]
        self._section(1, "Время и место проведения экспертизы", "Time and place", [
            f"Начата / Started: {_when(place['started_at'])}",
            f"Окончена / Finished: {_when(place['finished_at'])}",
            f"Место / Place: {place['place']}",
        ])  # fmt: skip
        self._section(2, "Основания проведения экспертизы", "Grounds", [report["grounds"]])
        self._section(3, "Сведения об эксперте", "The expert", [
            f"Фамилия, имя, отчество / Name: {expert['name']}",
            f"Должность, квалификация / Position: {expert['position']}",
            f"Учётная запись / Account: {expert['account']}",
        ])  # fmt: skip
        self._section(4, "Вопросы, поставленные перед экспертом", "Questions", [
            f"Заявитель / Submitter: {report['submitter']}",
            f"Обращение поступило / Received: {_when(report['received_at'])}",
            report["questions"],
        ])  # fmt: skip
        self._section(5, "Объекты исследования", "Objects examined", [
            f"{ROLES[item['role']]} ({item['role']}): «{item['name']}», {item['size']} байт,"
            f" SHA-256: {item['sha256']}"
            for item in report["objects"]
        ])  # fmt: skip
        self._section(6, "Методы исследования", "Methods", [report["methods"]])
        automatic = self._automatic(results["automatic_check"])
        self._section(7, "Результаты исследования", "Results", [results["findings"], *automatic])
        self._section(8, "Выводы", "Conclusion", [report["conclusion"]])
        self._signature(expert["name"])
        return bytes(self.output())

    @staticmethod
    def _automatic(check: Mapping[str, Any]) -> list[str]:
        """The automatic check's report as lines: its verdict, every cause, every fact."""
        lines = [
            "Автоматическая проверка / Automatic check:"
            f" {VERDICTS.get(check['verdict'], check['verdict'])},"
            f" проведена / checked {_when_iso(check['checked_at'])}"
        ]
        lines += [f"Причина / Cause {c['code']}: {c['text']}" for c in check["causes"]]
        skip = {"kind", "verdict", "checked_at", "causes"}
        lines += [f"{name}: {_value(value)}" for name, value in check.items() if name not in skip]
        return lines

    def _font(self, family: str, style: str, size: float, grey: int = 0) -> None:
        self.set_font(family, style, size)
        self.set_text_color(grey)

    def _section(self, number: int, title: str, title_en: str, paragraphs: list[str]) -> None:
        if self.get_y() > self.h - _MARGIN - 25:  # a heading never ends a page
            self.add_page()
        self.ln(3)
        self.set_fill_color(232)
        heading = f"{number}. {title}  "
        self._font("Sans", "B", 10)
        self.cell(self.epw, 6, heading, fill=True, new_x=XPos.END)
        self.set_x(self.l_margin + self.get_string_width(heading) + 2)
        self._font("Sans", "", 8, _GREY)
        self.cell(0, 6, title_en, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self._font("Sans", "", 9.5)
        for paragraph in paragraphs:
            self.ln(1)
            self.multi_cell(0, _LINE, paragraph, align="L", new_x=XPos.LMARGIN, new_y=YPos.NEXT)

    def _signature(self, name: str) -> None:
        if self.get_y() > self.h - _MARGIN - 35:
            self.add_page()
        self.ln(12)
        self._font("Sans", "B", 9.5)
        self.cell(0, 5, "Эксперт / Expert", new_x=XPos.LMARGIN, new_y=YPos.NEXT)
        self.ln(10)
        y, width = self.get_y(), 60.0
        self.set_draw_color(0)
        self.line(self.l_margin, y, self.l_margin + width, y)
        self._font("Sans", "", 6.5, _GREY)
        self.set_xy(self.l_margin, y + 0.5)
        self.cell(width, 3, "подпись / signature", align="C")
        self.set_xy(self.l_margin + width + 8, y - 5)
        self._font("Sans", "", 9.5)
        self.cell(0, 5, name, new_x=XPos.LMARGIN, new_y=YPos.NEXT)
