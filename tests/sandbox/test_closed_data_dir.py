"""A data directory under a folder only its owner may enter (a home directory of mode 0700, or
one made by ``mktemp -d``): runs and served apps still get their runtime, and the sandbox still
sees nothing of the data directory but the runtime, read-only at /runtime.

bwrap looks up what it binds as the slot's unprivileged uid, which cannot pass such a folder; the
worker binds the runtime for it in a mount namespace of the run (sandbox/mounts.py).
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from sandbox import Runtime, SandboxSetupError, SandboxUnavailable, run, runtime_build, serve
from sandbox.mounts import closed_directory

from .conftest import REPO, SMALL, TEST_CONFIG, Host, Sandboxed
from .test_serve import SERVE_LIMITS, app

pytestmark = pytest.mark.timeout(120)

SECRET = "another candidate's hidden test"


@dataclass(frozen=True)
class ClosedDataDir:
    home: Path  # mode 0700, like `mktemp -d` or a home directory
    data: Path  # PORTAL_DATA_DIR
    secret: Path  # something of the data directory beside the runtimes
    runtime: Runtime


@pytest.fixture(scope="module")
def closed() -> Iterator[ClosedDataDir]:
    home = Path(tempfile.mkdtemp(prefix="closed-home-"))  # 0700, as `mktemp -d` makes it
    try:
        assert stat.S_IMODE(home.stat().st_mode) == 0o700
        data = home / "data"
        secret = data / "repos" / "other-candidate" / "hidden_test.py"
        secret.parent.mkdir(parents=True)
        secret.write_text(SECRET)
        # No requirements: a bare virtualenv, built offline in a few seconds, for real.
        runtime = runtime_build(requirements=[], root=data / "runtimes")
        yield ClosedDataDir(home=home, data=data, secret=secret, runtime=runtime)
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _mounts_of_this_process() -> str:
    return Path("/proc/self/mountinfo").read_text()


def test_a_run_gets_a_runtime_from_under_a_closed_directory(
    closed: ClosedDataDir, sandboxed: Sandboxed, host: Host
) -> None:
    assert closed_directory(str(closed.runtime.path)) is not None  # slot uids cannot pass on their own
    script = "import sys; print(sys.prefix, sys.executable, sys.version_info[:2] == (3, 11))"

    result = sandboxed(["python", "-c", script], runtime=closed.runtime)

    assert result.exit_code == 0, result.stderr
    assert result.stdout.split() == [b"/runtime", b"/runtime/bin/python", b"True"]
    # The host saw no mount, and nothing changed modes or contents to make this work.
    assert str(closed.runtime.path) not in _mounts_of_this_process()
    assert str(TEST_CONFIG.state_dir) not in _mounts_of_this_process()
    assert stat.S_IMODE(closed.home.stat().st_mode) == 0o700
    assert stat.S_IMODE(TEST_CONFIG.state_dir.stat().st_mode) == 0o700
    assert all(p.name.startswith("slot-") and p.name.endswith(".lock") for p in TEST_CONFIG.state_dir.iterdir())
    host.assert_unaffected(result)


def test_the_sandbox_still_sees_nothing_of_the_data_directory_but_the_runtime(
    closed: ClosedDataDir, sandboxed: Sandboxed, host: Host
) -> None:
    script = f"""
import errno, os, sys
secret = {str(closed.secret)!r}
print(os.path.exists(secret), os.path.exists({str(closed.home)!r}), os.path.exists({str(TEST_CONFIG.state_dir)!r}))
print(sorted(os.listdir("/runtime/..")) == sorted(os.listdir("/")))
print(os.path.exists("/runtime/../repos"), os.path.exists("/runtime/runtime.json"))
try:
    open("/runtime/planted", "w")
except OSError as exc:
    print(errno.errorcode[exc.errno])
found = []
for top in ("/runtime", "/work", "/tmp", "/etc"):
    for root, _, files in os.walk(top):
        for name in files:
            try:
                with open(os.path.join(root, name), "rb") as fh:
                    if {SECRET.encode()!r} in fh.read():
                        found.append(os.path.join(root, name))
            except OSError:
                pass
