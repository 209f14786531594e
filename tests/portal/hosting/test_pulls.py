"""Pull requests: opening and editing them, and reading their commits and diff from the repository."""

import re
from datetime import timedelta

import pytest
from django.utils import timezone

import gitplumbing
from portal.hosting.models import PullRequest
from portal.hosting.pulls import (
    COMMITS_MAX,
    DESCRIPTION_MAX,
    PullRequestRefused,
    closes_parse,
    pull_commits,
    pull_diff,
    pull_head,
    pull_open,
    pull_update,
)
from portal.hosting.services import repository_path
from portal.invites.models import Invite
from portal.invites.services import invite_revoke, invite_submit
from tests.support.candidates import candidate_commit
from tests.support.factories import make_invite

TICKETS = {1, 2, 3, 4, 5, 6}


def _open(invite, branch="issue-2", title="Fix the page size", description="Closes #2", **kw) -> PullRequest:
    return pull_open(invite=invite, branch=branch, title=title, description=description, **kw)


@pytest.fixture
def pushed(invite, tmp_path):
    """The invite with a commit on issue-2 (a change to the README and a new module)."""
    candidate_commit(
        invite,
        tmp_path / "work",
        branch="issue-2",
        changes={"README.md": "# Rewritten\n", "app/pages.py": "PAGE = 10\n"},
        message="Fix: Resolve issue #2 - page size\n\nThe last page was short by one.",
    )
    return invite


def _delete_branch(invite, branch):
    gitplumbing.update_refs(repository_path(invite), f"delete refs/heads/{branch}\n")


def commit_files(invite, branch: str, files: dict[str, bytes], *, parent: str | None = None, message="Change") -> str:
    """A commit of ``files`` (raw bytes; names may be any str, surrogate-escaped bytes included)
    on ``parent`` (by default the starting point), set as ``branch``: for content a text editor
    would not write."""
    path = repository_path(invite)
    parent = parent or invite.repository.base_commit
    env = {
        "GIT_INDEX_FILE": str(path / f"test-index-{branch}"),
        **gitplumbing.identity_env("Ann Example", "ann@example.com"),
    }
    gitplumbing.run("read-tree", parent, git_dir=path, env=env)
    for name, data in files.items():
        blob = gitplumbing.text("hash-object", "-w", "--stdin", git_dir=path, input=data)
        gitplumbing.run("update-index", "--add", "--cacheinfo", f"100644,{blob},{name}", git_dir=path, env=env)
    tree = gitplumbing.text("write-tree", git_dir=path, env=env)
    commit = gitplumbing.text("commit-tree", tree, "-p", parent, "-m", message, git_dir=path, env=env)
    gitplumbing.update_refs(path, f"update refs/heads/{branch} {commit}\n")
    (path / f"test-index-{branch}").unlink()
    return commit


# Parsing the description.


def test_closing_keywords_link_existing_tickets_in_order_of_mention():
    text = "Fixes #3, and this also resolves #1.\nCLOSED #3 again; Resolve: #6"
    assert closes_parse(description=text, tickets=TICKETS) == [3, 1, 6]


def test_a_ticket_that_does_not_exist_is_ignored():
    assert closes_parse(description="fixes #9 and closes #2", tickets=TICKETS) == [2]


def test_without_a_space_before_the_hash_nothing_is_linked_as_on_github():
    assert closes_parse(description="closes#2", tickets=TICKETS) == []


def test_keywords_inside_other_words_or_numbers_with_more_digits_link_nothing():
    assert closes_parse(description="disclosed #2, prefixes #3, fixes #22, refs #1", tickets=TICKETS) == []


# Opening.


def test_it_opens_from_a_pushed_branch_at_its_tip_with_the_tickets_it_closes(pushed):
    pull = _open(pushed, description="Closes #2\n\nAlso fixes #9, which is not a ticket.")
    heads = gitplumbing.heads(repository_path(pushed))
    assert (pull.number, pull.branch, pull.head_sha) == (1, "issue-2", heads["issue-2"])
    assert pull.closes == [2]
    assert pull.title == "Fix the page size"


