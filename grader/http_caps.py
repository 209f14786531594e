"""Caps on what the hidden tests read from the candidate's app, and traffic like real clients': a pytest plugin.

The hidden tests run in the trusted process, outside the sandbox, and httpx reads each answer
into memory whole: an app that streams gigabytes would grow the grader until the host's OOM
killer picks a victim (the worker, PostgreSQL, Redis). run_hidden_tests loads this plugin with
``-p grader.http_caps``, so every hidden test gets the caps without being rewritten:

- every answer read through an ``httpx.HTTPTransport`` is streamed and stopped at
  ``GRADER_MAX_RESPONSE_BYTES`` (the test fails with "the answer exceeded 10 MB"), and must be
  read whole within ``GRADER_REQUEST_TIMEOUT`` seconds (a trickle fails the test too);
- a compressed answer (gzip, deflate) is decoded here, a piece of at most ``CHUNK`` bytes at a
  time, and the same cap holds for what it decodes to: a small gzip bomb fails the test at 10 MB,
  it never grows the grader;
- the process's address space is capped at ``GRADER_MEMORY_BYTES`` (RLIMIT_AS), a backstop
  for whatever else could blow up: that run fails, never the worker;
- once the file ``GRADER_STOP_FILE`` exists (the grader creates it when the run nears its time
  limit, judged on CPU and own time: grader.clock), every further request fails at once, so the
  tests end with a report in time.

And every request goes out as one of many real clients would send it (``Traffic``): a browser,
curl, wget, httpx, requests, urllib, aiohttp, Go, Java, Apache HttpClient, OkHttp, Node or HTTPie,
each with its own User-Agent, Accept, Accept-Encoding, Accept-Language and Connection, header
order and case, drawn for each request from the run's seed (``GRADER_SEED``) and the test's id.
So no header or value singles out the grader: an app that fixes a ticket only for requests
carrying one of them fixes it for some of a test's requests and fails the test. The same seed
sends the same headers again. Requests the tests write themselves (the conftest's requests sent
at once) are dressed with ``dress`` and their answers decoded with ``decoded``, through the
plugin's module.
"""

from __future__ import annotations

import os
import random
import resource
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

import httpx

MAX_RESPONSE_ENV = "GRADER_MAX_RESPONSE_BYTES"
MEMORY_ENV = "GRADER_MEMORY_BYTES"
TIMEOUT_ENV = "GRADER_REQUEST_TIMEOUT"
STOP_FILE_ENV = "GRADER_STOP_FILE"
SEED_ENV = "GRADER_SEED"
DEFAULT_MAX_RESPONSE = 10 * 1024 * 1024
# The most a compressed answer decodes to in one step: the grader never holds more of it at once.
CHUNK = 64 * 1024
# Content codings the grader decodes, so the only ones its requests accept. No br: the grader's
# runtime has no brotli decoder that stops at a size (grader/requirements.in).
DECODABLE = ("gzip", "x-gzip", "deflate")
# Marks a request already dressed as a client's, so the transport does not draw again for it.
DRESSED = "grader.dressed"


class AnswerTooLarge(httpx.ReadError):
    """The app's answer was bigger than the grader reads."""


class AnswerTooSlow(httpx.ReadTimeout):
    """The app's answer did not arrive whole in time."""


class NotSent(httpx.TimeoutException):
    """Not sent: the hidden tests' run used up its time."""


def _megabytes(size: int) -> str:
    return f"{size / (1024 * 1024):g} MB"


# Real clients


