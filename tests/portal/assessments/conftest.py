"""Copies of the built-in package for the validation tests to break."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT


@pytest.fixture
def package(tmp_path) -> Path:
    copy = tmp_path / "pkg"
    shutil.copytree(ROOT / "assessment_app", copy, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return copy


@pytest.fixture
def package_without_decoys(package) -> Path:
    """A copy of the built-in package with no decoy: for the checks of the fixes and tests, half the states."""
    shutil.rmtree(package / "decoys")
    manifest = package / "assessment.toml"
    manifest.write_text(manifest.read_text().replace('decoys = "decoys"', ""))
    return package
