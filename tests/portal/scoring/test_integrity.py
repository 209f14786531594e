"""A candidate's code cannot raise its own score: each submission scores exactly what it deserves.

Every run here goes the real way: `git archive` of the pushed commit, the app served in the
sandbox with the assessment's runtime, the hidden tests run by the trusted grader over HTTP.
"""

import shutil
from pathlib import Path

import pytest

from grader.clock import WALL_FACTOR
from portal.assessments.services import assessment_version_install, version_shipped_dir
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PACKAGE = ROOT / "assessment_app"
ALL_TICKETS = {1, 2, 3, 4, 5, 6}


def _scored(invite, sha: str) -> Run:
    """Score this commit's run as a worker would."""
    return score_commit(invite, sha)


def _fixed(run: Run) -> set[int]:
    return {v.ticket for v in run.verdicts.filter(passed=True)}


def _submission(invite, tmp_path, changes: dict[str, str | None], branch="issue-1") -> Run:
    return _scored(invite, candidate_commit(invite, tmp_path / "work", branch=branch, changes=changes))


@pytest.mark.parametrize("number", sorted(ALL_TICKETS))
def test_each_reference_fix_alone_earns_exactly_its_ticket(invite, tmp_path, number):
    sha = candidate_commit(
        invite, tmp_path / "work", branch=f"issue-{number}", patch=PACKAGE / "reference" / f"ticket-{number}.patch"
    )
    run = _scored(invite, sha)
    assert run.status == Run.Status.FAILED, run.reason
    assert _fixed(run) == {number}
    assert run.visible["returncode"] == 1


def test_the_untouched_template_fixes_nothing(invite, tmp_path):
    # A push that changes nothing: its commit and the starting point (queued with it) are the template.
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    run = _scored(invite, invite.repository.base_commit)
    assert run.ref == "refs/heads/main"
    assert run.status == Run.Status.FAILED
    assert _fixed(run) == set()
    assert run.verdicts.count() == 6


def test_a_root_conftest_that_passes_every_test_changes_nothing(invite, tmp_path):
    conftest = (
        "import pytest\n\n"
        "@pytest.hookimpl(hookwrapper=True)\n"
        "def pytest_runtest_makereport(item, call):\n"
        "    outcome = yield\n"
        "    report = outcome.get_result()\n"
        "    report.outcome = 'passed'\n"
    )
    run = _submission(invite, tmp_path, {"conftest.py": conftest})
    assert _fixed(run) == set()
    assert run.visible["passed"] == run.visible["total"]  # it fooled its own tests only


@pytest.mark.parametrize(
    "changes",
    [
        {"sitecustomize.py": "import builtins\nbuiltins.__dict__['all'] = lambda *_: True\n"},
        {"app/zz_everything.pth": "import os; os.environ['GRADER_APP_SOCKET'] = '/nonexistent'\n"},
    ],
    ids=["sitecustomize", "pth-file"],
)
def test_interpreter_start_up_hooks_change_nothing(invite, tmp_path, changes):
    run = _submission(invite, tmp_path, changes)
    assert run.status == Run.Status.FAILED
    assert _fixed(run) == set()


def test_exiting_with_success_at_import_is_an_app_that_never_started(invite, tmp_path):
    main = tmp_path / "main.py"
    original = (version_shipped_dir(invite.assessment_version) / "app" / "main.py").read_text()
    main.write_text("import os\nos._exit(0)\n" + original)
    run = _submission(invite, tmp_path, {"app/main.py": main.read_text()})
    assert run.status == Run.Status.ERROR
    assert "the app did not start" in run.reason
    assert _fixed(run) == set()


