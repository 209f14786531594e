"""The grader's contract with the hidden tests, as a pytest plugin.

run_hidden_tests loads it with ``-p grader.plugin`` on every run, so a package's ``conftest.py``
holds only its own fixtures. From the ``GRADER_*`` environment the grader sets (docs/authoring.md
lists every variable), it gives the hidden tests:

- the app's address: the ``grader`` fixture (the whole contract, ``Grader``), ``app_url``, and
  ``client``, an httpx client on the app (a new connection per request, the request timeout, the
  suite's deadline); ``connect`` opens a raw connection to the app, for requests written by hand;
- the run's seed: ``seed``, and ``rng``, each test's own generator drawn from the seed and the
  test's id; the tests run in an order the seed shuffles, those marked ``runs_last`` at the end;
- the deadlines: ``grader.request_timeout`` for one answer, and past ``GRADER_SUITE_DEADLINE``
  every further request through ``client`` fails at once (``OutOfTime``), so a slow app still
  gets a report with every test in it;
- the app's CPU time, measured by the grader (never by the app): ``app_cpu``, for performance
  tickets (``with app_cpu() as used: ...`` then ``used.seconds``); where nothing measures it, a
  test that asks for it fails with a sentence saying so, never passes on a figure of nothing;
- requests that reach the app at the same moment: ``at_once`` (``grader.at_once.AtOnce``), for races
  and shared state: ``first, answers = at_once([client.build_request(...), ...], first=request)``; each
  request is held back by its last byte on a connection of its own until ``first``, sent after them, is
  answered, then the last bytes go out together, so a busy machine does not serve them one after the
  other. Each answer is a response or the exception that stood for it, read within the request timeout;
- the markers' reporting: each test's ``ticket`` marker is copied into its JUnit properties, the
  report the grader reads, with ``points`` when the marker gives them (``ticket(2, points=3)``: the
  test's share of the ticket, for partial credit; grader.verdicts has the rule), and ``guard`` for
  a test marked ``@pytest.mark.guard`` (a regression guard: it must pass as shipped and with every
  fix, and counts for no ticket's verdict). A conftest that still copies the ticket itself
  (packages written before this plugin) is left alone: the property is never written twice.

The variables are read here only, so running the hidden tests by hand is
``GRADER_APP_URL=http://127.0.0.1:8000 pytest -c hidden_tests/pytest.ini -p grader.plugin hidden_tests``.
"""

from __future__ import annotations

import json
import os
import random
import socket
import time
from collections.abc import Callable, Iterator, Mapping
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass

import httpx
import pytest

from grader.at_once import AtOnce

APP_SOCKET_ENV = "GRADER_APP_SOCKET"
APP_URL_ENV = "GRADER_APP_URL"
SEED_ENV = "GRADER_SEED"
REQUEST_TIMEOUT_ENV = "GRADER_REQUEST_TIMEOUT"
SUITE_DEADLINE_ENV = "GRADER_SUITE_DEADLINE"
# A unix socket in the grader's own folder: each connection is answered with the CPU seconds the app has
# used so far, as the runner measures it (the sandbox's cgroup; the process's threads when run locally).
APP_CPU_SOCKET_ENV = "GRADER_APP_CPU_SOCKET"
MAX_CPU_ANSWER = 4096
# The Host a client of an API served locally on the usual port sends: nothing marks the grader's requests.
APP_HOST = "localhost:8000"
SEED_RANGE = 2**32
DEFAULT_REQUEST_TIMEOUT = 5.0
TICKET = "ticket"
# ticket(2, points=3): the test's share of its ticket's points (partial credit: grader.verdicts).
POINTS = "points"
RUNS_LAST = "runs_last"
# A regression guard: passes as shipped and with every fix; it guards what works, counted for no ticket.
GUARD = "guard"


class OutOfTime(Exception):
    """The hidden suite used up its time: the app answered too slowly."""


class NotMeasured(Exception):
    """The app's CPU time is not measured where these tests run: a performance test cannot be judged."""


@dataclass
class CpuUsed:
    """The app's CPU seconds over one ``with app_cpu() as used:`` block; ``seconds`` once it has ended."""

    start: float
    end: float | None = None

    @property
    def seconds(self) -> float:
        if self.end is None:
            raise RuntimeError("used.seconds is known once the `with app_cpu() as used:` block has ended")
        return self.end - self.start


