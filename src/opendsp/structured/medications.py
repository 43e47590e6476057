"""The medication list: each medicine of a record's prescriptions and dispensations, with what was prescribed
and what was dispensed, since when.

Prescriptions arrive as FHIR ``MedicationRequest`` entries (an ePrescription
document), dispensations as ``MedicationDispense`` entries (an eDispensation
document). A medicine is known by its ATC code (``http://www.whocc.no/atc``),
else by its Luxembourg medicinal product code, else by its text: two brands of
the same substance are one line. Its "since" is its first prescription's date.
An entry that was not prescribed or not handed over (cancelled, entered in
error, a draft, declined) is left out; the same prescription or dispensation
repeated by another document is kept once. Pure: the documents are read
through ``RecordAccess`` by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from opendsp.fhir.systems import ATC, LU_MEDICINAL_PRODUCT
from opendsp.structured.bundles import parse_instant

NOT_PRESCRIBED = frozenset({"cancelled", "entered-in-error", "draft"})
NOT_DISPENSED = frozenset({"cancelled", "entered-in-error", "declined", "preparation"})


@dataclass(frozen=True)
class Prescribed:
    authored: str | None  # as the document dates it (format_written_date)
    dosage: str  # the dosage instructions' text, "" when none is written
    prescriber: str | None
    document_id: uuid.UUID
    quantity: str | None = None  # what is to be dispensed (dispenseRequest.quantity)


@dataclass(frozen=True)
class Dispensed:
    handed_over: str | None
    quantity: str | None  # "2 boxes", "30 tablet": the document's value and unit
    pharmacy: str | None
    document_id: uuid.UUID


@dataclass
class Medicine:
    medicine: dict[str, Any]  # the FHIR CodeableConcept of the newest entry, for the reader's words
    atc: str | None
    prescribed: list[Prescribed] = field(default_factory=list)  # newest first
    dispensed: list[Dispensed] = field(default_factory=list)  # newest first

    @property
    def since(self) -> str | None:
        """The first prescription's date (None when the medicine was only dispensed, or undated)."""
        dated = [p.authored for p in self.prescribed if parse_instant(p.authored) is not None]
        return min(dated, key=_moment) if dated else None

    @property
    def latest(self) -> datetime | None:
        moments = [parse_instant(p.authored) for p in self.prescribed]
        moments += [parse_instant(d.handed_over) for d in self.dispensed]
        found = [m for m in moments if m is not None]
        return max(found) if found else None

    @property
    def document_ids(self) -> list[uuid.UUID]:
        seen: dict[uuid.UUID, None] = {}
        for line in [*self.prescribed, *self.dispensed]:
            seen.setdefault(line.document_id)
        return list(seen)


def _moment(value: str | None) -> float:
    moment = parse_instant(value)
    return moment.timestamp() if moment else float("-inf")


def _code(concept: dict[str, Any], system: str) -> str | None:
    for coding in concept.get("coding") or []:
        if isinstance(coding, dict) and coding.get("system") == system and isinstance(coding.get("code"), str):
            return coding["code"].strip().upper() or None
    return None


def medicine_key(concept: dict[str, Any]) -> tuple[str, str] | None:
    """What makes two entries the same medicine: the ATC code, else the Luxembourg product code, else the text."""
    atc = _code(concept, ATC)
    if atc:
        return "atc", atc
    product = _code(concept, LU_MEDICINAL_PRODUCT)
    if product:
        return "lu", product
    text = concept.get("text")
    if isinstance(text, str) and text.strip():
        return "text", text.strip().casefold()
    return None


def _dated(resource: dict[str, Any], name: str) -> str | None:
    value = resource.get(name)
    return value if isinstance(value, str) and parse_instant(value) is not None else None


def _dosage(resource: dict[str, Any]) -> str:
    texts = [d["text"] for d in resource.get("dosageInstruction") or []
             if isinstance(d, dict) and isinstance(d.get("text"), str) and d["text"].strip()]
    return "; ".join(texts)


def _quantity(resource: dict[str, Any]) -> str | None:
    if resource.get("resourceType") == "MedicationRequest":
        request = resource.get("dispenseRequest")
        resource = request if isinstance(request, dict) else {}
    quantity = resource.get("quantity")
    if not isinstance(quantity, dict) or not isinstance(quantity.get("value"), int | float):
        return None
    value = quantity["value"]
    number = str(int(value)) if float(value).is_integer() else str(value)
    unit = quantity.get("unit") or quantity.get("code")
    return f"{number} {unit}" if isinstance(unit, str) and unit else number


