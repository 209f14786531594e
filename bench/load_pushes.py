"""N candidates push a fix at the same moment: are all pushes accepted, is every run scored once, how fast.

Starts the portal as `make run` does with nothing configured (bench/_portal.py: gunicorn with the
WEB_CONCURRENCY and WEB_THREADS portal/gunicorn.conf.py gives it, one Celery worker of concurrency 2
with the scheduler inside it, the embedded SQLite broker, every limit at its default). First the
baseline, one candidate alone (after one run that warms the worker): the time from `git push` to
its run finished, for a push of the starting point (which each invite's first push scores too) and
then for a fix. Then BENCH_CANDIDATES
(default 30) candidates each clone (not timed), commit the reference fix of ticket n (n cycling 1..6)
on branch issue-n, and all run `git push` at the same moment. Prints:

- the pushes accepted (git exit 0) out of N, and the first line git printed for each refused one;
- push wall time p50, p95 and max;
- for every run the pushes queued (each fix and each invite's starting point), whether it has exactly
  one Run row that finished and exactly one "scored" event; if they are not all finished within
  BENCH_WAIT_MINUTES (default 20) of the pushes, what is left;
- the time from the pushes to the last score against the ideal: the baseline times the runs,
  divided by the worker's concurrency.

Everything runs on 127.0.0.1, bounded in candidates and time, and stops by itself. About 4 minutes
on 2 cores at 30 candidates.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from _common import p95
from _portal import FINISHED, PYTHON, ROOT, WORKER_CONCURRENCY, LivePortal, git, live_portal

CANDIDATES = int(os.environ.get("BENCH_CANDIDATES", "30"))
WAIT_SECONDS = 60 * float(os.environ.get("BENCH_WAIT_MINUTES", "20"))
TICKETS = 6
REFERENCE = ROOT / "assessment_app" / "reference"
# PORTAL_GIT_TIMEOUT's default: the longest the portal itself lets one push take.
PUSH_TIMEOUT = 600
# Statuses of a scored run (portal.scoring.models.Run.FINISHED; "superseded" was never scored) and
# the kind of the event its end writes (portal.invites.models.Event.Kind.SCORED).
SCORED_STATUSES = ("passed", "failed", "error")
SCORED_EVENT = "scored"
# What the set-up line reports, read from the portal's own settings rather than restated here.
SETUP = """
import json, runpy
import django
django.setup()
from django.conf import settings
gunicorn = runpy.run_path("portal/gunicorn.conf.py")
names = ("PORTAL_GIT_MAX_REQUESTS", "PORTAL_GIT_SLOT_WAIT", "PORTAL_GIT_MAX_REQUESTS_PER_INVITE",
         "PORTAL_RUNS_IN_FLIGHT_PER_INVITE")
print(json.dumps({"workers": gunicorn["workers"], "threads": gunicorn["threads"],
                  **{name: getattr(settings, name) for name in names}}))
