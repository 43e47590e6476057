"""Charts as server-rendered SVG: no script, readable by screen readers (title, description, table).

Bar charts for the agency's figures; small line charts (sparklines) for a laboratory test's values over time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup, escape

from opendsp.access.statistics import Figure, Series
from opendsp.locale import N_, terms
from opendsp.locale.formats import format_date, format_month, format_number

# The brand's colours and their companions: each 5:1 or more on white, distinguishable in print and for common
# colour blindness (docs/adr/0024-design-system.md).
PALETTE = ["#00626f", "#b3261e", "#1b6e3a", "#a35a00", "#5b4fc4", "#8f3f86", "#7a6a00", "#3a3a3a", "#005c8a", "#c2410c"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 260, 48, 36, 12
# Outside the f-string below, where the catalogues' extraction would not find it.
SAME_FIGURES = N_("The same figures are in the table below.")


def in_words(figure: Figure, language: str, gettext: Callable[[str], str]) -> Figure:
    """A figure as its reader reads it: months and series' names in words (coded names from the table)."""
    series = [Series(terms.word(s.system, s.name, language) if s.system else gettext(s.name), s.values, s.system,
                     s.key) for s in figure.series]
    return Figure(figure.title, [format_month(month, language) for month in figure.months], series, figure.key)


def bar_chart(figure: Figure, chart_id: str, gettext: Callable[[str], str]) -> Markup:
    """Stacked bars, one per month; the same figures follow as a table for those who do not see the chart.

    The months and the series' names are shown as they come: in words (``console.views.in_words``).
    """
    months = figure.months
    # A withheld count (None) draws no bar; the table beside says "fewer than 10".
    totals = [sum(series.values[i] or 0 for series in figure.series) for i in range(len(months))]
    top = max(totals + [1])
    plot_height = HEIGHT - BOTTOM - TOP
    slot = (WIDTH - LEFT) / max(len(months), 1)
    title = escape(gettext(figure.title))
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="opendsp-chart">',
        f'<title id="{chart_id}-title">{title}</title>',
        f'<desc id="{chart_id}-desc">{escape(gettext(SAME_FIGURES))}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH}" y2="{TOP + plot_height}" stroke="#666"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end" font-size="11">{top}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_height}" text-anchor="end" font-size="11">0</text>',
    ]
    for index, month in enumerate(months):
        x = LEFT + index * slot + slot * 0.15
        y = TOP + plot_height
        for colour, series in zip(PALETTE * 3, figure.series, strict=False):
            value = series.values[index]
            if value:
                height = plot_height * value / top
                y -= height
                parts.append(
                    f'<rect x="{x:.1f}" y="{y:.1f}" width="{slot * 0.7:.1f}" height="{height:.1f}" fill="{colour}">'
                    f"<title>{escape(month)} · {escape(series.name)}: {value}</title></rect>"
                )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 18}" text-anchor="middle" font-size="10">{escape(month)}</text>'
        )
    legend_x = LEFT
    for colour, series in zip(PALETTE * 3, figure.series, strict=False):
        label = escape(series.name)
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 10}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{HEIGHT - 1}" font-size="10">{label}</text>')
        legend_x += 14 + 7 * len(str(label)) + 12
    parts.append("</svg>")
    return Markup("".join(parts))


SPARK_WIDTH, SPARK_HEIGHT, SPARK_PAD = 160, 48, 5


def sparkline(
    points: Sequence[tuple[date, float]], chart_id: str, title: str, description: str, *,
    low: float | None = None, high: float | None = None, language: str = "en",
) -> Markup:
    """A small chart for a table's cell: the values and the reference band, no text to shrink on a phone
    (each point's date and value on hover; all of them in the table folded beside it)."""
    bottom_value, top_value = _value_span(points, low, high)
    first, last = points[0][0].toordinal(), points[-1][0].toordinal()
    span = max(last - first, 1)

    def x(day: date) -> float:
        return SPARK_PAD + (SPARK_WIDTH - 2 * SPARK_PAD) * (day.toordinal() - first) / span

    def y(value: float) -> float:
        return SPARK_PAD + (SPARK_HEIGHT - 2 * SPARK_PAD) * (top_value - value) / (top_value - bottom_value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {SPARK_WIDTH} {SPARK_HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="opendsp-chart opendsp-chart--small">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    if low is not None or high is not None:
        band_top = y(high if high is not None else top_value)
        band_bottom = y(low if low is not None else bottom_value)
        parts.append(f'<rect x="0" y="{band_top:.1f}" width="{SPARK_WIDTH}" height="{band_bottom - band_top:.1f}" '
                     'fill="#B8FEC9" opacity="0.6"/>')
    parts.append('<polyline fill="none" stroke="#00626f" stroke-width="2" points="'
                 + " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in points) + '"/>')
    for day, value in points:
        parts.append(f'<circle cx="{x(day):.1f}" cy="{y(value):.1f}" r="3.5" fill="#00626f">'
                     f"<title>{format_date(day, language)}: {_short(value, language)}</title></circle>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _value_span(points: Sequence[tuple[date, float]], low: float | None, high: float | None) -> tuple[float, float]:
    """The values' range with the reference limits, widened by a tenth on each side (never empty)."""
    values = [v for _, v in points] + [v for v in (low, high) if v is not None]
    bottom_value, top_value = min(values), max(values)
    if top_value == bottom_value:
        bottom_value, top_value = bottom_value - 1, top_value + 1
    margin = (top_value - bottom_value) * 0.1
    return bottom_value - margin, top_value + margin


def _short(value: float, language: str) -> str:
    return format_number(float(f"{value:.4g}"), language)
