"""Every statement the service sends about clinical data names its record: proved on the SQL itself.

An engine listener records each statement run while the representative flows go through the real adapters —
a laboratory deposits over FHIR (ITI-65), the circle doctor searches, reads and retrieves, the holder logs in
to the portal, uploads, searches, reads, hides a document and changes the circle — and each is parsed
(tests/operations/scoping.py): a statement that touches a distributed table without pinning its distribution
column fails the test, unless it is one of UNSCOPED, the known cross-record statements, each with its reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from sqlalchemy import Engine, event, select

from opendsp.access.models import CircleMember
from opendsp.clock import FrozenClock
from opendsp.documents.models import Document
from opendsp.persons.models import Person
from opendsp.platform import Platform
from tests.accounts.portal import Browser
from tests.factories import PDF, run_jobs
from tests.fhir.conftest import LAB_REPORT, Fhir, World, fhir, provide_bundle, world  # noqa: F401 - fixtures
from tests.operations.scoping import judge
from tests.search.pdfs import pdf_with_text
from tests.web.test_holder_documents import person_browser, upload

# Statements that touch clinical tables without naming the record, issued by the flows below, each with why.
# The test fails on a statement not listed here, and on one listed that its flow no longer issues. Each is a
# question whose caller does not know the record: the key it holds is a person's, an assistant's, a document's
# or a sender's identifier. On a database distributed by record they run on every node (one index lookup each)
# and stay correct; a directory by that key would send them to one node (docs/operations.md, "Scale-out").
# The ORM writes a row by its primary key, which holds the record id (db.record_primary_key), and the worker reads a
# job's document by its record, so neither is here any more.
UNSCOPED: dict[str, str] = {
    "assistant_delegations, records where assistant_delegations.assistant_id = ? "
    "AND assistant_delegations.ended_at IS NULL":
        "the records an assistant acts for: a question about one person over many records, cross-record by "
        "nature (way out if it is ever hot: a delegation directory distributed by assistant)",
}


class Statements:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.seen: list[str] = []
        self.dialect = "postgres" if engine.dialect.name == "postgresql" else "sqlite"

    def _record(self, _conn, _cursor, statement, _parameters, _context, _executemany) -> None:  # type: ignore[no-untyped-def]
        self.seen.append(statement)

    @contextmanager
    def recording(self) -> Iterator[None]:
        event.listen(self.engine, "before_cursor_execute", self._record)
        try:
            yield
        finally:
            event.remove(self.engine, "before_cursor_execute", self._record)

    def unscoped(self) -> dict[str, str]:
        """The statements not scoped to records, by signature (one of the statements as an example)."""
        found: dict[str, str] = {}
        for statement in self.seen:
            if statement.split(None, 1)[0].upper() in {"BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE",
                                                       "PRAGMA"}:
                continue
            verdict = judge(statement, self.dialect)
            if not verdict.scoped:
                found.setdefault(verdict.signature, statement)
        return found

    def assert_only(self, *signatures: str) -> None:
        assert self.seen, "no statement recorded"
        found = self.unscoped()
        unexpected = {signature: found[signature] for signature in set(found) - set(signatures)}
        assert unexpected == {}, "statements about clinical rows that name no record"
        assert set(signatures) <= set(UNSCOPED)
        assert set(found) == set(signatures), "a listed statement is no longer issued: take it off UNSCOPED"


@pytest.fixture
def statements(platform: Platform) -> Statements:
    assert platform.engine is not None
    return Statements(platform.engine)


def test_the_fhir_flows_name_the_record_in_every_clinical_statement(
        platform: Platform, world: World, fhir: Fhir, statements: Statements) -> None:  # noqa: F811 - fixtures
    lab = fhir.token(world.software["lab"], world.biologist)
    gp = fhir.token(world.software["hospital"], world.gp)
    with statements.recording():
        response = fhir.post("/fhir/", lab, provide_bundle(world.person_id, type_coding=LAB_REPORT))
        assert response.status_code == 200, response.text
        found = fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}", gp).json()
        (entry,) = found["entry"]
        document_id = entry["resource"]["id"]
        assert fhir.get(f"/fhir/DocumentReference/{document_id}", gp).status_code == 200
        url = entry["resource"]["content"][0]["attachment"]["url"]
        assert fhir.get(url, gp, headers={"Accept": "application/pdf"}).content == PDF
        # A new version replaces it (the link between the two versions stays inside the record).
        response = fhir.post("/fhir/", lab, provide_bundle(world.person_id, replaces=document_id, title="Bilan v2"))
        assert response.status_code == 200, response.text
        assert fhir.get(f"/fhir/List?patient={world.person_id}&code=submissionset", gp).status_code == 200
    statements.assert_only()


def test_the_portal_flows_name_the_record_in_every_clinical_statement(
        platform: Platform, clock: FrozenClock, world: World, statements: Statements) -> None:  # noqa: F811
    with platform.sessions() as session:
        holder = session.get(Person, world.person_id)
    with statements.recording():
        browser: Browser = person_browser(platform, clock, holder)
        response = upload(browser, pdf_with_text("Carnet de vaccination"), title="Carnet de vaccination")
        assert response.status_code == 303, response.text[-3000:]
        run_jobs(platform)  # the worker indexes it: its statements are checked too
        page = browser.submit("/record/search", {"q": "vaccination"}, form_page="/record/search").text
        assert "Documents found: 1" in page
        assert browser.get("/record/documents").status_code == 200
        with platform.sessions() as session:
            document_id = session.scalars(select(Document.id).where(Document.record_id == world.record.id)).one()
        assert browser.get(f"/record/documents/{document_id}").status_code == 200
        assert browser.submit(f"/record/hidden/{document_id}/hide", {}, form_page="/record/hidden").status_code == 303
        browser.submit("/record/professionals", {"q": "reuter"}, form_page="/record/professionals")
        response = browser.submit("/record/professionals/circle", {"professional": str(world.outsider.id)})
        assert response.status_code == 303
    with platform.sessions() as session:
        assert session.get(Document, document_id).hidden_at is not None  # type: ignore[union-attr]
        assert session.scalars(select(CircleMember).where(CircleMember.record_id == world.record.id,
                                                          CircleMember.professional_id == world.outsider.id)).one()
    statements.assert_only(
        "assistant_delegations, records where assistant_delegations.assistant_id = ? "
        "AND assistant_delegations.ended_at IS NULL",
    )


def test_a_statement_that_names_no_record_fails_the_check(platform: Platform, statements: Statements) -> None:
    from sqlalchemy import text

    assert platform.engine is not None
    with statements.recording(), platform.engine.connect() as connection:
        connection.execute(text("SELECT count(*) FROM search_terms WHERE token = 'x' OR record_id IS NULL"))
    with pytest.raises(AssertionError, match="name no record"):
        statements.assert_only()


def test_every_clinical_model_names_its_record_in_the_orm_writes() -> None:
    """The ORM writes a row by its table's primary key (whatever the mapper's identity): every model distributed by
    record has a primary key that holds the record id, so every UPDATE and DELETE names it."""
    from opendsp.db import Base
    from tests.operations.distribution import TABLES, Kind

    keyed = []
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        placement = TABLES.get(table.name)
        if placement is None or placement.kind is not Kind.record or table.name == "records":
            continue
        assert set(table.primary_key.columns) <= set(mapper.columns), f"{table.name}: the primary key is not all mapped"
        assert "record_id" in {column.name for column in table.primary_key}, f"{table.name}: record_primary_key"
        keyed.append(table.name)
    assert {"documents", "circle_members", "notifications", "search_terms", "stays",
            "fhir_folder_entries"} <= set(keyed)


def test_a_clinical_row_identified_by_its_id_alone_is_found_by_an_index() -> None:
    """Where the ORM's identity leaves the record out (``session.get(Document, id)``: a FHIR URL names a document
    by its id), an index leads with that identity, so that the lookup is one index probe (on each node, once
    distributed) and never a scan of every record's rows."""
    from opendsp.db import Base
    from tests.operations.distribution import TABLES, Kind

    by_id = []
    for mapper in Base.registry.mappers:
        table = mapper.local_table
        placement = TABLES.get(table.name)
        if placement is None or placement.kind is not Kind.record or table.name == "records":
            continue
        identity = [column.name for column in mapper.primary_key]
        if "record_id" in identity:
            continue
        keys = [[column.name for column in index.columns] for index in table.indexes]
        keys += [[column.name for column in table.primary_key]]
        keys += [[column.name for column in constraint.columns] for constraint in table.constraints
                 if constraint.__class__.__name__ == "UniqueConstraint"]
        assert any(key[:len(identity)] == identity for key in keys), f"{table.name}: no index for {identity}"
        by_id.append(table.name)
    assert {"documents", "notifications", "stays", "wishes", "fhir_folders"} <= set(by_id)


