"""The reviewer's page of one invite: matrix, findings, live runs, and the administrators' rescore."""

import pytest
from django.urls import reverse

from portal.invites.services import invite_submit
from portal.scoring.models import Run
from tests.support.candidates import candidate_commit


@pytest.fixture
def reviewer_admin(admin_user):
    return admin_user


def test_reviewers_see_the_matrix_and_recruiters_do_not(client, invite, reviewer, recruiter):
    url = reverse("invite_result", args=[invite.public_id])
    client.force_login(recruiter)
    assert client.get(url).status_code == 403
    client.force_login(reviewer)
    page = client.get(url).content.decode()
    assert "Ann Example" in page and "#3 " in page
    assert "no issue-1 branch (0/15)" in page
    assert "Rescore with grader" not in page  # administrators only


def test_anonymous_users_are_sent_to_login(client, invite):
    url = reverse("invite_result", args=[invite.public_id])
    assert client.get(url).url.startswith(reverse("login"))


def test_the_runs_fragment_polls_while_a_run_is_pending(client, invite, reviewer, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    client.force_login(reviewer)
    url = reverse("invite_result_runs", args=[invite.public_id])
    assert 'hx-trigger="every 3s"' in client.get(url).content.decode()
    Run.objects.filter(invite=invite).update(status=Run.Status.ERROR, reason="the app did not start")
    fragment = client.get(url).content.decode()
    assert "hx-trigger" not in fragment
    assert "error: the app did not start" in fragment


def test_only_administrators_may_rescore(client, invite, reviewer, reviewer_admin, monkeypatch):
    url = reverse("invite_rescore", args=[invite.public_id])
    client.force_login(reviewer)
    assert client.post(url).status_code == 403
    client.force_login(reviewer_admin)
    monkeypatch.setattr("portal.scoring.services.GRADER_VERSION", "next-grader")
    response = client.post(url, follow=True)
    assert "1 run(s) queued" in response.content.decode()
    assert Run.objects.filter(invite=invite, grader_version="next-grader").count() == 1


def test_rescoring_needs_a_post(client, invite, reviewer_admin):
    client.force_login(reviewer_admin)
    assert client.get(reverse("invite_rescore", args=[invite.public_id])).status_code == 405


def test_an_unknown_invite_is_404(client, reviewer):
    client.force_login(reviewer)
    assert client.get(reverse("invite_result", args=["nosuchinvite0000"])).status_code == 404


def test_submitted_invites_wait_in_the_review_queue(client, invite, reviewer):
    client.force_login(reviewer)
    assert "Nothing to review" in client.get(reverse("review_queue")).content.decode()
    invite_submit(invite=invite)
    page = client.get(reverse("review_queue")).content.decode()
    assert reverse("invite_result", args=[invite.public_id]) in page
