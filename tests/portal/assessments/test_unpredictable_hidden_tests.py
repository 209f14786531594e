"""The hidden tests can't be told from another client, and their data can't be predicted, yet a seed replays a run.

Each app is the shipped project (with the changes the test names) served in the sandbox; the
trusted grader runs the hidden tests against it over HTTP, as for a candidate's push.
"""

import shutil
import subprocess
from pathlib import Path

import httpx
import pytest

from grader.manifest import load_manifest
from grader.run import run_hidden_tests
from portal.assessments.runner import SandboxRunner
from portal.assessments.services import assessment_runtime
from tests.conftest import ROOT

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

MANIFEST = load_manifest(ROOT / "assessment_app")

# Every server error becomes a 404, for the grader's requests only: the old grader sent this Host.
ERRORS_ARE_NOT_FOUND_FOR_THE_OLD_HOST = """

from fastapi import Request
from fastapi.responses import JSONResponse


@app.middleware("http")
async def hide_errors_from_the_grader(request: Request, call_next):
    graded = request.headers.get("host") == "candidate-app"
    try:
        response = await call_next(request)
    except Exception:  # an unhandled error reaches the middleware as the exception itself
        if graded:
            return JSONResponse({"detail": "Not found"}, status_code=404)
        raise
    if graded and response.status_code >= 500:
        return JSONResponse({"detail": "Not found"}, status_code=404)
    return response
"""


def _tree(tmp_path: Path, name: str, *, patches=(), appended_to_main: str = "") -> Path:
    """A copy of the shipped project with the given patches applied and code appended to app/main.py."""
    tree = tmp_path / name
    shutil.copytree(MANIFEST.shipped_dir, tree, ignore=shutil.ignore_patterns("__pycache__", "*.db"))
    for patch in patches:
        subprocess.run(["git", "apply", str(patch)], cwd=tree, check=True)
    if appended_to_main:
        with (tree / "app" / "main.py").open("a") as main:
            main.write(appended_to_main)
    return tree


def _graded(tree: Path, tickets: list[int], seed: int | None = None):
    """The hidden tests of ``tickets`` run against the tree's app, served in the sandbox."""
    return _graded_with_catalogue(tree, tickets, seed)[0]


def _graded_with_catalogue(tree: Path, tickets: list[int], seed: int | None = None):
    """The hidden run, and then the whole catalogue as the app lists it: (id, title, isbn, copies) by id."""
    runner = SandboxRunner(manifest=MANIFEST, runtime=assessment_runtime(manifest=MANIFEST))
    with runner.start_app(tree) as socket_path:
        run = run_hidden_tests(socket_path, tickets, manifest=MANIFEST, seed=seed)
        transport = httpx.HTTPTransport(uds=socket_path)
        with httpx.Client(transport=transport, base_url="http://localhost:8000", trust_env=False) as http:
            books, page = [], 1
            while True:
                body = http.get("/books", params={"page": page, "page_size": 100}).raise_for_status().json()
                books += [(b["id"], b["title"], b["isbn"], b["copies_total"]) for b in body["items"]]
                if not body["has_next"]:
                    return run, sorted(books)
                page += 1


def _failed(run, ticket: int) -> list[str]:
    return [o.test_id for o in run.by_ticket()[ticket] if not o.passed]


def test_an_app_that_hides_its_errors_from_the_old_grader_host_gains_nothing(tmp_path):
    tree = _tree(tmp_path, "hides-errors", appended_to_main=ERRORS_ARE_NOT_FOUND_FOR_THE_OLD_HOST)

    run = _graded(tree, [2])

    # The requests no longer say they are the grader's: the missing book is the 500 it always was.
    [reading] = [o for o in run.outcomes if o.test_id == "test_ticket_2.py::test_reading_a_missing_book"]
    assert not reading.passed
    assert "500: Internal Server Error" in reading.message


def test_refusing_a_return_only_to_the_member_created_after_the_owner_fails_ticket_6(tmp_path):
    decoy = MANIFEST.decoys_dir / "ticket-6-member-after-the-owner.patch"
    tree = _tree(tmp_path, "owner-plus-one", patches=[decoy])

    run = _graded(tree, [6])

    # The other member is never the one created right after the owner.
    assert "test_ticket_6.py::test_other_member_cannot_return_a_loan" in _failed(run, 6)


def test_the_same_seed_replays_a_run_and_another_seed_gives_other_ids(tmp_path):
    fixes = [MANIFEST.patch_path(ticket.number) for ticket in MANIFEST.tickets]
    trees = [_tree(tmp_path, name, patches=fixes) for name in ("first", "replay", "other-seed")]

    seeds = (1234, 1234, 98765)
    graded = [_graded_with_catalogue(tree, [1, 2, 6], seed) for tree, seed in zip(trees, seeds, strict=True)]

    (first, books), (replay, replayed_books), (other, other_books) = graded
    assert (first.seed, replay.seed, other.seed) == (1234, 1234, 98765)
    assert [(o.test_id, o.outcome) for o in first.outcomes] == [(o.test_id, o.outcome) for o in replay.outcomes]
    assert all(o.passed for o in first.outcomes)
    # The same requests in the same order: the same books under the same ids.
    assert len(books) > 20
    assert books == replayed_books
    assert [book[0] for book in books] != [book[0] for book in other_books]  # where the gaps fall, how many
    assert {book[1] for book in books}.isdisjoint(book[1] for book in other_books)
    assert [o.test_id for o in first.outcomes] != [o.test_id for o in other.outcomes]  # the order is the seed's too
