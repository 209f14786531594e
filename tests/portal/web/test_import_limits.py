"""The CSV import's caps on columns and line length, and parsing that grows linearly with the file:
a file shaped to keep a web worker busy (one header row of 100,000 columns) is refused at once."""

import contextlib
import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from portal.invites.models import Invite
from portal.pipeline.invitations import CSV_MAX_COLUMNS, CSV_MAX_LINE_CHARS, CsvError, requests_from_csv

# Against the quadratic header check this file replaced, the first test would run for an hour.
pytestmark = pytest.mark.timeout(60)

URL = reverse("recruiter_import")


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


def _upload(client, data: bytes, **defaults):
    return client.post(URL, {"file": SimpleUploadedFile("candidates.csv", data, content_type="text/csv"), **defaults})


def _wide_header(columns: int) -> bytes:
    """A header of ``columns`` one-letter columns after name and email (two bytes a column), one row."""
    return b"name,email" + b",a" * (columns - 2) + b"\nAnn,ann@example.com\n"


def _long_rows(rows: int) -> bytes:
    """``rows`` candidates, each followed by 4,000 empty fields (a line of about 4 KB)."""
    return b"name,email\n" + b"".join(b"C %d,c%d@example.com" % (n, n) + b"," * 4000 + b"\n" for n in range(rows))


def _cpu_seconds_per_read(data: bytes, repeat: int) -> float:
    """CPU time (not wall time: other processes share the machine) of one requests_from_csv call."""
    start = time.process_time()
    for _ in range(repeat):
        with contextlib.suppress(CsvError):
            requests_from_csv(data, assessment="library")
    return (time.process_time() - start) / repeat


def test_a_200_kb_header_of_100000_columns_is_refused_with_the_column_cap(db, signed_in, assessment_version):
    data = _wide_header(100_000)
    assert len(data) > 200_000
    response = _upload(signed_in, data, assessment=assessment_version.assessment.slug)
    assert response.status_code == 400
    assert response.context["error"] == (
        f"The first row has 100,000 columns; at most {CSV_MAX_COLUMNS} are read. "
        "Keep the name and email columns (and any of the optional ones) and remove the others."
    )
    assert "at most 50 are read" in response.content.decode()
    assert Invite.objects.count() == 0


def test_a_header_one_column_past_the_cap_is_refused_and_one_at_the_cap_is_read(db):
    with pytest.raises(CsvError, match=f"The first row has {CSV_MAX_COLUMNS + 1} columns"):
        requests_from_csv(_wide_header(CSV_MAX_COLUMNS + 1))
    read = requests_from_csv(
        b"name,email" + b"".join(b",extra%d" % n for n in range(CSV_MAX_COLUMNS - 2)) + b"\nA,a@b.c\n"
    )
    assert [(r.name, r.email) for r in read.requests] == [("A", "a@b.c")]
    assert len(read.ignored_columns) == CSV_MAX_COLUMNS - 2


def test_a_line_past_the_length_cap_is_refused_with_its_number(db, signed_in, assessment_version):
    data = b"name,email\nAnn,ann@example.com\nBob,bob@example.com,notes " + b"x" * CSV_MAX_LINE_CHARS + b"\n"
    response = _upload(signed_in, data, assessment=assessment_version.assessment.slug)
    assert response.status_code == 400
    error = response.context["error"]
    assert error.startswith(f"Line 3 is {CSV_MAX_LINE_CHARS + 26:,} characters long; at most {CSV_MAX_LINE_CHARS:,}")
    assert Invite.objects.count() == 0


@pytest.mark.parametrize(
    ("shape", "small", "large"),
    [
        # 3,000 then 30,000 columns: the old header check took 100 times longer for the larger.
        ("a wide header", _wide_header(3_000), _wide_header(30_000)),
        ("long rows", _long_rows(20), _long_rows(200)),
    ],
)
def test_reading_takes_cpu_time_linear_in_the_files_size(db, shape, small, large):
    assert 9 < len(large) / len(small) < 11
    _cpu_seconds_per_read(small, 3)  # warm up: imports, caches
    per_small = _cpu_seconds_per_read(small, 200)
    per_large = _cpu_seconds_per_read(large, 20)
    # Linear: about 10 times longer for 10 times the bytes; quadratic would be about 100 times.
    assert per_large / per_small < 30, f"{shape}: {per_large / per_small:.0f} times the CPU time for 10 times the size"
