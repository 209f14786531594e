"""Running the hidden tests against a candidate's app that is already serving.

This runs in the trusted process, outside the sandbox: pytest runs from the
hidden tests folder with its own configuration, and the tests reach the app
only through its unix socket. Nothing from the candidate's tree is imported.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import resource
import secrets
import select
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

from .clock import WALL, WALL_FACTOR, TaskClock, Usage
from .concurrency import MARKER, REPEAT_ENV, REPEAT_OTHERS_ENV
from .gotest import go_module_path, go_test_text, parse_go_test_json
from .http_caps import STOP_FILE_ENV
from .junit import TestOutcome, parse_junit, parse_node_junit
from .manifest import DEFAULT_ASSESSMENT_DIR, Manifest, load_manifest
from .sockets import socket_base
from .warm import WarmError, WarmRun, warm_prestart, warm_start

logger = logging.getLogger(__name__)

OUTPUT_TAIL = 4000
# Seeds of the hidden tests' data and order are whole numbers below this.
SEED_RANGE = 2**32
# The folder holding this package: the hidden tests' pytest imports grader.http_caps from it.
GRADER_ROOT = Path(__file__).resolve().parent.parent
# How often a run's clocks are read while the hidden tests run, seconds.
TICK = 0.1
# Seconds kept, after requests stop being sent, for the tests to end and write their report.
REPORT_MARGIN = 5


class GraderError(RuntimeError):
    """The hidden tests could not be run or gave no usable report: a problem of the grader, not the candidate."""


class OutOfTime(GraderError):
    """A run of the hidden tests was stopped at its time limit; ``usage`` has the figures.

    ``starved``: only the wall clock's safety net stopped it, while the run's own work stayed well
    below the limit (grader.clock): its neighbours, not the app, held it back.
    """

    def __init__(self, message: str, *, usage: Usage, grader: Usage, starved: bool) -> None:
        super().__init__(message)
        self.usage = usage  # the grader's pytest and the app together
        self.grader = grader  # the grader's pytest alone
        self.starved = starved


@dataclass(frozen=True)
class HiddenRun:
    outcomes: list[TestOutcome]
    duration: float  # wall-clock seconds of the whole pytest run
    returncode: int
    output: str  # the tail of pytest's output
    seed: int | None = None  # the seed of the run's data and order: the same seed replays it
    # What the run used: the trusted pytest and the app together (app CPU only where a runner measures it).
    usage: Usage | None = None
    grader: Usage | None = None  # the trusted pytest alone (its CPU from its own rusage)
    app_cpu: float | None = None  # CPU seconds the app used during the run
    # The suite's wall-clock net made its last requests fail while its own clocks were within the
    # limit: those failures are the host's doing (a busy host), not the app's.
    starved: bool = False

    @property
    def grader_cpu(self) -> float | None:
        """CPU seconds of the trusted pytest."""
        return self.grader.cpu if self.grader is not None else None

    def by_ticket(self) -> dict[int | None, list[TestOutcome]]:
        grouped: dict[int | None, list[TestOutcome]] = {}
        for outcome in self.outcomes:
            grouped.setdefault(outcome.ticket, []).append(outcome)
        return grouped


@dataclass(frozen=True)
class VisibleRun:
    """A run of the candidate's own tests (pytest, node --test or go test, at the root of the tree), in the sandbox."""

    returncode: int
    outcomes: list[TestOutcome]
    duration: float
    output: str
    cpu: float | None = None  # CPU seconds of the sandbox's processes, where the runner measures them

    @property
    def passed(self) -> bool:
        return self.returncode == 0

    @classmethod
    def from_junit(
        cls, manifest: Manifest, junit: str | Path, *, returncode: int, duration: float, output: str = ""
    ) -> VisibleRun:
        """Build it from the JUnit report of the manifest's visible test command; tickets from the manifest."""
        parse = parse_node_junit if manifest.runtime_kind == "node" else parse_junit
        outcomes = parse(junit) if Path(junit).is_file() else []
        outcomes = [replace(o, ticket=manifest.ticket_of_visible_test(o.test_id)) for o in outcomes]
        return cls(returncode, outcomes, duration, output[-OUTPUT_TAIL:])

    @classmethod
    def from_go_test(
        cls, manifest: Manifest, report: bytes, *, returncode: int, duration: float, errors: str = ""
    ) -> VisibleRun:
        """Build it from ``go test -json``'s standard output (``report``) and its standard error; ids
        relative to the module of the shipped go.mod (grader.gotest), tickets from the manifest."""
        module = go_module_path(manifest.shipped_dir / manifest.requirements)
        outcomes = parse_go_test_json(report, module=module)
        outcomes = [replace(o, ticket=manifest.ticket_of_visible_test(o.test_id)) for o in outcomes]
        output = go_test_text(report, limit=OUTPUT_TAIL) + errors[-OUTPUT_TAIL:]
        return cls(returncode, outcomes, duration, output[-OUTPUT_TAIL:])


