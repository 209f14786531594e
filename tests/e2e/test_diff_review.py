"""Commenting on a diff as reviewers do in code-review tools, in a real browser: the "+" in a line's
gutter, the form in a full-width row under the line, a thread per line with replies, colours that
pass axe-core in the light and dark schemes, phone width, candidate-controlled text kept as text.

Every step is saved at desktop and phone widths under var/screenshots/diff-review/ (ignored).
"""

import re

import pytest
from django.urls import reverse
from django.utils import timezone
from playwright.sync_api import expect

from portal.invites.services import invite_submit
from portal.reviews.models import Feedback, ReviewComment
from tests.support.browser import DESKTOP, PHONE, Screenshots, assert_accessible, overflow, sign_in
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, store_verdicts

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(240),
    pytest.mark.django_db(transaction=True),
]

PAGES = "app/pages.py"
PAGES_CODE = '''PAGE_SIZE = 10


def page(items, number):
    """One page of items, counted from 1."""
    start = (number - 1) * PAGE_SIZE  # the first item of the page
    return items[start : start + PAGE_SIZE]
'''
# A file name and a line a candidate chose to break the page with.
HOSTILE_PATH = "notes/<img src=x onerror=alert(1)>.md"
HOSTILE_LINE = "<script>alert('line')</script> and a " + "very " * 60 + "long line"


@pytest.fixture
def submitted(assessment_version, tmp_path):
    invite = make_invite(assessment_version, name="Ann Example", email="ann@example.com").invite
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-1",
        changes={PAGES: PAGES_CODE, HOSTILE_PATH: HOSTILE_LINE + "\n"},
        message="Fix: Resolve issue #1 - one page at a time",
    )
    store_verdicts(invite, passing=frozenset({1}))
    return invite_submit(invite=invite)


def _report(live_server, invite) -> str:
    return live_server.url + reverse("invite_result", args=[invite.public_id])


def _line(changes, path: str, number: int):
    """The row of new line ``number`` of ``path`` in the report's diffs."""
    name = re.compile(f"Comment on {re.escape(path)} line {number}$")
    return changes.locator("tr", has=changes.page.locator("summary", has_text=name))


def _opacity(locator) -> str:
    return locator.evaluate("element => getComputedStyle(element).opacity")


