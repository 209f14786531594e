"""Packages whose app runs on Node.js: the manifest's [runtime] kind = "node", the ids of node's own
test runner's JUnit report, and the example package, examples/node-notes, validated with the grader's
local runner on the host's node (/usr/bin/node).
"""

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from grader.junit import parse_node_junit
from grader.local import LocalRunner
from grader.manifest import ManifestError, host_node, load_manifest
from grader.run import VisibleRun
from grader.validate import validate
from tests.conftest import ROOT

EXAMPLE = ROOT / "examples" / "node-notes"
NODE = "/usr/bin/node"

# Debian's node and npm are test packages (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.


def _example_with(tmp_path: Path, old: str, new: str) -> Path:
    """A copy of the example whose assessment.toml has ``new`` in place of ``old``."""
    package = shutil.copytree(EXAMPLE, tmp_path / "node-notes")
    manifest = package / "assessment.toml"
    assert old in manifest.read_text()
    manifest.write_text(manifest.read_text().replace(old, new))
    return package


def test_the_example_runs_on_the_hosts_node_with_its_lockfile():
    manifest = load_manifest(EXAMPLE)
    assert (manifest.runtime_kind, manifest.node, manifest.requirements) == ("node", "20", "package-lock.json")
    assert manifest.interpreter == NODE
    assert manifest.app.command("/usr/bin/node", socket="/s", workdir="/w") == ["/usr/bin/node", "app/server.js", "/s"]
    assert manifest.visible_test_command(NODE, junit="/j.xml")[:2] == [NODE, "--test"]
    assert "--test-reporter-destination=/j.xml" in manifest.visible_test_command(NODE, junit="/j.xml")


def test_a_node_version_the_host_lacks_is_refused_naming_the_one_it_has(tmp_path):
    package = _example_with(tmp_path, 'node = "20"', 'node = "18"')
    major = host_node().split(".")[0]
    with pytest.raises(ManifestError, match=rf"""node = "18": this host's node is {re.escape(host_node())} """):
        load_manifest(package)
    with pytest.raises(ManifestError, match=rf'set node = "{major}"'):
        load_manifest(package)


def test_a_node_version_is_a_major_version(tmp_path):
    with pytest.raises(ManifestError, match=r"""'node' should be a major version such as "20", not '20.1'"""):
        load_manifest(_example_with(tmp_path, 'node = "20"', 'node = "20.1"'))


def test_an_unknown_kind_is_refused_naming_the_kinds_known(tmp_path):
    with pytest.raises(ManifestError, match=r"kind = 'ruby': .* the kinds it knows are python, node"):
        load_manifest(_example_with(tmp_path, 'kind = "node"', 'kind = "ruby"'))


def test_a_python_key_in_a_node_runtime_is_refused(tmp_path):
    package = _example_with(tmp_path, 'lockfile = "package-lock.json"', 'requirements = "requirements.txt"')
    with pytest.raises(ManifestError, match=r"\[runtime\] requirements: not a key of a node runtime"):
        load_manifest(package)


def test_an_unknown_runtime_key_is_still_refused(tmp_path):
    package = _example_with(tmp_path, 'lockfile = "package-lock.json"', 'lockfiles = "package-lock.json"')
    with pytest.raises(ManifestError, match=r"lockfiles: unknown key in \[runtime\]; did you mean lockfile\?"):
        load_manifest(package)


def test_a_lockfile_is_one_npm_ci_installs_from(tmp_path):
    package = _example_with(tmp_path, 'lockfile = "package-lock.json"', 'lockfile = "yarn.lock"')
    with pytest.raises(ManifestError, match=r"'lockfile' should be a package-lock.json or npm-shrinkwrap.json"):
        load_manifest(package)


def test_a_node_package_needs_its_package_json(tmp_path):
    package = shutil.copytree(EXAMPLE, tmp_path / "node-notes")
    (package / "project" / "package.json").unlink()
    with pytest.raises(ManifestError, match=r"package.json not found in .*npm ci installs from it and its lockfile"):
        load_manifest(package)


NODE_TESTS = """\
const assert = require('node:assert/strict');
const { describe, it, test } = require('node:test');

describe('notes', () => {
  describe('paging', () => {
    it('the second page starts after the first', () => assert.equal(1, 2));
  });
  it('a new note gets an id', () => {});
  it('a skipped one', { skip: 'later' }, () => {});
});
test('health answers', () => {});
"""


def test_a_node_test_report_names_each_test_by_its_suites(tmp_path):
    (tmp_path / "notes.test.js").write_text(NODE_TESTS)
    junit = tmp_path / "report.xml"
    subprocess.run(
        [NODE, "--test", "--test-reporter=junit", f"--test-reporter-destination={junit}"],
        cwd=tmp_path,
        capture_output=True,
        timeout=120,
        check=False,
    )
    outcomes = {outcome.test_id: outcome for outcome in parse_node_junit(junit)}
    assert {test_id: outcome.outcome for test_id, outcome in outcomes.items()} == {
        "notes > paging > the second page starts after the first": "failed",
        "notes > a new note gets an id": "passed",
        "notes > a skipped one": "skipped",
        "health answers": "passed",
    }
    assert "1 !== 2" in outcomes["notes > paging > the second page starts after the first"].message


def test_the_example_visible_tests_are_tied_to_their_tickets_by_those_ids(tmp_path):
    project = shutil.copytree(EXAMPLE / "project", tmp_path / "tree")
    run = LocalRunner(load_manifest(EXAMPLE), NODE).run_visible_tests(project)
    assert isinstance(run, VisibleRun) and not run.passed
    assert {(outcome.test_id, outcome.ticket, outcome.outcome) for outcome in run.outcomes} == {
        ("notes > a new note gets the next id", None, "passed"),
        ("paging > a page holds per_page notes and the next page starts after it", 1, "failed"),
        ("titles > a title of spaces is refused", 2, "failed"),
    }


def test_the_example_passes_every_check_of_a_local_validation():
    # No interpreter given: the local runner of a node package runs the manifest's, the host's node.
    report = validate(EXAMPLE, flake_runs=3)
    assert report.ok, report.table(verbose=True)
    assert len(report.checks) == 31
    shipped = next(check for check in report.checks if check.name == "visible tests fail on the shipped project")
    assert shipped.detail.startswith("node --test exit code 1, ")  # what ran them, not pytest


def test_the_grader_command_validates_the_example_with_the_hosts_node(tmp_path):
    command = ["-m", "grader", "--assessment", str(EXAMPLE), "validate", "--python", NODE, "--flake-runs", "0"]
    done = subprocess.run(
        [sys.executable, *command],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^(\d+)/\1 checks passed$", done.stdout, re.MULTILINE), done.stdout
