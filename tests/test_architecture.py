"""The shape of the code: the import contracts hold, they catch a forbidden import, and git runs
only through the one git module."""

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import ROOT

PACKAGES = ("portal", "grader", "sandbox", "gitplumbing", "assessment_app", "assessment_orders")
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache"],
        cwd=root,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(root), "NO_COLOR": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture(scope="module")
def source_copy(tmp_path_factory) -> Path:
    """The project's Python packages and its contracts, copied where a test may break them."""
    root = tmp_path_factory.mktemp("layers")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=shutil.ignore_patterns("__pycache__", "static"))
    shutil.copy(ROOT / "pyproject.toml", root / "pyproject.toml")
    return root


def test_the_import_contracts_hold_for_the_code_as_it_is(source_copy):
    result = _lint_imports(source_copy)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


def _broken_by(source_copy: Path, module: str, line: str) -> str:
    path = source_copy / module
    original = path.read_text()
    path.write_text(original + f"\n{line}\n")
    try:
        result = _lint_imports(source_copy)
    finally:
        path.write_text(original)
    assert result.returncode == 1, result.stdout
    return result.stdout


def test_a_lower_app_importing_a_higher_one_breaks_the_layers(source_copy):
    out = _broken_by(source_copy, "portal/invites/services.py", "import portal.scoring.services  # noqa")
    assert "Portal apps depend one way BROKEN" in out
    assert "portal.invites.services -> portal.scoring.services" in out


def test_a_service_importing_tasks_breaks_its_contract(source_copy):
    out = _broken_by(source_copy, "portal/hosting/services.py", "import portal.hosting.tasks  # noqa")
    assert "Services and selectors never import tasks BROKEN" in out
    assert "No circular imports anywhere in the portal BROKEN" in out


def test_the_grader_importing_django_breaks_its_contract(source_copy):
    out = _broken_by(source_copy, "grader/run.py", "import django.conf  # noqa")
    assert "know nothing of Django or the portal BROKEN" in out


def _git_calls(path: Path) -> list[str]:
    """Calls that start git without the git module: subprocess with a "git" argv, or git.Repo(...)."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if not isinstance(node, ast.Call):
            continue
        func = ast.unparse(node.func)
        first = node.args[0] if node.args else None
        if func.startswith("subprocess.") and isinstance(first, ast.List) and first.elts:
            head = first.elts[0]
            if isinstance(head, ast.Constant) and head.value == "git":
                found.append(f"{path.relative_to(ROOT)}:{node.lineno} {func}")
        if func in ("git.Repo", "Repo"):
            found.append(f"{path.relative_to(ROOT)}:{node.lineno} {func}")
    return found


def test_git_runs_only_through_the_git_module():
    offenders = []
    for package in ("portal", "grader", "sandbox"):
        for path in sorted((ROOT / package).rglob("*.py")):
            offenders += _git_calls(path)
    assert offenders == []
