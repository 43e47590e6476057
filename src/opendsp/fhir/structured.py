"""Structured FHIR documents: an index of their entries, and a readable HTML rendering.

A document deposited as ``application/fhir+json`` that is a FHIR document
Bundle (a Composition with sections: a laboratory report, a patient summary)
gets one index row per clinical entry (Observation, DiagnosticReport,
AllergyIntolerance, Condition, MedicationStatement, Immunization).

The index never holds clinical content in clear: only the record, the
document, the entry's position in the Bundle, its resource type and its
effective date. Its codes are kept as keyed HMACs of ``system|code`` (and of
``*|code`` for a search without a system), the key derived from a master key;
the row remembers which master key, so a rotation leaves old rows findable.
The entries themselves are served from the sealed content, opened through
``RecordAccess.consult`` (policy decision and trace entry per document).
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import uuid
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import ForeignKey, Index, Integer, String, delete, select
from sqlalchemy.orm import Mapped, Session, mapped_column

from opendsp.db import Base, UTCDateTime, new_id
from opendsp.documents.models import Document
from opendsp.documents.types import FHIR_MEDIA_TYPE
from opendsp.platform import Platform

INDEXED_TYPES = (
    "Observation", "DiagnosticReport", "AllergyIntolerance", "Condition", "MedicationStatement", "Immunization",
)
_CODE_FIELDS = {
    "Observation": "code",
    "DiagnosticReport": "code",
    "AllergyIntolerance": "code",
    "Condition": "code",
    "MedicationStatement": "medicationCodeableConcept",
    "Immunization": "vaccineCode",
}
_DATE_FIELDS = {
    "Observation": ("effectiveDateTime", "effectivePeriod", "effectiveInstant", "issued"),
    "DiagnosticReport": ("effectiveDateTime", "effectivePeriod", "issued"),
    "AllergyIntolerance": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "Condition": ("onsetDateTime", "onsetPeriod", "recordedDate"),
    "MedicationStatement": ("effectiveDateTime", "effectivePeriod", "dateAsserted"),
    "Immunization": ("occurrenceDateTime", "recorded"),
}
_HMAC_LABEL = b"opendsp structured index code v1"
ANY_SYSTEM = "*"


class StructuredEntry(Base):
    """One clinical entry of a structured document: where it is, never what it says."""

    __tablename__ = "structured_entries"
    __table_args__ = (
        Index("ix_structured_entries_record_type", "record_id", "resource_type", "effective_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    document_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("documents.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)  # the entry's index in Bundle.entry
    resource_type: Mapped[str] = mapped_column(String(64))
    effective_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class StructuredCode(Base):
    """A keyed HMAC of one of an entry's codes, so that a code can be searched but not read."""

    __tablename__ = "structured_codes"
    __table_args__ = (Index("ix_structured_codes_record_token", "record_id", "token"),)

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=new_id)
    entry_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("structured_entries.id"), index=True)
    record_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("records.id"))
    master_key_id: Mapped[str] = mapped_column(String(64))
    token: Mapped[str] = mapped_column(String(64))


# -- keyed code tokens ------------------------------------------------------------------


def _index_key(master_key: bytes) -> bytes:
    return hmac.new(master_key, _HMAC_LABEL, hashlib.sha256).digest()


def code_token(key: bytes, system: str | None, code: str) -> str:
    """The HMAC of ``system|code`` (``*|code`` when any system matches) under an index key."""
    return hmac.new(key, f"{system or ANY_SYSTEM}|{code}".encode(), hashlib.sha256).hexdigest()


def search_tokens(platform: Platform, system: str | None, code: str) -> list[str]:
    """The tokens a code has under every master key the platform holds."""
    keys = platform.keys
    return [code_token(_index_key(keys.key(key_id)), system, code) for key_id in keys.key_ids()]


# -- reading a document Bundle ------------------------------------------------------------


def parse_document(content: bytes) -> dict[str, Any] | None:
    """The Bundle if the content is a FHIR document Bundle, else None."""
    try:
        bundle = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle" or bundle.get("type") != "document":
        return None
    if not isinstance(bundle.get("entry"), list):
        return None
    return bundle


def entries(bundle: dict[str, Any]) -> Iterable[tuple[int, dict[str, Any]]]:
    """(position, resource) of every indexed entry of a document Bundle."""
    for position, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(resource, dict) and resource.get("resourceType") in INDEXED_TYPES:
            yield position, resource


