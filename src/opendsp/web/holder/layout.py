"""The holder's pages share one layout: the record shown, who acts on it, and the portal's menu."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from opendsp.locale import N_
from opendsp.web.holder.context import HolderView
from opendsp.accounts import delegations
from opendsp.web.templating import render, translate

# What a page says after a form sent the browser back to it (``?done=...``).
DONE = {
    "withdrawn": N_("The document was withdrawn."),
    "hidden": N_("The document is hidden: professionals no longer see it."),
    "shown": N_("The document is shown to professionals again."),
    "read": N_("Notifications marked as read."),
    "declared": N_("The vaccination was added to the record, as declared by the holder."),
}


def render_holder(request: Request, view: HolderView, template: str, status_code: int = 200,
                  **context: Any) -> HTMLResponse:
    done = request.query_params.get("done", "")
    if done in DONE and "notice" not in context:
        context["notice"] = translate(request, DONE[done])
    # The records this person may switch to from the record's own menu: the policy's answer (acting_options).
    record_options = delegations.acting_options(view.session, view.person, platform=view.access.platform)
    return render(request, template, status_code, holder=view.holder, acting_for_someone=view.acting_for_someone,
                  sections=request.app.state.holder_sections, current=request.url.path,
                  record_options=record_options, viewer_person=view.person, **context)
