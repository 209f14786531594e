"""The example packages in other runtimes go the portal's way: each validates in the sandbox (every
fix, decoy and budget), and a pushed reference fix earns exactly its ticket, scored by the trusted
grader over HTTP like a Python package's. examples/loans-pg, with a service beside its app, has its
own module (test_pg_package.py); the runtimes' own pieces are in test_node_package.py and
tests/grader/test_go_runtime.py.
"""

import pytest

from portal.assessments.services import assessment_validate, assessment_version_install
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(900)]
# Debian's node, npm and golang-go are test packages (Makefile TEST_OS_PACKAGES): missing, these
# tests fail, never skip.

# Each example and the number of checks its validation makes.
EXAMPLES = {"node-notes": 31, "go-counter": 29}


@pytest.mark.parametrize(("name", "checks"), EXAMPLES.items())
def test_the_example_validates_in_the_sandbox(db, name, checks):
    report = assessment_validate(package_dir=ROOT / "examples" / name, flake_runs=3)
    assert report.ok, report.table(verbose=True)
    assert len(report.checks) == checks


@pytest.mark.parametrize("name", EXAMPLES)
@pytest.mark.parametrize("number", [1, 2])
def test_a_pushed_reference_fix_earns_exactly_its_ticket(db, tmp_path, name, number):
    example = ROOT / "examples" / name
    invite = make_invite(assessment_version_install(package_dir=example)).invite
    patch = example / "reference" / f"ticket-{number}.patch"
    sha = candidate_commit(invite, tmp_path / "work", branch=f"issue-{number}", patch=patch)
    scored = score_commit(invite, sha)
    assert scored.status == Run.Status.FAILED, scored.reason  # the other ticket still fails
    assert {verdict.ticket for verdict in scored.verdicts.filter(passed=True)} == {number}
    assert scored.verdicts.count() == 2
