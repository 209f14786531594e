"""Contested tickets: the hidden tests pass a ticket on its branch while the candidate's own test for it
fails on the same commit. Its points are held (score, dashboard, CSV) until a reviewer confirms them or
overturns them, on that commit only. From stored results: no sandbox."""

import csv
import io

import pytest
from django.urls import reverse

from portal.invites.services import invite_submit
from portal.pipeline.selectors import pipeline_row
from portal.reviews.contested import contest_decide
from portal.scoring.analysis import VISIBLE_HIDDEN_DISAGREE, analysis_update
from portal.scoring.models import ContestDecision, Run
from portal.scoring.selectors import invite_result
from portal.scoring.services import analysis_request
from tests.support.contested import HIDDEN, TICKET, contested_invite, push_again, visible_tests
from tests.support.factories import push_branches, store_verdicts

pytestmark = pytest.mark.engines

POINTS = 15  # ticket 2's; ticket 1 (15) passes without dispute


def _export(client, recruiter) -> dict:
    client.force_login(recruiter)
    response = client.get(reverse("recruiter_export"))
    text = b"".join(response.streaming_content).decode().removeprefix("\ufeff")
    (row,) = csv.DictReader(io.StringIO(text))
    return row


def _ticket(invite):
    return next(t for t in invite_result(invite=invite).tickets if t.number == TICKET)


def test_a_ticket_whose_own_test_fails_on_its_branch_is_contested_and_not_counted(client, recruiter, invite):
    heads = contested_invite(invite)
    result = invite_result(invite=invite)

    ticket = _ticket(invite)
    assert ticket.passed and ticket.earned == 0 and ticket.waiting
    assert (ticket.contested.branch, ticket.contested.head) == ("issue-2", heads["issue-2"])
    assert [(t.name, t.outcome) for t in ticket.contested.hidden] == [(h.rsplit("::")[-1], "passed") for h in HIDDEN]
    assert [(t.name, t.outcome) for t in ticket.contested.visible] == [(v, "failed") for v in visible_tests(invite)]
    assert (result.total, result.possible, result.contested_points) == (15, 100, POINTS)
    assert [f.ticket for f in result.disagreements] == [TICKET]  # the warning stays
    row = pipeline_row(public_id=invite.public_id)
    assert (row.earned, row.possible, row.contested) == (15, 100, POINTS)
    invite_submit(invite=invite)
    exported = _export(client, recruiter)
    assert (exported["points earned"], exported["percent"], exported["points contested"]) == ("15", "15.0", "15")
    assert (exported["ticket 1"], exported["ticket 2"]) == ("pass", "contested")


def test_confirming_counts_the_points_everywhere(client, recruiter, reviewer, invite):
    heads = contested_invite(invite)
    contest_decide(invite=invite, ticket=TICKET, head=heads["issue-2"], decision="confirmed", user=reviewer, note="ok")

    ticket = _ticket(invite)
    assert ticket.earned == POINTS and not ticket.waiting
    assert (ticket.contested.decision.by, ticket.contested.decision.note) == ("victor", "ok")
    assert (invite_result(invite=invite).total, invite_result(invite=invite).contested_points) == (30, 0)
    assert pipeline_row(public_id=invite.public_id).earned == 30
    exported = _export(client, recruiter)
    assert (exported["points earned"], exported["points contested"], exported["ticket 2"]) == ("30", "0", "pass")


def test_overturning_gives_no_points(client, recruiter, reviewer, invite):
    heads = contested_invite(invite)
    contest_decide(invite=invite, ticket=TICKET, head=heads["issue-2"], decision="overturned", user=reviewer)

    ticket = _ticket(invite)
    assert (ticket.earned, ticket.waiting, ticket.contested.decision.decision) == (0, False, "overturned")
    assert (invite_result(invite=invite).total, invite_result(invite=invite).contested_points) == (15, 0)
    assert pipeline_row(public_id=invite.public_id).earned == 15
    exported = _export(client, recruiter)
    assert (exported["points earned"], exported["points contested"], exported["ticket 2"]) == ("15", "0", "overturned")


def test_a_decision_survives_a_new_analysis_of_the_same_commit(reviewer, invite):
    heads = contested_invite(invite)
    contest_decide(invite=invite, ticket=TICKET, head=heads["issue-2"], decision="confirmed", user=reviewer)
    analysis_request(invite=invite)
    analysis_update(invite_id=invite.pk)

    assert _ticket(invite).contested.decision.decision == "confirmed"
    assert invite_result(invite=invite).total == 30


def test_a_new_push_on_the_branch_is_a_new_contest(reviewer, invite):
    heads = contested_invite(invite)
    contest_decide(invite=invite, ticket=TICKET, head=heads["issue-2"], decision="confirmed", user=reviewer)
    new = push_again(invite, "issue-2")

    ticket = _ticket(invite)
    assert (ticket.contested.head, ticket.contested.decision, ticket.earned) == (new, None, 0)
    assert invite_result(invite=invite).total == 15
    # The decision on the earlier commit is kept, and holds for that commit only.
    assert list(ContestDecision.objects.values_list("commit", "decision")) == [(heads["issue-2"], "confirmed")]


def test_a_push_that_agrees_with_the_own_tests_ends_the_contest(reviewer, invite):
    contested_invite(invite)
    push_again(invite, "issue-2", own_fails=False)
    assert _ticket(invite).contested is None
    assert invite_result(invite=invite).total == 30


def test_a_fully_correct_submission_has_no_contested_ticket_nor_warning(invite):
    heads = push_branches(invite, 6)
    for head in heads.values():
        Run.objects.filter(invite=invite, commit=head).update(visible={"passed": 21, "total": 21, "failed": []})
    store_verdicts(invite, passing=frozenset(range(1, 7)))
    result = invite_result(invite=invite)

    assert result.contested_tickets == []
    assert (result.total, result.possible, result.contested_points) == (100, 100, 0)
    assert [f for f in result.findings if f.kind == VISIBLE_HIDDEN_DISAGREE] == []