def codings(resource: dict[str, Any]) -> list[tuple[str | None, str]]:
    concept = resource.get(_CODE_FIELDS.get(resource.get("resourceType", ""), "code"))
    out = []
    if isinstance(concept, dict):
        for coding in concept.get("coding") or []:
            if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                system = coding.get("system")
                out.append((system if isinstance(system, str) else None, coding["code"]))
    return out


def parse_instant(value: Any) -> datetime | None:
    if not isinstance(value, str) or len(value) < 4:
        return None
    text = value.replace("Z", "+00:00")
    try:
        if len(text) == 4:
            return datetime(int(text), 1, 1, tzinfo=UTC)
        if len(text) == 7:
            return datetime(int(text[:4]), int(text[5:7]), 1, tzinfo=UTC)
        moment = datetime.fromisoformat(text)
    except ValueError:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def effective_at(resource: dict[str, Any]) -> datetime | None:
    for name in _DATE_FIELDS.get(resource.get("resourceType", ""), ()):
        value = resource.get(name)
        if isinstance(value, dict):
            value = value.get("start")
        moment = parse_instant(value)
        if moment is not None:
            return moment
    return None


def index_document(session: Session, platform: Platform, document: Document, content: bytes) -> int:
    """Write the index rows of a stored document; return how many entries were indexed.

    Content that is not a FHIR document Bundle is stored as it is and gets no index.
    """
    if document.media_type != FHIR_MEDIA_TYPE:
        return 0
    bundle = parse_document(content)
    if bundle is None:
        return 0
    keys = platform.keys
    key_id = keys.current_key_id
    key = _index_key(keys.key(key_id))
    count = 0
    for position, resource in entries(bundle):
        entry = StructuredEntry(id=uuid.uuid4(), record_id=document.record_id, document_id=document.id,
                                position=position, resource_type=resource["resourceType"],
                                effective_at=effective_at(resource))
        session.add(entry)
        session.flush()  # the entry before its codes (no ORM relationship orders them)
        tokens: set[str] = set()
        for system, code in codings(resource):
            tokens.add(code_token(key, system, code))
            tokens.add(code_token(key, None, code))
        session.add_all(StructuredCode(id=uuid.uuid4(), entry_id=entry.id, record_id=document.record_id,
                                       master_key_id=key_id, token=token) for token in sorted(tokens))
        count += 1
    session.flush()
    return count


def forget_document(session: Session, document_id: uuid.UUID) -> None:
    """Delete one document's index, before it is written again (``opendsp search reindex``)."""
    entries_of = select(StructuredEntry.id).where(StructuredEntry.document_id == document_id)
    session.execute(delete(StructuredCode).where(StructuredCode.entry_id.in_(entries_of)))
    session.execute(delete(StructuredEntry).where(StructuredEntry.document_id == document_id))


def forget_record(session: Session, record_id: uuid.UUID) -> None:
    """Delete a record's index (with its content, when a record is deleted for good)."""
    session.execute(delete(StructuredCode).where(StructuredCode.record_id == record_id))
    session.execute(delete(StructuredEntry).where(StructuredEntry.record_id == record_id))


# -- serving entries as resources -----------------------------------------------------------


def served_id(document_id: uuid.UUID, position: int) -> str:
    return f"{document_id}-{position}"


def _display(resource: dict[str, Any]) -> str | None:
    name = resource.get("name")
    if isinstance(name, str):
        return name
    if isinstance(name, list) and name and isinstance(name[0], dict):
        parts = [*(name[0].get("given") or []), name[0].get("family") or ""]
        return " ".join(p for p in parts if isinstance(p, str) and p) or None
    return None


