"""A professional looking people up by their demographics (IHE PDQm): identity only, never clinical data.

The lookup is decided and traced on the platform's chain, and each person found has it in their own record's
trace: both entries are the gate's.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, String, cast, func, select

from opendsp.access.gate import Gate
from opendsp.persons.models import Person
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Action
from opendsp.records.services import record_of_person
from opendsp.trace.models import Outcome, TraceEntry


class PatientLookup(Gate):
    """Who a professional may find, and the trace of each lookup."""

    def authorise_patient_search(self, *, criteria: list[str], found: list[uuid.UUID]) -> Decision:
        """A professional looking patients up (identity only): decided and traced, with who was found,
        on the platform's chain, before any result leaves."""
        return self._authorise(
            Action.find_patients, None, context={"criteria": criteria, "found": [str(f) for f in found]}
        )

    def find_patients(self, query: Select[tuple[Person]], *, criteria: dict[str, list[str]],
                      limit: int, offset: int) -> tuple[list[Person], int]:
        """A professional looking people up by their demographics (IHE PDQm): identity only.

        The search is decided first (the professional's lookups of the last hour are counted from the
        trace), then each person it matches: one whose record is closed, not activated or blocks the
        professional is not found for them. Each person found has the lookup in their own record's trace
        (so the holder sees who looked them up); the search itself is traced once, on the platform's chain.
        Matching is exact, so the people matched are few; the page and the total count only those found.
        """
        window = self.now - self.matrix.parameters.lookup_window
        used = self.session.scalar(
            select(func.count()).select_from(TraceEntry).where(
                TraceEntry.action == Action.find_patients.value, TraceEntry.record_id.is_(None),
                TraceEntry.actor_id == self.actor.id, TraceEntry.outcome == Outcome.permitted,
                TraceEntry.recorded_at > window,
                # "My patients" is decided as a search too, but looks nobody up: it does not count.
                ~cast(TraceEntry.context, String).contains('"my_patients"'),
            )
        ) or 0
        exhausted = used >= self.matrix.parameters.patient_lookups_per_hour
        names = sorted(criteria)
        if exhausted:
            self._authorise(Action.find_patients, None, patient_lookups_exhausted=True, context={"criteria": names})
        found: list[Person] = []
        for person in self.session.scalars(query.order_by(Person.family_name, Person.given_name, Person.id)):
            record = record_of_person(self.session, person)
            if record is None:
                continue
            decision = self._authorise_each(Action.find_patients, record, context={"criteria": criteria})
            if decision.permitted:
                found.append(person)
        page = found[offset:offset + limit]
        self._authorise(Action.find_patients, None, context={"criteria": names, "found": [str(p.id) for p in page]})
        return page, len(found)
