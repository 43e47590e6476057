"""The visibility rule in SQL (``opendsp.policy.sql``) says exactly what ``Visibility.admits`` says in Python.

Documents of every type (the structured EHDS categories included: dispensation, imaging and discharge reports,
vaccination records) in every state are stored in a real database; for each rule drawn by hypothesis, the
documents the query returns are those the Python rule admits, one by one.
"""

from __future__ import annotations

import itertools
import uuid
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from opendsp.access.models import DocumentNamedProfessional
from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel, ContentKind, DocumentStatus, DocumentType
from opendsp.platform import Platform
from opendsp.policy import DocumentFacts
from opendsp.policy.decision import Visibility
from opendsp.policy.sql import visible_documents
from tests.factories import make_professional, make_record

NEW_CATEGORIES = (DocumentType.dispensation, DocumentType.imaging_report, DocumentType.discharge_letter,
                  DocumentType.vaccination_record)


def test_the_sql_rule_admits_exactly_what_the_python_rule_admits(platform: Platform) -> None:
    now = platform.clock.now()
    moments = [None, now - timedelta(hours=1), now, now + timedelta(hours=1)]
    facts: dict[uuid.UUID, DocumentFacts] = {}
    with platform.transaction() as session:
        record = make_record(session, platform)
        other = make_record(session, platform)
        viewers = [make_professional(session, platform).id for _ in range(3)]
        authors = [None, *viewers[:2]]  # None: the holder's personal space
        shapes = itertools.product(DocumentType, DocumentStatus, ConfidentialityLevel, (False, True), authors)
        for n, (kind, status, confidentiality, hidden, author) in enumerate(shapes):
            named = frozenset(viewers[(n % 3):(n % 3) + (n % 2) + 1]) if confidentiality is ConfidentialityLevel.restricted else frozenset()
            document = Document(
                record_id=record.id, type=kind, title=f"d{n}", author_professional_id=author,
                authored_by_holder=author is None, care_date=date(2025, 3, 1), deposited_at=now,
                confidentiality=confidentiality, status=status, media_type="application/pdf", size=1,
                sha256="0" * 64, content_kind=ContentKind.binary, hidden_at=now if hidden else None,
                visible_to_holder_from=moments[n % len(moments)], content_key=f"{record.id}/sql-form/{n}",
            )
            session.add(document)
            session.flush()
            session.add_all(DocumentNamedProfessional(document_id=document.id, professional_id=p, record_id=record.id)
                            for p in named)
            facts[document.id] = DocumentFacts(
                id=document.id, type=kind, status=status, confidentiality=confidentiality, author_id=author,
                authored_by_holder=author is None, hidden=hidden, named_professionals=named,
                visible_to_holder_from=document.visible_to_holder_from)
        # Another record's documents never come back, whatever the rule.
        session.add(Document(record_id=other.id, type=DocumentType.dispensation, title="elsewhere",
                             care_date=date(2025, 3, 1), deposited_at=now, media_type="application/pdf", size=1,
                             sha256="0" * 64, content_kind=ContentKind.binary, content_key=f"{other.id}/sql-form"))
        record_id = record.id
    assert {f.type for f in facts.values()} >= set(NEW_CATEGORIES)

    rules = st.builds(
        Visibility,
        holder_side=st.booleans(),
        now=st.sampled_from([m for m in moments if m is not None]),
        viewer=st.none() | st.sampled_from(viewers),
        types=st.frozensets(st.sampled_from(DocumentType)) | st.just(frozenset(NEW_CATEGORIES)),
        referring_doctor=st.booleans(),
        nothing=st.booleans(),
    )

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(rules)
    def the_same(rule: Visibility) -> None:
        with platform.sessions() as session:
            listed = set(session.scalars(select(Document.id).where(Document.record_id == record_id,
                                                                   visible_documents(rule))))
        admitted = {i for i, document in facts.items() if rule.admits(document)}
        assert listed == admitted

    the_same()


def test_a_professional_s_rule_for_the_new_categories_lists_them_and_nothing_else(platform: Platform) -> None:
    """The rule of a pharmacist (dispensations, not imaging reports) in SQL: the example the property generalises."""
    now = platform.clock.now()
    with platform.transaction() as session:
        record = make_record(session, platform)
        ids = {}
        for kind in NEW_CATEGORIES:
            document = Document(record_id=record.id, type=kind, title=kind.value, care_date=date(2025, 3, 1),
                                deposited_at=now, media_type="application/pdf", size=1, sha256="0" * 64,
                                content_kind=ContentKind.binary, content_key=f"{record.id}/{kind.value}")
            session.add(document)
            session.flush()
            ids[kind] = document.id
        record_id = record.id
    rule = Visibility(holder_side=False, now=now, viewer=uuid.uuid4(),
                      types=frozenset({DocumentType.dispensation, DocumentType.vaccination_record}))
    with platform.sessions() as session:
        listed = set(session.scalars(select(Document.id).where(Document.record_id == record_id,
                                                               visible_documents(rule))))
    assert listed == {ids[DocumentType.dispensation], ids[DocumentType.vaccination_record]}
