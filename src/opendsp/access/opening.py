"""Opening access to a record: a presence code (with its lock after wrong codes) or an emergency access.

The opening is decided and traced by the gate, which also tells the holder's side; this module keeps the grant.
"""

from __future__ import annotations

import uuid

from sqlalchemy import Select, func, select

from opendsp.access import presence
from opendsp.access.gate import Gate
from opendsp.access.models import AccessSettings, EmergencyAccess, PresenceGrant
from opendsp.policy.vocabulary import Action, Basis, Reason
from opendsp.records.models import Record
from opendsp.trace.models import TraceEntry


class Opening(Gate):
    """A professional outside the circle opening the record for a while."""

    def open_with_presence_code(self, record_id: uuid.UUID, code: str) -> PresenceGrant:
        record = self._record(record_id)
        locked, last_attempt = self._presence_lock(record)
        settings = self.session.get(AccessSettings, record.id)
        valid = not locked and presence.code_matches(settings.presence_code_hash if settings else None, code)
        permit = self._authorise(
            Action.open_with_presence_code, record, presence_code_valid=valid, presence_code_locked=locked,
            presence_code_last_attempt=last_attempt,
        )
        assert permit.basis is Basis.presence_code
        grant = PresenceGrant(
            record_id=record.id,
            professional_id=uuid.UUID(self.actor.id),
            organisation_id=self.actor.organisation_id,
            opened_at=self.now,
            expires_at=self.now + self.matrix.parameters.presence_access,
        )
        self.session.add(grant)
        self.session.flush()
        return grant

    def _presence_lock(self, record: Record) -> tuple[bool, bool]:
        """Whether wrong codes lock the presence code now, and whether one more wrong code would."""
        parameters = self.matrix.parameters
        since = self.now - parameters.lockout_window
        failures = select(func.count()).select_from(TraceEntry).where(
            TraceEntry.action == Action.open_with_presence_code.value,
            TraceEntry.reason == Reason.wrong_presence_code.value,
            TraceEntry.recorded_at > since,
        )
        professional = TraceEntry.actor_id == self.actor.id
        on_record = TraceEntry.record_id == record.id

        def count(query: Select[tuple[int]]) -> int:
            return self.session.scalar(query) or 0

        counted = [
            (count(failures.where(professional, on_record)), parameters.presence_failures_per_professional_and_record),
            (count(failures.where(on_record)), parameters.presence_failures_per_record),
            (count(failures.where(professional)), parameters.presence_failures_per_professional),
        ]
        return any(n >= limit for n, limit in counted), any(n + 1 >= limit for n, limit in counted)

    def open_emergency_access(self, record_id: uuid.UUID, reason: str) -> EmergencyAccess:
        record = self._record(record_id)
        self._authorise(
            Action.open_emergency_access, record, emergency_reason=reason, context={"reason_text": reason}
        )
        access = EmergencyAccess(
            record_id=record.id,
            professional_id=uuid.UUID(self.actor.id),
            organisation_id=self.actor.organisation_id,
            reason=reason.strip(),
            opened_at=self.now,
            expires_at=self.now + self.matrix.parameters.emergency_access,
        )
        self.session.add(access)
        self.session.flush()
        return access
