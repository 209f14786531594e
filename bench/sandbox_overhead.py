"""What the sandbox costs: one pytest suite timed inside and outside it, and bare start-up.

    .venv/bin/python bench/sandbox_overhead.py [--rounds 5] [--starts 50] [--modules 120]

The suite (generated: 1800 small tests with fixtures, parametrisation, tmp files, JSON and some
arithmetic) runs with the same interpreter and virtualenv both ways: on the host directly, and
in the sandbox with default limits. Rounds alternate between the two so drifting load on the
host hits both alike; the medians are compared (goal: ratio <= 1.05). Then the bare cost of a
sandbox: bwrap alone, the full run() of /bin/true (slot, cgroups, copy in and out, checks),
and plain fork+exec for reference. Needs root, like the sandbox itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--starts", type=int, default=50)
    parser.add_argument("--modules", type=int, default=120, help="test modules of 15 tests each")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("The sandbox (and so this benchmark) needs root.")
        return 1

    cache_dir = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")
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
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SandboxError as exc:
        print(f"sandbox unavailable: {exc}")
        sys.exit(1)
