"""Validation refuses visible tests that already pass, and proves the package from a closed data folder."""

import shutil
import subprocess

import pytest

from tests.support.validation import table_rows as _rows
from tests.support.validation import validate_command as _validate

# Validations take minutes of CPU; a busy machine stretches them. A file of their own, so that a
# parallel run plays them beside the others.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def test_a_visible_suite_that_already_passes_is_reported(db, package_without_decoys):
    package = package_without_decoys
    project = package / "project"
    subprocess.run(["git", "init", "-q"], cwd=project, check=True)
    for number in range(1, 7):
        subprocess.run(["git", "apply", str(package / "reference" / f"ticket-{number}.patch")], cwd=project, check=True)
    shutil.rmtree(project / ".git")
    ok, table = _validate(package)
    assert not ok
    failed = _rows(table, "FAILED")
    assert any("visible tests fail on the shipped project" in row for row in failed), table


def test_a_package_validates_with_the_data_directory_and_cache_under_a_closed_folder(
    db, settings, tmp_path, package_without_decoys
):
    # pytest's temporary folders are 0700, like a home directory or `mktemp -d`: the slot users
    # of the sandbox may not enter them, yet the runtime built there must still serve.
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    assert closed.stat().st_mode & 0o777 == 0o700
    settings.PORTAL_DATA_DIR = closed / "data"
    settings.PORTAL_CACHE_DIR = closed / "cache"
    # The built-in package without its decoys: what is judged here is where the runtime lives,
    # not the decoys (the built-in package's own validation plays them).
    ok, table = _validate(package_without_decoys)
    assert ok, table
    assert (closed / "cache" / "runtimes").is_dir()
    assert closed.stat().st_mode & 0o777 == 0o700
