"""Pull requests: a candidate explains a pushed branch to the reviewers, GitHub-style.

Nothing is ever merged. A pull request is a title and a Markdown description on a branch; its
commits and diff are read from the repository when shown, because the branch may move (or be
deleted) after it was opened. ``head_sha`` keeps the tip seen when it was opened or last edited,
and the keep-refs (``refs/portal/keep/<sha>``) keep that commit readable after a deletion.

Everything here is controlled by the candidate: titles, descriptions, branch and file names,
file contents and sizes. So a branch is looked up among the real branches (never handed to git
as a revision expression), the diff is chosen by size before git is asked for it (lines and
blob bytes, so a huge push costs the page a bounded amount of work), and every byte from git
is decoded with replacement. Escaping is the templates' job; descriptions are rendered through
portal.web.markdown (sanitised) by the pages.
"""

import os
import re
import unicodedata
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

import gitplumbing
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
class Commit:
    sha: str
    short_sha: str
    author: str
    authored_at: datetime | None
    subject: str
    body: str


@dataclass(frozen=True)
class PullCommits:
    commits: list[Commit]
    capped: bool  # only the latest COMMITS_MAX are listed


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "context", "add", "del" or "note" ("\ No newline at end of file")
    text: str
    old: int | None = None
    new: int | None = None


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: list[DiffLine]


@dataclass
class FileDiff:
    path: str
    old_path: str | None  # on renames and copies
    status: str  # "added", "modified", "deleted", "renamed", "copied", "type changed"
    additions: int | None  # None for binary files
    deletions: int | None
    binary: bool = False
    shown: bool = False
    hunks: list[Hunk] = field(default_factory=list)
    blob_bytes: int = 0
    # The names as git has them (undecodable bytes kept as surrogates), to ask git about the file.
    git_paths: tuple[str | None, str] = (None, "")


@dataclass(frozen=True)
class PullDiff:
    files: list[FileDiff]  # every changed file, shown or not, up to DIFF_MAX_LISTED
    unlisted: int  # changed files beyond DIFF_MAX_LISTED
    capped: bool  # some files are not shown
    no_common_history: bool = False

    @property
    def additions(self) -> int:
        return sum(f.additions or 0 for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions or 0 for f in self.files)


def pull_head(pull: PullRequest) -> PullHead:
    path = repository_path(pull.invite)
    heads = gitplumbing.heads(path)
    current = heads.get(pull.branch)
    sha = current or pull.head_sha
    main, base = heads.get(MAIN), None
    if main is not None:
        base = gitplumbing.run("merge-base", main, sha, git_dir=path, check=False).text or None
    moved = current not in (None, pull.head_sha)
    return PullHead(sha=sha, deleted=current is None, moved=moved, main=main, base=base)


def pull_commits(pull: PullRequest, *, head: PullHead | None = None) -> PullCommits:
    """The branch's commits that main does not have, oldest first (the latest COMMITS_MAX)."""
    head = head or pull_head(pull)
    path = repository_path(pull.invite)
    exclude = [f"^{head.main}"] if head.main else []
    # Fields end in NUL, which git allows in no name or message.
    output = gitplumbing.run(
        "log",
        "--no-color",
        f"--max-count={COMMITS_MAX + 1}",
        "--format=%H%x00%an%x00%at%x00%s%x00%b%x00",
        head.sha,
        *exclude,
        "--",
        git_dir=path,
        timeout=30,
    ).stdout
    fields = [part.decode(errors="replace") for part in output.split(b"\0")]
    commits = []
    for i in range(0, len(fields) - 4, 5):
        sha, author, at, subject, body = fields[i : i + 5]
        sha = sha.strip()
        when = datetime.fromtimestamp(int(at), tz=UTC) if at.isdigit() else None
        commits.append(Commit(sha, sha[:7], author, when, subject, body.strip()))
    capped = len(commits) > COMMITS_MAX
    return PullCommits(commits=list(reversed(commits[:COMMITS_MAX])), capped=capped)


_STATUS = {"A": "added", "M": "modified", "D": "deleted", "R": "renamed", "C": "copied", "T": "type changed"}
_DIFF_OPTIONS = ("--no-color", "--no-ext-diff", "--no-textconv", "-M", "--no-abbrev")


def _raw(
    path: Path, base: str, sha: str, pathspecs: list[str] | None = None
) -> list[tuple[str, str, str, str | None, str]]:
    """``git diff --raw -z``: (status letter, old blob, new blob, old path on renames, path) per file.

    Paths are decoded as the file system would (os.fsdecode), so they go back to git unchanged.
    """
    limit = ["--", *pathspecs] if pathspecs is not None else ["--"]
    output = gitplumbing.run(
        "--literal-pathspecs", "diff", *_DIFF_OPTIONS, "--raw", "-z", base, sha, *limit, git_dir=path, timeout=60
    ).stdout
    entries = []
    parts = output.split(b"\0")
    i = 0
    while i < len(parts) and parts[i].startswith(b":"):
        _, _, old_blob, new_blob, status = parts[i][1:].decode().split(" ")
        if status[0] in "RC":
            old_path, new_path, i = os.fsdecode(parts[i + 1]), parts[i + 2], i + 3
        else:
            old_path, new_path, i = None, parts[i + 1], i + 2
        entries.append((status[0], old_blob, new_blob, old_path, os.fsdecode(new_path)))
    return entries


def _readable(name: str) -> str:
    return os.fsencode(name).decode(errors="replace")


