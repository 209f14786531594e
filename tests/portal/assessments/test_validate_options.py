"""How many runs the search for flaky tests makes: ``--flake-runs`` on validate_assessment and on the
grader's own command, else PORTAL_VALIDATION_FLAKE_RUNS, else the package's ``flake_runs``; a value
that is not a whole number is refused with a sentence. ``--verbose`` prints each step as it ends.

The tiny package validates in seconds. Through the sandbox its visible tests cannot run (its
runtime has no pytest, so those checks fail): only the rows of the search are judged there.
"""

import re
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from portal.assessments.services import assessment_validate
from tests.grader.tiny_package import tiny_package

pytestmark = [pytest.mark.integration, pytest.mark.django_db]

ROW = "hidden tests pass in all {count} more runs with all fixes (flaky tests)"


def _row(report, count: int):
    return next(check for check in report.checks if check.name == ROW.format(count=count))


def test_the_setting_decides_over_the_package(tmp_path, settings):
    settings.PORTAL_VALIDATION_FLAKE_RUNS = 2
    report = assessment_validate(package_dir=tiny_package(tmp_path))
    assert _row(report, 2).ok and _row(report, 2).detail == "2 tests, 2 runs each: every one passed"


def test_the_caller_decides_over_the_setting(tmp_path, settings):
    settings.PORTAL_VALIDATION_FLAKE_RUNS = 2
    assert _row(assessment_validate(package_dir=tiny_package(tmp_path), flake_runs=3), 3).ok


def test_the_grader_command_takes_the_runs_and_prints_each_step(tmp_path):
    package = tiny_package(tmp_path)
    done = subprocess.run(
        [sys.executable, "-m", "grader", "--assessment", str(package), "validate", "--flake-runs", "4", "--verbose"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "4 more runs of the hidden tests 8/8 pass" in done.stderr
    assert re.search(re.escape(ROW.format(count=4)) + r" +ok ", done.stdout)


@pytest.mark.parametrize("value", ["-1", "many", "2.5"])
def test_a_wrong_number_of_runs_is_refused(tmp_path, value):
    with pytest.raises(CommandError) as refused:
        call_command("validate_assessment", str(tiny_package(tmp_path)), "--flake-runs", value, stdout=StringIO())
    assert str(refused.value) == f"--flake-runs: not a whole number from 0: {value!r}"
    done = subprocess.run(
        [sys.executable, "-m", "grader", "validate", "--flake-runs", value], capture_output=True, text=True
    )
    assert done.returncode == 2 and f"not a whole number from 0: {value!r}" in done.stderr
