"""The on-time rate by week and the units ranked by it, drawn as SVG on the server, each with the
same numbers as a table. Pure functions of the figures; the markup is escaped here, so a page may
insert it as it is.

Accessible by construction: the SVG is an image (``role="img"``) named by its ``<title>`` and
described by a ``<desc>`` that reads out every value, and the table beside it carries the numbers
for anyone who cannot see the chart.
"""

from __future__ import annotations

from collections.abc import Sequence

from markupsafe import Markup, escape

from services.processing.reports.labels import INDICATOR_HEADINGS, TITLES, Language, percent_text
from services.processing.reports.schemas import RankedUnit, WeekPublic

# Dark enough on white for text (WCAG AA), and for the bars against the grid.
INK = "#1f2937"
BAR = "#1d4ed8"
GRID = "#d1d5db"

WIDTH = 640
HEIGHT = 260
LEFT, RIGHT, TOP, BOTTOM = 48, 12, 16, 40


def _week_label(week: WeekPublic) -> str:
    return week.start.strftime("%d/%m")


def _svg_open(ident: str, title: str, description: str, height: int) -> list[str]:
    return [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" preserveAspectRatio="xMinYMin meet" '
        f'aria-labelledby="{ident}-title {ident}-desc" font-family="sans-serif" font-size="12">',
        f'<title id="{ident}-title">{escape(title)}</title>',
        f'<desc id="{ident}-desc">{escape(description)}</desc>',
    ]


def on_time_svg(weeks: Sequence[WeekPublic], language: Language, *, ident: str = "on-time") -> Markup:
    """A bar per week, its height the on-time rate (2.1); a week with nothing to rate has no bar
    and says N/A."""
    title = TITLES["weeks"][language]
    description = "; ".join(
        f"{TITLES['week'][language].format(day=_week_label(week))}: "
        f"{percent_text(week.on_time_rate.percent, language)}"
        for week in weeks
    )
    parts = _svg_open(ident, title, description or TITLES["not_available"][language], HEIGHT)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    base = TOP + plot_height
    for tick in (0, 25, 50, 75, 100):
        y = base - plot_height * tick / 100
        parts.append(f'<line x1="{LEFT}" y1="{y:.1f}" x2="{WIDTH - RIGHT}" y2="{y:.1f}" stroke="{GRID}"/>')
        parts.append(
            f'<text x="{LEFT - 6}" y="{y + 4:.1f}" text-anchor="end" fill="{INK}">'
            f"{escape(percent_text(tick, language))}</text>"
        )
    slot = plot_width / max(len(weeks), 1)
    bar = min(slot * 0.6, 48)
    for index, week in enumerate(weeks):
        centre = LEFT + slot * index + slot / 2
        value = week.on_time_rate.percent
        if value is not None:
            height = plot_height * value / 100
            parts.append(
                f'<rect x="{centre - bar / 2:.1f}" y="{base - height:.1f}" width="{bar:.1f}" '
                f'height="{height:.1f}" fill="{BAR}"/>'
            )
        label_y = base - (plot_height * (value or 0) / 100) - 4
        parts.append(
            f'<text x="{centre:.1f}" y="{label_y:.1f}" text-anchor="middle" fill="{INK}">'
            f"{escape(percent_text(value, language))}</text>"
        )
        parts.append(
            f'<text x="{centre:.1f}" y="{base + 16}" text-anchor="middle" fill="{INK}">'
            f"{escape(_week_label(week))}</text>"
        )
    parts.append(f'<line x1="{LEFT}" y1="{base}" x2="{WIDTH - RIGHT}" y2="{base}" stroke="{INK}"/>')
    parts.append("</svg>")
    return Markup("".join(parts))


def on_time_table(weeks: Sequence[WeekPublic], language: Language) -> Markup:
    headings = INDICATOR_HEADINGS
    head = (
        f'<th scope="col">{escape("Tuần" if language == "vi" else "Week")}</th>'
        f'<th scope="col">{escape(headings["on_time_count"][language])}</th>'
        f'<th scope="col">{escape(headings["counted"][language])}</th>'
        f'<th scope="col">{escape(headings["rate"][language])}</th>'
    )
    body = "".join(
        f'<tr><th scope="row">{escape(TITLES["week"][language].format(day=_week_label(week)))}</th>'
        f"<td>{week.on_time_rate.numerator:g}</td><td>{week.on_time_rate.denominator:g}</td>"
        f"<td>{escape(percent_text(week.on_time_rate.percent, language))}</td></tr>"
        for week in weeks
    )
    return Markup(
        f'<table class="report-table"><caption>{escape(TITLES["weeks"][language])}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )


ROW_HEIGHT = 26
NAME_WIDTH = 220


def ranking_svg(ranking: Sequence[RankedUnit], language: Language, *, ident: str = "ranking") -> Markup:
    """A horizontal bar per unit, best first, its length the unit's on-time rate (2.1)."""
    title = TITLES["ranking"][language]
    description = "; ".join(
        f"{item.rank}. {item.name}: {percent_text(item.on_time_rate.percent, language)}" for item in ranking
    )
    height = TOP + ROW_HEIGHT * max(len(ranking), 1) + 8
    parts = _svg_open(ident, title, description or TITLES["not_available"][language], height)
    plot_width = WIDTH - NAME_WIDTH - RIGHT - 56
    for index, item in enumerate(ranking):
        y = TOP + ROW_HEIGHT * index
        name = item.name if len(item.name) <= 32 else item.name[:31] + "…"
        parts.append(
            f'<text x="{NAME_WIDTH - 8}" y="{y + 16}" text-anchor="end" fill="{INK}">'
            f"{escape(f'{item.rank}. {name}')}</text>"
        )
        value = item.on_time_rate.percent
        length = plot_width * (value or 0) / 100
        if value is not None:
            parts.append(
                f'<rect x="{NAME_WIDTH}" y="{y + 4}" width="{length:.1f}" '
                f'height="{ROW_HEIGHT - 10}" fill="{BAR}"/>'
            )
        parts.append(
            f'<text x="{NAME_WIDTH + length + 6:.1f}" y="{y + 16}" fill="{INK}">'
            f"{escape(percent_text(value, language))}</text>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))


def ranking_table(ranking: Sequence[RankedUnit], language: Language) -> Markup:
    headings = INDICATOR_HEADINGS
    head = (
        f'<th scope="col">{escape(headings["rank"][language])}</th>'
        f'<th scope="col">{escape("Đơn vị" if language == "vi" else "Unit")}</th>'
        f'<th scope="col">{escape(headings["on_time_count"][language])}</th>'
        f'<th scope="col">{escape(headings["counted"][language])}</th>'
        f'<th scope="col">{escape(headings["rate"][language])}</th>'
    )
    body = "".join(
        f'<tr><td>{item.rank}</td><th scope="row">{escape(item.name)}</th>'
        f"<td>{item.on_time_rate.numerator:g}</td><td>{item.on_time_rate.denominator:g}</td>"
        f"<td>{escape(percent_text(item.on_time_rate.percent, language))}</td></tr>"
        for item in ranking
    )
    return Markup(
        f'<table class="report-table"><caption>{escape(TITLES["ranking"][language])}</caption>'
        f"<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
