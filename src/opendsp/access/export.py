"""Download everything (EHDS): one zip with the whole record, made while it is sent.

``prepare`` is the act: ``RecordAccess.export`` decides it and traces it once,
in the request's transaction, and the small parts (the holder as a FHIR
Patient, their choices as Consents, their hospital stays as Encounters) are
made there. ``stream`` then writes the archive piece by piece with the
export's permit, outside that transaction: each document is read in a short
session of its own and sent in chunks, so a large record is never held in
memory and no transaction stays open while a slow client downloads.

The archive::

    LISEZ-MOI.txt / README.txt / LIESMICH.txt / LEIA-ME.txt   what is inside, in the holder's language
    documents.csv          the documents: date, type, EHDS category, title, author, status, file, readable page
    documents/...          every document in its original form (PDF, image, FHIR JSON)
    readable/...           each structured document as a page to read or print, in the holder's language
    fhir/bundle.json       a FHIR R4 Bundle (collection): Patient, DocumentReferences,
                           the structured documents' own Bundles, Consents, Encounters
    trace/trace.csv        every access and act on the record (the holder's language)
    trace/trace.json       the same for programs, with each entry's hash
"""

from __future__ import annotations

import csv
import html
import io
import json
import re
import unicodedata
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import selectinload

from opendsp.access.services import ConsentView, RecordAccess, RecordExport
from opendsp.access.trace_files import csv_chunks, json_chunks
from opendsp.access.trace_reading import TraceQuery, TraceReading, read_lines
from opendsp.documents import services as documents
from opendsp.documents.models import Document
from opendsp.documents.types import CODINGS, FHIR_MEDIA_TYPE
from opendsp.fhir import mapping
from opendsp.fhir.structured import render_html
from opendsp.fhir.consent import consents
from opendsp.fhir.encounter import encounter_resource
from opendsp.structured.bundles import parse_document
from opendsp.locale import N_, formats, translations
from opendsp.platform import Platform
from opendsp.professionals.models import Professional
from opendsp.records.models import Record
from opendsp.documents.labels import CATEGORY_LABELS, TYPE_LABELS

EXTENSIONS = {"application/pdf": "pdf", "image/jpeg": "jpg", "image/png": "png", FHIR_MEDIA_TYPE: "json"}
README_NAMES = {"fr": "LISEZ-MOI.txt", "de": "LIESMICH.txt", "en": "README.txt", "pt": "LEIA-ME.txt"}
README = (
    N_("Your shared care record (DSP), as it was on %(date)s."),
    N_("documents/: every document in its original form (PDF, image, or structured data in FHIR JSON)."),
    N_("documents.csv: the list of the documents, with their date, type, title, author, status and file."),
    N_("In documents.csv, each document's category in the European Health Data Space (EHDS) is named too."),
    N_("readable/: each structured document as a page to read or print, in your language."),
    N_("fhir/bundle.json: the structured data as a FHIR R4 Bundle, for another health record or application."),
    N_("trace/trace.csv and trace/trace.json: every access and act on your record."),
)
DOCUMENT_COLUMNS = (N_("Date"), N_("Type"), N_("Category (European Health Data Space)"), N_("Title"), N_("Author"),
                    N_("Status"), N_("Hidden"), N_("File"), N_("Readable version"))
# A structured document whose content is not a FHIR document Bundle: its readable page says where its data is.
NOT_A_DOCUMENT = N_("This structured data cannot be shown as a page; it is in the file %(file)s.")
STATUS_LABELS = {"current": N_("current"), "superseded": N_("replaced"), "withdrawn": N_("withdrawn")}


@dataclass(frozen=True)
class ExportPlan:
    export: RecordExport
    patient: dict[str, Any]
    consents: list[dict[str, Any]]
    encounters: list[dict[str, Any]]
    language: str
    base: str  # the FHIR API's base: the resources' full URLs


def prepare(access: RecordAccess, record_id: uuid.UUID, *, language: str) -> ExportPlan:
    """Decide and trace the export (one entry), and make its small parts, in the caller's transaction."""
    export = access.export(record_id)  # AccessDenied: refused and traced
    record = access.session.get(Record, record_id)
    assert record is not None
    holder = export.holder
    return ExportPlan(
        export=export,
        patient=mapping.patient(holder),
        consents=consents(record.id, holder.id, _consent_view(access, export), export.at),
        encounters=[encounter_resource(stay, holder) for stay in export.stays],
        language=language,
        base=access.platform.settings.public_base_url.rstrip("/") + "/fhir",
    )


