"""Commits and diffs between two commits, structured and bounded, as plain data that can be stored.

Framework-free: pull requests read them when shown (portal.hosting.pulls) and the invite's
analysis stores them per branch head (portal.scoring.analysis), so both show the same thing.

Everything read here was pushed by a candidate: names, messages, file names, contents and sizes.
So revisions are commit names the caller already resolved (never a candidate's expression), the
files whose diff is read are chosen by size before git is asked for their patch (lines and blob
bytes, so a huge push costs a bounded amount of work), and every byte from git is decoded with
replacement. Escaping is the job of whoever renders the result.

Every dataclass turns into JSON-ready data with ``to_dict`` and back with ``from_dict``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import gitplumbing

# Files listed by name beyond the shown ones; past this only their number is given.
MAX_LISTED = 1_000


@dataclass(frozen=True)
class Commit:
    sha: str
    short_sha: str
    author: str
    authored_at: datetime | None
    subject: str
    body: str
    author_email: str = ""
    # Who made the commit object, when not the author (a rebase, a patch applied for someone).
    committer: str = ""
    committer_email: str = ""

    def to_dict(self) -> dict:
        return {
            "sha": self.sha,
            "short_sha": self.short_sha,
            "author": self.author,
            "author_email": self.author_email,
            "committer": self.committer,
            "committer_email": self.committer_email,
            "authored_at": self.authored_at.isoformat() if self.authored_at else None,
            "subject": self.subject,
            "body": self.body,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Commit:
        at = data.get("authored_at")
        return cls(
            sha=data["sha"],
            short_sha=data["short_sha"],
            author=data["author"],
            author_email=data.get("author_email", ""),
            committer=data.get("committer", ""),
            committer_email=data.get("committer_email", ""),
            authored_at=datetime.fromisoformat(at) if at else None,
            subject=data["subject"],
            body=data["body"],
        )


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "context", "add", "del" or "note" ("\ No newline at end of file")
    text: str
    old: int | None = None
    new: int | None = None

    def to_dict(self) -> dict:
        return {"kind": self.kind, "text": self.text, "old": self.old, "new": self.new}

    @classmethod
    def from_dict(cls, data: dict) -> DiffLine:
        return cls(kind=data["kind"], text=data["text"], old=data.get("old"), new=data.get("new"))


@dataclass(frozen=True)
class Hunk:
    header: str
    lines: list[DiffLine]

    def to_dict(self) -> dict:
        return {"header": self.header, "lines": [line.to_dict() for line in self.lines]}

    @classmethod
    def from_dict(cls, data: dict) -> Hunk:
        return cls(header=data["header"], lines=[DiffLine.from_dict(line) for line in data["lines"]])


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
    # Not stored: surrogates are not valid JSON text everywhere, and a stored diff asks git nothing.
    git_paths: tuple[str | None, str] = (None, "")

    def to_dict(self) -> dict:
        return {
            "path": self.path,
            "old_path": self.old_path,
            "status": self.status,
            "additions": self.additions,
            "deletions": self.deletions,
            "binary": self.binary,
            "shown": self.shown,
            "hunks": [hunk.to_dict() for hunk in self.hunks],
            "blob_bytes": self.blob_bytes,
        }

    @classmethod
    def from_dict(cls, data: dict) -> FileDiff:
        return cls(
            path=data["path"],
            old_path=data.get("old_path"),
            status=data["status"],
            additions=data.get("additions"),
            deletions=data.get("deletions"),
            binary=data.get("binary", False),
            shown=data.get("shown", False),
            hunks=[Hunk.from_dict(hunk) for hunk in data.get("hunks", ())],
            blob_bytes=data.get("blob_bytes", 0),
        )


@dataclass(frozen=True)
class Diff:
    files: list[FileDiff]  # every changed file, shown or not, up to MAX_LISTED
    unlisted: int  # changed files beyond MAX_LISTED
    capped: bool  # some files are not shown
    no_common_history: bool = False

    @property
    def additions(self) -> int:
        return sum(f.additions or 0 for f in self.files)

    @property
    def deletions(self) -> int:
        return sum(f.deletions or 0 for f in self.files)

    @property
    def not_shown(self) -> list[str]:
        """The listed files whose changes did not fit within the caps."""
        return [f.path for f in self.files if not f.shown]

    def to_dict(self) -> dict:
        return {
            "files": [f.to_dict() for f in self.files],
            "unlisted": self.unlisted,
            "capped": self.capped,
            "no_common_history": self.no_common_history,
        }

    @classmethod
    def from_dict(cls, data: dict) -> Diff:
        return cls(
            files=[FileDiff.from_dict(f) for f in data.get("files", ())],
            unlisted=data.get("unlisted", 0),
            capped=data.get("capped", False),
            no_common_history=data.get("no_common_history", False),
        )


def merge_base(git_dir: Path | str, one: str, two: str) -> str | None:
    """The best common ancestor of two commits; None when they share no history."""
    return gitplumbing.run("merge-base", one, two, git_dir=git_dir, check=False).text or None


def commits_between(git_dir: Path | str, base: str | None, head: str, *, limit: int) -> tuple[list[Commit], bool]:
    """The commits of ``head`` that ``base`` does not have, oldest first: the latest ``limit``,
    and whether there were more. Without ``base``, every commit of ``head``."""
    exclude = [f"^{base}"] if base else []
    # Fields end in NUL, which git allows in no name or message.
    output = gitplumbing.run(
        "log",
        "--no-color",
        f"--max-count={limit + 1}",
        "--format=%H%x00%an%x00%ae%x00%cn%x00%ce%x00%at%x00%s%x00%b%x00",
        head,
        *exclude,
        "--",
        git_dir=git_dir,
        timeout=30,
    ).stdout
    fields = [part.decode(errors="replace") for part in output.split(b"\0")]
    commits = []
    for i in range(0, len(fields) - 7, 8):
        sha, author, email, committer, committer_email, at, subject, body = fields[i : i + 8]
        sha = sha.strip()
        when = datetime.fromtimestamp(int(at), tz=UTC) if at.isdigit() else None
        commits.append(
            Commit(
                sha=sha,
                short_sha=sha[:7],
                author=author,
                author_email=email,
                committer=committer,
                committer_email=committer_email,
                authored_at=when,
                subject=subject,
                body=body.strip(),
            )
        )
    return list(reversed(commits[:limit])), len(commits) > limit


def diff_between(
    git_dir: Path | str,
    base: str | None,
    head: str,
    *,
    max_bytes: int,
    max_lines: int,
    max_files: int,
    max_listed: int = MAX_LISTED,
) -> Diff:
    """The changes of ``base...head`` (since their merge base), file by file, within the caps.

    Every changed file is listed (up to ``max_listed``); the patches of those that fit in the
    budget are read, in git's order, each file too large skipped rather than the rest.
    """
    since = merge_base(git_dir, base, head) if base else None
    if since is None:
        return Diff(files=[], unlisted=0, capped=False, no_common_history=True)
    path = Path(git_dir)
    files = _changed_files(path, since, head)
    chosen = _choose(files, max_bytes=max_bytes, max_lines=max_lines, max_files=max_files)
    _patches(path, since, head, chosen, max_bytes=max_bytes)
    return Diff(
        files=files[:max_listed],
        unlisted=max(0, len(files) - max_listed),
        capped=len(chosen) < len(files),
    )


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


def _choose(files: list[FileDiff], *, max_bytes: int, max_lines: int, max_files: int) -> list[FileDiff]:
    """The files whose diff is shown: in order, each that still fits in the line and byte budget.

    A file's diff is at most its two blobs plus a character per line, so blob sizes bound the
    bytes git will produce before it is asked. A file too large to fit is skipped, not the rest.
    """
    lines = size = 0
    chosen = []
    for entry in files:
        if len(chosen) == max_files:
            break
        if entry.binary:
            chosen.append(entry)
            continue
        entry_lines = (entry.additions or 0) + (entry.deletions or 0)
        entry_size = entry.blob_bytes + 2 * entry_lines
        if lines + entry_lines <= max_lines and size + entry_size <= max_bytes:
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


def _patches(path: Path, base: str, sha: str, chosen: list[FileDiff], *, max_bytes: int) -> None:
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
        binary, hunks = _parse_patch(section[: max_bytes + 1])
        entry.binary = entry.binary or binary
        entry.hunks = [] if entry.binary else hunks
        entry.shown = True
