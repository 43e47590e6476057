"""Properties of the access layer over a real database."""

from __future__ import annotations

import uuid
from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from opendsp.access.models import DocumentNamedProfessional
from opendsp.access.services import RecordAccess
from opendsp.documents.models import Document
from opendsp.documents.types import ConfidentialityLevel, ContentKind, DocumentStatus, DocumentType
from opendsp.platform import Platform
from opendsp.policy import Action, decide
from opendsp.policy.decision import AccessDenied
from opendsp.trace.models import TraceEntry
from tests.factories import as_holder, as_professional, make_professional, make_record

DB_SETTINGS = settings(
    max_examples=15, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow]
)

document_rows = st.lists(
    st.tuples(
        st.sampled_from(DocumentType),
        st.sampled_from(DocumentStatus),
        st.sampled_from(ConfidentialityLevel),
        st.booleans(),  # hidden
        st.booleans(),  # authored by the viewer
        st.booleans(),  # the viewer is named
        st.integers(-2, 2),  # release to the holder, in days from now
    ),
    min_size=1,
    max_size=8,
)


@DB_SETTINGS
@given(
    rows=document_rows,
    profession=st.sampled_from([("physician", ("general_practice",)), ("pharmacist", ()), ("nurse", ()), ("dentist", ())]),
    referring=st.booleans(),
)
def test_the_sql_filter_says_exactly_what_the_policy_says(platform: Platform, rows, profession, referring) -> None:  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        record = make_record(session, platform)
        viewer = make_professional(session, platform, profession=profession[0], specialties=profession[1])
        other = make_professional(session, platform, family_name="Other")
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, viewer.id)
        if referring and profession[0] == "physician":
            holder.set_referring_doctor(record.id, viewer.id)
        now = platform.clock.now()
        for kind, status, level, hidden, own, named, release in rows:
            document = Document(
                id=uuid.uuid4(), record_id=record.id, type=kind, title=kind.value,
                author_professional_id=viewer.id if own else other.id, care_date=date(2025, 1, 1),
                deposited_at=now, confidentiality=level, status=status, media_type="application/pdf", size=0,
                sha256="0" * 64, content_kind=ContentKind.binary, content_key=f"records/{record.id}/{uuid.uuid4()}",
                hidden_at=now if hidden else None, visible_to_holder_from=now + timedelta(days=release),
            )
            session.add(document)
            session.flush()
            if named:
                session.add(DocumentNamedProfessional(document_id=document.id, professional_id=viewer.id,
                                                      record_id=record.id))
        session.flush()
        for access in (as_professional(session, platform, viewer), holder):
            listed = {d.id for d in access.list_documents(record.id, limit=100).items}
            expected = {
                d.id
                for d in session.scalars(select(Document).where(Document.record_id == record.id))
                if decide(access._request(Action.consult_document, record, d)).permitted
            }
            assert listed == expected
            assert access.list_documents(record.id).total == len(expected)


OPERATIONS = ["list", "consult", "code", "emergency", "hide", "circle", "block", "close", "reopen", "deposit"]


@DB_SETTINGS
@given(st.lists(st.tuples(st.sampled_from(OPERATIONS), st.booleans()), min_size=1, max_size=12))
def test_every_decision_leaves_exactly_one_trace_entry(platform: Platform, operations) -> None:  # type: ignore[no-untyped-def]
    with platform.transaction() as session:
        record = make_record(session, platform)
        gp = make_professional(session, platform)
        code = as_holder(session, platform, record).regenerate_presence_code(record.id)
        first = as_holder(session, platform, record).deposit(
            record.id, _draft(DocumentType.personal_document), [b"%PDF-1.4 x"]
        )
    for operation, as_gp in operations:
        with platform.sessions() as session:
            before = session.scalar(select(func.count()).select_from(TraceEntry))
        try:
            with platform.transaction() as session:
                access = as_professional(session, platform, gp) if as_gp else as_holder(session, platform, record)
                _run(access, operation, record.id, gp.id, first.id, code)
        except AccessDenied:
            pass
        with platform.sessions() as session:
            after = session.scalar(select(func.count()).select_from(TraceEntry))
        assert after == before + 1, operation


def _draft(kind: DocumentType):  # type: ignore[no-untyped-def]
    from tests.factories import professional_draft

    return professional_draft(kind, "doc")


def _run(access: RecordAccess, operation: str, record_id, gp_id, document_id, code: str) -> None:  # type: ignore[no-untyped-def]
    match operation:
        case "list":
            access.list_documents(record_id)
        case "consult":
            access.consult(document_id).read()
        case "code":
            access.open_with_presence_code(record_id, code)
        case "emergency":
            access.open_emergency_access(record_id, "urgent")
        case "hide":
            access.hide(document_id)
        case "circle":
            access.add_to_circle(record_id, gp_id)
        case "block":
            access.block(record_id, gp_id)
        case "close":
            access.close(record_id)
        case "reopen":
            access.reopen(record_id)
        case "deposit":
            access.deposit(record_id, _draft(DocumentType.consultation_report), [b"%PDF-1.4 y"])
