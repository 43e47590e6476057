"""Reading a document in the portals: one rendering for the holder and for professionals.

A PDF or an image is shown in the page and can be downloaded as it was
deposited; a structured (FHIR) document is rendered as HTML — a laboratory
report as a table with units, reference ranges and out-of-range flags — and
each test that recurs in the record gets a chart of its values over time.

Everything read here is read through ``RecordAccess``: the page is one act
(``read_document``), and the documents that feed a chart are read under one
decision over many documents (``read_documents``), each traced once.
"""

from __future__ import annotations

import re
import unicodedata
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Any

from fastapi.responses import StreamingResponse
from markupsafe import Markup
from opendsp.access.services import DocumentReading, RecordAccess
from opendsp.policy.decision import AccessDenied, Decision
from opendsp.policy.vocabulary import Reason
from opendsp.documents.types import FHIR_MEDIA_TYPE
from opendsp.fhir import structured
from opendsp.locale import N_, terms, translations
from opendsp.web.charts import sparkline

if TYPE_CHECKING:  # names only: the adapter reads documents through RecordAccess
    from opendsp.documents.models import Document

# Shown in the page; any other kind of content is only offered for download.
INLINE_MEDIA_TYPES = {"application/pdf", "image/png", "image/jpeg", "image/gif", "image/webp"}
EXTENSIONS = {"application/pdf": "pdf", "image/png": "png", "image/jpeg": "jpg", "image/gif": "gif",
              "image/webp": "webp", FHIR_MEDIA_TYPE: "json", "text/plain": "txt"}
# A chart reads at most this many other documents of the record.
SERIES_DOCUMENTS = 24
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Point:
    day: date
    value: float
    document_id: uuid.UUID


@dataclass
class Series:
    """One laboratory test's values across the record's documents, oldest first."""

    label: str
    unit: str
    low: float | None
    high: float | None
    points: list[Point] = field(default_factory=list)

    def chart(self, chart_id: str, language: str) -> Markup:
        gettext = translations(language).gettext
        title = f"{self.label} ({self.unit})" if self.unit else self.label
        return sparkline([(p.day, p.value) for p in self.points], chart_id, title,
                         gettext(N_("The same values are in the table beside the chart.")),
                         low=self.low, high=self.high, language=language)


@dataclass
class Reading:
    document: Document
    form: str  # "pdf", "image", "structured" or "download"
    html: Markup | None = None
    series: list[Series] = field(default_factory=list)
    versions: list[Document] = field(default_factory=list)  # the document's versions the reader may see
    permit: Decision | None = None  # the decision that let the reader read it (its basis: circle, emergency, ...)


class DocumentNotFound(LookupError):
    """No such document, or none the reader may see (the two are not told apart)."""


def read(access: RecordAccess, record_id: uuid.UUID, document_id: uuid.UUID, language: str, *,
         viewer_url: str | None = None) -> Reading:
    """A document of a record and its versions as the reader may see them: ONE decision and one trace entry.

    A structured document is rendered from its content, read under that same
    decision; its charts read the record's other reports under one more
    decision over many documents. A PDF or an image is read when the page
    fetches its content (``content_response``).

    Raises ``AccessDenied`` for a record-level refusal (the same whatever the
    document id) and ``DocumentNotFound`` for a document the reader may not
    see, of another record, or of none.
    """
    try:
        shown = access.read_document(record_id, document_id, part="page")
    except AccessDenied as denied:
        if denied.decision.reason is Reason.not_found:
            raise DocumentNotFound(document_id) from None
        raise
    document = shown.document
    versions = shown.versions if len(shown.versions) > 1 else []
    if document.media_type == FHIR_MEDIA_TYPE:
        bundle = structured.parse_document(shown.read())
        if bundle is not None:
            # render_html escapes every text taken from the document.
            return Reading(document, "structured", Markup(structured.render_html(bundle, language, heading=2,
                                                                                   viewer_url=viewer_url)),  # noqa: S704
                           _series(access, shown, bundle, language), versions, shown.permit)
    if document.media_type == "application/pdf":
        return Reading(document, "pdf", versions=versions, permit=shown.permit)
    if document.media_type in INLINE_MEDIA_TYPES:
        return Reading(document, "image", versions=versions, permit=shown.permit)
    return Reading(document, "download", versions=versions, permit=shown.permit)