def _name(party: Any, names: dict[str, str]) -> str | None:
    """The display of a reference: its own, else the name of the resource it points to in the Bundle."""
    if not isinstance(party, dict):
        return None
    reference = party.get("reference")
    if isinstance(reference, str) and reference in names:
        return names[reference]
    display = party.get("display")
    return display if isinstance(display, str) and display else None


def _requester(resource: dict[str, Any], names: dict[str, str]) -> str | None:
    return _name(resource.get("requester"), names)


def _performer(resource: dict[str, Any], names: dict[str, str]) -> str | None:
    for performer in resource.get("performer") or []:
        if isinstance(performer, dict):
            name = _name(performer.get("actor"), names)
            if name:
                return name
    return None


def party_names(bundle: dict[str, Any]) -> dict[str, str]:
    """The names of the Bundle's practitioners and organisations, by their full URL (for requester/performer)."""
    out: dict[str, str] = {}
    for entry in bundle.get("entry") or []:
        resource = entry.get("resource") if isinstance(entry, dict) else None
        full_url = entry.get("fullUrl") if isinstance(entry, dict) else None
        if not isinstance(resource, dict) or not isinstance(full_url, str):
            continue
        name = resource.get("name")
        if isinstance(name, str) and name:
            out[full_url] = name
        elif isinstance(name, list) and name and isinstance(name[0], dict):
            parts = [*(p for p in name[0].get("prefix") or [] if isinstance(p, str)),
                     *(p for p in name[0].get("given") or [] if isinstance(p, str)), name[0].get("family") or ""]
            text = " ".join(p for p in parts if isinstance(p, str) and p)
            if text:
                out[full_url] = text
    return out


Source = tuple[uuid.UUID, Iterable[dict[str, Any]], dict[str, str]]


def medication_list(sources: Iterable[Source]) -> list[Medicine]:
    """The medicines of ``sources`` — (document id, its MedicationRequest and MedicationDispense resources, the
    names of its parties by full URL), newest document first — one line each, the most recently prescribed or
    dispensed first (undated last)."""
    found: dict[tuple[str, str], Medicine] = {}
    seen: set[tuple[object, ...]] = set()
    for document_id, resources, names in sources:
        for resource in resources:
            kind = resource.get("resourceType")
            concept = resource.get("medicationCodeableConcept")
            if kind not in ("MedicationRequest", "MedicationDispense") or not isinstance(concept, dict):
                continue
            key = medicine_key(concept)
            if key is None:
                continue
            if kind == "MedicationRequest":
                if resource.get("status") in NOT_PRESCRIBED or resource.get("intent") == "proposal":
                    continue
                line: Prescribed | Dispensed = Prescribed(_dated(resource, "authoredOn"), _dosage(resource),
                                                          _requester(resource, names), document_id,
                                                          _quantity(resource))
                same: tuple[object, ...] = (key, kind, line.authored, line.dosage, line.prescriber)
            else:
                if resource.get("status") in NOT_DISPENSED:
                    continue
                line = Dispensed(_dated(resource, "whenHandedOver") or _dated(resource, "whenPrepared"),
                                 _quantity(resource), _performer(resource, names), document_id)
                same = (key, kind, line.handed_over, line.quantity, line.pharmacy)
            if same in seen:
                continue  # a newer document said it already: the first source wins
            seen.add(same)
            medicine = found.setdefault(key, Medicine(medicine=concept, atc=key[1] if key[0] == "atc" else None))
            if isinstance(line, Prescribed):
                medicine.prescribed.append(line)
            else:
                medicine.dispensed.append(line)
    for medicine in found.values():
        medicine.prescribed.sort(key=lambda p: _moment(p.authored), reverse=True)
        medicine.dispensed.sort(key=lambda d: _moment(d.handed_over), reverse=True)
    return sorted(found.values(), key=_newest_first)


def _newest_first(medicine: Medicine) -> tuple[bool, float]:
    latest = medicine.latest
    return latest is None, -latest.timestamp() if latest else 0.0
