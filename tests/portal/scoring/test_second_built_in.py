"""The second built-in assessment (assessment_orders) scores like the first: each reference fix pushed
on its own branch earns exactly its ticket, and each known-wrong decoy earns nothing for its ticket.

Every run goes the real way: the pushed commit exported, its app served in the sandbox with the
package's runtime, the hidden tests run by the trusted grader over HTTP.
"""

import pytest

from portal.assessments.services import assessment_version_install
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

PACKAGE = ROOT / "assessment_orders"
FIXES = sorted(PACKAGE.glob("reference/ticket-*.patch"))
DECOYS = sorted(PACKAGE.glob("decoys/ticket-*.patch"))


@pytest.fixture
def orders_invite(db):
    return make_invite(assessment_version_install(package_dir=PACKAGE)).invite


def _fixed(run: Run) -> set[int]:
    return {verdict.ticket for verdict in run.verdicts.filter(passed=True)}


def _ticket(patch) -> int:
    return int(patch.stem.split("-")[1])


def test_the_package_has_a_fix_per_ticket_and_decoys():
    assert [_ticket(patch) for patch in FIXES] == list(range(1, len(FIXES) + 1)) and len(FIXES) >= 4
    assert {_ticket(patch) for patch in DECOYS} == {_ticket(patch) for patch in FIXES}


@pytest.mark.parametrize("patch", FIXES, ids=lambda patch: patch.stem)
def test_each_reference_fix_alone_earns_exactly_its_ticket(orders_invite, tmp_path, patch):
    number = _ticket(patch)
    sha = candidate_commit(orders_invite, tmp_path / "work", branch=f"issue-{number}", patch=patch)
    run = score_commit(orders_invite, sha)
    assert run.status == Run.Status.FAILED, run.reason  # the other tickets still fail
    assert _fixed(run) == {number}
    assert run.verdicts.count() == len(FIXES)


@pytest.mark.parametrize("patch", DECOYS, ids=lambda patch: patch.stem)
def test_each_decoy_earns_nothing_for_its_ticket(orders_invite, tmp_path, patch):
    number = _ticket(patch)
    sha = candidate_commit(orders_invite, tmp_path / "work", branch=f"issue-{number}", patch=patch)
    run = score_commit(orders_invite, sha)
    assert run.status == Run.Status.FAILED, run.reason
    assert number not in _fixed(run)
