"""Validation judges time on the work done, never on the wall clock of a shared host: a hidden suite
that really uses too much CPU refuses its package with the figure that proves it, the built-in
package's budgets hold while busy loops hold every core, and a concurrency test whose verdict
changes from run to run is named, with its count.

Each test validates for real (the runtime, the sandbox, the trusted grader); the broken packages
are copies of the built-in one without its decoys, so fewer states are played.
"""

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from grader.junit import TestOutcome
from grader.manifest import load_manifest
from grader.run import HiddenRun, run_hidden_tests
from portal.assessments.runner import SandboxRunner
from portal.assessments.services import assessment_runtime
from tests.conftest import ROOT
from tests.support.load import busy_cores
from tests.support.validation import validate_command as _validate

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]

# Work the trusted grader does in every run of the hidden suite of a copy: 1.5 CPU s, at its start.
BURN = """
import time


@pytest.fixture(scope="session", autouse=True)
def _burn_cpu():
    started = time.process_time()
    while time.process_time() - started < 1.5:
        pass
"""

# Judges ticket #1 right in its first run in a process, and the other way round in every second one
# after it: a verdict that changes from run to run, as a race gives.
FLICKER = """
import itertools

_runs = itertools.count()


@pytest.mark.concurrency
def test_a_page_is_no_longer_than_asked_whatever_the_timing(client, library, unique):
    for number in range(3):
        library.new_book(title=f"{unique} {number}")
    fixed = len(client.get("/books", params={"q": unique, "page_size": 2}).json()["items"]) <= 2
    assert fixed == (next(_runs) % 2 == 0)
"""


@pytest.fixture
def package(tmp_path) -> Path:
    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", copy, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    shutil.rmtree(copy / "decoys")
    (copy / "decoys").mkdir()
    return copy


def _hidden_option(package: Path, key: str, value: str) -> None:
    """Set ``key`` of the copy's [hidden_tests] table to ``value``."""
    manifest = package / "assessment.toml"
    text = re.sub(rf"(?m)^{key} = .*\n", "", manifest.read_text())
    manifest.write_text(text.replace("[hidden_tests]\n", f"[hidden_tests]\n{key} = {value}\n"))


def _failed(table: str) -> list[str]:
    return [line for line in table.splitlines() if "  FAILED  " in line]


def test_a_hidden_suite_that_uses_too_much_cpu_is_refused_with_the_figure_that_proves_it(db, package):
    with (package / "hidden_tests" / "conftest.py").open("a") as conftest:
        conftest.write(BURN)
    _hidden_option(package, "budget_seconds", "1")
    _hidden_option(package, "concurrency_repeats", "0")

    ok, table = _validate(package)

    assert not ok
    [row] = _failed(table)  # refused for that and nothing else
    assert "hidden suite runs within 1 CPU s" in row, table
    figures = re.search(r"heaviest run ([0-9.]+) CPU s \(grader ([0-9.]+) \+ app ([0-9.]+)\), [0-9.]+ s wall", row)
    assert figures, row
    used, grader, app = map(float, figures.groups())
    assert used > 1 and grader >= 1.5 and app > 0
    assert "budget 1 CPU s" in row


def test_a_concurrency_test_whose_verdict_changes_is_reported_by_name_and_count(db, package):
    tests = package / "hidden_tests" / "test_ticket_1.py"
    tests.write_text(tests.read_text().replace("import math\n", "import itertools\nimport math\n", 1) + FLICKER)
    _hidden_option(package, "concurrency_repeats", "5")

    ok, table = _validate(package)

    assert not ok
    failed = _failed(table)
    name = "test_a_page_is_no_longer_than_asked_whatever_the_timing"
    for state, passed in (("as shipped", 2), ("with fix #1 alone", 3), ("with all fixes", 3)):
        rows = [row for row in failed if f"passed {passed} of 5 runs {state}: {name}" in row]
        assert len(rows) == 1 and rows[0].startswith("#1 "), table
    assert len(failed) == 3, table  # the rest holds, ticket #3's concurrency test included
    assert "passed 5 of 5 runs with all fixes: test_requests_sent_at_the_same_time" in table
    # The notes under the table give the runs that went the other way, by id.
    assert f"test_ticket_1.py::{name}[repeat-" in table