print(found)
"""

    result = sandboxed(["python", "-c", script], runtime=closed.runtime, limits={"wall_time": 30, "cpu_time": 30})

    assert result.exit_code == 0, result.stderr
    assert result.stdout.decode().splitlines() == [
        "False False False",
        "True",  # /runtime/.. is the sandbox's root, not the runtimes folder of the host
        "False True",
        "EROFS",
        "[]",
    ]
    assert not (closed.runtime.path / "planted").exists()
    host.assert_unaffected(result)


def test_a_served_app_and_a_run_at_once_both_under_a_closed_directory(closed: ClosedDataDir, host: Host) -> None:
    workdir = closed.data / "scratch" / "app"  # the work directory may be in there too
    workdir.mkdir(parents=True)
    (workdir / "note.txt").write_text("from the candidate's tree")
    other = closed.data / "scratch" / "tests"
    other.mkdir()
    argv = [closed.runtime.python, *app("assert open('note.txt').read().startswith('from')")[1:]]

    with serve(argv=argv, workdir=workdir, runtime=closed.runtime, limits=SERVE_LIMITS, config=TEST_CONFIG) as server:
        response = server.request("GET", "/health")
        # A second run with the same runtime meanwhile: each run binds it in its own namespace.
        meanwhile = run(
            argv=["python", "-c", "import sys; open('out.txt', 'w').write(sys.prefix)"],
            workdir=other,
            runtime=closed.runtime,
            limits=SMALL,
            config=TEST_CONFIG,
        )
        again = server.request("GET", "/again")
    result = server.stop()

    assert response.status == 200 and response.body == b"hello from pid 1 at /health"
    assert again.body.endswith(b"/again")
    assert meanwhile.exit_code == 0, meanwhile.stderr
    assert (other / "out.txt").read_text() == "/runtime"
    assert str(closed.runtime.path) not in _mounts_of_this_process()
    host.assert_unaffected(meanwhile)
    host.assert_unaffected(result)


def test_a_state_directory_the_slot_uids_cannot_reach_is_refused_with_the_fix(
    closed: ClosedDataDir, sandboxed: Sandboxed
) -> None:
    config = replace(TEST_CONFIG, state_dir=closed.home / "state")

    with pytest.raises(SandboxUnavailable, match="PORTAL_SANDBOX_STATE_DIR") as caught:
        sandboxed(["python", "-c", "pass"], runtime=closed.runtime, config=config)

    assert str(closed.home) in str(caught.value)
    assert not config.state_dir.exists()  # refused before any slot was taken


def test_a_runtime_the_slot_uids_cannot_read_is_refused_with_the_fix(
    closed: ClosedDataDir, sandboxed: Sandboxed
) -> None:
    path = closed.runtime.path
    path.chmod(0o700)
    try:
        with pytest.raises(SandboxSetupError, match=r"chmod -R a\+rX"):
            sandboxed(["python", "-c", "pass"], runtime=closed.runtime)
    finally:
        path.chmod(0o755)


# Runs in a child process whose bounding set lacks CAP_SYS_ADMIN (like a Docker worker without
# `cap_add: [SYS_ADMIN]`): it cannot create the mount namespace, so a closed runtime is refused
# with the fix, while the same runtime works as soon as its parents let others pass.
WITHOUT_SYS_ADMIN = """
import json, os, sys
from pathlib import Path
from sandbox import Runtime, SandboxUnavailable, run
from tests.sandbox.conftest import SMALL, TEST_CONFIG

home, runtime, workdir = Path(sys.argv[1]), Runtime.load(Path(sys.argv[2])), Path(sys.argv[3])
out = {"cap_sys_admin": bool(int(Path("/proc/self/status").read_text().split("CapEff:")[1].split()[0], 16) & 1 << 21)}
try:
    run(argv=["python", "-c", "pass"], workdir=workdir, runtime=runtime, limits=SMALL, config=TEST_CONFIG)
    out["closed"] = "ran"
except SandboxUnavailable as exc:
    out["closed"] = str(exc)
os.chmod(home, 0o711)  # others may pass, not list
try:
    result = run(argv=["python", "-c", "import sys; print(sys.prefix)"], workdir=workdir, runtime=runtime,
                 limits=SMALL, config=TEST_CONFIG)
    out["passable"] = [result.exit_code, result.stdout.decode().strip()]
finally:
    os.chmod(home, 0o700)
print(json.dumps(out))
"""


def _drop_cap_sys_admin() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 21, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_SYS_ADMIN: gone after exec
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP)")


def test_without_cap_sys_admin_a_closed_runtime_is_refused_with_the_fix(closed: ClosedDataDir) -> None:
    workdir = closed.data / "scratch" / "no-admin"
    workdir.mkdir(parents=True)

    out = subprocess.run(
        [sys.executable, "-c", WITHOUT_SYS_ADMIN, str(closed.home), str(closed.runtime.path), str(workdir)],
        preexec_fn=_drop_cap_sys_admin,
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        capture_output=True,
        text=True,
        timeout=100,
        check=False,
    )

    assert out.returncode == 0, out.stderr
    report = json.loads(out.stdout.splitlines()[-1])
    assert report["cap_sys_admin"] is False
    assert "CAP_SYS_ADMIN" in report["closed"] and str(closed.home) in report["closed"]
    assert report["passable"] == [0, "/runtime"]
    assert stat.S_IMODE(closed.home.stat().st_mode) == 0o700