def test_an_orm_write_names_the_record_and_reaches_no_row_of_another(platform: Platform,
                                                                       statements: Statements) -> None:
    from datetime import UTC, datetime

    from sqlalchemy.orm.attributes import set_committed_value
    from sqlalchemy.orm.exc import StaleDataError

    from tests.factories import deposit_pdf, make_record

    with platform.transaction() as session:
        record = make_record(session, platform)
        other = make_record(session, platform)
        document_id = deposit_pdf(session, platform, record).id
        record_id, other_id = record.id, other.id
    hidden = datetime(2026, 12, 7, 12, tzinfo=UTC)
    with statements.recording(), platform.transaction() as session:
        document = session.get(Document, document_id)
        assert document is not None
        document.hidden_at = hidden
    (update,) = [s for s in statements.seen if s.lstrip().upper().startswith("UPDATE DOCUMENTS")]
    assert judge(update, statements.dialect).scoped, update
    # An object that names another record than its row's writes nothing: the statement finds no row.
    with pytest.raises(StaleDataError), platform.transaction() as session:
        document = session.get(Document, document_id)
        assert document is not None
        set_committed_value(document, "record_id", other_id)
        document.hidden_at = None
    with platform.sessions() as session:
        stored = session.get(Document, document_id)
        assert stored is not None and stored.record_id == record_id and stored.hidden_at == hidden
