"""Traçabilité: every access and act on the record, filtered and paged, the same as CSV or PDF, and signed.

Reading the trace is an act on the record: each page, and each file, is
decided by the policy and traced (``RecordAccess.trace_page``,
``trace_download``). Files are read after that decision has been committed,
batch after batch (``trace_reading.read_lines``).
"""

from __future__ import annotations

import logging
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from opendsp.access import trace_files
from opendsp.access.export import slug
from opendsp.access.trace_extract import ExtractUnavailable, shared_log, signed_extract
from opendsp.access.trace_reading import (
    BASIS_LABELS,
    KINDS,
    OTHERS_THAN_HOLDER_SIDE,
    OUTCOMES,
    WHO,
    TraceQuery,
    read_lines,
)
from opendsp.locale import DEFAULT_LANGUAGE, N_, translations
from opendsp.locale.formats import format_date
from opendsp.platform import Platform
from opendsp.trace.checkpointer import checkpoint_log
from opendsp.trace.checkpoints import CheckpointInvalid, CheckpointLog
from opendsp.trace.signing import SigningKeyError
from opendsp.web.auth_views import PlatformDep
from opendsp.web.holder.context import holder_view
from opendsp.web.holder.layout import render_holder
from opendsp.web.templating import translate

router = APIRouter()
logger = logging.getLogger("opendsp.web.holder.trace")

PAGE_SIZE = 50
BASES_OFFERED = ("circle", "referring_doctor", "presence_code", "emergency", "stay", "direct_deposit", "holder",
                 "assistant", "representative")


def _query(request: Request, *, who: str = "") -> tuple[TraceQuery, list[str]]:
    """The filters asked for; ``who`` is the one used when the request names none."""
    params = request.query_params
    return TraceQuery.parse(since=params.get("since", ""), until=params.get("until", ""), kind=params.get("kind", ""),
                            basis=params.get("basis", ""), who=params.get("who", who),
                            outcome=params.get("outcome", ""))


@router.get("/record/trace", response_class=HTMLResponse)
def trace(request: Request, platform: PlatformDep, page: int = 1) -> HTMLResponse:
    # The accesses by others come first: the holder's side's own activity is a filter, not the default.
    query, problems = _query(request, who=OTHERS_THAN_HOLDER_SIDE)
    page = max(page, 1)
    with holder_view(request, platform) as view:
        found = view.access.trace_page(view.record.id, query, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE)
        pages = max((found.total + PAGE_SIZE - 1) // PAGE_SIZE, 1)
        params = query.as_params()
        error = " ".join(translate(request, problem) for problem in problems) or None
        return render_holder(
            request, view, "holder/trace.html", 400 if problems else 200, lines=found.lines, total=found.total,
            page=page, pages=pages, query=query, first=(page - 1) * PAGE_SIZE + 1 if found.total else 0,
            last=(page - 1) * PAGE_SIZE + len(found.lines), error=error,
            kinds=[(key, label) for key, (label, _a, _p) in KINDS.items()], whos=[(k, v[0]) for k, v in WHO.items()],
            bases=[(key, BASIS_LABELS[key]) for key in BASES_OFFERED], outcomes=list(OUTCOMES.items()),
            link=lambda number: "/record/trace?" + urlencode({**params, "page": number}),
            download=lambda kind: f"/record/trace.{kind}" + ("?" + urlencode(params) if params else ""),
            tr=_gettext(request),
        )


def _gettext(request: Request):  # type: ignore[no-untyped-def]
    return translations(getattr(request.state, "language", DEFAULT_LANGUAGE)).gettext


@router.get("/record/trace.csv")
def trace_csv(request: Request, platform: PlatformDep) -> Response:
    query, _problems = _query(request)  # a bad filter is left out, as on the page
    with holder_view(request, platform) as view:
        reading = view.access.trace_download(view.record.id, query, "csv")
        name = _file_name(view.holder.family_name, "csv")
    lines = read_lines(platform.sessions, reading)
    return StreamingResponse(trace_files.csv_chunks(lines, _gettext(request), language=request.state.language), media_type="text/csv; charset=utf-8",
                             headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/record/trace.pdf")
def trace_pdf(request: Request, platform: PlatformDep) -> Response:
    query, _problems = _query(request)
    _ = _gettext(request)
    with holder_view(request, platform) as view:
        reading = view.access.trace_download(view.record.id, query, "pdf")
        holder, name, now = view.holder.display_name, _file_name(view.holder.family_name, "pdf"), view.access.now
    language = request.state.language
    content = trace_files.pdf(read_lines(platform.sessions, reading), _, holder=holder,
                              filters=_filters_text(query, _, language), made_at=now, language=language)
    return Response(content, media_type="application/pdf",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


@router.get("/record/trace.signed.json")
def trace_signed_extract(request: Request, platform: PlatformDep) -> Response:
    """The record's chain with its proof in the latest signed checkpoint, to check offline.

    Decided and traced as a trace download; made after the commit (docs/holder-portal-control.md).
    """
    with holder_view(request, platform) as view:
        reading = view.access.trace_download(view.record.id, TraceQuery(), "signed-extract")
        name, now = _file_name(view.holder.family_name, "signed.json"), view.access.now
    try:
        content = signed_extract(platform.sessions, reading, _checkpoint_log(platform), now.isoformat())
    except (ExtractUnavailable, SigningKeyError, CheckpointInvalid) as error:
        # Not signed yet (a new record, or no checkpointer running): the trace itself is there, the proof not yet.
        if not isinstance(error, ExtractUnavailable):
            logger.error("no signed extract can be made: %s", error)
        _ = _gettext(request)
        message = _(N_("Your signed extract is not ready yet: the trace is signed about once a minute. "
                       "Please try again in a few minutes."))
        return Response(message, status_code=503, media_type="text/plain; charset=utf-8",
                        headers={"Retry-After": "60"})
    return Response(content, media_type="application/json",
                    headers={"Content-Disposition": f'attachment; filename="{name}"'})


def _checkpoint_log(platform: Platform) -> CheckpointLog:
    settings = platform.settings
    return shared_log(settings.checkpoint_sink, str(settings.checkpoint_public_key_file),
                      lambda: checkpoint_log(settings, platform.clock))


def _file_name(family_name: str, extension: str) -> str:
    return f"dsp-trace-{slug(family_name)}.{extension}"


def _filters_text(query: TraceQuery, _, language: str) -> str:  # type: ignore[no-untyped-def]
    parts = []
    if query.since or query.until:
        since = format_date(query.since, language) if query.since else "…"
        until = format_date(query.until, language) if query.until else "…"
        parts.append(_(N_("Period: %(since)s to %(until)s")) % {"since": since, "until": until})
    if query.kind:
        parts.append(_(KINDS[query.kind][0]))
    if query.who:
        parts.append(_(WHO[query.who][0]))
    if query.basis:
        parts.append(_(BASIS_LABELS[query.basis]))
    if query.outcome:
        parts.append(_(OUTCOMES[query.outcome]))
    return (_(N_("Filters:")) + " " + "; ".join(parts) + ".") if parts else ""
