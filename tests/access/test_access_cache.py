"""The record's facts and grants kept between requests (``Platform.access_cache``, docs/adr/0031-request-caches.md).

Every kind of change of the holder's choices is seen by the very next request, whether the change was made by
this process or by another one (a second ``Platform`` with its own engine and caches, and a subprocess); time-bound
grants end without any write; a refused caller stays refused. Each case first warms the cache of the process
that asks, so that a stale entry would be served if the version did not move.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta

import pytest
from sqlalchemy import select

from opendsp.access.gate import Gate, Standing
from opendsp.access.models import EmergencyAccess, PresenceGrant
from opendsp.access.services import RecordAccess
from opendsp.actors import holder as holder_actor
from opendsp.clock import FrozenClock
from opendsp.persons.models import LegalRepresentation, Person
from opendsp.platform import Platform
from opendsp.policy.vocabulary import Action
from opendsp.professionals.models import OrganisationKind
from opendsp.records.models import Record
from opendsp.settings import Settings
from opendsp.stays.models import PatientClass, Stay, StayState
from tests.factories import (
    as_holder,
    as_professional,
    deposit_pdf,
    make_organisation,
    make_person,
    make_professional,
    make_record,
    professional_draft,
    PDF,
)


@dataclass
class Scene:
    record_id: uuid.UUID
    person_id: uuid.UUID
    member_id: uuid.UUID  # in the circle
    stranger_id: uuid.UUID  # not in it
    nurse_id: uuid.UUID  # a hospital's professional
    hospital_id: uuid.UUID
    friend_id: uuid.UUID  # a person who may become an assistant or a representative


@pytest.fixture
def scene(platform: Platform) -> Scene:
    with platform.transaction() as session:
        record = make_record(session, platform)
        member = make_professional(session, platform, family_name="Member")
        stranger = make_professional(session, platform, family_name="Stranger")
        hospital = make_organisation(session, platform, OrganisationKind.hospital, name="Hôpital")
        nurse = make_professional(session, platform, profession="nurse", specialties=(), organisation=hospital)
        friend = make_person(session, platform, given_name="Friend")
        as_holder(session, platform, record).add_to_circle(record.id, member.id)
        as_professional(session, platform, member).deposit(record.id, professional_draft(), [PDF])
        return Scene(record.id, record.person_id, member.id, stranger.id, nurse.id, hospital.id, friend.id)


@pytest.fixture
def other(settings: Settings, clock: FrozenClock, platform: Platform) -> Iterator[Platform]:
    """Another process, as far as caches go: its own engine, its own caches, the same database and clock."""
    other = Platform(settings=settings, clock=clock)
    yield other
    assert other.engine is not None
    other.engine.dispose()


def holder(platform: Platform, scene: Scene, act: Callable[[RecordAccess], object]) -> None:
    with platform.transaction() as session:
        person = session.get(Person, scene.person_id)
        assert person is not None
        act(RecordAccess(session=session, platform=platform, actor=holder_actor(person)))


def rows(act: Callable[..., object]) -> Callable[[Platform, Scene], None]:
    """A change written as plain rows, as another code path (a feed, a console, a script) would."""

    def change(target: Platform, scene: Scene) -> None:
        with target.transaction() as session:
            act(session, target, scene)

    return change


def standing(platform: Platform, scene: Scene) -> tuple[Standing, Standing]:
    """In one request of ``platform``: the standing the gate serves, and the one the database holds now."""
    with platform.transaction() as session:
        gate = Gate(session=session, platform=platform, actor=holder_actor(session.get(Person, scene.person_id)))
        record = session.get(Record, scene.record_id)
        assert record is not None
        served = gate._standing(record)  # noqa: SLF001 - the cache's answer itself is what is tested
        return served, gate._load_standing(record, platform.clock.now())  # noqa: SLF001


def may_list(platform: Platform, scene: Scene, professional_id: uuid.UUID) -> bool:
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        professional = session.get(Professional, professional_id)
        assert professional is not None
        return as_professional(session, platform, professional).may(scene.record_id, Action.list_documents)


def _presence(platform: Platform, scene: Scene) -> None:
    with platform.transaction() as session:
        code = as_holder(session, platform, session.get(Record, scene.record_id)).regenerate_presence_code(scene.record_id)
    with platform.transaction() as session:
        from opendsp.professionals.models import Professional

        stranger = session.get(Professional, scene.stranger_id)
        as_professional(session, platform, stranger).open_with_presence_code(scene.record_id, code)


def _end_presence(platform: Platform, scene: Scene) -> None:
    with platform.transaction() as session:
        grant = session.scalars(select(PresenceGrant).where(PresenceGrant.record_id == scene.record_id)).one()
        as_holder(session, platform, session.get(Record, scene.record_id)).end_presence_access(
            scene.record_id, grant.id)


def _emergency(session, platform: Platform, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    now = platform.clock.now()
    session.add(EmergencyAccess(record_id=scene.record_id, professional_id=scene.stranger_id, reason="test",
                                opened_at=now, expires_at=now + timedelta(hours=12)))


def _stay(session, platform: Platform, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    now = platform.clock.now()
    session.add(Stay(record_id=scene.record_id, organisation_id=scene.hospital_id, visit_number=uuid.uuid4().hex[:8],
                     patient_class=list(PatientClass)[0], state=StayState.in_progress, admitted_at=now, updated_at=now))


def _discharge(session, platform: Platform, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    stay = session.scalars(select(Stay).where(Stay.record_id == scene.record_id)).one()
    stay.state, stay.discharged_at = StayState.finished, platform.clock.now() - timedelta(days=30)


def _representative(session, platform: Platform, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    session.add(LegalRepresentation(minor_id=scene.person_id, representative_id=scene.friend_id,
                                    created_at=platform.clock.now()))


def _birth_date(session, platform: Platform, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    person = session.get(Person, scene.person_id)
    person.birth_date = date(2015, 2, 3)


def by_holder(act: Callable[[RecordAccess, Scene], object]) -> Callable[[Platform, Scene], None]:
    return lambda target, scene: holder(target, scene, lambda access: act(access, scene))


# (name, what is done first and not measured, the change, who is asked, may they list before, and after)
Change = Callable[[Platform, Scene], None]
CASES: list[tuple[str, Change | None, Change, str | None, bool | None, bool | None]] = [
    ("circle: added", None, by_holder(lambda a, s: a.add_to_circle(s.record_id, s.stranger_id)),
     "stranger_id", False, True),
    ("circle: removed", None, by_holder(lambda a, s: a.remove_from_circle(s.record_id, s.member_id)),
     "member_id", True, False),
    ("blocked", None, by_holder(lambda a, s: a.block(s.record_id, s.member_id)), "member_id", True, False),
    ("unblocked", by_holder(lambda a, s: a.block(s.record_id, s.member_id)),
     by_holder(lambda a, s: a.unblock(s.record_id, s.member_id)), "member_id", False, True),
    ("referring doctor", None, by_holder(lambda a, s: a.set_referring_doctor(s.record_id, s.stranger_id)),
     "stranger_id", False, True),
    ("emergency access refused", None, by_holder(lambda a, s: a.set_emergency_allowed(s.record_id, False)),
     None, None, None),
    ("presence code used", None, _presence, "stranger_id", False, True),
    ("presence access ended", _presence, _end_presence, "stranger_id", True, False),
    ("emergency access opened", None, rows(_emergency), "stranger_id", False, True),
    ("record closed", None, by_holder(lambda a, s: a.close(s.record_id)), "member_id", True, False),
    ("record reopened", by_holder(lambda a, s: a.close(s.record_id)), by_holder(lambda a, s: a.reopen(s.record_id)),
     "member_id", False, True),
    ("assistant designated", None, by_holder(lambda a, s: a.designate_assistant(s.record_id, s.friend_id)),
     None, None, None),
    ("assistant ended", by_holder(lambda a, s: a.designate_assistant(s.record_id, s.friend_id)),
     by_holder(lambda a, s: a.end_assistant(s.record_id, s.friend_id)), None, None, None),
    ("institutions refused", None, by_holder(lambda a, s: a.set_institutional_access(s.record_id, False)),
     None, None, None),
    ("one institution refused", None, by_holder(lambda a, s: a.refuse_institution(s.record_id, s.hospital_id)),
     None, None, None),
    ("stay admitted", None, rows(_stay), "nurse_id", False, True),
    ("stay finished long ago", rows(_stay), rows(_discharge), "nurse_id", True, False),
    ("legal representative", None, rows(_representative), None, None, None),
    ("holder's birth date corrected", None, rows(_birth_date), None, None, None),
]


@pytest.mark.parametrize("where", ["this process", "another process"])
@pytest.mark.parametrize(("name", "before", "change", "asked", "allowed_before", "allowed_after"), CASES,
                         ids=[case[0] for case in CASES])
def test_every_change_of_the_holders_choices_is_seen_by_the_next_request(
    platform: Platform, other: Platform, scene: Scene, where: str, name: str, before: Change | None, change: Change,
    asked: str | None, allowed_before: bool | None, allowed_after: bool | None,
) -> None:
    if before is not None:
        before(platform, scene)
    served, current = standing(platform, scene)
    assert served == current
    if asked is not None:
        assert may_list(platform, scene, getattr(scene, asked)) is allowed_before
    served_again, _ = standing(platform, scene)
    assert served_again is served, "the second request is served from the cache"

    change(platform if where == "this process" else other, scene)

    after, current = standing(platform, scene)
    assert after == current, name
    if not name.startswith("record"):  # a record's state is read with the record itself, every request
        assert (after.grants, after.holder_birth_date) != (served.grants, served.holder_birth_date), "it mattered"
    if asked is not None:
        assert may_list(platform, scene, getattr(scene, asked)) is allowed_after
        assert may_list(other, scene, getattr(scene, asked)) is allowed_after


def test_hidden_documents_and_confidentiality_are_read_with_the_documents(platform: Platform, scene: Scene) -> None:
    """Not part of the cached standing: each request reads them from the documents' rows."""

    def seen() -> int:
        with platform.transaction() as session:
            from opendsp.professionals.models import Professional

            member = as_professional(session, platform, session.get(Professional, scene.member_id))
            return member.list_documents(scene.record_id).total

    with platform.transaction() as session:
        document = deposit_pdf(session, platform, session.get(Record, scene.record_id))
    assert seen() == 2
    holder(platform, scene, lambda access: access.hide(document.id))
    assert seen() == 1
    holder(platform, scene, lambda access: access.unhide(document.id))
    assert seen() == 2


