"""The built-in package validated once per test session, whichever process of the session asks first.

A validation runs the package in every state through the real sandbox and grader: minutes of CPU.
Tests whose subject is a validation of the built-in package (its table, loading it, seeding the
demo) read the same report, made by the first process of the session that needs it while the
others wait on a lock. A package with other content (a broken copy) is validated for real each time.
"""

from __future__ import annotations

import fcntl
import os
import pickle
import shutil
import subprocess
from collections.abc import Callable
from io import StringIO
from pathlib import Path

from django.core.management import CommandError, call_command

from grader.validate import ValidationReport
from portal.assessments.packages import package_hash


def session_folder(basetemp: Path) -> Path:
    """A folder every process of this test session shares (xdist workers each have a basetemp below it)."""
    return basetemp.parent if os.environ.get("PYTEST_XDIST_WORKER") else basetemp


def validated_once(
    package_dir: Path, *, folder: Path, validate: Callable[..., ValidationReport], progress=None
) -> ValidationReport:
    """The report of ``validate(package_dir=...)`` for this content, made at most once per session."""
    key = package_hash(Path(package_dir))
    stored = folder / f"validation-{key}.pickle"
    with (folder / f"validation-{key}.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if stored.exists():
            return pickle.loads(stored.read_bytes())  # noqa: S301 (written by this session's own processes)
        report = validate(package_dir=package_dir, progress=progress)
        stored.write_bytes(pickle.dumps(report))
        return report


def validate_command(package: Path) -> tuple[bool, str]:
    """``manage.py validate_assessment <package>``: whether it passed, and what it printed (with its error)."""
    out = StringIO()
    try:
        call_command("validate_assessment", str(package), stdout=out)
    except CommandError as exc:
        return False, out.getvalue() + str(exc)
    return True, out.getvalue()


def table_rows(table: str, result: str) -> list[str]:
    """The rows of a validation table whose result is ``result`` (ok or FAILED)."""
    return [line for line in table.splitlines() if f"  {result}  " in line]


def patch_appending(project: Path, name: str, appended: str) -> str:
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


def only_decoys(package: Path, decoys: dict[str, str]) -> None:
    """Replace the package's decoys with these (file name: patch text)."""
    shutil.rmtree(package / "decoys")
    (package / "decoys").mkdir()
    for name, text in decoys.items():
        (package / "decoys" / name).write_text(text)
