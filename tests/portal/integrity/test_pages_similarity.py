"""Similar submissions beyond the report: the printable report shows the same section with every
passage as a plain block; the review page a line beside the rubric (the closest match, linked to the
report's section); the recruiter's page for one invite the dashboard's flag. Blind review holds on
each: other candidates by alias, the page scrubbed of their identities.

Matches are stored rows (SimilarityMatch, KnownSolution, SubmissionPrint), as the worker leaves them.
"""

import re

import pytest
from django.urls import reverse

from portal.assessments.models import Assessment
from portal.integrity.models import KnownSolution
from portal.integrity.selectors import MATCHES_SHOWN
from portal.invites.services import invite_submit
from portal.reviews.blind import alias
from tests.portal.integrity.test_report_similarity import (
    COMMITTER,
    DISCLAIMER,
    HOSTILE_LINE,
    OTHER_EMAIL,
    OTHER_NAME,
    OWN_EMAIL,
    OWN_NAME,
    RTL,
    _match,
    _passage,
    _printed,
    _section,
    _submitted,
    blind_pair,
    reviewer_only_version,
)
from tests.support.factories import make_invite

SECRETS = (OTHER_NAME, OTHER_EMAIL, "zed.otherly", *COMMITTER, OWN_NAME, OWN_EMAIL)


def _get(client, name: str, invite, **headers) -> str:
    response = client.get(reverse(name, args=[invite.public_id]), headers=headers)
    assert response.status_code == 200
    return response.content.decode()


def _print(client, invite) -> str:
    return _get(client, "invite_report_print", invite)


def _review(client, invite) -> str:
    return _get(client, "review_form", invite)


def _summary(html: str) -> str:
    """The review page's line on similar submissions, its white space as a browser shows it."""
    found = re.search(r'<section class="similarity-summary".*?</section>', html, re.S)
    return " ".join(found.group(0).split()) if found else ""


def _recruiter(client, invite, **headers) -> str:
    return _get(client, "recruiter_invite_detail", invite, **headers)


def _flag(html: str) -> str:
    found = re.search(r'<span class="similarity-flag".*?</span>(?=\s*</p>)', html, re.S)
    return found.group(0) if found else ""


def _section_link(invite) -> str:
    return reverse("invite_result", args=[invite.public_id]) + "#similarity"


@pytest.fixture
def own(assessment_version):
    return _printed(_submitted(assessment_version, OWN_NAME, OWN_EMAIL))


@pytest.fixture
def other(assessment_version):
    return _printed(_submitted(assessment_version, OTHER_NAME, OTHER_EMAIL))


@pytest.fixture
def leak(assessment_version):
    return KnownSolution.objects.create(
        assessment_version=assessment_version, name="public gist", source_url="https://gist.example.com/abc"
    )


@pytest.fixture
def as_reviewer(client, reviewer):
    client.force_login(reviewer)
    return client


@pytest.fixture
def blind(assessment_version, tmp_path):
    return blind_pair(assessment_version, tmp_path)


@pytest.fixture
def second_reviewer_only_assessment(db, assessment_version, django_user_model):
    return reviewer_only_version(assessment_version, django_user_model)


# The printable report.


def test_the_printable_report_shows_every_passage_of_every_match_as_a_plain_block(as_reviewer, own, other, leak):
    passages = [_passage("mine = 1\n", other_text="theirs = 1\n")]
    _match(own, other=other, score=0.82, passages=passages, ref="refs/heads/issue-2")
    _match(own, known=leak, score=0.5, passages=[_passage("leaked = 2\n")])
    section = _section(_print(as_reviewer, own))
    assert DISCLAIMER in section
    assert re.findall(r'class="similarity-score">(\d+)&nbsp;%', section) == ["82", "50"]
    assert '82&nbsp;%</span> <span class="similarity-where">on branch issue-2</span>' in section
    # Nothing folded away: paper cannot open a <details>, so the second match's passages are there too.
    assert "<details" not in section
    assert section.count('class="similarity-pair"') == 2
    for text in ("mine = 1", "theirs = 1", "leaked = 2", "lines 10\u201311", "app/basket.py"):
        assert text in section, text
    assert f'shared with <a href="{_section_link(other)}">{OTHER_NAME}</a>' in section
    # Paper has no links to follow: the known solution's address is written out.
    assert "found at" in section and "https://gist.example.com/abc" in section


def test_the_printable_report_before_submission_says_nothing_was_compared_yet(as_reviewer, assessment_version):
    invite = make_invite(assessment_version, name=OWN_NAME, email=OWN_EMAIL).invite
    section = _section(_print(as_reviewer, invite))
    assert "Nothing compared yet: the candidate has not submitted." in section


def test_on_a_blind_assessment_the_printable_report_names_no_other_candidate(as_reviewer, blind):
    own, other = blind
    html = _print(as_reviewer, own)
    for secret in SECRETS:
        assert secret.lower() not in html.lower(), secret
    section = _section(html)
    assert f'shared with <a href="{_section_link(other)}">{alias(other)}</a>' in section
    assert f"# {alias(other)} &lt;candidate@hidden.invalid&gt;, committed as {alias(other)}" in section


