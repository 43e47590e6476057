"""The agency's published figures, for anyone: a page of charts and CSV files, no login.

The figures come through the one door (``RecordAccess.public_figures``, asked by the platform's own actor) with
their small counts withheld (``access/statistics.py``; docs/adr/0036-published-figures.md). Nothing here knows who
is asking: the page sets no cookie, holds no form and no CSRF token, names no viewer, and may be kept by a cache for
a while. Its language comes from ``?lang=``, else the browser's; the CSV is for programs (stable header, ISO months,
no locale formats).
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from opendsp import actors
from opendsp.access.services import RecordAccess
from opendsp.access.statistics import SMALL, TOTAL_ROUNDING, PublicFigures
from opendsp.locale import LANGUAGES
from opendsp.platform import Platform
from opendsp.web.auth_views import PlatformDep
from opendsp.web.charts import bar_chart, in_words
from opendsp.web.templating import LANGUAGE_NAMES, render, translate

router = APIRouter()

# Anyone may keep these for a while (the figures change by the month); a page varies by language only.
CACHE = "public, max-age=900"
CSV_HEADER = ("figure", "series", "month", "value", "note")
WITHHELD_NOTE = f"withheld: fewer than {SMALL}"
TOTAL_NOTE = f"documents held at the end of the month, rounded down to a multiple of {TOTAL_ROUNDING}"


def _figures(platform: Platform) -> PublicFigures:
    with platform.sessions() as session:
        return RecordAccess(session=session, platform=platform, actor=actors.PUBLIC_FIGURES).public_figures()


def _anonymous(request: Request) -> None:
    """Nothing of the visitor's is read or written: no flow cookie is set for this answer."""
    request.state.flow_changed = False


@router.get("/statistics", response_class=HTMLResponse)
def statistics_page(request: Request, platform: PlatformDep, lang: str = "") -> HTMLResponse:
    _anonymous(request)
    if lang in LANGUAGES:
        request.state.language = lang
    language = request.state.language
    public = _figures(platform)
    gettext = lambda message: translate(request, message)  # noqa: E731
    figures = [in_words(figure, language, gettext) for figure in public.figures]
    charts = [(figure, bar_chart(figure, f"chart-{n}", gettext)) for n, figure in enumerate(figures)]
    response = render(
        request, "statistics.html", charts=charts, documents_total=public.documents_total, small=SMALL,
        public_languages=[(code, LANGUAGE_NAMES[code]) for code in LANGUAGES],
        as_of=(public.until - timedelta(days=1)).date(),  # the last day published (a day: no zone shifts it)
    )
    response.headers["Cache-Control"] = CACHE
    response.headers["Vary"] = "Accept-Language, Cookie"  # the language chosen on the other pages
    return response


@router.get("/statistics/{name}.csv")
def statistics_csv(request: Request, platform: PlatformDep, name: str) -> Response:
    """``figures.csv``: every figure; ``<figure>.csv``: one (``accounts_activated``, ``documents_deposited``,
    ``documents_consulted``, ``documents_total``). A withheld count is an empty value with its note."""
    _anonymous(request)
    public = _figures(platform)
    known = {figure.key for figure in public.figures} | {"documents_total"}
    if name != "figures" and name not in known:
        return Response("unknown figure\n", status_code=404, media_type="text/plain")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    for figure in public.figures:
        if name not in ("figures", figure.key):
            continue
        for series in figure.series:
            for month, value in zip(figure.months, series.values, strict=True):
                writer.writerow((figure.key, series.key, month, "" if value is None else value,
                                 WITHHELD_NOTE if value is None else ""))
    if name in ("figures", "documents_total"):
        total = public.documents_total
        last_month = public.until - timedelta(days=1)
        writer.writerow(("documents_total", "all", f"{last_month:%Y-%m}", "" if total is None else total,
                         WITHHELD_NOTE if total is None else TOTAL_NOTE))
    return Response(
        out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={"Cache-Control": CACHE, "Content-Disposition": f'attachment; filename="opendsp-{name}.csv"'},
    )