def test_time_bound_grants_end_without_any_write(platform: Platform, clock: FrozenClock, scene: Scene) -> None:
    _presence(platform, scene)
    rows(_stay)(platform, scene)
    assert may_list(platform, scene, scene.stranger_id) and may_list(platform, scene, scene.nurse_id)
    served, _ = standing(platform, scene)
    assert standing(platform, scene)[0] is served
    assert served.until is not None and served.until <= clock.now() + timedelta(hours=24)

    clock.advance(served.until - clock.now())  # the presence code's access ends now: no row changes
    assert not may_list(platform, scene, scene.stranger_id)
    assert may_list(platform, scene, scene.nurse_id)
    after, current = standing(platform, scene)
    assert after == current and after is not served and scene.stranger_id not in after.grants.presence

    # A stay finished: its access lasts the period after discharge, then ends with no write either.
    rows(lambda session, target, s: _finish_now(session, target, s))(platform, scene)
    assert may_list(platform, scene, scene.nurse_id)
    clock.advance(platform.matrix.parameters.after_discharge + timedelta(seconds=1))
    assert not may_list(platform, scene, scene.nurse_id)


def _finish_now(session, platform: Platform, scene: Scene) -> None:  # type: ignore[no-untyped-def]
    stay = session.scalars(select(Stay).where(Stay.record_id == scene.record_id)).one()
    stay.state, stay.discharged_at = StayState.finished, platform.clock.now()


