"""What the holder's side reads of its own record through ``RecordAccess``: choices, assistants, the directory,
the trace in pages and in files, the export — each decided by the policy, each traced, none without a permit."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select

from opendsp import actors
from opendsp.access.services import InvalidRequest, RecordAccess
from opendsp.access.trace_reading import ACTION_LABELS, KINDS, REASON_LABELS, TraceQuery, TraceReading, kind_of, read_batch
from opendsp.clock import FrozenClock
from opendsp.documents import services as documents
from opendsp.documents.services import DocumentDraft, NoPermit
from opendsp.documents.types import DocumentType
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action, Basis, Reason
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    make_organisation,
    make_person,
    make_professional,
    make_record,
)


def count(session, record: Record, action: str | None = None) -> int:  # type: ignore[no-untyped-def]
    query = select(func.count()).select_from(TraceEntry).where(TraceEntry.chain == str(record.id))
    if action:
        query = query.where(TraceEntry.action == action)
    return int(session.scalar(query) or 0)


def test_the_directory_is_searched_by_the_holder_s_side_only_and_traced(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        weber = make_professional(session, platform, family_name="Weber")
        make_professional(session, platform, family_name="Webster", profession="nurse", specialties=())
        make_professional(session, platform, family_name="Klein")
        holder = as_holder(session, platform, record)
        found = holder.search_directory(record.id, "  WEB  ")
        assert [p.family_name for p in found] == ["Weber", "Webster"]
        assert [p.id for p in holder.search_directory(record.id, f"dr {weber.licence_number}")] == [weber.id]
        assert holder.search_directory(record.id, "50%_") == []  # LIKE wildcards are taken literally
        last = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record.id))
                               .order_by(TraceEntry.seq.desc())).first()
        assert last.action == "directory.search" and last.context == {"query": "50%_"}
        with pytest.raises(InvalidRequest):
            holder.search_directory(record.id, "w")
        with pytest.raises(AccessDenied) as refused:
            as_professional(session, platform, weber).search_directory(record.id, "web")
        assert refused.value.decision.reason is Reason.holder_only
        holder.close(record.id)
        with pytest.raises(AccessDenied) as closed:
            holder.search_directory(record.id, "web")
        assert closed.value.decision.reason is Reason.record_closed


def test_the_choices_are_read_back_in_full_and_traced(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        gp = make_professional(session, platform, family_name="Weber")
        nurse = make_professional(session, platform, profession="nurse", specialties=(), family_name="Klein")
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital Nord")
        make_organisation(session, platform, OrganisationKind.practice, name="Cabinet")
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, gp.id, comment="Mon généraliste", until=clock.now() + timedelta(days=9))
        holder.set_referring_doctor(record.id, gp.id)
        holder.block(record.id, nurse.id)
        holder.refuse_institution(record.id, hospital.id)
        holder.regenerate_presence_code(record.id)
        before = count(session, record)
        choices = holder.access_choices(record.id)
        assert count(session, record) == before + 1
        assert [(c.professional.id, c.comment) for c in choices.circle] == [(gp.id, "Mon généraliste")]
        assert choices.referring_doctor is not None and choices.referring_doctor.id == gp.id
        assert [c.professional.id for c in choices.blocked] == [nurse.id]
        assert [o.name for o in choices.refused_institutions] == ["Hôpital Nord"]
        assert [o.name for o in choices.hospitals] == ["Hôpital Nord"] and choices.institutional_access_allowed
        assert choices.presence_code_set_at == clock.now() and choices.emergency_allowed
        assert holder.referring_doctor_eligible(gp) and not holder.referring_doctor_eligible(nurse)
        with pytest.raises(AccessDenied):
            as_professional(session, platform, gp).access_choices(record.id)


def test_asking_the_policy_is_not_an_act(platform: Platform) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        gp = make_professional(session, platform)
        before = count(session, record)
        assert as_holder(session, platform, record).may(record.id, Action.manage_access)
        decision = as_professional(session, platform, gp).would(record.id, Action.manage_access)
        assert not decision.permitted and decision.reason is Reason.holder_only
        assert count(session, record) == before


def test_assistants_and_representatives_are_read_back(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        child = make_record(session, platform, birth=date(2015, 1, 1))
        parent = make_person(session, platform, given_name="Paul")
        helper = make_person(session, platform, given_name="Hélène")
        session.add(LegalRepresentation(minor_id=child.person_id, representative_id=parent.id,
                                        created_at=clock.now()))
        session.flush()
        minor = session.get(Person, child.person_id)
        representative = RecordAccess(session=session, platform=platform,
                                      actor=actors.representative(parent, acting_for=minor))  # type: ignore[arg-type]
        representative.designate_assistant(child.id, helper.id, until=clock.now() + timedelta(days=3))
        side = representative.assistants(child.id)
        assert [(a.person.id, a.until) for a in side.assistants] == [(helper.id, clock.now() + timedelta(days=3))]
        assert [p.id for p in side.representatives] == [parent.id]
        entry = session.scalars(select(TraceEntry).where(TraceEntry.chain == str(child.id))
                                .order_by(TraceEntry.seq.desc())).first()
        assert entry.context == {"part": "assistants"} and entry.basis == Basis.representative.value


def test_the_trace_is_filtered_in_sql_and_read_only_with_a_permit(platform: Platform, clock: FrozenClock) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        gp = make_professional(session, platform)
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, gp.id)
        pro = as_professional(session, platform, gp)
        document = pro.deposit(record.id, DocumentDraft(
            type=DocumentType.consultation_report, title="Secret until explained", care_date=date(2025, 1, 1),
            media_type="application/pdf", visible_to_holder_from=clock.now() + timedelta(days=1)), [PDF])
        pro.consult(document.id).read()
        page = holder.trace_page(record.id, TraceQuery(kind="consultation"))
        assert [line.action for line in page.lines] == ["document.consult"] and page.total == 1
        assert page.lines[0].subject == () and page.lines[0].basis == "circle"  # the title is not told yet
        deposits = holder.trace_page(record.id, TraceQuery(kind="deposit")).lines
        assert [line.subject_text(str) for line in deposits] == ["Consultation report"]  # its type, not its title
        clock.advance(timedelta(days=1))
        consulted = holder.trace_page(record.id, TraceQuery(kind="consultation")).lines[0]
        assert consulted.subject == ("Secret until explained",)

        reading = holder.trace_download(record.id, TraceQuery(who="professionals"), "csv")
        lines = read_batch(session, reading=reading)
        assert {line.actor_kind for line in lines} == {"professional"} and len(lines) == 2
        forged = TraceReading(permit=reading.permit, record_id=make_record(session, platform).id,
                              query=TraceQuery(), rule=reading.rule, upto_seq=10)
        with pytest.raises(NoPermit):
            read_batch(session, reading=forged)
        consult_permit = pro.consult(document.id).permit
        with pytest.raises(NoPermit):
            read_batch(session, reading=TraceReading(permit=consult_permit, record_id=record.id,
                                                     query=TraceQuery(), rule=reading.rule, upto_seq=10))
        with pytest.raises(NoPermit):  # the storage layer gives content for an export only with an export permit
            list(documents.export_content(session=session, platform=platform, permit=reading.permit,
                                          document=document))


def test_every_reason_and_every_trace_action_has_words() -> None:
    assert all(reason.value in REASON_LABELS for reason in Reason)
    actions = {action.value for action in Action}  # a patient lookup too: each person found has it in their trace
    assert all(kind_of(action) is not None for action in actions), [a for a in actions if kind_of(a) is None]
    assert actions <= set(ACTION_LABELS), actions - set(ACTION_LABELS)
    assert set(KINDS) >= {"consultation", "deposit", "replacement", "withdrawal", "opening"}
    query, problems = TraceQuery.parse(since="2025-01-01", until="2024-12-31", kind="x", basis="circle")
    assert query == TraceQuery(basis="circle") and len(problems) == 2
