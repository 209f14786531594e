"""The pushes of an invite over time as an SVG picture, drawn on the server: data in, markup out.

Framework-free. One row per branch, x is time, one mark per push of that branch, coloured by how
many tickets the pushed head's run passes. Branch names and labels are a candidate's text: every
piece of text and every attribute is escaped here, since the markup is put in the page as is.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from html import escape

ROW = 26
LEFT = 150
RIGHT = 20
TOP = 10
BOTTOM = 30
RADIUS = 6
MAX_ROWS = 40
NAME_CHARS = 22


@dataclass(frozen=True)
class Mark:
    at: datetime
    branch: str
    passed: int | None  # tickets the pushed head passes; None: not scored, or the branch was deleted
    total: int
    label: str  # the mark's tooltip
    href: str = ""


def mark_class(passed: int | None, total: int) -> str:
    if passed is None:
        return "mark-none"
    if passed == 0:
        return "mark-zero"
    return "mark-all" if passed >= total else "mark-some"


def _short(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[: NAME_CHARS - 1] + "…"


def timeline_svg(*, marks: list[Mark], title: str, width: int = 760) -> str:
    """An SVG element plotting ``marks``, titled; rows beyond MAX_ROWS are left out.

    A picture (role="img") unless its marks are links: then a group of named links, since an image
    may hold no controls (assistive technology would never reach them).
    """
    branches: list[str] = []
    for mark in sorted(marks, key=lambda m: m.at):
        if mark.branch not in branches:
            branches.append(mark.branch)
    branches = branches[:MAX_ROWS]
    height = TOP + ROW * max(len(branches), 1) + BOTTOM
    shown = [m for m in marks if m.branch in branches]
    role = "group" if any(m.href for m in shown) else "img"
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" class="chart push-timeline" role="{role}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="push-timeline-title">',
        f'<title id="push-timeline-title">{escape(title)}</title>',
    ]
    if not shown:
        parts.append(f'<text x="{LEFT}" y="{TOP + ROW // 2}">No pushes.</text></svg>')
        return "".join(parts)
    start = min(m.at for m in shown).timestamp()
    span = max(max(m.at for m in shown).timestamp() - start, 1.0)
    plot = width - LEFT - RIGHT
    for row, branch in enumerate(branches):
        y = TOP + ROW * row + ROW // 2
        parts.append(
            f'<text x="{LEFT - 10}" y="{y + 4}" text-anchor="end">{escape(_short(branch))}</text>'
            f'<line class="row" x1="{LEFT}" x2="{width - RIGHT}" y1="{y}" y2="{y}"/>'
        )
    rows = {branch: row for row, branch in enumerate(branches)}
    for mark in shown:
        x = LEFT + plot * (mark.at.timestamp() - start) / span
        y = TOP + ROW * rows[mark.branch] + ROW // 2
        circle = (
            f'<circle class="{mark_class(mark.passed, mark.total)}" cx="{x:.1f}" cy="{y}" r="{RADIUS}">'
            f"<title>{escape(mark.label)}</title></circle>"
        )
        link = f'<a href="{escape(mark.href)}" aria-label="{escape(mark.label)}">{circle}</a>'
        parts.append(link if mark.href else circle)
    bottom = TOP + ROW * len(branches) + BOTTOM - 8
    first, last = min(m.at for m in shown), max(m.at for m in shown)
    parts.append(
        f'<text x="{LEFT}" y="{bottom}">{escape(first.strftime("%Y-%m-%d %H:%M"))}</text>'
        f'<text x="{width - RIGHT}" y="{bottom}" text-anchor="end">{escape(last.strftime("%Y-%m-%d %H:%M"))}</text>'
    )
    parts.append("</svg>")
    return "".join(parts)