def served_resource(bundle: dict[str, Any], document_id: uuid.UUID, position: int, *, person_id: uuid.UUID,
                    base: str) -> dict[str, Any]:
    """The entry at ``position`` as a resource of the API: its own id, references resolved."""
    targets: dict[str, dict[str, Any]] = {}
    for index, entry in enumerate(bundle.get("entry") or []):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(full_url, str):
            continue
        kind = resource.get("resourceType")
        if kind == "Patient":
            targets[full_url] = {"reference": f"Patient/{person_id}"}
        elif kind in INDEXED_TYPES:
            targets[full_url] = {"reference": f"{kind}/{served_id(document_id, index)}"}
        else:
            target: dict[str, Any] = {"type": kind} if isinstance(kind, str) else {}
            identifiers = resource.get("identifier")
            if isinstance(identifiers, list) and identifiers and isinstance(identifiers[0], dict):
                target["identifier"] = identifiers[0]
            display = _display(resource)
            if display:
                target["display"] = display
            targets[full_url] = target

    def resolve(value: Any) -> Any:
        if isinstance(value, dict):
            reference = value.get("reference")
            if isinstance(reference, str) and reference in targets:
                extra = {k: v for k, v in value.items() if k not in ("reference", "type", "identifier")}
                return {**targets[reference], **extra}
            return {k: resolve(v) for k, v in value.items()}
        if isinstance(value, list):
            return [resolve(v) for v in value]
        return value

    resource = resolve(bundle["entry"][position]["resource"])
    resource["id"] = served_id(document_id, position)
    meta = dict(resource.get("meta") or {})
    meta["source"] = f"{base}/DocumentReference/{document_id}"
    resource["meta"] = meta
    return resource


# -- HTML rendering ------------------------------------------------------------------------------

_LABELS = {
    "test": {"fr": "Analyse", "de": "Analyse", "en": "Test"},
    "value": {"fr": "Résultat", "de": "Ergebnis", "en": "Result"},
    "unit": {"fr": "Unité", "de": "Einheit", "en": "Unit"},
    "range": {"fr": "Valeurs de référence", "de": "Referenzbereich", "en": "Reference range"},
    "flag": {"fr": "Indicateur", "de": "Hinweis", "en": "Flag"},
    "high": {"fr": "élevé", "de": "erhöht", "en": "high"},
    "low": {"fr": "bas", "de": "erniedrigt", "en": "low"},
    "abnormal": {"fr": "anormal", "de": "abnormal", "en": "abnormal"},
    "none": {"fr": "Aucune donnée", "de": "Keine Angaben", "en": "No information"},
    "date": {"fr": "Date", "de": "Datum", "en": "Date"},
}
_FLAGS = {"H": "high", "HH": "high", "HU": "high", "L": "low", "LL": "low", "LU": "low", "A": "abnormal",
          "AA": "abnormal"}


def _label(key: str, language: str) -> str:
    texts = _LABELS[key]
    return texts.get(language[:2].lower() if language else "fr", texts["en"])


def _e(value: Any) -> str:
    return html.escape("" if value is None else str(value), quote=True)


def concept_text(concept: Any) -> str:
    if not isinstance(concept, dict):
        return ""
    if isinstance(concept.get("text"), str) and concept["text"]:
        return concept["text"]
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict):
            if isinstance(coding.get("display"), str) and coding["display"]:
                return coding["display"]
            if coding.get("code"):
                return str(coding["code"])
    return ""


