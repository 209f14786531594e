"""The recruiters' dashboard flags an invite whose closest match reaches its assessment's
similarity_flag, in words, linked to the report's section; the threshold is set on the admin page.

Matches are stored rows (SimilarityMatch, KnownSolution, SubmissionPrint), as the worker leaves them.
"""

import re

import pytest
from django.urls import reverse

from portal.assessments.models import Assessment
from portal.integrity.models import KnownSolution, SimilarityMatch, SubmissionPrint
from portal.integrity.selectors import Flag, similarity_flags
from portal.invites.models import Candidate, Invite
from portal.invites.services import candidate_get_or_create, invite_create, invite_submit

pytestmark = pytest.mark.engines

URL = reverse("recruiter_dashboard")


def _submitted(version, name: str) -> Invite:
    candidate = candidate_get_or_create(name=name, email=f"{name.lower().replace(' ', '.')}@example.com")
    invite = invite_submit(invite=invite_create(candidate=candidate, assessment_version=version).invite)
    SubmissionPrint.objects.create(invite=invite, assessment=version.assessment, commit="a" * 40)
    return invite


def _match(invite, *, other=None, known=None, score: float) -> SimilarityMatch:
    return SimilarityMatch.objects.create(
        invite=invite, other_invite=other, known_solution=known, score=score, shared=30, passages=[]
    )


def _flag_of(html: str, invite: Invite) -> str:
    """The similarity mark in the invite's row, or ""."""
    row = re.search(rf'<tr data-invite="{invite.public_id}">.*?</tr>', html, re.S).group(0)
    found = re.search(r'<small class="similarity-flag".*?</small>', row, re.S)
    return found.group(0) if found else ""


@pytest.fixture
def pair(assessment_version):
    return _submitted(assessment_version, "Ada Alike"), _submitted(assessment_version, "Bo Alike")


@pytest.fixture
def signed_in(client, recruiter_and_reviewer):
    client.force_login(recruiter_and_reviewer)
    return client


def test_an_invite_at_or_above_the_threshold_is_flagged_in_words_with_a_link_to_the_section(signed_in, pair):
    ada, bo = pair
    _match(ada, other=bo, score=0.82)
    _match(bo, other=ada, score=0.6)  # exactly the default threshold: flagged too
    html = signed_in.get(URL).content.decode()
    flag = _flag_of(html, ada)
    assert "Similar to another submission (82&nbsp;%)" in flag
    assert f'href="{reverse("invite_result", args=[ada.public_id])}#similarity"' in flag
    assert "Similar to another submission (60&nbsp;%)" in _flag_of(html, bo)


def test_nothing_is_shown_below_the_threshold(signed_in, pair):
    ada, bo = pair
    _match(ada, other=bo, score=0.59)
    html = signed_in.get(URL).content.decode()
    assert _flag_of(html, ada) == "" and _flag_of(html, bo) == ""
    assert "Similar to" not in html


def test_the_threshold_is_the_assessments_own(signed_in, pair):
    ada, bo = pair
    _match(ada, other=bo, score=0.82)
    Assessment.objects.update(similarity_flag=0.9)
    assert _flag_of(signed_in.get(URL).content.decode(), ada) == ""
    Assessment.objects.update(similarity_flag=0.3)
    _match(bo, other=ada, score=0.35)
    html = signed_in.get(URL).content.decode()
    assert "(82&nbsp;%)" in _flag_of(html, ada) and "(35&nbsp;%)" in _flag_of(html, bo)


def test_the_closest_match_decides_and_a_known_solution_is_named_as_such(signed_in, pair, assessment_version):
    ada, bo = pair
    leak = KnownSolution.objects.create(assessment_version=assessment_version, name="public gist")
    _match(ada, other=bo, score=0.7)
    _match(ada, known=leak, score=0.91)
    flag = _flag_of(signed_in.get(URL).content.decode(), ada)
    assert "Similar to a known solution (91&nbsp;%)" in flag


def test_a_recruiter_who_does_not_review_sees_the_flag_without_a_link(client, recruiter, pair):
    ada, bo = pair
    _match(ada, other=bo, score=0.82)
    client.force_login(recruiter)
    flag = _flag_of(client.get(URL).content.decode(), ada)
    assert "Similar to another submission (82&nbsp;%)" in flag
    assert "<a " not in flag


