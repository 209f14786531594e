"""The candidate's pushes: their own tests grouped by ticket, per-ticket verdicts where the assessment
shows them, a list that asks again while a push may come, and nothing redrawn when nothing changed."""

import re
from datetime import timedelta

from django.urls import reverse
from django.utils import timezone

from portal.assessments.models import Assessment
from portal.invites.models import Invite
from portal.invites.services import invite_submit
from portal.scoring.models import Run
from tests.support.factories import make_invite, push_branches, record_push
from tests.support.own_tests import store_own_tests, ticket_tests

BROKEN = "tests/test_members.py::test_member_can_be_created"


def _runs(client, created, **params):
    return client.get(reverse("invite_runs", args=[created.link_token]), params)


def _html(client, created) -> str:
    response = _runs(client, created)
    assert response.status_code == 200
    return response.content.decode()


def _row(html: str, branch: str) -> str:
    """The table row of the run of ``branch``."""
    start = html.index(f'<code class="branch">{branch}</code>')
    return html[html.rindex("<tr", 0, start) : html.index("</tr>", start)]


def _level(created, level: str) -> None:
    Assessment.objects.filter(pk=created.invite.assessment_version.assessment_id).update(candidate_results=level)


def test_a_push_on_a_tickets_branch_counts_that_tickets_tests_and_not_the_others_as_failures(client, created):
    push_branches(created.invite, 1)
    store_own_tests(created.invite, fixed=frozenset({1}))
    row = _row(_html(client, created), "issue-1")
    assert "Your tests for #1: 1 of 1 pass" in row
    assert "Other tickets: not worked on in this branch (their tests still fail, as shipped)." in row
    assert "Your other tests: 12 of 12 pass" in row
    # The other tickets' tests fail on this branch as shipped: none is listed as this push's failure.
    assert "Which tests fail" not in row
    for number, tests in ticket_tests(created.invite).items():
        assert number == 1 or not any(test_id in row for test_id in tests)
    assert "of 18 pass" not in row


def test_a_failing_test_of_the_branchs_ticket_and_a_broken_shipped_test_are_listed(client, created):
    push_branches(created.invite, 2)
    store_own_tests(created.invite, fixed=frozenset({1}), broken=(BROKEN,))
    row = _row(_html(client, created), "issue-2")
    assert "Your tests for #2: 0 of 1 pass" in row and 'class="tests-fail"' in row
    assert "Your other tests: 11 of 12 pass" in row
    listed = row[row.index("Which tests fail") :]
    (own,) = ticket_tests(created.invite)[2]
    assert f"#2: <code>{own}</code>" in listed and f"<code>{BROKEN}</code>" in listed
    assert ticket_tests(created.invite)[3][0] not in listed


def test_the_starting_point_and_a_branch_of_no_ticket_say_which_tickets_still_fail_as_shipped(client, created):
    push_branches(created.invite, 1)
    store_own_tests(created.invite, fixed=frozenset({1}))
    row = _row(_html(client, created), "main")
    assert "the starting point, as shipped" in row
    assert "Tests of #1, #2, #3, #4, #5 and #6: still failing, as shipped" in row
    assert "Your other tests: 12 of 12 pass" in row


def test_where_tickets_are_shown_each_run_says_what_it_fixes(client, created):
    _level(created, Assessment.CandidateResults.TICKETS)
    push_branches(created.invite, 2)
    store_own_tests(created.invite, fixed=frozenset({1}))
    html = _html(client, created)
    assert re.search(r'tone-pass">.*fixes #1</span>', _row(html, "issue-1"))
    # The fake verdicts pass #1 on every run: issue-2 says so after its own ticket, main says both.
    assert re.search(r'tone-fail">.*#2 still fails \(also fixes #1\)</span>', _row(html, "issue-2"))
    assert "fixes #1; #2, #3, #4, #5 and #6 still fail" in _row(html, "main")
    assert "refs/portal" not in html


def test_where_nothing_is_shown_only_the_state_is(client, created):
    _level(created, Assessment.CandidateResults.NOTHING)
    push_branches(created.invite, 1)
    store_own_tests(created.invite, fixed=frozenset({1}))
    html = _html(client, created)
    assert ">scored<" in html
    assert "pass" not in html and "#1" not in html
    assert "Scores are not shown while you work" in html


def test_the_portals_own_runs_and_refs_never_appear(client, created):
    push_branches(created.invite, 2)
    store_own_tests(created.invite)  # two ticket branches: the analysis queues and scores their merge
    assert Run.objects.filter(invite=created.invite, ref__startswith="refs/portal/").exists()
    html = _html(client, created)
    assert "refs/portal" not in html and "integrated" not in html
    assert html.count('<code class="branch">') == 3  # main, issue-1, issue-2


def test_the_list_asks_again_while_pushes_are_open_even_with_nothing_pushed(client, created):
    html = _html(client, created)
    assert "Nothing pushed yet." in html and 'hx-trigger="every 5s"' in html


def test_the_list_stops_asking_once_closed_with_nothing_pending(client, created):
    record_push(created.invite, [("0" * 40, created.invite.repository.base_commit, "refs/heads/issue-3")])
    invite_submit(invite=created.invite)
    html = _html(client, created)
    assert "queued" in html and 'hx-trigger="every 5s"' in html  # submitted, but a run is still to come
    Run.objects.filter(invite=created.invite).update(status=Run.Status.FAILED)
    html = _html(client, created)
    assert ">scored<" in html and "hx-trigger" not in html


def test_an_expired_invite_with_nothing_pushed_does_not_ask_again(client, created):
    Invite.objects.filter(pk=created.invite.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    html = _html(client, created)
    assert "Nothing pushed yet." in html and "hx-trigger" not in html
    assert "Each push appears here by itself" not in html


def test_an_unchanged_list_is_not_sent_again_and_a_changed_one_is(client, created):
    first = _html(client, created)
    state = first.split("?state=", 1)[1].split('"', 1)[0]
    unchanged = _runs(client, created, state=state)
    assert unchanged.status_code == 204 and unchanged.content == b""
    push_branches(created.invite, 1)
    changed = _runs(client, created, state=state)
    assert changed.status_code == 200 and "issue-1" in changed.content.decode()
    assert _runs(client, created, state="not-a-state").status_code == 200


def test_asking_again_costs_the_same_few_queries_at_any_number_of_pushes(
    client, created, assessment_version, django_assert_max_num_queries
):
    many = make_invite(assessment_version)
    push_branches(created.invite, 1)
    push_branches(many.invite, 12)
    for invite in (created.invite, many.invite):
        _level(created, Assessment.CandidateResults.TICKETS)  # the most a candidate may see: one more query
        store_own_tests(invite)
    counts = []
    for token in (created.link_token, many.link_token):
        with django_assert_max_num_queries(8) as queries:
            assert client.get(reverse("invite_runs", args=[token])).status_code == 200
        counts.append(len(queries.captured_queries))
    assert counts[0] == counts[1]


def test_a_wrong_link_gets_no_runs(client, created):
    assert client.get(reverse("invite_runs", args=["x" * 43])).status_code == 404