def _consent_view(access: RecordAccess, export: RecordExport) -> ConsentView:
    """The export's choices and wishes with the professionals they name, loaded at once."""
    grants = export.grants
    named = set(grants.circle) | set(grants.blocked) | ({grants.referring_doctor} - {None})
    professionals = {p.id: p for p in access.session.scalars(select(Professional).where(Professional.id.in_(named)))}
    return ConsentView(grants=grants, professionals=professionals, wishes=export.wishes)


def file_name(plan: ExportPlan) -> str:
    holder = plan.export.holder
    day = formats.local(plan.export.at).strftime("%Y-%m-%d")  # a file name sorts by date
    return f"dsp-{slug(holder.family_name)}-{slug(holder.given_name)}-{day}.zip"


def slug(text: str, length: int = 50) -> str:
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode("ascii")
    return re.sub(r"[^A-Za-z0-9]+", "-", plain).strip("-").lower()[:length].strip("-") or "document"


def _document_path(document: Document) -> str:
    extension = EXTENSIONS.get(document.media_type, "bin")
    return f"documents/{_stem(document)}.{extension}"


def _stem(document: Document) -> str:
    return f"{document.care_date.isoformat()}-{slug(document.title)}-{str(document.id)[:8]}"


def _readable_path(document: Document) -> str | None:
    """Where a structured document's readable page goes; None for a file that is already one (PDF, image)."""
    return f"readable/{_stem(document)}.html" if document.media_type == FHIR_MEDIA_TYPE else None


def _readable_page(document: Document, content: bytes, language: str, _: Callable[[str], str]) -> str:
    """A structured document as a page of its own: the platform's rendering, every text of the document escaped."""
    bundle = parse_document(content)
    if bundle is not None:
        body = render_html(bundle, language)
    else:
        body = f"<p>{html.escape(_(NOT_A_DOCUMENT) % {'file': _document_path(document)})}</p>"
    return (f'<!doctype html>\n<html lang="{language}"><head><meta charset="utf-8">'
            f"<title>{html.escape(document.title)}</title></head>\n<body>{body}</body></html>\n")


class _Sink:
    """Where the zip writes: bytes kept until the next chunk is sent (the zip never seeks)."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self.parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data, self.parts = b"".join(self.parts), []
        return data


def stream(platform: Platform, plan: ExportPlan) -> Iterator[bytes]:
    """The archive, chunk after chunk."""
    export = plan.export
    _ = translations(plan.language).gettext
    sink = _Sink()
    stamp = formats.local(export.at).timetuple()[:6]

    def entry(name: str) -> zipfile.ZipInfo:
        info = zipfile.ZipInfo(name, date_time=stamp)  # type: ignore[arg-type]
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = 0o600 << 16
        return info

    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        made = formats.format_datetime(export.at, plan.language)
        lines = [_(README[0]) % {"date": made}, ""] + [_(line) for line in README[1:]]
        archive.writestr(entry(README_NAMES.get(plan.language, "README.txt")), "\n".join(lines) + "\n")
        document_ids = _document_ids(platform, export)
        yield sink.take()

        with archive.open(entry("documents.csv"), "w") as out:
            for chunk in _documents_csv(platform, export, document_ids, _, plan.language):
                out.write(chunk)
        for batch in _batches(platform, document_ids):
            for document in batch:
                readable = _readable_path(document)
                kept: list[bytes] = []  # a structured document's content, for its readable page
                with archive.open(entry(_document_path(document)), "w", force_zip64=True) as out:
                    for chunk in _content(platform, export, document):
                        out.write(chunk)
                        if readable:
                            kept.append(chunk)
                        yield sink.take()
                if readable:
                    archive.writestr(entry(readable), _readable_page(document, b"".join(kept), plan.language, _))
                    yield sink.take()

        with archive.open(entry("fhir/bundle.json"), "w", force_zip64=True) as out:
            for piece in _bundle(platform, plan, document_ids):
                out.write(piece)
                yield sink.take()

        reading = TraceReading(permit=export.permit, record_id=export.record_id, query=TraceQuery(),
                               rule=export.rule, upto_seq=export.upto_seq)
        with archive.open(entry("trace/trace.csv"), "w", force_zip64=True) as out:
            for chunk in csv_chunks(read_lines(platform.sessions, reading, newest_first=False), _,
                                    language=plan.language):
                out.write(chunk)
                yield sink.take()
        with archive.open(entry("trace/trace.json"), "w", force_zip64=True) as out:
            for chunk in json_chunks(read_lines(platform.sessions, reading, newest_first=False)):
                out.write(chunk)
                yield sink.take()
    yield sink.take()


def _document_ids(platform: Platform, export: RecordExport) -> list[uuid.UUID]:
    """The documents the holder's side sees, as they were when the export was decided, oldest first."""
    from opendsp.policy.sql import visible_documents

    with platform.sessions() as session:
        return list(session.scalars(
            select(Document.id)
            .where(Document.record_id == export.record_id, Document.deposited_at <= export.at,
                   visible_documents(export.rule))
            .order_by(Document.care_date, Document.deposited_at, Document.id)
        ))


