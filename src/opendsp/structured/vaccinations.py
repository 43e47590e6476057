"""The vaccination record: every vaccination found in a record's structured documents, once each.

Vaccinations arrive as FHIR ``Immunization`` entries: in each patient summary
the referring doctor deposits (which repeats the earlier ones), and in any
other structured document. The record lists each vaccination once, by its
vaccine's codes and its day, with the newest document that states it as its
source. An entry marked ``not-done`` or ``entered-in-error`` is not a
vaccination and is left out. A vaccination the holder declared (a document
of their own, ``opendsp.structured.declared``) is marked so; when a
professional's document states the same one, the professional's is kept. Pure: the documents are read through
``RecordAccess`` by the caller.
"""

from __future__ import annotations

import uuid
from collections.abc import Collection, Iterable
from dataclasses import dataclass
from typing import Any

from opendsp.structured.bundles import codings, parse_instant

NOT_GIVEN = frozenset({"not-done", "entered-in-error"})


@dataclass(frozen=True)
class Vaccination:
    vaccine: dict[str, Any]  # the FHIR CodeableConcept, for the reader's words (opendsp.locale.terms)
    given: str | None  # as the document dates it: a year, a month, a day or a moment (format_written_date)
    lot_number: str | None
    dose: str | None  # "2", or the document's own words ("booster")
    document_id: uuid.UUID  # the newest document that states it
    declared: bool = False  # stated only by the holder's side, not by a professional


def _dose(resource: dict[str, Any]) -> str | None:
    for applied in resource.get("protocolApplied") or []:
        if not isinstance(applied, dict):
            continue
        for field in ("doseNumberPositiveInt", "doseNumberString"):
            if applied.get(field) not in (None, ""):
                return str(applied[field])
    return None


def _given(resource: dict[str, Any]) -> str | None:
    value = resource.get("occurrenceDateTime")
    return value if isinstance(value, str) and parse_instant(value) is not None else None


def _same_vaccination(resource: dict[str, Any], day: str | None) -> tuple[object, ...]:
    concept = resource.get("vaccineCode") if isinstance(resource.get("vaccineCode"), dict) else {}
    codes = frozenset(codings(resource)) or frozenset({(None, str(concept.get("text") or "").casefold())})
    return codes, day


def vaccination_record(sources: Iterable[tuple[uuid.UUID, Iterable[dict[str, Any]]]],
                       declared: Collection[uuid.UUID] = frozenset()) -> list[Vaccination]:
    """The vaccinations of ``sources`` — (document id, its Immunization resources), newest document first —
    each once, the most recent first (undated ones last). ``declared``: the documents the holder's side
    deposited; what they alone state is marked declared, and a professional's statement wins over theirs."""
    found: dict[tuple[object, ...], Vaccination] = {}
    for document_id, resources in sources:
        for resource in resources:
            if resource.get("resourceType") != "Immunization" or resource.get("status") in NOT_GIVEN:
                continue
            vaccine = resource.get("vaccineCode")
            if not isinstance(vaccine, dict):
                continue
            given = _given(resource)
            key = _same_vaccination(resource, given[:10] if given else None)  # one day, whatever its hour
            by_holder = document_id in declared
            if key in found and (by_holder or not found[key].declared):
                continue  # a newer document said it already: the first source wins, a professional's first
            lot = resource.get("lotNumber")
            found[key] = Vaccination(vaccine=vaccine, given=given, lot_number=lot if isinstance(lot, str) else None,
                                     dose=_dose(resource), document_id=document_id, declared=by_holder)
    return sorted(found.values(), key=_newest_first)


def _newest_first(vaccination: Vaccination) -> tuple[bool, float]:
    moment = parse_instant(vaccination.given)
    return moment is None, -moment.timestamp() if moment else 0.0
