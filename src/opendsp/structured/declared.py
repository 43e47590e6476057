"""A vaccination the holder declares: checked, then written as a FHIR document Bundle reported by the patient.

The holder (or an assistant, or a parent for their child) adds a vaccination
they know of to the vaccination record: a vaccine from the CVX list the
platform renders (``opendsp/locale/terms/cvx.csv``) or in their own words, a
day, and optionally the dose number, the batch and where it was given. It is
deposited as a ``vaccination_record`` document whose one ``Immunization`` says
it was not recorded by the one who vaccinated (``primarySource`` false) and
comes from the patient's or their family's account (``reportOrigin``
``recall``). Pure: no database, no clock (the caller gives the day and the
identifiers); the deposit goes through ``RecordAccess`` (docs/adr/0042).
"""

from __future__ import annotations

import html
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

from opendsp.documents.types import CODINGS, DocumentType
from opendsp.fhir import systems
from opendsp.locale import N_, terms

CVX = "http://hl7.org/fhir/sid/cvx"
IMMUNIZATION_ORIGIN = "http://terminology.hl7.org/CodeSystem/immunization-origin"
REPORTED = {"system": IMMUNIZATION_ORIGIN, "code": "recall", "display": "Parent/Guardian/Patient Recall"}
MAX_VACCINE_TEXT = 200
MAX_LOT = 40
MAX_PLACE = 200
MAX_DOSE = 20


