"""Similar submissions on the reviewer's report: the closest matches as evidence, never a verdict;
other candidates by alias on a blind assessment; candidate-controlled code escaped and bounded.

Matches are stored rows (SimilarityMatch, KnownSolution, SubmissionPrint), as the worker leaves them.
"""

import re

import pytest
from django.urls import reverse

from portal.assessments.models import Assessment, AssessmentVersion
from portal.integrity.models import KnownSolution, SimilarityMatch, SubmissionPrint
from portal.integrity.selectors import LINE_CHARS, LINES_SHOWN, MATCHES_SHOWN, PASSAGES_SHOWN
from portal.invites.models import Invite
from portal.invites.services import candidate_get_or_create, invite_create, invite_submit
from portal.reviews.blind import alias
from portal.reviews.models import AssessmentReviewer
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite, store_verdicts

OWN_NAME, OWN_EMAIL = "Yara Ownwork", "yara.ownwork@example.org"
OTHER_NAME, OTHER_EMAIL = "Zed Otherly", "zed.otherly@example.net"
# tests.support.git.GitClient commits as this identity: the other candidate's commit identity below.
COMMITTER = ("Ann Example", "ann@example.com")
DISCLAIMER = "Evidence for your judgement, not a verdict"


def _submitted(version, name: str, email: str) -> Invite:
    """A submitted invite without a repository: enough for what the similarity section reads."""
    candidate = candidate_get_or_create(name=name, email=email)
    return invite_submit(invite=invite_create(candidate=candidate, assessment_version=version).invite)


def _printed(invite: Invite) -> Invite:
    SubmissionPrint.objects.create(invite=invite, assessment=invite.assessment_version.assessment, commit="a" * 40)
    return invite


def _passage(text="def total(cart):\n    return sum(cart)\n", other_text=None, **fields) -> dict:
    return {
        "path": "app/cart.py",
        "lines": [10, 11],
        "text": text,
        "other_path": "app/basket.py",
        "other_lines": [20, 21],
        "other_text": text if other_text is None else other_text,
        **fields,
    }


def _match(invite, *, other=None, known=None, score=0.8, shared=40, passages=None, ref="") -> SimilarityMatch:
    return SimilarityMatch.objects.create(
        invite=invite,
        other_invite=other,
        known_solution=known,
        ref=ref,
        score=score,
        shared=shared,
        passages=[_passage()] if passages is None else passages,
    )


def _report(client, invite) -> str:
    response = client.get(reverse("invite_result", args=[invite.public_id]))
    assert response.status_code == 200
    return response.content.decode()


def _section(html: str) -> str:
    return re.search(r'<section id="similarity".*?</section>', html, re.S).group(0)


@pytest.fixture
def own(assessment_version):
    return _printed(_submitted(assessment_version, OWN_NAME, OWN_EMAIL))


@pytest.fixture
def other(assessment_version):
    return _printed(_submitted(assessment_version, OTHER_NAME, OTHER_EMAIL))


@pytest.fixture
def signed_in(client, reviewer):
    client.force_login(reviewer)
    return client


def test_the_closest_matches_show_first_with_their_score_and_the_rest_are_counted(signed_in, own, assessment_version):
    others = [_printed(_submitted(assessment_version, f"Peer {n}", f"peer{n}@example.com")) for n in range(7)]
    for n, peer in enumerate(others):
        _match(own, other=peer, score=0.3 + n * 0.1, shared=10 + n)
    section = _section(_report(signed_in, own))
    shown = re.findall(r'class="similarity-score">(\d+)&nbsp;%', section)
    assert shown == ["90", "80", "70", "60", "50"][:MATCHES_SHOWN]
    assert "2 more matches with a lower score not shown" in section
    assert "16 fingerprints in common" in section
    assert DISCLAIMER in section and "Scores never change." in section


def test_without_blind_review_the_other_is_named_and_linked_to_their_report(signed_in, own, other):
    _match(own, other=other, score=0.82)
    section = _section(_report(signed_in, own))
    link = reverse("invite_result", args=[other.public_id]) + "#similarity"
    assert f'shared with <a href="{link}">{OTHER_NAME}</a>' in section
    assert alias(other) not in section
    assert "82&nbsp;%" in section and "at or above this assessment's flag" in section


def test_the_passages_show_both_sides_with_paths_and_lines(signed_in, own, other):
    _match(own, other=other, passages=[_passage("mine = 1\n", other_text="theirs = 1\n")])
    section = _section(_report(signed_in, own))
    mine, theirs = re.findall(r'<figure class="similarity-side">.*?</figure>', section, re.S)
    for text in ("This candidate", "app/cart.py", "lines 10\u201311", "mine = 1"):
        assert text in mine, text
    for text in (OTHER_NAME, "app/basket.py", "lines 20\u201321", "theirs = 1"):
        assert text in theirs, text


