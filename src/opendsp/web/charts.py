"""Charts as server-rendered SVG: no script, readable by screen readers (title, description, table).

Bar charts for the agency's figures; line charts for a laboratory test's values over time.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import date

from markupsafe import Markup, escape

from opendsp.access.statistics import Figure
from opendsp.locale import N_
from opendsp.locale.formats import format_date, format_number

# DSFR illustrative colours, distinguishable in print and for common colour blindness.
PALETTE = ["#000091", "#E1000F", "#009081", "#B34000", "#6A6AF4", "#A558A0", "#C3992A", "#3A3A3A", "#009099", "#CE614A"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 260, 48, 36, 12
# Outside the f-string below, where the catalogues' extraction would not find it.
SAME_FIGURES = N_("The same figures are in the table below.")


def bar_chart(figure: Figure, chart_id: str, gettext: Callable[[str], str]) -> Markup:
    """Stacked bars, one per month; the same figures follow as a table for those who do not see the chart.

    The months and the series' names are shown as they come: in words (``console.views.in_words``).
    """
    months = figure.months
    totals = [sum(series.values[i] for series in figure.series) for i in range(len(months))]
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


def line_chart(
    points: Sequence[tuple[date, float]],
    chart_id: str,
    title: str,
    description: str,
    *,
    low: float | None = None,
    high: float | None = None,
    language: str = "en",
) -> Markup:
    """One test's values over time, with its reference range as a band; time runs to the right."""
    values = [v for _, v in points] + [v for v in (low, high) if v is not None]
    bottom_value, top_value = min(values), max(values)
    if top_value == bottom_value:
        bottom_value, top_value = bottom_value - 1, top_value + 1
    margin = (top_value - bottom_value) * 0.1
    bottom_value, top_value = bottom_value - margin, top_value + margin
    first, last = points[0][0].toordinal(), points[-1][0].toordinal()
    span = max(last - first, 1)
    plot_width, plot_height = WIDTH - LEFT - 24, HEIGHT - BOTTOM - TOP

    def x(day: date) -> float:
        return LEFT + 12 + plot_width * (day.toordinal() - first) / span

    def y(value: float) -> float:
        return TOP + plot_height * (top_value - value) / (top_value - bottom_value)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" role="img" '
        f'aria-labelledby="{chart_id}-title {chart_id}-desc" class="opendsp-chart">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
    ]
    if low is not None or high is not None:
        band_top = y(high if high is not None else top_value)
        band_bottom = y(low if low is not None else bottom_value)
        parts.append(f'<rect x="{LEFT}" y="{band_top:.1f}" width="{WIDTH - LEFT}" height="{band_bottom - band_top:.1f}" '
                     'fill="#B8FEC9" opacity="0.6"/>')
    parts += [
        f'<line x1="{LEFT}" y1="{TOP + plot_height}" x2="{WIDTH}" y2="{TOP + plot_height}" stroke="#666"/>',
        f'<line x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{TOP + plot_height}" stroke="#666"/>',
        f'<text x="{LEFT - 6}" y="{TOP + 8}" text-anchor="end" font-size="11">{_short(top_value, language)}</text>',
        f'<text x="{LEFT - 6}" y="{TOP + plot_height}" text-anchor="end" font-size="11">{_short(bottom_value, language)}</text>',
        '<polyline fill="none" stroke="#000091" stroke-width="2" points="'
        + " ".join(f"{x(day):.1f},{y(value):.1f}" for day, value in points) + '"/>',
    ]
    for day, value in points:
        parts.append(f'<circle cx="{x(day):.1f}" cy="{y(value):.1f}" r="4" fill="#000091">'
                     f"<title>{format_date(day, language)}: {_short(value, language)}</title></circle>")
    for day, anchor in sorted({(points[0][0], "start"), (points[-1][0], "end")}):
        parts.append(f'<text x="{x(day):.1f}" y="{HEIGHT - 18}" text-anchor="{anchor}" font-size="10">'
                     f"{format_date(day, language)}</text>")
    parts.append("</svg>")
    return Markup("".join(parts))


def _short(value: float, language: str) -> str:
    return format_number(float(f"{value:.4g}"), language)
