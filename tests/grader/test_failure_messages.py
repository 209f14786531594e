"""Failures name their cause: the tests, files and figures behind a failed check, pytest's own error
line instead of its exit code, pip's error lines instead of its progress.

The message-building functions are tested on synthetic results; one validation of the tiny package
(seconds, with the grader's local runner) shows the messages in a real table.
"""

import pytest

from grader.junit import TestOutcome
from grader.manifest import load_manifest
from grader.run import pytest_failure, ticket_mismatch
from grader.validate import fix_scope, shipped_failures, validate
from sandbox.runtime import pip_errors
from tests.grader.tiny_package import HIDDEN_TEST, tiny_package


def _outcome(test_id: str, outcome: str) -> TestOutcome:
    return TestOutcome(test_id=test_id, ticket=1, outcome=outcome, duration=0.1)


def test_hidden_tests_that_pass_as_shipped_are_named():
    outcomes = [_outcome("test_ticket_1.py::test_pages", "failed"), _outcome("test_ticket_1.py::test_sizes", "passed")]
    assert shipped_failures(outcomes) == (False, "1/2 fail; passing as shipped: test_ticket_1.py::test_sizes")


def test_a_ticket_with_no_hidden_test_in_the_report_says_so():
    assert shipped_failures([]) == (False, "no test in the report")


def test_visible_tests_missing_from_the_report_are_named():
    expected = ("tests/test_books.py::test_pages", "tests/test_books.py::test_gone")
    ok, detail = shipped_failures([_outcome("tests/test_books.py::test_pages", "failed")], expected=expected)
    assert (ok, detail) == (False, "1/2 fail; not in the report: tests/test_books.py::test_gone")


def test_a_ticket_without_visible_tests_has_none_to_fail():
    assert shipped_failures([], expected=()) == (True, "0/0 fail")


def test_a_fix_outside_the_source_folder_names_the_files(tmp_path):
    manifest = load_manifest(tiny_package(tmp_path))
    files = ["app/logic.py", "tests/test_answer.py", "README.md"]
    assert fix_scope(manifest, True, "app/logic.py +1/-1, ...", files) == (
        False,
        "changes files outside app/: tests/test_answer.py, README.md",
    )
    assert fix_scope(manifest, True, "app/logic.py +1/-1", ["app/logic.py"]) == (True, "app/logic.py +1/-1")
    assert fix_scope(manifest, False, "error: patch failed: app/logic.py:1", []) == (
        False,
        "does not apply: error: patch failed: app/logic.py:1",
    )


def test_a_pytest_usage_error_is_its_own_line_without_the_exit_code():
    output = "ERROR: usage: pytest [options]\nERROR: unrecognized arguments: --seed\n  inifile: pytest.ini\n"
    message = pytest_failure(4, output)
    assert (
        message
        == "the hidden tests could not run: ERROR: usage: pytest [options]\nERROR: unrecognized arguments: --seed"
    )
    assert "exit" not in message


def test_a_collection_error_is_named_by_its_cause():
    output = (
        "_____ ERROR collecting test_ticket_1.py _____\n"
        "test_ticket_1.py:3: in <module>\n    import app\n"
        "E   ModuleNotFoundError: No module named 'app'\n"
        "Interrupted: 1 error during collection\n"
    )
    assert pytest_failure(2, output) == "the hidden tests could not run: E   ModuleNotFoundError: No module named 'app'"


def test_an_exit_without_error_lines_is_said_in_words():
    assert pytest_failure(5, "no tests ran in 0.01s\n") == (
        "pytest collected no hidden test (exit code 5) and wrote no report:\nno tests ran in 0.01s\n"
    )


@pytest.mark.parametrize(
    ("marked", "number", "message"),
    [
        (None, 3, "t.py::test_x reports no ticket: mark it @pytest.mark.ticket(3) (the manifest gives its file"),
        (2, 3, "t.py::test_x is marked ticket(2) but the manifest gives its file to ticket 3"),
    ],
)
def test_a_ticket_mismatch_says_what_the_test_lacks(marked, number, message):
    assert ticket_mismatch("t.py::test_x", marked, number).startswith(message)
    assert "ticket(None)" not in ticket_mismatch("t.py::test_x", marked, number)


