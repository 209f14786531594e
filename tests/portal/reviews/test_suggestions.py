"""Suggested levels from a real pushed and analysed invite: labelled suggestions, never scores."""

from django.urls import reverse

from portal.hosting.pulls import pull_open
from portal.invites.services import invite_submit
from portal.reviews.selectors import rubric_suggestions
from portal.reviews.services import review_save
from tests.support.candidates import candidate_commit
from tests.support.factories import store_verdicts

from .conftest import full_review


def test_suggestions_follow_git_hygiene_lint_and_pull_requests(client, invite, reviewer, tmp_path):
    work = tmp_path / "work"
    # A vague message, and a new unused import on the lines the branch changes.
    candidate_commit(invite, work, branch="issue-1", changes={"app/extra.py": "import os\nimport sys\n"}, message="wip")
    candidate_commit(invite, work, branch="issue-2", changes={"app/notes.py": "NOTES = []\n"})
    pull_open(invite=invite, branch="issue-1", title="Fix 1", description="Fixes #1. " + "Explains the cause. " * 8)
    pull_open(invite=invite, branch="issue-2", title="Fix 2", description="done")
    store_verdicts(invite)
    invite = invite_submit(invite=invite)

    suggestions = rubric_suggestions(invite=invite)
    assert set(suggestions) == {"version_control", "code_quality", "communication"}  # never thought process
    assert suggestions["code_quality"].level == 3
    assert suggestions["code_quality"].reason == "2 new lint findings on 2 branches"  # os and sys unused
    assert suggestions["communication"].level == 3
    assert suggestions["communication"].label == ("Suggested: 3 — 1 of 2 pull requests described, 1 linked to tickets")
    hygiene = suggestions["version_control"]
    # "wip" is no message in the agreed form; issue-2's commit names ticket #1.
    assert hygiene.label == "Suggested: 3 — 2 warnings in git hygiene"

    client.force_login(reviewer)
    page = client.get(reverse("review_form", args=[invite.public_id])).content.decode()
    assert hygiene.label in page and " checked>" not in page
    review = review_save(invite=invite, reviewer=reviewer, **full_review(submit=False, scores={}))
    assert review.scores == {}  # a suggestion is never stored as a level


def test_nothing_pushed_suggests_only_from_the_missing_pull_requests(submitted):
    suggestions = rubric_suggestions(invite=submitted)
    assert {key: s.label for key, s in suggestions.items()} == {"communication": "Suggested: 1 — no pull requests"}
