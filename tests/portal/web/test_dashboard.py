"""The recruiter dashboard: each invite's stage, score and deadline; filters, search, sort, pages."""

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from portal.hosting.services import fetch_record
from portal.invites.models import Candidate, Event, Invite
from portal.invites.services import event_record, invite_opened_record, invite_revoke, invite_submit
from portal.pipeline.selectors import PIPELINE_PAGE_SIZE
from tests.support.factories import make_invite, push_branches, store_verdicts

pytestmark = pytest.mark.engines

URL = reverse("recruiter_dashboard")


def _invite(version, name="Ann Example", **fields) -> Invite:
    return make_invite(version, name=name, **fields).invite


def _opened(invite):
    invite_opened_record(invite=invite)
    return invite


def _cloned(invite):
    fetch_record(invite=_opened(invite), address="127.0.0.1")
    return invite


def _pushed(invite):
    push_branches(_cloned(invite), 1)
    return invite


def _submitted(invite):
    return invite_submit(invite=_pushed(invite))


def _scored(invite):
    store_verdicts(_pushed(invite))
    return invite_submit(invite=invite)


def _reviewed(invite):
    event_record(invite=_scored(invite), kind=Event.Kind.REVIEWED)
    return invite


def _expired(invite):
    Invite.objects.filter(pk=invite.pk).update(deadline=timezone.now() - timedelta(hours=1))
    return invite


def _revoked(invite):
    return invite_revoke(invite=_opened(invite))


STATES = {
    "invited": lambda invite: invite,
    "opened": _opened,
    "cloned": _cloned,
    "pushed": _pushed,
    "submitted": _submitted,
    "scored": _scored,
    "reviewed": _reviewed,
    "expired": _expired,
    "revoked": _revoked,
}


def _bulk_invites(version, n: int, prefix: str = "Bulk") -> None:
    """Plain rows, no repository: enough for what the dashboard reads, and fast."""
    candidates = Candidate.objects.bulk_create(
        Candidate(name=f"{prefix} {i:03d}", email=f"{prefix.lower()}{i}@example.com") for i in range(n)
    )
    Invite.objects.bulk_create(
        Invite(
            public_id=f"{prefix.lower()}{i:06d}",
            candidate=c,
            assessment_version=version,
            link_token_hash=f"{prefix.lower()}-link-{i}",
            git_token_hash="x",
        )
        for i, c in enumerate(candidates)
    )


def _rows(response) -> list:
    return response.context["page"].rows


@pytest.fixture
def signed_in(client, recruiter):
    client.force_login(recruiter)
    return client


@pytest.mark.parametrize("stage", list(STATES))
def test_each_stage_is_shown_for_an_invite_in_that_state(signed_in, assessment_version, stage):
    STATES[stage](_invite(assessment_version))
    response = signed_in.get(URL)
    assert [row.stage for row in _rows(response)] == [stage]
    assert response.context["counts"][stage] == 1
    assert f'class="stage stage-{stage}"'.encode() in response.content


def test_a_scored_invite_shows_points_earned_of_possible_from_the_stored_analysis(signed_in, assessment_version):
    _scored(_invite(assessment_version))
    _invite(assessment_version, name="Bo Unscored")
    response = signed_in.get(URL + "?sort=name")
    scored, unscored = _rows(response)
    assert (scored.earned, scored.possible) == (15, 100)  # ticket 1 passes, worth 15 of 100
    assert unscored.possible is None
    assert b"15 / 100" in response.content
    assert '<td data-label="Score">—</td>'.encode() in response.content


def test_deadlines_show_time_left_and_an_unstarted_time_limit_says_so(signed_in, assessment_version):
    _invite(assessment_version, name="Ann Deadline", deadline=timezone.now() + timedelta(days=2, hours=1))
    _invite(assessment_version, name="Bo Limit", time_limit=timedelta(hours=3))
    started = _cloned(_invite(assessment_version, name="Cy Started", time_limit=timedelta(hours=3)))
    response = signed_in.get(URL + "?sort=name")
    text = response.content.decode()
    assert "2\xa0days left" in text
    assert "not started" in text
    assert _rows(response)[2].closes_at == Invite.objects.get(pk=started.pk).closes_at


def test_a_time_limit_that_ran_out_is_expired(signed_in, assessment_version):
    invite = _cloned(_invite(assessment_version, time_limit=timedelta(hours=3)))
    Invite.objects.filter(pk=invite.pk).update(started_at=timezone.now() - timedelta(hours=4))
    assert [row.stage for row in _rows(signed_in.get(URL))] == ["expired"]


def test_it_filters_by_stage_and_assessment(signed_in, assessment_version):
    _opened(_invite(assessment_version, name="Ann Opened"))
    _invite(assessment_version, name="Bo Invited")
    slug = assessment_version.assessment.slug
    response = signed_in.get(URL, {"stage": "opened", "assessment": slug})
    assert [row.candidate_name for row in _rows(response)] == ["Ann Opened"]
    assert response.context["applied"]["stage"] == "opened"
    assert response.context["counts"]["invited"] == 1  # the strip counts every stage of the assessment


def test_it_searches_name_and_email_without_regard_to_case(signed_in, assessment_version):
    _invite(assessment_version, name="Ann Example", email="ann@example.com")
    _invite(assessment_version, name="Bo Other", email="BO.OTHER@corp.example")
    assert [r.candidate_name for r in _rows(signed_in.get(URL, {"q": "aNN"}))] == ["Ann Example"]
    assert [r.candidate_name for r in _rows(signed_in.get(URL, {"q": "corp.EX"}))] == ["Bo Other"]


