"""What a run costs beyond its hidden suite, per runtime: export, build, services, app start, visible tests.

    .venv/bin/python bench/runtimes.py [--repeat 5]

For the built-in package (python), each example under examples/ whose runtime this host has (node,
python with PostgreSQL, go...), the shipped project committed in a repository of its own is played
as a worker plays a run, step by step with the real parts: `git archive` of the commit into a
folder (portal.scoring.export.tree_export) and the copy the app is served from; the runtime's build
step (SandboxRunner.build, nothing for python and node); the app's start in the sandbox until it
answers its ready path (SandboxRunner.start_app, services included); the hidden suite against it
(grader.run.run_hidden_tests: the baseline); the visible tests (SandboxRunner.run_visible_tests).
The services' own start is measured beside it as in bench/services.py: `/bin/true` in the
package's sandbox with and without them. Prints p50/p95 of each step over ``--repeat`` plays, the
overhead (export, build, app start, visible tests) against the hidden suite's own time, and for a
package with PostgreSQL what the server adds to a run (goal: at most 1 s). A worker runs the
visible tests beside the hidden suite, so its wall clock pays the export, build and start in full
and the visible tests only where they outlast the suite. Runtimes and service templates are built
first if needed (not timed). Needs root, like the sandbox itself.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, p95, setup_django

GOAL = 1.0  # seconds a PostgreSQL service may add to a run
STEPS = ("export", "build", "services start", "app start", "visible tests", "hidden suite")


def packages() -> list[Path]:
    """The built-in package, then every example package."""
    found = [ROOT / "assessment_app"]
    found += sorted(path.parent for path in (ROOT / "examples").glob("*/assessment.toml"))
    return found


def committed(manifest, folder: Path) -> tuple[Path, str]:
    """A repository (its git directory) whose one commit is the package's shipped project, as an invite's starts."""
    repo = folder / "repo"
    shutil.copytree(manifest.shipped_dir, repo, symlinks=True)
    env = {**os.environ, "GIT_AUTHOR_NAME": "Bench", "GIT_AUTHOR_EMAIL": "bench@example.com",
           "GIT_COMMITTER_NAME": "Bench", "GIT_COMMITTER_EMAIL": "bench@example.com"}  # fmt: skip
    for argv in (["init", "-q", "-b", "main"], ["add", "-A"], ["commit", "-q", "-m", "Starting point"]):
        subprocess.run(["git", *argv], cwd=repo, env=env, check=True, capture_output=True)
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=repo, check=True, capture_output=True, text=True)
    return repo / ".git", head.stdout.strip()


def play(manifest, runner, services, repo: Path, commit: str, folder: Path) -> dict[str, float]:
    """One run's steps, timed (seconds)."""
    from grader.run import new_seed, run_hidden_tests
    from portal.assessments.runner import _limits  # the package's limits, as the runner gives its sandboxes
    from portal.scoring.export import tree_export
    from sandbox import run

    times: dict[str, float] = {}
    scratch = Path(tempfile.mkdtemp(prefix="play-", dir=folder))
    try:
        began = time.perf_counter()
        tree = scratch / "tree"
        tree.mkdir()
        tree_export(repo=repo, commit=commit, destination=tree)
        times["export"] = time.perf_counter() - began
        began = time.perf_counter()
        runner.build(tree)
        times["build"] = time.perf_counter() - began
        app_tree = scratch / "app"
        began = time.perf_counter()
        shutil.copytree(tree, app_tree, symlinks=True)
        times["export"] += time.perf_counter() - began
        if services:
            # What the services add to a sandbox's start: /bin/true with them, less /bin/true without.
            limits, empty = _limits(manifest, seconds=30, wall_time=60), scratch / "empty"
            empty.mkdir()
            bare, served = [], []
            for with_services, into in ((False, bare), (True, served)):
                began = time.perf_counter()
                result = run(
                    argv=["/bin/true"], workdir=empty, limits=limits, services=services if with_services else ()
                )
                into.append(time.perf_counter() - began)
                if not result.ok:
                    raise SystemExit(f"/bin/true failed in the sandbox ({result.describe()}): {result.stderr!r}")
            times["services start"] = served[0] - bare[0]
        began = time.perf_counter()
        with runner.start_app(app_tree) as socket_path:
            times["app start"] = time.perf_counter() - began
            began = time.perf_counter()
            hidden = run_hidden_tests(socket_path, manifest=manifest, timeout=manifest.hidden_timeout, seed=new_seed())
            times["hidden suite"] = time.perf_counter() - began
        if not hidden.outcomes:
            raise SystemExit(f"{manifest.slug}: the hidden suite reported nothing:\n{hidden.output[-2000:]}")
        began = time.perf_counter()
        visible = runner.run_visible_tests(tree)
        times["visible tests"] = time.perf_counter() - began
        if not visible.outcomes:
            raise SystemExit(f"{manifest.slug}: the visible tests reported nothing:\n{visible.output[-2000:]}")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return times


