"""The trace as files for the holder: CSV (a spreadsheet), JSON (for programs) and PDF (to print or keep).

Every file is made from ``TraceLine`` values (see ``trace_reading``), so it says
exactly what the page says. CSV and JSON are produced piece by piece; the PDF
is made in memory (fpdf2 needs the whole document), one line per act.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterable, Iterator
from datetime import datetime

from fpdf import FPDF
from fpdf.fonts import FontFace

from opendsp.access.trace_reading import Gettext, TraceLine
from opendsp.locale import N_
from opendsp.locale.formats import format_datetime
from opendsp.locale.latin1 import latin_1

Column = tuple[str, Callable[[TraceLine, Gettext, str], str]]

COLUMNS: list[Column] = [
    (N_("Date and time"), lambda line, _, language: format_datetime(line.at, language)),
    (N_("Who"), lambda line, _, language: line.who_text(_)),
    (N_("Profession"), lambda line, _, language: line.profession_text(_)),
    (N_("Organisation"), lambda line, _, language: line.organisation or ""),
    (N_("Act"), lambda line, _, language: line.act_text(_)),
    (N_("About"), lambda line, _, language: line.subject_text(_)),
    (N_("Basis of access"), lambda line, _, language: line.basis_text(_, language)),
    (N_("Outcome"), lambda line, _, language: line.outcome_text(_)),
    (N_("Emergency"), lambda line, _, language: _(N_("Yes")) if line.emergency else ""),
    (N_("Reason given"), lambda line, _, language: line.emergency_reason or ""),
]


def _cell(value: str) -> str:
    # A spreadsheet must not run a formula someone typed as a title or a search (CSV injection).
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def csv_chunks(lines: Iterable[TraceLine], _: Gettext, *, language: str, batch: int = 200) -> Iterator[bytes]:
    """UTF-8 with a byte-order mark (spreadsheets then read accents right), one header row, then the acts."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_(title) for title, _value in COLUMNS])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, line in enumerate(lines, start=1):
        writer.writerow([_cell(value(line, _, language)) for _title, value in COLUMNS])
        if count % batch == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.getvalue():
        yield buffer.getvalue().encode("utf-8")


def json_record(line: TraceLine) -> dict[str, object]:
    """One act for programs: the codes as the trace keeps them, names resolved, and the entry's hash."""
    return {
        "seq": line.seq,
        "recorded_at": line.at.isoformat(),
        "action": line.action,
        "kind": line.kind,
        "actor": {
            "kind": line.actor_kind,
            "name": line.who if isinstance(line.who, str) else None,
            "profession": line.profession,
            "specialties": list(line.specialties),
            "organisation": line.organisation,
        },
        "basis": line.basis,
        "stay": line.stay,
        "outcome": line.outcome,
        "reason": line.reason,
        "emergency": line.emergency,
        "emergency_reason": line.emergency_reason,
        "document": str(line.document_id) if line.document_id else None,
        "about": [part if isinstance(part, str) else None for part in line.subject],
        "hash": line.hash,
        "previous_hash": line.prev_hash,
    }


def json_chunks(lines: Iterable[TraceLine], *, batch: int = 200) -> Iterator[bytes]:
    """A JSON array of acts, oldest or newest first as ``lines`` come."""
    yield b"["
    pieces: list[str] = []
    first = True
    for line in lines:
        pieces.append(("" if first else ",") + "\n" + json.dumps(json_record(line), ensure_ascii=False))
        first = False
        if len(pieces) >= batch:
            yield "".join(pieces).encode("utf-8")
            pieces = []
    yield ("".join(pieces) + "\n]\n").encode("utf-8")


# -- PDF -------------------------------------------------------------------------------------

_text = latin_1  # the PDF's core fonts draw Latin-1 only


def pdf(lines: Iterable[TraceLine], _: Gettext, *, holder: str, filters: str, made_at: datetime,
        language: str) -> bytes:
    """The trace as a printable table (A4, landscape); emergency accesses on a tinted row, marked in words."""
    document = FPDF(orientation="L", format="A4")
    document.set_auto_page_break(auto=True, margin=14)
    document.set_title(_text(_(N_("Traceability")) + " — " + holder))
    document.add_page()
    document.set_font("helvetica", "B", 15)
    document.multi_cell(0, 8, _text(_(N_("Traceability")) + " — " + holder), new_x="LMARGIN", new_y="NEXT")
    document.set_font("helvetica", "", 9)
    made = format_datetime(made_at, language)
    document.multi_cell(0, 5, _text(_(N_("Made on %(date)s.")) % {"date": made} + (" " + filters if filters else "")),
                        new_x="LMARGIN", new_y="NEXT")
    document.ln(3)
    columns = [
        (N_("Date and time"), lambda line: format_datetime(line.at, language)),
        (N_("Who"), lambda line: "\n".join(filter(None, [line.who_text(_), line.profession_text(_),
                                                           line.organisation or ""]))),
        (N_("Act"), lambda line: "\n".join(filter(None, [line.act_text(_), line.subject_text(_)]))),
        (N_("Basis of access"), lambda line: line.basis_text(_, language)),
        (N_("Outcome"), lambda line: "\n".join(filter(None, [
            line.outcome_text(_),
            (_(N_("EMERGENCY")) + (": " + line.emergency_reason if line.emergency_reason else "")) if line.emergency
            else "",
        ]))),
    ]
    emergency = FontFace(emphasis="BOLD", fill_color=(253, 226, 226))
    document.set_font("helvetica", "", 8)
    count = 0
    with document.table(col_widths=(16, 30, 34, 22, 24), line_height=4.2, text_align="LEFT",
                        headings_style=FontFace(emphasis="BOLD", fill_color=(230, 230, 245)),
                        repeat_headings=1) as table:
        table.row([_text(_(title)) for title, _value in columns])
        for line in lines:
            count += 1
            style = emergency if line.emergency else None
            table.row([_text(value(line)) for _title, value in columns], style=style)
    if count == 0:
        document.ln(4)
        document.set_font("helvetica", "I", 10)
        document.multi_cell(0, 6, _text(_(N_("No act matches these filters."))), new_x="LMARGIN", new_y="NEXT")
    return bytes(document.output())
