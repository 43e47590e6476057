"""The holder's wishes read on their own (the FHIR Consent view of them), by a professional with access to the
record or by the holder's side: each reading one act, decided (``wishes.read``) and traced by the gate."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy import select

from opendsp.access.gate import Gate
from opendsp.access.models import Wish
from opendsp.policy.vocabulary import Action
from opendsp.records.models import Record


@dataclass(frozen=True)
class WishRead:
    """A wish as read: ``current`` when it is the latest answer to its kind (earlier ones are its history)."""

    wish: Wish
    current: bool


class WishReading(Gate):
    """The wishes of a record, current or one by its id."""

    def read_wishes(self, record_id: uuid.UUID) -> list[Wish]:
        """The latest answer to each kind of wish, as ONE act on the record."""
        record = self._record(record_id)
        self._authorise(Action.read_wishes, record, context={"wishes": True})
        return list(self._latest(record.id).values())

    def read_wish(self, wish_id: uuid.UUID) -> WishRead:
        """One answer by its id. An id that is no wish, or a wish of a record the caller may not read, is
        refused alike (``not_found`` for no wish); the act is traced on the wish's record when there is one."""
        wish = self.session.get(Wish, wish_id)
        record = self.session.get(Record, wish.record_id) if wish is not None else None
        self._authorise(Action.read_wishes, record, context={"wishes": True, "wish": str(wish_id)})
        assert wish is not None and record is not None  # no record: refused above
        latest = self._latest(record.id).get(wish.kind)
        return WishRead(wish=wish, current=latest is not None and latest.id == wish.id)

    def _latest(self, record_id: uuid.UUID) -> dict[str, Wish]:
        latest: dict[str, Wish] = {}
        for wish in self.session.scalars(
            select(Wish).where(Wish.record_id == record_id).order_by(Wish.set_at.desc(), Wish.id)
        ):
            latest.setdefault(wish.kind, wish)
        return latest
