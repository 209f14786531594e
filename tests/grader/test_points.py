"""Points per hidden test: ``@pytest.mark.ticket(2, points=3)`` gives partial credit within a ticket.

The rule (grader.verdicts): a fixed ticket earns all its points; an unfixed one whose tests carry
points earns ticket points x passing test points // all its test points; without points, all or
nothing. The rule is checked on synthetic outcomes; one real hidden run of the tiny package (about a
second) shows the plugin reporting the points, and one that a bad points value is refused by name.
"""

import shutil

import pytest

from grader.junit import TestOutcome
from grader.local import LocalRunner
from grader.manifest import load_manifest
from grader.run import GraderError, run_hidden_tests
from grader.verdicts import partial_credit, ticket_verdicts
from tests.grader.tiny_package import tiny_package

WEIGHTED_TEST = """\
import pytest


@pytest.mark.ticket(1, points=1)
def test_the_answer_is_positive(client):
    assert client.get("/answer").json()["value"] > 0


@pytest.mark.ticket(1, points=3)
def test_the_answer_is_42(client):
    assert client.get("/answer").json()["value"] == 42


@pytest.mark.ticket(1)
@pytest.mark.guard
def test_the_service_answers(client):
    assert client.get("/health").status_code == 200
"""


def _outcome(name: str, outcome: str, points: int | None = None, *, guard: bool = False) -> TestOutcome:
    properties = {"ticket": "1"}
    if points is not None:
        properties["points"] = str(points)
    if guard:
        properties["guard"] = "1"
    return TestOutcome(f"test_ticket_1.py::{name}", 1, outcome, 0.1, properties=properties)


def test_an_unfixed_ticket_with_points_earns_its_share_rounded_down():
    outcomes = [_outcome("a", "passed", 1), _outcome("b", "failed", 2), _outcome("c", "passed", 3)]
    assert partial_credit(10, outcomes) == 6  # 10 * 4 // 6 = 6.67, rounded down


def test_a_test_without_points_weighs_one_in_a_ticket_with_points():
    outcomes = [_outcome("a", "passed"), _outcome("b", "failed", 3)]
    assert partial_credit(8, outcomes) == 2  # 8 * 1 // 4


def test_only_a_fix_earns_the_whole_ticket():
    assert partial_credit(5, [_outcome("a", "passed", 99), _outcome("b", "failed", 1)]) == 4
    assert partial_credit(5, [_outcome("a", "passed", 99), _outcome("b", "passed", 1)]) == 5


def test_a_ticket_without_points_stays_all_or_nothing():
    assert partial_credit(10, [_outcome(str(n), "passed") for n in range(12)] + [_outcome("x", "failed")]) == 0
    assert partial_credit(10, [_outcome(str(n), "passed") for n in range(13)]) == 10
    assert partial_credit(10, []) == 0  # no test ran: never a fix


def test_a_failing_guard_costs_the_ticket_no_points(tmp_path):
    manifest = load_manifest(tiny_package(tmp_path))
    outcomes = [_outcome("a", "passed", 1), _outcome("b", "failed", 1), _outcome("g", "failed", 5, guard=True)]
    [verdict] = ticket_verdicts(manifest, outcomes)
    assert (verdict.passed, verdict.tests_passed, verdict.tests_total, verdict.earned) == (False, 1, 2, 5)


def test_points_that_are_not_whole_positive_numbers_are_ignored_in_a_report():
    assert [_outcome("a", "passed", n).points for n in (3, 0)] == [3, None]
    assert TestOutcome("t::a", 1, "passed", 0, properties={"points": "-2"}).points is None
    assert TestOutcome("t::a", 1, "passed", 0, properties={"points": "1.5"}).points is None


def _hidden_run(package, tmp_path):
    manifest = load_manifest(package)
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    with LocalRunner(manifest).start_app(tree) as socket_path:
        return manifest, run_hidden_tests(socket_path, manifest=manifest)


def test_the_plugin_reports_points_and_guards_and_the_shipped_app_earns_its_share(tmp_path):
    manifest, run = _hidden_run(tiny_package(tmp_path / "pkg", hidden_test=WEIGHTED_TEST), tmp_path)
    found = {o.test_id.rsplit("::", 1)[-1]: (o.outcome, o.points, o.guard) for o in run.outcomes}
    assert found == {
        "test_the_answer_is_positive": ("passed", 1, False),
        "test_the_answer_is_42": ("failed", 3, False),
        "test_the_service_answers": ("passed", None, True),
    }
    [verdict] = ticket_verdicts(manifest, run.outcomes)
    assert (verdict.passed, verdict.earned) == (False, 2)  # 10 points * 1 // 4


@pytest.mark.parametrize(
    ("marker", "message"),
    [
        (
            "ticket(1, points=0)",
            "test_x: a test's points are a whole number from 1, ticket(3, points=2), not ticket(1, points=0)",
        ),
        ("ticket(1, weight=2)", "test_x: mark it with one ticket number, ticket(3), not ticket(1, weight=2)"),
    ],
)
def test_a_marker_with_bad_points_is_refused_by_name(tmp_path, marker, message):
    hidden = f"import pytest\n\n\n@pytest.mark.{marker}\ndef test_x(client):\n    pass\n"
    with pytest.raises(GraderError) as refused:
        _hidden_run(tiny_package(tmp_path / "pkg", hidden_test=hidden), tmp_path)
    assert str(refused.value).endswith(message)
