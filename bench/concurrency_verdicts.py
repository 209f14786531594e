"""Ticket #3's concurrency test on a quiet and on a loaded machine: does its verdict depend on the load?

    .venv/bin/python bench/concurrency_verdicts.py [--runs 20] [--busy-loops 6] [--package assessment_app]

Only the hidden test marked `concurrency` (ticket #3's bursts of requests that reach the app at the
same moment) tells a shared database session that is rolled back on refusal (the #3 decoys) from a
session per request (the reference fix). This runs that test alone, as validation repeats it,
`--runs` times against each of: all reference fixes applied, and each #3 decoy applied alone to the
shipped project. Every run gets a fresh app, served in the sandbox and reached through the worker's
forwarding socket (SandboxRunner, on the runtime cache `make run` shares, var/cache/runtimes), and
a fresh seed. All of it twice: first as
the machine is, then with `--busy-loops` processes spinning on the CPUs (started here, and always
stopped here, whatever ends the benchmark).

Prints, per phase, how many runs passed the reference and rejected each decoy, the wrong answers
the decoys got, and the test's own time per run (median, quiet and loaded, and their ratio). A
failing run's seed replays it. Needs root, like the sandbox itself.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from grader.local import AppStartError  # noqa: E402
from grader.manifest import Manifest, load_manifest  # noqa: E402
from grader.run import GraderError, new_seed, run_hidden_tests  # noqa: E402
from portal.assessments.runner import SandboxRunner, manifest_runtime  # noqa: E402
from sandbox import SandboxError  # noqa: E402

WRONG = re.compile(r"(\d+) of (\d+) requests")
# A busy loop that dies with this process even if it is killed outright (prctl PR_SET_PDEATHSIG).
BUSY_LOOP = (
    "import ctypes, os, signal, sys\n"
    "ctypes.CDLL(None).prctl(1, signal.SIGKILL)\n"
    "if os.getppid() != int(sys.argv[1]):\n"
    "    sys.exit()\n"
    "while True:\n"
    "    pass\n"
)


@dataclass
class State:
    """A version of the project: the reference (all fixes) or one decoy."""

    name: str
    patches: list[Path]
    reference: bool
    tree: Path | None = None


@dataclass
class Runs:
    """What one state's runs of the test gave in one phase."""

    passed: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    wrong_answers: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)  # "seed N: message" of runs that failed


