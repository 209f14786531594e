"""Validation refuses a package whose reference fixes are wrong, naming the ticket."""

import pytest

from tests.support.validation import patch_appending as _patch
from tests.support.validation import table_rows as _rows
from tests.support.validation import validate_command as _validate

# Validations take minutes of CPU; a busy machine stretches them. A file of their own, so that a
# parallel run plays them beside the others.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def test_a_fix_that_does_not_fix_its_ticket_is_reported(db, package_without_decoys):
    package = package_without_decoys
    # Ticket 1's "fix" now only adds a comment to the app: its hidden tests keep failing.
    (package / "reference" / "ticket-1.patch").write_text(_patch(package / "project", "app/main.py", "# No fix.\n"))
    ok, table = _validate(package)
    assert not ok
    failed = _rows(table, "FAILED")
    assert any(row.startswith("#1") and "its fix alone makes its hidden tests pass" in row for row in failed), table
    assert not any(row.startswith(("#2", "#3", "#4", "#5", "#6")) for row in failed), table


def test_a_fix_that_also_fixes_another_ticket_is_reported(db, package_without_decoys):
    package = package_without_decoys
    reference = package / "reference"
    combined = (reference / "ticket-1.patch").read_text() + (reference / "ticket-2.patch").read_text()
    (reference / "ticket-1.patch").write_text(combined)
    ok, table = _validate(package)
    assert not ok
    failed = _rows(table, "FAILED")
    assert any(row.startswith("#1") and "changes no other ticket's hidden results" in row for row in failed), table
