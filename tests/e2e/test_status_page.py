"""Staff on the status page in a real browser: a stuck run is listed with why, the list updates
itself, it fits a phone, and "Send again" hands the run to the workers under a new attempt.

Saved at desktop and phone widths under var/screenshots/status-page/ (ignored).
"""

import re
from datetime import timedelta

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from portal.scoring.models import Run
from tests.support.browser import PHONE, Screenshots, sign_in
from tests.support.candidates import candidate_commit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True),
]


def run_row(page, pk):
    """The in-flight table's row for run `pk` (its first cell starts with the number; other tables
    on the page, such as the workers', may hold the same digits)."""
    return page.locator("#runs-in-flight").get_by_role("row", name=re.compile(rf"^{pk} "))


def test_staff_see_a_stuck_run_and_send_it_again(browser, live_server, admin_user, invite, tmp_path):
    candidate_commit(invite, tmp_path / "work", branch="issue-1")
    run = Run.objects.get(invite=invite, commit=invite.repository.base_commit)
    # Handed to the workers five minutes ago while the broker was down: never taken.
    Run.objects.filter(pk=run.pk).update(sent_at=None, dispatched_at=timezone.now() - timedelta(minutes=5))
    shots = Screenshots("status-page")
    page = browser.new_page()
    sign_in(page, live_server.url, admin_user.username)
    page.goto(f"{live_server.url}/status/")
    row = run_row(page, run.pk)
    expect(row).to_contain_text("the broker did not take its task when it was handed over")
    expect(row).to_contain_text("Ann Example")
    shots.take(page, "stuck-run")

    # Phone-sized: the page itself never scrolls sideways (the table scrolls in its own box).
    page.set_viewport_size(PHONE)
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")

    # The list updates itself: a run that turns up stuck appears without a reload.
    other = Run.objects.filter(invite=invite).exclude(pk=run.pk).get()
    Run.objects.filter(pk=other.pk).update(queued_at=timezone.now() - timedelta(minutes=10))
    expect(run_row(page, other.pk)).to_contain_text("waiting for its turn", timeout=15_000)

    page.get_by_role("button", name=f"Send run {run.pk} again").click()
    expect(page.get_by_text(f"Run {run.pk} (refs/heads/main) was sent to the workers again.")).to_be_visible()
    assert Run.objects.get(pk=run.pk).attempt == 2
    shots.take(page, "sent-again")
    assert shots.saved() == 4
