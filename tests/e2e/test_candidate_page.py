"""The candidate's page in a browser: a push appears and is scored without a reload, every state of
the page fits a phone and passes axe-core, the secrets show in full and their Copy buttons copy."""

from datetime import timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from portal.invites.models import Invite
from portal.invites.services import invite_submit
from portal.reviews.services import feedback_release
from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.browser import DESKTOP, PHONE, Screenshots, assert_accessible, overflow
from tests.support.candidates import candidate_commit
from tests.support.factories import push_branches, score_commit
from tests.support.own_tests import store_own_tests

pytestmark = [pytest.mark.browser, pytest.mark.timeout(180)]


def _url(live_server, name: str, token: str) -> str:
    return live_server.url + reverse(name, args=[token])


def _fits_and_is_accessible(page, shots: Screenshots, name: str) -> None:
    """At both widths: nothing wider than the window, no serious axe-core violation; then screenshots."""
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert overflow(page) == 0, f"{name} is {overflow(page)} px too wide at {viewport['width']} px"
        assert_accessible(page)
    shots.take(page, name)


@pytest.mark.integration
def test_a_push_appears_on_the_open_page_and_turns_scored_without_a_reload(page, live_server, created, tmp_path):
    page.goto(_url(live_server, "invite_page", created.link_token))
    runs = page.locator("#runs")
    expect(runs).to_contain_text("Nothing pushed yet")
    page.evaluate("window.__marker = 'same page'")

    # A real git push of ticket 1's reference fix on its branch.
    fix = ROOT / "assessment_app" / "reference" / "ticket-1.patch"
    sha = candidate_commit(created.invite, tmp_path / "work", branch="issue-1", patch=fix)
    row = runs.locator("tr", has_text="issue-1")
    expect(row).to_contain_text("queued", timeout=15_000)  # the page asks every 5 s while pushes are open

    score_commit(created.invite, sha)  # what a worker does: the sandbox runs the hidden and visible tests
    expect(row.locator("td[data-label=Scoring]")).to_have_text("scored", timeout=15_000)
    expect(row).to_contain_text("Your tests for #1: 1 of 1 pass")
    expect(row).to_contain_text("Other tickets: not worked on in this branch (their tests still fail, as shipped)")
    expect(row).to_contain_text("Your other tests: 12 of 12 pass")
    expect(row).not_to_contain_text("Which tests fail")  # nothing of this push fails
    assert page.evaluate("window.__marker") == "same page"  # updated in place, never reloaded
    assert "refs/portal" not in runs.inner_text()


def test_every_state_of_the_candidates_pages_fits_a_phone_and_passes_axe(
    page, live_server, created, assessment_version, reviewer, settings
):
    shots = Screenshots("candidate-page")
    invite = created.invite
    token = created.link_token

    Invite.objects.filter(pk=invite.pk).update(time_limit=timedelta(hours=3))
    page.goto(_url(live_server, "invite_page", token))
    expect(page.get_by_role("button", name="Start: my 3 hours begin now")).to_be_visible()
    _fits_and_is_accessible(page, shots, "before-start")

    page.get_by_role("button", name="Start: my 3 hours begin now").click()
    expect(page.get_by_role("heading", name="Contents")).to_be_visible()
    _fits_and_is_accessible(page, shots, "started-nothing-pushed")

    push_branches(invite, 2)
    store_own_tests(invite, fixed=frozenset({1}), broken=("tests/test_members.py::test_member_can_be_created",))
    page.reload()
    expect(page.locator("#runs tr", has_text="issue-1")).to_contain_text("Your tests for #1: 1 of 1 pass")
    _fits_and_is_accessible(page, shots, "pushed")
    page.set_viewport_size(PHONE)
    for field, value in (("#clone-url", None), ("#git-user", invite.public_id), ("#git-password", created.git_token)):
        secret = page.locator(field)
        if value is not None:
            expect(secret).to_have_text(value)
        box = secret.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"], f"{field} leaves the screen"
        # Wrapped, not cut: the element is as wide as its text.
        assert secret.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{field} is cut off"
    assert page.locator("#clone-url").inner_text().endswith(f"/git/{invite.public_id}.git")

    page.goto(_url(live_server, "invite_submit", token))
    _fits_and_is_accessible(page, shots, "submit")

    invite_submit(invite=invite)
    page.goto(_url(live_server, "invite_page", token))
    expect(page.get_by_role("status")).to_contain_text("your work is with the reviewers")
    _fits_and_is_accessible(page, shots, "submitted")

    invite.refresh_from_db()
    feedback_release(invite=invite, by=reviewer, summary="Clear commits, and ticket 1 is well fixed.")
    page.reload()
    expect(page.get_by_role("status")).to_contain_text("Feedback is ready")
    expect(page.get_by_role("status")).not_to_contain_text("with the reviewers")
    page.get_by_role("status").get_by_role("link", name="read their feedback").click()
    expect(page.get_by_role("heading", name="Feedback from the reviewers")).to_be_in_viewport()
    _fits_and_is_accessible(page, shots, "feedback-ready")

    page.goto(_url(live_server, "invite_page", "x" * 43))
    expect(page.get_by_role("heading", name="This invitation link is not valid")).to_be_visible()
    _fits_and_is_accessible(page, shots, "link-invalid")

    settings.PORTAL_LINK_MAX_FAILURES_PER_ADDRESS = 1  # the wrong link above was one: this address waits
    page.goto(_url(live_server, "invite_page", token))
    expect(page.get_by_role("heading", name="Too many attempts")).to_be_visible()
    _fits_and_is_accessible(page, shots, "link-blocked")
    assert shots.saved() == 16


