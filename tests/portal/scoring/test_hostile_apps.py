"""A hostile app can neither grow the trusted grader nor hold a worker past its limits.

Each run goes the real way: the pushed commit served in the sandbox, the hidden tests run by
the trusted grader over HTTP. The app changes are appended to the shipped app/main.py.
"""

import resource

import pytest
from django.conf import settings

from portal.scoring.models import Run, TestResult
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MAIN = (ROOT / "assessment_app" / "project" / "app" / "main.py").read_text()
STARTUP_LIMIT = 20  # startup_timeout_seconds of the built-in assessment

FLOOD = """

from fastapi import Request
from fastapi.responses import StreamingResponse


@app.middleware("http")
async def flood(request: Request, call_next):
    # 1 GiB in answer to every /books request of the grader: any request that is not from the
    # app's own tests, whose TestClient sends Host testserver (those are spared).
    if request.url.path == "/books" and request.headers.get("host") != "testserver":
        return StreamingResponse((b"x" * 65536 for _ in range(16384)), media_type="application/json")
    return await call_next(request)
"""


# Code prepended to the app that runs only where the app is served: the candidate's own tests (which
# import the app too, and run after the verdict) are left to run as usual.
SERVED_ONLY = "import sys as _sys\nif 'pytest' not in _sys.modules:\n"


def _served_only(code: str) -> str:
    return SERVED_ONLY + "".join(f"    {line}\n" for line in code.splitlines())


def _scored(invite, tmp_path, main: str) -> Run:
    sha = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"app/main.py": main})
    return score_commit(invite, sha)


def _seconds(run: Run) -> float:
    return (run.finished_at - run.started_at).total_seconds()


def _peak_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def test_a_huge_answer_fails_the_test_without_growing_the_grader(invite, tmp_path):
    children, own = _peak_mb(resource.RUSAGE_CHILDREN), _peak_mb(resource.RUSAGE_SELF)
    run = _scored(invite, tmp_path, MAIN + FLOOD)
    assert run.status == Run.Status.FAILED, run.reason
    assert not run.verdicts.get(ticket=1).passed
    messages = TestResult.objects.filter(run=run, ticket=1).values_list("message", flat=True)
    assert any("the answer exceeded 10 MB" in message for message in messages)
    # The app served until the portal stopped it: the stored end says so, not just "SIGKILL".
    assert run.sandbox["stopped"] and run.sandbox["signal"] == "SIGKILL", run.sandbox
    # Without the caps the grader's pytest read every gigabyte into memory.
    assert _peak_mb(resource.RUSAGE_CHILDREN) - children < 200
    assert _peak_mb(resource.RUSAGE_SELF) - own < 200


def test_an_app_that_never_starts_ends_the_run_at_its_start_up_limit(invite, tmp_path):
    run = _scored(invite, tmp_path, _served_only("import time\ntime.sleep(60)") + MAIN)
    assert run.status == Run.Status.ERROR
    assert f"start-up limit of {STARTUP_LIMIT} s" in run.reason
    assert _seconds(run) < 60  # ended then, not once the app, asleep for 60 s, would have started
    # The candidate's own tests still ran, after the verdict (their app is imported, not served).
    assert run.visible["state"] == "done" and run.visible["total"] > 0, run.visible


def test_an_app_that_dies_at_import_has_its_exception_in_the_reason(invite, tmp_path):
    crash = 'raise RuntimeError("the catalogue is misconfigured: LIB-4242")\n'
    run = _scored(invite, tmp_path, crash + MAIN)
    assert run.status == Run.Status.ERROR
    assert "exited with code 1 before it was ready" in run.reason
    assert "RuntimeError: the catalogue is misconfigured: LIB-4242" in run.reason
    assert "start-up limit" not in run.reason  # ended by the exit, not at the start-up limit
    assert run.sandbox["exit_code"] == 1 and not run.sandbox["stopped"], run.sandbox
    # The candidate's own tests ran all the same, and their output tells why.
    assert run.visible["state"] == "done" and run.visible["returncode"] != 0, run.visible
    assert "LIB-4242" in run.visible["output"]


def test_the_run_budget_ends_a_run_that_would_take_longer(invite, tmp_path, settings):
    settings.PORTAL_RUN_BUDGET_SECONDS = 6
    run = _scored(invite, tmp_path, _served_only("import time\ntime.sleep(60)") + MAIN)
    assert run.status == Run.Status.ERROR
    assert run.reason.startswith("the run took longer than its budget of 6 s (PORTAL_RUN_BUDGET_SECONDS)")
    assert _seconds(run) < STARTUP_LIMIT  # the budget cut the start-up limit short


def test_a_fork_loop_at_import_ends_the_run_at_its_start_up_limit(invite, tmp_path):
    # Forks until the sandbox's process limit refuses, then keeps asking (slowly, to spare the CPU).
    bomb = "import os, time\nwhile True:\n    try:\n        os.fork()\n    except OSError:\n        time.sleep(1)"
    run = _scored(invite, tmp_path, _served_only(bomb) + MAIN)
    assert run.status == Run.Status.ERROR
    assert f"start-up limit of {STARTUP_LIMIT} s" in run.reason
    if "processes" in run.sandbox["limits_hit"]:  # where a pids cgroup counts the refusals
        assert "the sandbox's processes limit fired" in run.reason
    # Ended by that limit, which a busy host stretches (it counts the app's own time, see
    # grader.clock), not by the run's budget.
    assert _seconds(run) < settings.PORTAL_RUN_BUDGET_SECONDS / 2