def test_the_printable_report_names_an_invite_the_reviewer_may_not_open_by_alias_without_a_link(
    as_reviewer, own, second_reviewer_only_assessment
):
    stranger = _printed(_submitted(second_reviewer_only_assessment, OTHER_NAME, OTHER_EMAIL))
    _match(own, other=stranger)
    html = _print(as_reviewer, own)
    assert OTHER_NAME not in html and OTHER_EMAIL not in html
    assert f"shared with {alias(stranger)}" in _section(html)
    assert reverse("invite_result", args=[stranger.public_id]) not in html


def test_the_printable_report_escapes_and_bounds_hostile_passages(as_reviewer, own, other):
    _match(own, other=other, passages=[_passage(HOSTILE_LINE, other_text=RTL, path="<img src=x>.py")])
    section = _section(_print(as_reviewer, own))
    assert "<script>alert" not in section and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in section
    assert "<img src=x>" not in section and "&lt;img src=x&gt;.py" in section
    assert "\u202e" not in section and "&lt;U+202E&gt;" in section


def test_the_printable_reports_queries_do_not_grow_with_the_number_of_matches(
    as_reviewer, own, assessment_version, django_assert_max_num_queries
):
    peers = [_printed(_submitted(assessment_version, f"Peer {n}", f"peer{n}@example.com")) for n in range(14)]
    # More than are shown from the start: the count of those left out is one query at any number.
    for peer in peers[: MATCHES_SHOWN + 1]:
        _match(own, other=peer)
    url = reverse("invite_report_print", args=[own.public_id])
    as_reviewer.get(url)
    with django_assert_max_num_queries(200) as at_six:
        as_reviewer.get(url)
    for peer in peers[MATCHES_SHOWN + 1 :]:
        _match(own, other=peer, score=0.5)
    with django_assert_max_num_queries(len(at_six.captured_queries)) as at_fourteen:
        html = as_reviewer.get(url).content.decode()
    assert len(at_fourteen.captured_queries) == len(at_six.captured_queries)
    assert "9 more matches with a lower score not shown" in html
    assert html.count('class="similarity-match"') == MATCHES_SHOWN


# The review page: the closest match in a line beside the rubric.


def test_the_review_page_shows_the_closest_match_linked_to_the_reports_section(
    as_reviewer, own, other, assessment_version
):
    third = _printed(_submitted(assessment_version, "Third Person", "third@example.com"))
    _match(own, other=other, score=0.82)
    _match(own, other=third, score=0.3)
    html = _review(as_reviewer, own)
    summary = _summary(html)
    assert '<strong class="similarity-score">82&nbsp;%</strong>' in summary
    assert f"is shared with {OTHER_NAME}" in summary
    assert "at or above this assessment's flag" in summary
    assert "1 more match." in summary
    assert f'<a href="{_section_link(own)}">The passages on the report</a>' in summary
    assert "not a verdict" in summary
    # In the rubric's column, before the rubric: seen while scoring.
    rubric = html.index('id="rubric"')
    assert rubric < html.index('class="similarity-summary"') < html.index('id="rubric-heading"')
    # The closest only: the third candidate and the passages are on the report.
    assert "Third Person" not in summary and "similarity-code" not in summary


def test_the_review_page_names_a_known_solution_and_says_nothing_of_a_flag_below_it(as_reviewer, own, leak):
    _match(own, known=leak, score=0.45, ref="refs/heads/issue-3")
    summary = _summary(_review(as_reviewer, own))
    assert "45&nbsp;%</strong> on branch issue-3, matches known solution “public gist”" in summary
    assert "flag" not in summary and "more match" not in summary


@pytest.mark.parametrize(
    ("state", "words"),
    [
        ("computing", "nothing compared yet, the submission is being compared with the others."),
        ("compared", "nothing close among the other submissions and known solutions."),
    ],
)
def test_the_review_page_says_when_nothing_was_compared_or_nothing_is_close(
    as_reviewer, assessment_version, state, words
):
    invite = _submitted(assessment_version, OWN_NAME, OWN_EMAIL)
    if state == "compared":
        _printed(invite)
    summary = _summary(_review(as_reviewer, invite))
    assert words in summary
    assert "#similarity" not in summary


def test_on_a_blind_assessment_the_review_page_names_no_other_candidate(as_reviewer, blind):
    own, other = blind
    html = _review(as_reviewer, own)
    for secret in SECRETS:
        assert secret.lower() not in html.lower(), secret
    assert f"is shared with {alias(other)}" in _summary(html)


def test_a_recruiter_who_does_not_review_sees_no_similarity_on_the_review_page(client, recruiter, own, other):
    _match(own, other=other, score=0.9)
    client.force_login(recruiter)
    html = _review(client, own)
    assert _summary(html) == ""
    assert OTHER_NAME not in html


