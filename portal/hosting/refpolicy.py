"""What a push may do, judged on its commands before git runs: pure functions, framework-free.

The git view reads the commands of a receive-pack request (portal/hosting/receive.py) and asks
``push_problems`` whether to let git have it. Whatever it returns reaches the candidate's terminal
as "remote: refused: ..." lines.
"""

from __future__ import annotations

import re

ZERO = "0" * 40
ALLOWED_PREFIXES = ("refs/heads/", "refs/tags/")
MAIN = "refs/heads/main"
# The portal's own refs (transfer.hideRefs): git refuses every push to them itself, with its own words.
HIDDEN = "refs/portal"
# The portal records every pushed ref name (portal.hosting.models.RefUpdate.ref holds 255
# characters) after git has moved the refs: a name that could not be stored must never get that far.
MAX_REF_BYTES = 255
# What git check-ref-format refuses anywhere in a name (control characters are checked apart).
_REF_FORBIDDEN = re.compile(r"[ ~^:?*\[\\]|\.\.|@\{|//")

Command = tuple[str, str, str]  # old, new, ref (a ref that is not UTF-8 keeps its bytes as surrogates)


def is_zero(sha: str) -> bool:
    return not sha.strip("0")


def is_hidden(ref: str) -> bool:
    return ref == HIDDEN or ref.startswith(HIDDEN + "/")


def shown(ref: str, limit: int = 80) -> str:
    """The ref name as it is safe to print on the candidate's terminal: escaped and shortened."""
    text = "".join(_escaped(c) for c in ref)
    return text if len(text) <= limit else f"{text[: limit - 3]}..."


def _escaped(char: str) -> str:
    if char.isprintable():
        return char
    code = ord(char)
    if 0xDC80 <= code <= 0xDCFF:  # a byte that is not UTF-8, as surrogateescape kept it
        return f"\\x{code - 0xDC00:02x}"
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def ref_name_problem(ref: str) -> str | None:
    """Why the portal refuses this ref name, in a sentence for the candidate; None if it is fine.

    Checked before anything moves: names git itself would refuse (git check-ref-format), names too
    long for the portal to record, names that are not UTF-8 or hold invisible characters (they
    would be shown to reviewers), and HEAD as a branch or tag name, which git and every tool read
    as "the current branch".
    """
    name = shown(ref)
    raw = ref.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{name}: ref names must be valid UTF-8."
    if not ref.isprintable():
        return f"{name}: ref names cannot contain control or invisible characters."
    if len(raw) > MAX_REF_BYTES:
        return f"{name}: ref names can be at most {MAX_REF_BYTES} bytes; this one has {len(raw)}. Use a shorter name."
    reason = _git_format_problem(ref)
    if reason:
        return f"{name}: not a valid ref name ({reason})."
    if ref.rsplit("/", 1)[-1] == "HEAD":
        return f"{name}: HEAD is reserved: git reads it as the current branch. Choose another name."
    return None


def _git_format_problem(ref: str) -> str | None:
    """git check-ref-format's rules (git-check-ref-format(1)), without starting a process per ref."""
    if ref == "@" or ref.startswith("/") or ref.endswith(("/", ".")):
        return "it cannot be @, start or end with a slash, or end with a dot"
    if _REF_FORBIDDEN.search(ref):
        return "no spaces, ~ ^ : ? * [ \\, .., @{ or // allowed"
    for part in ref.split("/"):
        if not part or part.startswith(".") or part.endswith(".lock"):
            return "no part can be empty, start with a dot or end with .lock"
    return None


def too_many_refs(count: int, limit: int, *, more: bool = False) -> str:
    counted = f"more than {count}" if more else str(count)
    return (
        f"this push updates {counted} refs; at most {limit} can be pushed at once. "
        "Push fewer branches at a time, for example: git push origin issue-1 issue-2"
    )


def push_problems(
    commands: list[Command],
    *,
    refused: str | None = None,
    max_refs: int = 0,
    count: int | None = None,
    counted_all: bool = True,
) -> list[str]:
    """The reasons to refuse a push of these commands (empty: let git have it).

    ``refused``: why every push to this invite is refused now (services.push_refusal), if it is.
    ``count``: how many commands the push holds when only the first of them were read
    (``counted_all`` False: more than that, counting stopped).
    Refs git refuses itself (the hidden ones) are left to git, which says why in its own words.
    Whether main is rewound needs the pushed objects: the main guard hook decides that (githooks/).
    """
    if refused:
        return [refused]
    count = len(commands) if count is None else count
    if max_refs and count > max_refs:
        # Checked first: a push of thousands of refs is refused before any per-ref work.
        return [too_many_refs(count, max_refs, more=not counted_all)]
    problems = []
    for _old, new, ref in commands:
        if is_hidden(ref):
            continue
        name_problem = ref_name_problem(ref)
        if name_problem:
            problems.append(name_problem)
        elif not ref.startswith(ALLOWED_PREFIXES):
            problems.append(f"{ref}: only branches and tags can be pushed.")
        elif ref == MAIN and is_zero(new):
            problems.append("main cannot be deleted: it is the starting point reviewers compare your work with.")
    return problems


def object_limit_problem(count: int, limit: int) -> str | None:
    """The pack's own object count against the repository's limit (portal.maxObjects)."""
    if limit and count > limit:
        return f"this push adds {count} objects; the limit is {limit}. Push smaller changes."
    return None


def moves_main(commands: list[Command]) -> bool:
    """Whether a push moves main from an existing commit: only then may it rewind main, which the
    main guard hook checks once git has the pushed objects."""
    return any(ref == MAIN and not is_zero(old) and not is_zero(new) for old, new, ref in commands)