def test_the_copy_buttons_copy_the_clone_url_username_and_password(browser, live_server, created, settings):
    context = browser.new_context(viewport=PHONE, permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    page.goto(_url(live_server, "invite_page", created.link_token))
    expected = {
        "Copy the clone URL": f"{settings.PORTAL_BASE_URL}/git/{created.invite.public_id}.git",
        "Copy the username": created.invite.public_id,
        "Copy the password": created.git_token,
    }
    for name, value in expected.items():
        button = page.get_by_role("button", name=name)
        button.click()
        expect(button).to_have_text("Copied")
        assert page.evaluate("navigator.clipboard.readText()") == value
    # Each value is alone in its field, the Copy button beside it.
    assert page.locator("dt:text-is('Password') + dd").inner_text() == created.git_token
    # The field stays selectable by hand: its text is there to select.
    page.locator("#git-password").select_text()
    assert page.evaluate("window.getSelection().toString()") == created.git_token
    context.close()


def test_the_keyboard_focus_is_visible_on_the_contents_and_the_copy_buttons(page, live_server, created):
    page.goto(_url(live_server, "invite_page", created.link_token))
    seen = set()
    for _ in range(15):
        page.keyboard.press("Tab")
        focused = page.evaluate(
            """() => { const e = document.activeElement, s = getComputedStyle(e);
                const kind = e.closest('.contents') ? 'contents' : e.className;
                return [kind, s.outlineStyle, parseFloat(s.outlineWidth)]; }"""
        )
        kind, style, width = focused
        if kind == "contents" or "copy-button" in kind:
            assert style != "none" and width >= 2, f"{kind}: no visible focus ({style} {width}px)"
            seen.add("contents" if kind == "contents" else "copy")
    assert seen == {"contents", "copy"}


@pytest.mark.integration
def test_the_candidates_own_tests_show_running_after_the_verdict_then_update_without_a_reload(
    page, live_server, created, tmp_path
):
    fix = ROOT / "assessment_app" / "reference" / "ticket-1.patch"
    sha = candidate_commit(created.invite, tmp_path / "work", branch="issue-1", patch=fix)
    run = score_commit(created.invite, sha)
    done = run.visible
    # As a worker leaves it between the verdict and the candidate's own tests.
    Run.objects.filter(pk=run.pk).update(visible={"state": "pending", "worker": "w@host", "since": 0})

    page.goto(_url(live_server, "invite_page", created.link_token))
    row = page.locator("#runs tr", has_text="issue-1")
    expect(row.locator("td[data-label=Scoring]")).to_have_text("scored")
    expect(row).to_contain_text("running")
    page.evaluate("window.__marker = 'same page'")
    _fits_and_is_accessible(page, Screenshots("candidate-own-tests"), "own-tests-running")

    Run.objects.filter(pk=run.pk).update(visible=done)
    expect(row).to_contain_text("Your tests for #1: 1 of 1 pass", timeout=15_000)  # asked again every 5 s
    assert page.evaluate("window.__marker") == "same page"