class DeclarationRefused(ValueError):
    """The declaration cannot be accepted; ``message`` (untranslated, for gettext) says why."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@dataclass(frozen=True)
class Declaration:
    vaccine_code: str | None  # a CVX code of the list, or None when the vaccine is given in words
    vaccine_text: str | None
    given: date
    dose: int | None
    lot_number: str | None
    place: str | None


@dataclass(frozen=True)
class Holder:
    national_number: str
    family_name: str
    given_name: str
    sex: str  # FHIR administrative gender
    birth_date: date


def vaccines() -> dict[str, terms.Term]:
    """The vaccines offered by code: those the platform has words for in every language."""
    return terms.table("cvx")


def _text(value: str, limit: int, too_long: str) -> str | None:
    text = " ".join(value.split())
    if any(unicodedata.category(c) in ("Cc", "Cf", "Cs", "Co", "Cn") for c in text):
        raise DeclarationRefused(N_("The form holds a character that is not allowed."))
    if len(text) > limit:
        raise DeclarationRefused(too_long)
    return text or None


def read_declaration(fields: dict[str, str], *, today: date, birth_date: date) -> Declaration:
    """The declaration a form sent (``vaccine``: a code of the list or ``other``; ``vaccine_text``, ``given``,
    ``dose``, ``lot``, ``place``), or ``DeclarationRefused`` saying what to fix."""
    code = fields.get("vaccine", "").strip()
    text = _text(fields.get("vaccine_text", ""), MAX_VACCINE_TEXT,
                 N_("The name of the vaccine is too long: at most 200 characters."))
    if code == "other" or (not code and text):
        if text is None:
            raise DeclarationRefused(N_("Give the name of the vaccine."))
        code = ""
    elif code not in vaccines():
        raise DeclarationRefused(N_("Choose the vaccine from the list, or give its name."))
    else:
        text = None
    try:
        given = date.fromisoformat(fields.get("given", "").strip())
    except ValueError:
        raise DeclarationRefused(N_("Give the date of the vaccination.")) from None
    if given > today:
        raise DeclarationRefused(N_("The date of the vaccination cannot be in the future."))
    if given < birth_date:
        raise DeclarationRefused(N_("The date of the vaccination cannot be before the birth."))
    dose_text = fields.get("dose", "").strip()
    dose = None
    if dose_text:
        if not dose_text.isascii() or not dose_text.isdigit() or not 1 <= int(dose_text) <= MAX_DOSE:
            raise DeclarationRefused(N_("The dose number is a whole number from 1 to 20."))
        dose = int(dose_text)
    lot = _text(fields.get("lot", ""), MAX_LOT, N_("The batch number is too long: at most 40 characters."))
    place = _text(fields.get("place", ""), MAX_PLACE, N_("The place is too long: at most 200 characters."))
    return Declaration(vaccine_code=code or None, vaccine_text=text, given=given, dose=dose, lot_number=lot,
                       place=place)


def vaccine_concept(declaration: Declaration) -> dict[str, Any]:
    if declaration.vaccine_code is not None:
        term = vaccines()[declaration.vaccine_code]
        return {"coding": [{"system": CVX, "code": term.code, "display": term.display}]}
    return {"text": declaration.vaccine_text}


def declared_vaccination(declaration: Declaration, *, holder: Holder, title: str, language: str, moment: str,
                         new_id: Callable[[], str]) -> dict[str, Any]:
    """The FHIR R4B document Bundle of one declared vaccination: a Composition (authored by the patient, one
    immunisations section), the Patient and the Immunization reported by them. ``moment``: when it is
    declared (an instant), ``new_id``: a UUID's text for each resource."""
    patient_id, immunization_id, composition_id = new_id(), new_id(), new_id()
    patient = {"reference": f"urn:uuid:{patient_id}"}
    immunization: dict[str, Any] = {
        "resourceType": "Immunization", "id": immunization_id, "status": "completed",
        "vaccineCode": vaccine_concept(declaration), "patient": patient,
        "occurrenceDateTime": declaration.given.isoformat(), "recorded": moment,
        "primarySource": False, "reportOrigin": {"coding": [REPORTED]},
    }
    if declaration.lot_number:
        immunization["lotNumber"] = declaration.lot_number
    if declaration.place:
        immunization["location"] = {"display": declaration.place}
    if declaration.dose is not None:
        immunization["protocolApplied"] = [{"doseNumberPositiveInt": declaration.dose}]
    words = terms.concept_word(immunization["vaccineCode"], language)
    loinc = CODINGS[DocumentType.vaccination_record]
    composition = {
        "resourceType": "Composition", "id": composition_id, "language": language, "status": "final",
        "type": {"coding": [{"system": systems.LOINC, "code": loinc.loinc, "display": loinc.display}]},
        "subject": patient, "date": moment, "author": [patient], "title": title,
        "section": [{
            "title": title,
            "code": {"coding": [{"system": systems.LOINC, "code": loinc.loinc, "display": loinc.display}]},
            "text": {"status": "generated", "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>'
                     f"{html.escape(words)} — {declaration.given.isoformat()}</p></div>"},
            "entry": [{"reference": f"urn:uuid:{immunization_id}"}],
        }],
    }
    person = {
        "resourceType": "Patient", "id": patient_id,
        "identifier": [{"system": systems.NATIONAL_NUMBER, "value": holder.national_number}],
        "name": [{"family": holder.family_name, "given": [holder.given_name]}],
        "gender": holder.sex, "birthDate": holder.birth_date.isoformat(),
    }
    return {
        "resourceType": "Bundle", "id": new_id(), "language": language, "type": "document", "timestamp": moment,
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{new_id()}"},
        "entry": [{"fullUrl": f"urn:uuid:{r['id']}", "resource": r} for r in (composition, person, immunization)],
    }


def declaration_problems(bundle: dict[str, Any]) -> list[tuple[str, str]]:
    """What keeps a document Bundle from being a declaration of the holder's side: it states at least one
    vaccination, and every Immunization in it is reported (``primarySource`` false), never presented as the
    record of the one who vaccinated. (message, FHIRPath); empty when it is fit."""
    found = [(i, e.get("resource")) for i, e in enumerate(bundle.get("entry") or []) if isinstance(e, dict)]
    immunizations = [(i, r) for i, r in found if isinstance(r, dict) and r.get("resourceType") == "Immunization"]
    if not immunizations:
        return [("a vaccination the holder declares is an Immunization", "Bundle.entry")]
    return [("a vaccination the holder declares is reported: primarySource is false",
             f"Bundle.entry[{i}].resource.primarySource") for i, r in immunizations if r.get("primarySource") is not False]
