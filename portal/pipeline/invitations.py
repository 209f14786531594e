"""Inviting candidates in batches: reading the recruiter's list or CSV, checking it, creating it.

The invite form and the CSV import read their input differently but share everything after
that: each produces ``InviteRequest`` rows of plain text, ``invite_requests_check`` applies every
rule to the whole batch (a fixed number of queries, whatever its size), and ``invitations_create``
checks again and creates all rows or none in one transaction, through the same service as
``manage.py invite``. Checking again inside the transaction matters: between the preview and the
confirmation someone else may have invited the same person.
"""

from __future__ import annotations

import csv
import io
import math
import shutil
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.db.models.functions import Lower
from django.utils import timezone

from portal.assessments.models import Assessment, AssessmentVersion
from portal.hosting.services import bundle_path, invite_open, repository_path
from portal.invites.emails import invitation_queue
from portal.invites.models import Invite
from portal.invites.services import InviteCreated, candidate_get_or_create

# Batch caps: one form post or one file creates at most this many invites (and repositories), so
# that one request stays well inside a web worker's timeout.
FORM_MAX_ROWS = 100
CSV_MAX_ROWS = 200
CSV_MAX_BYTES = 1024 * 1024
# A recruiter's sheet has a handful of columns and short lines; a file far past these is refused
# before it is parsed, whatever its size under CSV_MAX_BYTES.
CSV_MAX_COLUMNS = 50
CSV_MAX_LINE_CHARS = 10_000

NAME_MAX_LENGTH = 200  # Candidate.name
EMAIL_MAX_LENGTH = 254  # the longest address SMTP allows
TIME_LIMIT_MAX_HOURS = 720  # thirty days

CSV_REQUIRED_COLUMNS = ("name", "email")
CSV_OPTIONAL_COLUMNS = ("assessment", "deadline", "time_limit_hours")

# Text direction controls (U+202A-U+202E, U+2066-U+2069) can make a name read as something else
# on the recruiter's screen; other format characters (joiners) are legitimate in names.
_BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")


@dataclass(frozen=True)
class InviteRequest:
    """One candidate to invite, as the recruiter wrote it: text only, nothing checked yet.

    ``line`` is where it came from (a line of the form, a row of the file, the header being row
    1); ``problem`` is set when the line itself could not be read (a wrong number of fields).
    """

    line: int
    name: str
    email: str
    assessment: str = ""
    deadline: str = ""
    time_limit_hours: str = ""
    problem: str = ""

    def as_list(self) -> list:
        return [self.line, self.name, self.email, self.assessment, self.deadline, self.time_limit_hours, self.problem]

    @classmethod
    def from_list(cls, values: Sequence) -> InviteRequest:
        line, name, email, assessment, deadline, hours, problem = values
        return cls(int(line), str(name), str(email), str(assessment), str(deadline), str(hours), str(problem))


@dataclass(frozen=True)
class RowError:
    """What is wrong with one row; ``field`` names the input it concerns ("line" for the row as a whole)."""

    field: str
    message: str


@dataclass
class CheckedRow:
    request: InviteRequest
    errors: list[RowError] = field(default_factory=list)
    assessment_version: AssessmentVersion | None = None
    deadline: datetime | None = None
    time_limit: timedelta | None = None

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class BatchCheck:
    """Every row with its errors, and what is wrong with the batch as a whole (``errors``)."""

    rows: list[CheckedRow]
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors and all(row.ok for row in self.rows)

    @property
    def rows_with_errors(self) -> list[CheckedRow]:
        return [row for row in self.rows if row.errors]


class CsvError(Exception):
    """The file as a whole cannot be read; the message says what to do about it."""


def inviteable_assessments() -> list[Assessment]:
    """Assessments that have a loaded version, which is what an invite needs."""
    return list(Assessment.objects.filter(versions__isnull=False).distinct().order_by("title"))


# Reading ------------------------------------------------------------------------------------


