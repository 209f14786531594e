"""The pull request pages: the candidate opens, reads and edits them; reviewers read them."""

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

import gitplumbing
from portal.hosting.models import PullRequest
from portal.hosting.pulls import pull_open
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from portal.invites.services import invite_revoke, invite_submit
from tests.conftest import PASSWORD
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite

HOSTILE_NAME = "<img src=x onerror=alert(1)>.py"


@pytest.fixture
def pushed(created, tmp_path):
    """``created`` with a commit on issue-2 that adds a module."""
    candidate_commit(
        created.invite,
        tmp_path / "work",
        branch="issue-2",
        changes={"app/pages.py": "PAGE_SIZE = 10\n"},
        message="Fix: Resolve issue #2 - page size",
    )
    return created


def _url(name, created, *args):
    return reverse(name, args=[created.link_token, *args])


def _open(created, **fields):
    values = {"branch": "issue-2", "title": "Fix the page size", "description": "Closes #2"} | fields
    return pull_open(invite=created.invite, **values)


def _html(response, status=200) -> str:
    assert response.status_code == status
    return response.content.decode()


def test_the_invite_page_links_to_the_pull_requests(client, created):
    html = _html(client.get(_url("invite_page", created)))
    assert f'<a href="{_url("pull_list", created)}">open or edit your pull requests</a>' in html


def test_the_list_offers_every_branch_but_main_and_says_how_to_link_a_ticket(client, pushed, tmp_path):
    candidate_commit(pushed.invite, tmp_path / "work", branch="issue-3")
    html = _html(client.get(_url("pull_list", pushed)))
    assert '<option value="issue-2">issue-2</option>' in html
    assert '<option value="issue-3">issue-3</option>' in html
    assert 'value="main"' not in html
    assert "<code>Closes #N</code> links the ticket." in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert "no-cache" in client.get(_url("pull_list", pushed))["Cache-Control"]


def test_opening_through_the_form_leads_to_the_pull_request(pushed):
    client = Client(enforce_csrf_checks=True)
    form = client.get(_url("pull_list", pushed))
    data = {"branch": "issue-2", "title": "Fix the page size", "description": "Closes #2\n\nFixes #9 too."}
    response = client.post(_url("pull_new", pushed), {**data, "csrfmiddlewaretoken": form.context["csrf_token"]})
    assert response.status_code == 302
    assert response["Location"] == _url("pull_detail", pushed, 1)
    html = _html(client.get(response["Location"]))
    assert "Fix the page size" in html
    assert '<span class="pull-ticket">#2 ' in html and "#9" in html  # named in the text, linked only if a ticket
    assert PullRequest.objects.get().closes == [2]
    assert "Fix: Resolve issue #2 - page size" in html  # the commit
    assert "app/pages.py" in html and "PAGE_SIZE = 10" in html  # the diff


def test_opening_needs_the_forms_csrf_token(pushed):
    client = Client(enforce_csrf_checks=True)
    response = client.post(_url("pull_new", pushed), {"branch": "issue-2", "title": "T", "description": ""})
    assert response.status_code == 403
    assert not PullRequest.objects.exists()


def test_a_refusal_shows_on_the_form_with_the_input_kept(client, pushed):
    data = {"branch": "issue-2", "title": "", "description": "My careful explanation"}
    html = _html(client.post(_url("pull_new", pushed), data), status=400)
    assert "Give the pull request a title." in html
    assert "My careful explanation</textarea>" in html
    assert '<option value="issue-2" selected>' in html
    assert not PullRequest.objects.exists()


def test_a_branch_that_does_not_exist_or_main_is_refused_on_the_form(client, pushed):
    html = _html(client.post(_url("pull_new", pushed), {"branch": "issue-5", "title": "T"}), status=400)
    assert "There is no branch &#x27;issue-5&#x27; in your repository; push it first." in html
    html = _html(client.post(_url("pull_new", pushed), {"branch": "main", "title": "T"}), status=400)
    assert "into main; choose another branch" in html


def test_getting_the_post_only_url_is_refused(client, pushed):
    assert client.get(_url("pull_new", pushed)).status_code == 405


