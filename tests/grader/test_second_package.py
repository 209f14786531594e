"""The second built-in package, assessment_orders, passes every check of a real validation (runtime,
sandbox, trusted grader), and its hidden tests reject each of its decoys by name."""

from pathlib import Path

import pytest

from grader.validate import ValidationReport
from tests.conftest import ROOT
from tests.support.validation import session_folder, validated_once

# A validation takes minutes of CPU; a busy machine stretches it, and one may wait for another's.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]

PACKAGE = ROOT / "assessment_orders"


@pytest.fixture
def report(db, tmp_path_factory) -> ValidationReport:
    """The session's one validation of the package, whichever test or process asks first."""
    from portal.assessments.services import assessment_validate

    folder = session_folder(tmp_path_factory.getbasetemp())
    return validated_once(PACKAGE, folder=folder, validate=assessment_validate)


def decoy_names() -> list[str]:
    return sorted(path.stem for path in Path(PACKAGE / "decoys").glob("ticket-*.patch"))


def test_the_second_package_passes_every_check(report):
    table = report.table(verbose=True)
    assert report.ok, table
    assert report.failed == []
    assert "with all fixes, every hidden test passes" in table
    assert "hidden suite runs within" in table
    assert any("concurrency test" in check.name for check in report.checks), table


def test_each_decoy_is_rejected_by_the_hidden_tests_of_its_ticket(report):
    names = decoy_names()
    assert len(names) >= 4
    assert {int(name.split("-")[1]) for name in names} == {1, 2, 3, 4}
    for name in names:
        ticket = int(name.split("-")[1])
        [check] = [check for check in report.decoys if f"decoy {name} is rejected" in check.name]
        assert check.ok, check.detail
        assert check.ticket == ticket
        assert f"test_ticket_{ticket}.py::" in check.detail, check.detail
