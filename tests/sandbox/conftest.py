"""Fixtures for the sandbox's adversarial tests. Every test drives the real bwrap.

The tests use their own range of slot uids and their own lock directory, so a worker running
sandboxes on the same machine (``make run``) neither disturbs them nor is disturbed; so does each
process of a parallel test run.
"""

from __future__ import annotations

import os
import subprocess
import textwrap
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import KiB, Limits, MiB, Result, Runtime, SandboxConfig, run, runtime_build
from sandbox.api import _host
from sandbox.slots import processes_of_uid

REPO = Path(__file__).resolve().parents[2]
PYTHON = "/usr/bin/python3"

# Each process of a parallel run (pytest-xdist's gw0, gw1, ...) has slot uids of its own, so what a
# test checks about "its" uid after a run (no process, no cgroup left) is never another run's doing.
_WORKER = int(os.environ.get("PYTEST_XDIST_WORKER", "gw0").removeprefix("gw") or 0)
TEST_CONFIG = SandboxConfig(
    uid_base=64500 + 16 * _WORKER, slots=16, state_dir=Path(f"/run/portal-sandbox-tests-{_WORKER}")
)

# Small enough that every bomb is cheap, big enough for Python and a shell to start.
SMALL = Limits(
    wall_time=5,
    cpu_time=5,
    memory=128 * MiB,
    processes=32,
    file_size=8 * MiB,
    disk=16 * MiB,
    tmp=8 * MiB,
    output=64 * KiB,
    cpus=1.0,
    copy_back_files=2000,
)


def py(code: str) -> list[str]:
    """argv running ``code`` with Debian's Python inside the sandbox."""
    return [PYTHON, "-c", textwrap.dedent(code)]


def sh(script: str) -> list[str]:
    return ["/bin/sh", "-c", script]


class Host:
    """Checks that a run left nothing behind on the host."""

    def run_cgroups(self, uid: int) -> list[Path]:
        """The cgroups of runs made as the slot uid ``uid`` (run cgroups are named by it)."""
        _, plan = _host(TEST_CONFIG)
        parents = set(plan.v1_parents.values()) | ({plan.v2_parent} if plan.v2_parent else set())
        return sorted(p for parent in parents for p in parent.glob(f"run-{uid}-*"))

    def assert_unaffected(self, result: Result) -> None:
        assert processes_of_uid(result.uid) == [], "processes of the run outlived it"
        assert result.leftover_pids == ()
        assert self.run_cgroups(result.uid) == [], "the run's cgroups were left behind"
        # The host can still start processes (no pid or memory exhaustion leaked out).
        assert subprocess.run(["/bin/true"], check=False).returncode == 0


@pytest.fixture
def host() -> Host:
    return Host()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    path = tmp_path / "work"
    path.mkdir()
    return path


Sandboxed = Callable[..., Result]


@pytest.fixture
def sandboxed(workdir: Path) -> Sandboxed:
    """run() with the test config and small limits; keyword ``limits`` overrides single fields."""

    def call(argv: list[str], *, limits: dict[str, object] | Limits | None = None, **kwargs: object) -> Result:
        chosen = replace(SMALL, **limits) if isinstance(limits, dict) else limits or SMALL
        kwargs.setdefault("config", TEST_CONFIG)
        kwargs.setdefault("workdir", workdir)
        return run(argv=argv, limits=chosen, **kwargs)  # type: ignore[arg-type]

    return call


@pytest.fixture(scope="session")
def runtime() -> Runtime:
    """A small runtime (Debian's Python with pytest), built once and kept in var/test-data."""
    cache_dir = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")
    return runtime_build(requirements=["pytest==9.2.0"], root=cache_dir / "runtimes")