def _split_candidate(text: str) -> tuple[str, str] | None:
    """``Name <email>`` or ``Name, email`` (the last comma, so "Doe, Ann, ann@x" keeps its comma)."""
    if text.endswith(">") and "<" in text:
        name, _, email = text[:-1].rpartition("<")
    elif "," in text:
        name, _, email = text.rpartition(",")
    else:
        return None
    name = name.strip()
    if len(name) >= 2 and name[0] == name[-1] == '"':
        name = name[1:-1].strip()
    return name, email.strip()


def requests_from_text(text: str, *, assessment: str, deadline: str, time_limit_hours: str) -> list[InviteRequest]:
    """The form's candidates, one per non-blank line; every row gets the form's assessment and times.

    Lines are numbered as the recruiter sees them in the box, blank ones included.
    """
    requests = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line:
            continue
        split = _split_candidate(line)
        if split is None:
            requests.append(
                InviteRequest(
                    number, line, "", assessment, deadline, time_limit_hours, "Write it as Name <email> or Name, email."
                )
            )
            continue
        name, email = split
        requests.append(InviteRequest(number, name, email, assessment, deadline, time_limit_hours))
    return requests


def _column(name: str) -> str:
    return name.strip().lower().replace(" ", "_").replace("-", "_")


@dataclass(frozen=True)
class CsvRead:
    requests: list[InviteRequest]
    ignored_columns: list[str]


def requests_from_csv(
    data: bytes, *, assessment: str = "", deadline: str = "", time_limit_hours: str = "", max_rows: int = CSV_MAX_ROWS
) -> CsvRead:
    """The rows of an uploaded CSV file; the defaults fill the optional cells a row leaves empty.

    Raises CsvError for what makes the whole file unreadable (size, encoding, header, row count);
    a row with the wrong number of fields is read as far as it goes and carries its ``problem``.
    """
    if len(data) > CSV_MAX_BYTES:
        raise CsvError(f"The file is larger than {CSV_MAX_BYTES // (1024 * 1024)} MB; split it into smaller files.")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise CsvError("The file is not UTF-8 text. Save it as “CSV UTF-8” and upload it again.") from None
    if not text.strip():
        raise CsvError("The file is empty.")
    # Every step is linear in the file's size, and the caps refuse a file far from a recruiter's
    # sheet (one header row of 100,000 columns) after reading only that row.
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        first = next(reader)
        if len(first) > CSV_MAX_COLUMNS:
            raise CsvError(
                f"The first row has {len(first):,} columns; at most {CSV_MAX_COLUMNS} are read. "
                "Keep the name and email columns (and any of the optional ones) and remove the others."
            )
        for number, line in enumerate(text.splitlines(), start=1):
            if len(line) > CSV_MAX_LINE_CHARS:
                raise CsvError(
                    f"Line {number} is {len(line):,} characters long; at most {CSV_MAX_LINE_CHARS:,} are read. "
                    "A row holds one candidate: check that the file has a line per candidate."
                )
        records = [first, *reader]
    except csv.Error as exc:
        raise CsvError(f"Row {reader.line_num} cannot be read as CSV ({exc}).") from None

    header = [_column(cell) for cell in records[0]]
    missing = [column for column in CSV_REQUIRED_COLUMNS if column not in header]
    if missing:
        hint = ""
        if records[0] and any(sep in records[0][0] for sep in (";", "\t")):
            hint = " The file seems to be separated by semicolons or tabs; save it with commas."
        raise CsvError(
            "The first row must name the columns: name and email are required "
            f"(missing: {', '.join(missing)}); assessment, deadline and time_limit_hours are optional.{hint}"
        )
    duplicated = sorted(column for column, count in Counter(header).items() if column and count > 1)
    if duplicated:
        raise CsvError(f"The header names these columns more than once: {', '.join(duplicated)}.")
    known = set(CSV_REQUIRED_COLUMNS + CSV_OPTIONAL_COLUMNS)
    ignored = [records[0][i].strip() for i, column in enumerate(header) if column not in known]

    rows = [(number, record) for number, record in enumerate(records[1:], start=2) if any(c.strip() for c in record)]
    if not rows:
        raise CsvError("The file has a header row but no candidates.")
    if len(rows) > max_rows:
        raise CsvError(f"The file has {len(rows)} candidates; at most {max_rows} can be imported at once.")

    defaults = {"assessment": assessment, "deadline": deadline, "time_limit_hours": time_limit_hours}
    requests = []
    for number, record in rows:
        cells = {column: record[i].strip() for i, column in enumerate(header) if i < len(record)}
        values = {column: cells.get(column) or defaults[column] for column in CSV_OPTIONAL_COLUMNS}
        problem = ""
        if len(record) != len(header):
            problem = f"This row has {len(record)} fields; the header has {len(header)}."
        requests.append(InviteRequest(number, cells.get("name", ""), cells.get("email", ""), problem=problem, **values))
    return CsvRead(requests=requests, ignored_columns=ignored)


