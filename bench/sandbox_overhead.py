"""What the sandbox costs: one pytest suite timed inside and outside it, and bare start-up.

    .venv/bin/python bench/sandbox_overhead.py [--rounds 5] [--starts 50] [--modules 120]
    .venv/bin/python bench/sandbox_overhead.py --app-only [--app-starts 15]

The suite (generated: 1800 small tests with fixtures, parametrisation, tmp files, JSON and some
arithmetic) runs with the same interpreter and virtualenv both ways: on the host directly, and
in the sandbox with default limits. Rounds alternate between the two so drifting load on the
host hits both alike; the medians are compared (goal: ratio <= 1.05). Then the bare cost of a
sandbox: bwrap alone, the full run() of /bin/true (slot, cgroups, copy in and out, checks),
and plain fork+exec for reference. Needs root, like the sandbox itself.

Then one start and stop of the built-in assessment's app as scoring makes it (grader.play.served
with the sandbox's runner: the sandbox, the app until its ready path answers, then its stop and
the sandbox's teardown), beside the same interpreter outside any sandbox: the bare
``import uvicorn, app.main`` and the bare start until the socket answers. Medians of rounds that
alternate between them; wall clock and CPU (the app's from its cgroup, the worker's own from
getrusage).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox import Limits, SandboxConfig, SandboxError, run, runtime_build  # noqa: E402
from sandbox.bwrap import locate, system_binds  # noqa: E402
from sandbox.slots import acquire_slot  # noqa: E402

GOAL = 1.05

TEST_MODULE = """
import json
import pytest


@pytest.fixture
def payload():
    return {{"id": {n}, "items": [{{"name": f"item-{{i}}", "price": i * 1.5}} for i in range(50)]}}


@pytest.mark.parametrize("count", range(10))
def test_round_trip(payload, count):
    data = json.loads(json.dumps(payload))
    assert len(data["items"]) == 50 and data["id"] == {n}


@pytest.mark.parametrize("size", [100, 1000, 5000])
def test_arithmetic(size):
    assert sum(i * i for i in range(size)) == (size - 1) * size * (2 * size - 1) // 6


def test_files(tmp_path):
    for i in range(20):
        (tmp_path / f"f{{i}}.txt").write_text("x" * 1000)
    assert sum(p.stat().st_size for p in tmp_path.iterdir()) == 20000


class TestStrings:
    def test_split_join(self):
        text = " ".join(str(i) for i in range(2000))
        assert text.split()[-1] == "1999"

    def test_format(self):
        assert f"{{3.14159:.2f}}" == "3.14"
