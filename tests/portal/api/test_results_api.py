"""The results endpoints: an invite's result, runs, findings and pull requests, for recruiters and
the reviewers the pages let in, with the same truth as the report page."""

import json

import pytest

from portal.accounts.api_tokens import integration_token_create, personal_token_create
from portal.accounts.models import ApiToken, User
from portal.accounts.roles import REVIEWER
from portal.accounts.services import user_grant_role
from portal.assessments.models import Assessment
from portal.hosting.pulls import pull_open
from portal.reviews.models import AssessmentReviewer
from portal.scoring.models import Run
from portal.scoring.selectors import invite_result
from tests.conftest import ROOT
from tests.support.candidates import candidate_commit
from tests.support.factories import push_branches, score_all, store_verdicts

V1 = "/api/v1"
HOSTILE = '# Fix\n\n<script>alert("x")</script> <img src=x onerror=alert(1)> **bold** [a](javascript:alert(1))'


def invite_urls(public_id: str) -> list[str]:
    return [f"{V1}/invites/{public_id}/{what}" for what in ("result", "runs", "findings", "pulls", "reviews")]


@pytest.fixture
def other_reviewer(db) -> User:
    user = User.objects.create_user(username="wendy", email="wendy@example.com")
    user_grant_role(user=user, role=REVIEWER)
    return user


@pytest.fixture
def stored(invite):
    """An invite with two branches whose runs a worker finished (ticket 1 passes), and its analysis."""
    push_branches(invite, 2)
    store_verdicts(invite, passing=frozenset({1}))
    return invite


@pytest.fixture
def scored(invite, tmp_path):
    """An invite whose issue-1 carries ticket 1's reference fix, scored for real in the sandbox."""
    candidate_commit(
        invite, tmp_path / "work", branch="issue-1", patch=ROOT / "assessment_app" / "reference" / "ticket-1.patch"
    )
    score_all(invite)
    return invite


@pytest.mark.integration
@pytest.mark.timeout(300)
def test_a_scored_invites_result_says_what_the_report_says(scored, api_client, recruiter_token):
    client = api_client(recruiter_token[1])
    body = client.get(f"{V1}/invites/{scored.public_id}/result").json()
    report = invite_result(invite=scored)
    assert body["state"] == "scored"
    assert (body["total"], body["possible"]) == (report.total, report.possible)
    ticket = next(t for t in body["tickets"] if t["number"] == 1)
    assert (ticket["branch"], ticket["passed"], ticket["earned"]) == ("issue-1", True, report.tickets[0].points)
    assert {t["number"] for t in body["tickets"] if t["passed"]} == {1}
    assert body["candidate"] == "Ann Example"

    runs = client.get(f"{V1}/invites/{scored.public_id}/runs").json()
    branch_run = next(r for r in runs["results"] if r["ref"] == "issue-1")
    assert branch_run["status"] in (Run.Status.PASSED, Run.Status.FAILED)
    assert {k: branch_run["verdicts"][0][k] for k in ("ticket", "passed")} == {"ticket": 1, "passed": True}

    detail = client.get(f"{V1}/runs/{branch_run['id']}").json()
    assert detail["tests"] and all("::" not in t["name"] and "/" not in t["name"] for t in detail["tests"])
    # Test names and one-line messages only: nothing of the hidden tests' files or source.
    hidden_source = (ROOT / "assessment_app" / "hidden_tests").glob("test_*.py")
    assert all(path.name not in json.dumps(detail) for path in hidden_source)
    assert "def test_" not in json.dumps(detail)


def test_an_invite_not_scored_yet_says_so_with_every_ticket_at_zero(invite, api_client, recruiter_token):
    body = api_client(recruiter_token[1]).get(f"{V1}/invites/{invite.public_id}/result").json()
    assert body["state"] == "not_scored"
    assert body["total"] == 0 and body["possible"] > 0
    assert {t["passed"] for t in body["tickets"]} == {None}
    assert body["branches"] == []


