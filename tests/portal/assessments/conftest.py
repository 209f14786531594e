"""Copies of the built-in package for the validation tests to break."""

import shutil
from pathlib import Path

import pytest

from tests.conftest import ROOT


def package_copy(dest: Path) -> Path:
    """A copy of the built-in package at ``dest``."""
    shutil.copytree(ROOT / "assessment_app", dest, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    return dest


def copy_without_decoys(dest: Path) -> Path:
    """A copy of the built-in package with no decoy: for the checks of the fixes and tests, half the states."""
    package = package_copy(dest)
    shutil.rmtree(package / "decoys")
    manifest = package / "assessment.toml"
    manifest.write_text(manifest.read_text().replace('decoys = "decoys"', ""))
    return package


@pytest.fixture
def package(tmp_path) -> Path:
    return package_copy(tmp_path / "pkg")


@pytest.fixture
def package_without_decoys(tmp_path) -> Path:
    return copy_without_decoys(tmp_path / "pkg")