def test_it_sorts_by_name_newest_stage_and_last_activity(signed_in, assessment_version):
    cy = _invite(assessment_version, name="Cy")
    _opened(_invite(assessment_version, name="Ann"))
    _invite(assessment_version, name="Bo")
    event_record(invite=cy, kind=Event.Kind.EMAILED, at=timezone.now() + timedelta(minutes=5))

    def names(sort):
        return [row.candidate_name for row in _rows(signed_in.get(URL, {"sort": sort}))]

    assert names("name") == ["Ann", "Bo", "Cy"]
    assert names("newest") == ["Bo", "Ann", "Cy"]
    assert names("activity") == ["Cy", "Bo", "Ann"]
    assert names("stage")[-1] == "Ann"


def test_it_sorts_by_deadline_soonest_first_and_none_last(signed_in, assessment_version):
    now = timezone.now()
    _invite(assessment_version, name="Later", deadline=now + timedelta(days=3))
    _invite(assessment_version, name="Never")
    _invite(assessment_version, name="Soon", deadline=now + timedelta(days=1))
    assert [row.candidate_name for row in _rows(signed_in.get(URL, {"sort": "deadline"}))] == ["Soon", "Later", "Never"]


def test_it_pages_by_twenty_five_and_keeps_the_filters_in_the_links(signed_in, assessment_version):
    _bulk_invites(assessment_version, PIPELINE_PAGE_SIZE + 5)
    first = signed_in.get(URL, {"q": "bulk", "sort": "name"})
    assert len(_rows(first)) == PIPELINE_PAGE_SIZE
    assert b'href="?q=bulk&amp;sort=name&amp;page=2"' in first.content
    second = signed_in.get(URL, {"q": "bulk", "sort": "name", "page": "2"})
    assert _rows(second)[0].candidate_name == "Bulk 025"
    assert len(_rows(second)) == 5


@pytest.mark.parametrize(
    "params",
    [
        {"stage": "hired"},
        {"sort": "salary"},
        {"assessment": "no-such-thing"},
        {"page": "x"},
        {"page": "99999"},
        {"page": "-3"},
        {"q": "x" * 5000},
    ],
)
def test_bad_parameters_are_ignored_or_clamped_and_the_form_says_what_applied(signed_in, assessment_version, params):
    _invite(assessment_version, name="Ann")
    response = signed_in.get(URL, params)
    assert response.status_code == 200
    applied = response.context["applied"]
    assert applied["stage"] == "" and applied["sort"] == "activity" and applied["assessment"] == ""
    assert response.context["page"].number == 1
    if "q" not in params:
        assert [row.candidate_name for row in _rows(response)] == ["Ann"]
    assert b'<option value="activity" selected>' in response.content


def test_an_empty_portal_says_no_candidates_yet(signed_in):
    assert b"No candidates yet" in signed_in.get(URL).content


def test_a_search_that_matches_nothing_says_so(signed_in, assessment_version):
    _invite(assessment_version)
    assert b"No invites match" in signed_in.get(URL, {"q": "nobody"}).content


def test_only_reviewers_see_the_link_to_the_result(client, recruiter, recruiter_and_reviewer, assessment_version):
    invite = _invite(assessment_version)
    link = reverse("invite_result", args=[invite.public_id]).encode()
    client.force_login(recruiter)
    assert link not in client.get(URL).content
    client.force_login(recruiter_and_reviewer)
    assert link in client.get(URL).content


def test_it_is_for_recruiters_only(client, reviewer):
    anonymous = client.get(URL)
    assert anonymous.status_code == 302
    assert anonymous.url == f"{reverse('login')}?next={URL}"
    client.force_login(reviewer)
    assert client.get(URL).status_code == 403


def test_a_candidate_name_is_escaped(signed_in, assessment_version):
    _invite(assessment_version, name="<script>alert(1)</script>")
    content = signed_in.get(URL).content
    assert b"<script>alert(1)" not in content
    assert b"&lt;script&gt;alert(1)&lt;/script&gt;" in content


def test_the_number_of_queries_does_not_grow_with_the_number_of_invites(
    signed_in, assessment_version, django_assert_max_num_queries
):
    for state in ("opened", "scored", "revoked"):
        STATES[state](_invite(assessment_version, name=state))
    signed_in.get(URL)  # the session and permission caches, as on any later request
    with django_assert_max_num_queries(12) as at_three:
        signed_in.get(URL)
    _bulk_invites(assessment_version, 37)
    with django_assert_max_num_queries(len(at_three.captured_queries)) as at_forty:
        response = signed_in.get(URL)
    assert response.context["page"].count == 40
    assert len(at_forty.captured_queries) == len(at_three.captured_queries)


def test_the_reviewers_recommendations_show_beside_the_stage(signed_in, assessment_version, reviewer):
    from portal.reviews.services import review_save

    invite = _scored(_invite(assessment_version, name="Reviewed Candidate"))
    scores = {"thought_process": "3", "version_control": "3", "code_quality": "4", "communication": "2"}
    review_save(
        invite=invite, reviewer=reviewer, scores=scores, comments={}, recommendation="strong_yes",
        summary="Clear fixes.", submit=True,
    )  # fmt: skip
    row = _rows(signed_in.get(URL))[0]
    assert row.stage == "reviewed"
    assert row.recommendations == ("Strong yes",)
    assert "Strong yes" in signed_in.get(URL).content.decode()