def _number(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return "" if value is None else str(value)


def _range_text(ranges: Any) -> str:
    if not isinstance(ranges, list) or not ranges or not isinstance(ranges[0], dict):
        return ""
    first = ranges[0]
    if isinstance(first.get("text"), str):
        return first["text"]
    low = (first.get("low") or {}).get("value")
    high = (first.get("high") or {}).get("value")
    if low is not None and high is not None:
        return f"{_number(low)} – {_number(high)}"
    if low is not None:
        return f"≥ {_number(low)}"
    if high is not None:
        return f"≤ {_number(high)}"
    return ""


def out_of_range(observation: dict[str, Any]) -> str | None:
    """"high", "low", "abnormal" or None: from the interpretation, else from the value and the range."""
    for concept in observation.get("interpretation") or []:
        for coding in (concept or {}).get("coding") or []:
            flag = _FLAGS.get(str((coding or {}).get("code")))
            if flag:
                return flag
    quantity = observation.get("valueQuantity") or {}
    value = quantity.get("value") if isinstance(quantity, dict) else None
    ranges = observation.get("referenceRange") or []
    if isinstance(value, int | float) and ranges and isinstance(ranges[0], dict):
        low = (ranges[0].get("low") or {}).get("value")
        high = (ranges[0].get("high") or {}).get("value")
        if isinstance(high, int | float) and value > high:
            return "high"
        if isinstance(low, int | float) and value < low:
            return "low"
    return None


def _value_text(observation: dict[str, Any]) -> tuple[str, str]:
    quantity = observation.get("valueQuantity")
    if isinstance(quantity, dict):
        return _number(quantity.get("value")), str(quantity.get("unit") or quantity.get("code") or "")
    for name in ("valueString", "valueInteger", "valueBoolean", "valueDateTime"):
        if name in observation:
            return str(observation[name]), ""
    if "valueCodeableConcept" in observation:
        return concept_text(observation["valueCodeableConcept"]), ""
    return "", ""


def _lab_table(observations: list[dict[str, Any]], language: str) -> str:
    head = "".join(f"<th>{_e(_label(k, language))}</th>" for k in ("test", "value", "unit", "range", "flag"))
    rows = []
    for observation in observations:
        value, unit = _value_text(observation)
        flag = out_of_range(observation)
        css = f' class="out-of-range {flag}"' if flag else ""
        flag_text = f"<strong>{_e(_label(flag, language))}</strong>" if flag else ""
        rows.append(
            f"<tr{css}><td>{_e(concept_text(observation.get('code')))}</td><td>{_e(value)}</td><td>{_e(unit)}</td>"
            f"<td>{_e(_range_text(observation.get('referenceRange')))}</td><td>{flag_text}</td></tr>"
        )
    return f'<table class="lab-results"><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table>'


def _item_text(resource: dict[str, Any]) -> str:
    kind = resource.get("resourceType")
    if kind == "MedicationStatement":
        text = concept_text(resource.get("medicationCodeableConcept"))
        dosage = [d.get("text") for d in resource.get("dosage") or [] if isinstance(d, dict) and d.get("text")]
        return f"{text}: {'; '.join(dosage)}" if dosage else text
    if kind == "Immunization":
        text = concept_text(resource.get("vaccineCode"))
        when = resource.get("occurrenceDateTime")
        return f"{text} ({when})" if when else text
    if kind == "Condition":
        text = concept_text(resource.get("code"))
        onset = resource.get("onsetDateTime")
        return f"{text} ({onset})" if onset else text
    if kind == "Observation":
        value, unit = _value_text(resource)
        return f"{concept_text(resource.get('code'))}: {value} {unit}".strip()
    return concept_text(resource.get("code"))


def render_html(bundle: dict[str, Any], language: str, *, heading: int = 1) -> str:
    """A document Bundle as safe, readable HTML: every text from the document is escaped.

    ``heading`` is the level of the document's title (its sections come one level below),
    so that the rendering fits into a page that has its own title.
    """
    by_url: dict[str, dict[str, Any]] = {}
    composition: dict[str, Any] = {}
    for entry in bundle.get("entry") or []:
        if not isinstance(entry, dict) or not isinstance(entry.get("resource"), dict):
            continue
        resource = entry["resource"]
        if isinstance(entry.get("fullUrl"), str):
            by_url[entry["fullUrl"]] = resource
        if resource.get("resourceType") == "Composition" and not composition:
            composition = resource

    def target(reference: Any) -> dict[str, Any] | None:
        return by_url.get(reference.get("reference")) if isinstance(reference, dict) else None

    parts = ['<article class="fhir-document">']
    title = composition.get("title") or concept_text(composition.get("type"))
    parts.append(f"<h{heading}>{_e(title)}</h{heading}>")
    if composition.get("date"):
        parts.append(f'<p class="date">{_e(_label("date", language))}: {_e(str(composition["date"])[:10])}</p>')
    for section in composition.get("section") or []:
        if not isinstance(section, dict):
            continue
        parts.append("<section>")
        parts.append(f"<h{heading + 1}>{_e(section.get('title') or concept_text(section.get('code')))}</h{heading + 1}>")
        resources = [r for r in (target(ref) for ref in section.get("entry") or []) if r]
        observations: list[dict[str, Any]] = []
        others: list[dict[str, Any]] = []
        for resource in resources:
            if resource.get("resourceType") == "DiagnosticReport":
                results = [r for r in (target(ref) for ref in resource.get("result") or []) if r]
                observations.extend(r for r in results if r.get("resourceType") == "Observation")
            elif resource.get("resourceType") == "Observation" and "valueQuantity" in resource:
                observations.append(resource)
            else:
                others.append(resource)
        if observations:
            parts.append(_lab_table(observations, language))
        if others:
            parts.append("<ul>" + "".join(f"<li>{_e(_item_text(r))}</li>" for r in others) + "</ul>")
        if not resources:
            parts.append(f'<p class="empty">{_e(_label("none", language))}</p>')
        parts.append("</section>")
    parts.append("</article>")
    return "".join(parts)