def test_hostile_markdown_is_sanitised_on_the_page(client, pushed):
    description = (
        "<script>alert('s')</script>\n\n<img src=x onerror=alert('i')>\n\n[click](javascript:alert('j'))\n\n"
        '<a href="javascript:alert(1)" onclick="alert(2)">raw</a> **bold**'
    )
    _open(pushed, description=description)
    html = _html(client.get(_url("pull_detail", pushed, 1)))
    start = html.index('class="document pull-description"')
    article = html[start : html.index("</article>", start)]
    assert "<script" not in article and "<img" not in article
    assert not re.search(r"<[^>]*\son\w+=", article)  # no event handler on any tag
    assert "javascript:" not in article
    assert '<a rel="noopener noreferrer">raw</a> <strong>bold</strong>' in article


def test_hostile_file_and_branch_names_are_escaped(client, created, tmp_path):
    candidate_commit(created.invite, tmp_path / "work", branch="issue-2", changes={HOSTILE_NAME: "x = 1\n"})
    path = repository_path(created.invite)
    tip = gitplumbing.heads(path)["issue-2"]
    hostile_branch = '"><script>alert(1)</script>'
    gitplumbing.update_refs(path, f"create refs/heads/{hostile_branch} {tip}\n")
    html = _html(client.get(_url("pull_list", created)))
    assert "<script>alert(1)" not in html
    assert "&quot;&gt;&lt;script&gt;alert(1)&lt;/script&gt;" in html
    _open(created)
    html = _html(client.get(_url("pull_detail", created, 1)))
    assert "<img src=x" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;.py" in html


def test_a_binary_file_is_named_as_binary(client, created, tmp_path):
    candidate_commit(created.invite, tmp_path / "work", branch="issue-2", changes={"blob.bin": "\x00\x01\x02binary"})
    _open(created)
    html = _html(client.get(_url("pull_detail", created, 1)))
    assert "blob.bin" in html and "Binary file, not shown." in html


def test_a_huge_diff_is_capped_and_says_so(client, created, tmp_path):
    lines = "".join(f"line {n}\n" for n in range(3_000))
    changes = {"a.txt": lines, "b.txt": lines, "c.txt": lines}
    candidate_commit(created.invite, tmp_path / "work", branch="issue-2", changes=changes)
    _open(created)
    html = _html(client.get(_url("pull_detail", created, 1)))
    assert "The diff is large: some files are not shown below, only named." in html
    assert html.count("Not shown: too large for this page.") == 2
    assert "line 2999" in html  # a.txt is shown whole
    assert html.count('class="diff-add"') == 3_000


def test_a_branch_deleted_after_opening_keeps_the_pull_request_readable(client, pushed):
    _open(pushed)
    gitplumbing.update_refs(repository_path(pushed.invite), "delete refs/heads/issue-2\n")
    html = _html(client.get(_url("pull_detail", pushed, 1)))
    assert "The branch <code>issue-2</code> has been deleted" in html
    assert "PAGE_SIZE = 10" in html


def test_the_candidate_edits_until_submitting_then_editing_is_refused(client, pushed):
    _open(pushed)
    edit = _url("pull_edit", pushed, 1)
    assert 'value="Fix the page size"' in _html(client.get(edit))
    response = client.post(edit, {"title": "Page size, fixed", "description": "Fixes #3"})
    assert response.status_code == 302 and response["Location"] == _url("pull_detail", pushed, 1)
    assert PullRequest.objects.get().closes == [3]

    invite_submit(invite=pushed.invite)
    html = _html(client.get(edit), status=403)
    assert "pull requests are closed" in html and "<form" not in html.split("</nav>")[1]
    html = _html(client.post(edit, {"title": "Too late", "description": ""}), status=403)
    assert PullRequest.objects.get().title == "Page size, fixed"
    detail = _html(client.get(_url("pull_detail", pushed, 1)))
    assert edit not in detail and "pull requests are closed" in detail
    list_page = _html(client.get(_url("pull_list", pushed)))
    assert _url("pull_new", pushed) not in list_page


def test_after_the_deadline_editing_and_opening_are_refused(client, pushed):
    _open(pushed)
    Invite.objects.filter(pk=pushed.invite.pk).update(deadline=timezone.now() - timedelta(minutes=1))
    html = _html(client.post(_url("pull_edit", pushed, 1), {"title": "Late", "description": ""}), status=403)
    assert "The time for this assessment ended at" in html
    html = _html(client.post(_url("pull_new", pushed), {"branch": "issue-2", "title": "Late"}), status=400)
    assert "pull requests are closed" in html
    assert PullRequest.objects.get().title == "Fix the page size"


