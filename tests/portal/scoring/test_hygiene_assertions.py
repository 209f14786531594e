"""Shipped tests judged by what they assert: extended is credit; relaxed, skipped, xfailed or deleted
is the problem (hygiene Rule 4), on real repositories built in tmp_path."""

from __future__ import annotations

import pytest

from portal.scoring.hygiene import (
    INFO,
    PROBLEM,
    TESTS_ADDED,
    VISIBLE_TESTS_CHANGED,
    Finding,
    hygiene_findings,
)
from tests.portal.scoring.conftest import VISIBLE_TESTS, Workbench

# A shipped test in the shape of the assessment's own (tests/test_loans.py).
SHIPPED = """import pytest


def test_member_cannot_return_someone_elses_loan(client, make_loan, other):
    loan = make_loan()

    response = client.post(f"/loans/{loan['id']}/return", headers=other)

    assert response.status_code in (403, 404)
    with pytest.raises(KeyError):
        loan["missing"]
"""
TEST_ID = "tests/test_loans.py::test_member_cannot_return_someone_elses_loan"


@pytest.fixture
def shipped(bench: Workbench) -> Workbench:
    bench.commit("Library: starting point, continued", {"tests/test_loans.py": SHIPPED}, author=("Portal", "p@x.org"))
    bench.push("main")
    bench.base = bench.heads()["main"]
    return bench


def findings(bench: Workbench) -> list[Finding]:
    return hygiene_findings(
        repo_path=bench.origin,
        base=bench.base,
        branches=bench.heads(),
        tickets=[6],
        visible_test_paths=VISIBLE_TESTS,
    )


def of_kind(found: list[Finding], kind: str) -> list[Finding]:
    return [finding for finding in found if finding.kind == kind]


def edited(old: str, new: str) -> str:
    assert old in SHIPPED, old
    return SHIPPED.replace(old, new)


def test_a_shipped_test_extended_with_every_original_assertion_kept_is_credited(shipped):
    extended = edited(
        "    assert response.status_code in (403, 404)\n",
        "    assert response.status_code in (403, 404)\n"
        '    assert response.json() == {"detail": "Loan not found"}\n'
        '    mine = client.get("/loans", headers=other)\n'
        "    assert loan['id'] not in {row['id'] for row in mine.json()}\n",
    )
    head = shipped.fix(6, {"tests/test_loans.py": extended})

    found = findings(shipped)

    assert of_kind(found, VISIBLE_TESTS_CHANGED) == []
    [credit] = of_kind(found, TESTS_ADDED)
    assert credit.severity == INFO
    assert credit.message == f"issue-6 extends 1 shipped test for #6 ({TEST_ID})."
    assert credit.lines == (TEST_ID,)
    assert credit.commits == (head,)


def test_statements_added_inside_a_block_and_a_fixture_added_are_still_an_extension(shipped):
    extended = edited("(client, make_loan, other)", "(client, make_loan, other, db)").replace(
        '        loan["missing"]\n', '        loan["missing"]\n    assert db is not None\n'
    )
    extended += '\n\ndef test_a_new_one(client):\n    assert client.get("/health").status_code == 200\n'
    shipped.fix(6, {"tests/test_loans.py": extended})

    found = findings(shipped)

    assert of_kind(found, VISIBLE_TESTS_CHANGED) == []
    [credit] = of_kind(found, TESTS_ADDED)
    assert credit.message == (
        f"issue-6 adds 1 test and extends 1 shipped test for #6 (tests/test_loans.py::test_a_new_one, {TEST_ID})."
    )


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("in (403, 404)", "in (403, 404, 500)"),  # a relaxed comparison
        ("in (403, 404)", "< 500"),  # another comparison
        ("    assert response.status_code in (403, 404)\n", ""),  # an assertion removed
        ("pytest.raises(KeyError)", "pytest.raises(Exception)"),  # a relaxed expected exception
    ],
)
def test_a_shipped_assertion_removed_or_relaxed_is_the_problem(shipped, old, new):
    head = shipped.fix(6, {"tests/test_loans.py": edited(old, new)})

    [finding] = of_kind(findings(shipped), VISIBLE_TESTS_CHANGED)

    assert finding.severity == PROBLEM
    assert finding.message == f"issue-6 changes the assertions of {TEST_ID} shipped with the assessment."
    assert finding.lines == (f"{TEST_ID}: assertions removed or changed",)
    assert finding.commits == (head,)
    assert of_kind(findings(shipped), TESTS_ADDED) == []


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("def test_member", '@pytest.mark.skip(reason="flaky")\ndef test_member'),
        ("def test_member", "@pytest.mark.skipif(True, reason='later')\ndef test_member"),
        ("    loan = make_loan()\n", "    pytest.skip('later')\n    loan = make_loan()\n"),
        ("    loan = make_loan()\n", "    return\n    loan = make_loan()\n"),  # nothing after it runs
        ("import pytest\n", "import pytest\n\npytestmark = pytest.mark.skip\n"),  # the whole module
    ],
)
def test_a_skipped_shipped_test_is_the_problem_even_with_its_assertions_kept(shipped, old, new):
    shipped.fix(6, {"tests/test_loans.py": edited(old, new)})

    [finding] = of_kind(findings(shipped), VISIBLE_TESTS_CHANGED)

    assert finding.message == f"issue-6 skips {TEST_ID} shipped with the assessment."
    assert finding.lines == (f"{TEST_ID}: skipped",)


