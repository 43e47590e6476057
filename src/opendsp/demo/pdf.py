"""One-page PDF reports for the demo, drawn with fpdf2's core fonts.

The core fonts (Helvetica) cover Latin-1 only, which is enough for French
and German; the few characters outside it are spelled out before drawing.
Output is deterministic: the creation date comes from the care date.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time

from fpdf import FPDF

from opendsp.demo.clinical import LABELS, format_date, tr
from opendsp.locale.latin1 import latin_1



@dataclass(frozen=True)
class Letterhead:
    organisation: str
    city: str
    author: str  # name and profession or specialty, as printed under the organisation


@dataclass(frozen=True)
class ReportPage:
    language: str
    title: str
    care_date: date
    patient_name: str
    national_number: str
    birth_date: date
    # None when the holder wrote the document in their personal space.
    letterhead: Letterhead | None
    sections: tuple[tuple[str | None, str], ...] = ()
    # A table drawn after the sections: the first row is the header.
    table: tuple[tuple[str, ...], ...] = field(default_factory=tuple)
    table_widths: tuple[float, ...] = ()
    table_align: tuple[str, ...] = ()
    closing: tuple[tuple[str | None, str], ...] = ()


def render(page: ReportPage) -> bytes:
    pdf = FPDF(format="A4")
    pdf.set_creation_date(datetime.combine(page.care_date, time(12, 0), tzinfo=UTC))
    pdf.set_title(latin_1(page.title))
    pdf.set_author(latin_1(page.letterhead.author if page.letterhead else page.patient_name))
    pdf.set_lang(page.language)
    pdf.add_page()
    writer = _Writer(pdf)
    _letterhead(writer, page)
    _patient_block(writer, page)
    writer.paragraph(page.title, style="B", size=15, leading=8)
    writer.space(2)
    _sections(writer, page.sections)
    if page.table:
        _table(writer, page)
    _sections(writer, page.closing)
    writer.footer(tr(LABELS["fictitious"], page.language))
    return bytes(pdf.output())


class _Writer:
    """Lays text out line by line with ``FPDF.text``.

    fpdf2's ``multi_cell`` and ``table`` measure every glyph again for each
    call; placing lines ourselves is some twenty times faster, which keeps
    the demo load within a few seconds.
    """

    def __init__(self, pdf: FPDF) -> None:
        self.pdf = pdf
        self.left = pdf.l_margin
        self.width = pdf.w - pdf.l_margin - pdf.r_margin
        self.y = pdf.t_margin
        self.bottom = pdf.h - 25

    def _font(self, style: str, size: float) -> None:
        self.pdf.set_font("Helvetica", style, size)

    def _next_line(self, leading: float) -> float:
        if self.y + leading > self.bottom:
            self.pdf.add_page()
            self.y = self.pdf.t_margin
        self.y += leading
        return self.y - leading * 0.25  # baseline, a little above the bottom of the line

    def space(self, height: float) -> None:
        self.y += height

    def paragraph(self, text: str, *, style: str = "", size: float = 11, leading: float = 5.5,
                  indent: float = 0) -> None:
        self._font(style, size)
        for line in self._wrap(latin_1(text), self.width - indent):
            self.pdf.text(self.left + indent, self._next_line(leading), line)

    def _wrap(self, text: str, width: float) -> list[str]:
        lines: list[str] = []
        for raw in text.split("\n"):
            current = ""
            for word in raw.split(" "):
                candidate = f"{current} {word}" if current else word
                if current and self.pdf.get_string_width(candidate) > width:
                    lines.append(current)
                    current = word
                else:
                    current = candidate
            lines.append(current)
        return lines

    def row(self, cells: tuple[str, ...], widths: tuple[float, ...], align: tuple[str, ...], *,
            style: str = "", size: float = 10, leading: float = 6) -> None:
        self._font(style, size)
        baseline = self._next_line(leading)
        x = self.left
        for cell, width, alignment in zip(cells, widths, align, strict=True):
            text = latin_1(cell)
            offset = 1.5
            if alignment == "RIGHT":
                offset = width - 1.5 - self.pdf.get_string_width(text)
            elif alignment == "CENTER":
                offset = (width - self.pdf.get_string_width(text)) / 2
            self.pdf.text(x + offset, baseline, text)
            x += width

    def rule(self) -> None:
        self.pdf.line(self.left, self.y, self.left + self.width, self.y)

    def footer(self, text: str) -> None:
        self._font("I", 8)
        text = latin_1(text)
        self.pdf.text(self.left + (self.width - self.pdf.get_string_width(text)) / 2, self.pdf.h - 15, text)


def _letterhead(writer: _Writer, page: ReportPage) -> None:
    if page.letterhead is None:
        writer.paragraph(tr(LABELS["written_by_holder"], page.language), style="B", size=12, leading=6)
    else:
        writer.paragraph(page.letterhead.organisation, style="B", size=13, leading=6)
        writer.paragraph(page.letterhead.city, size=10, leading=5)
        writer.paragraph(page.letterhead.author, size=10, leading=5)
    writer.space(2)
    writer.rule()
    writer.space(3)


def _patient_block(writer: _Writer, page: ReportPage) -> None:
    language = page.language
    rows = (
        (LABELS["patient"], page.patient_name),
        (LABELS["national_number"], page.national_number),
        (LABELS["born"], format_date(page.birth_date, language)),
        (LABELS["date"], format_date(page.care_date, language)),
    )
    for label, value in rows:
        writer.row((tr(label, language) + ":", value), (40, writer.width - 40), ("LEFT", "LEFT"), leading=5)
    writer.space(4)


def _sections(writer: _Writer, sections: tuple[tuple[str | None, str], ...]) -> None:
    for heading, text in sections:
        if heading:
            writer.paragraph(heading, style="B", size=11, leading=6)
        writer.paragraph(text)
        writer.space(2)


def _table(writer: _Writer, page: ReportPage) -> None:
    columns = len(page.table[0])
    weights = page.table_widths or (1,) * columns
    widths = tuple(writer.width * w / sum(weights) for w in weights)
    align = page.table_align or ("LEFT",) * columns
    header, *rows = page.table
    writer.row(header, widths, align, style="B")
    writer.rule()
    for cells in rows:
        writer.row(cells, widths, align)
    writer.space(4)
