"""The holder's wishes on the professional's pages (*Consentements*): the patient view and the summary.

They come with the page's own act (``with_wishes`` of ``RecordAccess.list_documents`` and
``read_structured_sources``): the policy decides whether the caller reads them (``wishes.read``) and the page's
one trace entry says they were read, which the holder sees in their trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from opendsp.access.trace_reading import ANSWER_LABELS
from opendsp.access.wishes import WishKind
from opendsp.locale import N_

# The wish as a professional reads it (the holder's page says "my death").
LABELS: dict[str, str] = {WishKind.organ_donation.value: N_("Organ donation after death")}


@dataclass(frozen=True)
class WishLine:
    label: str
    answer: str
    since: datetime | None  # when it was recorded; None when never stated
    comment: str | None


def wish_lines(wishes: dict[str, Any] | None) -> list[WishLine] | None:
    """Each kind of wish with the holder's current answer (``wishes``: the page's ``DocumentPage.wishes`` or
    ``DocumentsReading.wishes``, by kind); None when the page's act did not include them."""
    if wishes is None:
        return None
    lines = []
    for kind in WishKind:
        wish = wishes.get(kind.value)
        lines.append(WishLine(label=LABELS[kind.value], answer=ANSWER_LABELS[wish.value if wish else "not_stated"],
                              since=wish.set_at if wish else None, comment=wish.comment if wish else None))
    return lines
