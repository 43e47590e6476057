"""Reading an export: document metadata as CSV or as FHIR NDJSON DocumentReferences.

Each line becomes a ``SourceRow`` or a ``Rejected`` with its line number and reason; nothing
here touches the database. The CSV columns are those ``bench/population.py`` writes; the
NDJSON lines are DocumentReferences shaped as the FHIR adapter writes them (docs/migration.md).
"""

from __future__ import annotations

import base64
import csv
import json
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from opendsp.documents.services import DocumentDraft, DocumentRefused
from opendsp.documents.types import CODINGS, FHIR_MEDIA_TYPE, ConfidentialityLevel, DocumentType
from opendsp.fhir import systems

CSV_COLUMNS = (
    "national_number", "type", "title", "care_date", "media_type", "confidentiality",
    "authored_by_holder", "author_licence", "author_organisation", "content_file",
)
# The source identifier: ``source_id``, or ``document_index`` as bench/population.py names it.
SOURCE_ID_COLUMNS = ("source_id", "document_index")
MAX_SOURCE_ID = 200
_TYPE_BY_LOINC = {coding.loinc: kind for kind, coding in CODINGS.items()}
_CONFIDENTIALITY = {"N": ConfidentialityLevel.normal, "R": ConfidentialityLevel.restricted}


class BadExport(Exception):
    """The file as a whole cannot be read (missing columns, unknown format)."""


@dataclass(frozen=True)
class SourceRow:
    line: int
    source_id: str
    national_number: str
    type: DocumentType
    title: str
    care_date: date
    media_type: str
    confidentiality: ConfidentialityLevel
    authored_by_holder: bool
    author_licence: str | None
    author_organisation: str | None
    content_file: str
    size: int | None = None
    sha256: str | None = None
    sha1: str | None = None


@dataclass(frozen=True)
class Rejected:
    line: int
    source_id: str | None
    reason: str


class _Bad(ValueError):
    pass


def read_export(path: Path) -> Iterator[SourceRow | Rejected]:
    """Every line of the export, in order: ``.ndjson``/``.jsonl`` is FHIR, anything else CSV."""
    if path.suffix.lower() in (".ndjson", ".jsonl"):
        yield from _read_ndjson(path)
    else:
        yield from _read_csv(path)


# -- CSV ------------------------------------------------------------------------------------


