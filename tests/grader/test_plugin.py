"""The grader's contract is its plugin: the hidden tests get the app's address, the seed and the
deadlines from it, and their ticket markers reach the report the grader reads, once.

Each run is the real trusted pytest (run_hidden_tests) against the tiny package's app, served from
a copy of its project on a unix socket by the grader's local runner: about a second each.
"""

import shutil
import xml.etree.ElementTree as ET

import pytest

from grader.clock import WALL_FACTOR
from grader.local import LocalRunner
from grader.manifest import load_manifest
from grader.run import GraderError, run_hidden_tests
from tests.grader.tiny_package import tiny_package

# A hidden test that writes what the plugin gave it into the report, for the test to read.
CONTRACT_TEST = """\
import pytest

pytestmark = pytest.mark.ticket(1)


def test_the_contract(grader, app_url, seed, rng, client, record_property):
    record_property("app_url", app_url)
    record_property("seed", seed)
    record_property("request_timeout", grader.request_timeout)
    record_property("client_timeout", client.timeout.read)
    record_property("deadline", grader.suite_deadline)
    record_property("answer", client.get("/answer").json()["value"])


def test_the_answer_is_42(client):
    assert client.get("/answer").json()["value"] == 42
"""

# A conftest written before the plugin: it copies the ticket marker into the report itself.
OLD_CONFTEST = """\
def pytest_collection_modifyitems(config, items):
    for item in items:
        marker = item.get_closest_marker("ticket")
        if marker is not None:
            item.user_properties.append(("ticket", marker.args[0]))
"""


def _run(package, tmp_path, **options):
    """The hidden tests of the package against its shipped app; the run and its JUnit report's testcases."""
    manifest = load_manifest(package)
    tree = shutil.copytree(manifest.shipped_dir, tmp_path / "tree")
    junit = tmp_path / "hidden.xml"
    with LocalRunner(manifest).start_app(tree) as socket_path:
        run = run_hidden_tests(socket_path, manifest=manifest, junit_path=junit, **options)
    return run, list(ET.parse(junit).getroot().iter("testcase"))  # noqa: S314 (the trusted pytest wrote it)


def _properties(case) -> list[tuple[str, str]]:
    return [(prop.get("name"), prop.get("value")) for prop in case.iter("property")]


def test_the_plugin_gives_the_app_address_seed_and_timeouts(tmp_path):
    package = tiny_package(tmp_path / "pkg", hidden_test=CONTRACT_TEST)
    run, cases = _run(package, tmp_path, seed=1234)
    contract = next(dict(_properties(case)) for case in cases if case.get("name") == "test_the_contract")
    assert contract["app_url"] == "http://localhost:8000"  # over the socket, as any local client
    assert contract["seed"] == "1234"
    assert float(contract["request_timeout"]) == float(contract["client_timeout"]) == 2 * WALL_FACTOR
    assert float(contract["deadline"]) > 0
    assert contract["answer"] == "41"  # the shipped app answered through the plugin's client
    assert [(o.ticket, o.outcome) for o in sorted(run.outcomes, key=lambda o: o.test_id)] == [
        (1, "failed"),
        (1, "passed"),
    ]


def test_the_plugin_reports_each_ticket_marker_once(tmp_path):
    run, cases = _run(tiny_package(tmp_path / "pkg"), tmp_path)
    assert [_properties(case).count(("ticket", "1")) for case in cases] == [1, 1]
    assert {o.ticket for o in run.outcomes} == {1}


def test_a_conftest_that_still_copies_the_marker_gives_no_second_property(tmp_path):
    run, cases = _run(tiny_package(tmp_path / "pkg", conftest=OLD_CONFTEST), tmp_path)
    assert [[name for name, _ in _properties(case)].count("ticket") for case in cases] == [1, 1]
    assert {o.ticket for o in run.outcomes} == {1}


def test_an_unmarked_hidden_test_is_named_with_the_marker_it_needs(tmp_path):
    unmarked = "def test_the_answer_is_42(client):\n    assert client.get('/answer').json()['value'] == 42\n"
    with pytest.raises(GraderError) as refused:
        _run(tiny_package(tmp_path / "pkg", hidden_test=unmarked), tmp_path)
    message = str(refused.value)
    assert message.startswith(
        "test_ticket_1.py::test_the_answer_is_42 reports no ticket: mark it @pytest.mark.ticket(1)"
    )
    assert "ticket(None)" not in message


def test_a_ticket_marker_without_a_number_is_one_clear_line(tmp_path):
    nameless = "import pytest\n\n\n@pytest.mark.ticket\ndef test_it(client):\n    pass\n"
    with pytest.raises(GraderError) as refused:
        _run(tiny_package(tmp_path / "pkg", hidden_test=nameless), tmp_path)
    assert str(refused.value) == (
        "the hidden tests could not run: ERROR: test_ticket_1.py::test_it: "
        "mark it with one ticket number, ticket(3), not ticket()"
    )