@dataclass(frozen=True)
class Client:
    """A real HTTP client as an app sees it: who it says it is, what it sends, in which order and case.

    ``order``: the lower-case header names in the order the client writes them (headers it does
    not list follow, in the request's order). ``case``: "title" (User-Agent), "lower"
    (user-agent) or "first" (User-agent, as urllib writes them). Each tuple of values is a choice;
    None means the header is not sent.
    """

    name: str
    weight: int
    agents: tuple[str, ...]
    order: tuple[str, ...]
    case: str = "title"
    accept: tuple[str | None, ...] = (None,)
    encodings: tuple[str | None, ...] = (None,)
    languages: tuple[str | None, ...] = (None,)
    connection: tuple[str | None, ...] = (None,)
    browser: bool = False  # sends Sec-Fetch-*, a Referer and, but for GET, an Origin: fetch() from a page

    def headers(self, rng: random.Random, method: str) -> list[tuple[str, str]]:
        """This client's own headers for one request, values drawn with ``rng``."""
        drawn = {
            "user-agent": rng.choice(self.agents),
            "accept": rng.choice(self.accept),
            "accept-encoding": rng.choice(self.encodings),
            "accept-language": rng.choice(self.languages),
            "connection": rng.choice(self.connection),
        }
        if self.browser:
            # A page of the app itself (its interactive docs) calling the API: same origin.
            drawn.update({"sec-fetch-site": "same-origin", "sec-fetch-mode": "cors", "sec-fetch-dest": "empty"})
            drawn["referer"] = f"http://{APP_ORIGIN}{rng.choice(('/docs', '/', '/redoc'))}"
            if method not in ("GET", "HEAD"):
                drawn["origin"] = f"http://{APP_ORIGIN}"
        return [(name, value) for name, value in drawn.items() if value is not None]

    def spell(self, name: str) -> str:
        if self.case == "lower":
            return name.lower()
        if self.case == "first":
            return name.lower().capitalize()
        return "-".join(part.capitalize() for part in name.split("-"))


# The Host of a locally served API, as the hidden tests' client sends it (their conftest).
APP_ORIGIN = "localhost:8000"
# The engines in browsers' User-Agent strings.
BLINK = "AppleWebKit/537.36 (KHTML, like Gecko)"
WEBKIT = "AppleWebKit/605.1.15 (KHTML, like Gecko)"
# Over plain HTTP browsers offer gzip and deflate only (br and zstd over HTTPS).
BROWSER_ENCODINGS = ("gzip, deflate",)
BROWSER_ACCEPT = ("*/*", "application/json", "application/json, text/plain, */*")
LANGUAGES = (
    "en-US,en;q=0.9",
    "en-GB,en-US;q=0.9,en;q=0.8",
    "en-US,en;q=0.5",
    "fr-FR,fr;q=0.9,en-US;q=0.8,en;q=0.7",
    "de-DE,de;q=0.9,en-US;q=0.8,en;q=0.7",
    "es-ES,es;q=0.9,en;q=0.8",
    "pt-BR,pt;q=0.9,en-US;q=0.8,en;q=0.7",
    "nl-NL,nl;q=0.9,en-US;q=0.8,en;q=0.7",
    "ja,en-US;q=0.9,en;q=0.8",
    "zh-CN,zh;q=0.9,en;q=0.8",
    "ko-KR,ko;q=0.9,en-US;q=0.8,en;q=0.7",
)

