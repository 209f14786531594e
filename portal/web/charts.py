"""Charts drawn on the server as SVG: data in, an SVG string out.

Pure functions with no Django, so a page needs no JavaScript and no chart library, and a chart
can be tested as a string. Every piece of text (titles, labels, numbers) is escaped here, because
labels come from assessment titles and the like; the caller may mark the result safe. Each chart
has ``role="img"`` with a <title> and a <desc> for screen readers (pages also print the numbers
as a table), and a fixed viewBox so it scales to the width of a phone.
"""

from __future__ import annotations

import math
import re
from html import escape

WIDTH = 640
ROW_HEIGHT = 28
LABEL_WIDTH = 120
VALUE_WIDTH = 64
COLUMN_AREA_HEIGHT = 200
AXIS_HEIGHT = 36
_ID = re.compile(r"[^A-Za-z0-9_-]")


def _text(value: object) -> str:
    return escape(str(value), quote=True)


def _number(value: object) -> float:
    """A count to draw: anything that is not a finite, non-negative number counts as zero."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return 0.0
    return number if math.isfinite(number) and number > 0 else 0.0


def _shown(value: float) -> str:
    return str(int(value)) if value == int(value) else f"{value:.1f}"


def _open(chart_id: str, title: str, desc: str, height: int) -> str:
    safe_id = _ID.sub("", chart_id) or "chart"
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart" viewBox="0 0 {WIDTH} {height}" '
        f'role="img" aria-labelledby="{safe_id}-title {safe_id}-desc">'
        f'<title id="{safe_id}-title">{_text(title)}</title>'
        f'<desc id="{safe_id}-desc">{_text(desc)}</desc>'
    )


def bar_chart_svg(*, chart_id: str, title: str, desc: str, bars: list[tuple[str, object]]) -> str:
    """Horizontal bars, one row per (label, value), longest value across the full width: a funnel."""
    values = [_number(value) for _, value in bars]
    top = max(values, default=0.0) or 1.0
    height = max(len(bars), 1) * ROW_HEIGHT + 8
    span = WIDTH - LABEL_WIDTH - VALUE_WIDTH
    parts = [_open(chart_id, title, desc, height)]
    for i, ((label, _), value) in enumerate(zip(bars, values, strict=True)):
        y = 4 + i * ROW_HEIGHT
        width = round(span * value / top, 1)
        parts.append(
            f'<g class="bar"><text x="{LABEL_WIDTH - 8}" y="{y + 18}" text-anchor="end">{_text(label)}</text>'
            f'<rect x="{LABEL_WIDTH}" y="{y + 4}" width="{width}" height="{ROW_HEIGHT - 8}"></rect>'
            f'<text x="{LABEL_WIDTH + width + 6}" y="{y + 18}">{_text(_shown(value))}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)


def column_chart_svg(*, chart_id: str, title: str, desc: str, columns: list[tuple[str, object]]) -> str:
    """Vertical columns, one per (label, value), side by side: a distribution."""
    values = [_number(value) for _, value in columns]
    top = max(values, default=0.0) or 1.0
    height = COLUMN_AREA_HEIGHT + AXIS_HEIGHT
    step = WIDTH / max(len(columns), 1)
    parts = [_open(chart_id, title, desc, height)]
    usable = COLUMN_AREA_HEIGHT - 20  # room for the count above the tallest column
    for i, ((label, _), value) in enumerate(zip(columns, values, strict=True)):
        x = round(i * step, 1)
        bar_height = round(usable * value / top, 1)
        y = COLUMN_AREA_HEIGHT - bar_height
        middle = round(x + step / 2, 1)
        parts.append(
            f'<g class="bar"><rect x="{round(x + 4, 1)}" y="{y}" width="{round(step - 8, 1)}" height="{bar_height}">'
            f"</rect>"
            f'<text x="{middle}" y="{round(y - 6, 1)}" text-anchor="middle">{_text(_shown(value))}</text>'
            f'<text x="{middle}" y="{COLUMN_AREA_HEIGHT + 22}" text-anchor="middle" class="axis">'
            f"{_text(label)}</text></g>"
        )
    parts.append("</svg>")
    return "".join(parts)
