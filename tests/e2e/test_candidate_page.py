"""The candidate's page shows each push's scoring state and updates it without a reload."""

import pytest
from playwright.sync_api import expect

from portal.invites.services import candidate_get_or_create, invite_create
from portal.scoring.models import Run
from portal.scoring.services import run_execute

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(180)]


def test_the_scoring_state_turns_from_queued_to_done_without_a_reload(page, live_server, assessment_version):
    candidate = candidate_get_or_create(name="Ann Example", email="ann@example.com")
    created = invite_create(candidate=candidate, assessment_version=assessment_version)
    page.goto(f"{live_server.url}/i/{created.link_token}/")
    expect(page.get_by_role("heading", name="Library lending API")).to_be_visible()
    cell = page.locator("#runs td").nth(2)
    expect(cell).to_have_text("queued")
    page.evaluate("window.__marker = 'same page'")
    run_execute(run_id=Run.objects.get(invite=created.invite).pk)
    expect(cell).to_have_text("done", timeout=20_000)
    assert page.evaluate("window.__marker") == "same page"  # updated in place, not reloaded
    expect(page.locator("#runs")).not_to_contain_text("failed")  # the state only, never the results
