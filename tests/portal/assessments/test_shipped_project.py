"""What a candidate sees on day one: `pip install -r requirements.txt && pytest` in the shipped folder."""

import re
import shutil
import subprocess

import pytest

from grader.manifest import load_manifest
from portal.assessments.services import assessment_runtime
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(600)]


def test_pytest_in_the_shipped_folder_shows_one_failure_per_ticket(tmp_path, settings):
    manifest = load_manifest(ROOT / "assessment_app")
    # The runtime is a virtualenv with exactly the shipped requirements.txt installed.
    runtime = assessment_runtime(manifest=manifest)
    project = tmp_path / "project"
    shutil.copytree(manifest.shipped_dir, project, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    result = subprocess.run(
        [str(runtime.host_python), "-m", "pytest", "-q", "-p", "no:cacheprovider"],
        cwd=project,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 1, result.stdout + result.stderr
    summary = result.stdout.strip().splitlines()[-1]
    assert re.search(r"\b6 failed, 12 passed\b", summary), summary
    failing = {line.split("::")[1].split(" ")[0] for line in result.stdout.splitlines() if line.startswith("FAILED")}
    expected = {node.split("::")[1] for ticket in manifest.tickets for node in ticket.visible_tests}
    assert failing == expected
