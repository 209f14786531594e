"""An honest candidate's push-to-score time on an idle portal, and while another candidate floods it.

Starts a zero-configuration portal (gunicorn + one Celery worker of concurrency 2 on the embedded
SQLite broker, every limit at its default) and invites two candidates. The honest one pushes the
reference fix of ticket 2 as new commits, one at a time, and the time from `git push` returning
to the run being finished is measured: first with nothing else going on (the baseline), then while
the hostile one, from three clones at once:

- pushes branches whose app sleeps at import (each run lasts until the start-up limit), 5 a push;
- pushes a new commit to one branch every 0.3 s;
- pushes 20 branches of empty commits at once (the most a push may hold), and tries 21.

Prints p50 and p95 of both phases, their ratio (goal: <= 2), the health check's p95 during the
flood, and what the flood left behind (runs superseded, waiting, scored; pushes refused). The
flood is bounded in pushes and stops when the honest candidate is done. Everything runs on
127.0.0.1 and stops by itself; about 3 minutes on 2 cores.
"""

from __future__ import annotations

import os
import sqlite3
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path

from _portal import ROOT, LivePortal, git, live_portal

PUSHES = int(os.environ.get("BENCH_PUSHES", "5"))
SLEEPER = "import time\n\ntime.sleep(3600)  # never serves: the run ends at the start-up limit\n"


def p95(values: list[float]) -> float:
    return sorted(values)[max(0, round(0.95 * len(values)) - 1)]


class Honest:
    def __init__(self, portal: LivePortal):
        self.portal = portal
        self.env = portal.git_env("honest")
        url, _ = portal.invite("honest")
        self.work = portal.tmp / "honest"
        git("clone", "-q", url, str(self.work), env=self.env)
        # The starting point is scored with the first push; let that finish before measuring.
        git("push", "-q", "origin", "HEAD:refs/heads/warm-up", cwd=self.work, env=self.env)
        portal.wait_finished([git("rev-parse", "HEAD", cwd=self.work)])
        git("checkout", "-q", "-b", "issue-2", cwd=self.work, env=self.env)
        git("apply", str(ROOT / "assessment_app" / "reference" / "ticket-2.patch"), cwd=self.work)
        self.pushed = 0

    def latencies(self, count: int) -> list[float]:
        times = []
        for _ in range(count):
            self.pushed += 1
            (self.work / "NOTES.md").write_text(f"attempt {self.pushed}\n")
            git("add", "-A", cwd=self.work)
            git("commit", "-q", "-m", f"Fix: Resolve issue #2 - attempt {self.pushed}", cwd=self.work, env=self.env)
            sha = git("rev-parse", "HEAD", cwd=self.work)
            git("push", "-q", "--force", "origin", "issue-2", cwd=self.work, env=self.env)
            pushed = time.monotonic()
            times.append(self.portal.wait_finished([sha])[sha] - pushed)
        return times