# Checking -----------------------------------------------------------------------------------


def _name_errors(name: str) -> list[RowError]:
    if not name:
        return [RowError("name", "The name is missing.")]
    errors = []
    if len(name) > NAME_MAX_LENGTH:
        errors.append(RowError("name", f"The name is longer than {NAME_MAX_LENGTH} characters."))
    if any(unicodedata.category(c) == "Cc" or c in _BIDI_CONTROLS for c in name):
        errors.append(RowError("name", "The name contains control characters."))
    return errors


def _email_errors(email: str) -> list[RowError]:
    if not email:
        return [RowError("email", "The email address is missing.")]
    if len(email) > EMAIL_MAX_LENGTH:
        return [RowError("email", f"The email address is longer than {EMAIL_MAX_LENGTH} characters.")]
    try:
        validate_email(email)
    except ValidationError:
        return [RowError("email", f"“{email}” is not an email address.")]
    return []


def parse_deadline(value: str) -> datetime:
    """ISO 8601 or the browser's datetime-local value; no time zone means the server's; a date alone
    means the end of that day. Raises ValueError."""
    value = value.strip()
    try:
        day = date.fromisoformat(value)
    except ValueError:
        moment = datetime.fromisoformat(value)
    else:
        moment = datetime.combine(day, time(23, 59))
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment)
    try:
        moment.astimezone(UTC)  # stored in UTC: a moment past the year 9999 there cannot be
    except OverflowError:
        raise ValueError(f"{value} is too far in the future") from None
    return moment


def _deadline(value: str, now: datetime) -> tuple[datetime | None, list[RowError]]:
    if not value.strip():
        return None, []
    try:
        moment = parse_deadline(value)
    except ValueError as exc:
        if "too far in the future" in str(exc):
            return None, [RowError("deadline", f"The deadline {value} is too far in the future.")]
        return None, [RowError("deadline", f"The deadline “{value}” is not a date and time such as 2026-12-01T17:00.")]
    if moment <= now:
        return None, [RowError("deadline", f"The deadline {value} is in the past.")]
    return moment, []


def _time_limit(value: str) -> tuple[timedelta | None, list[RowError]]:
    if not value.strip():
        return None, []
    try:
        hours = float(value)
    except ValueError:
        return None, [RowError("time_limit_hours", f"The time limit “{value}” is not a number of hours.")]
    if not math.isfinite(hours) or hours <= 0 or hours > TIME_LIMIT_MAX_HOURS:
        message = f"The time limit must be more than 0 and at most {TIME_LIMIT_MAX_HOURS} hours (not {value})."
        return None, [RowError("time_limit_hours", message)]
    return timedelta(hours=hours), []


def _latest_versions(slugs: Iterable[str]) -> dict[str, AssessmentVersion]:
    """Each named assessment's latest version (as Assessment.latest_version orders), in one query."""
    latest: dict[str, AssessmentVersion] = {}
    versions = AssessmentVersion.objects.filter(assessment__slug__in=set(slugs)).select_related("assessment")
    for version in versions.order_by("assessment_id", "-created_at", "-id"):
        latest.setdefault(version.assessment.slug, version)
    return latest


def _active_invites(emails: Iterable[str], slugs: Iterable[str]) -> set[tuple[str, str]]:
    """(lower-case email, assessment slug) of every active invite among these, in one query."""
    pairs = (
        Invite.objects.filter(status=Invite.Status.ACTIVE, assessment_version__assessment__slug__in=set(slugs))
        .annotate(email_lower=Lower("candidate__email"))
        .filter(email_lower__in=set(emails))
        .values_list("email_lower", "assessment_version__assessment__slug")
    )
    return set(pairs)