def test_numbers_count_up_within_each_invite(pushed, tmp_path, assessment_version):
    candidate_commit(pushed, tmp_path / "work", branch="issue-3")
    assert [_open(pushed).number, _open(pushed, branch="issue-3").number] == [1, 2]
    other = make_invite(assessment_version).invite
    candidate_commit(other, tmp_path / "other", branch="issue-2")
    assert _open(other).number == 1


def test_a_branch_that_does_not_exist_is_refused(pushed):
    with pytest.raises(
        PullRequestRefused, match=re.escape("There is no branch 'issue-4' in your repository; push it first.")
    ):
        _open(pushed, branch="issue-4")
    assert not PullRequest.objects.exists()


def test_revision_expressions_are_not_branches(pushed):
    for name in ("issue-2^", "issue-2~1", "HEAD", "refs/heads/issue-2", "issue-2@{0}", "--all"):
        with pytest.raises(PullRequestRefused, match="There is no branch"):
            _open(pushed, branch=name)


def test_main_is_refused(pushed):
    with pytest.raises(PullRequestRefused, match="into main; choose another branch"):
        _open(pushed, branch="main")


def test_a_second_pull_request_for_the_same_branch_is_refused(pushed):
    _open(pushed)
    with pytest.raises(
        PullRequestRefused, match=re.escape("Pull request #1 is already open for issue-2; edit it instead.")
    ):
        _open(pushed, title="Again")
    assert PullRequest.objects.count() == 1


@pytest.mark.parametrize(
    ("title", "message"),
    [
        ("   ", "Give the pull request a title."),
        ("x" * 201, "The title is 201 characters long; keep it to 200."),
        ("Fix\nit", "control characters"),
        ("Fix\x00it", "control characters"),
        ("Fix\x1b[31mit", "control characters"),
        ("Fix \u202egnp.exe", "control characters"),
    ],
)
def test_bad_titles_are_refused(pushed, title, message):
    with pytest.raises(PullRequestRefused, match=re.escape(message)):
        _open(pushed, title=title)
    assert not PullRequest.objects.exists()


def test_a_title_of_200_characters_is_kept_trimmed(pushed):
    assert _open(pushed, title=f"  {'x' * 200}  ").title == "x" * 200


def test_an_overlong_description_is_refused_and_one_at_the_limit_is_kept(pushed):
    with pytest.raises(
        PullRequestRefused, match=re.escape("The description is 20001 characters long; keep it to 20,000.")
    ):
        _open(pushed, description="x" * (DESCRIPTION_MAX + 1))
    # Browser line breaks (CRLF) count once.
    pull = _open(pushed, description="ab\r\n" * 6666 + "xy")
    assert len(pull.description) == DESCRIPTION_MAX
    assert "\r" not in pull.description


def test_control_characters_in_the_description_are_refused_but_tabs_and_lines_are_not(pushed):
    with pytest.raises(PullRequestRefused, match="The description contains control characters"):
        _open(pushed, description="nul \x00 byte")
    assert _open(pushed, description="a\tb\nc").description == "a\tb\nc"


@pytest.mark.parametrize("close", ["submit", "revoke", "deadline"])
def test_a_closed_invite_is_refused_with_the_reason(pushed, close):
    if close == "submit":
        invite_submit(invite=pushed)
        expected = r"This assessment was submitted at .* UTC; pull requests are closed\."
    elif close == "revoke":
        invite_revoke(invite=pushed)
        expected = r"This invite has been revoked; contact the recruiter who sent it\."
    else:
        Invite.objects.filter(pk=pushed.pk).update(deadline=timezone.now() - timedelta(seconds=1))
        expected = r"The time for this assessment ended at .* UTC; pull requests are closed\."
    with pytest.raises(PullRequestRefused, match=expected):
        _open(pushed)
    assert not PullRequest.objects.exists()


