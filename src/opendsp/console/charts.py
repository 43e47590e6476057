"""Bar charts as server-rendered SVG: no script, readable by screen readers (title, description, table)."""

from __future__ import annotations

from collections.abc import Callable

from markupsafe import Markup, escape

from opendsp.console.stats import Figure

# DSFR illustrative colours, distinguishable in print and for common colour blindness.
PALETTE = ["#000091", "#E1000F", "#009081", "#B34000", "#6A6AF4", "#A558A0", "#C3992A", "#3A3A3A", "#009099", "#CE614A"]
WIDTH, HEIGHT, LEFT, BOTTOM, TOP = 720, 260, 48, 36, 12


def bar_chart(figure: Figure, chart_id: str, gettext: Callable[[str], str]) -> Markup:
    """Stacked bars, one per month; the same figures follow as a table for those who do not see the chart."""
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
        f'<desc id="{chart_id}-desc">{escape(gettext("The same figures are in the table below."))}</desc>',
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
                    f"<title>{escape(month)} · {escape(gettext(series.name))}: {value}</title></rect>"
                )
        parts.append(
            f'<text x="{x + slot * 0.35:.1f}" y="{HEIGHT - 18}" text-anchor="middle" font-size="10">{escape(month[2:])}</text>'
        )
    legend_x = LEFT
    for colour, series in zip(PALETTE * 3, figure.series, strict=False):
        label = escape(gettext(series.name))
        parts.append(f'<rect x="{legend_x}" y="{HEIGHT - 10}" width="10" height="10" fill="{colour}"/>')
        parts.append(f'<text x="{legend_x + 14}" y="{HEIGHT - 1}" font-size="10">{label}</text>')
        legend_x += 14 + 7 * len(str(label)) + 12
    parts.append("</svg>")
    return Markup("".join(parts))
