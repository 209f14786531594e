"""The run() contract: results, the work directory round trip, mechanisms, argument checks."""

from __future__ import annotations

import os
import time
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import Limit, SandboxSetupError, run
from sandbox.api import default_env

from .conftest import SMALL, TEST_CONFIG, Host, Sandboxed, py, sh

pytestmark = pytest.mark.timeout(60)


def test_exit_code_output_and_timings_are_reported(sandboxed: Sandboxed, host: Host) -> None:
    began = time.monotonic()
    result = sandboxed(sh("echo out; echo err >&2; exit 3"))
    took = time.monotonic() - began

    assert (result.exit_code, result.signal, result.limit) == (3, None, None)
    assert (result.stdout, result.stderr) == (b"out\n", b"err\n")
    assert not result.ok and result.describe().startswith("exit 3")
    # Each step was measured, and the three fit in the call one after another (in seconds, not ms).
    assert result.setup_time > 0 and result.wall_time > 0 and result.teardown_time > 0
    assert result.setup_time + result.wall_time + result.teardown_time <= took
    assert result.cpu_time is not None and result.cpu_time > 0
    host.assert_unaffected(result)


def test_the_work_directory_goes_in_and_its_changes_come_back(sandboxed: Sandboxed, workdir: Path) -> None:
    (workdir / "keep.txt").write_text("kept")
    (workdir / "delete-me.txt").write_text("gone")
    (workdir / "src").mkdir()
    (workdir / "src" / "run.sh").write_text("echo from script")
    (workdir / "src" / "run.sh").chmod(0o755)

    result = sandboxed(sh("./src/run.sh > out.txt; rm delete-me.txt; mkdir -p a/b; echo deep > a/b/c.txt"))

    assert result.ok
    assert sorted(str(p.relative_to(workdir)) for p in workdir.rglob("*")) == [
        "a", "a/b", "a/b/c.txt", "keep.txt", "out.txt", "src", "src/run.sh",
    ]  # fmt: skip
    assert (workdir / "out.txt").read_text() == "from script\n"
    assert os.access(workdir / "src" / "run.sh", os.X_OK) and (workdir / "a/b/c.txt").read_text() == "deep\n"


def test_copy_back_can_be_turned_off(sandboxed: Sandboxed, workdir: Path) -> None:
    (workdir / "input.txt").write_text("original")

    result = sandboxed(sh("echo changed > input.txt; echo new > new.txt"), copy_back=False)

    assert result.ok and result.copied_back == 0
    assert [p.name for p in workdir.iterdir()] == ["input.txt"]
    assert (workdir / "input.txt").read_text() == "original"


def test_a_work_directory_larger_than_the_disk_limit_is_refused(
    sandboxed: Sandboxed, workdir: Path, host: Host
) -> None:
    (workdir / "big").write_bytes(b"\0" * (2 * 1024 * 1024))

    with pytest.raises(SandboxSetupError, match="disk limit"):
        sandboxed(["true"], limits={"disk": 1024 * 1024})

    uids = range(TEST_CONFIG.uid_base, TEST_CONFIG.uid_base + TEST_CONFIG.slots)
    assert all(host.run_cgroups(uid) == [] for uid in uids)


def test_a_work_directory_with_too_many_entries_is_refused(sandboxed: Sandboxed, workdir: Path) -> None:
    for i in range(30):
        (workdir / f"f{i}").touch()

    with pytest.raises(SandboxSetupError, match="more than 20 entries"):
        sandboxed(["true"], limits={"copy_back_files": 20})

    assert len(list(workdir.iterdir())) == 30  # the caller's directory is untouched


def test_every_limit_names_the_mechanism_that_enforced_it(sandboxed: Sandboxed) -> None:
    result = sandboxed(["true"])

    mechanisms = result.mechanisms
    assert set(mechanisms) >= {lim.value for lim in Limit} | {"cpus", "kill", "isolation", "seccomp"}
    assert mechanisms["memory"].startswith("cgroup-") and "cgroup-" in mechanisms["processes"]
    assert "RLIMIT_NPROC" in mechanisms["processes"] and mechanisms["file_size"] == "rlimit:RLIMIT_FSIZE"
    assert mechanisms["disk"].startswith("tmpfs:") and mechanisms["seccomp"].startswith("seccomp:")


def test_without_cgroups_the_unenforced_limits_say_so(sandboxed: Sandboxed, host: Host) -> None:
    config = replace(TEST_CONFIG, cgroups="none")

    result = sandboxed(["true"], config=config)

    assert "NOT enforced" in result.mechanisms["memory"] and "NOT enforced" in result.mechanisms["cpu_time"]
    assert result.mechanisms["cpus"].startswith("none:")
    assert result.mechanisms["processes"].startswith("rlimit:RLIMIT_NPROC")
    host.assert_unaffected(result)


def test_the_environment_is_minimal_plus_what_the_caller_adds(sandboxed: Sandboxed) -> None:
    result = sandboxed(py("import os; print(sorted(os.environ))"), env={"ASSESSMENT": "demo"})

    names = set(eval(result.stdout))  # noqa: S307 - a list literal we printed ourselves
    assert names == set(default_env(None)) | {"ASSESSMENT", "PWD"}
    assert "PATH" in names and "DJANGO_SETTINGS_MODULE" not in names


def test_bad_arguments_are_refused_before_anything_runs(workdir: Path) -> None:
    with pytest.raises(ValueError, match="argv"):
        run(argv="echo hi", workdir=workdir, limits=SMALL, config=TEST_CONFIG)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="environment"):
        run(argv=["true"], workdir=workdir, env={"BAD NAME": "x"}, limits=SMALL, config=TEST_CONFIG)
    with pytest.raises(ValueError, match="does not exist"):
        run(argv=["true"], workdir=workdir / "missing", limits=SMALL, config=TEST_CONFIG)
    with pytest.raises(ValueError, match="memory"):
        SMALL.__class__(memory=1024)
