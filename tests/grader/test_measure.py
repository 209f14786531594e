"""A trusted measurement for performance tickets: the hidden tests' ``app_cpu`` fixture reads the
app's CPU seconds from the grader's side (the runner's accounting), never from the app.

The tiny package's app gains GET /burn, which works the CPU on every request; a hidden test measures
the same number of requests to /answer and to /burn and records both figures. Judged as a ratio,
never on the wall clock. Each run is the real trusted pytest (run_hidden_tests): about a second.
Where nothing measures the app, the fixture refuses; run locally, an app's workers count with it.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from grader.clock import TaskClock, Usage
from grader.local import LocalRunner
from grader.manifest import load_manifest
from grader.run import run_hidden_tests
from tests.grader.tiny_package import SERVER, tiny_package

REPO = Path(__file__).resolve().parents[2]

# Some 30 to 80 ms of CPU per request: five of them stand far above five plain answers.
BURN_SERVER = SERVER.replace(
    '        elif self.path == "/answer":\n',
    '        elif self.path == "/burn":\n'
    '            body = json.dumps({"sum": sum(i * i for i in range(500_000))}).encode()\n'
    '        elif self.path == "/answer":\n',
)

MEASURING_TEST = """\
import pytest

pytestmark = pytest.mark.ticket(1)


def test_cheap_and_costly_requests(client, app_cpu, record_property):
    with app_cpu() as cheap:
        for _ in range(5):
            assert client.get("/answer").status_code == 200
    with app_cpu() as costly:
        for _ in range(5):
            assert client.get("/burn").status_code == 200
    record_property("cheap", cheap.seconds)
    record_property("costly", costly.seconds)


def test_the_answer_is_42(client):
    assert client.get("/answer").json()["value"] == 42
"""


def _package(tmp_path: Path) -> Path:
    package = tiny_package(tmp_path / "pkg", hidden_test=MEASURING_TEST)
    (package / "project" / "app" / "server.py").write_text(BURN_SERVER)
    return package


def _figures(junit: Path) -> dict[str, str]:
    """The properties and the failure message of the measuring test, from the trusted pytest's report."""
    root = ET.parse(junit).getroot()  # noqa: S314 (the trusted pytest wrote it)
    case = next(c for c in root.iter("testcase") if c.get("name") == "test_cheap_and_costly_requests")
    figures = {prop.get("name"): prop.get("value") for prop in case.iter("property")}
    for problem in (*case.iter("failure"), *case.iter("error")):
        figures["problem"] = problem.get("message", "")
    return figures


def _outcome(run) -> str:
    return next(o.outcome for o in run.outcomes if o.test_id.endswith("test_cheap_and_costly_requests"))


def test_locally_the_costly_endpoint_measures_many_times_the_cheap_one(tmp_path):
    manifest = load_manifest(_package(tmp_path))
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    runner = LocalRunner(manifest)
    with runner.start_app(tree) as socket_path:
        run = run_hidden_tests(
            socket_path,
            manifest=manifest,
            junit_path=tmp_path / "h.xml",
            app_usage=lambda: runner.app_usage(socket_path),
        )
    figures = _figures(tmp_path / "h.xml")
    assert _outcome(run) == "passed", run.output
    cheap, costly = float(figures["cheap"]), float(figures["costly"])
    assert costly > 0.03  # five requests of real work were counted
    assert costly > 5 * max(cheap, 0.001), figures


def test_in_the_sandbox_the_figures_come_from_the_apps_cgroup(tmp_path):
    from portal.assessments.runner import SandboxRunner, manifest_runtime

    manifest = load_manifest(_package(tmp_path))
    cache = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")
    runner = SandboxRunner(manifest=manifest, runtime=manifest_runtime(manifest, runtimes_dir=cache / "runtimes"))
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    with runner.start_app(tree) as socket_path:
        # The sandbox's own tests need cgroup CPU accounting too (docs/sandbox.md): its absence is a
        # broken host, reported as such rather than skipped.
        assert runner.app_usage(socket_path).cpu is not None, "this host gives the sandbox no CPU accounting"
        run = run_hidden_tests(
            socket_path,
            manifest=manifest,
            junit_path=tmp_path / "h.xml",
            app_usage=lambda: runner.app_usage(socket_path),
        )
    figures = _figures(tmp_path / "h.xml")
    assert _outcome(run) == "passed", run.output
    cheap, costly = float(figures["cheap"]), float(figures["costly"])
    assert costly > 0.03
    assert costly > 5 * max(cheap, 0.001), figures


@pytest.mark.parametrize(
    ("app_usage", "sentence"),
    [
        (None, "the app's CPU time is not measured here"),
        (lambda: Usage(wall=1.0), "the app's CPU time is not measured by this runner"),
    ],
    ids=["no-runner", "no-accounting"],
)
def test_where_nothing_measures_the_app_a_test_that_asks_fails_with_a_sentence(tmp_path, app_usage, sentence):
    manifest = load_manifest(_package(tmp_path))
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    with LocalRunner(manifest).start_app(tree) as socket_path:
        run = run_hidden_tests(socket_path, manifest=manifest, junit_path=tmp_path / "h.xml", app_usage=app_usage)
    assert _outcome(run) == "error"  # refused before it sent a request: never a pass on nothing measured
    assert sentence in _figures(tmp_path / "h.xml")["problem"]
    assert "cheap" not in _figures(tmp_path / "h.xml")


# A parent that starts a worker process, as an app server with workers does; the worker works the CPU.
FORKING_APP = """\
import subprocess, sys, time
subprocess.Popen([sys.executable, "-c", "sum(i * i for i in range(30_000_000)); import time; time.sleep(30)"])
time.sleep(30)
"""


def test_locally_the_workers_an_app_starts_are_measured_with_it():
    app = subprocess.Popen([sys.executable, "-c", FORKING_APP], start_new_session=True)
    try:
        tree, alone = TaskClock(app.pid, descendants=True), TaskClock(app.pid)
        for _ in range(100):  # until the worker's work is counted: a few tenths of a second
            tree.sample()
            if tree.usage(0).cpu > 0.1:
                break
            time.sleep(0.05)
        alone.sample()
        assert tree.usage(0).cpu > 0.1
        assert alone.usage(0).cpu < 0.1  # the parent alone did next to nothing
    finally:
        os.killpg(app.pid, signal.SIGKILL)
        app.wait()
