"""ITI-67 costs a fixed number of SQL statements, however many documents its page holds (no N+1).

A regression test for the request path (issue 15): the statements one search sends to the database are
counted with SQLAlchemy's ``before_cursor_execute`` event. A page of 5 documents and a page of 20, each by
as many different authors of as many organisations, cost the same, and no more than ``MAX_STATEMENTS``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from opendsp.documents.models import DocumentType
from opendsp.platform import Platform
from opendsp.professionals.models import OrganisationKind
from tests.factories import PDF, as_holder, as_professional, make_organisation, make_professional, professional_draft
from tests.fhir.conftest import Fhir, World

# Measured: 38 before issue 15 (the grants read twice, the count apart from the page, the authors and their
# organisations apart, the caller's organisations apart); 24 now: the transaction, the token's client and
# professional, the person and their record (2), the record again, the grants (9), the trace entry (3), the page,
# what the senders gave (2), the holder, the hashes, the relations.
MAX_STATEMENTS = 24


@contextmanager
def counted(platform: Platform) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    assert platform.engine is not None
    event.listen(platform.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(platform.engine, "before_cursor_execute", count)


def deposit_by_different_authors(platform: Platform, world: World, count: int) -> None:
    """``count`` documents, each by its own professional of its own organisation (the worst case for N+1)."""
    with platform.transaction() as session:
        for index in range(count):
            organisation = make_organisation(session, platform, OrganisationKind.hospital, name=f"Hôpital {index}")
            author = make_professional(session, platform, organisation=organisation, family_name=f"Auteur {index}")
            as_holder(session, platform, world.record).add_to_circle(world.record.id, author.id)
            as_professional(session, platform, author).deposit(
                world.record.id, professional_draft(DocumentType.consultation_report, f"Compte rendu {index}"), [PDF])


def statements_of_one_search(platform: Platform, world: World, fhir: Fhir) -> tuple[list[str], dict[str, Any]]:
    token = fhir.token(world.software["hospital"], world.gp)
    with counted(platform) as statements:
        response = fhir.get(f"/fhir/DocumentReference?patient=Patient/{world.person_id}&_count=20", token)
    assert response.status_code == 200, response.text
    return statements, response.json()


def test_a_search_costs_the_same_statements_for_5_and_for_20_documents(platform: Platform, world: World,
                                                                        fhir: Fhir) -> None:
    deposit_by_different_authors(platform, world, 5)
    five, bundle = statements_of_one_search(platform, world, fhir)
    assert bundle["total"] == 5 and len(bundle["entry"]) == 5
    deposit_by_different_authors(platform, world, 15)
    twenty, bundle = statements_of_one_search(platform, world, fhir)
    assert bundle["total"] == 20 and len(bundle["entry"]) == 20
    authors = {str(entry["resource"].get("contained")) for entry in bundle["entry"]}
    assert len(authors) == 20, authors  # each page entry still names its own author and organisation
    assert len(twenty) == len(five), "\n".join(twenty)
    assert len(twenty) <= MAX_STATEMENTS, f"{len(twenty)} statements:\n" + "\n".join(twenty)