def _read_csv(path: Path) -> Iterator[SourceRow | Rejected]:
    with path.open(newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        fields = reader.fieldnames or []
        missing = [c for c in CSV_COLUMNS if c not in fields]
        id_column = next((c for c in SOURCE_ID_COLUMNS if c in fields), None)
        if missing or id_column is None:
            named = missing + ([] if id_column else ["source_id"])
            raise BadExport(f"{path.name}: missing columns {', '.join(named)}")
        while True:
            before = reader.line_num
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as error:  # a field over the csv module's limit, a NUL: the line goes, not the file
                yield Rejected(before + 1, None, f"unreadable CSV line: {error}")
                continue
            line = reader.line_num
            source_id = (values.get(id_column) or "").strip() or None
            try:
                yield _csv_row(line, source_id, values)
            except _Bad as bad:
                yield Rejected(line, source_id, str(bad))


def _csv_row(line: int, source_id: str | None, values: dict[str, Any]) -> SourceRow:
    if None in values:
        raise _Bad("more values than columns")
    get = {k: (v or "").strip() for k, v in values.items()}
    holder = _boolean(get["authored_by_holder"])
    return _checked(
        line=line,
        source_id=source_id,
        national_number=get["national_number"],
        type=_enum(DocumentType, get["type"], "type"),
        title=get["title"],
        care_date=_date(get["care_date"]),
        media_type=get["media_type"],
        confidentiality=_enum(ConfidentialityLevel, get["confidentiality"] or "normal", "confidentiality"),
        authored_by_holder=holder,
        author_licence=get["author_licence"] or None,
        author_organisation=get["author_organisation"] or None,
        content_file=get["content_file"],
        size=_integer(get.get("size", ""), "size"),
        sha256=get.get("sha256") or None,
    )


# -- FHIR NDJSON ----------------------------------------------------------------------------


def _read_ndjson(path: Path) -> Iterator[SourceRow | Rejected]:
    with path.open(encoding="utf-8") as handle:
        for line, text in enumerate(handle, start=1):
            if not text.strip():
                continue
            source_id = None
            try:
                resource = json.loads(text)
                if not isinstance(resource, dict) or resource.get("resourceType") != "DocumentReference":
                    raise _Bad("not a DocumentReference")
                source_id = _source_id(resource)
                yield _fhir_row(line, source_id, resource)
            except json.JSONDecodeError as error:
                yield Rejected(line, None, f"not JSON: {error.msg}")
            except _Bad as bad:
                yield Rejected(line, source_id, str(bad))


def _source_id(resource: dict[str, Any]) -> str | None:
    master = resource.get("masterIdentifier")
    if isinstance(master, dict) and isinstance(master.get("value"), str):
        return master["value"]
    return resource["id"] if isinstance(resource.get("id"), str) else None


def _identifier(reference: Any, system: str) -> str | None:
    if isinstance(reference, dict):
        identifier = reference.get("identifier")
        if isinstance(identifier, dict) and identifier.get("system") == system:
            value = identifier.get("value")
            return value if isinstance(value, str) else None
    return None


def _contained(resource: dict[str, Any], reference: str, system: str) -> str | None:
    for item in resource.get("contained") or []:
        if isinstance(item, dict) and f"#{item.get('id')}" == reference:
            for identifier in item.get("identifier") or []:
                if isinstance(identifier, dict) and identifier.get("system") == system:
                    value = identifier.get("value")
                    return value if isinstance(value, str) else None
    return None


def _fhir_row(line: int, source_id: str | None, resource: dict[str, Any]) -> SourceRow:
    if resource.get("status", "current") != "current":
        raise _Bad(f"status {resource.get('status')!r}: only current documents are imported")
    national_number = _identifier(resource.get("subject"), systems.NATIONAL_NUMBER)
    if national_number is None:
        raise _Bad(f"subject.identifier with system {systems.NATIONAL_NUMBER} is required")
    codes = [c.get("code") for c in (resource.get("type") or {}).get("coding") or []
             if isinstance(c, dict) and c.get("system") == systems.LOINC]
    kinds = [_TYPE_BY_LOINC[c] for c in codes if c in _TYPE_BY_LOINC]
    if not kinds:
        raise _Bad("type: no LOINC code of a known document type")
    licence = organisation = None
    holder = False
    for author in resource.get("author") or []:
        if not isinstance(author, dict):
            raise _Bad("author: not a reference")
        reference = author.get("reference") or ""
        if reference.startswith("Patient/") or author.get("type") == "Patient":
            holder = True
        licence = licence or _identifier(author, systems.LICENCE_NUMBER) or _contained(
            resource, reference, systems.LICENCE_NUMBER)
        organisation = organisation or _identifier(author, systems.ORGANISATION) or _contained(
            resource, reference, systems.ORGANISATION)
    contents = resource.get("content") or []
    if len(contents) != 1 or not isinstance(contents[0], dict) or not isinstance(contents[0].get("attachment"), dict):
        raise _Bad("content: exactly one attachment is required")
    attachment = contents[0]["attachment"]
    period = (resource.get("context") or {}).get("period") or {}
    care_date = period.get("start") or attachment.get("creation")
    if not isinstance(care_date, str):
        raise _Bad("context.period.start (the care date) is required")
    labels = [c.get("code") for label in resource.get("securityLabel") or [] if isinstance(label, dict)
              for c in label.get("coding") or [] if isinstance(c, dict) and c.get("system") == systems.CONFIDENTIALITY]
    sha1 = attachment.get("hash")
    if sha1 is not None:
        try:
            sha1 = base64.b64decode(sha1, validate=True).hex()
        except (ValueError, TypeError):
            raise _Bad("content.attachment.hash is not base64") from None
    size = attachment.get("size")
    if size is not None and (not isinstance(size, int) or isinstance(size, bool)):
        raise _Bad("content.attachment.size is not a whole number")
    return _checked(
        line=line,
        source_id=source_id,
        national_number=national_number,
        type=kinds[0],
        title=str(attachment.get("title") or resource.get("description") or ""),
        care_date=_date(care_date[:10]),
        media_type=str(attachment.get("contentType") or ""),
        confidentiality=ConfidentialityLevel.restricted if "R" in labels else ConfidentialityLevel.normal,
        authored_by_holder=holder,
        author_licence=licence,
        author_organisation=organisation,
        content_file=str(attachment.get("url") or ""),
        size=size,
        sha1=sha1,
    )


# -- checks common to both ------------------------------------------------------------------


def _checked(*, line: int, source_id: str | None, **fields: Any) -> SourceRow:
    if not source_id:
        raise _Bad("no source identifier")
    if len(source_id) > MAX_SOURCE_ID:
        raise _Bad(f"the source identifier is longer than {MAX_SOURCE_ID} characters")
    if not fields["national_number"]:
        raise _Bad("no national number")
    if fields["authored_by_holder"] == bool(fields["author_licence"]):
        raise _Bad("a document has either a professional author (licence) or the holder as author")
    if fields["authored_by_holder"] and fields["author_organisation"]:
        raise _Bad("a document of the holder has no author organisation")
    if fields["media_type"] == FHIR_MEDIA_TYPE:
        raise _Bad("structured (FHIR) documents are not imported here: deposit them through ITI-65")
    draft = DocumentDraft(type=fields["type"], title=fields["title"], care_date=fields["care_date"],
                          media_type=fields["media_type"], authored_by_holder=fields["authored_by_holder"],
                          author_professional_id=None if fields["authored_by_holder"] else uuid.UUID(int=0))
    try:
        draft.check()  # the deposit's own rules: title, media type, one author
    except DocumentRefused as refused:
        raise _Bad(str(refused)) from None
    content_file = fields["content_file"]
    if not content_file:
        raise _Bad("no content file")
    if Path(content_file).is_absolute() or ".." in Path(content_file).parts:
        raise _Bad("the content file must be a path inside the content folder")
    sha256 = fields.get("sha256")
    if sha256 is not None and (len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256.lower())):
        raise _Bad("sha256 is not 64 hexadecimal digits")
    if fields.get("size") is not None and fields["size"] < 0:
        raise _Bad("size is negative")
    return SourceRow(line=line, source_id=source_id, **fields)


def _enum(kind: Any, value: str, name: str) -> Any:
    try:
        return kind(value)
    except ValueError:
        raise _Bad(f"{name} {value!r} is not one of {', '.join(m.value for m in kind)}") from None


def _date(value: str) -> date:
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise _Bad(f"care date {value!r} is not a date (YYYY-MM-DD)") from None


def _boolean(value: str) -> bool:
    lowered = value.lower()
    if lowered in ("", "0", "false", "no"):
        return False
    if lowered in ("1", "true", "yes"):
        return True
    raise _Bad(f"authored_by_holder {value!r} is not true or false")


def _integer(value: str, name: str) -> int | None:
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise _Bad(f"{name} {value!r} is not a whole number") from None