def test_an_invite_being_scored_says_so(invite, api_client, recruiter_token):
    push_branches(invite, 1)
    body = api_client(recruiter_token[1]).get(f"{V1}/invites/{invite.public_id}/result").json()
    assert body["state"] == "being_scored"


def test_stored_results_runs_and_findings_read_as_the_selectors_do(stored, api_client, reviewer_token):
    client = api_client(reviewer_token[1])
    result = client.get(f"{V1}/invites/{stored.public_id}/result").json()
    assert result["state"] == "scored"
    assert [b["branch"] for b in result["branches"]][:3] == ["main", "issue-1", "issue-2"]
    issue_1 = next(b for b in result["branches"] if b["branch"] == "issue-1")
    assert [c["ticket"] for c in issue_1["tickets"]] == [1, 2, 3, 4, 5, 6]

    runs = client.get(f"{V1}/invites/{stored.public_id}/runs").json()
    assert runs["count"] == Run.objects.filter(invite=stored).count()
    assert {r["ref"] for r in runs["results"]} >= {"main", "issue-1", "issue-2"}
    assert next(r for r in runs["results"] if r["ref"] == "issue-1")["summary"] == "fixes #1"

    findings = client.get(f"{V1}/invites/{stored.public_id}/findings").json()
    stored_result = invite_result(invite=stored)
    assert [f["kind"] for f in findings["findings"]] == [f.kind for f in stored_result.hygiene_findings]
    assert [q["branch"] for q in findings["quality"]] == [q.branch for q in stored_result.quality]


def test_runs_come_in_numbered_pages_and_a_huge_page_size_is_capped(stored, api_client, recruiter_token):
    client = api_client(recruiter_token[1])
    first = client.get(f"{V1}/invites/{stored.public_id}/runs?page_size=1").json()
    assert len(first["results"]) == 1 and first["next"]
    second = client.get(first["next"]).json()
    assert second["results"][0]["id"] != first["results"][0]["id"]
    huge = client.get(f"{V1}/invites/{stored.public_id}/runs?page_size=100000000")
    assert huge.status_code == 200
    assert len(huge.json()["results"]) == huge.json()["count"] <= 200
    assert client.get(f"{V1}/invites/{stored.public_id}/runs?page=999").status_code == 404


def test_a_pull_requests_body_stays_raw_text_and_its_diff_is_there(invite, tmp_path, api_client, recruiter_token):
    candidate_commit(invite, tmp_path / "work", branch="issue-1", changes={"NOTES.md": "why\n"})
    pull = pull_open(invite=invite, branch="issue-1", title="Pages <b>now</b>", description=HOSTILE + "\n\nCloses #1")
    client = api_client(recruiter_token[1])

    listed = client.get(f"{V1}/invites/{invite.public_id}/pulls").json()["results"]
    assert [(p["id"], p["title"], p["closes"]) for p in listed] == [(pull.pk, "Pages <b>now</b>", [1])]
    detail = client.get(f"{V1}/pulls/{pull.pk}")
    assert detail["Content-Type"] == "application/json"
    body = detail.json()
    assert body["body"] == HOSTILE + "\n\nCloses #1"  # as written: not rendered, not escaped
    assert "<p>" not in detail.content.decode() and "&lt;" not in detail.content.decode()
    assert [c["subject"] for c in body["commits"]] == ["Fix: Resolve issue #1 - change"]
    assert [(f["path"], f["status"]) for f in body["diff"]["files"]] == [("NOTES.md", "added")]
    assert body["diff"]["capped"] is False and body["head"]["deleted"] is False


# --- Who may read what ---------------------------------------------------------------


def test_every_endpoint_refuses_a_request_without_a_valid_token(invite, api_client):
    for url in [*invite_urls(invite.public_id), f"{V1}/runs/1", f"{V1}/pulls/1", f"{V1}/events"]:
        for client in (api_client(), api_client("ap_not-a-real-token")):
            response = client.get(url)
            assert response.status_code == 401, url
            assert response["WWW-Authenticate"] == 'Bearer realm="api"'
            assert set(response.json()) == {"detail", "code"}


