"""Blind review outside the page text: flash messages, cookies, emails, digests, titles, fragments and
exports name a blind candidate by their alias, whatever the length of their name.

Three candidates of one blind assessment: "Priya Raman", and "李" and "김민", names of one and two
characters (common in Chinese and Korean) that were once never hidden. Each commits as
themselves, signs their notes and pull request, and submits.
"""

import re
from email.header import decode_header, make_header
from urllib.parse import quote

import pytest
from django.urls import reverse
from django.utils.html import escape

from gitplumbing import ZERO_SHA
from portal.assessments.models import Assessment
from portal.hosting.pulls import pull_open
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from portal.invites.services import invite_submit
from portal.reviews.blind import Identity, alias, scrub
from portal.reviews.services import assignment_make, assignment_take, digest_send, review_save
from portal.scoring.models import BranchEvidence
from tests.portal.reviews.conftest import full_review
from tests.support.factories import make_invite, record_push, store_verdicts
from tests.support.git import GitClient

PEOPLE = (
    ("Priya Raman", "priya.raman@example.net"),
    ("李", "li.wei@example.cn"),
    ("김민", "kim.min@example.kr"),
)
NAMES = [name for name, _ in PEOPLE]


def leaks(text: str) -> list[str]:
    """The candidates' names (as written, HTML-escaped or URL-encoded) and emails that ``text`` holds."""
    found = []
    for name, email in PEOPLE:
        forms = {name, escape(name), quote(name), quote(name, safe=""), email, email.split("@")[0]}
        found += [form for form in forms if re.search(re.escape(form), text, re.IGNORECASE)]
    return found


def _commit_as(invite: Invite, work, *, name: str, email: str) -> None:
    """Commit and push a signed note on issue-1 with the candidate's own git identity."""
    git = GitClient(work.parent / f"home-{work.name}")
    identity = {"GIT_AUTHOR_NAME": name, "GIT_AUTHOR_EMAIL": email, "GIT_COMMITTER_NAME": name}
    git.env |= {**identity, "GIT_COMMITTER_EMAIL": email}
    repo = repository_path(invite)
    git.run("clone", "-q", str(repo), str(work))
    git.run("checkout", "-q", "-B", "issue-1", "origin/main", cwd=work)
    (work / "NOTES.md").write_text(f"Notes by {name} <{email}>\n", encoding="utf-8")
    git.run("add", "-A", cwd=work)
    git.run("commit", "-q", "-m", f"Fix: Resolve issue #1 - pages\n\nSigned-off-by: {name} <{email}>", cwd=work)
    git.run("push", "-q", "origin", "HEAD:refs/heads/issue-1", cwd=work)
    record_push(invite, [(ZERO_SHA, git.run("rev-parse", "HEAD", cwd=work).stdout.strip(), "refs/heads/issue-1")])


@pytest.fixture
def blind_people(assessment_version, tmp_path) -> list[Invite]:
    """The three candidates' submitted invites, on a blind assessment."""
    Assessment.objects.filter(pk=assessment_version.assessment_id).update(blind_review=True)
    invites = []
    for number, (name, email) in enumerate(PEOPLE):
        invite = make_invite(assessment_version, name=name, email=email).invite
        _commit_as(invite, tmp_path / f"work-{number}", name=name, email=email)
        store_verdicts(invite)
        pull_open(invite=invite, branch="issue-1", title=f"Pages, by {name}", description=f"Closes #1\n\n-- {name}")
        invites.append(invite_submit(invite=invite))
    return invites


def _pages(invite: Invite) -> list[str]:
    result = reverse("invite_result", args=[invite.public_id])
    return [
        *(reverse("review_queue") + f"?view={view}" for view in ("all", "unassigned", "mine", "done")),
        result,
        result + "?at=" + str(invite.pushes.first().pk),
        reverse("invite_result_runs", args=[invite.public_id]),
        reverse("invite_result_live", args=[invite.public_id]) + "?shown=none",
        reverse("invite_report_print", args=[invite.public_id]),
        reverse("review_form", args=[invite.public_id]),
        reverse("invite_pulls_review", args=[invite.public_id]),
    ]


def test_taking_a_blind_invite_flashes_the_alias_and_no_cookie_names_the_candidate(client, reviewer, blind_people):
    client.force_login(reviewer)
    for invite in blind_people:
        # Back to the unassigned view, which no longer lists the invite: the page scrubs nothing of it.
        back = reverse("review_queue") + "?view=unassigned"
        response = client.post(reverse("review_take", args=[invite.public_id]), {"next": back})
        assert response.status_code == 302 and response["Location"] == back
        assert leaks(" ".join(morsel.OutputString() for morsel in response.cookies.values())) == []
        stored = client.session.get("_messages", "")
        assert alias(invite) in stored and leaks(stored) == [], invite.candidate.name

        page = client.get(back)
        html = page.content.decode()
        assert f"{alias(invite)} is in your queue." in html
        assert leaks(html) == [], invite.candidate.name
        assert leaks(" ".join(morsel.OutputString() for morsel in page.cookies.values())) == []
        assert leaks(" ".join(f"{key}={morsel.value}" for key, morsel in client.cookies.items())) == []
        assert "messages" not in client.cookies