def prepare(manifest: Manifest, state: State, scratch: Path) -> None:
    tree = scratch / state.name
    shutil.copytree(manifest.shipped_dir, tree, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    for patch in state.patches:
        subprocess.run(["git", "apply", str(patch)], cwd=tree, check=True)
    state.tree = tree


def one_run(runner: SandboxRunner, state: State, scratch: Path, runs: Runs) -> None:
    """A fresh copy of the state's tree, served in the sandbox, and the concurrency test run once against it."""
    work = Path(tempfile.mkdtemp(prefix="run-", dir=scratch))
    seed = new_seed()
    try:
        tree = work / "tree"
        shutil.copytree(state.tree, tree)
        with runner.start_app(tree) as socket_path:
            # As validation repeats it: the grader's own run of the hidden tests, narrowed to the
            # tests marked concurrency, once.
            run = run_hidden_tests(
                socket_path,
                [3],
                manifest=runner.manifest,
                seed=seed,
                app_usage=lambda: runner.app_usage(socket_path),
                repeat_concurrency=1,
            )
    except (AppStartError, GraderError, SandboxError) as exc:
        runs.errors.append(f"seed {seed}: {type(exc).__name__}: {str(exc).splitlines()[0]}")
        return
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if len(run.outcomes) != 1:
        runs.errors.append(f"seed {seed}: {len(run.outcomes)} outcomes instead of one: {run.output[-300:]}")
        return
    [outcome] = run.outcomes
    runs.seconds.append(outcome.duration)
    if outcome.passed:
        runs.passed += 1
        runs.wrong_answers.append(0)
        return
    runs.failed += 1
    runs.failures.append(f"seed {seed}: {outcome.message.splitlines()[0][:300]}")
    found = WRONG.search(outcome.message)
    if found:
        runs.wrong_answers.append(int(found[1]))


def phase(runner: SandboxRunner, states: list[State], scratch: Path, count: int) -> dict[str, Runs]:
    results = {state.name: Runs() for state in states}
    for _ in range(count):
        # One run of each state in turn, so a change in the machine's load hits them all alike.
        for state in states:
            one_run(runner, state, scratch, results[state.name])
    return results


def start_busy_loops(count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen([sys.executable, "-c", BUSY_LOOP, str(os.getpid())], stdin=subprocess.DEVNULL)
        for _ in range(count)
    ]


def stop(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        process.kill()
    for process in processes:
        process.wait()


def verdicts(states: list[State], results: dict[str, Runs]) -> str:
    parts = []
    for state in states:
        runs = results[state.name]
        total = runs.passed + runs.failed + len(runs.errors)
        if state.reference:
            part = f"{state.name}: passed {runs.passed}/{total}"
        else:
            part = f"{state.name}: rejected {runs.failed}/{total}"
        if runs.errors:
            part += f" ({len(runs.errors)} did not run)"
        parts.append(part)
    return "; ".join(parts)


def details(states: list[State], results: dict[str, Runs]) -> list[str]:
    lines = []
    for state in states:
        runs = results[state.name]
        if not state.reference and runs.wrong_answers:
            wrong = sorted(runs.wrong_answers)
            middle = statistics.median(wrong)
            lines.append(f"    {state.name}: wrong answers per run {wrong[0]} to {wrong[-1]}, median {middle:g}")
        if not state.reference and runs.passed:
            lines.append(f"    {state.name}: ACCEPTED in {runs.passed} runs")
        # What went wrong where nothing should have: a seed replays the run.
        unexpected = runs.errors + (runs.failures if state.reference else [])
        lines += [f"    {state.name}: {line}" for line in unexpected[:5]]
    return lines


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


def load() -> str:
    return f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of the test per state and phase")
    parser.add_argument("--busy-loops", type=int, default=6, help="processes spinning on the CPUs while loaded")
    parser.add_argument("--package", type=Path, default=ROOT / "assessment_app", help="the assessment package")
    args = parser.parse_args()
    if os.geteuid() != 0:
        print("The sandbox (and so this benchmark) needs root.")
        return 1
    # A plain `kill` ends the benchmark through the finally blocks below, like Ctrl-C.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))

    manifest = load_manifest(args.package)
    print("Building (or reusing) the assessment's runtime...", flush=True)
    runner = SandboxRunner(
        manifest=manifest, runtime=manifest_runtime(manifest, runtimes_dir=ROOT / "var" / "cache" / "runtimes")
    )
    states = [State("reference", [manifest.patch_path(ticket.number) for ticket in manifest.tickets], True)]
    states += [State(decoy.name, [decoy.path], False) for decoy in manifest.decoys() if decoy.ticket == 3]

    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as scratch:
        for state in states:
            prepare(manifest, state, Path(scratch))
        print(f"ticket #3's concurrency test alone, {args.runs} runs per state and phase, each on a fresh app and seed")
        quiet_load = load()
        quiet = phase(runner, states, Path(scratch), args.runs)
        print(f"quiet ({quiet_load}): {verdicts(states, quiet)}", *details(states, quiet), sep="\n")
        busy = start_busy_loops(args.busy_loops)
        try:
            loaded = phase(runner, states, Path(scratch), args.runs)
            loaded_load = load()
        finally:
            stop(busy)
    print(
        f"loaded ({args.busy_loops} busy loops, {loaded_load}): {verdicts(states, loaded)}",
        *details(states, loaded),
        sep="\n",
    )
    print("the test's time per run, median (quiet, loaded, ratio loaded/quiet):")
    for state in states:
        before, after = median(quiet[state.name].seconds), median(loaded[state.name].seconds)
        print(f"  {state.name}: {before:.2f} s, {after:.2f} s, {after / before:.2f}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except SandboxError as exc:
        print(f"sandbox unavailable: {exc}")
        sys.exit(1)
