"""The hidden tests' requests look like real clients' and compressed answers are decoded within the caps.

grader.http_caps dresses every request as a client drawn from the run's seed: no header or value
singles out the grader, and a replay with the same seed sends the same headers. Answers are read
from a real HTTP server on the loopback, through the same httpx transport the hidden tests use.
"""

import collections
import gzip
import json
import re
import threading
import zlib
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
import pytest

from grader import http_caps
from grader.http_caps import CHUNK, CLIENTS, DECODABLE, AnswerTooLarge, Traffic

# What real clients' User-Agent strings look like, written independently of the grader's list.
REAL_AGENTS = [
    r"Mozilla/5\.0 \((Windows NT 10\.0; Win64; x64|Macintosh; Intel Mac OS X 10[._]15(_7)?"
    r"|X11; (Ubuntu; )?Linux x86_64)"
    r"(; rv:\d+\.0)?\) (AppleWebKit/\d+\.\d+(\.\d+)? \(KHTML, like Gecko\) (Chrome/\d+\.0\.0\.0 Safari/537\.36"
    r"( Edg/\d+\.0\.0\.0)?|Version/\d+(\.\d+)* Safari/605\.1\.15)|Gecko/20100101 Firefox/\d+\.0)",
    r"curl/\d+\.\d+\.\d+",
    r"Wget/\d+\.\d+(\.\d+)?",
    r"python-httpx/0\.\d+\.\d+",
    r"python-requests/2\.\d+\.\d+",
    r"Python-urllib/3\.\d+",
    r"Python/3\.\d+ aiohttp/3\.\d+\.\d+",
    r"Go-http-client/1\.1",
    r"Java-http-client/\d+\.\d+\.\d+|Java/\d+\.\d+\.\d+",
    r"Apache-HttpClient/\d+\.\d+(\.\d+)? \(Java/\d+\.\d+\.\d+\)",
    r"okhttp/\d+\.\d+\.\d+",
    r"node|undici|axios/1\.\d+\.\d+|node-fetch/1\.0 \(\+https://github\.com/bitinn/node-fetch\)",
    r"HTTPie/3\.\d+\.\d+",
]
DRAWS = 3000


def _request(method: str = "GET", **kwargs) -> httpx.Request:
    """A request as the hidden tests' client builds it: httpx's own headers, the test's, the body's."""
    client = httpx.Client(transport=httpx.MockTransport(lambda r: httpx.Response(200)), trust_env=False)
    with client:
        return client.build_request(method, "http://localhost:8000/books", **kwargs)


def _dressed(traffic: Traffic, count: int, method: str = "GET") -> list[list[tuple[bytes, bytes]]]:
    sent = []
    for _ in range(count):
        request = _request(method)
        traffic.dress(request)
        sent.append(request.headers.raw)
    return sent


def _values(sent, name: str) -> collections.Counter:
    return collections.Counter(
        next((v.decode().lower() for k, v in headers if k.decode().lower() == name), None) for headers in sent
    )


def test_the_same_seed_and_test_send_the_same_headers():
    first, second = Traffic(4242), Traffic(4242)
    first.begin("test_ticket_2.py::test_reading_a_missing_book")
    second.begin("test_ticket_2.py::test_reading_a_missing_book")

    assert _dressed(first, 30) == _dressed(second, 30)


def test_a_test_s_headers_follow_from_the_seed_and_its_id_whatever_ran_before():
    traffic = Traffic(4242)
    traffic.begin("test_a")
    expected = _dressed(traffic, 10)
    traffic.begin("test_b")
    _dressed(traffic, 7)

    traffic.begin("test_a")
    assert _dressed(traffic, 10) == expected
    traffic.begin("test_c")
    assert _dressed(traffic, 10) != expected


def test_other_seeds_send_other_headers():
    runs = []
    for seed in range(6):
        traffic = Traffic(seed)
        traffic.begin("test_ticket_6.py::test_other_member_cannot_return_a_loan")
        runs.append(_dressed(traffic, 10))

    assert len({repr(run) for run in runs}) == 6


def test_every_user_agent_is_a_real_client_s_and_none_is_common():
    sent = _dressed(Traffic(99), DRAWS)
    agents = _values(sent, "user-agent")

    for agent in agents:
        assert any(re.fullmatch(pattern, agent, re.IGNORECASE) for pattern in REAL_AGENTS), agent
    families = {pattern for pattern in REAL_AGENTS for agent in agents if re.fullmatch(pattern, agent, re.I)}
    assert families == set(REAL_AGENTS)  # every kind of client is drawn
    assert max(agents.values()) < DRAWS / 8  # no one User-Agent in more than 1 request of 8
    httpx_share = sum(count for agent, count in agents.items() if "python-httpx" in agent) / DRAWS
    assert httpx_share < 0.1


def test_no_value_of_a_client_s_header_goes_with_every_request():
    sent = _dressed(Traffic(7), DRAWS, method="POST")

    for name in ("accept", "accept-encoding", "accept-language", "connection", "user-agent"):
        values = _values(sent, name)
        assert len(values) >= 3, (name, values)
        # Not even the commonest value (or the header's absence) is in more than 2 requests of 3.
        assert max(values.values()) < DRAWS * 2 / 3, (name, values.most_common(2))
    assert _values(sent, "accept-encoding")["identity"] < DRAWS / 5
    orders = {tuple(k.decode().lower() for k, _ in headers) for headers in sent}
    spellings = {k.decode() for headers in sent for k, _ in headers}
    assert len(orders) >= 10
    assert {"User-Agent", "user-agent", "User-agent"} <= spellings