def invite_requests_check(
    requests: Sequence[InviteRequest], *, max_rows: int, now: datetime | None = None
) -> BatchCheck:
    """Every rule, for every row, in a fixed number of queries; nothing is written.

    A batch over ``max_rows`` is refused as a whole without checking its rows.
    """
    now = now or timezone.now()
    if not requests:
        return BatchCheck(rows=[], errors=["Add at least one candidate."])
    if len(requests) > max_rows:
        return BatchCheck(
            rows=[CheckedRow(request) for request in requests],
            errors=[f"There are {len(requests)} candidates; at most {max_rows} can be invited at once."],
        )
    rows = [CheckedRow(request) for request in requests]
    versions = _latest_versions(row.request.assessment for row in rows)
    active = _active_invites((row.request.email.lower() for row in rows), versions.keys())
    known: list[str] | None = None
    first_line: dict[str, int] = {}
    for row in rows:
        request = row.request
        if request.problem:
            row.errors.append(RowError("line", request.problem))
        # A line that could not be split says so once, rather than also as a missing name or email.
        if request.name or not request.problem:
            row.errors += _name_errors(request.name)
        email_errors = _email_errors(request.email)
        if request.email or not request.problem:
            row.errors += email_errors
        email = request.email.lower()
        if not email_errors:
            if email in first_line:
                row.errors.append(RowError("email", f"{request.email} is also on line {first_line[email]}."))
            else:
                first_line[email] = request.line
        row.assessment_version = versions.get(request.assessment)
        if not request.assessment:
            row.errors.append(RowError("assessment", "Choose an assessment."))
        elif row.assessment_version is None:
            if known is None:
                known = [a.slug for a in inviteable_assessments()]
            row.errors.append(
                RowError(
                    "assessment",
                    f"There is no assessment “{request.assessment}” (known: {', '.join(known) or 'none loaded'}).",
                )
            )
        elif not email_errors and (email, request.assessment) in active:
            row.errors.append(
                RowError("email", f"{request.email} already has an active invite to {request.assessment}.")
            )
        row.deadline, deadline_errors = _deadline(request.deadline, now)
        row.time_limit, time_limit_errors = _time_limit(request.time_limit_hours)
        row.errors += deadline_errors + time_limit_errors
    return BatchCheck(rows=rows)


# Creating -----------------------------------------------------------------------------------


@dataclass
class InvitationsResult:
    check: BatchCheck
    created: list[InviteCreated] = field(default_factory=list)


def _remove_repositories(created: list[InviteCreated]) -> None:
    # The transaction drops the rows; the repositories already made on disk must go with them.
    for item in created:
        shutil.rmtree(repository_path(item.invite), ignore_errors=True)
        bundle_path(item.invite).unlink(missing_ok=True)


def invitations_create(
    *,
    requests: Sequence[InviteRequest],
    created_by,
    max_rows: int,
    send_email: bool,
    now: datetime | None = None,
) -> InvitationsResult:
    """Check the batch again and, if every row passes, invite every candidate; otherwise nothing.

    All in one transaction, so a row that fails while being created (a repository that cannot be
    written) leaves no candidate, invite, repository or queued email behind. Emails are queued
    on commit by ``invitation_queue``, so none leaves for an invite that was rolled back.
    """
    created: list[InviteCreated] = []
    try:
        with transaction.atomic():
            check = invite_requests_check(requests, max_rows=max_rows, now=now)
            if not check.ok:
                return InvitationsResult(check=check)
            for row in check.rows:
                candidate = candidate_get_or_create(
                    name=row.request.name, email=row.request.email, created_by=created_by
                )
                created.append(
                    invite_open(
                        candidate=candidate,
                        assessment_version=row.assessment_version,
                        deadline=row.deadline,
                        time_limit=row.time_limit,
                        created_by=created_by,
                    )
                )
                if send_email:
                    invitation_queue(invite=created[-1].invite, by=created_by)
    except BaseException:
        _remove_repositories(created)
        raise
    return InvitationsResult(check=check, created=created)