def _batches(platform: Platform, ids: list[uuid.UUID], size: int = 200) -> Iterator[list[Document]]:
    """The documents by batches, each read in a short session and closed before it is used."""
    for start in range(0, len(ids), size):
        chunk = ids[start:start + size]
        with platform.sessions() as session:
            found = {d.id: d for d in session.scalars(
                select(Document).where(Document.id.in_(chunk))
                .options(selectinload(Document.author), selectinload(Document.author_organisation))
            )}
        yield [found[i] for i in chunk if i in found]


def _content(platform: Platform, export: RecordExport, document: Document) -> Iterator[bytes]:
    """A document's content with the export's permit; the session only unwraps the record's key."""
    with platform.sessions() as session:
        return documents.export_content(session=session, platform=platform, permit=export.permit, document=document)


def _author(document: Document) -> str:
    names = [document.author.display_name if document.author else "",
             document.author_organisation.name if document.author_organisation else ""]
    return ", ".join(name for name in names if name)


def _documents_csv(platform: Platform, export: RecordExport, ids: list[uuid.UUID],
                   _: Callable[[str], str], language: str) -> Iterator[bytes]:
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow([_(title) for title in DOCUMENT_COLUMNS])
    yield ("\ufeff" + buffer.getvalue()).encode("utf-8")
    for batch in _batches(platform, ids):
        buffer.seek(0)
        buffer.truncate()
        for document in batch:
            author = _(N_("You (personal space)")) if document.authored_by_holder else _author(document)
            writer.writerow([
                formats.format_date(document.care_date, language), _(TYPE_LABELS[document.type]),
                _(CATEGORY_LABELS[CODINGS[document.type].ehds_category]), _cell(document.title), _cell(author),
                _(STATUS_LABELS[document.status.value]), _(N_("Yes")) if document.hidden_at else "",
                _document_path(document), _readable_path(document) or "",
            ])
        yield buffer.getvalue().encode("utf-8")


def _cell(value: str) -> str:
    return "'" + value if value[:1] in ("=", "+", "-", "@", "\t", "\r") else value


def _bundle(platform: Platform, plan: ExportPlan, ids: list[uuid.UUID]) -> Iterator[bytes]:
    """A FHIR collection Bundle, written entry by entry."""
    export, base = plan.export, plan.base
    person_id = export.holder.id
    head = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid5(export.record_id, f"export/{export.at.isoformat()}")),
        "meta": {"lastUpdated": mapping.instant(export.at)},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{uuid.uuid4()}"},
        "type": "collection",
        "timestamp": mapping.instant(export.at),
    }
    yield json.dumps(head, ensure_ascii=False)[:-1].encode("utf-8") + b', "entry": ['
    first = True

    def entry(full_url: str, resource: dict[str, Any]) -> bytes:
        nonlocal first
        text = ("" if first else ",") + "\n" + json.dumps({"fullUrl": full_url, "resource": resource},
                                                          ensure_ascii=False)
        first = False
        return text.encode("utf-8")

    yield entry(f"{base}/Patient/{person_id}", plan.patient)
    for batch in _batches(platform, ids):
        for document in batch:
            reference = mapping.document_reference(document, base=base, person_id=person_id)
            reference["content"][0]["attachment"]["url"] = _document_path(document)
            yield entry(f"{base}/DocumentReference/{document.id}", reference)
            if document.media_type == FHIR_MEDIA_TYPE:
                structured = parse_document(b"".join(_content(platform, export, document)))
                if structured is not None:
                    yield entry(f"urn:uuid:{uuid.uuid5(document.id, 'content')}", structured)
    for consent in plan.consents:
        yield entry(f"{base}/Consent/{consent['id']}", consent)
    for encounter in plan.encounters:
        yield entry(f"{base}/Encounter/{encounter['id']}", encounter)
    yield b"\n]}\n"