def test_the_selector_answers_for_a_whole_assessment_in_one_query(pair, assessment_version, django_assert_num_queries):
    ada, bo = pair
    calm = _submitted(assessment_version, "Cy Calm")
    _match(ada, other=bo, score=0.75)
    _match(bo, other=ada, score=0.75)
    _match(calm, other=ada, score=0.2)
    with django_assert_num_queries(1):
        flags = similarity_flags(assessment=assessment_version.assessment)
    assert flags == {ada.pk: Flag(percent=75, known=False), bo.pk: Flag(percent=75, known=False)}
    with django_assert_num_queries(1):
        assert similarity_flags(invite_ids=[calm.pk, bo.pk]) == {bo.pk: Flag(percent=75, known=False)}


def _bulk_flagged(version, n: int) -> None:
    """``n`` submitted invites, each matching the next above the threshold: plain rows, fast."""
    candidates = Candidate.objects.bulk_create(
        Candidate(name=f"Bulk {i:03d}", email=f"bulk{i}@example.com") for i in range(n)
    )
    invites = Invite.objects.bulk_create(
        Invite(
            public_id=f"bulk{i:06d}",
            candidate=c,
            assessment_version=version,
            link_token_hash=f"bulk-link-{i}",
            git_token_hash="x",
            status=Invite.Status.SUBMITTED,
        )
        for i, c in enumerate(candidates)
    )
    SimilarityMatch.objects.bulk_create(
        SimilarityMatch(invite=a, other_invite=b, score=0.9, shared=50, passages=[])
        for a, b in zip(invites, invites[1:] + invites[:1], strict=True)
    )


def test_the_number_of_queries_does_not_grow_with_the_number_of_flagged_invites(
    signed_in, pair, assessment_version, django_assert_max_num_queries
):
    ada, bo = pair
    _match(ada, other=bo, score=0.8)
    signed_in.get(URL)  # the session and permission caches, as on any later request
    with django_assert_max_num_queries(20) as at_two:
        signed_in.get(URL)
    _bulk_flagged(assessment_version, 30)
    with django_assert_max_num_queries(len(at_two.captured_queries)) as at_thirty_two:
        html = signed_in.get(URL).content.decode()
    assert len(at_thirty_two.captured_queries) == len(at_two.captured_queries)
    # A page of 25: Ada and Bo (the latest activity; Bo has no match), then 23 flagged bulk invites.
    assert html.count('class="similarity-flag"') == 24


def test_the_admin_edits_the_threshold_and_refuses_one_outside_0_to_1(client, admin_user, assessment_version):
    client.force_login(admin_user)
    assessment = assessment_version.assessment
    url = reverse("admin:assessments_assessment_change", args=[assessment.pk])
    page = client.get(url)
    assert 'name="similarity_flag"' in page.content.decode()
    for wrong in ("1.5", "-0.1"):
        refused = client.post(url, _admin_form(page, assessment, similarity_flag=wrong))
        assert refused.status_code == 200
        assert "Give a share between 0 and 1" in refused.content.decode()
        assessment.refresh_from_db()
        assert assessment.similarity_flag == 0.6
    saved = client.post(url, _admin_form(page, assessment, similarity_flag="0.75"))
    assert saved.status_code == 302
    assessment.refresh_from_db()
    assert assessment.similarity_flag == 0.75


def _admin_form(page, assessment, **changes) -> dict:
    """The admin's change form as it was shown (the versions' inline included), with ``changes``."""
    data = {
        "title": assessment.title,
        "candidate_results": assessment.candidate_results,
        "similarity_flag": str(assessment.similarity_flag),
    }
    if assessment.blind_review:
        data["blind_review"] = "on"
    for inline in page.context["inline_admin_formsets"]:
        formset = inline.formset
        management = formset.management_form
        data.update({f"{formset.prefix}-{name}": value for name, value in management.initial.items()})
        for n, form in enumerate(formset.forms):
            data[f"{formset.prefix}-{n}-id"] = form.instance.pk
            data[f"{formset.prefix}-{n}-assessment"] = assessment.pk
    return {**data, **changes}
