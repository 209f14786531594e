"""Every page of the three workspaces, in a real browser, at 1280 and 390 px: none scrolls sideways
at either width, and axe-core finds no serious or critical violation on any of them.

The data is a living pipeline: the demo candidates at every stage, one candidate still working
(a pushed branch, a pull request) and one whose work was scored, reviewed and given feedback.
Results are stored rather than scored (this test is about the pages, not the sandbox).

Screenshots of every page at both widths are saved under var/screenshots/every-page/, which CI
keeps as an artifact: look at them.
"""

import pytest
from django.urls import reverse

from portal.accounts.api_tokens import integration_token_create, personal_token_create
from portal.accounts.roles import RECRUITER
from portal.hosting.pulls import pull_open
from portal.invites.services import invite_submit
from portal.reviews.services import feedback_release, review_save
from portal.web.demo import demo_pipeline_seed
from portal.webhooks.models import EVENT_TYPE_NAMES
from portal.webhooks.services import endpoint_create, endpoint_test_send
from tests.support.browser import DESKTOP, PHONE, Screenshots, axe_violations, overflow, sign_in
from tests.support.factories import make_invite, push_branches, store_verdicts

# A public address (no name to resolve), long enough to wrap at 390 px.
HOOK_URL = "https://93.184.215.14/assessment-portal/webhooks/receiver?source=portal"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.integration,
    pytest.mark.timeout(600),
    pytest.mark.django_db(transaction=True),
]


@pytest.fixture
def pipeline(assessment_version, recruiter_and_reviewer):
    """The demo pipeline, plus a candidate at work and one whose feedback was released."""
    demo = {c.stage: c for c in demo_pipeline_seed(version=assessment_version, created_by=recruiter_and_reviewer)}

    working = make_invite(assessment_version, name="Ann Example")
    push_branches(working.invite, 2)  # issue-2 has no pull request: the list's form offers it
    store_verdicts(working.invite, passing=frozenset({1}))
    pull_open(
        invite=working.invite,
        branch="issue-1",
        title="Fix: Resolve issue #1 - pages",
        description="Closes #1\n\nPages stop overlapping: `offset` counts from the first page.",
    )

    done = make_invite(assessment_version, name="Bea Example")
    push_branches(done.invite, 2)
    store_verdicts(done.invite, passing=frozenset({1, 2}))
    submitted = invite_submit(invite=done.invite)
    review_save(
        invite=submitted,
        reviewer=recruiter_and_reviewer,
        scores={},
        comments={},
        recommendation="",
        summary="A clear fix of #1 and #2.",
        submit=False,
    )
    feedback_release(invite=submitted, by=recruiter_and_reviewer, summary="Clear, small commits; well done.")
    return {"demo": demo, "working": working, "done": done}


def _check(page, base: str, pages: dict[str, str], flow: str) -> list[str]:
    """Visit each page (name -> path) at both widths: what overflows or fails axe, one line each.

    Screenshots are named after the page, never its address (which holds links' secrets).
    """
    shots = Screenshots(flow)
    problems = []
    for name, path in pages.items():
        for label, viewport in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(viewport)
            response = page.goto(base + path)
            assert response is not None and response.status < 400, f"{path}: {response and response.status}"
            page.wait_for_load_state("networkidle")
            wide = overflow(page)
            if wide:
                problems.append(f"{name} at {label}: {wide} px wider than the window")
            problems += [f"{name} at {label}: {found}" for found in axe_violations(page)]
        shots.take(page, name)
    assert shots.saved() == 2 * len(pages)
    return problems


