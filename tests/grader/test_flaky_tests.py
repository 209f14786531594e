"""Validation looks for flaky hidden tests: with all fixes, every hidden test but the concurrency ones
runs ``flake_runs`` more times (fresh apps, batches of FLAKE_BATCH), and a test that fails even once
is named with how often it failed and why. Validations of the tiny package: seconds each."""

import pytest

from grader.manifest import FLAKE_RUNS, ManifestError, load_manifest
from grader.validate import FLAKE_BATCH, validate
from tests.grader.tiny_package import HIDDEN_TEST, tiny_package

FLAKY = (
    HIDDEN_TEST
    + """

def test_the_answer_is_ready(client, rng):
    assert client.get("/answer").json()["value"] == 42
    # Fails about one run in ten: the draw comes from the run's seed and the test's id, so with a
    # fixed seed the same runs fail every time.
    assert rng.random() >= 0.1, "the answer was not ready yet"
"""
)

CHECK = "hidden tests pass in all {count} more runs with all fixes (flaky tests)"
# A seed with which the flaky test passes the two usual runs with all fixes: only the search finds it.
SEED = 1


def _row(report, name):
    return next(check for check in report.checks if check.name == name)


def test_a_test_that_fails_now_and_then_is_named_flaky_with_how_often_and_why(tmp_path):
    report = validate(tiny_package(tmp_path, hidden_test=FLAKY), seed=SEED)
    assert _row(report, "with all fixes, every hidden test passes").ok
    check = _row(report, CHECK.format(count=FLAKE_RUNS))
    assert not check.ok and check.ticket == 1
    assert check.detail.startswith("flaky: test_ticket_1.py::test_the_answer_is_ready failed ")
    failed = int(check.detail.split(" failed ")[1].split(" of ")[0])
    assert 0 < failed < FLAKE_RUNS and check.detail.endswith(f" of {FLAKE_RUNS} runs")
    assert "the answer was not ready yet" in check.notes
    assert "test_the_answer_is_42" not in check.detail
    assert "flaky-test search CPU" in report.timings


def test_steady_tests_pass_the_search_in_batches_on_fresh_apps(tmp_path):
    lines = []
    report = validate(tiny_package(tmp_path, hidden="flake_runs = 25\n"), progress=lines.append)
    check = _row(report, CHECK.format(count=25))
    assert (check.ok, check.detail) == (True, "2 tests, 25 runs each: every one passed")
    [all_fixes] = [line for line in lines if line.startswith("all-fixes:")]
    assert "25 more runs of the hidden tests 50/50 pass" in all_fixes
    assert FLAKE_BATCH < 25  # so the runs above took more than one app


def test_the_search_can_be_turned_off_by_the_manifest_or_the_caller(tmp_path):
    package = tiny_package(tmp_path, hidden="flake_runs = 0\n")
    assert load_manifest(package).flake_runs == 0
    assert not [check for check in validate(package).checks if "flaky" in check.name]
    assert not [check for check in validate(package, flake_runs=0).checks if "flaky" in check.name]


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("flake_runs = -1", "[hidden_tests]: 'flake_runs' should be a whole number from 0, not -1"),
        ("flake_runs = 2.5", "[hidden_tests]: 'flake_runs' should be a whole number from 0, not 2.5"),
        ("flake_run = 10", "flake_run: unknown key in [hidden_tests]; did you mean flake_runs?"),
    ],
)
def test_a_wrong_number_of_runs_is_refused_with_a_sentence(tmp_path, line, message):
    with pytest.raises(ManifestError) as refused:
        load_manifest(tiny_package(tmp_path, hidden=line + "\n"))
    assert str(refused.value) == message
