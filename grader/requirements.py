"""What a candidate may change in the project's requirements file, and what their commit changed.

A run's code runs with the assessment's runtime, built once from the package's own requirements
file: nothing a candidate writes is ever installed. [runtime] candidate_requirements says which
distributions a candidate may list beyond that file as shipped: "none" (the default), or an
allow-list of names the runtime already has (the manifest refuses a name its requirements file
lacks). ``requirements_refused`` names every addition or change the policy does not allow, so the
run can say so in words instead of the candidate finding out from an ImportError, or never.

Read outside the sandbox, from a tree the candidate wrote: the file is opened without following
links, only its first MAX_BYTES and MAX_LINES are read, and no line is ever evaluated.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

MAX_BYTES = 64 * 1024
MAX_LINES = 2000
NOT_A_FILE = "is a link or not a regular file (it was not read)"
# What a note quotes of one line, and how many changes it names before "and N more".
QUOTE_CAP = 60
NAMED_CAP = 5

# PEP 508's name, at the start of a requirement line; the rest (extras, versions, markers) follows.
_NAME = re.compile(r"([A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(.*)")
# pip reads "#" as a comment at the start of a line or after whitespace (not inside a URL's fragment).
_COMMENT = re.compile(r"(^|\s)#.*$")


def canonical_name(name: str) -> str:
    """A distribution name as pip compares them (PEP 503): "Typing_Extensions" is "typing-extensions"."""
    return re.sub(r"[-_.]+", "-", name).lower()


@dataclass(frozen=True)
class Requirements:
    """A requirements file as read: each distribution's line (normalised), and what is not a requirement."""

    lines: dict[str, str] = field(default_factory=dict)  # canonical name -> the line, whitespace removed
    refused: tuple[str, ...] = ()  # options, links, paths and lines that name no distribution, as written
    unread: str = ""  # what of the file was not read, after its name ("is larger than 64 KB..."); "" if none

    @property
    def names(self) -> set[str]:
        return set(self.lines)


def requirements_parse(text: str) -> Requirements:
    """The requirement lines of ``text``; options (-r, -e, --index-url...), URLs and local paths are
    kept apart as refused: a runtime is defined by its pins alone, and an option could point pip anywhere."""
    lines: dict[str, str] = {}
    refused: list[str] = []
    logical = ""
    every = text.splitlines()
    for raw in every[:MAX_LINES]:
        logical += raw
        if logical.endswith("\\"):  # a continuation: the next line is part of this one
            logical = logical[:-1]
            continue
        line, logical = _COMMENT.sub("", logical).strip(), ""
        if not line:
            continue
        match = _NAME.fullmatch(line)
        rest = match[2] if match else ""
        if line.startswith("-") or not match or "@" in rest or rest[:1] not in "[(;<>=!~":
            refused.append(line)
            continue
        name = canonical_name(match[1])
        lines[name] = name + re.sub(r"\s+", "", rest).lower()
    unread = f"has more than {MAX_LINES} lines (only the first {MAX_LINES} were read)" if len(every) > MAX_LINES else ""
    return Requirements(lines=lines, refused=tuple(refused), unread=unread)


def requirements_read(path: Path) -> Requirements | None:
    """The requirements file at ``path``, None if there is none. A link is not followed and anything
    but a regular file is not read (``unread`` says so); a huge file is read up to MAX_BYTES."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        return None
    except OSError:
        # O_NOFOLLOW on a link (ELOOP), a folder, a file it may not read: said, never followed.
        return Requirements(unread=NOT_A_FILE)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return Requirements(unread=NOT_A_FILE)
        data = os.read(fd, MAX_BYTES + 1)
    finally:
        os.close(fd)
    parsed = requirements_parse(data[:MAX_BYTES].decode("utf-8", errors="replace"))
    if len(data) > MAX_BYTES:
        kb = MAX_BYTES // 1024
        return Requirements(
            lines=parsed.lines,
            refused=parsed.refused,
            unread=f"is larger than {kb} KB (only its first {kb} KB were read)",
        )
    return parsed


def requirements_refused(
    *, shipped: Requirements, candidate: Requirements | None, allowed: tuple[str, ...]
) -> list[str]:
    """What the candidate's file adds or changes that ``allowed`` does not let them, in words
    ("adds requests", "changes pydantic to pydantic==1.10", "has the option -r extra.txt").

    A line as shipped is always fine, and so is an allowed name in any form: the runtime has it, at
    the package's pin. A line removed installs nothing and uninstalls nothing: it is not a change here.
    """
    if candidate is None:
        return []
    allow = {canonical_name(name) for name in allowed}
    found = []
    for name, line in candidate.lines.items():
        if name in allow or shipped.lines.get(name) == line:
            continue
        found.append(f"changes {name} to {_quote(line)}" if name in shipped.lines else f"adds {_quote(line)}")
    for line in candidate.refused:
        if line not in shipped.refused:
            found.append(f"has the option {_quote(line)}" if line.startswith("-") else f"has {_quote(line)}")
    if candidate.unread:
        found.append(candidate.unread)
    return found


def requirements_note(*, filename: str, refused: list[str], allowed: tuple[str, ...]) -> str:
    """The sentence a run shows for ``requirements_refused``'s findings, "" for none."""
    if not refused:
        return ""
    named = refused[:NAMED_CAP] + ([f"{len(refused) - NAMED_CAP} more"] if len(refused) > NAMED_CAP else [])
    changes = ", ".join(named[:-1]) + (" and " if len(named) > 1 else "") + named[-1]
    policy = "none may be added" if not allowed else f"only {_names(allowed)} may be added"
    return (
        f"{filename} {changes}, which this assessment does not install: it installs only its own "
        f"dependencies ({policy})"
    )


def _names(names: tuple[str, ...]) -> str:
    return ", ".join(names[:-1]) + " or " + names[-1] if len(names) > 1 else names[0]


def _quote(line: str) -> str:
    return line if len(line) <= QUOTE_CAP else line[: QUOTE_CAP - 1] + "…"
