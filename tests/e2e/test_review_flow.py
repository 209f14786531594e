"""A reviewer's path in a real browser: the queue (score, waiting time, actions in reach on a phone),
the report, the review page with the rubric beside the evidence (a split view at 1280 px, stacked at
390 px), submission, then feedback released and the candidate's email with its link.

Every reviewer page is checked at both widths: nothing scrolls sideways, axe-core finds no serious
or critical violation. Screenshots go to var/screenshots/review-page/ (ignored; CI keeps them).
"""

import re
from email.message import Message
from urllib.parse import urlsplit

import pytest
from django.db import connection
from playwright.sync_api import expect

from portal.invites.services import invite_submit
from portal.reviews.models import Feedback, Review
from portal.reviews.services import comment_add
from portal.scoring.selectors import invite_evidence
from tests.conftest import ROOT
from tests.support.browser import DESKTOP, PHONE, Screenshots, assert_accessible, overflow, sign_in
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, push_branches, store_verdicts
from tests.support.workers import database_url, running_worker, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def created(assessment_version, tmp_path):
    created = make_invite(assessment_version, name="Ann Example", email="ann@example.com")
    candidate_commit(
        created.invite,
        tmp_path / "work",
        branch="issue-1",
        patch=ROOT / "assessment_app" / "reference" / "ticket-1.patch",
        message="Fix: Resolve issue #1 - return one page, not one book more",
    )
    candidate_commit(
        created.invite,
        tmp_path / "work",
        branch="issue-2",
        changes={"NOTES.md": "Tried a fix for the missing book.\n"},
        message="Fix: Resolve issue #2 - not yet",
    )
    store_verdicts(created.invite, passing=frozenset({1}))
    invite_submit(invite=created.invite)
    return created


@pytest.fixture
def submitted(created):
    return created.invite


def _fits_and_is_accessible(page, what: str) -> None:
    """At phone width nothing scrolls sideways; at both widths axe-core finds nothing serious."""
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        page.wait_for_timeout(100)
        if viewport is PHONE:
            assert overflow(page) == 0, f"{what} is {overflow(page)} px wider than a phone"
        assert_accessible(page)
    page.set_viewport_size(DESKTOP)


def test_a_reviewer_scores_beside_the_evidence_on_every_width(browser, live_server, reviewer, recruiter, submitted):
    shots = Screenshots("review-page")
    url = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)

    sign_in(page, url, reviewer.username)
    expect(page.get_by_role("heading", name="Review queue")).to_be_visible()
    page.goto(f"{url}/reviews/?view=all")
    row = page.locator("tr", has_text="Ann Example")
    expect(row.locator("td.queue-score")).to_contain_text(re.compile(r"\d+/\d+"))
    expect(row).to_contain_text(re.compile(r"just now|minute"))
    _fits_and_is_accessible(page, "the queue")
    # On a phone the queue is a card per candidate: Review and Take are on screen, not past its edge.
    page.set_viewport_size(PHONE)
    for name in ("Review Ann Example", "Take Ann Example"):
        box = page.get_by_role("button", name=name).bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], name
    page.set_viewport_size(DESKTOP)
    shots.take(page, "queue")

    # The report: the runs and the timeline speak per ticket, with the same words.
    page.get_by_role("link", name="Ann Example").first.click()
    runs = page.locator("#runs")
    expect(runs).to_contain_text("fixes #1")
    expect(runs).to_contain_text("#2 still fails")
    expect(page.locator("#timeline")).to_contain_text("fixes #1")
    why = page.locator("#why-tickets-fail")
    expect(why).to_contain_text("#2")
    expect(why).not_to_contain_text("No hidden test failed")
    _fits_and_is_accessible(page, "the report")
    shots.take(page, "report")

    # The review page: at 1280 px the rubric is beside the evidence and stays in view while the
    # evidence scrolls; at 390 px they stack, the rubric after the evidence.
    page.goto(f"{url}/reviews/invites/{submitted.public_id}/review/")
    evidence, rubric = page.locator(".review-evidence"), page.locator(".review-rubric")
    expect(evidence.locator("#tickets")).to_be_visible()
    expect(evidence.locator("#diffs")).to_contain_text("app/crud.py")
    left, right = evidence.bounding_box(), rubric.bounding_box()
    assert right["x"] >= left["x"] + left["width"], (left, right)
    page.mouse.wheel(0, 3000)
    page.wait_for_timeout(300)
    assert 0 <= rubric.bounding_box()["y"] <= 40, "the rubric scrolled away with the evidence"
    _fits_and_is_accessible(page, "the review page")
    page.set_viewport_size(PHONE)
    left, right = evidence.bounding_box(), rubric.bounding_box()
    assert right["y"] >= left["y"] + left["height"] and right["width"] <= PHONE["width"]
    page.set_viewport_size(DESKTOP)
    page.evaluate("window.scrollTo(0, 0)")
    shots.take(page, "review-split")

    mine = page.locator("form.review-form")
    for criterion in ("thought_process", "version_control", "code_quality", "communication"):
        mine.locator(f"input[name='score_{criterion}'][value='3']").check()
    mine.locator("input[name='recommendation'][value='strong_yes']").check()
    mine.get_by_label("Summary").fill("Found the real cause and kept the change small.")
    mine.get_by_label(re.compile("I have finished")).check()
    mine.get_by_role("button", name="Submit review").click()
    expect(page.locator("body")).to_contain_text("Strong yes")
    assert Review.objects.get(invite=submitted, reviewer=reviewer).status == Review.Status.SUBMITTED

    # The printable report, then the recruiter's calibration page and the dashboard.
    page.goto(f"{url}/reviews/invites/{submitted.public_id}/report.html")
    expect(page.get_by_role("heading", name="Reviews")).to_be_visible()
    _fits_and_is_accessible(page, "the printable report")
    shots.take(page, "report-print")

    context.clear_cookies()
    sign_in(page, url, recruiter.username)
    row = page.locator("tr", has_text="Ann Example")
    expect(row).to_contain_text("Strong yes")
    page.goto(f"{url}/reviews/calibration/")
    expect(page.get_by_role("heading", name="Reviewer calibration")).to_be_visible()
    _fits_and_is_accessible(page, "calibration")
    shots.take(page, "calibration")
    context.close()
    assert shots.saved() == 2 * shots.count


