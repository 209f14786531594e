"""Regression guards: hidden tests marked guard pass as shipped and with every fix, and count for no
ticket. Validation refuses a guard that a fix breaks, naming it and the state; one validation of
the tiny package (seconds) with a good guard and a broken one."""

import pytest

from grader.junit import TestOutcome
from grader.manifest import load_manifest
from grader.validate import validate
from grader.verdicts import ticket_verdicts
from tests.grader.tiny_package import HIDDEN_TEST, tiny_package

GUARDS = """

@pytest.mark.guard
def test_the_service_answers(client):
    assert client.get("/health").status_code == 200


@pytest.mark.guard
def test_the_old_answer_stays(client):
    assert client.get("/answer").json()["value"] == 41
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory):
    return validate(tiny_package(tmp_path_factory.mktemp("guards"), hidden_test=HIDDEN_TEST + GUARDS))


def _row(report, name):
    return next(check for check in report.checks if check.name == name)


def test_guards_that_pass_as_shipped_are_not_required_to_fail(report):
    check = _row(report, "every hidden test fails on the shipped project")
    assert (check.ok, check.detail) == (True, "2/2 fail")


def test_a_guard_a_fix_breaks_is_named_with_its_states(report):
    check = _row(report, "regression guards pass as shipped and with every fix")
    assert not check.ok
    assert check.detail == (
        "1/2 guards fail: test_ticket_1.py::test_the_old_answer_stays fails with fix #1 alone; "
        "test_ticket_1.py::test_the_old_answer_stays fails with all fixes"
    )
    assert "assert 42 == 41" in check.notes


def test_a_guard_counts_for_no_ticket(tmp_path):
    manifest = load_manifest(tiny_package(tmp_path))
    outcomes = [
        TestOutcome("test_ticket_1.py::test_fixed", 1, "passed", 0.1),
        TestOutcome("test_ticket_1.py::test_guard", 1, "failed", 0.1, properties={"guard": "1"}),
    ]
    [verdict] = ticket_verdicts(manifest, outcomes)
    assert (verdict.passed, verdict.tests_passed, verdict.tests_total) == (True, 1, 1)