CLIENTS: tuple[Client, ...] = (
    Client(
        "Chrome",
        weight=5,
        agents=(
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {BLINK} Chrome/124.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {BLINK} Chrome/125.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (X11; Linux x86_64) {BLINK} Chrome/126.0.0.0 Safari/537.36",
            f"Mozilla/5.0 (Windows NT 10.0; Win64; x64) {BLINK} Chrome/124.0.0.0 Safari/537.36 Edg/124.0.0.0",
        ),
        order=(
            "host",
            "connection",
            "content-length",
            "authorization",
            "content-type",
            "user-agent",
            "accept",
            "origin",
            "sec-fetch-site",
            "sec-fetch-mode",
            "sec-fetch-dest",
            "referer",
            "accept-encoding",
            "accept-language",
        ),
        accept=BROWSER_ACCEPT,
        encodings=BROWSER_ENCODINGS,
        languages=LANGUAGES,
        connection=("keep-alive",),
        browser=True,
    ),
    Client(
        "Firefox",
        weight=3,
        agents=(
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:126.0) Gecko/20100101 Firefox/126.0",
            "Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0",
        ),
        order=(
            "host",
            "user-agent",
            "accept",
            "accept-language",
            "accept-encoding",
            "referer",
            "content-type",
            "authorization",
            "content-length",
            "origin",
            "connection",
            "sec-fetch-dest",
            "sec-fetch-mode",
            "sec-fetch-site",
        ),
        accept=BROWSER_ACCEPT,
        encodings=BROWSER_ENCODINGS,
        languages=LANGUAGES,
        connection=("keep-alive",),
        browser=True,
    ),
    Client(
        "Safari",
        weight=2,
        agents=(
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Version/17.4.1 Safari/605.1.15",
            f"Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) {WEBKIT} Version/17.5 Safari/605.1.15",
        ),
        order=(
            "accept",
            "content-type",
            "authorization",
            "origin",
            "sec-fetch-site",
            "sec-fetch-dest",
            "accept-language",
            "sec-fetch-mode",
            "host",
            "user-agent",
            "referer",
            "content-length",
            "accept-encoding",
            "connection",
        ),
        accept=BROWSER_ACCEPT,
        encodings=BROWSER_ENCODINGS,
        languages=LANGUAGES,
        connection=("keep-alive",),
        browser=True,
    ),
    Client(
        "curl",
        weight=4,
        agents=("curl/8.5.0", "curl/7.88.1", "curl/8.7.1", "curl/7.81.0"),
        order=("host", "user-agent", "accept", "accept-encoding", "authorization", "content-type", "content-length"),
        accept=("*/*",),
        # Plain, or with --compressed.
        encodings=(None, None, "deflate, gzip"),
    ),
    Client(
        "Wget",
        weight=1,
        agents=("Wget/1.21.3", "Wget/1.21.4", "Wget/1.24.5"),
        order=(
            "user-agent",
            "accept",
            "accept-encoding",
            "host",
            "connection",
            "authorization",
            "content-type",
            "content-length",
        ),
        accept=("*/*",),
        encodings=("identity",),
        connection=("Keep-Alive",),
    ),
    Client(
        "httpx",
        weight=1,
        agents=("python-httpx/0.27.0", "python-httpx/0.27.2", "python-httpx/0.28.1"),
        order=(
            "host",
            "accept",
            "accept-encoding",
            "connection",
            "user-agent",
            "authorization",
            "content-length",
            "content-type",
        ),
        accept=("*/*",),
        encodings=("gzip, deflate",),
        connection=("keep-alive",),
    ),
    Client(
        "requests",
        weight=2,
        agents=("python-requests/2.31.0", "python-requests/2.32.3", "python-requests/2.28.2"),
        order=(
            "host",
            "user-agent",
            "accept-encoding",
            "accept",
            "connection",
            "authorization",
            "content-length",
            "content-type",
        ),
        accept=("*/*",),
        encodings=("gzip, deflate",),
        connection=("keep-alive",),
    ),
    Client(
        "urllib",
        weight=1,
        agents=("Python-urllib/3.11", "Python-urllib/3.12", "Python-urllib/3.10"),
        order=(
            "host",
            "accept-encoding",
            "content-length",
            "content-type",
            "authorization",
            "user-agent",
            "connection",
        ),
        case="first",
        encodings=("identity",),
        connection=("close",),
    ),
    Client(
        "aiohttp",
        weight=1,
        agents=("Python/3.11 aiohttp/3.9.5", "Python/3.12 aiohttp/3.10.5"),
        order=("host", "authorization", "accept", "accept-encoding", "user-agent", "content-length", "content-type"),
        accept=("*/*",),
        encodings=("gzip, deflate",),
    ),
    Client(
        "Go",
        weight=3,
        agents=("Go-http-client/1.1",),
        order=("host", "user-agent", "content-length", "authorization", "content-type", "accept-encoding"),
        encodings=("gzip",),
    ),
    Client(
        "Java",
        weight=2,
        agents=("Java-http-client/17.0.11", "Java-http-client/21.0.3", "Java/17.0.11"),
        order=("content-length", "host", "user-agent", "authorization", "content-type"),
    ),
    Client(
        "Apache HttpClient",
        weight=1,
        agents=("Apache-HttpClient/4.5.14 (Java/17.0.11)", "Apache-HttpClient/5.2.1 (Java/21.0.3)"),
        order=(
            "authorization",
            "content-length",
            "content-type",
            "host",
            "connection",
            "user-agent",
            "accept-encoding",
        ),
        encodings=("gzip,deflate", "gzip, x-gzip, deflate"),
        connection=("Keep-Alive",),
    ),
    Client(
        "OkHttp",
        weight=1,
        agents=("okhttp/4.12.0", "okhttp/4.11.0", "okhttp/3.14.9"),
        order=(
            "authorization",
            "content-type",
            "content-length",
            "host",
            "connection",
            "accept-encoding",
            "user-agent",
        ),
        encodings=("gzip",),
        connection=("Keep-Alive",),
    ),
    Client(
        "Node",
        weight=2,
        agents=("node", "undici", "axios/1.7.2", "node-fetch/1.0 (+https://github.com/bitinn/node-fetch)"),
        order=(
            "host",
            "connection",
            "content-type",
            "authorization",
            "accept",
            "accept-language",
            "user-agent",
            "accept-encoding",
            "content-length",
        ),
        case="lower",
        accept=("*/*", "application/json, text/plain, */*"),
        encodings=("gzip, deflate",),
        languages=("*", None),
        connection=("keep-alive",),
    ),
    Client(
        "HTTPie",
        weight=1,
        agents=("HTTPie/3.2.2", "HTTPie/3.2.3"),
        order=(
            "host",
            "user-agent",
            "accept-encoding",
            "accept",
            "connection",
            "content-type",
            "content-length",
            "authorization",
        ),
        accept=("application/json, */*;q=0.5",),
        encodings=("gzip, deflate",),
        connection=("keep-alive",),
    ),
)