def test_the_review_pages_queries_do_not_grow_with_the_number_of_matches(
    as_reviewer, own, assessment_version, django_assert_max_num_queries
):
    peers = [_printed(_submitted(assessment_version, f"Peer {n}", f"peer{n}@example.com")) for n in range(10)]
    _match(own, other=peers[0], score=0.9)
    url = reverse("review_form", args=[own.public_id])
    as_reviewer.get(url)
    with django_assert_max_num_queries(200) as at_one:
        as_reviewer.get(url)
    for peer in peers[1:]:
        _match(own, other=peer, score=0.5)
    with django_assert_max_num_queries(len(at_one.captured_queries)) as at_ten:
        summary = _summary(as_reviewer.get(url).content.decode())
    assert len(at_ten.captured_queries) == len(at_one.captured_queries)
    assert "9 more matches." in summary


# The recruiter's page for one invite: the dashboard's flag.


@pytest.fixture
def as_recruiter_reviewer(client, recruiter_and_reviewer):
    client.force_login(recruiter_and_reviewer)
    return client


def test_the_invite_page_flags_a_match_at_the_threshold_in_words_linked_to_the_section(
    as_recruiter_reviewer, own, other
):
    _match(own, other=other, score=0.6)  # exactly the default threshold
    flag = _flag(_recruiter(as_recruiter_reviewer, own))
    assert "Similar to another submission (60&nbsp;%)" in flag
    assert f'href="{_section_link(own)}"' in flag
    assert 'data-similarity="60"' in flag


def test_the_invite_page_shows_nothing_below_the_threshold(as_recruiter_reviewer, own, other):
    _match(own, other=other, score=0.59)
    html = _recruiter(as_recruiter_reviewer, own)
    assert _flag(html) == "" and "Similar to" not in html


def test_the_invite_pages_threshold_is_the_assessments_own_and_a_known_solution_is_named_as_such(
    as_recruiter_reviewer, own, other, leak
):
    _match(own, other=other, score=0.5)
    _match(own, known=leak, score=0.55)
    assert _flag(_recruiter(as_recruiter_reviewer, own)) == ""
    Assessment.objects.update(similarity_flag=0.5)
    assert "Similar to a known solution (55&nbsp;%)" in _flag(_recruiter(as_recruiter_reviewer, own))


def test_the_invite_page_flag_is_plain_text_for_a_recruiter_who_does_not_review(client, recruiter, own, other):
    _match(own, other=other, score=0.82)
    client.force_login(recruiter)
    flag = _flag(_recruiter(client, own))
    assert "Similar to another submission (82&nbsp;%)" in flag
    assert "<a " not in flag


def test_the_invite_page_flag_is_plain_text_for_a_reviewer_the_assessment_does_not_name(
    client, recruiter_and_reviewer, second_reviewer_only_assessment
):
    restricted = _printed(_submitted(second_reviewer_only_assessment, OWN_NAME, OWN_EMAIL))
    peer = _printed(_submitted(second_reviewer_only_assessment, OTHER_NAME, OTHER_EMAIL))
    _match(restricted, other=peer, score=0.9)
    client.force_login(recruiter_and_reviewer)
    flag = _flag(_recruiter(client, restricted))
    assert "Similar to another submission (90&nbsp;%)" in flag and "<a " not in flag


def test_the_invite_page_names_nothing_of_the_other_candidate(as_recruiter_reviewer, own, other):
    _match(own, other=other, score=0.9, passages=[_passage(other_text=f"# {OTHER_NAME} <{OTHER_EMAIL}>\n")])
    html = _recruiter(as_recruiter_reviewer, own)
    assert _flag(html)
    for secret in (OTHER_NAME, OTHER_EMAIL, other.public_id):
        assert secret not in html, secret


def test_the_invite_pages_live_part_carries_the_flag_once_compared(as_recruiter_reviewer, assessment_version, other):
    own = invite_submit(invite=make_invite(assessment_version, name=OWN_NAME, email=OWN_EMAIL).invite)
    assert _flag(_recruiter(as_recruiter_reviewer, own, HX_Request="true")) == ""
    _match(_printed(own), other=other, score=0.7)
    live = _recruiter(as_recruiter_reviewer, own, HX_Request="true")
    assert 'id="invite-status"' in live
    assert "Similar to another submission (70&nbsp;%)" in _flag(live)


def test_the_invite_pages_queries_do_not_grow_with_the_number_of_matches(
    as_recruiter_reviewer, own, assessment_version, django_assert_max_num_queries
):
    peers = [_printed(_submitted(assessment_version, f"Peer {n}", f"peer{n}@example.com")) for n in range(8)]
    _match(own, other=peers[0], score=0.9)
    url = reverse("recruiter_invite_detail", args=[own.public_id])
    as_recruiter_reviewer.get(url)
    with django_assert_max_num_queries(200) as at_one:
        as_recruiter_reviewer.get(url)
    for peer in peers[1:]:
        _match(own, other=peer, score=0.95)
    with django_assert_max_num_queries(len(at_one.captured_queries)) as at_eight:
        html = as_recruiter_reviewer.get(url).content.decode()
    assert len(at_eight.captured_queries) == len(at_one.captured_queries)
    assert "(95&nbsp;%)" in _flag(html)
