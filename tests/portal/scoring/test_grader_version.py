"""The grader version covers exactly the code that decides verdicts."""

import inspect
from pathlib import Path

from grader.junit import parse_junit
from grader.local import wait_until_ready
from grader.manifest import load_manifest
from grader.run import run_hidden_tests
from grader.verdicts import ticket_verdicts
from portal.assessments.runner import SandboxRunner
from portal.scoring import analysis, selectors, services
from portal.scoring.export import tree_export
from portal.scoring.version import GRADER_VERSION, grader_sources, grader_version


def _file(obj) -> Path:
    return Path(inspect.getsourcefile(obj)).resolve()


def test_every_step_a_verdict_goes_through_is_part_of_the_version():
    sources = {path.resolve() for path in grader_sources()}
    steps = [
        tree_export,
        SandboxRunner,
        wait_until_ready,
        run_hidden_tests,
        parse_junit,
        load_manifest,
        ticket_verdicts,
    ]
    assert {_file(step) for step in steps} <= sources


def test_the_reaper_the_analysis_and_the_pages_are_not():
    sources = {path.resolve() for path in grader_sources()}
    for module in (services, analysis, selectors):
        assert _file(module) not in sources
    assert _file(services.runs_sweep) not in sources


def test_the_version_is_a_stable_hash_of_those_files():
    assert grader_version() == GRADER_VERSION
    assert len(GRADER_VERSION) == 16 and int(GRADER_VERSION, 16) >= 0
