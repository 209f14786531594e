"""A scoring run slowed down by other work on the worker host is not the candidate's failure: it is
played again, and a host that stays too busy ends it as an error that says so, never as a verdict.

The runs go the real way (the sandbox, the trusted grader); the test's own busy loops hold both
cores, and a run budget far below what a run needs makes the budget's wall clock the one that ends
it, while the run has used less than half of it on its own clocks.
"""

import pytest

from portal.scoring.models import Run
from portal.scoring.services import STARVED_PLAYS, run_execute, run_requeue
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.load import busy_cores

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

FIX_1 = ROOT / "assessment_app" / "reference" / "ticket-1.patch"
# The app alone starts in about 0.7 CPU s and the hidden suite uses about 2: with both cores held by
# six loops, the wall clock reaches this budget while the run has used under half of it.
TIGHT_BUDGET = 3


@pytest.fixture
def fixed(invite, tmp_path, settings) -> Run:
    """The run of a commit that fixes ticket 1 on issue-1, queued, with a budget the load will outlast."""
    settings.PORTAL_RUN_BUDGET_SECONDS = TIGHT_BUDGET
    sha = candidate_commit(invite, tmp_path / "work", branch="issue-1", patch=FIX_1)
    return Run.objects.get(invite=invite, commit=sha)


def _scores_on_a_free_host(run: Run, settings) -> None:
    settings.PORTAL_RUN_BUDGET_SECONDS = 240
    run_execute(run_id=run.pk)
    run.refresh_from_db()
    assert run.status == Run.Status.FAILED, run.reason  # scored: ticket 1 passes, the others do not
    assert {v.ticket for v in run.verdicts.filter(passed=True)} == {1}


def test_a_run_starved_by_busy_neighbours_is_played_again_not_failed(fixed, settings):
    with busy_cores():
        run_execute(run_id=fixed.pk)
    fixed.refresh_from_db()

    assert fixed.status == Run.Status.QUEUED, fixed.reason
    assert fixed.reason.startswith(
        f"played again (2 of {STARVED_PLAYS}): the worker host was too busy: "
        f"the run took longer than its budget of {TIGHT_BUDGET} s (PORTAL_RUN_BUDGET_SECONDS) ("
    )
    assert "CPU s" in fixed.reason  # with the figures that show it
    assert not fixed.verdicts.exists() and not fixed.results.exists()
    seed = fixed.seed

    _scores_on_a_free_host(fixed, settings)
    assert fixed.seed == seed  # the same requests as the starved play


def test_a_host_that_stays_too_busy_ends_the_run_as_an_error_that_says_so(fixed, settings):
    with busy_cores():
        for _ in range(STARVED_PLAYS):
            run_execute(run_id=fixed.pk)
    fixed.refresh_from_db()

    assert fixed.status == Run.Status.ERROR
    assert fixed.reason.startswith(
        f"the worker host was too busy to score this commit in {STARVED_PLAYS} tries (the code was not too slow)"
    )
    assert not fixed.verdicts.exists()

    # Retried like any error run (rescore --errors), it gets its plays afresh.
    assert run_requeue(run=fixed)
    _scores_on_a_free_host(fixed, settings)