def test_an_xfail_shipped_test_is_the_problem(shipped):
    shipped.fix(6, {"tests/test_loans.py": edited("def test_member", "@pytest.mark.xfail\ndef test_member")})

    [finding] = of_kind(findings(shipped), VISIBLE_TESTS_CHANGED)

    assert finding.message == f"issue-6 marks as expected to fail {TEST_ID} shipped with the assessment."
    assert finding.lines == (f"{TEST_ID}: xfail",)


def test_assertions_wrapped_so_they_cannot_fail_are_the_problem(shipped):
    wrapped = edited(
        "    assert response.status_code in (403, 404)\n",
        "    try:\n        assert response.status_code in (403, 404)\n    except AssertionError:\n        pass\n",
    )
    shipped.fix(6, {"tests/test_loans.py": wrapped})

    [finding] = of_kind(findings(shipped), VISIBLE_TESTS_CHANGED)

    assert finding.lines == (f"{TEST_ID}: assertions removed or changed",)


def test_a_value_the_assertion_checks_rebound_before_it_is_the_problem(shipped):
    rebound = edited(
        "    assert response.status_code in (403, 404)\n",
        "    response.status_code = 404\n    assert response.status_code in (403, 404)\n",
    )
    shipped.fix(6, {"tests/test_loans.py": rebound})

    [finding] = of_kind(findings(shipped), VISIBLE_TESTS_CHANGED)

    assert finding.message == f"issue-6 changes {TEST_ID} shipped with the assessment."
    assert finding.lines == (f"{TEST_ID}: changed",)


def test_the_request_a_shipped_assertion_checks_changed_is_the_problem(shipped):
    shipped.fix(6, {"tests/test_loans.py": edited("headers=other)", "headers={})")})

    [finding] = of_kind(findings(shipped), VISIBLE_TESTS_CHANGED)

    assert finding.lines == (f"{TEST_ID}: changed",)


def test_a_deleted_shipped_test_is_the_problem_and_a_new_one_does_not_make_up_for_it(shipped):
    kept = "import pytest\n\n\ndef test_something_else(client):\n    assert client.get('/').status_code == 200\n"
    shipped.fix(6, {"tests/test_loans.py": kept})

    found = findings(shipped)

    [finding] = of_kind(found, VISIBLE_TESTS_CHANGED)
    assert finding.lines == (f"{TEST_ID}: deleted",)
    assert [credit.lines for credit in of_kind(found, TESTS_ADDED)] == [("tests/test_loans.py::test_something_else",)]


def test_a_comparison_made_again_is_reused_and_answers_the_same(monkeypatch):
    """Every run's analysis compares every branch's test files again: the same file name and the same
    bytes on both sides are compared once per worker process, any change on either side anew."""
    from portal.scoring import hygiene

    calls = []
    compare = hygiene._compare_test_file
    monkeypatch.setattr(hygiene, "_compare_test_file", lambda *args: calls.append(args) or compare(*args))
    monkeypatch.setattr(hygiene, "_COMPARED", hygiene.Memo(1024, budget=hygiene.MIB))
    relaxed = SHIPPED.replace("in (403, 404)", "< 500").encode()

    first = hygiene.compare_test_file("tests/test_loans.py", SHIPPED.encode(), relaxed)
    again = hygiene.compare_test_file("tests/test_loans.py", SHIPPED.encode(), relaxed)
    assert again == first and first.changed == (TEST_ID,) and len(calls) == 1

    # Another side, another file name, or a file added instead of changed: compared anew.
    same = hygiene.compare_test_file("tests/test_loans.py", SHIPPED.encode(), SHIPPED.encode())
    elsewhere = hygiene.compare_test_file("tests/test_other.py", SHIPPED.encode(), relaxed)
    added = hygiene.compare_test_file("tests/test_loans.py", None, relaxed)
    assert same.changed == () and elsewhere.changed == ("tests/test_other.py::" + TEST_ID.split("::")[1],)
    assert added.added == (TEST_ID,) and len(calls) == 4


def test_the_comparisons_kept_are_bounded(monkeypatch):
    from portal.scoring import hygiene

    monkeypatch.setattr(hygiene, "_COMPARED", hygiene.Memo(3, budget=hygiene.MIB))
    for n in range(5):
        hygiene.compare_test_file(f"tests/test_{n}.py", None, SHIPPED.encode())
    assert [key[0] for key in hygiene._COMPARED.entries()] == ["tests/test_2.py", "tests/test_3.py", "tests/test_4.py"]
