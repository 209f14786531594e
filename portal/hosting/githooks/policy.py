"""Push policy, run by git receive-pack as the pre-receive and post-receive hooks.

Standard library and the portal's stdlib-only git module, run with -I -S: hooks run on every
push and must start fast. Whatever this prints reaches the candidate's terminal as "remote: ..."
lines.

Environment set by the portal's git view:
  PORTAL_PUSH_REFUSED  a message; when set, every push is refused with it
  PORTAL_MAX_REFS      how many refs one push may create, move or delete (settings.PORTAL_GIT_MAX_REFS_PER_PUSH)
  PORTAL_PUSH_LOG      a file where post-receive appends "old new ref" lines
"""

import os
import re
import sys
from pathlib import Path

# -I leaves the project off sys.path; the git module is three folders up.
sys.path.insert(0, str(Path(__file__).resolve().parents[3]))

import gitplumbing

ZERO = gitplumbing.ZERO_SHA
KEEP_PREFIX = "refs/portal/keep/"
ALLOWED_PREFIXES = ("refs/heads/", "refs/tags/")
MAIN = "refs/heads/main"
# The portal records every pushed ref name (portal.hosting.models.RefUpdate.ref holds 255
# characters) after git has moved the refs: a name that could not be stored must never get that far.
MAX_REF_BYTES = 255
# What git check-ref-format refuses anywhere in a name (control characters are checked apart).
_REF_FORBIDDEN = re.compile(r"[ ~^:?*\[\\]|\.\.|@\{|//")


def _git(*args: str) -> gitplumbing.Result:
    # git hands hooks the quarantine and object-directory variables: keep them.
    return gitplumbing.run(*args, check=False, inherit_env=True)


def _updates(stdin) -> list[tuple[str, str, str]]:
    # Bytes, not text: a ref name need not be UTF-8, and such a name is refused, not misread.
    text = stdin.buffer.read().decode("utf-8", "surrogateescape")
    updates = []
    for line in text.split("\n"):
        if line.strip():
            parts = line.split(" ", 2)
            # A line that is not "old new ref" comes from a ref name with a line break in it:
            # kept with that line break, so the name check refuses it.
            updates.append(tuple(parts) if len(parts) == 3 else (ZERO, ZERO, f"{line}\n"))
    return updates


def _shown(ref: str, limit: int = 80) -> str:
    """The ref name as it is safe to print on the candidate's terminal: escaped and shortened."""
    shown = "".join(_escaped(c) for c in ref)
    return shown if len(shown) <= limit else f"{shown[: limit - 3]}..."


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
    shown = _shown(ref)
    raw = ref.encode("utf-8", "surrogateescape")
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"{shown}: ref names must be valid UTF-8."
    if not ref.isprintable():
        return f"{shown}: ref names cannot contain control or invisible characters."
    if len(raw) > MAX_REF_BYTES:
        return f"{shown}: ref names can be at most {MAX_REF_BYTES} bytes; this one has {len(raw)}. Use a shorter name."
    reason = _git_format_problem(ref)
    if reason:
        return f"{shown}: not a valid ref name ({reason})."
    if ref.rsplit("/", 1)[-1] == "HEAD":
        return f"{shown}: HEAD is reserved: git reads it as the current branch. Choose another name."
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


def _short(ref: str) -> str:
    for prefix in ALLOWED_PREFIXES:
        if ref.startswith(prefix):
            return ref[len(prefix) :]
    return ref


def pre_receive(updates: list[tuple[str, str, str]]) -> list[str]:
    """Return the reasons to refuse this push (empty: accept)."""
    refused = os.environ.get("PORTAL_PUSH_REFUSED")
    if refused:
        return [refused]
    limit = int(os.environ.get("PORTAL_MAX_REFS") or 0)
    if limit and len(updates) > limit:
        # Checked first: a push of thousands of refs is refused before any per-ref work.
        return [
            f"this push updates {len(updates)} refs; at most {limit} can be pushed at once. "
            "Push fewer branches at a time, for example: git push origin issue-1 issue-2"
        ]
    problems = []
    for old, new, ref in updates:
        name_problem = ref_name_problem(ref)
        if name_problem:
            problems.append(name_problem)
        elif not ref.startswith(ALLOWED_PREFIXES):
            problems.append(f"{ref}: only branches and tags can be pushed.")
        elif ref == MAIN and new == ZERO:
            problems.append("main cannot be deleted: it is the starting point reviewers compare your work with.")
        elif ref == MAIN and old != ZERO and not gitplumbing.is_ancestor(None, old, new, inherit_env=True):
            problems.append(
                "main cannot be rewound or rewritten. Work on an issue-<n> branch; "
                "if you rewrote main locally, reset it with: git reset --hard origin/main"
            )
    news = [new for _old, new, _ref in updates if new != ZERO]
    if news and not problems:
        limit = int(_git("config", "--get", "portal.maxObjects").text or "0")
        listing = _git("rev-list", "--objects", *news, "--not", "--all")
        count = len(listing.stdout.splitlines())
        if limit and count > limit:
            problems.append(f"this push adds {count} objects; the limit is {limit}. Push smaller changes.")
    return problems


def post_receive(updates: list[tuple[str, str, str]]) -> list[str]:
    # One line per commit: a commit pushed to two refs at once would otherwise name its keep-ref
    # twice, and git refuses the whole transaction.
    news = dict.fromkeys(new for _old, new, _ref in updates if new != ZERO)
    keep = "".join(f"update {KEEP_PREFIX}{new} {new}\n" for new in news)
    gitplumbing.update_refs(None, keep, inherit_env=True)
    log_path = os.environ.get("PORTAL_PUSH_LOG")
    if log_path:
        with open(log_path, "a") as log:
            log.writelines(f"{old} {new} {ref}\n" for old, new, ref in updates)
    notes = []
    for _old, new, ref in updates:
        if new == ZERO:
            notes.append(f"deleted {_short(ref)} (its commits are kept)")
        else:
            scoring = ", scoring queued" if ref.startswith("refs/heads/") else ""
            notes.append(f"received {_short(ref)} at {new[:7]}{scoring}")
    return notes


def main(argv: list[str]) -> int:
    updates = _updates(sys.stdin)
    if argv[1:] == ["pre-receive"]:
        problems = pre_receive(updates)
        for problem in problems:
            print(f"refused: {problem}", flush=True)
        return 1 if problems else 0
    if argv[1:] == ["post-receive"]:
        for note in post_receive(updates):
            print(note, flush=True)
        return 0
    print(f"usage: {argv[0]} pre-receive|post-receive", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