def _changed_files(path: Path, base: str, sha: str) -> list[FileDiff]:
    """Every changed file with its status, line counts and blob sizes, in git's order."""
    entries = _raw(path, base, sha)
    numstat = gitplumbing.run(
        "diff", *_DIFF_OPTIONS, "--numstat", "-z", base, sha, "--", git_dir=path, timeout=60
    ).stdout.split(b"\0")
    sizes = _blob_sizes(path, {blob for entry in entries for blob in entry[1:3]})
    files = []
    i = 0
    for letter, old_blob, new_blob, old_path, new_path in entries:
        added, deleted, rest = numstat[i].split(b"\t", 2)
        i += 3 if rest == b"" else 1  # renames: "added\tdeleted\t\0old\0new\0"
        binary = added == b"-"
        files.append(
            FileDiff(
                path=_readable(new_path),
                old_path=_readable(old_path) if old_path is not None else None,
                status=_STATUS.get(letter, "modified"),
                additions=None if binary else int(added),
                deletions=None if binary else int(deleted),
                binary=binary,
                blob_bytes=sizes.get(old_blob, 0) + sizes.get(new_blob, 0),
                git_paths=(old_path, new_path),
            )
        )
    return files


def _blob_sizes(path: Path, blobs: set[str]) -> dict[str, int]:
    wanted = sorted(blob for blob in blobs if blob.strip("0"))
    if not wanted:
        return {}
    output = gitplumbing.text(
        "cat-file", "--batch-check=%(objectname) %(objectsize)", git_dir=path, input="\n".join(wanted).encode()
    )
    sizes = {}
    for line in output.splitlines():
        name, _, size = line.partition(" ")
        if size.isdigit():
            sizes[name] = int(size)
    return sizes


def _choose(files: list[FileDiff]) -> list[FileDiff]:
    """The files whose diff is shown: in order, each that still fits in the line and byte budget.

    A file's diff is at most its two blobs plus a character per line, so blob sizes bound the
    bytes git will produce before it is asked. A file too large to fit is skipped, not the rest.
    """
    lines = size = 0
    chosen = []
    for entry in files:
        if len(chosen) == DIFF_MAX_FILES:
            break
        if entry.binary:
            chosen.append(entry)
            continue
        entry_lines = (entry.additions or 0) + (entry.deletions or 0)
        entry_size = entry.blob_bytes + 2 * entry_lines
        if lines + entry_lines <= DIFF_MAX_LINES and size + entry_size <= DIFF_MAX_BYTES:
            lines += entry_lines
            size += entry_size
            chosen.append(entry)
    return chosen


_HUNK_RE = re.compile(rb"^@@ -(\d+)(?:,\d+)? \+(\d+)(?:,\d+)? @@")


def _parse_patch(section: bytes) -> tuple[bool, list[Hunk]]:
    """One file's section of ``git diff -p``: whether git called it binary, and its hunks."""
    hunks: list[Hunk] = []
    binary = False
    old = new = 0
    for raw in section.split(b"\n"):
        match = _HUNK_RE.match(raw)
        if match:
            old, new = int(match.group(1)), int(match.group(2))
            hunks.append(Hunk(header=raw.decode(errors="replace"), lines=[]))
        elif not hunks:
            binary = binary or (raw.startswith(b"Binary files ") and raw.endswith(b" differ"))
        elif raw[:1] == b"+":
            hunks[-1].lines.append(DiffLine("add", raw[1:].decode(errors="replace"), new=new))
            new += 1
        elif raw[:1] == b"-":
            hunks[-1].lines.append(DiffLine("del", raw[1:].decode(errors="replace"), old=old))
            old += 1
        elif raw[:1] == b" ":
            hunks[-1].lines.append(DiffLine("context", raw[1:].decode(errors="replace"), old=old, new=new))
            old += 1
            new += 1
        elif raw[:1] == b"\\":
            hunks[-1].lines.append(DiffLine("note", raw[1:].decode(errors="replace").strip()))
    return binary, hunks


def _patches(path: Path, base: str, sha: str, chosen: list[FileDiff]) -> None:
    """Fill in the hunks of the chosen files, with one `git diff -p` limited to their paths.

    The paths may match more files than were chosen (a file renamed away and a new one in its
    place), so the sections are named by a `--raw` listing with the same paths, in the same order.
    """
    pathspecs = []
    for entry in chosen:
        pathspecs += [p for p in entry.git_paths if p is not None]
    if not pathspecs:
        return
    listed = _raw(path, base, sha, pathspecs)
    output = gitplumbing.run(
        "--literal-pathspecs", "diff", *_DIFF_OPTIONS, "-p", base, sha, "--", *pathspecs, git_dir=path, timeout=60
    ).stdout
    # A file's section starts with "diff --git": no hunk line can (each starts with " ", "+", "-" or a backslash).
    sections = re.split(rb"(?m)^diff --git ", output)[1:]
    wanted = {entry.git_paths: entry for entry in chosen}
    for (_, _, _, old_path, new_path), section in zip(listed, sections, strict=False):
        entry = wanted.get((old_path, new_path))
        if entry is None:
            continue
        binary, hunks = _parse_patch(section[: DIFF_MAX_BYTES + 1])
        entry.binary = entry.binary or binary
        entry.hunks = [] if entry.binary else hunks
        entry.shown = True


def pull_diff(pull: PullRequest, *, head: PullHead | None = None) -> PullDiff:
    """The changes of ``main...branch`` (since the merge base), file by file, within the caps."""
    head = head or pull_head(pull)
    if head.base is None:
        return PullDiff(files=[], unlisted=0, capped=False, no_common_history=True)
    path = repository_path(pull.invite)
    files = _changed_files(path, head.base, head.sha)
    chosen = _choose(files)
    _patches(path, head.base, head.sha, chosen)
    return PullDiff(
        files=files[:DIFF_MAX_LISTED],
        unlisted=max(0, len(files) - DIFF_MAX_LISTED),
        capped=len(chosen) < len(files),
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