def bench(package: Path, repeat: int, cache: Path, folder: Path) -> None:
    from grader.manifest import load_manifest
    from portal.assessments.runner import SandboxRunner, manifest_runtime, manifest_services

    try:
        manifest = load_manifest(package)
        runtime = manifest_runtime(manifest, runtimes_dir=cache / "runtimes")
        services = manifest_services(manifest, services_dir=cache / "services")
    except Exception as exc:  # a runtime or service this host lacks: said, and the others still measured
        print(f"\n{package.relative_to(ROOT)}: not measured, its runtime is not available here ({exc})")
        return
    kind = manifest.runtime_kind + "".join(f"+{name}" for name in manifest.services)
    print(f"\n{package.relative_to(ROOT)} ({kind}), {repeat} plays after one to warm up", flush=True)
    folder.mkdir()
    repo, commit = committed(manifest, folder)
    runner = SandboxRunner(manifest=manifest, runtime=runtime, services=services)
    plays = [play(manifest, runner, services, repo, commit, folder) for _ in range(repeat + 1)][1:]
    for step in STEPS:
        values = [times[step] for times in plays if step in times]
        if values:
            print(f"  {step:<16} p50 {statistics.median(values) * 1000:8.0f} ms   p95 {p95(values) * 1000:8.0f} ms")
    hidden = statistics.median([times["hidden suite"] for times in plays])
    steps = ("export", "build", "app start", "visible tests")
    overhead = statistics.median([sum(times[step] for step in steps) for times in plays])
    beside = statistics.median(
        [sum(times[step] for step in steps[:3]) + max(0.0, times["visible tests"] - times["hidden suite"])
         for times in plays]
    )  # fmt: skip
    print(
        f"  overhead, all steps in turn: {overhead:.2f} s = {overhead / hidden:.2f} x the hidden suite ({hidden:.2f} s)"
    )
    print(
        f"  overhead, visible tests beside the suite (as a worker runs them): {beside:.2f} s = {beside / hidden:.2f} x"
    )
    if "postgresql" in manifest.services:
        # Each run starts a server beside the app and another beside the visible tests.
        started = [times["services start"] for times in plays]
        added = statistics.median(started)
        verdict = "met" if added <= GOAL else "NOT met"
        print(f"  PostgreSQL adds {added:.2f} s to each sandbox's start (p95 {p95(started):.2f} s), "
              f"{2 * added:.2f} s of the run's in all, {added:.2f} s on its path to the hidden suite: "
              f"goal <= {GOAL:g} s per run {verdict}")  # fmt: skip


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("The sandbox (and so this benchmark) needs root.")
        return 1
    cache = Path(os.environ.get("PORTAL_CACHE_DIR") or ROOT / "var" / "test-cache")
    with tempfile.TemporaryDirectory(prefix="bench-runtimes-") as tmp:
        setup_django(Path(tmp))  # the export reads the portal's caps on a tree
        for number, package in enumerate(packages()):
            bench(package, args.repeat, cache, Path(tmp) / str(number))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