def test_a_user_without_a_role_gets_403(invite, api_client, no_role_user, recruiter):
    made = personal_token_create(user=recruiter, name="old", scope=ApiToken.Scope.READ)
    recruiter.groups.clear()  # the role is checked on every request, not when the token was made
    for url in invite_urls(invite.public_id):
        response = api_client(made.secret).get(url)
        assert response.status_code == 403, url
        assert response.json()["code"] == "permission_denied"


def test_unknown_invites_runs_and_pulls_are_404(db, api_client, recruiter_token):
    client = api_client(recruiter_token[1])
    for url in [*invite_urls("nosuchinvite"), f"{V1}/runs/999999", f"{V1}/pulls/999999"]:
        response = client.get(url)
        assert response.status_code == 404, url
        assert response.json() == {"detail": "Not found.", "code": "not_found"}


def test_a_reviewer_left_out_of_an_assessment_gets_403_as_on_the_pages(
    stored, api_client, reviewer_token, other_reviewer
):
    AssessmentReviewer.objects.create(assessment=stored.assessment_version.assessment, user=other_reviewer)
    run = Run.objects.filter(invite=stored).first()
    for url in [*invite_urls(stored.public_id), f"{V1}/runs/{run.pk}"]:
        response = api_client(reviewer_token[1]).get(url)
        assert response.status_code == 403, url
        assert "names its reviewers" in response.json()["detail"]
    # An integration with the Reviewer role is no person such an assessment could name.
    tool = integration_token_create(name="tool", permissions=[REVIEWER.permission])
    assert api_client(tool.secret).get(f"{V1}/invites/{stored.public_id}/result").status_code == 403
    # The reviewer it names is let in.
    named = personal_token_create(user=other_reviewer, name="w")
    assert api_client(named.secret).get(f"{V1}/invites/{stored.public_id}/result").status_code == 200


def test_recruiters_and_integrations_read_results_and_only_recruiters_read_events(
    stored, api_client, recruiter_token, reviewer_token, integration_token, reviewing_integration_token
):
    for _, secret in (recruiter_token, integration_token, reviewing_integration_token, reviewer_token):
        assert api_client(secret).get(f"{V1}/invites/{stored.public_id}/result").status_code == 200
    assert api_client(recruiter_token[1]).get(f"{V1}/events").status_code == 200
    refused = api_client(reviewer_token[1]).get(f"{V1}/events")
    assert refused.status_code == 403
    assert refused.json()["detail"] == "This needs the Recruiter role."


def test_a_reviewer_on_a_blind_assessment_reads_the_alias_and_a_recruiter_the_name(
    invite, tmp_path, api_client, recruiter_token, reviewer_token
):
    Assessment.objects.filter(pk=invite.assessment_version.assessment_id).update(blind_review=True)
    candidate_commit(invite, tmp_path / "work", branch="issue-1", message="Fix: Resolve issue #1 - by Ann Example")
    store_verdicts(invite)
    pull = pull_open(invite=invite, branch="issue-1", title="By Ann Example", description="Ann Example wrote this")
    invite.refresh_from_db()
    urls = [*invite_urls(invite.public_id)[:4], f"{V1}/pulls/{pull.pk}"]
    for url in urls:
        text = api_client(reviewer_token[1]).get(url).content.decode()
        assert "Ann Example" not in text and "ann@example.com" not in text, url
    alias = f"Candidate {invite.public_id[:5].upper()}"
    body = api_client(reviewer_token[1]).get(f"{V1}/pulls/{pull.pk}").json()
    assert (body["title"], body["commits"][0]["author"]) == (f"By {alias}", alias)
    assert api_client(reviewer_token[1]).get(urls[0]).json()["candidate"] == alias
    assert api_client(recruiter_token[1]).get(urls[0]).json()["candidate"] == "Ann Example"
