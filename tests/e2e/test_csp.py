"""The Content-Security-Policy in a real browser: pages of the three workspaces (the report with
diff.js posting a comment, pages polling with htmx, copy buttons, the admin) run under it without
one violation, and the policy does block what it is meant to (an inline script without the nonce)."""

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from portal.hosting.pulls import pull_open
from portal.invites.services import invite_submit
from tests.support.browser import sign_in
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, push_branches, store_verdicts
from tests.support.second_factor import confirmed_device

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(300),
    pytest.mark.django_db(transaction=True),
]

PAGES = "app/pages.py"

# Registered in every document before its own scripts: what the browser reports as refused.
LISTEN = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  const where = `${event.sourceFile}:${event.lineNumber}`;
  window.__violations.push(`${event.violatedDirective} refused ${event.blockedURI || "inline"} (${where})`);
});
"""


class Watched:
    """A page whose console messages and securitypolicyviolation events are collected."""

    def __init__(self, browser, base: str):
        self.context = browser.new_context(viewport={"width": 1280, "height": 800})
        self.context.add_init_script(LISTEN)
        self.page = self.context.new_page()
        self.page.set_default_timeout(20_000)
        self.base = base
        self.console: list[str] = []
        self.page.on("console", lambda message: self.console.append(f"{message.type}: {message.text}"))
        self.problems: list[str] = []

    def visit(self, name: str, path: str, *, wait_ms: int = 0) -> None:
        response = self.page.goto(self.base + path)
        assert response is not None and response.status < 400, f"{name}: {response and response.status}"
        assert "default-src 'self'" in response.headers["content-security-policy"], name
        self.page.wait_for_load_state("networkidle")
        if wait_ms:
            self.page.wait_for_timeout(wait_ms)  # let htmx poll at least once
        self.collect(name)

    def collect(self, name: str) -> None:
        self.problems += [f"{name}: {found}" for found in self.page.evaluate("window.__violations || []")]
        self.problems += [f"{name}: console {line}" for line in self.console if "Content Security Policy" in line]
        self.console.clear()
        self.page.evaluate("window.__violations = []")


@pytest.fixture
def working(assessment_version):
    """A candidate at work: two pushed branches whose runs are still queued (pages poll), a pull request."""
    created = make_invite(assessment_version, name="Ann Example")
    push_branches(created.invite, 2)
    pull_open(invite=created.invite, branch="issue-1", title="Fix: Resolve issue #1 - pages", description="Closes #1")
    return created


@pytest.fixture
def submitted(assessment_version, tmp_path):
    """A submitted candidate whose issue-1 changes a file: the report's diffs take comments (diff.js)."""
    invite = make_invite(assessment_version, name="Bea Example", email="bea@example.com").invite
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-1",
        changes={PAGES: "PAGE_SIZE = 10\n\n\ndef page(items, number):\n    return items[(number - 1) * PAGE_SIZE :]\n"},
        message="Fix: Resolve issue #1 - one page at a time",
    )
    store_verdicts(invite, passing=frozenset({1}))
    return invite_submit(invite=invite)


def test_the_reviewers_and_recruiters_pages_run_under_the_policy(
    browser, live_server, recruiter_and_reviewer, working, submitted
):
    watched = Watched(browser, live_server.url)
    sign_in(watched.page, live_server.url, recruiter_and_reviewer.username)
    watched.collect("sign-in")
    working_id = working.invite.public_id
    watched.visit("dashboard", reverse("recruiter_dashboard"), wait_ms=500)
    watched.visit("invite detail (copy button, polling)", reverse("recruiter_invite_detail", args=[working_id]))
    watched.visit("report while runs are queued (polling)", reverse("invite_result", args=[working_id]), wait_ms=3500)
    watched.visit("import", reverse("recruiter_import"))
    watched.visit("insights", reverse("recruiter_insights"))
    watched.visit("queue", reverse("review_queue"))
    watched.visit("review form", reverse("review_form", args=[submitted.public_id]))
    watched.visit("printed report", reverse("invite_report_print", args=[submitted.public_id]))

    # The report's diffs: diff.js opens the form, posts the comment in the background, shows it.
    page = watched.page
    watched.visit("report with diffs (diff.js)", reverse("invite_result", args=[submitted.public_id]) + "#diffs")
    assert page.locator("script[src$='portal/diff.js']").count() == 1
    changes = page.locator("#diffs")
    line = changes.locator("tr", has=page.locator("summary", has_text=f"Comment on {PAGES} line 1"))
    line.hover()
    line.locator("summary").click()
    row = line.locator("xpath=following-sibling::tr[1]")
    textarea = row.get_by_label(f"Comment on {PAGES} line 1")
    expect(textarea).to_be_focused()  # diff.js ran
    page.evaluate("window.notReloaded = true")
    textarea.fill("Why ten?")
    row.get_by_role("button", name="Comment", exact=True).click()
    expect(line.locator("xpath=following-sibling::tr[1]").locator(".review-comment")).to_have_count(1)
    assert page.evaluate("window.notReloaded") is True  # posted by diff.js, not by a reload
    watched.collect("comment posted by diff.js")

    assert not watched.problems, "\n".join(watched.problems)


def test_the_candidates_pages_run_under_the_policy(browser, live_server, working, assessment_version):
    fresh = make_invite(assessment_version, name="Cy Example")
    watched = Watched(browser, live_server.url)
    token = working.link_token
    watched.visit("before the start", reverse("invite_page", args=[fresh.link_token]))
    watched.visit("working (copy buttons, polling)", reverse("invite_page", args=[token]), wait_ms=5500)
    copy = watched.page.locator(".copy-button").first
    expect(copy).to_be_visible()  # copy.js ran and showed it
    watched.context.grant_permissions(["clipboard-read", "clipboard-write"])
    copy.click()
    expect(copy).to_have_text("Copied")
    watched.collect("copy button")
    watched.visit("submit", reverse("invite_submit", args=[token]))
    watched.visit("pull requests", reverse("pull_list", args=[token]))
    watched.visit("pull request", reverse("pull_detail", args=[token, 1]))
    assert not watched.problems, "\n".join(watched.problems)


def test_staff_and_signed_out_pages_run_under_the_policy(browser, live_server, admin_user):
    watched = Watched(browser, live_server.url)
    watched.visit("sign in", reverse("login"))
    watched.visit("password reset", reverse("password_reset"))
    confirmed_device(admin_user)  # the code page, not the first sign-in's enrolment
    sign_in(watched.page, live_server.url, admin_user.username)
    watched.collect("second factor")
    watched.visit("status (polling)", reverse("system_status"))
    watched.visit("admin", reverse("admin:index"))
    watched.visit("admin users", reverse("admin:accounts_user_changelist"))
    assert not watched.problems, "\n".join(watched.problems)


def test_an_inline_script_without_the_nonce_is_refused_and_reported(browser, live_server):
    watched = Watched(browser, live_server.url)
    watched.visit("sign in", reverse("login"))
    watched.page.evaluate(
        """() => {
            const script = document.createElement("script");
            script.textContent = "window.__ran = true";
            document.head.append(script);
            const styled = document.createElement("p");
            styled.setAttribute("style", "color: red");
            document.body.append(styled);
        }"""
    )
    watched.page.wait_for_timeout(200)
    assert watched.page.evaluate("window.__ran === undefined")
    violations = watched.page.evaluate("window.__violations")
    assert any(v.startswith("script-src") for v in violations), violations
    assert any(v.startswith("style-src") for v in violations), violations
