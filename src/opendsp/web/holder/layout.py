"""The holder's pages share one layout: the record shown, who acts on it, and the portal's menu."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse

from opendsp.web.holder.context import HolderView
from opendsp.web.templating import render


def render_holder(request: Request, view: HolderView, template: str, status_code: int = 200,
                  **context: Any) -> HTMLResponse:
    return render(request, template, status_code, holder=view.holder, acting_for_someone=view.acting_for_someone,
                  sections=request.app.state.holder_sections, current=request.url.path, **context)