def test_a_circle_membership_ends_on_its_date(platform: Platform, clock: FrozenClock, scene: Scene) -> None:
    holder(platform, scene, lambda a: a.add_to_circle(scene.record_id, scene.stranger_id,
                                                      until=clock.now() + timedelta(days=2)))
    assert may_list(platform, scene, scene.stranger_id)
    assert may_list(platform, scene, scene.stranger_id)  # from the cache
    clock.advance(timedelta(days=2, seconds=1))
    assert not may_list(platform, scene, scene.stranger_id)


def test_a_refused_caller_stays_refused_and_its_refusals_are_traced(platform: Platform, scene: Scene) -> None:
    from opendsp.trace.models import TraceEntry

    for _ in range(3):
        with pytest.raises(Exception) as refused, platform.transaction() as session:
            from opendsp.professionals.models import Professional

            stranger = as_professional(session, platform, session.get(Professional, scene.stranger_id))
            stranger.list_documents(scene.record_id)
        assert type(refused.value).__name__ == "AccessDenied"
    with platform.transaction() as session:
        refusals = session.scalars(select(TraceEntry).where(
            TraceEntry.record_id == scene.record_id, TraceEntry.actor_id == str(scene.stranger_id))).all()
    assert [entry.outcome.value for entry in refusals] == ["refused"] * 3