# Editing.


def test_editing_changes_the_text_reparses_closes_and_notes_the_new_tip(pushed, tmp_path):
    pull = _open(pushed)
    new_tip = candidate_commit(pushed, tmp_path / "work", branch="issue-2", message="Fix: Resolve issue #2 - again")
    edited = pull_update(pull=pull, title="Page size, take two", description="Fixes #3\nresolves #2")
    edited.refresh_from_db()
    assert (edited.title, edited.closes, edited.head_sha) == ("Page size, take two", [3, 2], new_tip)


def test_an_edit_with_a_bad_title_changes_nothing(pushed):
    pull = _open(pushed)
    with pytest.raises(PullRequestRefused, match=re.escape("Give the pull request a title.")):
        pull_update(pull=pull, title="", description="Fixes #3")
    pull.refresh_from_db()
    assert (pull.title, pull.description, pull.closes) == ("Fix the page size", "Closes #2", [2])


def test_editing_is_refused_after_submission_and_after_the_deadline(pushed):
    pull = _open(pushed)
    Invite.objects.filter(pk=pushed.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    with pytest.raises(PullRequestRefused, match="pull requests are closed"):
        pull_update(pull=PullRequest.objects.get(pk=pull.pk), title="Late", description="")
    Invite.objects.filter(pk=pushed.pk).update(deadline=None)
    invite_submit(invite=pushed)
    with pytest.raises(PullRequestRefused, match=r"submitted at .*; pull requests are closed"):
        pull_update(pull=PullRequest.objects.get(pk=pull.pk), title="Late", description="")
    pull.refresh_from_db()
    assert pull.title == "Fix the page size"


# Commits.


def test_commits_are_those_of_the_branch_not_on_main_oldest_first(pushed):
    pull = _open(pushed)
    commit_files(pushed, "issue-2", {"app/more.py": b"MORE = 1\n"}, parent=pull.head_sha, message="Second step")
    listed = pull_commits(pull)
    assert [c.subject for c in listed.commits] == ["Fix: Resolve issue #2 - page size", "Second step"]
    first = listed.commits[0]
    assert first.body == "The last page was short by one."
    assert first.author == "Ann Example"
    assert first.short_sha == first.sha[:7] and first.authored_at is not None
    assert not listed.capped
    assert pull_head(pull).moved


def test_commits_are_capped_with_a_flag(invite):
    path = repository_path(invite)
    base = invite.repository.base_commit
    tree = gitplumbing.text("rev-parse", f"{base}^{{tree}}", git_dir=path)
    env = gitplumbing.identity_env("Ann Example", "ann@example.com")
    tip = base
    for n in range(COMMITS_MAX + 5):
        tip = gitplumbing.text("commit-tree", tree, "-p", tip, "-m", f"step {n}", git_dir=path, env=env)
    gitplumbing.update_refs(path, f"create refs/heads/long {tip}\n")
    listed = pull_commits(_open(invite, branch="long"))
    assert listed.capped
    assert len(listed.commits) == COMMITS_MAX
    assert listed.commits[-1].subject == f"step {COMMITS_MAX + 4}"  # the latest are kept


# Diff.


def _file(diff, path):
    return next(f for f in diff.files if f.path == path)


def test_the_diff_lists_each_file_with_its_status_counts_and_typed_lines(pushed):
    diff = pull_diff(_open(pushed))
    added = _file(diff, "app/pages.py")
    assert (added.status, added.additions, added.deletions, added.shown) == ("added", 1, 0, True)
    assert [(line.kind, line.text, line.new) for line in added.hunks[0].lines] == [("add", "PAGE = 10", 1)]
    readme = _file(diff, "README.md")
    assert readme.status == "modified" and readme.additions == 1 and readme.deletions > 1
    kinds = {line.kind for hunk in readme.hunks for line in hunk.lines}
    assert kinds == {"add", "del"}
    assert not diff.capped


def test_renames_name_the_old_and_new_path(invite, tmp_path):
    readme = gitplumbing.run("show", "main:README.md", git_dir=repository_path(invite)).stdout.decode()
    candidate_commit(invite, tmp_path / "work", branch="issue-2", changes={"README.md": None, "docs/README.md": readme})
    renamed = _file(pull_diff(_open(invite)), "docs/README.md")
    assert (renamed.status, renamed.old_path, renamed.additions, renamed.deletions) == ("renamed", "README.md", 0, 0)
    assert renamed.shown and renamed.hunks == []


def test_a_binary_file_is_named_as_binary_without_lines(invite):
    commit_files(invite, "issue-2", {"logo.png": b"\x89PNG\r\n\x1a\n\x00" + bytes(range(256))})
    binary = _file(pull_diff(_open(invite)), "logo.png")
    assert binary.binary and binary.shown
    assert binary.hunks == [] and binary.additions is None


def test_non_utf8_content_and_names_are_decoded_with_replacement(invite):
    commit_files(invite, "issue-2", {"caf\udce9.txt": "café\n".encode("latin-1")})
    latin = _file(pull_diff(_open(invite)), "caf\ufffd.txt")
    assert latin.status == "added" and latin.shown
    assert latin.hunks[0].lines[0].text == "caf\ufffd"


def test_a_huge_diff_is_capped_and_the_rest_listed_as_not_shown(invite):
    big = "".join(f"line {n}\n" for n in range(4_000)).encode()
    files = {f"big{n}.txt": big for n in range(3)}
    files["huge.txt"] = b"x" * 2_000_000 + b"\n"
    files["small.txt"] = b"small\n"
    commit_files(invite, "issue-2", files)
    diff = pull_diff(_open(invite))
    shown = {f.path for f in diff.files if f.shown}
    assert diff.capped
    assert shown == {"big0.txt", "small.txt"}  # the rest does not fit in 5,000 lines and 1 MB
    assert sum(len(h.lines) for f in diff.files for h in f.hunks) <= 5_000
    huge = _file(diff, "huge.txt")
    assert (huge.additions, huge.shown, huge.hunks) == (1, False, [])
    assert len(diff.files) == 5


def test_a_file_renamed_away_and_replaced_keeps_each_diff_with_its_file(invite):
    readme = gitplumbing.run("show", "main:README.md", git_dir=repository_path(invite)).stdout
    files = {"moved/README.md": readme, "README.md": b"A new readme\n"}
    commit_files(invite, "issue-2", files)
    diff = pull_diff(_open(invite))
    assert _file(diff, "README.md").hunks[0].lines[-1].text == "A new readme"
    assert all(line.kind == "add" for hunk in _file(diff, "moved/README.md").hunks for line in hunk.lines)


def test_a_deleted_branch_keeps_the_pull_request_readable_at_its_recorded_tip(pushed):
    pull = _open(pushed)
    _delete_branch(pushed, "issue-2")
    head = pull_head(pull)
    assert head.deleted and head.sha == pull.head_sha and not head.moved
    assert [c.subject for c in pull_commits(pull).commits] == ["Fix: Resolve issue #2 - page size"]
    assert {f.path for f in pull_diff(pull).files} == {"README.md", "app/pages.py"}


def test_a_branch_without_common_history_with_main_shows_no_diff(invite):
    path = repository_path(invite)
    empty_tree = gitplumbing.text("hash-object", "-t", "tree", "-w", "--stdin", git_dir=path, input=b"")
    env = gitplumbing.identity_env("Ann Example", "ann@example.com")
    orphan = gitplumbing.text("commit-tree", empty_tree, "-m", "Start again", git_dir=path, env=env)
    gitplumbing.update_refs(path, f"create refs/heads/orphan {orphan}\n")
    pull = _open(invite, branch="orphan")
    assert pull_diff(pull).no_common_history
    assert [c.subject for c in pull_commits(pull).commits] == ["Start again"]
