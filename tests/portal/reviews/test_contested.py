"""Deciding contested tickets from the report: the evidence side by side, confirm or overturn by a
reviewer of the assessment only, the decision shown with who, when and the note; the queue and the
reviews export count the points the same way. From stored results: no sandbox."""

import csv
import io

import pytest
from django.contrib.messages import get_messages
from django.core.exceptions import PermissionDenied
from django.urls import reverse

from portal.invites.services import invite_submit
from portal.reviews.contested import ContestError, contest_decide
from portal.reviews.selectors import review_queue
from portal.reviews.services import review_save
from portal.scoring.models import ContestDecision
from portal.scoring.selectors import invite_result
from tests.support.contested import HIDDEN, TICKET, contested_invite, push_again, visible_tests

from .conftest import full_review

pytestmark = pytest.mark.engines


@pytest.fixture
def contested(invite):
    """``invite`` with ticket 2 contested on issue-2 and ticket 1 fixed, submitted; with its heads."""
    heads = contested_invite(invite)
    return invite_submit(invite=invite), heads


def _decide(client, invite, **data):
    return client.post(reverse("contest_decide", args=[invite.public_id, TICKET]), data)


def _report(client, invite) -> str:
    response = client.get(reverse("invite_result", args=[invite.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def test_the_report_shows_the_evidence_side_by_side_and_the_points_held(client, reviewer, contested):
    invite, heads = contested
    client.force_login(reviewer)
    page = _report(client, invite)

    section = page[page.index('id="contested"') :]
    assert 'id="contested-2"' in section and "waiting for a decision" in section
    hidden, own = section.index("Hidden tests"), section.index("own tests for #2")
    assert hidden < own
    for test_id in HIDDEN:
        assert test_id.rsplit("::")[-1] in section[hidden:own]
    for test_id in visible_tests(invite):
        assert test_id in section[own:]
    assert f'name="head" value="{heads["issue-2"]}"' in section
    assert "15 points</strong> wait" in section  # held, and said so
    assert "<strong>15/100</strong>" in page
    assert "<strong>contested</strong> on issue-2" in page  # the matrix's verdict


def test_a_reviewer_confirms_and_the_report_says_who_when_and_why(client, reviewer, contested):
    invite, heads = contested
    client.force_login(reviewer)
    response = _decide(client, invite, head=heads["issue-2"], decision="confirmed", note="<b>real</b> fix")

    assert response.status_code == 302
    assert response["Location"].endswith("#contested-2")
    row = ContestDecision.objects.get()
    assert (row.ticket, row.commit, row.decision, row.decided_by, row.note) == (
        TICKET,
        heads["issue-2"],
        "confirmed",
        reviewer,
        "<b>real</b> fix",
    )
    page = _report(client, invite)
    assert "Confirmed by <strong>victor</strong>" in page
    assert "&lt;b&gt;real&lt;/b&gt; fix" in page and "<b>real</b>" not in page
    assert "<strong>30/100</strong>" in page


def test_an_overturn_zeroes_the_ticket(client, reviewer, contested):
    invite, heads = contested
    client.force_login(reviewer)
    _decide(client, invite, head=heads["issue-2"], decision="overturned")

    assert invite_result(invite=invite).total == 15
    assert "Overturned by <strong>victor</strong>" in _report(client, invite)


def test_only_reviewers_of_the_assessment_decide(client, recruiter, no_role_user, second_reviewer, reviewer, contested):
    invite, heads = contested
    data = {"head": heads["issue-2"], "decision": "confirmed"}
    assert _decide(client, invite, **data).status_code == 302  # anonymous: to the login page
    for user in (recruiter, no_role_user):
        client.force_login(user)
        assert _decide(client, invite, **data).status_code == 403
    # The assessment names its reviewers: wendy only.
    invite.assessment_version.assessment.reviewers.create(user=second_reviewer)
    client.force_login(reviewer)
    assert _decide(client, invite, **data).status_code == 403
    with pytest.raises(PermissionDenied, match="Only reviewers"):
        contest_decide(invite=invite, ticket=TICKET, head=heads["issue-2"], decision="confirmed", user=reviewer)
    assert not ContestDecision.objects.exists()
    assert invite_result(invite=invite).total == 15
    client.force_login(second_reviewer)
    assert _decide(client, invite, **data).status_code == 302
    assert invite_result(invite=invite).total == 30


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"decision": "maybe"}, "Choose to confirm or to overturn"),
        ({"decision": "confirmed", "note": "x" * 1001}, "longer than 1000 characters"),
        ({"decision": "confirmed", "head": "0" * 40}, "now contested on another commit of issue-2"),
    ],
)
def test_a_bad_decision_records_nothing_and_says_why(client, reviewer, contested, data, says):
    invite, heads = contested
    client.force_login(reviewer)
    response = _decide(client, invite, **{"head": heads["issue-2"], **data})

    assert response.status_code == 302
    assert any(says in str(message) for message in get_messages(response.wsgi_request))
    assert not ContestDecision.objects.exists()


def test_a_ticket_that_is_not_contested_cannot_be_decided(reviewer, contested):
    invite, heads = contested
    with pytest.raises(ContestError, match="#1 is not contested"):
        contest_decide(invite=invite, ticket=1, head=heads["issue-1"], decision="confirmed", user=reviewer)


def test_a_decision_made_before_a_new_push_does_not_carry_over(client, reviewer, contested):
    invite, heads = contested
    client.force_login(reviewer)
    _decide(client, invite, head=heads["issue-2"], decision="confirmed")
    new = push_again(invite, "issue-2")

    page = _report(client, invite)
    assert f'name="head" value="{new}"' in page and "waiting for a decision" in page
    assert "<strong>15/100</strong>" in page
    # A form still holding the earlier commit is refused.
    response = _decide(client, invite, head=heads["issue-2"], decision="confirmed")
    assert any("newer push" in str(message) for message in get_messages(response.wsgi_request))
    assert invite_result(invite=invite).total == 15


def test_the_queue_and_the_reviews_export_hold_the_contested_points(client, reviewer, recruiter, contested):
    invite, heads = contested
    review_save(invite=invite, reviewer=reviewer, **full_review())
    (item,) = review_queue(user=reviewer, view="all")
    assert (item.earned, item.possible) == (15, 100)

    client.force_login(recruiter)
    response = client.get(reverse("reviews_export"))
    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    (row,) = csv.DictReader(io.StringIO(text))
    assert (row["points earned"], row["points possible"], row["points contested"]) == ("15", "100", "15")

    contest_decide(invite=invite, ticket=TICKET, head=heads["issue-2"], decision="confirmed", user=reviewer)
    (item,) = review_queue(user=reviewer, view="all")
    assert item.earned == 30
