"""The whole path in a real browser, against the portal under gunicorn with a real worker and a real
SMTP server: the recruiter invites from the dashboard, the candidate opens the emailed link, clones
with stock git, pushes a fix on issue-2, opens a pull request that closes #2 and submits; the
recruiter then sees the stage move and the score.

Every page is saved as a screenshot at desktop and phone widths under var/screenshots/full-flow/
(an ignored folder), for a person to look at.
"""

import re
from email.message import Message

import pytest
from django.db import connection
from playwright.sync_api import expect

from portal.scoring.models import Run
from tests.conftest import ROOT
from tests.support.browser import DESKTOP, Screenshots, sign_in
from tests.support.git import GitClient, remote_url
from tests.support.workers import database_url, running_worker, wait_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def mail_worker(portal_server, smtp_inbox, tmp_path):
    """A real worker that sends mail through the test's SMTP server and links to the test's portal."""
    env = {"EMAIL_HOST": smtp_inbox.host, "EMAIL_PORT": str(smtp_inbox.port), "PORTAL_BASE_URL": portal_server.url}
    with running_worker(db_url=database_url(connection.settings_dict), log_dir=tmp_path, env=env) as worker:
        yield worker


def _text_part(message: Message) -> str:
    for part in message.walk():
        if part.get_content_type() == "text/plain":
            return part.get_payload(decode=True).decode(part.get_content_charset() or "utf-8")
    raise AssertionError("the message has no plain-text part")


def _messages_to(inbox, address: str) -> list[Message]:
    return [m for m in inbox.messages if address in m["To"]]


