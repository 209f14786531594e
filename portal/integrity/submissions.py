"""What a submission is, read from git: the files a candidate changed, as they are at the head of their work.

Framework-free: paths and commits in, bytes out, every git command through gitplumbing.

The head of their work is, in this order of preference:

1. the integrated commit the analysis built (every issue-<n> branch merged, refs/portal/integrated/),
   when it still contains every issue-<n> head; a head it lacks (a branch that conflicted, or moved
   since) is read on its own after it;
2. else every issue-<n> head, in ticket order;
3. else main's head.

A file changed by several of these is taken from the first. Each issue-<n> branch is also read on
its own (``branch_heads``, ``changes_read``): a ticket's changes compared with the same ticket's of
other candidates. Everything here was pushed by a
candidate: names are read NUL-separated and never used as paths on disk, sizes are asked of git
before any content is read, and at most MAX_FILES files of at most MAX_FILE_BYTES (MAX_TOTAL_BYTES in
all) are read, in one ``git cat-file --batch``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import gitplumbing
from portal.integrity.fingerprints import MAX_FILE_BYTES, MAX_FILES, MAX_TOTAL_BYTES
from portal.scoring.hygiene import branch_ticket

# Modes of entries that are not files with content: symbolic links and submodules.
_NOT_FILES = ("120000", "160000")


@dataclass
class Submission:
    commit: str  # the first of the commits read (the integrated one, else the first branch head)
    files: dict[str, bytes] = field(default_factory=dict)  # path -> content, within the caps
    left_out: int = 0  # changed files not read: too large, past the caps, links


def branch_heads(*, path: Path) -> dict[int, tuple[str, str]]:
    """{ticket: (ref, head)} of every issue-<n> branch, in ticket order (one branch per ticket: the
    name allows no leading zero)."""
    found = {}
    for name, sha in gitplumbing.heads(path).items():
        ticket = branch_ticket(name)
        if ticket is not None:
            found[ticket] = (f"refs/heads/{name}", sha)
    return dict(sorted(found.items()))


def work_heads(*, path: Path, base: str, integrated: str | None) -> list[str]:
    """The commits whose changes make the submission, first one first (see the module docstring)."""
    ticket_heads = list(dict.fromkeys(sha for _, sha in branch_heads(path=path).values()))
    if integrated and not _is_commit(path, integrated):
        integrated = None
    if integrated:
        missing = [sha for sha in ticket_heads if not gitplumbing.is_ancestor(path, sha, integrated)]
        return [integrated, *missing]
    if ticket_heads:
        return ticket_heads
    main = gitplumbing.heads(path).get("main")
    return [main] if main and main != base else []


def submission_read(*, path: Path, base: str, integrated: str | None = None) -> Submission:
    """The changed files of the candidate's work against ``base``, as bytes, within the caps."""
    return changes_read(path=path, base=base, commits=work_heads(path=path, base=base, integrated=integrated))


def changes_read(*, path: Path, base: str, commits: list[str]) -> Submission:
    """The files ``commits`` changed against ``base`` (a path changed by several: the first's), as
    bytes, within the caps; one commit is one branch's changes."""
    submission = Submission(commit=commits[0] if commits else base)
    blobs: dict[str, str] = {}  # path -> blob, the first commit that changed a path wins
    for commit in commits:
        for mode, blob, name in _changed(path, base, commit):
            if name in blobs:
                continue
            if mode in _NOT_FILES:
                submission.left_out += 1
                continue
            blobs[name] = blob
    sizes = _sizes(path, set(blobs.values()))
    chosen: dict[str, str] = {}
    total = 0
    for name in sorted(blobs):
        size = sizes.get(blobs[name], MAX_FILE_BYTES + 1)
        if len(chosen) >= MAX_FILES or size > MAX_FILE_BYTES or total + size > MAX_TOTAL_BYTES:
            submission.left_out += 1
            continue
        chosen[name] = blobs[name]
        total += size
    contents = _contents(path, set(chosen.values()))
    submission.files = {name: contents[blob] for name, blob in chosen.items() if blob in contents}
    return submission


def _is_commit(path: Path, sha: str) -> bool:
    return gitplumbing.run("cat-file", "-e", f"{sha}^{{commit}}", git_dir=path, check=False).ok


def _changed(path: Path, base: str, commit: str) -> list[tuple[str, str, str]]:
    """(new mode, new blob, path) of every file added or modified from ``base`` to ``commit``."""
    output = gitplumbing.run(
        "diff", "--raw", "-z", "--no-renames", "--no-abbrev", "--no-ext-diff", "--no-textconv",
        "--diff-filter=AMT", base, commit, "--", git_dir=path, timeout=60,
    ).stdout  # fmt: skip
    parts = output.split(b"\0")
    found = []
    for i in range(0, len(parts) - 1, 2):
        meta, name = parts[i], parts[i + 1]
        if not meta.startswith(b":"):
            break
        _, new_mode, _, new_blob, _ = meta[1:].decode().split(" ")
        found.append((new_mode, new_blob, os.fsdecode(name)))
    return found


def _sizes(path: Path, blobs: set[str]) -> dict[str, int]:
    if not blobs:
        return {}
    output = gitplumbing.text(
        "cat-file", "--batch-check=%(objectname) %(objectsize)", git_dir=path, input="\n".join(sorted(blobs)).encode()
    )
    sizes = {}
    for line in output.splitlines():
        name, _, size = line.partition(" ")
        if size.isdigit():
            sizes[name] = int(size)
    return sizes


def _contents(path: Path, blobs: set[str]) -> dict[str, bytes]:
    """The bytes of each blob, read in one ``git cat-file --batch`` (they were sized first)."""
    if not blobs:
        return {}
    wanted = sorted(blobs)
    output = gitplumbing.run("cat-file", "--batch", git_dir=path, input="\n".join(wanted).encode()).stdout
    contents, at = {}, 0
    while at < len(output):
        end = output.index(b"\n", at)
        header = output[at:end].split(b" ")
        at = end + 1
        if len(header) != 3:  # "<name> missing"
            continue
        size = int(header[2])
        contents[header[0].decode()] = output[at : at + size]
        at += size + 1
    return contents