@pytest.fixture
def mail_worker(live_server, smtp_inbox, tmp_path):
    """A real worker on the default queue sending through the test's SMTP server, linking to the test's
    portal (the scoring queue is left alone: results here are stored, not scored)."""
    env = {"EMAIL_HOST": smtp_inbox.host, "EMAIL_PORT": str(smtp_inbox.port), "PORTAL_BASE_URL": live_server.url}
    with running_worker(
        db_url=database_url(connection.settings_dict), log_dir=tmp_path, env=env, queues="default"
    ) as worker:
        yield worker


def _text(message: Message) -> str:
    part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
    return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")


def test_released_feedback_reaches_the_candidate_by_email(
    browser, live_server, mail_worker, smtp_inbox, reviewer, created, submitted
):
    shots = Screenshots("review-feedback")
    issue = next(view for view in invite_evidence(invite=submitted) if view.branch == "issue-1")
    changed = issue.diff.files[0]
    added = next(line for hunk in changed.hunks for line in hunk.lines if line.kind == "add")
    comment_add(
        invite=submitted, author=reviewer, commit=issue.head, branch="issue-1", path=changed.path, side="new",
        line=added.new, body="The slice keeps has_next exact.", shared=True,
    )  # fmt: skip
    url = live_server.url
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, url, reviewer.username)
    page.goto(f"{url}/reviews/invites/{submitted.public_id}/review/#feedback-heading")
    release = page.locator("form.release-form")

    # No summary and no choice: refused, clearly, and nothing is lost or released.
    release.get_by_label(re.compile("The candidate may read")).check()
    release.get_by_role("button", name="Release").click()
    expect(page.get_by_role("alert")).to_contain_text("Write a summary for the candidate")
    assert not Feedback.objects.filter(invite=submitted, released_at__isnull=False).exists()
    release = page.locator("form.release-form")
    release.get_by_label("Summary for the candidate").fill("Careful work; the tests tell the story.")
    _fits_and_is_accessible(page, "the refused release")
    shots.take(page, "release-refused")

    release.get_by_label(re.compile("The candidate may read")).check()
    release.get_by_role("button", name="Release").click()
    expect(page.locator(".feedback-release").get_by_role("status")).to_contain_text("Released")

    # The email arrives with a link to the candidate's page, which shows the feedback.
    wait_for(lambda: [m for m in smtp_inbox.messages if "ann@example.com" in m["To"]], timeout=60, what="the email")
    [message] = [m for m in smtp_inbox.messages if "ann@example.com" in m["To"]]
    link = re.search(r"https?://\S+/i/[\w-]+/", _text(message)).group(0)
    assert urlsplit(link).netloc == urlsplit(url).netloc
    page.reload()
    expect(page.locator(".feedback-release")).to_contain_text("They were emailed a link to it")
    shots.take(page, "released")

    context.clear_cookies()
    page.goto(link)
    feedback = page.locator("section.candidate-feedback")
    expect(feedback).to_contain_text("Careful work; the tests tell the story.")
    expect(feedback).to_contain_text("The slice keeps has_next exact.")
    shots.take(page, "candidate-reads-feedback")
    context.close()


def test_the_report_updates_by_itself_while_runs_are_scored(browser, live_server, reviewer, assessment_version):
    invite = make_invite(assessment_version, name="Cy Pending").invite
    push_branches(invite, 1)  # queued: nobody scores them until the results are stored below
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    sign_in(page, live_server.url, reviewer.username)
    page.goto(f"{live_server.url}/reviews/invites/{invite.public_id}/")
    live = page.locator("#report-live")
    expect(live).to_contain_text("scoring in progress")
    page.evaluate("window.notReloaded = true")

    store_verdicts(invite, passing=frozenset({1}))
    expect(page.locator("#runs")).to_contain_text("fixes #1")
    expect(live).not_to_contain_text("scoring in progress")
    expect(live).not_to_have_attribute("hx-trigger", re.compile("every"))  # the polling stopped
    assert page.evaluate("window.notReloaded === true")  # swapped in place, never reloaded
    context.close()
