"""The example package of docs/authoring.md is a test: every file the page shows, written into a folder
and validated by the command the page gives, passes every check; broken the way the page describes,
it fails with the message the page quotes.

Each validation plays the small package's six states with the grader's local runner (seconds); its
runtime is a virtualenv of the pins of the example's requirements.txt, linked from this interpreter.
"""

import re
import shlex
from pathlib import Path

import pytest

from grader.__main__ import main
from tests.support.doc_examples import example_files, runtime, section_of, write_example

DOC = Path(__file__).resolve().parents[2] / "docs" / "authoring.md"
SECTION = "From an empty folder to a loaded package"
PACKAGE, RUNTIME = "~/cart-totals", "~/cart-runtime/bin/python"


def _section() -> str:
    return section_of(DOC.read_text(encoding="utf-8"), SECTION)


def _validate_command() -> list[str]:
    """The arguments of the page's `python -m grader ... validate ...` line, for grader.__main__.main."""
    [line] = [line for line in _section().splitlines() if line.startswith("python -m grader ")]
    argv = shlex.split(line)
    assert argv[:3] == ["python", "-m", "grader"] and "validate" in argv
    return argv[3:]


@pytest.fixture(scope="module")
def files() -> dict[str, str]:
    return example_files(DOC.read_text(encoding="utf-8"), section=SECTION)


@pytest.fixture(scope="module")
def runtime_python(files, tmp_path_factory) -> str:
    return runtime(files["project/requirements.txt"], tmp_path_factory.mktemp("cart-runtime"))


def _run_validation(package: Path, python: str, capsys) -> tuple[int, str]:
    """The page's command, with its folders replaced by these."""
    places = {PACKAGE: str(package), RUNTIME: python}
    argv = [places.get(arg, arg) for arg in _validate_command()]
    assert str(package) in argv and python in argv, f"the page's command names {PACKAGE} and {RUNTIME}"
    code = main(argv)
    return code, capsys.readouterr().out


def test_the_page_shows_a_whole_package(files):
    assert set(files) == {
        "assessment.toml",
        "project/requirements.txt",
        "project/README.md",
        "project/tickets.md",
        "project/app/__init__.py",
        "project/app/cart.py",
        "project/app/server.py",
        "project/tests/test_cart.py",
        "hidden_tests/pytest.ini",
        "hidden_tests/test_ticket_1.py",
        "hidden_tests/test_ticket_2.py",
        "reference/ticket-1.patch",
        "reference/ticket-2.patch",
        "decoys/ticket-2-only-ten-percent.patch",
    }


def test_the_example_package_passes_every_check(files, runtime_python, tmp_path, capsys):
    package = write_example(files, tmp_path / "cart-totals")
    code, table = _run_validation(package, runtime_python, capsys)
    passed = re.search(r"^(\d+)/(\d+) checks passed$", table, re.MULTILINE)
    assert code == 0 and passed, table
    assert passed[1] == passed[2]
    assert f"`{passed[0]}`" in _section(), "the page gives the number of checks the table ends with"
    assert "decoy ticket-2-only-ten-percent is rejected by its hidden tests" in table


def test_hidden_tests_that_check_only_the_tickets_example_accept_the_decoy(files, runtime_python, tmp_path, capsys):
    # The page's weaker hidden test for ticket #2: its one assertion, beside the guard.
    [weak] = re.findall(r"\(`(assert total\(client, .*?)`\)", _section())
    strong = files["hidden_tests/test_ticket_2.py"]
    guard = strong[strong.index("@pytest.mark.guard") :]
    head = strong[: strong.index("def test_")]
    weakened = f"{head}def test_ten_percent_off(client):\n    {weak}\n\n\n{guard}"
    package = write_example({**files, "hidden_tests/test_ticket_2.py": weakened}, tmp_path / "cart-totals")

    code, table = _run_validation(package, runtime_python, capsys)

    assert code == 1, table
    failed = [line for line in table.splitlines() if "FAILED" in line and "checks passed" not in line]
    assert len(failed) == 1, table
    [documented] = re.findall(r"^#2 +(decoy .*?) +FAILED +(.*)$", _section(), re.MULTILINE)
    name, detail = documented
    assert name in failed[0] and failed[0].endswith(detail), (documented, failed[0])


def test_a_file_shown_twice_is_refused():
    page = "## Example\n\n`a.py`:\n\n```python\nx = 1\n```\n\n`a.py`:\n\n```python\nx = 2\n```\n"
    with pytest.raises(ValueError, match=r"a\.py is shown twice"):
        example_files(page, section="Example")


def test_a_path_outside_the_example_is_refused():
    with pytest.raises(ValueError, match="not a path inside the example"):
        example_files("`../etc/passwd`:\n\n```text\nroot\n```\n")