class Flood:
    """The hostile candidate's three kinds of pushes, each in its own thread and clone, until stopped."""

    def __init__(self, portal: LivePortal):
        self.portal = portal
        self.env = portal.git_env("hostile")
        self.url, self.public_id = portal.invite("hostile")
        self.stop = threading.Event()
        self.pushes = {"sleeping apps": 0, "rapid": 0, "many branches": 0}
        self.refused = 0
        self.threads = [
            threading.Thread(target=target, daemon=True) for target in (self.sleepers, self.rapid, self.many)
        ]
        self.clones = {}
        for name in ("sleepers", "rapid", "many"):
            self.clones[name] = portal.tmp / f"hostile-{name}"
            git("clone", "-q", self.url, str(self.clones[name]), env=self.env)

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=120)

    def _push(self, kind: str, work: Path, *refs: str) -> None:
        result = subprocess.run(
            ["git", "push", "-q", "--force", "origin", *refs], cwd=work, env=self.env, capture_output=True, text=True
        )
        self.pushes[kind] += 1
        self.refused += result.returncode != 0

    def sleepers(self) -> None:
        work = self.clones["sleepers"]
        for round_ in range(8):  # at most 40 branches
            if self.stop.is_set():
                return
            names = []
            for n in range(5):
                name = f"sleep-{round_}-{n}"
                git("checkout", "-q", "-B", name, "origin/main", cwd=work)
                (work / "app" / "__init__.py").write_text(SLEEPER + f"# {name}\n")
                git("add", "-A", cwd=work)
                git("commit", "-q", "-m", f"sleep {name}", cwd=work, env=self.env)
                names.append(name)
            self._push("sleeping apps", work, *names)
            self.stop.wait(5)

    def rapid(self) -> None:
        work = self.clones["rapid"]
        git("checkout", "-q", "-b", "rapid", cwd=work)
        for n in range(300):  # at most 300 pushes
            if self.stop.is_set():
                return
            git("commit", "-q", "--allow-empty", "-m", f"rapid {n}", cwd=work, env=self.env)
            self._push("rapid", work, "rapid")
            self.stop.wait(0.3)

    def many(self) -> None:
        work = self.clones["many"]
        for size in (20, 21):
            names = []
            for n in range(size):
                name = f"many-{size}-{n}"
                git("checkout", "-q", "-B", name, "origin/main", cwd=work)
                git("commit", "-q", "--allow-empty", "-m", f"empty {name}", cwd=work, env=self.env)
                names.append(name)
            self._push("many branches", work, *names)

    def runs(self) -> dict[str, int]:
        with sqlite3.connect(f"file:{self.portal.db}?mode=ro", uri=True, timeout=10) as conn:
            rows = conn.execute(
                "SELECT r.status, r.dispatched_at IS NULL, count(*) FROM scoring_run r "
                "JOIN invites_invite i ON i.id = r.invite_id WHERE i.public_id = ? GROUP BY 1, 2",
                (self.public_id,),
            ).fetchall()
        counts: dict[str, int] = {}
        for status, waiting, count in rows:
            key = "waiting for its turn" if status == "queued" and waiting else status
            counts[key] = counts.get(key, 0) + count
        return counts


def health_probe(port: int, stop: threading.Event, times: list[float]) -> None:
    while not stop.is_set():
        began = time.monotonic()
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=30).read()
            times.append(time.monotonic() - began)
        except OSError:
            times.append(30.0)
        stop.wait(0.5)


def main() -> int:
    with live_portal("bench-neighbour-") as portal:
        honest = Honest(portal)
        idle = honest.latencies(PUSHES)

        flood = Flood(portal)
        health: list[float] = []
        probing = threading.Event()
        probe = threading.Thread(target=health_probe, args=(portal.port, probing, health), daemon=True)
        flood.start()
        probe.start()
        time.sleep(5)  # let the flood build up first
        try:
            flooded = honest.latencies(PUSHES)
        finally:
            flood.finish()
            probing.set()
            probe.join(timeout=60)
        runs = flood.runs()

    ratio50 = statistics.median(flooded) / statistics.median(idle)
    ratio95 = p95(flooded) / p95(idle)
    print(f"honest push to score, {PUSHES} pushes of ticket 2's fix per phase (gunicorn + 1 worker, concurrency 2)")
    print(f"  idle:    p50 {statistics.median(idle):.2f} s, p95 {p95(idle):.2f} s")
    print(f"  flooded: p50 {statistics.median(flooded):.2f} s, p95 {p95(flooded):.2f} s")
    verdict = "met" if ratio95 <= 2 else "NOT met"
    print(f"  ratio flooded/idle: p50 {ratio50:.2f}, p95 {ratio95:.2f} (goal <= 2: {verdict})")
    print(f"  /healthz during the flood: p95 {p95(health) * 1000:.0f} ms over {len(health)} probes")
    print(
        "flood: "
        + ", ".join(f"{count} {kind} pushes" for kind, count in flood.pushes.items())
        + f" ({flood.refused} refused)"
    )
    print("  its runs: " + ", ".join(f"{count} {state}" for state, count in sorted(runs.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
