"""What the holder's pages share: messages after a form, refusals in words, dates as people type and read them."""

from __future__ import annotations

import uuid
from datetime import date, datetime, time, timedelta

from fastapi import Request
from fastapi.responses import HTMLResponse

from opendsp.access.trace_reading import REASON_LABELS
from opendsp.locale import N_, formats
from opendsp.locale.formats import format_date
from opendsp.policy.decision import AccessDenied, Decision
from opendsp.web.templating import ENVIRONMENT, current_language, render, translate

REFUSED = N_("This was refused: %(reason)s.")
CANNOT = N_("This cannot be changed now: %(reason)s.")
BAD_DATE = N_("Enter the date as YYYY-MM-DD, for example 2026-06-30.")
PAST_DATE = N_("The end date must be in the future.")


class BadInput(ValueError):
    """A form value people typed wrong; ``message`` is a catalogue id."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


def notice(request: Request, messages: dict[str, str]) -> str | None:
    """The message of the act just done (``?done=...`` after a form's redirect), in the reader's language."""
    done = request.query_params.get("done", "")
    return translate(request, messages[done]) if done in messages else None


def refusal(request: Request, denied: AccessDenied) -> str:
    reason = REASON_LABELS.get(denied.decision.reason.value, denied.decision.reason.value)
    return translate(request, REFUSED) % {"reason": translate(request, reason)}


def cannot(request: Request, decision: Decision) -> str | None:
    """Why the forms of a page are not offered (the policy's answer), or None when they are."""
    if decision.permitted:
        return None
    reason = REASON_LABELS.get(decision.reason.value, decision.reason.value)
    return translate(request, CANNOT) % {"reason": translate(request, reason)}


def end_of_day(value: str, now: datetime) -> datetime | None:
    """``YYYY-MM-DD`` typed as the last day included: the end is the start of the next day in Luxembourg."""
    value = value.strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise BadInput(BAD_DATE) from None
    end = datetime.combine(day + timedelta(days=1), time.min, formats.zone())
    if end <= now:
        raise BadInput(PAST_DATE)
    return end


def parse_id(value: str, message: str) -> uuid.UUID:
    try:
        return uuid.UUID(value.strip())
    except (ValueError, AttributeError):
        raise BadInput(message) from None


# -- dates as the pages show them (the formats themselves: opendsp.locale.formats) ----------------


def last_day(moment: datetime | None) -> str:
    """The last day an end date includes (an end at midnight belongs to the day before)."""
    if moment is None:
        return ""
    return format_date(formats.local(moment) - timedelta(microseconds=1), current_language())


def last_day_iso(moment: datetime | None) -> str:
    """The same day for a date field's value (``YYYY-MM-DD``, as browsers expect it)."""
    if moment is None:
        return ""
    return (formats.local(moment) - timedelta(microseconds=1)).date().isoformat()


ENVIRONMENT.filters.update(last_day=last_day, last_day_iso=last_day_iso)


def refused_page(request: Request, denied: AccessDenied) -> HTMLResponse:
    """A page of the record the policy refuses: why, and where to go (the account page, to switch records)."""
    return render(request, "holder/refused.html", 403, reason_text=refusal(request, denied))
