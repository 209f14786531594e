"""What a PostgreSQL or Redis server beside the app costs a run: the same sandboxed command with and without it.

    .venv/bin/python bench/services.py [--runs 20]

Five commands, alternating round by round so drifting load on the host hits all alike: `/bin/true`
in a bare sandbox (the baseline); for each service `/bin/true` with it (the server starts, then the
command ends) and a client's first request (`psql -c 'select 1'`, `redis-cli ping`). For each:
p50/p95 of the whole run() call (slot, cgroups, copy in of the cluster, start, teardown), of the
part inside the sandbox (Result.wall_time) and the run's CPU seconds, then the overhead against the
baseline (goal: at most about 1 s at p50). The template cluster is built first if needed (not
timed). Needs root, like the sandbox itself.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from sandbox import Limits, MiB, PostgreSQL, Redis, Result, SandboxConfig, postgres_template, run  # noqa: E402

GOAL = 1.0  # seconds the service may add to a run (p50)


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def line(name: str, values: list[float], unit: str = "ms") -> str:
    scale = 1000 if unit == "ms" else 1
    return f"  {name:<34} p50 {statistics.median(values) * scale:8.1f} {unit}   p95 {p95(values) * scale:8.1f} {unit}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("The sandbox (and so this benchmark) needs root.")
        return 1

    config = SandboxConfig.from_env()
    cache_dir = Path(os.environ.get("PORTAL_CACHE_DIR") or REPO / "var" / "test-cache")
    print("Building (or reusing) the PostgreSQL template cluster...", flush=True)
    started = time.perf_counter()
    postgresql = PostgreSQL(template=postgres_template(root=cache_dir / "services", config=config))
    print(f"  ready in {time.perf_counter() - started:.2f} s: {postgresql.template}")
    limits = Limits(wall_time=60, disk=128 * MiB)
    cases = {
        "/bin/true, no service (baseline)": (["/bin/true"], []),
        "/bin/true, with PostgreSQL": (["/bin/true"], [postgresql]),
        "psql 'select 1', with PostgreSQL": (["psql", "-XAtc", "select 1"], [postgresql]),
        "/bin/true, with Redis": (["/bin/true"], [Redis()]),
        "redis-cli ping, with Redis": (["sh", "-c", 'exec redis-cli -s "$REDIS_SOCKET" ping'], [Redis()]),
    }
    calls: dict[str, list[float]] = {name: [] for name in cases}
    inside: dict[str, list[float]] = {name: [] for name in cases}
    cpu: dict[str, list[float]] = {name: [] for name in cases}

    with tempfile.TemporaryDirectory(prefix="services-bench-") as tmp:
        workdir = Path(tmp)
        for round_ in range(args.runs + 1):
            for name, (argv, services) in cases.items():
                begin = time.perf_counter()
                result: Result = run(argv=argv, workdir=workdir, limits=limits, config=config, services=services)
                took = time.perf_counter() - begin
                if not result.ok:
                    raise SystemExit(f"{name} failed ({result.describe()}): {result.stderr[-2000:]!r}")
                if round_ == 0:
                    continue  # warm-up: page cache, probes, first cgroups
                calls[name].append(took)
                inside[name].append(result.wall_time)
                cpu[name].append(result.cpu_time or 0.0)

    print(f"\n{args.runs} runs of each, alternating")
    for name in cases:
        print(f"{name}")
        print(line("run() call", calls[name]))
        print(line("inside the sandbox (wall_time)", inside[name]))
        print(line("CPU of the run", cpu[name]))
    base = "/bin/true, no service (baseline)"
    print("\nOverhead of the service against the baseline (p50 of the run() call)")
    for name in list(cases)[1:]:
        added = statistics.median(calls[name]) - statistics.median(calls[base])
        ratio = statistics.median(calls[name]) / statistics.median(calls[base])
        added95 = p95(calls[name]) - p95(calls[base])
        verdict = "met" if added <= GOAL else "NOT met"
        print(f"  {name:<34} +{added * 1000:.0f} ms at p50 (x{ratio:.1f}), +{added95 * 1000:.0f} ms at p95: "
              f"goal <= {GOAL:g} s {verdict}")  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
