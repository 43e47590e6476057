"""Download everything (EHDS): the whole record as one zip, made while it is sent.

The download is one act: ``opendsp.access.export.prepare`` asks the policy
(``record.export``) and traces it once, in this request's transaction; the
archive is then streamed with that permit (``opendsp.access.export.stream``).
"""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from opendsp.access import export as exporting
from opendsp.locale import DEFAULT_LANGUAGE
from opendsp.policy.decision import AccessDenied
from opendsp.policy.vocabulary import Action
from opendsp.web.auth_views import PlatformDep
from opendsp.web.stepup import RecentLogin
from opendsp.web.holder.common import refusal
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder

router = APIRouter()
PAGE = "/record/export"


@router.get(PAGE, response_class=HTMLResponse)
def export_page(request: Request, platform: PlatformDep) -> HTMLResponse:
    with holder_view(request, platform) as view:
        decision = view.access.would(view.record.id, Action.export_record)
        return render_holder(request, view, "holder/export.html", allowed=decision.permitted,
                             refused_text=None if decision.permitted else refusal(request, AccessDenied(decision)))


@router.post(PAGE, dependencies=[RecentLogin(PAGE)])
def download(request: Request, platform: PlatformDep) -> Response:
    language = getattr(request.state, "language", DEFAULT_LANGUAGE)
    try:
        with holder_view(request, platform) as view:
            plan = exporting.prepare(view.access, view.record.id, language=language)
    except AccessDenied as denied:
        with holder_view(request, platform) as view:
            return render_holder(request, view, "holder/export.html", 403, allowed=False,
                                 refused_text=refusal(request, denied))
    return StreamingResponse(
        exporting.stream(platform, plan), media_type="application/zip",
        headers={"Content-Disposition": f'attachment; filename="{exporting.file_name(plan)}"'},
    )