# What a client chooses for itself: an httpx client adds its own value of each, replaced by the drawn client's.
CLIENT_HEADERS = ("user-agent", "accept", "accept-encoding", "accept-language", "connection")


def _httpx_defaults() -> set[tuple[str, str]]:
    """The headers an httpx client adds on its own: not the test's, so the drawn client's replace them."""
    client = httpx.Client(transport=httpx.MockTransport(lambda request: httpx.Response(200)), trust_env=False)
    with client:
        return {(name.lower(), value) for name, value in client.headers.multi_items()}


class Traffic:
    """Dresses each request as a real client's (``CLIENTS``), drawn from a seed.

    ``begin(scope)`` (each test's id) restarts the draws, so a test's headers follow from the
    seed and its id alone, whatever ran before it.
    """

    def __init__(self, seed: int, clients: Iterable[Client] = CLIENTS) -> None:
        self.seed = seed
        self.clients = tuple(clients)
        self._weights = [client.weight for client in self.clients]
        self._defaults = _httpx_defaults()
        self.begin("")

    def begin(self, scope: str) -> None:
        self._rng = random.Random(f"{self.seed}:{scope}:traffic")  # noqa: S311 (replayable on purpose)

    def draw(self) -> Client:
        return self._rng.choices(self.clients, weights=self._weights)[0]

    def dress(self, request: httpx.Request) -> Client | None:
        """Give ``request`` the headers of a client drawn for it, in its order and case; keep the test's own."""
        if request.extensions.get(DRESSED):
            return None
        client = self.draw()
        own = [
            (name, value)
            for name, value in request.headers.multi_items()
            if not (name in CLIENT_HEADERS and (name, value) in self._defaults)
        ]
        mine = {name for name, _ in own}
        headers = own + [(name, value) for name, value in client.headers(self._rng, request.method) if name not in mine]
        rank = {name: index for index, name in enumerate(client.order)}
        headers.sort(key=lambda item: rank.get(item[0], len(rank)))  # stable: unlisted ones keep their order
        request.headers = httpx.Headers([(client.spell(name), value) for name, value in headers])
        request.extensions = {**request.extensions, DRESSED: True}
        return client