def test_invite_clone_push_pull_request_submit_and_score(
    browser, portal_server, mail_worker, smtp_inbox, recruiter, assessment_version, tmp_path
):
    shots = Screenshots("full-flow")
    url = portal_server.url
    staff = browser.new_context(viewport=DESKTOP)
    desk = staff.new_page()
    desk.set_default_timeout(20_000)

    # The recruiter signs in and invites a candidate from the dashboard.
    desk.goto(f"{url}/accounts/login/")
    shots.take(desk, "sign-in")
    sign_in(desk, url, recruiter.username)
    expect(desk.get_by_role("heading", name="Candidates", exact=True)).to_be_visible()
    shots.take(desk, "dashboard-empty")
    desk.get_by_role("button", name="Invite candidates").click()
    desk.get_by_label("Candidates, one per line").fill("Ann Example <ann@example.com>")
    shots.take(desk, "invite-form")
    desk.get_by_role("button", name="Invite", exact=True).click()
    row = desk.locator("tr", has_text="Ann Example")
    expect(row).to_contain_text("Invited")
    shots.take(desk, "dashboard-invited")

    # The invitation arrives by mail; its plain text reads well and holds the link.
    wait_for(lambda: _messages_to(smtp_inbox, "ann@example.com"), timeout=60, what="the invitation email")
    invitation = _messages_to(smtp_inbox, "ann@example.com")[0]
    text = _text_part(invitation)
    assert "Ann Example" in text and "Library lending API" in text
    assert "<" not in re.sub(r"<[^<>\s]+@[^<>\s]+>", "", text)  # no HTML tags in the text part
    link = re.search(rf"{re.escape(url)}/i/[A-Za-z0-9_-]+/", text).group(0)

    # The candidate opens the link in a browser of their own: instructions, tickets, credentials.
    candidate = browser.new_context(viewport=DESKTOP)
    cpage = candidate.new_page()
    cpage.set_default_timeout(20_000)
    cpage.goto(link)
    expect(cpage.get_by_role("heading", name="Library lending API", exact=True)).to_be_visible()
    expect(cpage.get_by_role("heading", name="Tickets", exact=True)).to_be_visible()
    shots.take(cpage, "candidate-page")
    clone_command = cpage.locator("pre code", has_text="git clone").first.inner_text()
    clone_url = clone_command.split()[-1]
    username = cpage.locator("dt:text-is('Username') + dd").inner_text().strip()
    password = cpage.locator("dt:text-is('Password') + dd").inner_text().strip()
    assert clone_url == f"{url}/git/{username}.git"

    # Stock git: clone, fix ticket 2 on its branch, push.
    git = GitClient(tmp_path / "home")
    work = tmp_path / "work"
    git.run("clone", "-q", remote_url(url, username, username, password), str(work))
    git.run("checkout", "-q", "-b", "issue-2", cwd=work)
    git.run("apply", str(ROOT / "assessment_app" / "reference" / "ticket-2.patch"), cwd=work)
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", "Fix: Resolve issue #2 - a missing book answers 404", cwd=work)
    pushed = git.run("push", "-q", "origin", "issue-2", cwd=work)
    assert pushed.returncode == 0

    # The page shows the push and its scoring, updated in place until it is done.
    cpage.reload()
    runs = cpage.locator("#runs")
    expect(runs).to_contain_text("issue-2")
    expect(runs.locator("tr", has_text="issue-2")).to_contain_text("scored", timeout=180_000)
    # The candidate's own tests run after the verdict: the row says "running", then updates itself.
    expect(runs.locator("tr", has_text="issue-2")).to_contain_text(re.compile(r"\d+ of \d+ pass"), timeout=180_000)
    shots.take(cpage, "candidate-pushed")

    # A pull request from issue-2 that closes ticket 2.
    cpage.get_by_role("link", name="open or edit your pull requests").click()
    cpage.get_by_label("Branch").select_option("issue-2")
    cpage.get_by_label("Title").fill("Answer 404 for a book that does not exist")
    cpage.get_by_label("Description").fill(
        "`get_book` raised on a missing row, so the routes' `None` check never ran.\n\n"
        "Use `db.get`, which returns `None`.\n\nCloses #2"
    )
    shots.take(cpage, "pull-request-form")
    cpage.get_by_role("button", name="Open pull request").click()
    expect(cpage.get_by_role("heading", name="Answer 404 for a book that does not exist")).to_be_visible()
    expect(cpage.locator("body")).to_contain_text("#2")
    expect(cpage.locator("body")).to_contain_text("Fix: Resolve issue #2")
    shots.take(cpage, "pull-request")

    # Submit: a confirmation, then the final state.
    cpage.goto(link)
    cpage.get_by_role("button", name="Submit your work").click()
    shots.take(cpage, "submit-confirm")
    cpage.get_by_role("button", name=re.compile("Submit", re.I)).click()
    expect(cpage.locator("body")).to_contain_text("your work is with the reviewers")
    shots.take(cpage, "candidate-submitted")
    late = git.run("push", "origin", "HEAD:refs/heads/issue-3", cwd=work, check=False)
    assert late.returncode != 0 and "pushes are closed" in late.stderr

    # The recruiter is told, and sees the stage move and the score.
    wait_for(lambda: _messages_to(smtp_inbox, recruiter.email), timeout=60, what="the submission notice")

    def scored() -> bool:
        desk.goto(f"{url}/recruiter/")
        return "Scored" in desk.locator("tr", has_text="Ann Example").inner_text()

    wait_for(scored, timeout=180, interval=2, what="the scored stage")
    row = desk.locator("tr", has_text="Ann Example")
    assert re.search(r"\b\d+ / \d+\b", row.inner_text())
    earned = int(re.search(r"\b(\d+) / \d+\b", row.inner_text()).group(1))
    assert earned > 0  # ticket 2's points
    assert Run.objects.filter(invite__candidate__email="ann@example.com", ref="refs/heads/issue-2").exists()
    shots.take(desk, "dashboard-scored")
    row.get_by_role("link", name="Ann Example").click()
    expect(desk.locator("body")).to_contain_text("Submitted")
    shots.take(desk, "candidate-detail")

    staff.close()
    candidate.close()
    assert shots.saved() == 2 * shots.count
