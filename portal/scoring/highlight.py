"""A stored diff as rows of highlighted HTML for the reviewer's report (Pygments, CSS classes).

Every line is a candidate's text, and so is every file name: Pygments escapes the text of every
token it writes, a line it cannot match up is escaped here, and nothing else reaches the page
unescaped. The lexer is guessed from the file name only (never from the content, which a
candidate could shape to pick a slow lexer), and plain text when nothing matches.

Highlighting the same lines of the same file gives the same HTML, so it is kept per (file name,
lines) in a small in-process cache: a page shown again costs no highlighting.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from html import escape

from django.utils.safestring import SafeString, mark_safe
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, get_lexer_for_filename
from pygments.util import ClassNotFound

from gitplumbing.diffs import Diff, FileDiff

# Classes start with this, so the page's own styles and Pygments' never meet.
CLASS_PREFIX = "hl-"
_FORMATTER = HtmlFormatter(nowrap=True, classprefix=CLASS_PREFIX)
SIGNS = {"add": "+", "del": "-", "context": " ", "note": ""}


@dataclass(frozen=True)
class Row:
    kind: str  # "hunk", "context", "add", "del", "note"
    old: int | None
    new: int | None
    html: SafeString


@dataclass(frozen=True)
class HighlightedFile:
    file: FileDiff
    rows: list[Row]
    flag: str = ""  # "changes a shipped visible test", "adds tests" or ""


def highlight_diff(diff: Diff, *, head: str = "", flags: dict | None = None) -> list[HighlightedFile]:
    """Each file of ``diff`` with its hunks as rows; ``flags`` maps a path to its test change."""
    flags = flags or {}
    files = []
    for entry in diff.files:
        change = flags.get(entry.path)
        flag = ""
        if change is not None:
            flag = "changes a shipped visible test" if change.shipped else "adds tests"
        rows = []
        for hunk in entry.hunks:
            rows.append(Row("hunk", None, None, mark_safe(escape(hunk.header))))  # noqa: S308 - escaped
            code = [line for line in hunk.lines if line.kind != "note"]
            html = iter(highlight_lines(entry.path, tuple(line.text for line in code)))
            for line in hunk.lines:
                text = escape(line.text) if line.kind == "note" else next(html)
                rows.append(Row(line.kind, line.old, line.new, mark_safe(text)))  # noqa: S308 - escaped
        files.append(HighlightedFile(file=entry, rows=rows, flag=flag))
    return files


@lru_cache(maxsize=256)
def _lexer_name(filename: str) -> str:
    try:
        return get_lexer_for_filename(filename).aliases[0]
    except (ClassNotFound, IndexError):
        return "text"


@lru_cache(maxsize=2048)
def highlight_lines(filename: str, lines: tuple[str, ...]) -> tuple[str, ...]:
    """The lines highlighted as one piece of code (HTML, one string per line, escaped)."""
    if not lines:
        return ()
    # Pygments turns carriage returns into line breaks; a line must stay one line.
    clean = [line.replace("\r", " ") for line in lines]
    lexer = get_lexer_by_name(_lexer_name(filename.rsplit("/", 1)[-1]), stripnl=False, ensurenl=True)
    out = highlight("\n".join(clean), lexer, _FORMATTER).split("\n")
    if out and out[-1] == "":
        out.pop()
    if len(out) != len(lines):  # a lexer that changed the line count: shown plain rather than misaligned
        return tuple(escape(line) for line in clean)
    return tuple(out)