def test_an_edit_refused_keeps_what_was_typed(client, pushed):
    _open(pushed)
    response = client.post(_url("pull_edit", pushed, 1), {"title": "x" * 201, "description": "Kept text"})
    html = _html(response, status=400)
    assert "keep it to 200" in html and "Kept text</textarea>" in html
    assert PullRequest.objects.get().title == "Fix the page size"


def test_another_invites_link_never_reaches_these_pull_requests(client, pushed, assessment_version):
    _open(pushed)
    other = make_invite(assessment_version, name="Bob Other")
    assert client.get(_url("pull_detail", other, 1)).status_code == 404
    assert client.get(_url("pull_edit", other, 1)).status_code == 404
    assert client.post(_url("pull_edit", other, 1), {"title": "Hijack"}).status_code == 404
    assert "Fix the page size" not in _html(client.get(_url("pull_list", other)))
    assert PullRequest.objects.get().title == "Fix the page size"


def test_a_revoked_invite_or_unknown_link_gets_the_same_404(client, pushed):
    _open(pushed)
    invite_revoke(invite=pushed.invite)
    for name, args in (("pull_list", []), ("pull_detail", [1]), ("pull_edit", [1])):
        assert client.get(_url(name, pushed, *args)).status_code == 404
    assert client.get(reverse("pull_detail", args=["not-a-token", 1])).status_code == 404


def test_an_unknown_number_is_404(client, pushed):
    assert client.get(_url("pull_detail", pushed, 7)).status_code == 404


# The reviewer's page.


def test_the_reviewer_page_is_for_reviewers_only(client, pushed, recruiter, reviewer):
    _open(pushed)
    url = reverse("invite_pulls_review", args=[pushed.invite.public_id])
    response = client.get(url)
    assert response.status_code == 302 and response["Location"].startswith(reverse("login"))
    client.login(username=recruiter.username, password=PASSWORD)
    assert client.get(url).status_code == 403
    client.login(username=reviewer.username, password=PASSWORD)
    html = _html(client.get(url))
    assert "#1 Fix the page size" in html
    assert "Fix: Resolve issue #2 - page size" in html and "PAGE_SIZE = 10" in html
    assert "<form" not in html.split("</nav>")[1]  # read only


def test_the_reviewer_page_of_an_unknown_invite_is_404(client, reviewer):
    client.login(username=reviewer.username, password=PASSWORD)
    assert client.get(reverse("invite_pulls_review", args=["nosuchinvite"])).status_code == 404


def test_the_list_names_each_pull_request_and_says_when_every_branch_has_one(client, pushed):
    _open(pushed, title="<b>Page size</b>")
    html = _html(client.get(_url("pull_list", pushed)))
    link = f'<a href="{_url("pull_detail", pushed, 1)}"><strong>&lt;b&gt;Page size&lt;/b&gt;</strong>'
    assert link in html and "<code>issue-2</code> into <code>main</code>" in html
    assert "Every branch you pushed has a pull request" in html
    assert "Push a branch first" not in html


def test_added_and_removed_lines_say_so_in_words_as_well_as_colour(client, created, tmp_path):
    candidate_commit(created.invite, tmp_path / "work", branch="issue-2", changes={"app/main.py": "x = 1\n"})
    _open(created)
    html = _html(client.get(_url("pull_detail", created, 1)))
    assert '<span class="diff-sign" aria-hidden="true">+</span><span class="visually-hidden">added: </span>' in html
    assert '<span class="visually-hidden">removed: </span>' in html
    assert 'role="region" aria-label="Changes to app/main.py"' in html  # its scroll box takes the keyboard


def test_the_reviewer_page_points_to_the_report_for_line_comments(client, pushed, reviewer):
    _open(pushed)
    client.login(username=reviewer.username, password=PASSWORD)
    html = _html(client.get(reverse("invite_pulls_review", args=[pushed.invite.public_id])))
    report = reverse("invite_result", args=[pushed.invite.public_id])
    assert f'<a href="{report}#diffs">report\'s changes by branch</a>' in html