PIP_NOT_FOUND = """\
Collecting fastapi==0.115.0
  Downloading fastapi-0.115.0-py3-none-any.whl (94 kB)
     ━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━━ 94.6/94.6 kB 2.1 MB/s eta 0:00:00
WARNING: Retrying (Retry(total=4, connect=None, read=None, redirect=None, status=None)) after connection broken
ERROR: Could not find a version that satisfies the requirement fastapi-nope==1.0 (from versions: none)
ERROR: No matching distribution found for fastapi-nope==1.0

[notice] A new release of pip is available: 24.0 -> 24.3
"""

PIP_BUILD_FAILED = """\
Collecting broken==1.0
  Downloading broken-1.0.tar.gz (2 kB)
  Preparing metadata (setup.py) ... error
  error: subprocess-exited-with-error

  \u00d7 python setup.py egg_info did not run successfully.
  \u2502 exit code: 1
  \u2570\u2500> [2 lines of output]
      RuntimeError: this package needs a C compiler
      [end of output]

  note: This error originates from a subprocess, and is likely not a problem with pip.
error: metadata-generation-failed
"""


def test_pip_noise_is_cut_to_its_error_lines():
    assert pip_errors(PIP_NOT_FOUND) == (
        "ERROR: Could not find a version that satisfies the requirement fastapi-nope==1.0 (from versions: none)\n"
        "ERROR: No matching distribution found for fastapi-nope==1.0"
    )


def test_a_failed_build_keeps_its_cause():
    cut = pip_errors(PIP_BUILD_FAILED)
    assert "RuntimeError: this package needs a C compiler" in cut
    assert cut.splitlines()[0].strip() == "error: subprocess-exited-with-error"
    assert cut.splitlines()[-1] == "error: metadata-generation-failed"
    assert "Downloading" not in cut and "note:" not in cut


# The tiny package with two faults: a hidden test that already passes as shipped, and a reference
# fix that also changes a visible test.
ALREADY_PASSING = (
    HIDDEN_TEST + "\n\ndef test_the_answer_is_a_number(client):\n    assert client.get('/answer').json()\n"
)


@pytest.fixture(scope="module")
def table(tmp_path_factory) -> str:
    fix = {"app/logic.py": "def answer():\n    return 42\n", "tests/test_answer.py": "def test_nothing():\n    pass\n"}
    package = tiny_package(tmp_path_factory.mktemp("faults"), hidden_test=ALREADY_PASSING, fix=fix)
    report = validate(package)
    assert not report.ok
    return report.table()


def test_validation_names_the_hidden_test_that_passes_as_shipped(table):
    row = next(line for line in table.splitlines() if "every hidden test fails on the shipped project" in line)
    assert "FAILED" in row
    assert row.endswith("2/3 fail; passing as shipped: test_ticket_1.py::test_the_answer_is_a_number")


def test_validation_names_the_files_a_fix_changes_outside_its_source_folder(table):
    row = next(line for line in table.splitlines() if "its reference fix applies alone" in line)
    assert "FAILED" in row
    assert row.endswith("changes files outside app/: tests/test_answer.py")


def test_a_failed_build_step_keeps_its_whole_output_beside_the_cut_message():
    from sandbox.errors import RuntimeBuildError
    from sandbox.runtime import _run

    script = "echo 'Collecting fastapi-nope' >&2; echo 'ERROR: No matching distribution found' >&2; exit 1"
    with pytest.raises(RuntimeBuildError) as failed:
        _run(["sh", "-c", script], timeout=30, what="pip install", cut=pip_errors)
    assert str(failed.value) == "pip install failed (exit 1):\nERROR: No matching distribution found"
    assert "Collecting fastapi-nope" in failed.value.output
