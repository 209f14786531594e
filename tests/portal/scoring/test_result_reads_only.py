"""The result page and `report` only read what the worker stored: no git, no subprocess, no writes,
and as many queries for 50 branches as for 2."""

import json
import subprocess
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from portal.scoring.analysis import MAX_BRANCHES
from portal.scoring.models import Run
from portal.scoring.services import run_queue
from portal.scoring.version import GRADER_VERSION
from tests.support.factories import make_invite, push_branches, store_verdicts

pytestmark = pytest.mark.engines

WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


@pytest.fixture
def no_subprocess(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a subprocess was started: {args[0] if args else kwargs}")

    monkeypatch.setattr(subprocess.Popen, "__init__", refuse)


def _page(client, invite):
    with CaptureQueriesContext(connection) as queries:
        response = client.get(reverse("invite_result", args=[invite.public_id]))
    assert response.status_code == 200
    return response.content.decode(), [q["sql"] for q in queries.captured_queries]


def test_the_result_page_runs_no_subprocess_and_writes_nothing(client, reviewer, assessment_version, request):
    invite = make_invite(assessment_version).invite
    push_branches(invite, 3)
    store_verdicts(invite)
    client.force_login(reviewer)
    request.getfixturevalue("no_subprocess")
    page, queries = _page(client, invite)
    assert "fixed on issue-1" in page
    assert [q for q in queries if q.lstrip().upper().startswith(WRITES)] == []


def test_its_query_count_does_not_grow_with_branches_or_runs(client, reviewer, assessment_version):
    small, large = make_invite(assessment_version).invite, make_invite(assessment_version).invite
    push_branches(small, 2)
    push_branches(large, 50)
    store_verdicts(small)
    store_verdicts(large)
    # The starting point, 50 heads and the integrated commit of the six issue branches.
    assert Run.objects.filter(invite=large).count() == 52
    client.force_login(reviewer)
    _, small_queries = _page(client, small)
    large_page, large_queries = _page(client, large)
    assert len(large_queries) == len(small_queries)
    assert "topic-0018" in large_page and "31 more branches not shown" in large_page


def test_report_reads_the_stored_analysis(assessment_version):
    invite = make_invite(assessment_version).invite
    push_branches(invite, 2)
    store_verdicts(invite)
    out = StringIO()
    with CaptureQueriesContext(connection) as queries:
        call_command("report", invite.public_id, "--json", stdout=out)
    data = json.loads(out.getvalue())
    assert data["score"]["total"] == 15
    assert data["analysis"]["pending"] is False
    assert {b["branch"] for b in data["branches"]} == {"main", "issue-1", "issue-2"}
    assert not [q for q in queries.captured_queries if q["sql"].lstrip().upper().startswith(WRITES)]


def test_analysis_still_being_computed_shows_as_such(client, reviewer, assessment_version):
    invite = make_invite(assessment_version).invite
    client.force_login(reviewer)
    page, _ = _page(client, invite)
    assert "Nothing pushed yet." in page
    push_branches(invite, 1)  # the push queues runs; no worker has scored them or analysed anything
    page, _ = _page(client, invite)
    assert "being scored and analysed" in page and "Nothing pushed yet." not in page
    store_verdicts(invite)
    page, _ = _page(client, invite)
    assert "being scored and analysed" not in page and "fixed on issue-1" in page


def test_many_branches_are_analysed_up_to_the_cap_and_the_rest_is_said(client, reviewer, assessment_version):
    invite = make_invite(assessment_version).invite
    push_branches(invite, MAX_BRANCHES + 140)
    store_verdicts(invite)
    analysis = invite.analysis
    analysis.refresh_from_db()
    assert len(analysis.result["branches"]) == MAX_BRANCHES
    assert analysis.result["branches_left_out"] == 141  # main is one of the analysed branches
    assert any(f["kind"] == "analysis_capped" for f in analysis.result["findings"])
    client.force_login(reviewer)
    page, _ = _page(client, invite)
    assert "181 more branches not shown (141 not analysed)" in page
    assert len(page) < 400_000


def test_a_run_of_an_older_grader_is_shown_until_the_current_grader_scores_it(assessment_version):
    invite = make_invite(assessment_version).invite
    heads = push_branches(invite, 1)
    Run.objects.filter(invite=invite).update(grader_version="older-grader")
    store_verdicts(invite)
    invite.analysis.refresh_from_db()
    branch = next(b for b in invite.analysis.result["branches"] if b["branch"] == "issue-1")
    assert branch["head"] == heads["issue-1"] and branch["run"]["grader"] == "older-grader"
    run_queue(invite=invite, commit=heads["issue-1"], ref="refs/heads/issue-1")  # a rescore
    store_verdicts(invite)
    invite.analysis.refresh_from_db()
    branch = next(b for b in invite.analysis.result["branches"] if b["branch"] == "issue-1")
    assert branch["run"]["grader"] == GRADER_VERSION != "older-grader"