@dataclass(frozen=True)
class Grader:
    """What the grader gives one run of the hidden tests."""

    app_socket: str | None  # the unix socket the app serves on (None when it serves on app_url)
    app_url: str  # the base URL of every request: http://localhost:8000 over the socket
    seed: int  # of the run's order and data: the same seed against a fresh app sends the same requests
    request_timeout: float  # seconds one answer may take
    suite_deadline: float | None  # seconds after the run starts when requests stop being sent
    started: float  # time.monotonic() when the run started
    app_cpu_socket: str | None = None  # where the grader answers the app's CPU seconds (None: not measured)

    def check_deadline(self, request: httpx.Request | None = None) -> None:
        """OutOfTime once the suite's deadline has passed (an httpx request hook)."""
        if self.suite_deadline is not None and time.monotonic() > self.started + self.suite_deadline:
            raise OutOfTime(
                f"not sent: the hidden tests ran out of time ({self.suite_deadline:.0f} s); the app answered too slowly"
            )

    def client(self) -> httpx.Client:
        """An httpx client on the app, checking the suite's deadline before each request."""
        # A new connection for every request: an app server may close a connection after a request
        # whose handler raised, and reusing it would race with that close and fail the next test.
        transport = httpx.HTTPTransport(uds=self.app_socket, limits=httpx.Limits(max_keepalive_connections=0))
        return httpx.Client(
            transport=transport,
            base_url=self.app_url,
            timeout=self.request_timeout,
            trust_env=False,  # proxy variables must not reroute requests away from the app
            event_hooks={"request": [self.check_deadline]},
        )

    def connect(self) -> socket.socket:
        """A new connection to the app, where the client's transport opens its own."""
        if self.app_socket:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            try:
                sock.settimeout(self.request_timeout)
                sock.connect(self.app_socket)
            except BaseException:
                sock.close()
                raise
            return sock
        url = httpx.URL(self.app_url)
        if url.scheme != "http":
            raise pytest.UsageError(f"requests written by hand need an http:// URL, not {url}")
        return socket.create_connection((url.host, url.port or 80), timeout=self.request_timeout)

    def app_cpu_seconds(self) -> float:
        """CPU seconds the app has used since it started, as the grader measures it; NotMeasured if nothing does."""
        if not self.app_cpu_socket:
            raise NotMeasured(
                "the app's CPU time is not measured here: a performance test needs the grader's runner "
                f"({APP_CPU_SOCKET_ENV} is not set; run the tests with `python -m grader validate` or in the portal)"
            )
        answer = b""
        try:
            with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
                sock.settimeout(self.request_timeout)
                sock.connect(self.app_cpu_socket)
                while len(answer) < MAX_CPU_ANSWER and (chunk := sock.recv(MAX_CPU_ANSWER)):
                    answer += chunk
            cpu = json.loads(answer)["cpu"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotMeasured(f"the grader did not say the app's CPU time ({exc})") from exc
        if cpu is None:
            raise NotMeasured(
                "the app's CPU time is not measured by this runner (no CPU accounting for the app's processes "
                "on this host): a performance test cannot be judged here"
            )
        return float(cpu)

    @contextmanager
    def measure_app_cpu(self) -> Iterator[CpuUsed]:
        """The app's CPU seconds spent while the block runs (``used.seconds`` after it)."""
        used = CpuUsed(start=self.app_cpu_seconds())
        yield used
        used.end = self.app_cpu_seconds()


def _positive(environ: Mapping[str, str], name: str, default: float | None) -> float | None:
    value = environ.get(name, "")
    if not value:
        return default
    try:
        number = float(value)
    except ValueError:
        number = -1.0
    if number <= 0:
        raise pytest.UsageError(f"{name} should be a positive number of seconds, not {value!r}")
    return number


def _seed(environ: Mapping[str, str]) -> int:
    value = environ.get(SEED_ENV, "")
    if not value:
        return random.SystemRandom().randrange(SEED_RANGE)
    if not value.isdigit() or int(value) >= SEED_RANGE:
        raise pytest.UsageError(f"{SEED_ENV} should be a whole number from 0 to {SEED_RANGE - 1}, not {value!r}")
    return int(value)


def grader_from(environ: Mapping[str, str], *, started: float | None = None, need_app: bool = True) -> Grader:
    """The contract from the GRADER_* variables; pytest.UsageError naming a variable that is wrong."""
    app_socket = environ.get(APP_SOCKET_ENV) or None
    app_url = environ.get(APP_URL_ENV) or None
    if need_app and not (app_socket or app_url):
        raise pytest.UsageError(f"no app to test: set {APP_SOCKET_ENV} (a unix socket) or {APP_URL_ENV} (a URL)")
    return Grader(
        app_socket=app_socket,
        app_url=f"http://{APP_HOST}" if app_socket else (app_url or f"http://{APP_HOST}").rstrip("/"),
        seed=_seed(environ),
        request_timeout=_positive(environ, REQUEST_TIMEOUT_ENV, DEFAULT_REQUEST_TIMEOUT),
        suite_deadline=_positive(environ, SUITE_DEADLINE_ENV, None),
        started=time.monotonic() if started is None else started,
        app_cpu_socket=environ.get(APP_CPU_SOCKET_ENV) or None,
    )


_grader = pytest.StashKey[Grader]()


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{TICKET}(number, points=None): the ticket of assessment.toml that this test grades, and its share"
    )
    config.addinivalue_line("markers", f"{RUNS_LAST}: loads the app with concurrent requests; runs after the others")
    config.addinivalue_line("markers", f"{GUARD}: a regression guard: passes as shipped and with every fix")
    config.stash[_grader] = grader_from(os.environ, need_app=not config.getoption("collectonly"))


