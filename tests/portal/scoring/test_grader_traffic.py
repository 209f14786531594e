"""An app that fixes a ticket only for requests carrying a header the grader sends gains nothing.

The hidden tests used to send every request with the same headers (httpx's User-Agent, answers
asked for uncompressed), so an app could apply a fix only when it saw them and earn the ticket
while every other client kept the bug. Now each request is dressed as a real client's, drawn from
the run's seed (grader.http_caps), so such a fix works for a few of a test's requests and the
test fails. Scored the real way: the pushed commit served in the sandbox, the trusted grader over
HTTP.
"""

import resource

import pytest

from portal.assessments.services import version_shipped_dir
from portal.scoring.models import Run, TestResult
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import score_commit

pytestmark = [pytest.mark.integration, pytest.mark.timeout(300)]

PACKAGE = ROOT / "assessment_app"

# Ticket #2, fixed only for the hidden tests' old client: a lookup that found nothing is a 404
# for it, a 500 for anyone else.
MAIN_KEYED_TO_THE_USER_AGENT = """

@app.exception_handler(NoResultFound)
async def book_not_found(request: Request, _exc: NoResultFound) -> JSONResponse:
    if "python-httpx" in request.headers.get("user-agent", ""):
        return JSONResponse({"detail": "Book not found"}, status_code=404)
    return JSONResponse({"detail": "Internal Server Error"}, status_code=500)
"""


def _cheats(shipped) -> dict[str, str]:
    main = (shipped / "app" / "main.py").read_text()
    main = main.replace(
        "from fastapi import FastAPI\n",
        "from fastapi import FastAPI, Request\nfrom fastapi.responses import JSONResponse\n"
        "from sqlalchemy.exc import NoResultFound\n",
    )
    loans = (shipped / "app" / "api" / "routes" / "loans.py").read_text()
    # Ticket #6, fixed only for requests that ask for an uncompressed answer, as the old grader's all did.
    loans = loans.replace("HTTPException, Query, status", "HTTPException, Query, Request, status")
    loans = loans.replace(
        "def return_book(db: SessionDep, member: CurrentMember, loan_id: int) -> Loan:\n"
        "    loan = crud.get_loan(db, loan_id)\n"
        "    if loan is None:\n",
        "def return_book(request: Request, db: SessionDep, member: CurrentMember, loan_id: int) -> Loan:\n"
        "    loan = crud.get_loan(db, loan_id)\n"
        '    grader = request.headers.get("accept-encoding") == "identity"\n'
        "    if loan is None or (grader and loan.member_id != member.id):\n",
    )
    assert "Request" in main and "grader" in loans, "the shipped project changed: update the cheats"
    return {"app/main.py": main + MAIN_KEYED_TO_THE_USER_AGENT, "app/api/routes/loans.py": loans}


def test_fixes_keyed_to_the_graders_user_agent_or_encoding_earn_nothing(invite, tmp_path):
    shipped = version_shipped_dir(invite.assessment_version)
    # With an honest fix of ticket #4 beside them: the run is scored, and only the cheats earn nothing.
    sha = candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        patch=PACKAGE / "reference" / "ticket-4.patch",
        changes=_cheats(shipped),
        message="Fix: Resolve issue #2 - answer 404 for a missing book",
    )

    run = score_commit(invite, sha)

    assert run.status == Run.Status.FAILED, run.reason
    verdicts = {v.ticket: v for v in run.verdicts.all()}
    assert verdicts[4].passed
    assert not verdicts[2].passed, "a 404 only for python-httpx's User-Agent earned ticket #2"
    assert not verdicts[6].passed, "a refusal only for Accept-Encoding: identity earned ticket #6"


# 1 GiB of zeros, gzipped to about 1 MB, in answer to every /books request but the app's own tests'.
GZIP_BOMB = """

import zlib

from fastapi import Request
from fastapi.responses import Response

_packer = zlib.compressobj(1, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
_BOMB = b"".join(_packer.compress(bytes(1 << 20)) for _ in range(1024)) + _packer.flush()


@app.middleware("http")
async def bomb(request: Request, call_next):
    if request.url.path == "/books" and request.headers.get("host") != "testserver":
        return Response(_BOMB, media_type="application/json", headers={"Content-Encoding": "gzip"})
    return await call_next(request)
"""


def _peak_mb(who) -> float:
    return resource.getrusage(who).ru_maxrss / 1024


def test_a_gzip_bomb_fails_the_test_at_the_cap_without_growing_the_grader(invite, tmp_path):
    children, own = _peak_mb(resource.RUSAGE_CHILDREN), _peak_mb(resource.RUSAGE_SELF)
    main = (version_shipped_dir(invite.assessment_version) / "app" / "main.py").read_text()
    sha = candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"app/main.py": main + GZIP_BOMB})

    run = score_commit(invite, sha)

    assert run.status == Run.Status.FAILED, run.reason
    assert not run.verdicts.get(ticket=1).passed
    messages = TestResult.objects.filter(run=run, ticket=1).values_list("message", flat=True)
    assert any("the answer exceeded 10 MB" in message for message in messages)
    # Decoded whole, each answer would take a gigabyte of the grader's pytest.
    assert _peak_mb(resource.RUSAGE_CHILDREN) - children < 200
    assert _peak_mb(resource.RUSAGE_SELF) - own < 200
