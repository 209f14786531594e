"""A package that declares [services] redis: every play of a tree gets a fresh, empty Redis beside the
app and another beside the visible tests, found through REDIS_SOCKET (sandbox.services.Redis), through
the real sandbox runner and the shared orchestration (grader.play). The tiny package's app counts
its visits in Redis over the socket, with the standard library speaking RESP."""

import pytest

from grader.manifest import load_manifest
from grader.play import VISIBLE_BESIDE, App, play
from grader.run import HiddenRun, run_hidden_tests
from portal.assessments.runner import SandboxRunner, manifest_services
from portal.assessments.services import assessment_runtime
from sandbox import Redis
from tests.grader.tiny_package import SERVER, tiny_package

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]
# redis-server is a test package (Makefile TEST_OS_PACKAGES): missing, these tests fail, never skip.

RESP = '''\
import os
import socket


def incr(key):
    """INCR key on the run's Redis: its new value."""
    with socket.socket(socket.AF_UNIX) as sock:
        sock.connect(os.environ["REDIS_SOCKET"])
        sock.sendall(b"*2\\r\\n$4\\r\\nINCR\\r\\n$%d\\r\\n%s\\r\\n" % (len(key), key.encode()))
        return int(sock.makefile("rb").readline()[1:])
'''

VISITS = SERVER.replace(
    "from app.logic import answer\n", "from app.logic import answer\nfrom app.resp import incr\n"
).replace(
    'body = json.dumps({"value": answer()}).encode()',
    'body = json.dumps({"value": answer(), "visit": incr("visits")}).encode()',
)

HIDDEN = """\
import pytest

pytestmark = pytest.mark.ticket(1)


def test_a_fresh_server_counts_from_one(client):
    assert [client.get("/answer").json()["visit"] for _ in range(3)] == [1, 2, 3]
"""

VISIBLE = """\
from app.resp import incr


def test_the_tests_have_a_redis_of_their_own():
    assert [incr("mine"), incr("mine")] == [1, 2]
    assert incr("visits") == 1  # not the app's server
"""


@pytest.fixture
def package(tmp_path):
    root = tiny_package(tmp_path / "package", hidden_test=HIDDEN)
    (root / "assessment.toml").write_text((root / "assessment.toml").read_text() + "\n[services]\nredis = true\n")
    project = root / "project"
    # The visible tests need pytest in the runtime (the tiny package's app needs nothing).
    (project / "requirements.txt").write_text("pytest==9.2.0\niniconfig==2.3.1\npackaging==26.4\npluggy==1.7.0\n")
    (project / "app" / "resp.py").write_text(RESP)
    (project / "app" / "server.py").write_text(VISITS)
    (project / "tests" / "test_answer.py").write_text(VISIBLE)
    return root


def test_the_runner_starts_a_redis_for_a_package_that_declares_it(package, tmp_path):
    services_dir = tmp_path / "services"
    assert manifest_services(load_manifest(package), services_dir=services_dir) == (Redis(),)
    assert not services_dir.exists()  # no template: a Redis starts empty


def test_each_play_gets_fresh_servers_for_the_app_and_for_the_visible_tests(db, package):
    manifest = load_manifest(package)
    runner = SandboxRunner(
        manifest=manifest,
        runtime=assessment_runtime(manifest=manifest),
        services=manifest_services(manifest, services_dir=package / "unused"),
    )

    def hidden(app: App, seed: int) -> HiddenRun:
        return run_hidden_tests(app.socket, manifest=manifest, seed=seed, app_usage=app.usage)

    for _ in range(2):  # the second play's app counts from one again: nothing is kept between runs
        played = play(runner, package / "project", seeds=[1], hidden=hidden, visible=VISIBLE_BESIDE)
        assert played.failure is None
        assert [(o.test_id, o.passed, o.message) for o in played.hidden[0].outcomes] == [
            ("test_ticket_1.py::test_a_fresh_server_counts_from_one", True, "")
        ]
        assert [o.passed for o in played.visible.outcomes] == [True], played.visible.output
