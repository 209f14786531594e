"""CSV for spreadsheets, written one line at a time for a streamed response.

Every export (the recruiter's candidates, the reviews) goes through here, so each keeps the same
two promises: a spreadsheet reads the file as UTF-8 (a byte order mark), and no cell, whoever
wrote it (a candidate's name, a reviewer's summary), runs as a formula.
"""

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime

from django.utils import timezone

# A spreadsheet runs a cell starting with one of these as a formula.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> object:
    """A value made safe for a spreadsheet: text that would start a formula gets a leading apostrophe."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def csv_when(moment: datetime | None) -> str:
    """A moment in the portal's time zone, to the second; "" for none."""
    return timezone.localtime(moment).isoformat(timespec="seconds") if moment else ""


class _Echo:
    """A file-like object whose write returns the line, for csv.writer to format one row at a time."""

    def write(self, value: str) -> str:
        return value


def csv_lines(header: list[str], rows: Iterable[Iterable]) -> Iterator[str]:
    """The header (after a byte order mark) then each row, every cell made safe, one line at a time."""
    writer = csv.writer(_Echo())
    yield "\ufeff" + writer.writerow(header)
    for cells in rows:
        yield writer.writerow([csv_cell(cell) for cell in cells])
