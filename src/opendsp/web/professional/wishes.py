"""The holder's wishes on the professional's pages (*Consentements*): the patient view and the summary.

Read through ``RecordAccess.current_wishes``: one decision (``wishes.read``) and one trace entry per page, which
the holder sees in their trace. Called only once the page's own act was permitted; a refusal of the wishes alone
(the policy may change) leaves the page without them.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from opendsp.access.trace_reading import ANSWER_LABELS
from opendsp.access.wishes import WishKind
from opendsp.locale import N_
from opendsp.policy.decision import AccessDenied
from opendsp.web.professional.context import ProfessionalView

# The wish as a professional reads it (the holder's page says "my death").
LABELS: dict[str, str] = {WishKind.organ_donation.value: N_("Organ donation after death")}


@dataclass(frozen=True)
class WishLine:
    label: str
    answer: str
    since: datetime | None  # when it was recorded; None when never stated
    comment: str | None


def wish_lines(view: ProfessionalView, record_id: uuid.UUID, *, part: str) -> list[WishLine] | None:
    """Each kind of wish with the holder's current answer; None when the policy refuses them."""
    try:
        current = view.access.current_wishes(record_id, part=part)
    except AccessDenied:
        return None
    lines = []
    for kind in WishKind:
        wish = current.get(kind.value)
        lines.append(WishLine(label=LABELS[kind.value], answer=ANSWER_LABELS[wish.value if wish else "not_stated"],
                              since=wish.set_at if wish else None, comment=wish.comment if wish else None))
    return lines
