"""Pull requests: a candidate explains a pushed branch to the reviewers, GitHub-style.

Nothing is ever merged. A pull request is a title and a Markdown description on a branch; its
commits and diff are read from the repository when shown, because the branch may move (or be
deleted) after it was opened. ``head_sha`` keeps the tip seen when it was opened or last edited,
and the keep-refs (``refs/portal/keep/<sha>``) keep that commit readable after a deletion.

Everything here is controlled by the candidate: titles, descriptions, branch and file names,
file contents and sizes. So a branch is looked up among the real branches (never handed to git
as a revision expression), the diff is chosen by size before git is asked for it (lines and
blob bytes, so a huge push costs the page a bounded amount of work), and every byte from git
is decoded with replacement: gitplumbing.diffs does the reading, under the caps below. Escaping
is the templates' job; descriptions are rendered through portal.core.markdown (sanitised) by the
pages.
"""

import re
import unicodedata
from dataclasses import dataclass

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

import gitplumbing
from gitplumbing.diffs import Commit, Diff, commits_between, diff_between, merge_base
from portal.assessments.services import version_manifest
from portal.hosting.models import PullRequest
from portal.hosting.services import push_refusal, repository_path
from portal.invites.models import Invite

MAIN = "main"
TITLE_MAX = 200
DESCRIPTION_MAX = 20_000
COMMITS_MAX = 250
DIFF_MAX_BYTES = 1_000_000
DIFF_MAX_LINES = 5_000
DIFF_MAX_FILES = 300
# Files listed by name beyond the shown ones; past this only their number is given.
DIFF_MAX_LISTED = 1_000

# GitHub's closing keywords, then "#N". A colon may follow the keyword ("Fixes: #3"); some
# whitespace must come before the "#": "closes#2" links nothing, as on GitHub.
CLOSES_RE = re.compile(r"\b(?:close[sd]?|fix(?:e[sd])?|resolve[sd]?)\b:?[ \t]+#(\d{1,9})\b", re.IGNORECASE)
# Characters that change how the rest of a line reads (bidirectional overrides and isolates)
# are refused in titles with the other control characters: a reviewer must see what was typed.
BIDI_CONTROLS = frozenset("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")


class PullRequestRefused(ValueError):
    """A pull request cannot be opened or edited; the message is a sentence for the candidate."""


# Writes.


def pull_refusal(*, invite: Invite, now=None) -> str | None:
    """Why pull requests of this invite cannot be opened or edited now; None if they can."""
    reason = push_refusal(invite=invite, now=now)
    if reason is None:
        return None
    reason = reason.replace("pushes are closed", "pull requests are closed")
    return reason[0].upper() + reason[1:]


def closes_parse(*, description: str, tickets: set[int]) -> list[int]:
    """The ticket numbers ``description`` closes, in order of first mention, among ``tickets``."""
    found = []
    for match in CLOSES_RE.finditer(description):
        number = int(match.group(1))
        if number in tickets and number not in found:
            found.append(number)
    return found


def _clean_title(title: str) -> str:
    title = title.strip()
    if not title:
        raise PullRequestRefused("Give the pull request a title.")
    if len(title) > TITLE_MAX:
        raise PullRequestRefused(f"The title is {len(title)} characters long; keep it to {TITLE_MAX}.")
    if any(unicodedata.category(char) == "Cc" or char in BIDI_CONTROLS for char in title):
        raise PullRequestRefused("The title contains control characters (such as tabs or line breaks); remove them.")
    return title


def _clean_description(description: str) -> str:
    # Browsers send CRLF line breaks: counted as one character each, as the candidate sees them.
    description = description.replace("\r\n", "\n").replace("\r", "\n")
    if len(description) > DESCRIPTION_MAX:
        raise PullRequestRefused(
            f"The description is {len(description)} characters long; keep it to {DESCRIPTION_MAX:,}."
        )
    if any(unicodedata.category(char) == "Cc" and char not in "\n\t" for char in description):
        raise PullRequestRefused("The description contains control characters; remove them.")
    return description


def _closes(invite: Invite, description: str) -> list[int]:
    tickets = {ticket.number for ticket in version_manifest(invite.assessment_version).tickets}
    return closes_parse(description=description, tickets=tickets)


def _locked_open_invite(invite: Invite) -> Invite:
    """The invite's row, locked so numbers are handed out one at a time; refused if not open."""
    invite = Invite.objects.select_for_update().select_related("assessment_version").get(pk=invite.pk)
    reason = pull_refusal(invite=invite, now=timezone.now())
    if reason:
        raise PullRequestRefused(reason)
    return invite


