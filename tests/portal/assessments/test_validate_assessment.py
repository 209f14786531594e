"""validate_assessment runs the real grading path (runtime, sandbox, trusted grader) and fails on
deliberately broken copies of the built-in package for the right reasons."""

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.assessments.models import Assessment
from tests.conftest import ROOT
from tests.support.validation import only_decoys as _only_decoys
from tests.support.validation import table_rows as _rows
from tests.support.validation import validate_command as _validate

# Validations take minutes of CPU; a busy machine stretches them, and one may wait for another's.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def test_the_built_in_package_passes_every_check(db, built_in_validated_once):
    ok, table = _validate(ROOT / "assessment_app")
    assert ok, table
    assert _rows(table, "FAILED") == []
    assert "with all fixes, every hidden test passes" in table
    assert "hidden suite runs within" in table


def test_validation_lists_every_built_in_decoy_as_rejected_by_the_tests_that_fail_it(db, built_in_validated_once):
    ok, table = _validate(ROOT / "assessment_app")
    assert ok, table
    decoys = sorted(path.stem for path in (ROOT / "assessment_app" / "decoys").glob("ticket-*.patch"))
    assert len(decoys) >= 7
    for name in decoys:
        ticket = name.split("-")[1]
        [row] = [row for row in _rows(table, "ok") if f"decoy {name} is rejected by its hidden tests" in row]
        assert row.startswith(f"#{ticket} "), row
        assert f" fail: test_ticket_{ticket}.py::" in row, row
    shared_session = [row for row in _rows(table, "ok") if "decoy ticket-3-" in row and "rejected" in row]
    assert len(shared_session) == 2
    assert all("test_requests_sent_at_the_same_time_each_get_their_own_answer" in row for row in shared_session)


def test_a_decoy_the_hidden_tests_accept_or_that_does_not_apply_is_refused_by_name(db, package):
    reference = (package / "reference" / "ticket-1.patch").read_text()
    stale = reference.replace("return list(rows), has_next", "return rows, has_next, None")
    _only_decoys(package, {"ticket-1-really-the-fix.patch": reference, "ticket-2-stale.patch": stale})
    out = StringIO()
    with pytest.raises(CommandError, match=r"Refused: .*decoy ticket-1-really-the-fix is rejected by its hidden tests"):
        call_command("load_assessment", str(package), stdout=out)
    failed = _rows(out.getvalue(), "FAILED")
    accepted = [row for row in failed if "decoy ticket-1-really-the-fix is rejected" in row]
    assert accepted and accepted[0].startswith("#1"), out.getvalue()
    assert "ticket-1-really-the-fix passes every hidden test of ticket #1" in accepted[0]
    assert any(row.startswith("#2") and "decoy ticket-2-stale applies alone" in row for row in failed), out.getvalue()
    assert not Assessment.objects.exists()


def test_a_decoy_for_a_ticket_that_does_not_exist_is_refused_at_once(db, package):
    _only_decoys(package, {"ticket-9-nothing.patch": (package / "reference" / "ticket-1.patch").read_text()})
    refusal = r"ticket-9-nothing\.patch is for ticket #9, which the manifest does not have"
    with pytest.raises(CommandError, match=refusal):
        call_command("load_assessment", str(package), stdout=StringIO())
    assert not Assessment.objects.exists()


def test_a_decoy_named_otherwise_is_refused_at_once(db, package):
    _only_decoys(package, {"shortcut.patch": (package / "reference" / "ticket-1.patch").read_text()})
    with pytest.raises(CommandError, match=r"shortcut\.patch should be a file named ticket-<number>-<name>\.patch"):
        call_command("validate_assessment", str(package), stdout=StringIO())


def test_a_package_without_a_manifest_is_refused_at_once(db, tmp_path):
    with pytest.raises(CommandError, match=r"holds no assessment\.toml"):
        call_command("validate_assessment", str(tmp_path), stdout=StringIO())
