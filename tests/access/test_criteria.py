"""The portals' filters (``DocumentCriteria``) are written in the same criteria as the FHIR search, and select
exactly the documents each filter says, bounds included, within what the caller may see."""

from __future__ import annotations

import uuid
from datetime import date

from opendsp.access.criteria import DocumentCriteria
from opendsp.documents.services import DocumentDraft
from opendsp.documents.types import DocumentStatus, DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.factories import PDF, as_holder, as_professional, make_organisation, make_professional, make_record

MARCH = {day: date(2025, 3, day) for day in (1, 10, 20)}
# What each filter selects among the holder's own document (1 March), Dr Weber's report (10 March, hidden by the
# holder) and Dr Klein's laboratory result (20 March, withdrawn by its author).
CASES = [
    ("nothing asked", DocumentCriteria(), {"own", "weber", "klein"}),
    ("care date from, included", DocumentCriteria(since=MARCH[10]), {"weber", "klein"}),
    ("care date to, included", DocumentCriteria(until=MARCH[10]), {"own", "weber"}),
    ("one day", DocumentCriteria(since=MARCH[10], until=MARCH[10]), {"weber"}),
    ("a type", DocumentCriteria(types=(DocumentType.consultation_report,)), {"weber"}),
    ("two types", DocumentCriteria(types=(DocumentType.consultation_report, DocumentType.laboratory_report)),
     {"weber", "klein"}),
    ("current only", DocumentCriteria(status=DocumentStatus.current), {"own", "weber"}),
    ("withdrawn only", DocumentCriteria(status=DocumentStatus.withdrawn), {"klein"}),
    ("a part of a professional's name, any case", DocumentCriteria(author="  wEB "), {"weber"}),
    ("a part of an organisation's name", DocumentCriteria(author="labo"), {"klein"}),
    ("the personal space", DocumentCriteria(by_holder=True), {"own"}),
    ("hidden", DocumentCriteria(hidden=True), {"weber"}),
    ("not hidden", DocumentCriteria(hidden=False), {"own", "klein"}),
    ("filters together", DocumentCriteria(since=MARCH[10], hidden=False), {"klein"}),
    ("no id at all", DocumentCriteria(ids=()), set()),
]


def test_each_portal_filter_selects_what_it_says(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        holder = as_holder(session, platform, record)
        weber = make_professional(session, platform, family_name="Weber",
                                  organisation=make_organisation(session, platform, name="Cabinet Nord"))
        klein = make_professional(session, platform, family_name="Klein", profession="physician",
                                  specialties=("clinical_biology",), organisation=make_organisation(
                                      session, platform, OrganisationKind.laboratory, name="Labo Sud"))
        holder.add_to_circle(record.id, weber.id)
        holder.add_to_circle(record.id, klein.id)

        def draft(kind: DocumentType, day: int) -> DocumentDraft:
            return DocumentDraft(type=kind, title="Report", care_date=MARCH[day], media_type="application/pdf")

        ids: dict[str, uuid.UUID] = {
            "own": holder.deposit(record.id, draft(DocumentType.personal_document, 1), [PDF]).id,
            "weber": as_professional(session, platform, weber).deposit(
                record.id, draft(DocumentType.consultation_report, 10), [PDF]).id,
            "klein": as_professional(session, platform, klein).deposit(
                record.id, draft(DocumentType.laboratory_report, 20), [PDF]).id,
        }
        holder.set_hidden_in(record.id, ids["weber"], hidden=True)
        as_professional(session, platform, klein).withdraw(ids["klein"])

        for case, criteria, expected in CASES:
            found = {d.id for d in holder.list_documents(record.id, where=criteria.conditions()).items}
            assert {name for name, i in ids.items() if i in found} == expected, case
            if criteria.ids is None:
                named = DocumentCriteria(ids=tuple(ids[n] for n in sorted(expected)), hidden=criteria.hidden)
                assert {d.id for d in holder.list_documents(record.id, where=named.conditions()).items} \
                    == {ids[n] for n in expected}, case