@transaction.atomic
def pull_open(*, invite: Invite, branch: str, title: str, description: str) -> PullRequest:
    """Open a pull request from ``branch`` (as pushed now) into main."""
    invite = _locked_open_invite(invite)
    if branch == MAIN:
        raise PullRequestRefused("A pull request goes from one of your branches into main; choose another branch.")
    # Looked up among the real branches: the name is never given to git to resolve.
    head = gitplumbing.heads(repository_path(invite)).get(branch)
    if head is None:
        raise PullRequestRefused(f"There is no branch {branch[:100]!r} in your repository; push it first.")
    existing = invite.pull_requests.filter(branch=branch).first()
    if existing is not None:
        raise PullRequestRefused(f"Pull request #{existing.number} is already open for {branch}; edit it instead.")
    title = _clean_title(title)
    description = _clean_description(description)
    number = (invite.pull_requests.aggregate(last=Max("number"))["last"] or 0) + 1
    try:
        with transaction.atomic():
            return PullRequest.objects.create(
                invite=invite,
                number=number,
                branch=branch,
                title=title,
                description=description,
                closes=_closes(invite, description),
                head_sha=head,
            )
    except IntegrityError as exc:  # another request opened one for this branch at the same moment
        raise PullRequestRefused(f"A pull request is already open for {branch}; edit it instead.") from exc


@transaction.atomic
def pull_update(*, pull: PullRequest, title: str, description: str) -> PullRequest:
    """Change the title and description while the invite is open; note the branch's tip now."""
    invite = _locked_open_invite(pull.invite)
    pull = PullRequest.objects.select_for_update().get(pk=pull.pk)
    pull.title = _clean_title(title)
    pull.description = _clean_description(description)
    pull.closes = _closes(invite, pull.description)
    # A deleted branch keeps the tip it had; the pages say it is gone.
    pull.head_sha = gitplumbing.heads(repository_path(invite)).get(pull.branch, pull.head_sha)
    pull.save(update_fields=["title", "description", "closes", "head_sha", "updated_at"])
    return pull


# Reads: computed when shown, bounded by the caps above whatever was pushed.


@dataclass(frozen=True)
class PullHead:
    """Where a pull request's branch and main stand now."""

    sha: str  # the branch's tip now, or the recorded one if the branch is gone
    deleted: bool
    moved: bool  # the branch has changed since the pull request was opened or edited
    main: str | None  # main's tip now
    base: str | None  # the merge base with main; None without common history


@dataclass(frozen=True)
class PullCommits:
    commits: list[Commit]
    capped: bool  # only the latest COMMITS_MAX are listed


# The changes since main, as gitplumbing.diffs reads them (the name the pages have always used).
PullDiff = Diff


def pull_head(pull: PullRequest) -> PullHead:
    path = repository_path(pull.invite)
    heads = gitplumbing.heads(path)
    current = heads.get(pull.branch)
    sha = current or pull.head_sha
    main, base = heads.get(MAIN), None
    if main is not None:
        base = merge_base(path, main, sha)
    moved = current not in (None, pull.head_sha)
    return PullHead(sha=sha, deleted=current is None, moved=moved, main=main, base=base)


def pull_commits(pull: PullRequest, *, head: PullHead | None = None) -> PullCommits:
    """The branch's commits that main does not have, oldest first (the latest COMMITS_MAX)."""
    head = head or pull_head(pull)
    commits, capped = commits_between(repository_path(pull.invite), head.main, head.sha, limit=COMMITS_MAX)
    return PullCommits(commits=commits, capped=capped)


def pull_diff(pull: PullRequest, *, head: PullHead | None = None) -> PullDiff:
    """The changes of ``main...branch`` (since the merge base), file by file, within the caps."""
    head = head or pull_head(pull)
    if head.base is None:
        return PullDiff(files=[], unlisted=0, capped=False, no_common_history=True)
    return diff_between(
        repository_path(pull.invite),
        head.main,
        head.sha,
        max_bytes=DIFF_MAX_BYTES,
        max_lines=DIFF_MAX_LINES,
        max_files=DIFF_MAX_FILES,
        max_listed=DIFF_MAX_LISTED,
    )


# Plain reads of the rows.


def invite_pulls(*, invite: Invite):
    return PullRequest.objects.filter(invite=invite).order_by("number")


def invite_pull(*, invite: Invite, number: int) -> PullRequest | None:
    return PullRequest.objects.select_related("invite__assessment_version").filter(invite=invite, number=number).first()


def pull_tickets(pull: PullRequest) -> list:
    """The manifest's tickets this pull request closes, in the order the description names them."""
    by_number = {ticket.number: ticket for ticket in version_manifest(pull.invite.assessment_version).tickets}
    return [by_number[number] for number in pull.closes if number in by_number]


def branches_without_pull(*, invite: Invite) -> list[str]:
    """The branches a new pull request can come from: every branch but main and those with one."""
    taken = set(invite.pull_requests.values_list("branch", flat=True))
    return sorted(name for name in gitplumbing.heads(repository_path(invite)) if name != MAIN and name not in taken)
