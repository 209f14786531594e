"""The reviewer's report and review page update by themselves while scoring is pending: the live
part asks for itself again (htmx) and its answer with nothing pending stops the polling. The
review page puts the evidence beside the rubric."""

from django.urls import reverse

from portal.invites.services import invite_submit
from portal.scoring.models import Run
from tests.support.factories import push_branches, store_verdicts

POLL = 'hx-trigger="every 4s"'


def test_the_report_polls_while_runs_are_pending_and_stops_when_scored(client, reviewer, invite):
    push_branches(invite, 1)  # its runs are queued
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    live_url = reverse("invite_result_live", args=[invite.public_id])
    assert POLL in page and f'hx-get="{live_url}?shown=none"' in page  # drawn before any analysis
    assert "this page updates by itself" in page

    # Still pending: the fragment carries its trigger on.
    fragment = client.get(live_url + "?shown=none").content.decode()
    assert fragment.lstrip().startswith('<div id="report-live"') and POLL in fragment
    assert "<html" not in fragment

    store_verdicts(invite, passing=frozenset({1}))
    fragment = client.get(live_url + "?shown=none").content.decode()
    assert POLL not in fragment and "hx-get" not in fragment.split(">", 1)[0]
    assert "fixes #1" in fragment  # the runs inside it, in the same words
    # The diffs on the page were drawn before the analysis: the last answer says to reload for them.
    assert "reload the page" in fragment


def test_a_report_with_nothing_pending_does_not_poll(client, reviewer, invite):
    push_branches(invite, 1)
    store_verdicts(invite)
    assert not Run.objects.filter(invite=invite, status__in=Run.ACTIVE).exists()
    client.force_login(reviewer)
    page = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
    assert POLL not in page and 'hx-trigger="every 3s"' not in page


def test_the_review_page_shows_the_evidence_beside_the_rubric(client, reviewer, invite):
    push_branches(invite, 2)
    store_verdicts(invite, passing=frozenset({1}))
    invite_submit(invite=invite)
    client.force_login(reviewer)
    page = client.get(reverse("review_form", args=[invite.public_id])).content.decode()
    split = page[page.index('class="review-split"') :]
    evidence, rubric = split.split('<aside class="review-rubric"', 1)
    for section in ('id="tickets"', 'id="why-tickets-fail"', 'id="timeline"', 'id="diffs"', 'id="pull-requests"'):
        assert section in evidence
    assert 'class="review-form"' in rubric and "Submit review" in rubric
    assert "portal/review.css" in page
