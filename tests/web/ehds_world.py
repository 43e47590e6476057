"""A record holding one structured document of each EHDS category (issue 18 §2), each deposited by a professional
the rights matrix lets deposit it: a prescription and its dispensation, an imaging report with its study, a
discharge report by section, a vaccination record. Shared by the timeline, summary and export tests."""

from __future__ import annotations

import copy
import json
import random
import uuid
from dataclasses import dataclass
from datetime import date
from typing import Any

from opendsp.accounts import services
from opendsp.actors import SYSTEM
from opendsp.clock import FrozenClock
from opendsp.demo.clinical import AMOXICILLIN, VACCINES
from opendsp.demo.fhir import Ids, Prescribed, SummaryContent, dispensation, patient_summary, prescription
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import FHIR_MEDIA_TYPE, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind, Professional
from opendsp.records.models import Record
from tests.accounts.portal import Browser, activate
from tests.factories import as_holder, as_professional, make_organisation, make_professional, make_record
from tests.fhir.test_imaging_and_discharge import PATIENT, RADIOLOGIST, discharge_bundle, imaging_bundle
from tests.web.holder_world import logged_in
from tests.web.professional import professional_with_account

# What each document is, its type, title and care date.
DOCUMENTS: dict[str, tuple[DocumentType, str, date]] = {
    "prescription": (DocumentType.prescription, "Ordonnance amoxicilline", date(2025, 3, 1)),
    "dispensation": (DocumentType.dispensation, "Délivrance pharmacie", date(2025, 3, 2)),
    "imaging": (DocumentType.imaging_report, "Radiographie du thorax", date(2025, 3, 4)),
    "discharge": (DocumentType.discharge_letter, "Lettre de sortie appendicite", date(2025, 3, 5)),
    "vaccination": (DocumentType.vaccination_record, "Vaccination grippe", date(2025, 3, 6)),
}


@dataclass
class EhdsWorld:
    record: Record
    holder_browser: Browser  # the holder, logged in
    ids: dict[str, uuid.UUID]  # the documents by their key in DOCUMENTS
    gp: uuid.UUID  # a general practitioner in the circle, with a portal account (``gp_browser``)
    gp_browser: Browser
    pharmacist: uuid.UUID  # in the circle: consults prescriptions, dispensations, vaccinations; no imaging


def vaccination_bundle() -> dict[str, Any]:
    """A vaccination record: an Immunization in a document whose type is the immunisation history."""
    content = SummaryContent(allergies=[], conditions=[], medicines=[],
                             immunizations=[(VACCINES["influenza"], date(2025, 3, 6), "FLU-25-A")])
    bundle = patient_summary(Ids(random.Random(11)), patient=PATIENT, author=RADIOLOGIST, day=date(2025, 3, 6),
                             language="fr", title="Vaccination", content=content)
    bundle["entry"][0]["resource"]["type"] = {"coding": [{"system": "http://loinc.org", "code": "11369-6",
                                                          "display": "History of Immunization Narrative"}]}
    return bundle


def contents() -> dict[str, dict[str, Any]]:
    def medicines(builder: Any, seed: int, day: date) -> dict[str, Any]:
        return builder(Ids(random.Random(seed)), patient=PATIENT, author=RADIOLOGIST, day=day, language="fr",
                       title="Médicaments", items=[Prescribed(AMOXICILLIN, quantity=(2, "boîtes"))])

    return {
        "prescription": medicines(prescription, 21, DOCUMENTS["prescription"][2]),
        "dispensation": medicines(dispensation, 22, DOCUMENTS["dispensation"][2]),
        "imaging": imaging_bundle(),
        "discharge": discharge_bundle(),
        "vaccination": vaccination_bundle(),
    }


def build(platform: Platform, clock: FrozenClock) -> EhdsWorld:
    with platform.transaction() as session:
        record = make_record(session, platform, active=False)
        session.expunge(record.holder)
        session.expunge(record)
    holder_browser = logged_in(platform, clock, record.holder)  # activates the record
    gp = professional_with_account(platform, clock, family_name="Weber")
    with platform.transaction() as session:
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Demo")
        pharmacy = make_organisation(session, platform, OrganisationKind.pharmacy, name="Pharmacie du Centre")
        radiologist = make_professional(session, platform, specialties=("radiology",), organisation=hospital,
                                        family_name="Kremer")
        surgeon = make_professional(session, platform, specialties=("surgery",), organisation=hospital,
                                    family_name="Schmit")
        pharmacist = make_professional(session, platform, profession="pharmacist", specialties=(),
                                       organisation=pharmacy, family_name="Hoffmann")
        holder = as_holder(session, platform, session.get(Record, record.id))
        for professional_id in (gp.id, radiologist.id, surgeon.id, pharmacist.id):
            holder.add_to_circle(record.id, professional_id)
        authors = {"prescription": session.get(Professional, gp.id), "dispensation": pharmacist,
                   "imaging": radiologist, "discharge": surgeon, "vaccination": pharmacist}
        ids = {}
        for key, content in contents().items():
            kind, title, day = DOCUMENTS[key]
            draft = DocumentDraft(type=kind, title=title, care_date=day, media_type=FHIR_MEDIA_TYPE)
            ids[key] = as_professional(session, platform, authors[key]).deposit(
                record.id, draft, [json.dumps(copy.deepcopy(content)).encode()]).id
        pharmacist_id = pharmacist.id
    return EhdsWorld(record=record, holder_browser=holder_browser, ids=ids, gp=gp.id, gp_browser=gp.browser,
                     pharmacist=pharmacist_id)


def pharmacist_browser(platform: Platform, clock: FrozenClock, world: EhdsWorld) -> Browser:
    """The world's pharmacist, logged in to the professional portal."""
    with platform.transaction() as session:
        pharmacist = session.get(Professional, world.pharmacist)
        account = services.account_of_professional(session=session, platform=platform, professional=pharmacist)
        code = services.issue_activation_code(session=session, platform=platform, account=account, actor=SYSTEM)
        licence = pharmacist.licence_number
    browser = Browser(platform)
    activate(browser, clock, licence, code, realm="/pro")
    return browser