def test_only_encodings_the_grader_decodes_are_asked_for():
    asked = {coding.strip() for client in CLIENTS for value in client.encodings if value for coding in value.split(",")}
    assert asked <= {*DECODABLE, "identity"}
    assert "br" not in asked and "zstd" not in asked


def test_the_test_s_own_headers_are_kept():
    traffic = Traffic(5)
    for _ in range(50):
        request = _request(
            "POST", json={"book_id": 3}, headers={"Authorization": "Bearer k3y", "Accept": "application/xml"}
        )
        traffic.dress(request)
        assert request.headers["authorization"] == "Bearer k3y"
        assert request.headers["accept"] == "application/xml"
        assert request.headers["content-type"] == "application/json"
        assert request.headers["host"] == "localhost:8000"
        assert request.read() == b'{"book_id":3}'


# Through a real server


def _gzip_bomb(size: int) -> bytes:
    packer = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    zeros = bytes(1024 * 1024)
    return b"".join(packer.compress(zeros) for _ in range(size // len(zeros))) + packer.flush()


BODY = json.dumps({"items": [{"title": f"Book {n}"} for n in range(200)]}).encode()
BOMB = _gzip_bomb(64 * 1024 * 1024)


class _Handler(BaseHTTPRequestHandler):
    answers = {
        "/gzip": ("gzip", gzip.compress(BODY)),
        "/deflate": ("deflate", zlib.compress(BODY)),
        "/bomb": ("gzip", BOMB),
        "/br": ("br", b"\x1b\x03\x00\xf8\xa5\x02"),
    }

    def do_GET(self):
        if self.path == "/echo":
            encoding, body = None, json.dumps(list(self.headers.items())).encode()
        else:
            encoding, body = self.answers[self.path]
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        if encoding:
            self.send_header("Content-Encoding", encoding)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def _raw_deflate(data: bytes) -> bytes:
    packer = zlib.compressobj(6, zlib.DEFLATED, -zlib.MAX_WBITS)
    return packer.compress(data) + packer.flush()


_Handler.answers["/raw-deflate"] = ("deflate", _raw_deflate(BODY))


@pytest.fixture(scope="module")
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()
    httpd.server_close()


@pytest.fixture
def traffic():
    """The plugin's caps (1 MB) and dressing on httpx's transport, as in the hidden tests' pytest."""
    traffic = Traffic(31337)
    http_caps.install(limit=1024 * 1024, timeout=30, traffic=traffic)
    yield traffic
    http_caps.uninstall()


def test_the_app_receives_the_drawn_client_s_headers_in_its_order_and_case(server, traffic):
    with httpx.Client(transport=httpx.HTTPTransport(), trust_env=False) as client:
        received = [client.get(f"{server}/echo").json() for _ in range(20)]

    traffic.begin("")
    for headers in received:
        request = _request()
        traffic.dress(request)
        expected = [(k.decode(), v.decode()) for k, v in request.headers.raw if k.lower() != b"host"]
        assert [(k, v) for k, v in headers if k.lower() != "host"] == expected
    assert len({tuple(k for k, _ in headers) for headers in received}) > 1


@pytest.mark.parametrize("path", ["/gzip", "/deflate", "/raw-deflate"])
def test_a_compressed_answer_is_decoded(server, traffic, path):
    with httpx.Client(transport=httpx.HTTPTransport(), trust_env=False) as client:
        response = client.get(f"{server}{path}")

    assert response.content == BODY
    assert "content-encoding" not in response.headers


def test_a_gzip_bomb_fails_the_request_at_the_cap_on_what_it_decodes_to(server, traffic):
    assert len(BOMB) < 1024 * 1024  # small as sent: only its decoded size is over the cap
    client = httpx.Client(transport=httpx.HTTPTransport(), trust_env=False)
    with client, pytest.raises(AnswerTooLarge, match="the answer exceeded 1 MB"):
        client.get(f"{server}/bomb")


def test_a_bomb_is_never_decoded_more_than_a_chunk_past_the_cap():
    decoder = http_caps.Decoder("gzip")
    pieces = []
    for piece in decoder.feed(BOMB[: 64 * 1024]):  # what one read off the socket can bring
        pieces.append(len(piece))
        if sum(pieces) > 1024 * 1024:
            break

    assert max(pieces) <= CHUNK
    assert sum(pieces) <= 1024 * 1024 + CHUNK
    with pytest.raises(AnswerTooLarge):
        http_caps.decoded(BOMB, "gzip", request=_request(), limit=1024 * 1024)


def test_an_encoding_the_grader_did_not_ask_for_fails_the_request(server, traffic):
    client = httpx.Client(transport=httpx.HTTPTransport(), trust_env=False)
    with client, pytest.raises(httpx.DecodingError, match="encoded with br"):
        client.get(f"{server}/br")


def test_the_run_s_seed_comes_from_the_grader():
    assert http_caps.run_seed({"GRADER_SEED": "1234"}) == 1234
    assert 0 <= http_caps.run_seed({}) < 2**32