"""


def make_suite(directory: Path, modules: int = 40) -> int:
    for n in range(modules):
        (directory / f"test_mod{n:02d}.py").write_text(textwrap.dedent(TEST_MODULE.format(n=n)))
    return modules * 15


def timed(fn) -> float:  # type: ignore[no-untyped-def]
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def _cpu(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _bare_start(python: Path, tree: Path, argv: list[str], env: dict[str, str]) -> tuple[float, float, float]:
    """The app's command outside any sandbox: (seconds until its socket answers, its CPU then, stop)."""
    socket_dir = Path(tempfile.mkdtemp(prefix="bench-app-", dir="/tmp"))
    path = str(socket_dir / "app.sock")
    command = [str(python) if arg == "python" else arg.replace("{socket}", path) for arg in argv]
    began = time.perf_counter()
    process = subprocess.Popen(
        command, cwd=tree, env={**env, "PORTAL_SOCKET": path}, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while True:
            if process.poll() is not None:
                raise SystemExit(f"the app exited with {process.returncode} outside the sandbox")
            with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
                sock.connect(path)
                break
            time.sleep(0.001)
        ready = time.perf_counter() - began
        with open(f"/proc/{process.pid}/stat", encoding="ascii") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    finally:
        stopped = time.perf_counter()
        process.kill()
        process.wait()
        shutil.rmtree(socket_dir, ignore_errors=True)
    return ready, cpu, time.perf_counter() - stopped


def app_start_stop(rounds: int, cache_dir: Path) -> None:
    """Start and stop the built-in assessment's app ``rounds`` times, in the sandbox and outside it."""
    from grader.manifest import load_manifest
    from grader.play import served
    from portal.assessments.runner import SandboxRunner, manifest_runtime

    manifest = load_manifest(REPO / "assessment_app")
    runtime = manifest_runtime(manifest, runtimes_dir=cache_dir / "runtimes")
    with tempfile.TemporaryDirectory(prefix="sandbox-bench-app-") as tmp:
        tree = Path(tmp) / "tree"
        shutil.copytree(manifest.shipped_dir, tree, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
        env = {"PATH": "/usr/bin:/bin", "HOME": tmp, "TMPDIR": tmp, "LANG": "C.UTF-8", "PYTHONDONTWRITEBYTECODE": "1"}
        env |= manifest.app.environment(socket="{socket}", workdir=str(tree))
        figures: dict[str, list[float]] = {name: [] for name in (
            "import wall", "import cpu", "bare ready", "bare cpu", "bare stop",
            "ready", "stop", "total", "app cpu", "worker cpu",
        )}  # fmt: skip

        def bare_import() -> None:
            before = _cpu(resource.RUSAGE_CHILDREN)
            began = time.perf_counter()
            subprocess.run([str(runtime.host_python), "-c", "import uvicorn, app.main"], cwd=tree, env=env, check=True)
            figures["import wall"].append(time.perf_counter() - began)
            figures["import cpu"].append(_cpu(resource.RUSAGE_CHILDREN) - before)

        def sandboxed() -> None:
            runner = SandboxRunner(manifest=manifest, runtime=runtime)
            # The worker's own threads only: bwrap's reaped figure may or may not hold the app's CPU
            # (it does when the app ends before bwrap), which its cgroup's figure gives below.
            before = _cpu(resource.RUSAGE_SELF)
            began = time.perf_counter()
            with served(runner, tree):
                ready = time.perf_counter()
            ended = time.perf_counter()
            figures["ready"].append(ready - began)
            figures["stop"].append(ended - ready)
            figures["total"].append(ended - began)
            figures["worker cpu"].append(_cpu(resource.RUSAGE_SELF) - before)
            figures["app cpu"].append(runner.app_results[-1].cpu_time or 0.0)

        bare_import()
        sandboxed()  # warm both before measuring
        for key in figures:
            figures[key].clear()
        for _ in range(rounds):
            bare_import()
            ready, cpu, stop = _bare_start(runtime.host_python, tree, manifest.app.start, env)
            figures["bare ready"].append(ready)
            figures["bare cpu"].append(cpu)
            figures["bare stop"].append(stop)
            sandboxed()

    def ms(name: str) -> str:
        return f"{statistics.median(figures[name]) * 1000:6.0f} ms"

    print(f"\nthe built-in app, started and stopped ({rounds} rounds each, alternating, median)")
    print(f"  outside: python -c 'import uvicorn, app.main'   wall {ms('import wall')}  CPU {ms('import cpu')}")
    print(f"  outside: the start command until it accepts     wall {ms('bare ready')}  CPU {ms('bare cpu')}")
    print(f"  outside: its SIGKILL until reaped               wall {ms('bare stop')}")
    print(f"  sandbox: served() until the ready path answers  wall {ms('ready')}")
    print(f"  sandbox: the stop and teardown                  wall {ms('stop')}")
    print(f"  sandbox: start + stop                           wall {ms('total')}")
    print(f"  sandbox: the app's CPU (its cgroup, whole life)      {ms('app cpu')}")
    print(f"  sandbox: the worker process's own CPU (its threads)   {ms('worker cpu')}")
    print(f"  host load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--modules", type=int, default=120, help="test modules of 15 tests each")
    parser.add_argument("--app-starts", type=int, default=15, help="starts and stops of the built-in app")
    parser.add_argument("--app-only", action="store_true", help="only the built-in app's start and stop")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("The sandbox (and so this benchmark) needs root.")
        return 1

    cache_dir = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")
    if args.app_only:
        app_start_stop(args.app_starts, cache_dir)
        return 0
    print("Building (or reusing) a runtime with pytest...", flush=True)
    runtime = runtime_build(requirements=["pytest==9.2.0"], root=cache_dir / "runtimes")
    config = SandboxConfig.from_env()
    limits = Limits(wall_time=600, cpu_time=600)
    pytest_args = ["-m", "pytest", "-q", "-p", "no:cacheprovider"]

    with tempfile.TemporaryDirectory(prefix="sandbox-bench-") as tmp:
        suite = Path(tmp) / "suite"
        suite.mkdir()
        tests = make_suite(suite, modules=args.modules)
        # The sandbox's own environment, on the host: a private temporary directory on a tmpfs
        # (pytest's tmp_path base; in the sandbox /tmp is a tmpfs, and comparing it with a disk
        # would measure the disk, not the sandbox), no bytecode written into the suite.
        shm = Path("/dev/shm")  # noqa: S108 - mkdtemp below makes a private directory there
        host_tmp = Path(tempfile.mkdtemp(prefix="sandbox-bench-", dir=shm if shm.is_dir() else tmp))
        host_env = {
            "PATH": "/usr/bin:/bin",
            "HOME": str(host_tmp),
            "TMPDIR": str(host_tmp),
            "LANG": "C.UTF-8",
            "PYTHONDONTWRITEBYTECODE": "1",
        }

        def outside() -> None:
            out = subprocess.run(
                [str(runtime.host_python), *pytest_args], cwd=suite, env=host_env, capture_output=True, check=False
            )
            if out.returncode != 0:
                raise SystemExit(f"suite failed outside the sandbox:\n{out.stdout.decode()[-2000:]}")

        def inside() -> None:
            result = run(argv=["python", *pytest_args], workdir=suite, runtime=runtime, limits=limits, config=config)
            if not result.ok:
                raise SystemExit(f"suite failed inside the sandbox ({result.describe()}):\n{result.stdout[-2000:]!r}")

        outside()
        inside()  # warm caches both ways before measuring
        times_out: list[float] = []
        times_in: list[float] = []
        for _ in range(args.rounds):
            times_out.append(timed(outside))
            times_in.append(timed(inside))

        med_out, med_in = statistics.median(times_out), statistics.median(times_in)
        ratio = med_in / med_out
        print(f"\npytest suite ({tests} tests, {args.rounds} rounds each, alternating)")
        print(f"  outside the sandbox  median {med_out:.3f} s  (min {min(times_out):.3f})")
        print(f"  inside the sandbox   median {med_in:.3f} s  (min {min(times_in):.3f})")
        print(f"  ratio inside/outside {ratio:.3f}  (goal <= {GOAL}: {'met' if ratio <= GOAL else 'NOT met'})")
        print(f"  ratio of the minimums {min(times_in) / min(times_out):.3f}")
        # Other work on the host skews both (a sandbox's CPU cgroup is scheduled as one entity
        # against everything else): the figures are only clean on an idle machine.
        print(f"  host load average {os.getloadavg()[0]:.2f} on {os.cpu_count()} CPUs")

        shutil.rmtree(host_tmp, ignore_errors=True)
        empty = Path(tmp) / "empty"
        empty.mkdir()
        info = locate(config.bwrap)
        raw = [info.path, "--unshare-all", "--unshare-user", "--die-with-parent", *system_binds(), "--", "/bin/true"]
        with acquire_slot(config) as slot:

            def bare_bwrap() -> None:
                subprocess.run(raw, user=slot.uid, group=slot.gid, extra_groups=[], check=True, env={})

            bwrap_ms = [timed(bare_bwrap) * 1000 for _ in range(args.starts)]
        fork_ms = [timed(lambda: subprocess.run(["/bin/true"], check=True)) * 1000 for _ in range(args.starts)]
        full = [run(argv=["/bin/true"], workdir=empty, config=config) for _ in range(args.starts)]
        total_ms = [(r.setup_time + r.wall_time + r.teardown_time) * 1000 for r in full]

        print(f"\nstarting a sandbox ({args.starts} starts each, median)")
        print(f"  fork+exec /bin/true, no sandbox        {statistics.median(fork_ms):6.1f} ms")
        print(f"  bwrap /bin/true, namespaces only       {statistics.median(bwrap_ms):6.1f} ms")
        print(f"  sandbox.run(/bin/true), everything     {statistics.median(total_ms):6.1f} ms")
        setup_ms = statistics.median(r.setup_time for r in full) * 1000
        teardown_ms = statistics.median(r.teardown_time for r in full) * 1000
        print(f"    of which setup (slot, cgroups, bwrap, copy in)  {setup_ms:5.1f} ms")
        print(f"    of which teardown (kill check, copy back)      {teardown_ms:5.1f} ms")
    app_start_stop(args.app_starts, cache_dir)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SandboxError as exc:
        print(f"sandbox unavailable: {exc}")
        sys.exit(1)
