"""A package in Go goes the portal's way: its runtime is the host's go with its standard library
compiled once, its build step compiles the app in the sandbox once per tree, its visible tests (go
test -json) and app run in the sandbox, and a pushed fix is scored by the trusted grader over HTTP.
"""

import pytest

from portal.assessments.services import assessment_validate, assessment_version_install
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit

pytestmark = [
    pytest.mark.integration,
    pytest.mark.timeout(900),
]
# Debian's golang-go is a test package (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.

EXAMPLE = ROOT / "examples" / "go-counter"


def test_the_example_validates_in_the_sandbox(db):
    report = assessment_validate(package_dir=EXAMPLE, flake_runs=3)
    assert report.ok, report.table(verbose=True)
    assert len(report.checks) == 29


@pytest.mark.parametrize("number", [1, 2])
def test_a_pushed_reference_fix_earns_exactly_its_ticket(db, tmp_path, number):
    invite = make_invite(assessment_version_install(package_dir=EXAMPLE)).invite
    patch = EXAMPLE / "reference" / f"ticket-{number}.patch"
    sha = candidate_commit(invite, tmp_path / "work", branch=f"issue-{number}", patch=patch)
    scored = score_commit(invite, sha)
    assert scored.status == Run.Status.FAILED, scored.reason  # the other ticket still fails
    assert {verdict.ticket for verdict in scored.verdicts.filter(passed=True)} == {number}
    assert scored.verdicts.count() == 2