def test_the_assignment_email_and_the_digest_name_the_alias(smtp, broker, recruiter, reviewer, blind_people):
    for invite in blind_people:
        with broker.commit():
            assignment_make(invite=invite, reviewer=reviewer, by=recruiter)
    assert broker.run() == ["reviews.notify_assigned"] * 3
    assert digest_send() == 1
    assert len(smtp.messages) == 4
    *assigned, digest = smtp.messages
    for invite, message in zip(blind_people, assigned, strict=True):
        subject = str(make_header(decode_header(message["Subject"])))
        body = message.get_payload(decode=True).decode(message.get_content_charset())
        assert subject == f"Please review {alias(invite)} ({invite.assessment_version.assessment.title})"
        assert f"You were asked to review {alias(invite)}'s work" in body
        assert leaks(subject + body) == []
    body = digest.get_payload(decode=True).decode(digest.get_content_charset())
    assert all(f"- {alias(invite)}, " in body for invite in blind_people)
    assert leaks(str(make_header(decode_header(digest["Subject"]))) + body) == []


def test_the_same_emails_name_the_candidate_when_the_assessment_is_not_blind(
    smtp, broker, recruiter, reviewer, blind_people
):
    Assessment.objects.update(blind_review=False)
    with broker.commit():
        assignment_make(invite=blind_people[1], reviewer=reviewer, by=recruiter)
    broker.run()
    assert str(make_header(decode_header(smtp.messages[0]["Subject"]))).startswith("Please review 李 (")


def test_page_titles_name_the_alias(client, reviewer, blind_people):
    client.force_login(reviewer)
    for invite in blind_people:
        for url in (
            reverse("invite_result", args=[invite.public_id]),
            reverse("invite_report_print", args=[invite.public_id]),
            reverse("review_form", args=[invite.public_id]),
            reverse("invite_pulls_review", args=[invite.public_id]),
        ):
            title = re.search(r"<title>(.*?)</title>", client.get(url).content.decode(), re.DOTALL).group(1)
            assert alias(invite) in title and leaks(title) == [], url


def test_no_reviewer_page_fragment_or_export_names_any_of_them(client, recruiter_and_reviewer, blind_people):
    user = recruiter_and_reviewer
    client.force_login(user)
    for invite in blind_people:
        assignment_take(invite=invite, user=user)
        for url in _pages(invite):
            response = client.get(url)
            assert response.status_code == 200, url
            assert leaks(response.content.decode()) == [], (invite.candidate.name, url)
        # The commits and the diff name the alias instead, a one-character author too.
        assert alias(invite) in client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
        name = invite.candidate.name
        review_save(invite=invite, reviewer=user, **full_review(summary=f"{name} wrote clear notes. Thanks, {name}!"))

    export = client.get(reverse("reviews_export"))
    csv = b"".join(export.streaming_content).decode("utf-8")
    assert leaks(csv) == []
    for invite in blind_people:
        assert f"{alias(invite)} wrote clear notes. Thanks, {alias(invite)}!" in csv
    # Submitted: the done view and the pages with the reviews on them.
    for invite in blind_people:
        for url in _pages(invite):
            assert leaks(client.get(url).content.decode()) == [], (invite.candidate.name, url)


def test_short_names_are_hidden_in_commit_authors(client, reviewer, blind_people):
    client.force_login(reviewer)
    for invite in blind_people[1:]:
        authors = {c["author"] for c in BranchEvidence.objects.get(invite=invite, branch="issue-1").commits}
        assert authors == {invite.candidate.name}  # the evidence holds the real author...
        html = client.get(reverse("invite_result", args=[invite.public_id])).content.decode()
        assert invite.candidate.name not in html  # ...the reviewer reads the alias
        assert f"Notes by {alias(invite)} &lt;candidate@hidden.invalid&gt;" in html


def test_recruiters_still_see_real_names(client, recruiter, blind_people):
    client.force_login(recruiter)
    html = client.get(reverse("recruiter_dashboard")).content.decode()
    assert all(name in html for name in NAMES)


def test_a_short_name_is_hidden_as_a_token_of_its_own_and_nowhere_else():
    identity = Identity(alias="Candidate X", names=("李", "Li", "김민"), emails=())
    page = '<li title="by 李">李 wrote; 李明 did not. Li says <b>hi</b>; split(li) stays. 김민: done</li>'
    assert scrub(page, [identity]) == (
        '<li title="by Candidate X">Candidate X wrote; 李明 did not. Candidate X says <b>hi</b>; '
        "split(li) stays. Candidate X: done</li>"
    )
    # Plain text (an export's cell): no markup to step around.
    assert scrub("<Li> 李", [identity], html=False) == "<Candidate X> Candidate X"