def test_a_known_solution_is_named_with_where_it_was_found(signed_in, own, assessment_version):
    leak = KnownSolution.objects.create(
        assessment_version=assessment_version, name="public gist", source_url="https://gist.example.com/abc"
    )
    _match(own, known=leak, score=0.95)
    section = _section(_report(signed_in, own))
    assert "matches known solution “public gist”" in section
    assert 'href="https://gist.example.com/abc"' in section
    assert "The known solution" in section


def test_a_known_solutions_address_that_is_not_http_is_not_a_link(signed_in, own, assessment_version):
    leak = KnownSolution.objects.create(
        assessment_version=assessment_version, name="pasted", source_url="javascript:alert(1)"
    )
    _match(own, known=leak)
    section = _section(_report(signed_in, own))
    assert "javascript:" not in section
    assert "where it was found" not in section


def test_before_submission_the_report_says_nothing_was_compared_yet(signed_in, assessment_version):
    invite = make_invite(assessment_version, name=OWN_NAME, email=OWN_EMAIL).invite
    section = _section(_report(signed_in, invite))
    assert "Nothing compared yet: the candidate has not submitted." in section
    assert "similarity-match" not in section


def test_after_submission_and_before_the_comparison_the_report_says_it_is_being_compared(signed_in, assessment_version):
    invite = _submitted(assessment_version, OWN_NAME, OWN_EMAIL)
    section = _section(_report(signed_in, invite))
    assert "Nothing compared yet: the submission is being compared" in section
    assert 'role="status"' in section


def test_compared_with_nothing_close_says_so(signed_in, own):
    section = _section(_report(signed_in, own))
    assert "Compared with the other submissions of this assessment and with known solutions: nothing close." in section
    assert DISCLAIMER in section


@pytest.fixture
def blind(assessment_version, tmp_path):
    return blind_pair(assessment_version, tmp_path)


def blind_pair(assessment_version, tmp_path) -> tuple[Invite, Invite]:
    """A blind assessment: the page's candidate, and another whose commits name them (and a committer),
    whose code beside the match names them too."""
    Assessment.objects.filter(pk=assessment_version.assessment_id).update(blind_review=True)
    own = _printed(make_invite(assessment_version, name=OWN_NAME, email=OWN_EMAIL).invite)
    other = make_invite(assessment_version, name=OTHER_NAME, email=OTHER_EMAIL).invite
    candidate_commit(
        other,
        tmp_path / "work",
        branch="issue-1",
        changes={"NOTES.md": f"By {OTHER_NAME} <{OTHER_EMAIL}>\n"},
        message=f"Fix: Resolve issue #1 - pages\n\nSigned-off-by: {OTHER_NAME} <{OTHER_EMAIL}>",
    )
    store_verdicts(other)
    other = _printed(invite_submit(invite=other))
    # What the other candidate wrote into their code names them: it is shown beside the match.
    signed = f"# {OTHER_NAME} <{OTHER_EMAIL}>, committed as {COMMITTER[0]} <{COMMITTER[1]}>\nx = 1\n"
    _match(invite_submit(invite=own), other=other, passages=[_passage(other_text=signed)])
    return own, other


def test_on_a_blind_assessment_no_identity_of_the_other_candidate_appears_on_the_report(signed_in, blind):
    own, other = blind
    html = _report(signed_in, own)
    for secret in (OTHER_NAME, OTHER_EMAIL, "zed.otherly", *COMMITTER, OWN_NAME, OWN_EMAIL):
        assert secret.lower() not in html.lower(), secret
    section = _section(html)
    link = reverse("invite_result", args=[other.public_id]) + "#similarity"
    assert f'shared with <a href="{link}">{alias(other)}</a>' in section
    # Their code is shown, with what names them replaced.
    assert f"# {alias(other)} &lt;candidate@hidden.invalid&gt;, committed as {alias(other)}" in section


def test_a_match_with_an_invite_the_reviewer_may_not_open_shows_the_alias_without_a_link(
    signed_in, own, second_reviewer_only_assessment
):
    stranger = _printed(_submitted(second_reviewer_only_assessment, OTHER_NAME, OTHER_EMAIL))
    _match(own, other=stranger)
    section = _section(_report(signed_in, own))
    assert OTHER_NAME not in section
    assert f"shared with {alias(stranger)}" in section
    assert reverse("invite_result", args=[stranger.public_id]) not in section
    assert "you may not open their report" in section


