"""Properties that hold over any settings and any request (hypothesis)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from opendsp.actors import ActorKind
from opendsp.documents.types import ConfidentialityLevel, DocumentStatus, DocumentType
from opendsp.policy import Action, Basis, DocumentFacts, Effect, Grants, decide, visibility
from opendsp.policy.facts import StayGrant
from opendsp.policy.matrix import default_matrix
from opendsp.professionals.models import OrganisationKind
from opendsp.professionals.vocabulary import PROFESSIONS, SPECIALTIES
from opendsp.records.models import RecordState
from tests.policy.scenario import (
    AGENCY,
    ASSISTANT,
    BIOLOGIST,
    CARDIOLOGIST,
    DENTIST,
    ER_DOCTOR,
    GP,
    GP_SAME_PRACTICE,
    HEALER,
    HOLDER,
    HOME_CARE_NURSE,
    HOSPITAL_ID,
    JOB,
    MIDWIFE,
    NOW,
    NURSE,
    PARENT,
    PHARMACIST,
    PHYSIOTHERAPIST,
    RADIOGRAPHER,
    RADIOLOGIST,
    RECORD,
    WARD_NURSE,
    pid,
    request,
)

PROFESSIONALS = [GP, GP_SAME_PRACTICE, CARDIOLOGIST, ER_DOCTOR, NURSE, PHARMACIST, BIOLOGIST, DENTIST, HEALER, WARD_NURSE,
                 RADIOLOGIST, RADIOGRAPHER, MIDWIFE, HOME_CARE_NURSE, PHYSIOTHERAPIST]
ORGANISATIONS = sorted({p.organisation_id for p in PROFESSIONALS if p.organisation_id})
ACTORS = [*PROFESSIONALS, HOLDER, ASSISTANT, PARENT, AGENCY, JOB]
PROFESSIONAL_IDS = [pid(p) for p in PROFESSIONALS]
moments = st.integers(-48, 48).map(lambda hours: NOW + timedelta(hours=hours))
maybe_moment = st.none() | moments


@st.composite
def grants(draw: st.DrawFn) -> Grants:
    some = st.sets(st.sampled_from(PROFESSIONAL_IDS), max_size=5)  # bounded: fifteen professionals, five sets
    return Grants(
        circle={p: draw(maybe_moment) for p in draw(some)},
        referring_doctor=draw(st.none() | st.sampled_from(PROFESSIONAL_IDS)),
        blocked=frozenset(draw(some)),
        emergency_allowed=draw(st.booleans()),
        presence={p: draw(moments) for p in draw(some)},
        emergency={p: draw(moments) for p in draw(some)},
        assistants={pid(ASSISTANT): draw(maybe_moment)} if draw(st.booleans()) else {},
        representatives=frozenset({pid(PARENT)}) if draw(st.booleans()) else frozenset(),
        stays={
            organisation: StayGrant(draw(st.uuids()), HOSPITAL_ID, draw(maybe_moment))
            for organisation in draw(st.sets(st.sampled_from(ORGANISATIONS)))
        },
        institutional_access_allowed=draw(st.booleans()),
        refused_institutions=frozenset({HOSPITAL_ID}) if draw(st.booleans()) else frozenset(),
    )


@st.composite
def documents(draw: st.DrawFn) -> DocumentFacts:
    by_holder = draw(st.booleans())
    return DocumentFacts(
        id=draw(st.uuids()),
        type=draw(st.sampled_from(DocumentType)),
        status=draw(st.sampled_from(DocumentStatus)),
        confidentiality=draw(st.sampled_from(ConfidentialityLevel)),
        author_id=None if by_holder else draw(st.sampled_from(PROFESSIONAL_IDS)),
        authored_by_holder=by_holder,
        hidden=draw(st.booleans()),
        named_professionals=frozenset(draw(st.sets(st.sampled_from(PROFESSIONAL_IDS), max_size=3))),
        visible_to_holder_from=draw(maybe_moment),
    )


@st.composite
def requests(draw: st.DrawFn):  # type: ignore[no-untyped-def]
    record = replace(RECORD, state=draw(st.sampled_from(RecordState)))
    if draw(st.booleans()):
        record = replace(record, holder_birth_date=record.holder_birth_date.replace(year=2015))
    return request(
        draw(st.sampled_from(ACTORS)),
        draw(st.sampled_from(Action)),
        record=record,
        grants=draw(grants()),
        document=draw(st.none() | documents()),
        document_type=draw(st.none() | st.sampled_from(DocumentType)),
        presence_code_valid=draw(st.booleans()),
        presence_code_locked=draw(st.booleans()),
        emergency_reason=draw(st.sampled_from([None, "", "unconscious"])),
    )


@given(requests())
def test_a_blocked_professional_never_gets_a_permit(req) -> None:  # type: ignore[no-untyped-def]
    # A block is set on a record; looking patients up in the directory concerns no record.
    if req.actor.kind is ActorKind.professional and req.action is not Action.find_patients:
        req = replace(req, grants=replace(req.grants, blocked=req.grants.blocked | {pid(req.actor)}))
        assert decide(req).effect is Effect.deny


@given(requests())
def test_no_permit_without_a_basis(req) -> None:  # type: ignore[no-untyped-def]
    decision = decide(req)
    if decision.permitted:
        assert decision.basis is not None


@given(requests())
def test_the_holder_s_side_deposits_only_the_types_the_matrix_gives_it(req) -> None:  # type: ignore[no-untyped-def]
    # The personal space and the vaccinations the holder declares: never a professional's type.
    req = replace(req, action=Action.deposit_document)
    if req.actor.kind in (ActorKind.holder, ActorKind.assistant, ActorKind.representative) and decide(req).permitted:
        assert req.document_type in default_matrix().holder_deposit
        assert req.record is not None and req.record.state is RecordState.active


@given(requests())
def test_every_decision_names_its_reason_and_act(req) -> None:  # type: ignore[no-untyped-def]
    decision = decide(req)
    assert decision.action is req.action and decision.message


@given(requests(), documents())
def test_a_hidden_document_is_never_visible_to_a_professional(req, doc) -> None:  # type: ignore[no-untyped-def]
    hidden = replace(doc, hidden=True)
    if req.actor.kind is ActorKind.professional:
        assert not visibility(req).admits(hidden)
        assert not decide(replace(req, action=Action.consult_document, document=hidden)).permitted


@given(requests(), documents())
def test_what_a_list_shows_is_exactly_what_can_be_consulted(req, doc) -> None:  # type: ignore[no-untyped-def]
    """Lists and consultations come from one rule: no list reveals a document that cannot be read."""
    listed = visibility(req).admits(doc)
    consulted = decide(replace(req, action=Action.consult_document, document=doc)).permitted
    assert listed == consulted


@given(st.integers(min_value=-10**6, max_value=48 * 3600 * 10**6))
def test_presence_code_access_ends_at_exactly_24_hours(microseconds: int) -> None:
    hours = default_matrix().parameters.presence_access
    opened = NOW
    expires = opened + hours
    moment = opened + timedelta(microseconds=microseconds)
    req = request(CARDIOLOGIST, Action.list_documents, grants=Grants(presence={pid(CARDIOLOGIST): expires}), now=moment)
    assert decide(req).permitted == (moment < opened + timedelta(hours=24))


@given(requests())
def test_a_stay_never_outlives_its_period_nor_the_holders_refusal(req) -> None:  # type: ignore[no-untyped-def]
    decision = decide(req)
    if decision.permitted and decision.basis is Basis.stay:
        stay = req.grants.stays[req.actor.organisation_id]
        assert stay.until is None or req.now < stay.until
        assert req.grants.institutional_access_allowed and stay.hospital_id not in req.grants.refused_institutions


# -- the rights matrix over every profession, specialty and organisation ---------------------------

rights_holders = st.tuples(
    st.sampled_from(sorted(PROFESSIONS)),
    st.frozensets(st.sampled_from(sorted(SPECIALTIES)), max_size=3),
    st.none() | st.sampled_from([kind.value for kind in OrganisationKind]),
)


@given(rights_holders)
def test_only_a_pharmacist_deposits_a_dispensation_and_never_a_prescription(who) -> None:  # type: ignore[no-untyped-def]
    profession, specialties, organisation = who
    rights = default_matrix().rights_of(profession, specialties, organisation)
    assert rights is not None
    assert (DocumentType.dispensation in rights.deposit) == (profession == "pharmacist")
    if profession == "pharmacist":
        assert DocumentType.prescription not in rights.deposit
    assert DocumentType.dispensation not in rights.direct_deposit  # a pharmacy needs an access basis


@given(rights_holders)
def test_who_prescribes_or_gives_medicines_sees_what_was_dispensed(who) -> None:  # type: ignore[no-untyped-def]
    profession, specialties, organisation = who
    rights = default_matrix().rights_of(profession, specialties, organisation)
    assert rights is not None
    if DocumentType.prescription in rights.deposit or profession in ("nurse", "home_care_nurse"):
        assert DocumentType.dispensation in rights.consult
    # Whoever may deposit a type may read what they deposit.
    assert rights.deposit <= rights.consult


@given(requests(), st.sampled_from([DocumentType.dispensation, DocumentType.imaging_report,
                                    DocumentType.discharge_letter, DocumentType.vaccination_record]))
def test_a_deposit_of_a_new_category_is_permitted_only_by_the_matrix(req, kind) -> None:  # type: ignore[no-untyped-def]
    """No basis (circle, stay, presence code, emergency) adds a type the matrix does not give the profession."""
    req = replace(req, action=Action.deposit_document, document_type=kind, document=None)
    decision = decide(req)
    if decision.permitted and req.actor.kind is ActorKind.professional:
        rights = default_matrix().rights_of(req.actor.profession, req.actor.specialties, req.actor.organisation_kind)
        assert rights is not None and (kind in rights.deposit or kind in rights.direct_deposit)
