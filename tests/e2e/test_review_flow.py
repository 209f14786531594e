"""A reviewer's path in a real browser: from the queue to a submitted candidate's report, a diff, an
inline comment, the rubric, submission; then the recruiter sees the recommendation on the dashboard.

Every page is saved at desktop and phone widths under var/screenshots/review-flow/ (ignored).
"""

import re

import pytest
from playwright.sync_api import expect

from portal.invites.services import invite_submit
from portal.reviews.models import Review, ReviewComment
from tests.conftest import ROOT
from tests.support.browser import DESKTOP, Screenshots, sign_in
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, store_verdicts

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def submitted(assessment_version, tmp_path):
    invite = make_invite(assessment_version, name="Ann Example", email="ann@example.com").invite
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-1",
        patch=ROOT / "assessment_app" / "reference" / "ticket-1.patch",
        message="Fix: Resolve issue #1 - return one page, not one book more",
    )
    store_verdicts(invite, passing=frozenset({1}))
    return invite_submit(invite=invite)


def test_a_reviewer_reads_comments_scores_and_submits_and_the_recruiter_sees_it(
    browser, live_server, reviewer, recruiter, submitted
):
    shots = Screenshots("review-flow")
    url = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)

    sign_in(page, url, reviewer.username)
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    page.goto(f"{url}/reviews/?view=all")
    shots.take(page, "queue")
    page.get_by_role("link", name="Ann Example").first.click()

    # The report: the diff of issue-1 against the starting point, highlighted.
    changes = page.locator("section", has=page.get_by_role("heading", name="Changes by branch"))
    expect(changes).to_contain_text("app/crud.py")
    shots.take(page, "report")

    # An inline comment on the first added line of the diff, shared with the candidate.
    added = changes.locator("tr.diff-add").first
    added.locator("summary", has_text="Comment").click()
    added.locator("textarea").fill("Good: the slice keeps has_next exact.")
    added.get_by_label(re.compile("Share with the candidate")).check()
    added.get_by_role("button", name="Comment").click()
    expect(page.locator("body")).to_contain_text("Good: the slice keeps has_next exact.")
    assert ReviewComment.objects.filter(invite=submitted, author=reviewer).count() == 1
    shots.take(page, "report-commented")

    # The rubric: a level per criterion, a recommendation, a summary; then submit.
    page.goto(f"{url}/reviews/invites/{submitted.public_id}/review/")
    mine = page.locator("form.review-form")
    for criterion in ("thought_process", "version_control", "code_quality", "communication"):
        page.locator(f"input[name='score_{criterion}'][value='3']").check()
    page.locator("input[name='recommendation'][value='strong_yes']").check()
    mine.get_by_label("Summary").fill("Found the real cause and kept the change small.")
    shots.take(page, "rubric")
    mine.get_by_label(re.compile("I have finished")).check()
    mine.get_by_role("button", name="Submit review").click()
    expect(page.locator("body")).to_contain_text("Strong yes")
    assert Review.objects.get(invite=submitted, reviewer=reviewer).status == Review.Status.SUBMITTED
    shots.take(page, "review-submitted")

    # The recruiter sees the stage and the recommendation on the dashboard.
    context.clear_cookies()
    sign_in(page, url, recruiter.username)
    row = page.locator("tr", has_text="Ann Example")
    expect(row).to_contain_text("Reviewed")
    expect(row).to_contain_text("Strong yes")
    shots.take(page, "dashboard-reviewed")
    context.close()
    assert shots.saved() == 2 * shots.count
