"""The platform's jobs from the command line go through ``PlatformJobs`` and are in the trace.

`store check` wrote no trace entry before the door existed (not even when it removed content or opened every
document with ``--verify``); these tests fail on a command line that calls the content store itself.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from sqlalchemy import select

from opendsp.access.trace_reading import OTHERS_THAN_HOLDER_SIDE, TraceQuery
from opendsp.locale import translations
from opendsp.persons.models import Person
from opendsp.platform import Platform
from opendsp.records.models import Record
from opendsp.trace.models import PLATFORM_CHAIN, TraceEntry
from opendsp.trace.service import verify
from tests.factories import as_holder, deposit_pdf, make_record, run_jobs


def run(platform: Platform, *args: str) -> Result:
    from opendsp.cli import main

    environment = {"OPENDSP_DATABASE_URL": platform.settings.database_url,
                   "OPENDSP_VAR_DIR": str(platform.settings.var_dir)}
    return CliRunner().invoke(main, list(args), env=environment, catch_exceptions=False)


def entries(platform: Platform, action: str) -> list[TraceEntry]:
    with platform.sessions() as session:
        return list(session.scalars(select(TraceEntry).where(TraceEntry.action == action).order_by(TraceEntry.id)))


def test_store_check_is_one_entry_on_the_platform_chain_saying_what_it_removed(platform: Platform) -> None:
    orphan = "records/00000000-0000-0000-0000-000000000000/left-behind"
    platform.content.blobs.put(orphan, [b"sealed bytes"])

    result = run(platform, "store", "check", "--grace-minutes", "0")

    assert result.exit_code == 0, result.output
    [entry] = entries(platform, "content.check")
    assert (entry.chain, entry.actor_kind, entry.record_id) == (PLATFORM_CHAIN, "system", None)
    assert entry.context["orphans"] == 1 and entry.context["removing"] is True
    assert entries(platform, "content.verify") == []  # nothing opened without --verify


def test_store_check_verify_tells_each_record_how_many_of_its_documents_were_opened(platform: Platform) -> None:
    with platform.transaction() as session:
        first, second = make_record(session, platform), make_record(session, platform)
        deposit_pdf(session, platform, first)
        deposit_pdf(session, platform, first)
        deposit_pdf(session, platform, second)
        first_id, second_id = first.id, second.id

    result = run(platform, "store", "check", "--verify", "--dry-run")

    assert result.exit_code == 0, result.output
    opened = {e.record_id: (e.chain, e.context["documents"]) for e in entries(platform, "content.verify")}
    assert opened == {first_id: (str(first_id), 2), second_id: (str(second_id), 1)}
    with platform.sessions() as session:
        assert verify(session).intact
    # The holder's Traçabilité tells it in words, among the accesses by others shown first.
    with platform.transaction() as session:
        holder = as_holder(session, platform, session.get(Record, first_id))
        lines = holder.trace_page(first_id, TraceQuery(who=OTHERS_THAN_HOLDER_SIDE)).lines
    [line] = [line for line in lines if line.action == "content.verify"]
    assert line.actor_kind == "system"
    assert translations("fr").gettext(line.act) == ("Documents vérifiés par la plateforme (leur contenu ouvert pour "
                                                    "contrôler qu'il est intact)")


@pytest.mark.parametrize("everything", [False, True], ids=["unindexed", "all"])
def test_reindex_through_the_door_is_in_each_record_trace(platform: Platform, everything: bool) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        deposit_pdf(session, platform, record)
        record_id = record.id
    run_jobs(platform)  # the worker indexes what is deposited

    result = run(platform, "search", "reindex", *(["--all"] if everything else []))

    assert result.exit_code == 0, result.output
    indexed = [(e.record_id, e.context["documents"]) for e in entries(platform, "search.index")]
    # Deposited documents are indexed already: only --all opens them again, and says so.
    assert indexed == ([(record_id, 1)] if everything else [])


def test_outbox_retry_is_traced_as_the_platform(platform: Platform) -> None:
    result = run(platform, "outbox", "retry")

    assert result.exit_code == 0, result.output
    assert "0 message(s) due again" in result.output
    [entry] = entries(platform, "outbox.retry")
    assert (entry.chain, entry.actor_kind, entry.context["requeued"]) == (PLATFORM_CHAIN, "system", 0)
    status = run(platform, "outbox", "status")
    assert status.exit_code == 0 and "0 failed" in status.output


def test_backup_is_one_entry_on_the_platform_chain_saying_what_it_holds(platform: Platform, tmp_path: Path) -> None:
    with platform.transaction() as session:
        record = make_record(session, platform)
        deposit_pdf(session, platform, record)
        holder = session.get(Person, record.person_id)
        assert holder is not None
        names = (holder.family_name, holder.given_name, holder.national_number)
    folder = tmp_path / "backups" / "monday"

    result = run(platform, "backup", str(folder))

    assert result.exit_code == 0, result.output
    [entry] = entries(platform, "backup")
    assert (entry.chain, entry.actor_kind, entry.record_id) == (PLATFORM_CHAIN, "system", None)
    assert (entry.context["folder"], entry.context["documents"], entry.context["blobs"]) == (str(folder), 1, 1)
    assert entry.context["checkpoint"] is None  # no checkpoint written yet
    assert not any(name in str(entry.context) for name in names)  # counts, never a person
    with platform.sessions() as session:
        assert verify(session).intact
    # A backup refused (a folder in use) did nothing, and says nothing.
    assert run(platform, "backup", str(folder)).exit_code == 2
    assert len(entries(platform, "backup")) == 1


def test_import_population_is_one_entry_on_the_platform_chain_with_counts(platform: Platform, tmp_path: Path) -> None:
    from tests.population.test_import import GOOD, write

    extract = write(tmp_path, GOOD)

    result = run(platform, "import-population", str(extract))

    assert result.exit_code == 0, result.output
    [entry] = entries(platform, "population.import")
    assert (entry.chain, entry.actor_kind, entry.record_id) == (PLATFORM_CHAIN, "system", None)
    assert (entry.context["file"], entry.context["created"], entry.context["rejected"]) == ("extract.csv", 4, 0)
    assert not any(name in str(entry.context) for name in ("Weber", "Muller", "Lena"))  # counts, never a person
    with platform.sessions() as session:  # each record created is in its own chain
        records = set(session.scalars(select(Record.id)))
        created = set(session.scalars(select(TraceEntry.record_id).where(TraceEntry.record_id.in_(records))))
    assert len(records) == 4 and created == records
    # The same extract again changes nothing, and the trace says nothing more.
    assert run(platform, "import-population", str(extract)).exit_code == 0
    assert len(entries(platform, "population.import")) == 1