def test_every_recruiter_page_fits_a_phone_and_passes_axe(page, live_server, pipeline, recruiter_and_reviewer):
    personal_token_create(user=recruiter_and_reviewer, name="Weekly export", scope="write")
    sign_in(page, live_server.url, recruiter_and_reviewer.username)
    demo = pipeline["demo"]
    details = {f"invite-{stage}": reverse("recruiter_invite_detail", args=[demo[stage].public_id]) for stage in demo}
    details["invite-feedback-released"] = reverse("recruiter_invite_detail", args=[pipeline["done"].invite.public_id])
    pages = {
        "dashboard": reverse("recruiter_dashboard"),
        "dashboard-pushed-by-name": reverse("recruiter_dashboard") + "?stage=pushed&sort=name",
        "invite-form": reverse("recruiter_invite"),
        "import": reverse("recruiter_import"),
        "insights": reverse("recruiter_insights"),
        "api-tokens": reverse("api_tokens"),
        **details,
    }
    problems = _check(page, live_server.url, pages, "every-page-recruiter")
    assert not problems, "\n".join(problems)


def test_every_reviewer_page_fits_a_phone_and_passes_axe(page, live_server, pipeline, recruiter_and_reviewer):
    sign_in(page, live_server.url, recruiter_and_reviewer.username)
    pages = {"queue": reverse("review_queue"), "calibration": reverse("review_calibration")}
    for state in ("working", "done"):
        public_id = pipeline[state].invite.public_id
        pages |= {
            f"report-{state}": reverse("invite_result", args=[public_id]),
            f"review-{state}": reverse("review_form", args=[public_id]),
            f"printed-report-{state}": reverse("invite_report_print", args=[public_id]),
            f"pull-requests-{state}": reverse("invite_pulls_review", args=[public_id]),
        }
    problems = _check(page, live_server.url, pages, "every-page-reviewer")
    assert not problems, "\n".join(problems)


def test_every_candidate_page_fits_a_phone_and_passes_axe(page, live_server, pipeline, assessment_version):
    fresh = make_invite(assessment_version, name="Cy Example")
    working, done = pipeline["working"].link_token, pipeline["done"].link_token
    pages = {
        "before-the-start": reverse("invite_page", args=[fresh.link_token]),
        "working": reverse("invite_page", args=[working]),
        "submit": reverse("invite_submit", args=[working]),
        "pull-requests": reverse("pull_list", args=[working]),
        "pull-request": reverse("pull_detail", args=[working, 1]),
        "pull-request-edit": reverse("pull_edit", args=[working, 1]),
        "feedback-released": reverse("invite_page", args=[done]),
        "pull-requests-closed": reverse("pull_list", args=[done]),
    }
    problems = _check(page, live_server.url, pages, "every-page-candidate")
    assert not problems, "\n".join(problems)


def test_sign_in_account_and_status_pages_fit_a_phone_and_pass_axe(page, live_server, admin_user, db):
    integration_token_create(name="Applicant tracking", permissions=[RECRUITER.permission], by=admin_user)
    personal_token_create(user=admin_user, name="Status checks")
    hook = endpoint_create(url=HOOK_URL, event_types=EVENT_TYPE_NAMES, description="Applicant tracking", by=admin_user)
    delivery = endpoint_test_send(endpoint=hook, by=admin_user)
    problems = _check(
        page,
        live_server.url,
        {"sign-in": reverse("login"), "password-reset": reverse("password_reset")},
        "every-page-signed-out",
    )
    sign_in(page, live_server.url, admin_user.username)
    problems += _check(
        page,
        live_server.url,
        {
            "home": reverse("home"),
            "password-change": reverse("password_change"),
            "status": reverse("system_status"),
            "integrations": reverse("api_integrations"),
            "webhooks": reverse("webhook_endpoints"),
            "webhook-new": reverse("webhook_endpoint_new"),
            "webhook-endpoint": reverse("webhook_endpoint", args=[hook.pk]),
            "webhook-delivery": reverse("webhook_delivery", args=[hook.pk, delivery.pk]),
            "webhook-delete": reverse("webhook_endpoint_delete", args=[hook.pk]),
        },
        "every-page-staff",
    )
    assert not problems, "\n".join(problems)
