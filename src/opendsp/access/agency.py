"""The agency's acts: erasing a closed record for good (decided and traced), and the published figures.
"""

from __future__ import annotations

import uuid
from typing import Any

from opendsp.access.gate import Gate, InvalidRequest
from opendsp.actors import ActorKind
from opendsp.policy.decision import Decision
from opendsp.policy.vocabulary import Action


class Agency(Gate):
    """What the agency's staff do that is not an act of a holder or of care."""

    def authorise_erasure(self, record_id: uuid.UUID, *, context: dict[str, Any]) -> Decision:
        """The agency erasing a closed record for good: decided and traced (one entry, in this transaction)."""
        return self._authorise(Action.erase_record, self._record(record_id), context=context)

    def published_figures(self) -> list[Any]:
        """The agency's monthly figures: counts only, never a document, a record or a name.

        Not an act on any record, so not decided per record nor traced; only the agency's staff ask."""
        from opendsp.access import statistics

        if self.actor.kind is not ActorKind.agency:
            raise InvalidRequest("only the agency's staff read the published figures")
        return statistics.figures(self.session, self.now)

    def public_figures(self) -> Any:
        """The figures anyone may read (the public statistics page): counts with small ones withheld.

        Asked by the platform itself (a system actor) for an anonymous visitor, or by the agency's staff; nothing
        in them is about a record, so nothing is decided per record nor traced."""
        from opendsp.access import statistics

        if self.actor.kind not in (ActorKind.agency, ActorKind.system):
            raise InvalidRequest("the published figures are read by the platform or the agency")
        return statistics.public_figures(self.session, self.now)