def test_an_app_that_prints_a_fake_pytest_summary_and_writes_fake_reports_changes_nothing(invite, tmp_path):
    fake = '<testsuites><testsuite name="pytest" tests="33" failures="0" errors="0"></testsuite></testsuites>'
    original = (version_shipped_dir(invite.assessment_version) / "app" / "main.py").read_text()
    noise = (
        "import pathlib, tempfile\n"
        "print('========== 33 passed in 0.50s ==========', flush=True)\n"
        f"for where in ('hidden.xml', 'visible.xml', tempfile.gettempdir() + '/hidden.xml'):\n"
        f"    pathlib.Path(where).write_text({fake!r})\n"
    )
    run = _submission(invite, tmp_path, {"app/main.py": noise + original})
    assert run.status == Run.Status.FAILED
    assert _fixed(run) == set()
    assert run.results.filter(outcome="passed").count() == 0


def test_objects_that_equal_everything_cannot_cross_http(invite, tmp_path):
    original = (version_shipped_dir(invite.assessment_version) / "app" / "main.py").read_text()
    trick = (
        "class AlwaysEqual:\n"
        "    def __eq__(self, other):\n"
        "        return True\n"
        "    __hash__ = object.__hash__\n"
        "import builtins\nbuiltins.AlwaysEqual = AlwaysEqual\n"
    )
    run = _submission(invite, tmp_path, {"app/main.py": trick + original})
    assert _fixed(run) == set()


def test_deleting_the_visible_tests_earns_nothing(invite, tmp_path):
    run = _submission(invite, tmp_path, {"tests": None})
    assert _fixed(run) == set()
    assert run.visible["total"] == 0


def test_an_app_that_does_not_start_is_an_error_with_its_reason(invite, tmp_path):
    run = _submission(invite, tmp_path, {"app/main.py": "this is not python\n"})
    assert run.status == Run.Status.ERROR
    assert "the app did not start" in run.reason
    assert run.verdicts.count() == 0


@pytest.fixture
def impatient_version(db, tmp_path):
    """The built-in package with short time limits, so that stalling apps are cut quickly."""
    package = tmp_path / "impatient"
    shutil.copytree(PACKAGE, package, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    manifest = package / "assessment.toml"
    text = manifest.read_text()
    for old, new in [
        ("startup_timeout_seconds = 20", "startup_timeout_seconds = 5"),
        ("timeout_seconds = 60", "timeout_seconds = 15"),  # the hidden suite
        ("timeout_seconds = 120", "timeout_seconds = 10"),  # the visible tests, which stall too
        ("request_timeout_seconds = 5", "request_timeout_seconds = 2"),
    ]:
        assert old in text, old
        text = text.replace(old, new)
    manifest.write_text(text)
    return assessment_version_install(package_dir=package)


def _hanging_app(shipped: Path, body: str) -> str:
    original = (shipped / "app" / "main.py").read_text()
    return original + "\n\n" + body


def test_an_app_that_hangs_on_every_request_fixes_nothing_and_the_run_ends(impatient_version, tmp_path):
    invite = make_invite(impatient_version).invite
    hang = (
        "import time as _time\n"
        "@app.middleware('http')\n"
        "async def _hang(request, call_next):\n"
        "    if request.url.path != '/health':\n"
        "        _time.sleep(3600)\n"
        "    return await call_next(request)\n"
    )
    run = _submission(invite, tmp_path, {"app/main.py": _hanging_app(version_shipped_dir(impatient_version), hang)})
    assert run.finished
    assert _fixed(run) == set()
    # Cut short by its 15 s limit and its requests' timeouts, long before the wall clock's net.
    assert run.timings["hidden"] < WALL_FACTOR * 15 / 2
    assert run.visible["returncode"] != 0  # its own tests were stopped at their time limit


def test_an_app_that_sleeps_until_the_wall_limit_is_stopped(impatient_version, tmp_path):
    invite = make_invite(impatient_version).invite
    original = (version_shipped_dir(impatient_version) / "app" / "main.py").read_text()
    run = _submission(invite, tmp_path, {"app/main.py": "import time\ntime.sleep(3600)\n" + original})
    assert run.status == Run.Status.ERROR
    assert "the app did not start" in run.reason
    assert run.timings.get("app_start") is None, run.timings
