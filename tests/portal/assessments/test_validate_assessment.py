"""validate_assessment runs the real grading path (runtime, sandbox, trusted grader) and fails on
deliberately broken copies of the built-in package for the right reasons."""

import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from portal.assessments.models import Assessment
from tests.conftest import ROOT
from tests.support.validation import validate_command as _validate

# Validations take minutes of CPU; a busy machine stretches them, and one may wait for another's.
pytestmark = [pytest.mark.integration, pytest.mark.timeout(1200)]


def _rows(table: str, result: str) -> list[str]:
    return [line for line in table.splitlines() if f"  {result}  " in line]


def _patch(project: Path, name: str, appended: str) -> str:
    """A patch, as `git diff` writes it, that appends ``appended`` to ``name`` in ``project``."""
    scratch = project.parent / "scratch"
    shutil.copytree(project, scratch)
    git = ["git", "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], cwd=scratch, check=True)
    subprocess.run([*git, "add", "-A"], cwd=scratch, check=True)
    subprocess.run([*git, "commit", "-qm", "base"], cwd=scratch, check=True)
    with (scratch / name).open("a") as handle:
        handle.write(appended)
    diff = subprocess.run([*git, "diff"], cwd=scratch, check=True, capture_output=True, text=True).stdout
    shutil.rmtree(scratch)
    return diff


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


def test_the_built_in_package_passes_every_check(db, built_in_validated_once):
    ok, table = _validate(ROOT / "assessment_app")
    assert ok, table
    assert _rows(table, "FAILED") == []
    assert "with all fixes, every hidden test passes" in table
    assert "hidden suite runs within" in table


def test_validation_lists_every_built_in_decoy_as_rejected_by_the_tests_that_fail_it(db, built_in_validated_once):
    ok, table = _validate(ROOT / "assessment_app")
    assert ok, table
    decoys = sorted(path.stem for path in (ROOT / "assessment_app" / "decoys").glob("ticket-*.patch"))
    assert len(decoys) >= 7
    for name in decoys:
        ticket = name.split("-")[1]
        [row] = [row for row in _rows(table, "ok") if f"decoy {name} is rejected by its hidden tests" in row]
        assert row.startswith(f"#{ticket} "), row
        assert f" fail: test_ticket_{ticket}.py::" in row, row
    shared_session = [row for row in _rows(table, "ok") if "decoy ticket-3-" in row and "rejected" in row]
    assert len(shared_session) == 2
    assert all("test_requests_sent_at_the_same_time_each_get_their_own_answer" in row for row in shared_session)


def _only_decoys(package: Path, decoys: dict[str, str]) -> None:
    """Replace the package's decoys with these (file name: patch text)."""
    shutil.rmtree(package / "decoys")
    (package / "decoys").mkdir()
    for name, text in decoys.items():
        (package / "decoys" / name).write_text(text)


def test_a_decoy_the_hidden_tests_accept_or_that_does_not_apply_is_refused_by_name(db, package):
    reference = (package / "reference" / "ticket-1.patch").read_text()
    stale = reference.replace("return list(rows), has_next", "return rows, has_next, None")
    _only_decoys(package, {"ticket-1-really-the-fix.patch": reference, "ticket-2-stale.patch": stale})
    out = StringIO()
    with pytest.raises(CommandError, match=r"Refused: .*decoy ticket-1-really-the-fix is rejected by its hidden tests"):
        call_command("load_assessment", str(package), stdout=out)
    failed = _rows(out.getvalue(), "FAILED")
    accepted = [row for row in failed if "decoy ticket-1-really-the-fix is rejected" in row]
    assert accepted and accepted[0].startswith("#1"), out.getvalue()
    assert "ticket-1-really-the-fix passes every hidden test of ticket #1" in accepted[0]
    assert any(row.startswith("#2") and "decoy ticket-2-stale applies alone" in row for row in failed), out.getvalue()
    assert not Assessment.objects.exists()


def test_a_decoy_for_a_ticket_that_does_not_exist_is_refused_at_once(db, package):
    _only_decoys(package, {"ticket-9-nothing.patch": (package / "reference" / "ticket-1.patch").read_text()})
    refusal = r"ticket-9-nothing\.patch is for ticket #9, which the manifest does not have"
    with pytest.raises(CommandError, match=refusal):
        call_command("load_assessment", str(package), stdout=StringIO())
    assert not Assessment.objects.exists()


def test_a_decoy_named_otherwise_is_refused_at_once(db, package):
    _only_decoys(package, {"shortcut.patch": (package / "reference" / "ticket-1.patch").read_text()})
    with pytest.raises(CommandError, match=r"shortcut\.patch should be a file named ticket-<number>-<name>\.patch"):
        call_command("validate_assessment", str(package), stdout=StringIO())


def test_a_fix_that_does_not_fix_its_ticket_is_reported(db, package_without_decoys):
    package = package_without_decoys
    # Ticket 1's "fix" now only adds a comment to the app: its hidden tests keep failing.
    (package / "reference" / "ticket-1.patch").write_text(_patch(package / "project", "app/main.py", "# No fix.\n"))
    ok, table = _validate(package)
    assert not ok
    failed = _rows(table, "FAILED")
    assert any(row.startswith("#1") and "its fix alone makes its hidden tests pass" in row for row in failed), table
    assert not any(row.startswith(("#2", "#3", "#4", "#5", "#6")) for row in failed), table


def test_a_fix_that_also_fixes_another_ticket_is_reported(db, package_without_decoys):
    package = package_without_decoys
    reference = package / "reference"
    combined = (reference / "ticket-1.patch").read_text() + (reference / "ticket-2.patch").read_text()
    (reference / "ticket-1.patch").write_text(combined)
    ok, table = _validate(package)
    assert not ok
    failed = _rows(table, "FAILED")
    assert any(row.startswith("#1") and "changes no other ticket's hidden results" in row for row in failed), table


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


def test_a_package_without_a_manifest_is_refused_at_once(db, tmp_path):
    with pytest.raises(CommandError, match=r"holds no assessment\.toml"):
        call_command("validate_assessment", str(tmp_path), stdout=StringIO())


def test_the_built_in_package_validates_with_the_data_directory_and_cache_under_a_closed_folder(db, settings, tmp_path):
    # pytest's temporary folders are 0700, like a home directory or `mktemp -d`: the slot users
    # of the sandbox may not enter them, yet the runtime built there must still serve.
    closed = tmp_path / "closed"
    closed.mkdir(mode=0o700)
    assert closed.stat().st_mode & 0o777 == 0o700
    settings.PORTAL_DATA_DIR = closed / "data"
    settings.PORTAL_CACHE_DIR = closed / "cache"
    ok, table = _validate(ROOT / "assessment_app")
    assert ok, table
    assert (closed / "cache" / "runtimes").is_dir()
    assert closed.stat().st_mode & 0o777 == 0o700
