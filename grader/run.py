"""Running the hidden tests against a candidate's app that is already serving.

This runs in the trusted process, outside the sandbox: pytest runs from the
hidden tests folder with its own configuration, and the tests reach the app
only through its unix socket. Nothing from the candidate's tree is imported.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path

from .junit import TestOutcome, parse_junit
from .manifest import DEFAULT_ASSESSMENT_DIR, Manifest, load_manifest

OUTPUT_TAIL = 4000
# Seeds of the hidden tests' data and order are whole numbers below this.
SEED_RANGE = 2**32
# The folder holding this package: the hidden tests' pytest imports grader.http_caps from it.
GRADER_ROOT = Path(__file__).resolve().parent.parent


class GraderError(RuntimeError):
    """The hidden tests could not be run or gave no usable report: a problem of the grader, not the candidate."""


@dataclass(frozen=True)
class HiddenRun:
    outcomes: list[TestOutcome]
    duration: float  # wall-clock seconds of the whole pytest run
    returncode: int
    output: str  # the tail of pytest's output
    seed: int | None = None  # the seed of the run's data and order: the same seed replays it

    def by_ticket(self) -> dict[int | None, list[TestOutcome]]:
        grouped: dict[int | None, list[TestOutcome]] = {}
        for outcome in self.outcomes:
            grouped.setdefault(outcome.ticket, []).append(outcome)
        return grouped


@dataclass(frozen=True)
class VisibleRun:
    """A run of the candidate's own tests (pytest at the root of the tree), made in the sandbox."""

    returncode: int
    outcomes: list[TestOutcome]
    duration: float
    output: str

    @property
    def passed(self) -> bool:
        return self.returncode == 0

    @classmethod
    def from_junit(
        cls, manifest: Manifest, junit: str | Path, *, returncode: int, duration: float, output: str = ""
    ) -> VisibleRun:
        """Build it from the JUnit report of the manifest's visible test command; tickets from the manifest."""
        outcomes = parse_junit(junit) if Path(junit).is_file() else []
        outcomes = [replace(o, ticket=manifest.ticket_of_visible_test(o.test_id)) for o in outcomes]
        return cls(returncode, outcomes, duration, output[-OUTPUT_TAIL:])


def trusted_env(**extra: str) -> dict[str, str]:
    """A small, predictable environment for the grader's subprocesses."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT") if key in os.environ}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def run_hidden_tests(
    socket_path: str | None = None,
    tickets: list[int] | None = None,
    *,
    manifest: Manifest | None = None,
    assessment_dir: str | Path = DEFAULT_ASSESSMENT_DIR,
    base_url: str | None = None,
    junit_path: str | Path | None = None,
    python: str | None = None,
    timeout: float | None = None,
    seed: int | None = None,
) -> HiddenRun:
    """Run the hidden tests of the given tickets (all by default) against the app on socket_path.

    base_url instead of socket_path is for authoring against an app served over TCP.
    python is the trusted interpreter that has pytest and httpx (this one by default).
    seed decides the tests' order and every value they send (a fresh one if None, so an app
    can't predict them); it is reported on the result, and the same seed against a fresh
    app sends the same requests again.
    Raises GraderError if pytest fails to run or its report doesn't match the manifest.
    """
    if not socket_path and not base_url:
        raise ValueError("give socket_path or base_url")
    seed = new_seed() if seed is None else check_seed(seed)
    manifest = manifest or load_manifest(assessment_dir)
    hidden = manifest.hidden_tests_dir
    files = [str(path.relative_to(hidden)) for path in manifest.hidden_test_files(tickets)]
    if not files:
        raise ValueError(f"no hidden tests for tickets {tickets}")

    limit = timeout or manifest.hidden_timeout
    with tempfile.TemporaryDirectory(prefix="grader-") as tmp:
        junit = Path(junit_path) if junit_path else Path(tmp) / "hidden.xml"
        command = [
            python or sys.executable,
            "-m",
            "pytest",
            "-c",
            str(hidden / "pytest.ini"),
            "--rootdir",
            str(hidden),
            "-p",
            "no:cacheprovider",
            # Caps on every answer the tests read, and on this process's memory (see http_caps).
            "-p",
            "grader.http_caps",
            "-o",
            "junit_family=xunit1",
            f"--junitxml={junit}",
            "-q",
            "--tb=short",
            *files,
        ]
        env = trusted_env(
            # Only pytest's own plugins: nothing installed alongside (pytest-django...) joins in.
            PYTEST_DISABLE_PLUGIN_AUTOLOAD="1",
            PYTHONPATH=str(GRADER_ROOT),
            GRADER_REQUEST_TIMEOUT=str(manifest.request_timeout),
            GRADER_MAX_RESPONSE_BYTES=str(manifest.max_response_bytes),
            GRADER_MEMORY_BYTES=str(manifest.grader_memory_bytes),
            # Past this, requests fail at once: pytest then ends with a report before the hard timeout.
            GRADER_SUITE_DEADLINE=str(max(limit - manifest.request_timeout - 5, 1)),
            GRADER_SEED=str(seed),
            **({"GRADER_APP_SOCKET": str(socket_path)} if socket_path else {"GRADER_APP_URL": str(base_url)}),
        )
        started = time.monotonic()
        try:
            proc = subprocess.run(
                command,
                cwd=hidden,
                env=env,
                capture_output=True,
                text=True,
                timeout=limit,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise GraderError(f"the hidden tests took longer than {exc.timeout:.0f} s") from exc
        duration = time.monotonic() - started
        output = (proc.stdout + proc.stderr)[-OUTPUT_TAIL:]
        if proc.returncode not in (0, 1) or not junit.is_file():
            raise GraderError(f"pytest exited with code {proc.returncode}:\n{output}")
        outcomes = parse_junit(junit)

    return HiddenRun(
        outcomes=_assign_tickets(outcomes, manifest, tickets),
        duration=duration,
        returncode=proc.returncode,
        output=output,
        seed=seed,
    )


def new_seed() -> int:
    """A seed nobody can guess ahead of the run."""
    return secrets.randbelow(SEED_RANGE)


def check_seed(seed: object) -> int:
    """The seed if it is one the hidden tests accept; ValueError with a sentence otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_RANGE:
        raise ValueError(f"a seed is a whole number from 0 to {SEED_RANGE - 1}, not {seed!r}")
    return seed


def _assign_tickets(outcomes: list[TestOutcome], manifest: Manifest, tickets: list[int] | None) -> list[TestOutcome]:
    """Set each outcome's ticket from the manifest, checking it against the test's ticket marker."""
    assigned = []
    for outcome in outcomes:
        number = manifest.ticket_of_hidden_file(outcome.test_id.split("::", 1)[0])
        if outcome.ticket != number and not (outcome.ticket is None and outcome.outcome == "error"):
            # A collection error has no marker; anything else must carry the manifest's ticket.
            raise GraderError(
                f"{outcome.test_id} is marked ticket({outcome.ticket}) but the manifest gives it to ticket {number}"
            )
        assigned.append(replace(outcome, ticket=number))
    expected = [t.number for t in manifest.tickets if tickets is None or t.number in tickets]
    missing = sorted(set(expected) - {outcome.ticket for outcome in assigned})
    if missing:
        raise GraderError(f"the report has no test for tickets {missing}")
    return assigned


def grade(socket_path: str, tickets: list[int] | None = None, **options) -> list[TestOutcome]:
    """Per-test outcomes of the hidden tests against the app on socket_path (see run_hidden_tests)."""
    return run_hidden_tests(socket_path, tickets, **options).outcomes