def _all_fixes(tmp_path: Path, name: str) -> Path:
    tree = tmp_path / name
    shutil.copytree(ROOT / "assessment_app" / "project", tree, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    for number in range(1, 7):
        patch = ROOT / "assessment_app" / "reference" / f"ticket-{number}.patch"
        subprocess.run(["git", "apply", str(patch)], cwd=tree, check=True)
    return tree


def test_the_built_in_packages_budgets_hold_while_busy_loops_hold_both_cores(db, tmp_path):
    """At the level of the budget checks (a whole validation under load takes minutes): the app's
    start-up and a run of the hidden suite on the package with all fixes, on a fresh app each time,
    once as the host is and once with six busy loops of the test's own."""
    manifest = load_manifest(ROOT / "assessment_app")
    runner = SandboxRunner(manifest=manifest, runtime=assessment_runtime(manifest=manifest))

    def play(name: str) -> tuple[float, HiddenRun]:
        with runner.start_app(_all_fixes(tmp_path, name)) as socket_path:
            start = runner.app_usage(socket_path)
            hidden = run_hidden_tests(
                socket_path, manifest=manifest, seed=1234, app_usage=lambda: runner.app_usage(socket_path)
            )
        return start.cpu, hidden

    quiet_start, quiet = play("quiet")
    with busy_cores():
        loaded_start, loaded = play("loaded")

    for hidden in (quiet, loaded):
        assert all(o.passed for o in hidden.outcomes), hidden.output
    # What the budgets judge barely moves with the load, as a ratio (the wall clock is printed, not judged).
    print(f"hidden suite quiet: {quiet.usage.describe()}; loaded: {loaded.usage.describe()}")
    assert loaded.usage.cpu <= manifest.hidden_budget
    assert loaded.usage.cpu / quiet.usage.cpu < 1.6
    assert loaded_start <= manifest.app.startup_timeout
    assert loaded_start / quiet_start < 1.6


def test_the_orders_race_is_caught_as_shipped_and_passes_when_fixed_while_busy_loops_hold_both_cores(db, tmp_path):
    """The second package's race (ticket #4) opens on a wait, the payment's authorization, not on the
    app's CPU work: with six busy loops holding the cores, the shipped project oversells in every run
    of the race test and the fixed one in none (assessment_orders/README.md has the figures)."""
    package = ROOT / "assessment_orders"
    manifest = load_manifest(package)
    runner = SandboxRunner(manifest=manifest, runtime=assessment_runtime(manifest=manifest))
    shipped = shutil.copytree(manifest.shipped_dir, tmp_path / "shipped", ignore=shutil.ignore_patterns("*.db"))
    fixed = shutil.copytree(manifest.shipped_dir, tmp_path / "fixed", ignore=shutil.ignore_patterns("*.db"))
    subprocess.run(["git", "apply", str(package / "reference" / "ticket-4.patch")], cwd=fixed, check=True)

    def race_runs(tree: Path) -> list[TestOutcome]:
        with runner.start_app(tree) as socket_path:
            return run_hidden_tests(socket_path, [4], manifest=manifest, repeat_concurrency=4).outcomes

    with busy_cores():
        as_shipped, with_fix = race_runs(shipped), race_runs(fixed)
    assert [o.outcome for o in as_shipped] == ["failed"] * 4
    assert [o.outcome for o in with_fix] == ["passed"] * 4
    # Not one lucky burst per run: nearly every burst oversells as shipped (80 of 80 in 10 runs under this
    # load; with the window made of CPU work, 28 of 80).
    oversold = [int(re.search(r"(\d+) of 8 bursts sold wrong", o.message).group(1)) for o in as_shipped]
    assert sum(oversold) >= 24, oversold
