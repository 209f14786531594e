"""The recruiter's workspace in a real browser: every page fits 1280 and 390 px without sideways
scrolling and passes axe-core, and the dashboard and the invite page follow a run that finishes and
a candidate who moves on, without a reload.

Results are stored, not scored (these tests are about the pages). Screenshots at both widths are
saved under var/screenshots/recruiter-pages/ (CI keeps them): look at them.
"""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from portal.hosting.services import fetch_record
from portal.invites.models import Email
from portal.invites.services import invite_opened_record, invite_submit, invites_close_expired
from portal.web.demo import demo_pipeline_seed
from tests.support.browser import DESKTOP, PHONE, Screenshots, assert_accessible, overflow, sign_in
from tests.support.factories import make_invite, push_branches, store_verdicts

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.django_db(transaction=True),
]

# Polling runs every few seconds (portal.web.dashboard.LIVE_EVERY); what it brings must show within this.
LIVE_TIMEOUT = 20_000
CSV = b"name,email,time_limit_hours\nNia Imported,nia@example.com,3\nBad Row,not-an-email,\n"


def _fits_and_passes(page, where: str) -> None:
    for viewport in (DESKTOP, PHONE):
        page.set_viewport_size(viewport)
        assert overflow(page) == 0, f"{where} is {overflow(page)} px wider than a {viewport['width']} px window"
        assert_accessible(page)
    page.set_viewport_size(DESKTOP)


@pytest.fixture
def pipeline(assessment_version, recruiter):
    """The demo candidates at every stage, one scored, and one whose time ran out with nothing pushed."""
    demo = {c.stage: c for c in demo_pipeline_seed(version=assessment_version, created_by=recruiter)}
    scored = make_invite(assessment_version, name="Bea Scored-With-A-Long-Name", email="bea.long.address@example.com")
    push_branches(scored.invite, 2)
    store_verdicts(scored.invite, passing=frozenset({1, 2}))
    invite_submit(invite=scored.invite)
    Email.objects.create(
        invite=scored.invite,
        kind=Email.Kind.INVITATION,
        to=scored.invite.candidate.email,
        status=Email.Status.FAILED,
        error="SMTPRecipientsRefused: {'bea.long.address@example.com': (550, b'5.1.1 no such mailbox here')}",
    )
    invites_close_expired()  # the demo's expired candidate: submitted by the close task, still expired
    return {"demo": demo, "scored": scored.invite}


def test_every_recruiter_page_fits_a_phone_and_passes_axe(page, live_server, pipeline, recruiter, tmp_path):
    shots = Screenshots("recruiter-pages")
    sign_in(page, live_server.url, recruiter.username)
    base = live_server.url

    page.goto(base + reverse("recruiter_dashboard"))
    expect(page.locator("#pipeline-live")).to_contain_text("Bea Scored-With-A-Long-Name")
    # At a phone's width the filters stack at full width and each row is a card with name and stage.
    page.set_viewport_size(PHONE)
    search = page.get_by_label("Search")
    assert search.bounding_box()["width"] > 300
    card = page.locator("tr", has_text="Bea Scored-With-A-Long-Name")
    expect(card.locator(".stage")).to_be_visible()
    expect(card.locator(".stage")).to_have_text("Scored")
    _fits_and_passes(page, "the dashboard")
    shots.take(page, "dashboard")
    # Focus is visible: moving by keyboard onto a link outlines it.
    page.get_by_label("Sort by").focus()
    page.keyboard.press("Tab")
    page.keyboard.press("Tab")
    focused = page.evaluate("[document.activeElement.tagName, getComputedStyle(document.activeElement).outlineStyle]")
    assert focused == ["A", "solid"], focused

    page.goto(base + reverse("recruiter_dashboard") + "?stage=expired")
    expect(page.locator("#pipeline-live tbody tr")).to_have_count(1)
    _fits_and_passes(page, "the dashboard filtered")

    for name, stage in (("Bea Scored-With-A-Long-Name", "scored"), ("Jonas Weber", "expired")):
        page.goto(base + reverse("recruiter_dashboard"))
        page.get_by_role("link", name=name).click()
        expect(page.locator("#invite-status .stage")).to_have_attribute("data-stage", stage)
        _fits_and_passes(page, f"the invite page of {name}")
        shots.take(page, f"invite-{stage}")
    expect(page.locator("#invite-history")).to_contain_text("Nothing was pushed before time ran out")

    page.goto(base + reverse("recruiter_invite_detail", args=[pipeline["demo"]["pushed"].public_id]))
    _fits_and_passes(page, "the invite page of a candidate at work")

    page.goto(base + reverse("recruiter_invite"))
    _fits_and_passes(page, "the invite form")
    shots.take(page, "invite-form")
    page.get_by_label("Candidates, one per line").fill("Ola Linkonly <ola@example.com>")
    page.get_by_label("Email the invitations").uncheck()
    page.get_by_role("button", name="Invite", exact=True).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Invited 1 candidate")
    _fits_and_passes(page, "the links page")
    shots.take(page, "links")

    page.goto(base + reverse("recruiter_import"))
    _fits_and_passes(page, "the import form")
    upload = tmp_path / "candidates.csv"
    upload.write_bytes(CSV)
    page.get_by_label("CSV file").set_input_files(upload)
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_text("not-an-email").first).to_be_visible()
    _fits_and_passes(page, "the import preview")
    shots.take(page, "import-preview")

    page.goto(base + reverse("recruiter_insights"))
    _fits_and_passes(page, "the pictures")
    shots.take(page, "insights")
    assert shots.saved() == 14


