"""Hospital stays through the door: a hospital's system reporting and reading back its stays, the record's list.
"""

from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import select

from opendsp.access.gate import Gate
from opendsp.policy.decision import AccessDenied, Decision
from opendsp.policy.vocabulary import Action
from opendsp.stays.models import Stay


class StayAccess(Gate):
    """Stays reported and read, each decided and traced on the stay's record."""

    def authorise_stay_report(self, record_id: uuid.UUID, *, context: dict[str, Any]) -> Decision:
        """A hospital's system reporting an admission, transfer or discharge of this record's holder."""
        return self._authorise(Action.report_stay, self._record(record_id), context=context)

    def read_stay(self, stay_id: uuid.UUID) -> Stay | None:
        """A hospital's system reading back one of its stays: decided and traced on the stay's record.

        None for an unknown stay and for another hospital's (refused, and traced on that record)."""
        stay = self.session.get(Stay, stay_id)
        if stay is None:
            return None
        record = self._record(stay.record_id)
        try:
            self._authorise(Action.read_stay, record, stay_hospital=stay.organisation_id,
                            context={"stay": str(stay.id), "visit": stay.visit_number})
        except AccessDenied:
            return None
        return stay

    def list_stays(self, record_id: uuid.UUID) -> list[Stay]:
        record = self._record(record_id)
        self._authorise(Action.list_stays, record)
        return list(
            self.session.scalars(
                select(Stay).where(Stay.record_id == record.id).order_by(Stay.admitted_at.desc().nulls_last())
            )
        )

    def stay_to_report(self, stay_id: uuid.UUID, *, hospital_id: uuid.UUID) -> Stay | None:
        """The hospital's own stay an update reports on (None: unknown, or another hospital's). Nothing is read
        for the caller here: the report that follows is decided and traced on the stay's record."""
        stay = self.session.get(Stay, stay_id)
        return stay if stay is not None and stay.organisation_id == hospital_id else None