def content_response(access: RecordAccess, record_id: uuid.UUID, document_id: uuid.UUID, *,
                     download: bool) -> StreamingResponse:
    """The content as deposited, streamed; the decision and its trace are made before the first byte."""
    try:
        # Shown in the page, the content is a part of reading the page (one act, one entry); a download is
        # an act of its own.
        reading = access.read_content(record_id, document_id, shown_in_page=not download)
    except AccessDenied as denied:
        if denied.decision.reason is Reason.not_found:
            raise DocumentNotFound(document_id) from None
        raise
    document = reading.document
    inline = not download and document.media_type in INLINE_MEDIA_TYPES
    disposition = "inline" if inline else "attachment"
    headers = {
        "Content-Length": str(document.size),
        "Content-Disposition": f'{disposition}; filename="{file_name(document)}"',
        "Cache-Control": "no-store",
        "X-Content-Type-Options": "nosniff",
        # The portal's own pages may frame a PDF; nothing in the content may run or load anything else.
        "Content-Security-Policy": "default-src 'none'; img-src 'self'; style-src 'unsafe-inline'; "
                                   "frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN",
    }
    media_type = document.media_type if inline else "application/octet-stream"
    return StreamingResponse(reading.chunks(), media_type=media_type, headers=headers)


def file_name(document: Document) -> str:
    """An ASCII file name from the title, with the extension of the content's type."""
    plain = unicodedata.normalize("NFKD", document.title).encode("ascii", "ignore").decode()
    stem = re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-")[:80] or "document"
    return f"{document.care_date.isoformat()}-{stem}.{EXTENSIONS.get(document.media_type, 'bin')}"


def _numeric(observation: dict[str, Any]) -> tuple[float, str] | None:
    quantity = observation.get("valueQuantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    return float(quantity["value"]), str(quantity.get("unit") or quantity.get("code") or "")


def _range(observation: dict[str, Any]) -> tuple[float | None, float | None]:
    ranges = observation.get("referenceRange") or []
    first = ranges[0] if isinstance(ranges, list) and ranges and isinstance(ranges[0], dict) else {}
    low = (first.get("low") or {}).get("value")
    high = (first.get("high") or {}).get("value")
    return (float(low) if isinstance(low, int | float) else None, float(high) if isinstance(high, int | float) else None)


def _test_code(observation: dict[str, Any]) -> tuple[str | None, str] | None:
    found = structured.codings(observation)
    return next((c for c in found if c[0] == LOINC), found[0] if found else None)


def _observations(bundle: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for position, resource in structured.entries(bundle):
        if resource.get("resourceType") == "Observation" and _numeric(resource) is not None:
            yield position, resource


def _series(access: RecordAccess, page: DocumentReading, bundle: dict[str, Any], language: str) -> list[Series]:
    """The tests of this report that appear in other current documents of the record the reader may see."""
    document = page.document
    wanted: dict[tuple[str | None, str], dict[str, Any]] = {}
    for _, observation in _observations(bundle):
        code = _test_code(observation)
        if code is not None and code not in wanted:
            wanted[code] = observation
    if not wanted:
        return []
    # The index is looked up, and the other reports read, through RecordAccess: one more decision and one
    # trace entry for every report the chart reads, none when no other report shares a test.
    read = access.read_chart_sources(page, wanted, limit=SERIES_DOCUMENTS)
    if read is None:
        return []
    bundles = [(document, bundle)]
    for other in read.items:
        other_bundle = structured.parse_document(other.read())
        if other_bundle is not None:
            bundles.append((other.document, other_bundle))
    series: list[Series] = []
    for code, first in wanted.items():
        value, unit = _numeric(first) or (0.0, "")
        low, high = _range(first)
        line = Series(label=terms.concept_word(first.get("code"), language), unit=unit, low=low, high=high)
        for source, source_bundle in bundles:
            for _, observation in _observations(source_bundle):
                measured = _numeric(observation)
                if _test_code(observation) != code or measured is None or measured[1] != unit:
                    continue  # another test, or a value in another unit than the one charted
                moment = structured.effective_at(observation)
                day = moment.date() if moment else source.care_date
                line.points.append(Point(day=day, value=measured[0], document_id=source.id))
        line.points.sort(key=lambda p: p.day)
        if len(line.points) > 1:
            series.append(line)
    return series