def test_a_reviewer_comments_from_the_gutter_and_replies_in_a_thread(browser, live_server, reviewer, submitted):
    shots = Screenshots("diff-review")
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.set_default_timeout(20_000)
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, live_server.url, reviewer.username)
    page.goto(_report(live_server, submitted) + "#diffs")
    changes = page.locator("#diffs")
    expect(changes).to_contain_text(PAGES)
    assert changes.locator("td.diff-code details, td.diff-code form").count() == 0  # no control after the code
    shots.take(page, "report-changes")

    # The "+" of line 6 hides until its line is under the pointer or holds the focus.
    line = _line(changes, PAGES, 6)
    plus = line.locator("summary")
    expect(plus).to_have_accessible_name(f"Comment on {PAGES} line 6")
    assert _opacity(plus) == "0"
    line.hover()
    expect(plus).to_have_css("opacity", "1")
    code = line.locator("td.diff-code")
    code_width = code.bounding_box()["width"]

    # Opening it puts a form in a row of its own under the line, as wide as the diff.
    plus.click()
    row = line.locator("xpath=following-sibling::tr[1]")
    expect(row).to_have_class(re.compile(r"\bdiff-comments\b"))
    textarea = row.get_by_label(f"Comment on {PAGES} line 6")
    expect(textarea).to_be_focused()
    box = line.locator("xpath=ancestor::div[contains(@class, 'diff-scroll')]").bounding_box()
    assert row.locator(".comment-box").bounding_box()["width"] == pytest.approx(box["width"], abs=2)
    assert code.bounding_box()["width"] == pytest.approx(code_width, abs=1)  # the code is not squeezed
    page.evaluate("window.notReloaded = true")
    textarea.fill("Why subtract one? A comment on the line would help.")
    shots.take(page, "form-open")
    row.get_by_role("button", name="Comment", exact=True).click()

    # The comment is in a thread under its line, posted without leaving the page.
    thread = line.locator("xpath=following-sibling::tr[1]")
    expect(thread.locator(".review-comment")).to_have_count(1)
    expect(thread).to_contain_text("Why subtract one?")
    expect(thread).to_contain_text(reviewer.username)
    expect(thread.locator(".comment-form")).to_be_hidden()
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_role("status").filter(has_text="Your comment was saved.")).to_have_count(1)

    # A reply joins the thread, after the first comment.
    thread.locator("summary", has_text="Reply").click()
    reply = thread.get_by_label(f"Reply on {PAGES} line 6")
    expect(reply).to_be_focused()
    reply.fill("Numbers start at 1 in the ticket.")
    thread.get_by_role("button", name="Reply", exact=True).click()
    expect(thread.locator(".review-comment")).to_have_count(2)
    bodies = thread.locator(".review-comment").all_inner_texts()
    assert "Why subtract one?" in bodies[0] and "Numbers start at 1" in bodies[1]
    expect(thread.locator(".review-comment time")).to_have_count(2)
    comments = ReviewComment.objects.filter(invite=submitted, path=PAGES, line=6).order_by("created_at")
    assert [c.body for c in comments] == [
        "Why subtract one? A comment on the line would help.",
        "Numbers start at 1 in the ticket.",
    ]
    assert page.evaluate("window.notReloaded") is True
    shots.take(page, "thread")

    # Deleting one's own comment takes it out of the thread, still without a reload.
    thread.locator(".review-comment").nth(1).get_by_role("button", name="Delete").click()
    expect(thread.locator(".review-comment")).to_have_count(1)
    assert ReviewComment.objects.filter(invite=submitted).count() == 1
    assert page.evaluate("window.notReloaded") is True

    # Cancel closes a form and gives the focus back to its "+"; Escape does too.
    other = _line(changes, PAGES, 1)
    other.locator("summary").focus()
    page.keyboard.press("Enter")
    other_row = other.locator("xpath=following-sibling::tr[1]")
    expect(other_row.get_by_label(f"Comment on {PAGES} line 1")).to_be_focused()
    other_row.get_by_role("button", name="Cancel").click()
    expect(other_row).to_be_hidden()
    expect(other.locator("summary")).to_be_focused()
    page.keyboard.press("Enter")
    expect(other_row.get_by_label(f"Comment on {PAGES} line 1")).to_be_focused()
    page.keyboard.press("Escape")
    expect(other_row).to_be_hidden()

    # What the candidate chose as a file name and a line is shown as text, never run.
    hostile = changes.locator("article.diff-file", has_text="onerror")
    expect(hostile.locator(".diff-path")).to_have_text(HOSTILE_PATH)
    expect(hostile.locator("tr.diff-add td.diff-code")).to_contain_text("<script>alert('line')</script>")
    assert changes.locator("img, script:not([src])").count() == 0
    expect(_line(changes, HOSTILE_PATH, 1).locator("summary")).to_have_accessible_name(
        f"Comment on {HOSTILE_PATH} line 1"
    )
    assert dialogs == []
    assert_accessible(page)

    # A phone: the diff scrolls inside its box, the page does not; the form fits the screen.
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0
    scroll = hostile.locator(".diff-scroll")
    assert scroll.evaluate("box => box.scrollWidth > box.clientWidth")  # the long line scrolls inside
    expect(plus).to_have_css("opacity", "1")  # no hover on a phone: the "+" is always there
    other.locator("summary").click()
    form = other_row.locator(".comment-form")
    expect(form).to_be_visible()
    form_box = form.bounding_box()
    assert form_box["x"] >= 0 and form_box["x"] + form_box["width"] <= PHONE["width"]
    assert overflow(page) == 0
    assert_accessible(page)
    page.keyboard.press("Escape")
    context.close()

    # The same page in the dark scheme: its colours pass too.
    dark = browser.new_context(viewport=DESKTOP, color_scheme="dark")
    page = dark.new_page()
    sign_in(page, live_server.url, reviewer.username)
    page.goto(_report(live_server, submitted) + "#diffs")
    expect(page.locator("#diffs .review-comment")).to_have_count(1)
    assert_accessible(page)
    page.set_viewport_size(PHONE)
    assert overflow(page) == 0
    dark.close()


