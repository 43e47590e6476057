"""The holder's control, end to end through the service layer, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from opendsp import actors
from opendsp.access.models import Notification
from opendsp.access.services import InvalidRequest, RecordAccess
from opendsp.documents import services as documents
from opendsp.documents.types import ConfidentialityLevel, DocumentType
from opendsp.platform import Platform
from opendsp.policy.decision import AccessDenied, Decision
from opendsp.policy.vocabulary import Action, Effect, Reason
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.trace.models import Outcome, TraceEntry
from tests.factories import (
    PDF,
    as_holder,
    as_professional,
    holder_of,
    make_organisation,
    make_person,
    make_professional,
    make_record,
    professional_draft,
)


def trace_of(session: Session, record: Record) -> list[TraceEntry]:
    return list(session.scalars(select(TraceEntry).where(TraceEntry.chain == str(record.id)).order_by(TraceEntry.seq)))


class refused:  # noqa: N801 - used like pytest.raises
    """Expect an AccessDenied with this reason."""

    def __init__(self, reason: Reason) -> None:
        self.reason = reason
        self._raises = pytest.raises(AccessDenied)

    def __enter__(self):  # type: ignore[no-untyped-def]
        self.info = self._raises.__enter__()
        return self.info

    def __exit__(self, *exc):  # type: ignore[no-untyped-def]
        result = self._raises.__exit__(*exc)
        assert self.info.value.decision.reason is self.reason, self.info.value.decision
        return result


@pytest.fixture
def world(platform: Platform):  # type: ignore[no-untyped-def]
    """A record with a lab result, a GP, a colleague of the same practice, and a cardiologist."""
    with platform.transaction() as session:
        record = make_record(session, platform)
        practice = make_organisation(session, platform, name="Cabinet Gare")
        gp = make_professional(session, platform, organisation=practice, family_name="Hoffmann")
        colleague = make_professional(session, platform, organisation=practice, family_name="Kieffer")
        cardiologist = make_professional(session, platform, specialties=("cardiology",), family_name="Reuter")
        lab = make_organisation(session, platform, OrganisationKind.laboratory, name="Labo")
        biologist = make_professional(session, platform, profession="laboratory_biologist", specialties=(), organisation=lab)
        result = as_professional(session, platform, biologist).deposit(
            record.id, professional_draft(DocumentType.laboratory_report, "Bilan sanguin"), [PDF]
        )
    return {"record": record, "gp": gp, "colleague": colleague, "cardiologist": cardiologist,
            "biologist": biologist, "result": result}


def test_circle_opens_the_record_to_one_named_professional(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, gp, colleague = world["record"], world["gp"], world["colleague"]
    with platform.transaction() as session:
        as_holder(session, platform, record).add_to_circle(record.id, gp.id, comment="médecin de famille")
    with platform.transaction() as session:
        page = as_professional(session, platform, gp).list_documents(record.id)
        assert [d.title for d in page.items] == ["Bilan sanguin"] and page.total == 1
        assert as_professional(session, platform, gp).consult(world["result"].id).read() == PDF
    with pytest.raises(AccessDenied) as refusal, platform.transaction() as session:
        as_professional(session, platform, colleague).list_documents(record.id)
    assert refusal.value.decision.how_to_obtain == ("presence_code", "trusted_circle")
    with platform.sessions() as session:
        last = trace_of(session, record)[-3:]
    assert [(e.action, e.outcome, e.basis, e.actor_id) for e in last] == [
        ("documents.list", Outcome.permitted, "circle", str(gp.id)),
        ("document.consult", Outcome.permitted, "circle", str(gp.id)),
        ("documents.list", Outcome.refused, None, str(colleague.id)),
    ]


def test_presence_code_gives_24_hours_and_a_new_code_kills_the_old(platform: Platform, world, clock) -> None:  # type: ignore[no-untyped-def]
    record, cardiologist = world["record"], world["cardiologist"]
    with platform.transaction() as session:
        code = as_holder(session, platform, record).regenerate_presence_code(record.id)
    with platform.transaction() as session:
        grant = as_professional(session, platform, cardiologist).open_with_presence_code(record.id, code.lower())
    assert grant.expires_at - grant.opened_at == timedelta(hours=24)
    clock.advance(timedelta(hours=24) - timedelta(microseconds=1))
    with platform.transaction() as session:
        assert as_professional(session, platform, cardiologist).list_documents(record.id).total == 1
    clock.advance(timedelta(microseconds=1))
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, cardiologist).list_documents(record.id)

    with platform.transaction() as session:
        new_code = as_holder(session, platform, record).regenerate_presence_code(record.id)
    assert new_code != code
    with refused(Reason.wrong_presence_code), platform.transaction() as session:
        as_professional(session, platform, cardiologist).open_with_presence_code(record.id, code)
    with platform.sessions() as session:
        kinds = session.scalars(select(Notification.kind).where(Notification.record_id == record.id)).all()
        entries = trace_of(session, record)
    assert kinds.count("presence.opened") == 1
    assert all(code not in str(e.context) and new_code not in str(e.context) for e in entries)


def test_wrong_codes_lock_out_and_every_refusal_survives_its_rollback(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, cardiologist = world["record"], world["cardiologist"]
    limit = 5
    with platform.transaction() as session:
        code = as_holder(session, platform, record).regenerate_presence_code(record.id)
    for _ in range(limit):
        with refused(Reason.wrong_presence_code), platform.transaction() as session:
            as_professional(session, platform, cardiologist).open_with_presence_code(record.id, "AAAA-AAAA")
    with refused(Reason.presence_code_locked), platform.transaction() as session:
        as_professional(session, platform, cardiologist).open_with_presence_code(record.id, code)
    with refused(Reason.presence_code_locked), platform.transaction() as session:
        as_professional(session, platform, cardiologist).open_with_presence_code(record.id, code)
    with platform.sessions() as session:
        refusals = [e for e in trace_of(session, record) if e.action == "presence.open"]
        locked_notices = session.scalar(
            select(func.count()).select_from(Notification).where(Notification.kind == "presence.locked")
        )
    assert [e.reason for e in refusals] == ["wrong_presence_code"] * limit + ["presence_code_locked"] * 2
    assert locked_notices == 1


def test_emergency_access_with_a_reason_is_marked_and_notified(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record = world["record"]
    with platform.transaction() as session:
        emergency = make_organisation(session, platform, OrganisationKind.emergency_department, name="Urgences")
        doctor = make_professional(session, platform, specialties=("emergency_medicine",), organisation=emergency)
    with refused(Reason.emergency_reason_required), platform.transaction() as session:
        as_professional(session, platform, doctor).open_emergency_access(record.id, " ")
    with platform.transaction() as session:
        as_professional(session, platform, doctor).open_emergency_access(record.id, "patient inconscient")
        as_professional(session, platform, doctor).consult(world["result"].id).read()
    with platform.sessions() as session:
        opened, consulted = trace_of(session, record)[-2:]
        notice = session.scalars(select(Notification).where(Notification.kind == "emergency.opened")).one()
    assert opened.basis == consulted.basis == "emergency"
    assert opened.context["emergency"] is consulted.context["emergency"] is True
    assert opened.context["reason_text"] == "patient inconscient"
    assert notice.trace_entry_id == opened.id
    with platform.transaction() as session:
        as_holder(session, platform, record).set_emergency_allowed(record.id, False)
    with refused(Reason.no_access), platform.transaction() as session:
        as_professional(session, platform, doctor).consult(world["result"].id)


def test_a_block_wins_over_the_circle(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, gp = world["record"], world["gp"]
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, gp.id)
        holder.block(record.id, gp.id)
    with refused(Reason.blocked), platform.transaction() as session:
        as_professional(session, platform, gp).list_documents(record.id)
    with platform.transaction() as session:
        as_holder(session, platform, record).unblock(record.id, gp.id)
        assert as_professional(session, platform, gp).list_documents(record.id).total == 1


def test_hidden_documents_vanish_from_lists_counts_and_reads(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, gp, result = world["record"], world["gp"], world["result"]
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, gp.id)
        holder.hide(result.id)
    with platform.transaction() as session:
        page = as_professional(session, platform, gp).list_documents(record.id)
        assert (page.items, page.total) == ([], 0)
        assert as_holder(session, platform, record).list_documents(record.id).total == 1
    with refused(Reason.not_found) as hidden, platform.transaction() as session:
        as_professional(session, platform, gp).consult(result.id)
    import uuid

    with refused(Reason.not_found) as missing, platform.transaction() as session:
        as_professional(session, platform, gp).consult(uuid.uuid4())
    assert str(hidden.value) == str(missing.value)
    with platform.transaction() as session:
        as_holder(session, platform, record).unhide(result.id)
        assert as_professional(session, platform, gp).list_documents(record.id).total == 1


def test_restricted_documents_reach_only_the_named(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, gp, colleague, cardiologist = world["record"], world["gp"], world["colleague"], world["cardiologist"]
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        for member in (gp, colleague, cardiologist):
            holder.add_to_circle(record.id, member.id)
        report = as_professional(session, platform, cardiologist).deposit(
            record.id, professional_draft(DocumentType.consultation_report, "Echo cardiaque"), [PDF]
        )
        holder.set_confidentiality(report.id, ConfidentialityLevel.restricted, named=[colleague.id])
    with platform.transaction() as session:
        seen = {p.family_name: as_professional(session, platform, p).list_documents(record.id).total
                for p in (gp, colleague, cardiologist)}
    assert seen == {"Hoffmann": 1, "Kieffer": 2, "Reuter": 2}
    with platform.transaction() as session:
        as_holder(session, platform, record).set_referring_doctor(record.id, gp.id)
        assert as_professional(session, platform, gp).list_documents(record.id).total == 2


def test_a_result_can_wait_for_the_consultation(platform: Platform, world, clock) -> None:  # type: ignore[no-untyped-def]
    record, biologist = world["record"], world["biologist"]
    release = clock.now() + timedelta(days=3)
    with platform.transaction() as session:
        from dataclasses import replace

        draft = replace(professional_draft(DocumentType.laboratory_report, "Biopsie"), visible_to_holder_from=release)
        as_professional(session, platform, biologist).deposit(record.id, draft, [PDF])
        assert as_holder(session, platform, record).list_documents(record.id).total == 1
    clock.advance(timedelta(days=3))
    with platform.transaction() as session:
        assert as_holder(session, platform, record).list_documents(record.id).total == 2


def test_assistants_act_for_the_holder_and_cannot_delegate(platform: Platform, world, clock) -> None:  # type: ignore[no-untyped-def]
    record = world["record"]
    with platform.transaction() as session:
        helper = make_person(session, platform, given_name="Paul")
        other = make_person(session, platform, given_name="Eva")
        holder_person = holder_of(session, record)
        as_holder(session, platform, record).designate_assistant(record.id, helper.id, until=clock.now() + timedelta(days=30))
        assistant = RecordAccess(session=session, platform=platform, actor=actors.assistant(helper, acting_for=holder_person))
        assert assistant.list_documents(record.id).total == 1
        assistant.set_emergency_allowed(record.id, False)
    with refused(Reason.assistant_cannot_delegate), platform.transaction() as session:
        RecordAccess(session=session, platform=platform, actor=actors.assistant(helper, acting_for=holder_of(session, record))) \
            .designate_assistant(record.id, other.id)
    with platform.sessions() as session:
        entry = [e for e in trace_of(session, record) if e.actor_id == str(helper.id)][0]
    assert entry.on_behalf_of == str(holder_person.id) and entry.basis == "assistant"
    clock.advance(timedelta(days=30))
    with refused(Reason.delegation_ended), platform.transaction() as session:
        RecordAccess(session=session, platform=platform, actor=actors.assistant(helper, acting_for=holder_of(session, record))) \
            .list_documents(record.id)


def test_a_parent_acts_for_a_minor_until_majority(platform: Platform, clock) -> None:  # type: ignore[no-untyped-def]
    from opendsp.persons.models import LegalRepresentation

    with platform.transaction() as session:
        child_record = make_record(session, platform, birth=date(2008, 1, 10))
        parent = make_person(session, platform, given_name="Mère")
        child = holder_of(session, child_record)
        session.add(LegalRepresentation(minor_id=child.id, representative_id=parent.id, created_at=clock.now()))
        session.flush()
        access = RecordAccess(session=session, platform=platform, actor=actors.representative(parent, acting_for=child))
        access.deposit(child_record.id, professional_draft(DocumentType.personal_document, "Carnet"), [PDF])
    clock.current = clock.current.replace(year=2026, month=1, day=10)
    with refused(Reason.representation_ended), platform.transaction() as session:
        child = holder_of(session, child_record)
        RecordAccess(session=session, platform=platform, actor=actors.representative(parent, acting_for=child)) \
            .list_documents(child_record.id)


def test_a_closed_record_refuses_professionals_and_deposits(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, gp, biologist = world["record"], world["gp"], world["biologist"]
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        holder.add_to_circle(record.id, gp.id)
        holder.close(record.id, reason="je ne souhaite plus partager")
    with refused(Reason.record_closed), platform.transaction() as session:
        as_professional(session, platform, gp).list_documents(record.id)
    with refused(Reason.record_closed), platform.transaction() as session:
        as_professional(session, platform, biologist).deposit(
            record.id, professional_draft(DocumentType.laboratory_report), [PDF]
        )
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        assert holder.list_documents(record.id).total == 1
        holder.reopen(record.id)
        assert as_professional(session, platform, gp).list_documents(record.id).total == 1
    with platform.sessions() as session:
        actions = [e.action for e in trace_of(session, record)]
    assert "record.close" in actions and "record.reopen" in actions


def test_agency_staff_never_see_content(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    with refused(Reason.agency_no_clinical_access), platform.transaction() as session:
        RecordAccess(session=session, platform=platform, actor=actors.agency("staff-1", "Helpdesk")) \
            .consult(world["result"].id)
    with platform.sessions() as session:
        assert trace_of(session, world["record"])[-1].actor_kind == "agency"


def test_the_storage_layer_acts_only_on_a_matching_permit(platform: Platform, world) -> None:  # type: ignore[no-untyped-def]
    record, result = world["record"], world["result"]
    wrong = Decision(effect=Effect.permit, action=Action.consult_document, reason=Reason.access_granted,
                     record_id=record.id, document_id=record.id)
    with platform.sessions() as session, pytest.raises(documents.NoPermit):
        documents.read_content(session=session, platform=platform, permit=wrong, document=result)


def test_bad_input_changes_nothing(platform: Platform, world, clock) -> None:  # type: ignore[no-untyped-def]
    import uuid

    record = world["record"]
    with platform.sessions() as session:
        before = len(trace_of(session, record))
    with pytest.raises(InvalidRequest), platform.transaction() as session:
        as_holder(session, platform, record).add_to_circle(record.id, uuid.uuid4())
    with pytest.raises(InvalidRequest), platform.transaction() as session:
        as_holder(session, platform, record).add_to_circle(record.id, world["gp"].id, until=clock.now())
    with pytest.raises(InvalidRequest, match="referring doctor"), platform.transaction() as session:
        as_holder(session, platform, record).set_referring_doctor(record.id, world["biologist"].id)
    with platform.sessions() as session:
        assert len(trace_of(session, record)) == before


def test_wishes_keep_their_history_and_only_the_holder_side_reads_them(platform: Platform, world, clock) -> None:  # type: ignore[no-untyped-def]
    from opendsp.access.wishes import WishKind, WishValue

    record = world["record"]
    with platform.transaction() as session:
        holder = as_holder(session, platform, record)
        holder.set_wish(record.id, WishKind.organ_donation, WishValue.yes)
        clock.advance(timedelta(days=1))
        holder.set_wish(record.id, WishKind.organ_donation, WishValue.no, comment="j'ai changé d'avis")
        history = holder.wishes(record.id)
    assert [(w.value, w.comment) for w in history] == [("no", "j'ai changé d'avis"), ("yes", None)]
    with refused(Reason.holder_only), platform.transaction() as session:
        as_professional(session, platform, world["gp"]).wishes(record.id)
    with refused(Reason.holder_only), platform.transaction() as session:
        as_professional(session, platform, world["gp"]).set_wish(record.id, WishKind.organ_donation, WishValue.yes)