# Decoding


class _Inflate:
    """One zlib-based content coding, undone CHUNK bytes of output at a time."""

    def __init__(self, coding: str) -> None:
        self.coding = coding
        self._z = None if coding == "deflate" else zlib.decompressobj(16 + zlib.MAX_WBITS)
        self._head = b""

    def feed(self, data: bytes) -> Iterator[bytes]:
        if self._z is None:
            # "deflate" is meant to be zlib-wrapped, but some servers send it raw: tell by its header.
            self._head += data
            if len(self._head) < 2:
                return
            data, self._head = self._head, b""
            wrapped = data[0] & 0x0F == 8 and (data[0] << 8 | data[1]) % 31 == 0
            self._z = zlib.decompressobj(zlib.MAX_WBITS if wrapped else -zlib.MAX_WBITS)
        while True:
            out = self._z.decompress(data, CHUNK)
            data = self._z.unconsumed_tail
            if out:
                yield out
            if len(out) < CHUNK and not data:
                return

    def flush(self) -> Iterator[bytes]:
        if self._head:
            yield from self.feed(b"\0")  # one byte of a stream: let zlib say it is broken
        if self._z is not None:
            yield from self.feed(b"")


class Decoder:
    """Undoes an answer's Content-Encoding piece by piece; no piece is larger than CHUNK bytes."""

    def __init__(self, content_encoding: str | None) -> None:
        codings = [c.strip().lower() for c in (content_encoding or "").split(",")]
        codings = [c for c in codings if c and c != "identity"]
        unknown = [c for c in codings if c not in DECODABLE]
        if unknown:
            raise ValueError(
                f"the answer is encoded with {', '.join(unknown)}, which the grader neither asks for nor decodes"
            )
        # Applied in the order listed, so undone in reverse.
        self._stages = [_Inflate(c) for c in reversed(codings)]

    @property
    def encoded(self) -> bool:
        return bool(self._stages)

    def feed(self, data: bytes) -> Iterator[bytes]:
        return self._through(0, [data])

    def flush(self) -> Iterator[bytes]:
        return self._through(0, [], flush=True)

    def _through(self, index: int, pieces: Iterable[bytes], flush: bool = False) -> Iterator[bytes]:
        if index == len(self._stages):
            yield from pieces
            return
        stage = self._stages[index]

        def out() -> Iterator[bytes]:
            for piece in pieces:
                yield from stage.feed(piece)
            if flush:
                yield from stage.flush()

        yield from self._through(index + 1, out(), flush)


def _decoder(content_encoding: str | None, request: httpx.Request) -> Decoder:
    try:
        return Decoder(content_encoding)
    except ValueError as exc:
        raise httpx.DecodingError(str(exc), request=request) from None


class CappedStream(httpx.SyncByteStream):
    """An answer's body, read chunk by chunk, decoded if it is compressed, and stopped once it or what
    it decodes to passes ``limit`` bytes, or at ``deadline``."""

    def __init__(
        self,
        stream: httpx.SyncByteStream,
        *,
        request: httpx.Request,
        limit: int,
        deadline: float,
        decoder: Decoder | None = None,
    ) -> None:
        self._stream = stream
        self._request = request
        self._limit = limit
        self._deadline = deadline
        self._decoder = decoder or Decoder(None)

    def __iter__(self):
        received = decoded = 0
        try:
            for chunk in self._stream:
                received += len(chunk)
                self._check(received)
                for piece in self._decoder.feed(chunk):
                    decoded += len(piece)
                    self._check(decoded)
                    yield piece
            for piece in self._decoder.flush():
                decoded += len(piece)
                self._check(decoded)
                yield piece
        except zlib.error as exc:
            raise httpx.DecodingError(f"the answer's compressed body is broken: {exc}", request=self._request) from None

    def _check(self, size: int) -> None:
        if size > self._limit:
            raise AnswerTooLarge(f"the answer exceeded {_megabytes(self._limit)}", request=self._request)
        if time.monotonic() > self._deadline:
            raise AnswerTooSlow("the answer did not arrive whole in time", request=self._request)

    def close(self) -> None:
        self._stream.close()