def test_the_dashboard_and_the_invite_page_follow_the_pipeline_without_a_reload(
    page, live_server, assessment_version, recruiter
):
    working = make_invite(assessment_version, name="Ann Working").invite
    push_branches(working, 1)  # its runs are queued: the pages are waiting for them
    invite_submit(invite=working)
    opened = make_invite(assessment_version, name="Bo Opened").invite
    invite_opened_record(invite=opened)

    sign_in(page, live_server.url, recruiter.username)
    page.goto(live_server.url + reverse("recruiter_dashboard") + "?sort=name")
    page.evaluate("window.notReloaded = true")
    ann = page.locator("tr", has_text="Ann Working")
    bo = page.locator("tr", has_text="Bo Opened")
    expect(ann.locator(".stage")).to_have_text("Submitted")
    expect(bo.locator(".stage")).to_have_text("Opened")
    page.get_by_label("Search").fill("typed, not applied")

    # The run finishes and Bo clones: both rows and the counts change in place.
    store_verdicts(working)
    fetch_record(invite=opened, address="10.0.0.2")
    expect(ann.locator(".stage")).to_have_text("Scored", timeout=LIVE_TIMEOUT)
    expect(ann).to_contain_text("15 / 100")
    expect(bo.locator(".stage")).to_have_text("Cloned", timeout=LIVE_TIMEOUT)
    expect(page.locator('[data-stage="scored"] strong')).to_have_text("1")
    assert page.evaluate("window.notReloaded") is True
    expect(page.get_by_label("Search")).to_have_value("typed, not applied")

    # The invite page: Bo pushes, and the stage, result and timeline follow.
    page.goto(live_server.url + reverse("recruiter_invite_detail", args=[opened.public_id]))
    page.evaluate("window.notReloaded = true")
    expect(page.locator("#invite-status .stage")).to_have_text("Cloned")
    heads = push_branches(opened, 1)
    expect(page.locator("#invite-status .stage")).to_have_text("Pushed", timeout=LIVE_TIMEOUT)
    expect(page.locator("#invite-history .timeline")).to_contain_text(f"Pushed issue-1 ({heads['issue-1'][:7]})")
    expect(page.locator("#invite-history")).to_contain_text("Not scored yet: scoring is in progress.")
    store_verdicts(opened)
    invite_submit(invite=opened)
    expect(page.locator("#invite-status .stage")).to_have_text("Scored", timeout=LIVE_TIMEOUT)
    expect(page.locator("#invite-history")).to_contain_text("Score 15 / 100")
    # Nothing is pending any more: the page stops asking.
    expect(page.locator("#invite-status")).to_have_attribute("data-pending", "false")
    assert page.locator("#invite-status").get_attribute("hx-get") is None
    assert page.evaluate("window.notReloaded") is True
