"""A blocked professional is refused on every route of the professional portal, deposits included (issue 12).

Read as evidence: a general practitioner of the circle and a laboratory (which may deposit directly, without
any relation) are both blocked by the holder; each route of the portal that names the record is asked, and
none answers with a page of the record, a form to fill in or a deposit. Regression: the deposit forms and the
page after a deposit answered 200, with the deposit form, for any record, before anything was decided.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select

from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.accounts.portal import Browser
from tests.accounts.portal import settings  # noqa: F401 - the cheap-hash settings
from tests.factories import as_holder, as_professional, make_professional, professional_draft
from tests.web.test_attacks import _post
from tests.web.professional import professional_with_account, real_pdf, record_with_code

PDF = real_pdf("Bilan")


PDF_FIELDS = {"type": "laboratory_report", "title": "Bilan", "care_date": "2025-03-01", "confidentiality": "normal"}
ROUTES: dict[str, Callable[[Browser, uuid.UUID, uuid.UUID], Any]] = {
    "record page": lambda b, r, d: b.get(f"/pro/patients/{r}"),
    "summary": lambda b, r, d: b.get(f"/pro/patients/{r}/summary"),
    "medication list": lambda b, r, d: b.get(f"/pro/patients/{r}/medications"),
    "timeline": lambda b, r, d: b.get(f"/pro/patients/{r}/timeline"),
    "document page": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}"),
    "content URL": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}/content"),
    "replace form": lambda b, r, d: b.get(f"/pro/patients/{r}/documents/{d}/replace"),
    "deposit form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit"),
    "laboratory form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/laboratory"),
    "summary form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/summary"),
    "prescription form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/prescription"),
    "dispensation form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/dispensation"),
    "imaging report form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/imaging"),
    "discharge report form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/discharge"),
    "vaccination form": lambda b, r, d: b.get(f"/pro/patients/{r}/deposit/vaccination"),
    "page after a deposit": lambda b, r, d: b.get(f"/pro/patients/{r}/deposited/{d}"),
    "PDF deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit", PDF_FIELDS,
                                         files={"file": ("bilan.pdf", PDF, "application/pdf")}),
    "laboratory deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/laboratory", {
        "title": "Hémogramme", "care_date": "2025-03-01", "confidentiality": "normal",
        "analyte": "haemoglobin", "value": "13.5"}),
    "summary deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/summary", {
        "title": "Résumé", "care_date": "2025-03-01", "confidentiality": "normal"}),
    "prescription deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/prescription", {
        "title": "Ordonnance", "care_date": "2025-03-01", "confidentiality": "normal", "medicine": "J01CA04"}),
    "dispensation deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/dispensation", {
        "title": "Délivrance", "care_date": "2025-03-01", "confidentiality": "normal", "medicine": "J01CA04"}),
    "imaging report deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/imaging", {
        "title": "Scanner", "care_date": "2025-03-01", "confidentiality": "normal", "modality": "CT",
        "body_site": "51185008", "study_date": "2025-03-01", "study_uid": "1.2.3.4", "conclusion": "Normal."}),
    "discharge report deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/discharge", {
        "title": "Sortie", "care_date": "2025-03-04", "confidentiality": "normal", "admission_date": "2025-03-01",
        "discharge_date": "2025-03-04", "reason": "r", "procedures": "p", "medication": "m", "follow_up": "f"}),
    "vaccination deposit": lambda b, r, d: _post(b, f"/pro/patients/{r}/deposit/vaccination", {
        "title": "Vaccination", "care_date": "2025-03-01", "confidentiality": "normal", "cvx": "140",
        "given": "2025-03-01"}),
    "replacement": lambda b, r, d: _post(b, f"/pro/patients/{r}/documents/{d}/replace", {
        "title": "Nouveau", "care_date": "2025-03-01", "confidentiality": "normal"},
        files={"file": ("new.pdf", PDF, "application/pdf")}),
    "withdrawal": lambda b, r, d: _post(b, f"/pro/patients/{r}/documents/{d}/withdraw", {"reason": "x"}),
    "presence code": lambda b, r, d: _post(b, f"/pro/patients/{r}/presence-code", {"code": "WRONG-CODE"}),
    "emergency": lambda b, r, d: _post(b, f"/pro/patients/{r}/emergency", {"reason": "malaise"}),
}

BLOCKED = [
    ("a general practitioner of the circle", OrganisationKind.practice, "physician", ("general_practice",)),
    ("a laboratory that deposits directly", OrganisationKind.laboratory, "laboratory_biologist", ()),
]


@pytest.mark.parametrize(("kind", "profession", "specialties"), [b[1:] for b in BLOCKED], ids=[b[0] for b in BLOCKED])
def test_a_blocked_professional_is_refused_on_every_route(platform: Platform, clock: FrozenClock,
                                                          kind: OrganisationKind, profession: str,
                                                          specialties: tuple[str, ...]) -> None:
    pro = professional_with_account(platform, clock, kind=kind, profession=profession, specialties=specialties,
                                    name="Organisation bloquée")
    record, _code = record_with_code(platform)
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.merge(record))
        author = make_professional(session, platform, family_name="Autor")
        holder.add_to_circle(record.id, author.id)
        holder.add_to_circle(record.id, pro.id)  # a block wins over the circle
        document = as_professional(session, platform, author).deposit(record.id, professional_draft(), [PDF])
        holder.block(record.id, pro.id)
        document_id = document.id

    def documents() -> int:
        with platform.sessions() as session:
            return session.scalar(select(func.count()).select_from(Document)
                                  .where(Document.record_id == record.id)) or 0

    before = documents()
    answered: dict[str, int] = {}
    for route, ask in ROUTES.items():
        response = ask(pro.browser, record.id, document_id)
        if response.status_code < 400 or "<form method=\"post\" action=\"/pro/patients/" in response.text:
            answered[route] = response.status_code
    assert answered == {}, f"answered without a refusal: {answered}"
    assert documents() == before  # nothing deposited, replaced or withdrawn