def test_a_session_that_wrote_is_neither_served_nor_stored(platform: Platform, scene: Scene) -> None:
    """Its own uncommitted change moved the version in the database, not in the record it holds."""
    from opendsp.professionals.models import Professional

    class Undone(Exception):
        pass

    assert not may_list(platform, scene, scene.stranger_id)  # warm: the stranger is refused
    with pytest.raises(Undone), platform.transaction() as session:
        access = as_holder(session, platform, session.get(Record, scene.record_id))
        access.add_to_circle(scene.record_id, scene.stranger_id)
        stranger = as_professional(session, platform, session.get(Professional, scene.stranger_id))
        assert stranger.may(scene.record_id, Action.list_documents)  # its own change, not the cached refusal
        raise Undone
    assert not may_list(platform, scene, scene.stranger_id)  # the change rolled back: nothing of it was kept


def test_a_change_made_by_a_subprocess_is_seen_by_the_next_request(platform: Platform, scene: Scene,
                                                                   settings: Settings) -> None:
    assert may_list(platform, scene, scene.member_id)
    assert may_list(platform, scene, scene.member_id)  # now in this process's cache
    script = textwrap.dedent(f"""
        import uuid
        from opendsp.access.services import RecordAccess
        from opendsp.actors import holder
        from opendsp.persons.models import Person
        from opendsp.platform import Platform
        from opendsp.settings import Settings
        platform = Platform(settings=Settings(var_dir={str(settings.var_dir)!r}, database_url={settings.database_url!r},
                                              password_hash_profile="fast"))
        with platform.transaction() as session:
            person = session.get(Person, uuid.UUID({str(scene.person_id)!r}))
            access = RecordAccess(session=session, platform=platform, actor=holder(person))
            access.block(uuid.UUID({str(scene.record_id)!r}), uuid.UUID({str(scene.member_id)!r}))
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert not may_list(platform, scene, scene.member_id)


def test_a_change_made_in_plain_sql_is_seen_by_the_next_request(platform: Platform, scene: Scene) -> None:
    from sqlalchemy import text

    assert may_list(platform, scene, scene.member_id)
    assert may_list(platform, scene, scene.member_id)  # now in this process's cache
    assert platform.engine is not None
    with platform.engine.begin() as connection:  # as a DBA's script would, past every service
        connection.execute(text("DELETE FROM circle_members WHERE record_id = :record AND professional_id = :member"),
                           {"record": scene.record_id.hex if platform.engine.dialect.name == "sqlite"
                            else scene.record_id,
                            "member": scene.member_id.hex if platform.engine.dialect.name == "sqlite"
                            else scene.member_id})
    assert not may_list(platform, scene, scene.member_id)


def test_the_cache_is_bounded(settings: Settings, clock: FrozenClock, scene: Scene) -> None:
    small = Platform(settings=settings.model_copy(update={"access_cache_size": 1}), clock=clock)
    try:
        standing(small, scene)
        assert len(small.access_cache) == 1
        with small.transaction() as session:
            record = make_record(session, small)
        standing(small, Scene(record.id, record.person_id, *([uuid.uuid4()] * 5)))
        assert len(small.access_cache) == 1
    finally:
        assert small.engine is not None
        small.engine.dispose()



def test_a_cache_of_size_0_keeps_nothing_and_the_defaults_are_those_documented(
        settings: Settings, clock: FrozenClock, scene: Scene) -> None:
    assert (Settings().access_cache_size, Settings().caller_cache_size) == (50_000, 10_000)  # docs/operations.md
    none = Platform(settings=settings.model_copy(update={"access_cache_size": 0}), clock=clock)
    try:
        for _ in range(2):
            served, fresh = standing(none, scene)
            assert served.grants == fresh.grants
        assert len(none.access_cache) == 0 and none.access_cache.hits == 0
    finally:
        assert none.engine is not None
        none.engine.dispose()


def test_every_table_the_grants_are_read_from_moves_the_version() -> None:
    """A table added to the grants without its trigger (or, for a reference table, without opendsp.counters
    following it) would be cached stale: the lists must agree."""
    import importlib.util
    from pathlib import Path

    from opendsp.access.gate import GRANT_SOURCES

    path = Path(__file__).parents[2] / "src/opendsp/migrations/versions/0022_policy_versions.py"
    spec = importlib.util.spec_from_file_location("policy_versions", path)
    assert spec is not None and spec.loader is not None
    migration = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(migration)
    from opendsp.counters import POLICY_SOURCES
    from opendsp.distribution import TABLES, Kind

    # Migration 0026 dropped the triggers of the reference tables; the application follows those instead.
    triggered = {table for table, _column, _target in migration.RECORD_SOURCES if TABLES[table].kind is Kind.record}
    followed = {table for table in POLICY_SOURCES if TABLES[table].kind is Kind.reference}
    read = {source.__tablename__ for source in GRANT_SOURCES}
    # The record's own row is read every request; the holder's row moves the version on a new birth date.
    assert read - {"records", "persons"} == triggered | (followed - {"persons"})
    assert not triggered & followed


def test_a_detached_record_merged_back_never_rewinds_the_version(platform: Platform, scene: Scene) -> None:
    """A record loaded earlier, detached, then merged into a change's session carries its old version; written back
    by the flush, it would rewind the counter, and the change's own step forward would land on a key already cached
    with the grants before the change: a professional removed from the circle would keep reading."""
    with platform.sessions() as session:
        stale = session.get(Record, scene.record_id)
        assert stale is not None
        session.expunge(stale)
    holder(platform, scene, lambda access: access.add_to_circle(scene.record_id, scene.stranger_id))
    assert may_list(platform, scene, scene.stranger_id)  # cached with the stranger in the circle
    with platform.transaction() as session:  # the removal, through the detached record merged back
        as_holder(session, platform, session.merge(stale)).remove_from_circle(scene.record_id, scene.stranger_id)
    assert not may_list(platform, scene, scene.stranger_id)
    served, fresh = standing(platform, scene)
    assert served.grants == fresh.grants
