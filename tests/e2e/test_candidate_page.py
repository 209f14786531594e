"""The candidate's page shows each push's scoring state and updates it without a reload."""

import pytest
from playwright.sync_api import expect

from tests.support.candidates import candidate_commit
from tests.support.factories import score_all

pytestmark = [pytest.mark.browser, pytest.mark.integration, pytest.mark.timeout(180)]


def test_the_scoring_state_turns_from_queued_to_done_without_a_reload(page, live_server, created, tmp_path):
    candidate_commit(created.invite, tmp_path / "work", branch="issue-1")
    page.goto(f"{live_server.url}/i/{created.link_token}/")
    # exact: the rendered README below has a heading of its own that starts the same way.
    expect(page.get_by_role("heading", name="Library lending API", exact=True)).to_be_visible()
    cell = page.locator("#runs td").nth(2)  # the newest run: the pushed issue-1
    expect(page.locator("#runs td").first).to_have_text("issue-1")
    expect(cell).to_have_text("queued")
    page.evaluate("window.__marker = 'same page'")
    score_all(created.invite)
    expect(cell).to_have_text("scored", timeout=20_000)
    assert page.evaluate("window.__marker") == "same page"  # updated in place, not reloaded
    expect(page.locator("#runs")).not_to_contain_text("failed")  # the state only, never the results
