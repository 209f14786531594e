"""The portal as its container image holds it, for processes that run as an unprivileged user.

The test suite's own virtualenv may live where other users cannot enter (a home folder of
root's), so processes started as another user get what the Dockerfile builds: the project's
files copied to a folder anyone may read, and a virtualenv of Debian's python3.11 with the
locked requirements. The virtualenv is built once per lock file and machine, then reused.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

from tests.support.workers import ROOT

SYSTEM_PYTHON = Path("/usr/bin/python3.11")
# The unprivileged user the image's processes run as (`portal` in the image): nobody:nogroup,
# present on every Debian system.
OWNER = (65534, 65534)
# What the Dockerfile's `COPY . .` brings that the processes use.
PROJECT = [
    "manage.py",
    "pyproject.toml",
    "requirements.txt",
    "portal",
    "gitplumbing",
    "grader",
    "sandbox",
    "assessment_app",
    "assessment_orders",
]
IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", ".ruff_cache", "*.db", "*.sqlite3")


@dataclass(frozen=True)
class Image:
    app: Path  # the project's files, readable by anyone
    venv: Path

    @property
    def python(self) -> str:
        return str(self.venv / "bin" / "python")

    def bin(self, name: str) -> str:
        return str(self.venv / "bin" / name)


def _venv() -> Path:
    lock = (ROOT / "requirements.txt").read_bytes()
    key = hashlib.sha256(lock + str(SYSTEM_PYTHON).encode()).hexdigest()[:16]
    home = Path(tempfile.gettempdir()) / f"assessment-portal-image-{key}"
    home.mkdir(mode=0o755, exist_ok=True)
    venv = home / "venv"
    with open(home / ".lock", "a") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if not (home / ".ready").exists():
            shutil.rmtree(venv, ignore_errors=True)
            subprocess.run([str(SYSTEM_PYTHON), "-m", "venv", str(venv)], check=True, timeout=300)
            subprocess.run(
                [
                    str(venv / "bin" / "pip"),
                    "install",
                    "--quiet",
                    "--require-hashes",
                    "-r",
                    str(ROOT / "requirements.txt"),
                ],
                check=True,
                timeout=1200,
            )
            (home / ".ready").touch()
    return venv


def build_image(into: Path) -> Image:
    """Copy the project into ``into`` (made readable by anyone) and return it with the shared virtualenv."""
    into.mkdir(mode=0o755, parents=True, exist_ok=True)
    for name in PROJECT:
        source = ROOT / name
        if source.is_dir():
            shutil.copytree(source, into / name, ignore=IGNORED)
        else:
            shutil.copy2(source, into / name)
    for path in [into, *into.rglob("*")]:
        if not path.is_symlink():
            path.chmod(0o755 if path.is_dir() or path.stat().st_mode & 0o111 else 0o644)
    return Image(app=into, venv=_venv())


def open_folder(prefix: str) -> Path:
    """A new folder under the system's temporary folder that other users may pass through."""
    folder = Path(tempfile.mkdtemp(prefix=prefix))
    folder.chmod(0o755)
    return folder


def foreign_files(root: Path, owner: tuple[int, int] = OWNER) -> list[str]:
    """Every path under ``root`` not owned by ``owner`` (uid, gid), with its owner."""
    wrong = []
    for directory, dirnames, filenames in os.walk(root):
        for name in [*dirnames, *filenames]:
            info = os.lstat(Path(directory) / name)
            if (info.st_uid, info.st_gid) != owner:
                wrong.append(f"{Path(directory, name).relative_to(root)} ({info.st_uid}:{info.st_gid})")
    return wrong