def trusted_env(**extra: str) -> dict[str, str]:
    """A small, predictable environment for the grader's subprocesses."""
    env = {key: os.environ[key] for key in ("PATH", "LANG", "LC_ALL", "TZ", "SYSTEMROOT") if key in os.environ}
    env.update(PYTHONDONTWRITEBYTECODE="1", PYTHONUNBUFFERED="1")
    env.update(extra)
    return env


def pytest_env(**grader: str) -> dict[str, str]:
    """The hidden tests' pytest's environment: the trusted one, with the run's own ``GRADER_*`` values."""
    # Only pytest's own plugins: nothing installed alongside (pytest-django...) joins in.
    return trusted_env(PYTEST_DISABLE_PLUGIN_AUTOLOAD="1", PYTHONPATH=str(GRADER_ROOT), **grader)


def hidden_tests_warm_up(python: str | None = None) -> None:
    """Start this process's warm interpreter for ``python`` (this one by default) now, in the
    background, so that the first run with ``warm=True`` does not wait for it (grader.warm)."""
    warm_prestart(python or sys.executable, pytest_env())


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
    wall_timeout: float | None = None,
    seed: int | None = None,
    app_usage: Callable[[], Usage | None] | None = None,
    repeat_concurrency: int = 0,
    repeat_others: int = 0,
    warm: bool = False,
) -> HiddenRun:
    """Run the hidden tests of the given tickets (all by default) against the app on socket_path.

    base_url instead of socket_path is for authoring against an app served over TCP.
    python is the trusted interpreter that has pytest and httpx (this one by default).
    seed decides the tests' order, every value they send and the client each request is
    dressed as (its headers: grader.http_caps), a fresh one if None, so an app can't predict
    them; it is reported on the result, and the same seed against a fresh app sends the same
    requests again, headers included.

    ``app_usage`` also answers the hidden tests' ``app_cpu`` fixture (grader.plugin): the trusted
    pytest asks this process, on a unix socket in the run's own folder (GRADER_APP_CPU_SOCKET), and
    gets the app's CPU seconds as the runner reads them; without it, a test that asks is refused.
    timeout (the manifest's hidden timeout by default) is judged on the run's CPU and own time
    (grader.clock): the trusted pytest's, plus the app's where ``app_usage`` says what the app has
    used so far. Some seconds before it, requests stop being sent, so a slow app still gets a
    report with every test in it; past it, OutOfTime. The wall clock stops the run at
    wall_timeout (WALL_FACTOR times timeout by default), and every request's own timeout is stretched
    by WALL_FACTOR too: a busy host slows a run down but does not fail it.
    repeat_concurrency: run only the tests marked concurrency, each that many times (grader.concurrency).
    repeat_others: run only the tests not marked concurrency, each that many times.
    warm: run the pytest as a fork of this process's warm interpreter for ``python``, which has
    imported pytest, httpx and the grader's plugins once (grader.warm), for a process that runs many.
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
    wall_limit = wall_timeout or WALL_FACTOR * limit
    request_timeout = manifest.request_timeout * WALL_FACTOR
    # The app's CPU is answered on a unix socket in it: a folder with room for its path.
    with tempfile.TemporaryDirectory(prefix="grader-", dir=socket_base()) as tmp:
        junit = Path(junit_path) if junit_path else Path(tmp) / "hidden.xml"
        stop_file = Path(tmp) / "stop"
        cpu_socket = Path(tmp) / "app-cpu.sock" if app_usage is not None else None
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
            # The grader's contract: the app's address, the seed, the deadlines, the ticket markers' reporting.
            "-p",
            "grader.plugin",
            # The grader's plugins share one package, imported once: pytest cannot rewrite their asserts
            # (they have none to rewrite) and says so; the hidden tests' own are rewritten as usual.
            "-W",
            "ignore::pytest.PytestAssertRewriteWarning",
            # Caps on every answer the tests read, and on this process's memory (see http_caps).
            "-p",
            "grader.http_caps",
            # Marks concurrency-sensitive tests in the report, and repeats them (see concurrency).
            "-p",
            "grader.concurrency",
            *(["-m", MARKER] if repeat_concurrency else []),
            *(["-m", f"not {MARKER}"] if repeat_others else []),
            "-o",
            "junit_family=xunit1",
            f"--junitxml={junit}",
            "-q",
            "--tb=short",
            *files,
        ]
        # The pytest's own wall-clock deadline, a net behind the stop file: see the docstring.
        suite_deadline = max(wall_limit - request_timeout - REPORT_MARGIN, 1)
        env = pytest_env(
            GRADER_REQUEST_TIMEOUT=str(request_timeout),
            GRADER_MAX_RESPONSE_BYTES=str(manifest.max_response_bytes),
            GRADER_MEMORY_BYTES=str(manifest.grader_memory_bytes),
            # Past this, requests fail at once: pytest then ends with a report before the hard timeout.
            GRADER_SUITE_DEADLINE=str(suite_deadline),
            GRADER_SEED=str(seed),
            **{STOP_FILE_ENV: str(stop_file)},
            **({REPEAT_ENV: str(repeat_concurrency)} if repeat_concurrency else {}),
            **({REPEAT_OTHERS_ENV: str(repeat_others)} if repeat_others else {}),
            **({"GRADER_APP_CPU_SOCKET": str(cpu_socket)} if cpu_socket is not None else {}),
            **({"GRADER_APP_SOCKET": str(socket_path)} if socket_path else {"GRADER_APP_URL": str(base_url)}),
        )
        watch = _Watch(
            app_usage=app_usage,
            limit=limit,
            wall_limit=wall_limit,
            # Requests stop once no request could still end before the limit.
            stop_at=max(limit - request_timeout - REPORT_MARGIN, limit / 2),
            stop_wall=suite_deadline,
            stop_file=stop_file,
        )
        log = Path(tmp) / "pytest.log"
        # Made here, not by the pytest: a warm fork killed before it opened its output leaves one too.
        log.touch(mode=0o600)
        with _CpuAnswers(cpu_socket, app_usage) as answers:
            watch.answers = answers
            returncode, grader, app = watch.run(command, cwd=hidden, env=env, log=log, warm=warm)
        usage = grader.plus(app)
        output = log.read_text(errors="replace")[-OUTPUT_TAIL:]
        if watch.ending is not None:
            raise _out_of_time(usage, grader, clock=watch.ending, limit=limit, wall_limit=wall_limit)
        if returncode not in (0, 1) or not junit.is_file():
            raise GraderError(pytest_failure(returncode, output))
        outcomes = parse_junit(junit)

    return HiddenRun(
        outcomes=_assign_tickets(outcomes, manifest, tickets),
        duration=usage.wall,
        returncode=returncode,
        output=output,
        seed=seed,
        usage=usage,
        grader=grader,
        app_cpu=app.cpu if app is not None else None,
        starved=watch.stopped_starved,
    )


def _out_of_time(usage: Usage, grader: Usage, *, clock: str, limit: float, wall_limit: float) -> OutOfTime:
    starved = clock == WALL and usage.starved(min(limit, wall_limit))
    if clock == WALL and not (usage.cpu is None and usage.own is None):
        busy = ", the host being too busy" if starved else ""
        what = f"the hidden tests were stopped by the wall clock's limit of {wall_limit:.0f} s{busy}"
    else:
        what = f"the hidden tests took longer than their limit of {limit:g} s"
    return OutOfTime(f"{what} ({usage.describe()})", usage=usage, grader=grader, starved=starved)


@dataclass
class _Watch:
    """Runs the trusted pytest and keeps its clocks: stops sending at ``stop_at``, kills it past ``limit``."""

    app_usage: Callable[[], Usage | None] | None
    limit: float
    wall_limit: float
    stop_at: float
    stop_wall: float
    stop_file: Path
    ending: str | None = None  # the clock past the limit, if one was
    # Requests were stopped by the wall clock alone, the run's own work well below the limit.
    stopped_starved: bool = False
    answers: _CpuAnswers | None = None  # the app_cpu fixture's questions, answered between two ticks

    def run(
        self, command: list[str], *, cwd: Path, env: dict[str, str], log: Path, warm: bool = False
    ) -> tuple[int, Usage, Usage | None]:
        """The exit code, what the grader's pytest used, and what the app used meanwhile (if measured).
        ``command`` is ``[python, "-m", "pytest", *args]``; with ``warm``, a fork of this process's warm
        server for that python runs it (grader.warm), or, should that fail, the command itself."""
        app_before = self.app_usage() if self.app_usage else None
        started = time.monotonic()
        proc = _start_pytest(command, cwd=cwd, env=env, log=log, warm=warm)
        clock = TaskClock(proc.pid)
        try:
            status, cpu = self._watch(proc, clock, started, app_before)
        finally:
            if proc.ended() is None:  # interrupted: nothing of the run may outlive it
                proc.kill()
                proc.finished()
        # The grader's CPU from its own rusage (exact, every thread); its waits as sampled.
        grader = Usage(wall=time.monotonic() - started, cpu=cpu, cpu_wait=clock.usage(0).cpu_wait)
        return os.waitstatus_to_exitcode(status), grader, self._app_since(app_before)

    def _watch(
        self, proc: _ColdPytest | WarmRun, clock: TaskClock, started: float, app_before: Usage | None
    ) -> tuple[int, float]:
        while True:
            ended = proc.ended()
            if ended is not None:
                return ended
            clock.sample()
            usage = clock.usage(time.monotonic() - started).plus(self._app_since(app_before))
            stop = usage.past(self.stop_at, wall_limit=self.stop_wall)
            if stop is not None and not self.stop_file.exists():
                self.stop_file.touch()
                self.stopped_starved = stop == WALL and usage.starved(min(self.stop_at, self.stop_wall))
            self.ending = usage.past(self.limit, wall_limit=self.wall_limit)
            if self.ending is not None:
                proc.kill()
                return proc.finished()
            # Readable once the pytest has ended: the watch wakes then, not at its next tick.
            if self.answers is not None:
                self.answers.wait(TICK, exited=proc.fileno())
            else:
                select.select([proc], [], [], TICK)

    def _app_since(self, before: Usage | None) -> Usage | None:
        if self.app_usage is None:
            return None
        now = self.app_usage()
        return now.since(before) if now is not None else None


class _CpuAnswers:
    """Answers each connection to ``path`` with the app's CPU seconds so far: ``{"cpu": 1.25}`` (null if
    not measured). The hidden tests' app_cpu fixture asks before and after what it measures.

    The socket is in the run's own folder (mode 0700), out of the sandboxed app's sight; it is
    answered on the watching thread, between two of its ticks, so the runner's clocks are read by
    one thread only.
    """

    def __init__(self, path: Path | None, app_usage: Callable[[], Usage | None] | None) -> None:
        self._app_usage = app_usage
        self._listener: socket.socket | None = None
        if path is not None and app_usage is not None:
            self._listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self._listener.bind(str(path))
            self._listener.listen(16)
            self._listener.setblocking(False)

    def __enter__(self) -> _CpuAnswers | None:
        return self if self._listener is not None else None

    def __exit__(self, *exc: object) -> None:
        if self._listener is not None:
            self._listener.close()

    def wait(self, seconds: float, *, exited: int | None = None) -> None:
        """Wait up to ``seconds``, answering whatever question comes meanwhile (then return at once);
        return at once too when ``exited`` (a pidfd) becomes readable: the process has ended."""
        watched = [exited] if exited is not None else []
        if self._listener is None or self._app_usage is None:
            select.select(watched, [], [], seconds)
            return
        ready, _, _ = select.select([self._listener, *watched], [], [], seconds)
        ready = [fd for fd in ready if fd is self._listener]
        while ready:
            try:
                connection, _ = self._listener.accept()
            except (BlockingIOError, InterruptedError):
                return
            with connection, contextlib.suppress(OSError):
                connection.settimeout(1.0)
                usage = self._app_usage()
                cpu = usage.cpu if usage is not None else None
                connection.sendall(json.dumps({"cpu": cpu}).encode() + b"\n")


class _ColdPytest:
    """A pytest of its own interpreter, in its own session; reaped here (wait4 gives the rusage of
    exactly this child), with a pidfd readable once it has exited."""

    def __init__(self, command: list[str], *, cwd: Path, env: dict[str, str], log: Path) -> None:
        with log.open("wb") as output:
            self._popen = subprocess.Popen(
                command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        self.pid = self._popen.pid
        self._exited = os.pidfd_open(self.pid)
        self._ended: tuple[int, float] | None = None

    def fileno(self) -> int:
        return self._exited

    def ended(self) -> tuple[int, float] | None:
        if self._ended is None:
            pid, status, rusage = os.wait4(self.pid, os.WNOHANG)
            if pid:
                self._reaped(status, rusage)
        return self._ended

    def finished(self) -> tuple[int, float]:
        if self._ended is None:
            _, status, rusage = os.wait4(self.pid, 0)
            self._reaped(status, rusage)
        return self._ended  # type: ignore[return-value]

    def kill(self) -> None:
        """Kill the pytest and anything it started (its own session)."""
        if self._ended is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.pid, signal.SIGKILL)

    def _reaped(self, status: int, rusage: resource.struct_rusage) -> None:
        self._ended = (status, rusage.ru_utime + rusage.ru_stime)
        self._popen.returncode = os.waitstatus_to_exitcode(status)
        os.close(self._exited)


def _start_pytest(
    command: list[str], *, cwd: Path, env: dict[str, str], log: Path, warm: bool
) -> _ColdPytest | WarmRun:
    if warm and command[1:3] == ["-m", "pytest"]:
        # The server starts with the run's environment less what is the run's own (GRADER_*): pytest_env().
        base = {key: value for key, value in env.items() if not key.startswith("GRADER_")}
        try:
            return warm_start(command[0], base, command[3:], cwd=cwd, env=env, log=log)
        except WarmError as exc:
            logger.warning("the hidden tests run cold this time: %s", exc)
    return _ColdPytest(command, cwd=cwd, env=env, log=log)


def new_seed() -> int:
    """A seed nobody can guess ahead of the run."""
    return secrets.randbelow(SEED_RANGE)


def check_seed(seed: object) -> int:
    """The seed if it is one the hidden tests accept; ValueError with a sentence otherwise."""
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < SEED_RANGE:
        raise ValueError(f"a seed is a whole number from 0 to {SEED_RANGE - 1}, not {seed!r}")
    return seed


# pytest's exit codes other than "tests passed" (0) and "some failed" (1), in words.
PYTEST_EXITS = {
    2: "the hidden tests were interrupted",
    3: "pytest failed inside itself",
    4: "pytest refused its command line or configuration",
    5: "pytest collected no hidden test",
}


def pytest_failure(returncode: int, output: str) -> str:
    """Why a hidden run gave no report, led by pytest's own error lines ("ERROR: ...", "E   ...").

    Those lines say what is wrong; the exit code is named in words after them only when they are
    missing, and the rest of the output is left out when they are there.
    """
    lines = output.splitlines()
    errors = [line.strip() for line in lines if line.startswith(("ERROR:", "E   ", "ImportError", "SyntaxError"))]
    what = PYTEST_EXITS.get(returncode, f"pytest exited with code {returncode}")
    if errors:
        return "the hidden tests could not run: " + "\n".join(dict.fromkeys(errors))
    return f"{what} (exit code {returncode}) and wrote no report:\n{output}" if output.strip() else what


def ticket_mismatch(test_id: str, marked: int | None, number: int | None) -> str:
    """Why a hidden test's reported ticket is not the one the manifest gives its file."""
    if number is None:
        return f"{test_id}: its file is in no ticket's hidden_tests in the manifest"
    if marked is None:
        return (
            f"{test_id} reports no ticket: mark it @pytest.mark.ticket({number}) (the manifest gives its "
            f"file to ticket {number}), and leave the reporting to the grader's plugin"
        )
    return f"{test_id} is marked ticket({marked}) but the manifest gives its file to ticket {number}"


def _assign_tickets(outcomes: list[TestOutcome], manifest: Manifest, tickets: list[int] | None) -> list[TestOutcome]:
    """Set each outcome's ticket from the manifest, checking it against the test's ticket marker."""
    assigned = []
    for outcome in outcomes:
        number = manifest.ticket_of_hidden_file(outcome.test_id.split("::", 1)[0])
        if outcome.ticket != number and not (outcome.ticket is None and outcome.outcome == "error"):
            # A collection error has no marker; anything else must carry the manifest's ticket.
            raise GraderError(ticket_mismatch(outcome.test_id, outcome.ticket, number))
        assigned.append(replace(outcome, ticket=number))
    expected = [t.number for t in manifest.tickets if tickets is None or t.number in tickets]
    missing = sorted(set(expected) - {outcome.ticket for outcome in assigned})
    if missing:
        raise GraderError(f"the report has no test for tickets {missing}")
    return assigned


def grade(socket_path: str, tickets: list[int] | None = None, **options) -> list[TestOutcome]:
    """Per-test outcomes of the hidden tests against the app on socket_path (see run_hidden_tests)."""
    return run_hidden_tests(socket_path, tickets, **options).outcomes
