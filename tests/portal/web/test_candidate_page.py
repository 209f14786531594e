"""The candidate's page: the instructions, the time left, how the work is judged, and submitting."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from portal.assessments.services import version_manifest
from portal.hosting.models import AuthFailure
from portal.hosting.services import auth_failure_record, link_guessing_wait
from portal.invites.models import Event, Invite
from portal.invites.services import invite_revoke, invite_submit
from portal.reviews.services import feedback_release
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite
from tests.support.git import GitClient, remote_url


def _page(client, created, **extra) -> str:
    response = client.get(reverse("invite_page", args=[created.link_token]), **extra)
    assert response.status_code == 200
    return response.content.decode()


def _without_csrf(response) -> str:
    return re.sub(r'"X-CSRFToken": "[^"]*"', "", response.content.decode())


def _set(invite: Invite, **fields) -> None:
    Invite.objects.filter(pk=invite.pk).update(**fields)


def test_it_shows_the_readme_and_the_tickets_rendered_from_markdown(client, created):
    html = _page(client, created)
    assert "<h1>Open tickets</h1>" in html
    assert "<h2>#1 Catalogue pages overlap: each page shows one book too many</h2>" in html
    assert "<strong>Reported by:</strong>" in html
    assert "<table>" in html  # the README's endpoint table
    assert "## #1" not in html


def test_it_shows_each_ticket_with_its_points_and_how_the_work_is_judged(client, created):
    html = _page(client, created)
    for ticket in version_manifest(created.invite.assessment_version).tickets:
        row = f"<td>#{ticket.number} {escape(ticket.title)}</td><td><code>issue-{ticket.number}</code></td>"
        assert f"{row}<td>{ticket.points}</td>" in html
    assert "Hidden tests, run on that branch, decide whether the ticket is fixed" in html
    assert "Reviewers also read your commits, branches and pull requests" in html


def test_it_shows_the_days_and_hours_left_before_the_deadline(client, created):
    _set(created.invite, deadline=timezone.now() + timedelta(days=2, hours=3, minutes=5))
    html = _page(client, created)
    assert "2 days 3 hours left" in html
    assert reverse("invite_submit", args=[created.link_token]) in html


def test_in_the_last_hour_it_counts_the_minutes(client, created):
    _set(created.invite, deadline=timezone.now() + timedelta(minutes=40, seconds=30))
    assert "closes in 40 minutes" in _page(client, created)


def test_a_time_limit_not_started_says_how_long_and_offers_start(client, created):
    _set(created.invite, time_limit=timedelta(hours=3))
    html = _page(client, created)
    assert "You will have <strong>3 hours</strong> from the moment you start." in html
    assert reverse("invite_start", args=[created.link_token]) in html
    assert "left</strong>" not in html


def test_a_started_time_limit_counts_down_from_the_first_clone(client, created):
    _set(created.invite, time_limit=timedelta(hours=3), started_at=timezone.now() - timedelta(minutes=30, seconds=5))
    html = _page(client, created)
    assert "2 hours 29 minutes left" in html
    assert "from the moment you start" not in html
    assert reverse("invite_start", args=[created.link_token]) not in html


def test_after_the_deadline_it_says_time_is_over_and_the_last_pushes_are_reviewed(client, created):
    _set(created.invite, deadline=timezone.now() - timedelta(minutes=1))
    html = _page(client, created)
    assert "Time is over: pushes closed at" in html
    assert "Your last pushes are what the reviewers will see" in html
    assert reverse("invite_submit", args=[created.link_token]) not in html


def test_the_confirmation_says_what_submitting_means_and_lists_the_pushed_branches(client, created, tmp_path):
    candidate_commit(created.invite, tmp_path / "work", branch="issue-2")
    response = client.get(reverse("invite_submit", args=[created.link_token]))
    html = response.content.decode()
    assert response.status_code == 200
    assert "the portal refuses any push afterwards" in html
    assert "<li><code>issue-2</code></li>" in html
    assert 'name="csrfmiddlewaretoken"' in html
    created.invite.refresh_from_db()
    assert created.invite.status == Invite.Status.ACTIVE  # looking is not submitting


def test_submitting_needs_the_forms_csrf_token(created):
    client = Client(enforce_csrf_checks=True)
    response = client.post(reverse("invite_submit", args=[created.link_token]))
    assert response.status_code == 403
    created.invite.refresh_from_db()
    assert created.invite.status == Invite.Status.ACTIVE


def test_submitting_through_the_form_shows_the_final_state(created):
    client = Client(enforce_csrf_checks=True)
    url = reverse("invite_submit", args=[created.link_token])
    form = client.get(url)
    response = client.post(url, {"csrfmiddlewaretoken": form.context["csrf_token"]})
    assert response.status_code == 302
    assert response["Location"] == reverse("invite_page", args=[created.link_token])
    created.invite.refresh_from_db()
    assert created.invite.status == Invite.Status.SUBMITTED
    html = _page(client, created)
    assert "Submitted on" in html and "your work is with the reviewers" in html
    assert url not in html


def test_submitting_twice_records_nothing_new(client, created):
    url = reverse("invite_submit", args=[created.link_token])
    client.post(url)
    created.invite.refresh_from_db()
    first = created.invite.submitted_at
    response = client.post(url)
    assert response.status_code == 302
    assert client.get(url)["Location"] == reverse("invite_page", args=[created.link_token])
    created.invite.refresh_from_db()
    assert created.invite.submitted_at == first
    assert created.invite.events.filter(kind=Event.Kind.SUBMITTED).count() == 1


def test_a_revoked_invite_cannot_submit(client, created):
    invite_revoke(invite=created.invite)
    response = client.post(reverse("invite_submit", args=[created.link_token]))
    assert response.status_code == 404
    created.invite.refresh_from_db()
    assert created.invite.status == Invite.Status.REVOKED
    assert created.invite.submitted_at is None


def test_an_expired_invite_is_not_submitted_from_the_page(client, created):
    _set(created.invite, deadline=timezone.now() - timedelta(minutes=1))
    url = reverse("invite_submit", args=[created.link_token])
    assert client.get(url)["Location"] == reverse("invite_page", args=[created.link_token])
    client.post(url)
    created.invite.refresh_from_db()
    assert created.invite.status == Invite.Status.ACTIVE
    assert not created.invite.events.filter(kind=Event.Kind.SUBMITTED).exists()


def test_an_unknown_and_a_revoked_link_get_the_same_clear_page(client, created, assessment_version):
    revoked = make_invite(assessment_version)
    invite_revoke(invite=revoked.invite)
    unknown = client.get(reverse("invite_page", args=["x" * 43]))
    gone = client.get(reverse("invite_page", args=[revoked.link_token]))
    assert unknown.status_code == gone.status_code == 404
    assert "This invitation link is not valid" in unknown.content.decode()
    # The same bytes but for the per-response CSRF token in the page's header.
    assert _without_csrf(unknown) == _without_csrf(gone)


def test_an_address_guessing_links_gets_429_while_others_still_get_in(client, created, settings):
    settings.PORTAL_LINK_MAX_FAILURES_PER_ADDRESS = 3
    guesser = {"REMOTE_ADDR": "203.0.113.9"}
    for guess in range(3):
        assert client.get(reverse("invite_page", args=[f"guess-{guess}"]), **guesser).status_code == 404
    blocked = client.get(reverse("invite_page", args=["guess-4"]), **guesser)
    assert blocked.status_code == 429
    # Until the oldest of the failures that count leaves the window: just made, about all of it.
    assert settings.PORTAL_GIT_AUTH_WINDOW - 5 <= int(blocked["Retry-After"]) <= settings.PORTAL_GIT_AUTH_WINDOW
    assert client.get(reverse("invite_bundle", args=[created.link_token]), **guesser).status_code == 429
    assert "Hello Ann Example" in _page(client, created, REMOTE_ADDR="198.51.100.7")


def test_wrong_links_never_count_against_git_sign_ins_from_the_address(client, created, settings):
    settings.PORTAL_LINK_MAX_FAILURES_PER_ADDRESS = 3
    settings.PORTAL_GIT_AUTH_MAX_PER_ADDRESS = 2
    guesser = {"REMOTE_ADDR": "203.0.113.11"}
    for guess in range(3):
        client.get(reverse("invite_page", args=[f"guess-{guess}"]), **guesser)
    assert link_guessing_wait(address="203.0.113.11") is not None
    assert auth_failure_record(address="203.0.113.11", username="aaaaaaaaaaaaaaaa") is None


def test_wrong_links_from_long_ago_are_forgotten(client, created, settings):
    settings.PORTAL_LINK_MAX_FAILURES_PER_ADDRESS = 2
    guesser = {"REMOTE_ADDR": "203.0.113.10"}
    for guess in range(2):
        client.get(reverse("invite_page", args=[f"guess-{guess}"]), **guesser)
    AuthFailure.objects.update(at=timezone.now() - timedelta(seconds=settings.PORTAL_GIT_AUTH_WINDOW + 1))
    assert "Hello Ann Example" in _page(client, created, **guesser)


@pytest.mark.integration
@pytest.mark.timeout(180)
@pytest.mark.django_db(transaction=True)
def test_a_push_after_submitting_through_the_page_is_refused(client, created, portal_server, tmp_path):
    git = GitClient(tmp_path / "home")
    work = tmp_path / "work"
    url = remote_url(portal_server.url, created.invite.public_id, created.invite.public_id, created.git_token)
    git.run("clone", "-q", url, str(work))
    assert client.post(reverse("invite_submit", args=[created.link_token])).status_code == 302
    git.run("checkout", "-q", "-b", "issue-1", cwd=work)
    git.commit_file(work, "fix.txt", "late\n", "Fix: Resolve issue #1 - too late")
    result = git.run("push", "origin", "issue-1", cwd=work, check=False)
    assert result.returncode != 0
    assert "remote: refused: this assessment was submitted at" in result.stderr
    assert not created.invite.pushes.exists()


def test_the_service_and_the_page_agree_on_a_submitted_invite(client, created):
    invite_submit(invite=created.invite)
    html = _page(client, created)
    assert "your work is with the reviewers" in html


def test_it_shows_the_git_commands_for_a_ticket_with_the_folder_clone_makes(client, created):
    html = _page(client, created)
    assert f"cd {created.invite.public_id}" in html
    assert "git switch -c issue-2 main" in html
    assert 'git commit -m "Fix: Resolve issue #2 - what you changed"' in html
    assert "<code>Closes #2</code>" in html


def test_the_wait_for_links_counts_down_from_the_failures_that_count(client, created, settings):
    settings.PORTAL_LINK_MAX_FAILURES_PER_ADDRESS = 2
    guesser = {"REMOTE_ADDR": "203.0.113.12"}
    for guess in range(2):
        client.get(reverse("invite_page", args=[f"guess-{guess}"]), **guesser)
    half = timedelta(seconds=settings.PORTAL_GIT_AUTH_WINDOW // 2)
    AuthFailure.objects.filter(address="203.0.113.12").update(at=timezone.now() - half)
    blocked = client.get(reverse("invite_page", args=[created.link_token]), **guesser)
    assert blocked.status_code == 429
    assert abs(int(blocked["Retry-After"]) - settings.PORTAL_GIT_AUTH_WINDOW // 2) <= 5


# Layout: contents first, the code first, submitting last; where things stand at the top.


def test_the_contents_lead_to_every_section_in_order_get_the_code_first_and_submit_last(client, created):
    html = _page(client, created)
    start = html.index('<nav aria-labelledby="contents-heading"')
    contents = html[start : html.index("</nav>", start)]
    anchors = re.findall(r'<a href="#([a-z-]+)">', contents)
    assert anchors == [
        "code-heading",
        "local-heading",
        "judging-heading",
        "readme-heading",
        "tickets-heading",
        "pushes-heading",
        "pulls-heading",
        "submit-heading",
    ]
    positions = [html.index(f'id="{anchor}"') for anchor in anchors]
    assert positions == sorted(positions)  # the sections come in the contents' order
    assert html.index("contents-heading") < positions[0]
    assert html.index(reverse("invite_submit", args=[created.link_token])) > html.index('id="pulls-heading"')


def test_the_secrets_are_labelled_and_each_has_a_copy_button(client, created):
    html = _page(client, created)
    for field, label, value in (
        ("clone-url", "Clone URL", f"/git/{created.invite.public_id}.git"),
        ("git-user", "Username", created.invite.public_id),
        ("git-password", "Password", created.git_token),
    ):
        assert f'<dt id="{field}-label">{label}</dt>' in html
        assert re.search(rf'<code id="{field}">[^<]*{re.escape(value)}</code>', html)
        # Hidden until copy.js finds a clipboard to write to.
        assert (
            f'data-copy="{field}" aria-label="Copy the {label.lower().replace("clone url", "clone URL")}" hidden>'
            in html
        )
    assert "portal/copy.js" in html and "portal/candidate.css" in html


def test_the_runs_are_in_the_page_itself_not_loaded_after_it(client, created):
    html = _page(client, created)
    assert '<div id="runs"' in html and "Nothing pushed yet." in html and "Loading" not in html


def test_after_submitting_the_top_says_the_work_is_with_the_reviewers_and_offers_no_submit(client, created):
    invite_submit(invite=created.invite)
    html = _page(client, created)
    status = html[html.index('role="status"') : html.index("</article>")]
    assert "your work is with the reviewers" in status
    assert "Feedback is ready" not in html
    assert reverse("invite_submit", args=[created.link_token]) not in html


def test_released_feedback_is_announced_at_the_top_and_the_work_no_longer_with_the_reviewers(client, created, reviewer):
    invite_submit(invite=created.invite)
    created.invite.refresh_from_db()
    feedback_release(invite=created.invite, by=reviewer, summary="Well <b>argued</b> pull requests.")
    html = _page(client, created)
    status = html[html.index('role="status"') : html.index("</article>")]
    assert "Feedback is ready" in status and '<a href="#feedback-heading">read their feedback</a>' in status
    assert "with the reviewers" not in html
    assert html.index('id="feedback-heading"') < html.index('id="code-heading"')  # first, before the code
    assert "Well &lt;b&gt;argued&lt;/b&gt; pull requests." in html  # escaped


def test_it_says_how_to_run_the_project_on_the_candidates_computer(client, created):
    html = _page(client, created)
    assert '<h2 id="local-heading">Run it on your computer</h2>' in html
    assert "You need Python 3.11." in html
    assert "# installs the pinned dependencies\npip install -r requirements.txt" in html
    assert "# runs the tests\npython -m pytest" in html
    assert "DATABASE_URL" not in html.split('id="local-heading"')[1].split("</section>")[0]  # no service to find