@pytest.fixture
def second_reviewer_only_assessment(db, assessment_version, django_user_model):
    return reviewer_only_version(assessment_version, django_user_model)


def reviewer_only_version(assessment_version, django_user_model) -> AssessmentVersion:
    """Another assessment that names its only reviewer: not the ``reviewer`` persona."""
    assessment = Assessment.objects.create(slug="restricted", title="Restricted")
    version = AssessmentVersion.objects.create(
        assessment=assessment,
        content_hash="f" * 64,
        label="1",
        manifest=assessment_version.manifest,
        package_dir=assessment_version.package_dir,
        shipped_subdir=assessment_version.shipped_subdir,
    )
    wendy = django_user_model.objects.create_user(username="wendy", email="wendy@example.com")
    AssessmentReviewer.objects.create(assessment=assessment, user=wendy)
    return version


HOSTILE_LINE = "<script>alert('x')</script>" + "y" * 20_000
RTL = "access = 'user\u202e \u2066// admin only\u2069 \u2066'"


def test_hostile_passages_are_escaped_and_bounded(signed_in, own, other):
    huge = "\n".join(f"line {n}" for n in range(10_000))
    passages = [
        _passage(HOSTILE_LINE, other_text=huge, path="<img src=x onerror=alert(1)>.py"),
        _passage(RTL, other_text="ok\x00\x1b[31m\n"),
        "not a passage",
        {"lines": "not a span", "text": 42},
        *[_passage() for _ in range(PASSAGES_SHOWN + 3)],
    ]
    _match(own, other=other, passages=passages)
    section = _section(_report(signed_in, own))
    assert "<script>alert" not in section and "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;" in section
    assert "<img src=x" not in section and "&lt;img src=x onerror=alert(1)&gt;.py" in section
    codes = re.findall(r"<code>(.*?)</code>", section, re.S)
    assert max(len(code) for code in codes) < LINES_SHOWN * (LINE_CHARS + 40)
    assert "y" * (LINE_CHARS + 1) not in section
    assert f"{10_000 - LINES_SHOWN} more lines not shown." in section
    assert "line 39" in section and "line 40" not in section
    # Bidirectional controls would make the code read other than it runs: they show as codes.
    for char in "\u202e\u2066\u2069\x00\x1b":
        assert char not in section
    assert "&lt;U+202E&gt;" in section and "&lt;U+2066&gt;" in section and "&lt;U+001B&gt;" in section
    # Of the first ten, the one that is not a passage is left out; the one without a path is shown.
    assert "(no path)" in section
    assert f"{len(passages) - (PASSAGES_SHOWN - 1)} more passages not shown." in section


def test_the_number_of_queries_does_not_grow_with_the_number_of_matches(
    signed_in, own, assessment_version, django_assert_max_num_queries
):
    peers = [_printed(_submitted(assessment_version, f"Peer {n}", f"peer{n}@example.com")) for n in range(14)]
    for peer in peers[: MATCHES_SHOWN + 1]:
        _match(own, other=peer)
    url = reverse("invite_result", args=[own.public_id])
    signed_in.get(url)
    with django_assert_max_num_queries(200) as at_six:
        signed_in.get(url)
    for peer in peers[MATCHES_SHOWN + 1 :]:
        _match(own, other=peer, score=0.5)
    with django_assert_max_num_queries(len(at_six.captured_queries)) as at_fourteen:
        html = signed_in.get(url).content.decode()
    assert len(at_fourteen.captured_queries) == len(at_six.captured_queries)
    assert "9 more matches with a lower score not shown" in html


def test_a_match_on_one_branch_says_which_beside_its_score(signed_in, own, other):
    _match(own, other=other, score=0.9, ref="refs/heads/issue-2")
    _match(own, other=other, score=0.4)  # the whole submissions: no branch named
    section = _section(_report(signed_in, own))
    first, second = re.findall(r"<h3>.*?</h3>", section, re.S)
    assert '90&nbsp;%</span> <span class="similarity-where">on branch issue-2</span>' in first
    assert "on branch" not in second and "similarity-where" not in second


def test_a_hostile_branch_name_is_escaped_and_bounded(signed_in, own, other):
    ref = "refs/heads/<img src=x onerror=alert(1)>\u202e" + "b" * 500
    _match(own, other=other, ref=ref, passages=[])
    where = re.search(r'<span class="similarity-where">(.*?)</span>', _section(_report(signed_in, own)), re.S).group(1)
    assert where.startswith("on branch &lt;img src=x onerror=alert(1)&gt;&lt;U+202E&gt;bbb")
    assert "<img" not in where and "\u202e" not in where
    assert len(where) < 300 and where.endswith("…")
