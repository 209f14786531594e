"""No sandbox, no run: every way the host can be unfit is an error that names the fix."""

from __future__ import annotations

import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest

from sandbox import SandboxUnavailable, run

from .conftest import REPO, SMALL, TEST_CONFIG, Sandboxed

pytestmark = pytest.mark.timeout(60)


def test_a_missing_bwrap_is_an_error_that_names_the_fix(workdir: Path, tmp_path: Path) -> None:
    config = replace(TEST_CONFIG, bwrap=str(tmp_path / "no-such-bwrap"))
    (workdir / "marker").write_text("untouched")

    with pytest.raises(SandboxUnavailable) as caught:
        run(argv=["sh", "-c", "echo ran > marker"], workdir=workdir, limits=SMALL, config=config)

    assert "apt-get install bubblewrap" in str(caught.value)
    assert str(tmp_path / "no-such-bwrap") in str(caught.value)
    assert (workdir / "marker").read_text() == "untouched"  # nothing ran, sandboxed or not


def test_switched_off_user_namespaces_are_an_error_that_names_the_fix(sandboxed: Sandboxed, workdir: Path) -> None:
    # Inside a sandbox, user namespaces really are off (--disable-userns): the same probe a
    # worker runs at its first sandbox meets the kernel's refusal there.
    shutil.copytree(REPO / "sandbox", workdir / "sandbox", ignore=shutil.ignore_patterns("__pycache__"))
    probe = (
        "from sandbox.bwrap import locate, probe_userns\n"
        "try:\n"
        "    probe_userns(locate('/usr/bin/bwrap'), uid=None, gid=None)\n"
        "except Exception as exc:\n"
        "    print(type(exc).__name__, exc)\n"
    )

    result = sandboxed(["/usr/bin/python3", "-c", probe], copy_back=False)

    message = result.stdout.decode()
    assert message.startswith("SandboxUnavailable bubblewrap cannot create a user namespace")
    assert "kernel.unprivileged_userns_clone=1" in message and "user.max_user_namespaces" in message


def test_a_caller_that_is_not_root_is_told_why(workdir: Path) -> None:
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); import sandbox\n"
        "try:\n"
        "    sandbox.run(argv=['true'], workdir=sys.argv[2])\n"
        "except sandbox.SandboxUnavailable as exc:\n"
        "    print(exc)\n"
    )
    workdir.chmod(0o755)

    out = subprocess.run(
        ["/usr/bin/python3", "-c", code, str(REPO), "/tmp"],
        user=65534, group=65534, extra_groups=[], capture_output=True, text=True, check=False, cwd="/",
    )  # fmt: skip

    assert "must be started by root" in out.stdout, out.stderr
