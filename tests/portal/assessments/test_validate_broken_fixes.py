"""Validation refuses a package whose reference fixes are wrong, naming the ticket.

One package carries two faults, each on a ticket of its own, and is validated once (a validation
costs one to two CPU-minutes): ticket 1's "fix" fixes nothing, and ticket 3's also fixes ticket 2.
Each test reads the verdict on its own ticket.
"""

import pytest

from tests.support.validation import patch_appending as _patch
from tests.support.validation import table_rows as _rows
from tests.support.validation import validate_command as _validate

# Validations take minutes of CPU; a busy machine stretches them. A file of their own, so that a
# parallel run plays them beside the others.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


@pytest.fixture(scope="module")
def validated(django_db_setup, django_db_blocker, tmp_path_factory) -> tuple[bool, str]:
    from tests.portal.assessments.conftest import copy_without_decoys

    package = copy_without_decoys(tmp_path_factory.mktemp("broken-fixes") / "pkg")
    reference = package / "reference"
    # Ticket 1's "fix" now only adds a comment to the app: its hidden tests keep failing.
    (reference / "ticket-1.patch").write_text(_patch(package / "project", "app/main.py", "# No fix.\n"))
    # Ticket 3's fix also carries ticket 2's.
    (reference / "ticket-3.patch").write_text(
        (reference / "ticket-3.patch").read_text() + (reference / "ticket-2.patch").read_text()
    )
    with django_db_blocker.unblock():
        return _validate(package)


def test_a_fix_that_does_not_fix_its_ticket_is_reported(validated):
    ok, table = validated
    assert not ok
    failed = _rows(table, "FAILED")
    assert any(row.startswith("#1") and "its fix alone makes its hidden tests pass" in row for row in failed), table
    # Ticket 1's fault is reported on ticket 1 alone: nothing of #4, #5 or #6 (#2 and #3 carry the other fault).
    assert not any(row.startswith(("#4", "#5", "#6")) for row in failed), table


def test_a_fix_that_also_fixes_another_ticket_is_reported(validated):
    ok, table = validated
    assert not ok
    failed = _rows(table, "FAILED")
    assert any(row.startswith("#3") and "changes no other ticket's hidden results" in row for row in failed), table
    assert not any(row.startswith("#2") and "its fix alone makes its hidden tests pass" in row for row in failed), table