def cap_response(send, request: httpx.Request, *, limit: int, timeout: float) -> httpx.Response:
    """Send ``request`` with ``send`` and return its response with a capped, decoded body."""
    started = time.monotonic()
    response = send(request)
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        response.close()
        raise AnswerTooLarge(f"the answer exceeded {_megabytes(limit)}", request=request)
    try:
        decoder = _decoder(response.headers.get("Content-Encoding"), request)
    except httpx.DecodingError:
        response.close()
        raise
    if decoder.encoded:
        # Decoded here, within the caps: httpx would otherwise inflate it whole, past any cap.
        del response.headers["Content-Encoding"]
        response.headers.pop("Content-Length", None)
    response.stream = CappedStream(
        response.stream, request=request, limit=limit, deadline=started + timeout, decoder=decoder
    )
    return response


def decoded(body: bytes, content_encoding: str | None, *, request: httpx.Request, limit: int) -> bytes:
    """``body`` decoded as its Content-Encoding says, within ``limit`` (for answers read off a socket)."""
    stream = CappedStream(
        httpx.ByteStream(body),
        request=request,
        limit=limit,
        deadline=float("inf"),
        decoder=_decoder(content_encoding, request),
    )
    return b"".join(stream)


# The plugin

_traffic: Traffic | None = None


def dress(request: httpx.Request) -> None:
    """Dress ``request`` as a real client's (for requests the tests write to a socket themselves)."""
    if _traffic is not None:
        _traffic.dress(request)


def install(*, limit: int, timeout: float, stop_file: str | None = None, traffic: Traffic | None = None) -> None:
    """Cap every answer read through httpx.HTTPTransport in this process (what the hidden tests use),
    and, given ``traffic``, dress every request it sends as a real client's."""
    global _traffic
    _traffic = traffic
    original = getattr(httpx.HTTPTransport.handle_request, "__wrapped__", httpx.HTTPTransport.handle_request)

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if stop_file and os.path.exists(stop_file):
            raise NotSent("not sent: the hidden tests ran out of time; the app answered too slowly", request=request)
        if traffic is not None:
            traffic.dress(request)
        return cap_response(lambda r: original(self, r), request, limit=limit, timeout=timeout)

    handle_request.__wrapped__ = original
    httpx.HTTPTransport.handle_request = handle_request


def uninstall() -> None:
    """Undo ``install``."""
    global _traffic
    _traffic = None
    httpx.HTTPTransport.handle_request = getattr(
        httpx.HTTPTransport.handle_request, "__wrapped__", httpx.HTTPTransport.handle_request
    )


def limit_memory(size: int) -> None:
    """Cap this process's address space: an allocation past it fails (MemoryError), not the host."""
    _, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        size = min(size, hard)
    resource.setrlimit(resource.RLIMIT_AS, (size, hard))


def run_seed(environ=os.environ) -> int:
    """The run's seed (``GRADER_SEED``, which run_hidden_tests always sets); a fresh one without it."""
    value = environ.get(SEED_ENV, "")
    return int(value) if value.isdigit() else random.SystemRandom().randrange(2**32)


def pytest_configure(config) -> None:
    install(
        limit=int(os.environ.get(MAX_RESPONSE_ENV) or DEFAULT_MAX_RESPONSE),
        timeout=float(os.environ.get(TIMEOUT_ENV) or 5),
        stop_file=os.environ.get(STOP_FILE_ENV),
        traffic=Traffic(run_seed()),
    )
    memory = os.environ.get(MEMORY_ENV)
    if memory:
        limit_memory(int(memory))


def pytest_runtest_setup(item) -> None:
    # Before the test's fixtures send anything: its headers follow from the seed and its id alone.
    if _traffic is not None:
        _traffic.begin(item.nodeid)