def pytest_report_header(config: pytest.Config) -> str:
    grader = config.stash[_grader]
    where = grader.app_socket or grader.app_url
    return f"grader: app on {where}, seed {grader.seed} ({SEED_ENV}={grader.seed} replays the run)"


def _whole(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def ticket_marker(item: pytest.Item) -> tuple[int | None, int | None]:
    """(ticket number, points) of the item's ticket marker, (None, None) without one; points is None
    unless the marker gives ``points=``. UsageError for a marker that names no ticket or no whole points."""
    marker = item.get_closest_marker(TICKET)
    if marker is None:
        return None, None
    number = marker.args[0] if len(marker.args) == 1 and set(marker.kwargs) <= {POINTS} else None
    given = ", ".join([*map(repr, marker.args), *(f"{k}={v!r}" for k, v in marker.kwargs.items())])
    if not _whole(number):
        raise pytest.UsageError(f"{item.nodeid}: mark it with one ticket number, ticket(3), not ticket({given})")
    if not _whole(marker.kwargs.get(POINTS, 1)):
        raise pytest.UsageError(
            f"{item.nodeid}: a test's points are a whole number from 1, ticket(3, points=2), not ticket({given})"
        )
    return number, marker.kwargs.get(POINTS)


def ticket_number(item: pytest.Item) -> int | None:
    """The number of the item's ticket marker (None if it has none); UsageError for a marker that names none."""
    return ticket_marker(item)[0]


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # The order is the seed's, so no test can count on what ran before it; tests marked runs_last
    # (they load the app with concurrent requests) still end the run, so whatever such a load leaves
    # behind in a broken app reaches no other ticket's tests.
    random.Random(f"{config.stash[_grader].seed}:order").shuffle(items)  # noqa: S311 (replayable on purpose)
    items.sort(key=lambda item: item.get_closest_marker(RUNS_LAST) is not None)
    # The grader reads each test's ticket from the JUnit report. After the conftests' own hooks
    # (trylast): one that already copied it keeps its copy, and no test reports two.
    for item in items:
        number, points = ticket_marker(item)
        if number is not None and not any(name == TICKET for name, _ in item.user_properties):
            item.user_properties.append((TICKET, number))
        if points is not None:
            item.user_properties.append((POINTS, points))
        if item.get_closest_marker(GUARD) is not None:
            item.user_properties.append((GUARD, "1"))


@pytest.fixture(scope="session")
def grader(pytestconfig: pytest.Config) -> Grader:
    """The run's contract: the app's address, the seed, the deadlines."""
    return pytestconfig.stash[_grader]


@pytest.fixture(scope="session")
def app_url(grader: Grader) -> str:
    """The base URL of the app's API (http://localhost:8000 when it serves on a unix socket)."""
    return grader.app_url


@pytest.fixture(scope="session")
def seed(grader: Grader) -> int:
    return grader.seed


@pytest.fixture(scope="session")
def client(grader: Grader) -> Iterator[httpx.Client]:
    """An httpx client on the app: a new connection per request, the request timeout, the suite's deadline."""
    with grader.client() as http:
        yield http


@pytest.fixture(scope="session")
def connect(grader: Grader) -> Callable[[], socket.socket]:
    """Opens a new connection to the app (for requests the test writes itself)."""
    return grader.connect


@pytest.fixture
def rng(grader: Grader, request: pytest.FixtureRequest) -> random.Random:
    """This test's random generator: from the run's seed and the test's id, whatever order tests run in."""
    return random.Random(f"{grader.seed}:{request.node.nodeid}")  # noqa: S311 (replayable on purpose)


@pytest.fixture
def app_cpu(grader: Grader) -> Callable[[], AbstractContextManager[CpuUsed]]:
    """Measures the app's CPU seconds over a block: ``with app_cpu() as used: ...``, then ``used.seconds``.

    Read by the grader from the sandbox's accounting, never from anything the app reports. Where
    nothing measures it, the test fails at once with a sentence saying so (never a pass on nothing).
    """
    try:
        grader.app_cpu_seconds()
    except NotMeasured as exc:
        pytest.fail(str(exc), pytrace=False)
    return grader.measure_app_cpu


@pytest.fixture(scope="session")
def at_once(client: httpx.Client, connect: Callable[[], socket.socket], grader: Grader, pytestconfig) -> AtOnce:
    """Sends requests so that the app receives them at the same moment: ``at_once(requests, first=request)``.

    Returns the answer to ``first`` and one to each request, in order: a response, or the exception that
    stood for it. The requests are dressed as every other by grader.http_caps when it is loaded (as the
    grader loads it); without it they ask for an answer that is not compressed.
    """
    traffic = pytestconfig.pluginmanager.get_plugin("grader.http_caps")
    return AtOnce(client, connect, grader.request_timeout, traffic)