"""


@dataclass
class Candidate:
    name: str
    public_id: str
    work: Path
    env: dict[str, str]
    ticket: int
    base: str  # the starting point their clone began at
    fix: str  # the commit of the reference fix on issue-<ticket>
    started: float = 0.0
    seconds: float = 0.0
    returncode: int | None = None
    said: str = ""  # the first line git printed, credentials hidden

    @property
    def branch(self) -> str:
        return f"issue-{self.ticket}"


def candidate_prepare(portal: LivePortal, name: str, ticket: int) -> Candidate:
    """Invite ``name``, clone, and commit the reference fix of ``ticket`` on its branch (not pushed)."""
    url, public_id = portal.invite(name)
    # A refused login must fail, not wait for a password on a terminal.
    env = {**portal.git_env(name), "GIT_TERMINAL_PROMPT": "0"}
    work = portal.tmp / name
    git("clone", "-q", url, str(work), env=env)
    git("checkout", "-q", "-b", f"issue-{ticket}", cwd=work, env=env)
    git("apply", str(REFERENCE / f"ticket-{ticket}.patch"), cwd=work)
    git("add", "-A", cwd=work)
    git("commit", "-q", "-m", f"Fix: Resolve issue #{ticket}", cwd=work, env=env)
    return Candidate(
        name=name,
        public_id=public_id,
        work=work,
        env=env,
        ticket=ticket,
        base=git("rev-parse", "origin/main", cwd=work),
        fix=git("rev-parse", "HEAD", cwd=work),
    )


def push(candidate: Candidate, *refspecs: str) -> None:
    """The real `git push`, its wall time, exit code and first line of output kept on ``candidate``."""
    candidate.started = time.monotonic()
    try:
        result = subprocess.run(
            ["git", "push", "-q", "origin", *refspecs],
            cwd=candidate.work,
            env=candidate.env,
            capture_output=True,
            text=True,
            timeout=PUSH_TIMEOUT,
        )
        candidate.returncode, output = result.returncode, result.stderr + result.stdout
    except subprocess.TimeoutExpired:
        candidate.returncode, output = -1, f"(no answer within {PUSH_TIMEOUT} s)"
    candidate.seconds = time.monotonic() - candidate.started
    lines = [line.strip() for line in output.splitlines() if line.strip()]
    candidate.said = re.sub(r"//[^/@\s]+@", "//", lines[0]) if lines else ""


def push_to_score(portal: LivePortal, candidate: Candidate, refspec: str, sha: str) -> float:
    """Seconds from `git push` starting to the run of ``sha`` finished."""
    push(candidate, refspec)
    if candidate.returncode != 0:
        raise RuntimeError(f"the baseline push was refused: {candidate.said}")
    return portal.wait_finished([sha])[sha] - candidate.started


def runs_of(portal: LivePortal, public_ids: set[str]) -> dict[tuple[str, str], list[tuple[int, str, int]]]:
    """The Run rows (id, status, attempt) of each (invite, commit) of these invites."""
    with sqlite3.connect(f"file:{portal.db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            'SELECT i.public_id, r."commit", r.id, r.status, r.attempt FROM scoring_run r '
            "JOIN invites_invite i ON i.id = r.invite_id"
        ).fetchall()
    runs: dict[tuple[str, str], list[tuple[int, str, int]]] = {}
    for public_id, commit, run_id, status, attempt in rows:
        if public_id in public_ids:
            runs.setdefault((public_id, commit), []).append((run_id, status, attempt))
    return runs


def run_seconds(portal: LivePortal, public_ids: set[str]) -> list[float]:
    """How long each finished run of these invites took on its worker (started to finished)."""
    with sqlite3.connect(f"file:{portal.db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT i.public_id, json_extract(r.timings, '$.total') FROM scoring_run r "
            "JOIN invites_invite i ON i.id = r.invite_id"
        ).fetchall()
    return [seconds for public_id, seconds in rows if public_id in public_ids and seconds is not None]


def scored_events(portal: LivePortal) -> Counter[int]:
    """How many "scored" events name each run."""
    with sqlite3.connect(f"file:{portal.db}?mode=ro", uri=True, timeout=10) as conn:
        rows = conn.execute(
            "SELECT json_extract(data, '$.run'), count(*) FROM invites_event WHERE kind = ? GROUP BY 1",
            (SCORED_EVENT,),
        ).fetchall()
    return Counter({run_id: count for run_id, count in rows if run_id is not None})


def wait_scored(
    portal: LivePortal, expected: set[tuple[str, str]], public_ids: set[str], deadline: float
) -> dict[tuple[str, str], float]:
    """When (time.monotonic()) each run was seen finished: those of ``expected`` and any other run of
    these invites; stops at ``deadline``."""
    done: dict[tuple[str, str], float] = {}
    while True:
        runs = runs_of(portal, public_ids)
        now = time.monotonic()
        for key, rows in runs.items():
            if key not in done and rows and all(status in FINISHED for _id, status, _attempt in rows):
                done[key] = now
        if set(done) >= expected | set(runs) or now > deadline:
            return done
        time.sleep(0.25)


def exactly_once(expected: set, runs: dict, events: Counter[int]) -> dict[tuple[str, str], list[str]]:
    """What is wrong with each run (invite, commit) that was not scored exactly once."""
    wrong: dict[tuple[str, str], list[str]] = {}
    for key in sorted(expected | set(runs)):
        rows = runs.get(key, [])
        problems = [] if key in expected else ["a run no accepted push queued"]
        if len(rows) != 1:
            problems.append(f"{len(rows)} Run rows")
        else:
            run_id, status, _attempt = rows[0]
            if status not in SCORED_STATUSES:
                problems.append(f"run {run_id} is {status}")
            if events[run_id] != 1:
                problems.append(f"run {run_id} has {events[run_id]} scored events")
        if problems:
            wrong[key] = problems
    return wrong


@dataclass
class Figures:
    setup: dict
    base_alone: float
    fix_alone: float
    candidates: list[Candidate]
    burst: float  # when the first push started (time.monotonic())
    expected: set[tuple[str, str]]  # (invite, commit) of every run the accepted pushes queued
    done: dict[tuple[str, str], float]  # when each run was seen finished
    runs: dict[tuple[str, str], list[tuple[int, str, int]]]
    events: Counter[int]
    worker_alone: list[float]  # seconds on the worker of the baseline's runs
    worker_burst: list[float]  # and of the burst's

    @property
    def accepted(self) -> list[Candidate]:
        return [candidate for candidate in self.candidates if candidate.returncode == 0]


def measure() -> Figures:
    with live_portal("bench-load-", beat=True) as portal:
        setup = json.loads(
            subprocess.run(
                [PYTHON, "-c", SETUP], cwd=ROOT, env=portal.env, check=True, capture_output=True, text=True
            ).stdout
        )
        # The first run of a fresh worker pays for cold caches: one that is not measured.
        warm = candidate_prepare(portal, "warm-up", 1)
        push_to_score(portal, warm, f"{warm.base}:refs/heads/warm-up", warm.base)
        # The baseline: one candidate, one push, one run scored alone; the starting point on a branch
        # of its own first (so that its push queues only that), then the fix (its base already scored).
        alone = candidate_prepare(portal, "alone", 1)
        base_alone = push_to_score(portal, alone, f"{alone.base}:refs/heads/start", alone.base)
        fix_alone = push_to_score(portal, alone, alone.branch, alone.fix)

        with ThreadPoolExecutor(max_workers=4) as pool:
            candidates = list(
                pool.map(
                    lambda n: candidate_prepare(portal, f"candidate-{n:02d}", (n - 1) % TICKETS + 1),
                    range(1, CANDIDATES + 1),
                )
            )
        barrier = threading.Barrier(len(candidates))

        def released(candidate: Candidate) -> None:
            barrier.wait()
            push(candidate, candidate.branch)

        threads = [threading.Thread(target=released, args=(candidate,)) for candidate in candidates]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        burst = min(candidate.started for candidate in candidates)

        accepted = [candidate for candidate in candidates if candidate.returncode == 0]
        expected = {(c.public_id, sha) for c in accepted for sha in (c.base, c.fix)}
        public_ids = {candidate.public_id for candidate in candidates}
        done = wait_scored(portal, expected, public_ids, deadline=burst + WAIT_SECONDS)
        time.sleep(2)  # an event or run arriving just after the last score is still counted
        return Figures(
            setup=setup,
            base_alone=base_alone,
            fix_alone=fix_alone,
            candidates=candidates,
            burst=burst,
            expected=expected,
            done=done,
            runs=runs_of(portal, public_ids),
            events=scored_events(portal),
            worker_alone=run_seconds(portal, {alone.public_id}),
            worker_burst=run_seconds(portal, public_ids),
        )


def report(f: Figures) -> None:
    s, accepted = f.setup, f.accepted
    print(
        f"{len(f.candidates)} candidates push a fix at the same moment (gunicorn {s['workers']} processes x "
        f"{s['threads']} threads, {s['PORTAL_GIT_MAX_REQUESTS']} git requests per process, waiting up to "
        f"{s['PORTAL_GIT_SLOT_WAIT']} s for one, {s['PORTAL_GIT_MAX_REQUESTS_PER_INVITE']} per invite; 1 worker "
        f"of concurrency {WORKER_CONCURRENCY} with beat, {s['PORTAL_RUNS_IN_FLIGHT_PER_INVITE']} run in flight "
        "per invite, SQLite broker)"
    )
    print(
        f"baseline, one run scored alone, from `git push` to the run finished: the starting point "
        f"{f.base_alone:.1f} s, a fix {f.fix_alone:.1f} s"
    )
    print(f"pushes accepted: {len(accepted)}/{len(f.candidates)} (goal: all)")
    for line, count in Counter(c.said for c in f.candidates if c.returncode != 0).most_common():
        print(f"  refused {count}x: {line or '(git printed nothing)'}")
    seconds = [candidate.seconds for candidate in f.candidates]
    print(f"push wall time: p50 {statistics.median(seconds):.2f} s, p95 {p95(seconds):.2f} s, max {max(seconds):.2f} s")

    every = f.expected | set(f.runs)
    statuses = Counter(status for rows in f.runs.values() for _id, status, _attempt in rows)
    print(
        f"runs the pushes queued: {len(every)} ({len(accepted)} fixes and as many starting points): "
        + ", ".join(f"{count} {status}" for status, count in sorted(statuses.items()))
    )
    wrong = exactly_once(f.expected, f.runs, f.events)
    print(f"  scored exactly once (one finished Run row, one scored event): {len(every) - len(wrong)}/{len(every)}")
    for (public_id, commit), problems in sorted(wrong.items())[:20]:
        print(f"    {public_id} {commit[:7]}: {'; '.join(problems)}")
    if len(wrong) > 20:
        print(f"    ... and {len(wrong) - 20} more")
    resent = sum(attempt > 1 for rows in f.runs.values() for _id, _status, attempt in rows)
    print(f"  sent to the workers more than once (attempt > 1): {resent}")
    waits = [f.done[(c.public_id, c.fix)] - c.started for c in accepted if (c.public_id, c.fix) in f.done]
    if waits:
        print(f"  each fix from `git push` to its score: p50 {statistics.median(waits):.0f} s, max {max(waits):.0f} s")
    if f.worker_alone and f.worker_burst:
        # Where the time goes: runs sharing the cores take longer each, beside any wait between them.
        print(
            f"  a run on the worker (started to finished): alone p50 {statistics.median(f.worker_alone):.1f} s, "
            f"in the burst p50 {statistics.median(f.worker_burst):.1f} s, p95 {p95(f.worker_burst):.1f} s"
        )

    ideal = len(accepted) * (f.base_alone + f.fix_alone) / WORKER_CONCURRENCY
    left = every - set(f.done)
    if left:
        print(f"NOT all runs finished within {WAIT_SECONDS / 60:g} minutes of the pushes; {len(left)} left:")
        for key in sorted(left)[:20]:
            print(f"    {key[0]} {key[1][:7]}: {f.runs.get(key, 'no Run row')}")
        print(f"throughput: not measured (the ideal was {ideal:.0f} s)")
    elif ideal:
        total = max(f.done.values()) - f.burst
        print(
            f"throughput: from the pushes to the last score {total:.0f} s; ideal {ideal:.0f} s ({len(accepted)} x "
            f"({f.base_alone:.1f} + {f.fix_alone:.1f}) s / {WORKER_CONCURRENCY} processes); "
            f"actual/ideal {total / ideal:.2f}"
        )


def main() -> int:
    report(measure())
    return 0


if __name__ == "__main__":
    sys.exit(main())