def test_an_error_is_shown_on_the_form_and_the_text_is_kept(browser, live_server, reviewer, submitted):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, live_server.url, reviewer.username)
    page.goto(_report(live_server, submitted) + "#diffs")
    line = _line(page.locator("#diffs"), PAGES, 1)
    line.locator("summary").click()
    row = line.locator("xpath=following-sibling::tr[1]")
    row.get_by_label(f"Comment on {PAGES} line 1").fill("For the candidate: good constant.")
    row.get_by_label(re.compile("Share with the candidate")).check()
    # Meanwhile the feedback is released: a comment shared now would never reach the candidate.
    Feedback.objects.create(invite=submitted, summary="Thanks.", released_at=timezone.now())
    row.get_by_role("button", name="Comment", exact=True).click()
    expect(row.get_by_role("alert")).to_contain_text("The feedback has been released")
    expect(row.get_by_label(f"Comment on {PAGES} line 1")).to_have_value("For the candidate: good constant.")
    assert not ReviewComment.objects.exists()
    context.close()


def test_without_javascript_the_gutter_still_opens_the_form_and_posts(browser, live_server, reviewer, submitted):
    context = browser.new_context(viewport=DESKTOP, java_script_enabled=False)
    page = context.new_page()
    sign_in(page, live_server.url, reviewer.username)
    page.goto(_report(live_server, submitted) + "#diffs")
    line = _line(page.locator("#diffs"), PAGES, 4)
    line.locator("summary").click()
    row = line.locator("xpath=following-sibling::tr[1]")
    row.get_by_label(f"Comment on {PAGES} line 4").fill("A docstring would say what number means.")
    row.get_by_role("button", name="Comment", exact=True).click()
    expect(page.locator(".message")).to_contain_text("Your comment was saved.")
    line = _line(page.locator("#diffs"), PAGES, 4)
    expect(line.locator("xpath=following-sibling::tr[1]")).to_contain_text("A docstring would say")
    assert ReviewComment.objects.get().line == 4
    context.close()


def test_pull_request_pages_fit_a_phone_pass_axe_and_keep_the_candidates_text_as_text(
    browser, live_server, reviewer, assessment_version, tmp_path
):
    shots = Screenshots("pull-requests")
    created = make_invite(assessment_version, name="Ann Example", email="ann@example.com")
    candidate_commit(
        created.invite,
        tmp_path / "work",
        branch="issue-1",
        changes={PAGES: PAGES_CODE, HOSTILE_PATH: HOSTILE_LINE + "\n", "app/main.py": None},
        message="Fix: Resolve issue #1 - one page at a time",
    )
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))

    def check(name: str) -> None:
        assert_accessible(page)
        shots.take(page, name)
        page.set_viewport_size(PHONE)
        assert overflow(page) == 0, f"{name} is wider than a phone"
        assert_accessible(page)
        page.set_viewport_size(DESKTOP)

    # The candidate opens a pull request with hostile Markdown, reads it, edits it.
    page.goto(live_server.url + reverse("pull_list", args=[created.link_token]))
    check("list-empty")
    page.get_by_label("Branch").select_option("issue-1")
    page.get_by_label("Title").fill("One page at a time <b>bold?</b>")
    page.get_by_label("Description").fill(
        "Closes #1\n\n<script>alert('body')</script>\n\n[click](javascript:alert('j')) **kept**"
    )
    page.get_by_role("button", name="Open pull request").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("One page at a time <b>bold?</b>")
    expect(page.locator(".pull-description strong")).to_have_text("kept")
    assert page.locator("main script, main img").count() == 0
    expect(page.locator(".diff-path").filter(has_text="onerror")).to_have_text(HOSTILE_PATH)
    expect(page.locator("tr.diff-del").first).to_contain_text("removed:")  # words, not colour alone
    check("detail")
    page.get_by_role("button", name="Edit").click()
    check("edit")
    page.goto(live_server.url + reverse("pull_list", args=[created.link_token]))
    check("list")

    # The reviewer's page of the same pull requests.
    sign_in(page, live_server.url, reviewer.username)
    page.goto(live_server.url + reverse("invite_pulls_review", args=[created.invite.public_id]))
    expect(page.get_by_role("heading", level=2)).to_contain_text("One page at a time")
    check("reviewer")
    assert dialogs == []
    context.close()
